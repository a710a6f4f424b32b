# The request head parser is pure too (fuzzed by tests/fuzz/fuzz_http_request):
# Boost.Beast's parser, header-only, so the codec library needs Boost's
# include path (found here: the fuzz build stops before the rest is found).
# beast.cpp compiles src/http/beast.hpp on its own, here once for both.
find_package(Boost 1.81 CONFIG REQUIRED COMPONENTS headers)
target_link_libraries(anytls_codec PUBLIC Boost::headers)
target_sources(anytls_codec PRIVATE src/http/beast.cpp src/http/request_head.cpp)
