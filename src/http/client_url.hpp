// An http:// or https:// URL as a client needs it: where to connect, what
// to send as Host and as the request target.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace anytls::http {

struct ClientUrl {
  bool tls = false;
  std::string host;         // no brackets
  std::uint16_t port = 0;
  std::string target;       // "/generate_204", with the query
  std::string host_header;  // as written in the URL (port included when given)

  // http:// or https:// URLs with a host only; nullopt otherwise. Userinfo
  // and the fragment are dropped (neither is sent).
  static std::optional<ClientUrl> parse(std::string_view url);
  // scheme://host_header/target again.
  std::string text() const { return (tls ? "https://" : "http://") + host_header + target; }
};

// Where a Location header points, from the URL that answered with it.
std::string resolve_location(const std::string& base, const std::string& location);

}  // namespace anytls::http
