// A destination as proxies see it: a host (domain name or IP literal) and a
// port. The SOCKS address codec (socks_address.hpp) turns it into bytes.
#pragma once
#include <cstdint>
#include <optional>
#include <string>

#include <asio/ip/address.hpp>

namespace anytls::net {

struct Address {
  std::string host;  // "example.com", "127.0.0.1" or "::1" (no brackets)
  std::uint16_t port = 0;

  // The IP when host is a literal, else nullopt (a name to resolve).
  std::optional<asio::ip::address> ip() const {
    std::error_code ec;
    auto a = asio::ip::make_address(host, ec);
    if (ec) return std::nullopt;
    return a;
  }
  bool is_domain() const { return !ip().has_value(); }
  // "host:port", IPv6 in brackets: "[::1]:53".
  std::string to_string() const {
    bool v6 = host.find(':') != std::string::npos;
    return (v6 ? "[" + host + "]" : host) + ":" + std::to_string(port);
  }
  friend bool operator==(const Address&, const Address&) = default;
};

}  // namespace anytls::net
