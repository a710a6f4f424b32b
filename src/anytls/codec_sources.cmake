# The pure codecs (anytls_codec): no asio, no config.
target_sources(anytls_codec PRIVATE
  src/anytls/frame.cpp
  src/anytls/settings.cpp
  src/anytls/padding.cpp
  src/anytls/preamble.cpp
  src/anytls/uot.cpp
  src/net/socks_address.cpp
  src/net/hostname.cpp
  src/net/sntp.cpp
  src/route/srs.cpp
  src/route/srs_writer.cpp)
