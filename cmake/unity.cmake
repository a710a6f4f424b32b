# Unity builds (-DCMAKE_UNITY_BUILD=ON; scripts/test.sh uses them for the
# sanitizer builds): CMake compiles anytls_lib's sources in batches of 8 per
# translation unit, so the asio/OpenSSL/spdlog templates every source uses are
# instantiated, instrumented and optimised once per batch, not once per source.
#
# Sources whose file-local names (anonymous namespaces) clash with a
# neighbour's in the same batch are compiled alone; a batch is whatever
# neighbours CMake's source order gives, so this list is what the unity build
# needs today (the optimised build of the test command compiles every source
# alone and keeps the code honest about its own includes).
if(NOT CMAKE_UNITY_BUILD)
  return()
endif()
set(_anytls_unity_alone
  src/net/relay.cpp             # its own Clock (steady_clock) beside net::Clock
  src/net/resolver.cpp          # file-local use_tuple, like the next ones
  src/net/dialer.cpp
  src/net/udp_conn.cpp          # + unmap()
  src/tls/tls_conn.cpp
  src/tls/utls_conn.cpp         # + alpn_wire()
  src/tls/utls_module.cpp       # fail() beside context.cpp's
  src/config/fingerprint.cpp    # a lower() of its own (field_reader.hpp has another)
  src/app/metrics_server.cpp
  src/app/cache_file.cpp)       # json = nlohmann::json beside ordered_json
list(TRANSFORM _anytls_unity_alone PREPEND ${CMAKE_SOURCE_DIR}/)
set_source_files_properties(${_anytls_unity_alone} DIRECTORY ${CMAKE_SOURCE_DIR}
  PROPERTIES SKIP_UNITY_BUILD_INCLUSION ON)
if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU")
  # GCC's -Wsubobject-linkage flags an anonymous-namespace type used in a
  # class (a coroutine frame) when it comes from a file other than the main
  # file: in a unity build every source is such a file, so it is noise here.
  # The non-unity builds still check it.
  target_compile_options(anytls_lib PRIVATE -Wno-subobject-linkage)
endif()
