// The control endpoints (Clash API, metrics) as the loopback tests set them
// up: on 127.0.0.1, port 0 (the kernel picks), with a bearer secret; and the
// request header that carries the secret.
#pragma once
#include <string>
#include <string_view>

#include "config/options.hpp"

namespace anytls::test {

// listen 127.0.0.1:0 and `secret` on Clash API or metrics options.
template <class Options>
Options on_loopback(std::string_view secret) {
  Options o;
  o.listen = "127.0.0.1";
  o.listen_port = 0;
  o.secret = std::string(secret);
  return o;
}

// "Authorization: Bearer <secret>\r\n".
inline std::string bearer(std::string_view secret) {
  return "Authorization: Bearer " + std::string(secret) + "\r\n";
}

}  // namespace anytls::test
