#include "net/hostname.hpp"

#include <arpa/inet.h>

#include <cstdio>

namespace anytls::net {

namespace {
constexpr std::size_t kMaxName = 253;  // RFC 1035: 255 on the wire = 253 as dotted text
constexpr std::size_t kMaxLabel = 63;
}  // namespace

std::optional<std::string> hostname_problem(std::string_view name) {
  for (char ch : name) {
    const auto c = static_cast<unsigned char>(ch);
    if (c == 0) return "holds a NUL byte";
    if (c < 0x20 || c == 0x7f) return "holds a control character";
    if (c == '\\') return "holds a backslash";
  }
  std::string_view body = name;
  if (!body.empty() && body.back() == '.') body.remove_suffix(1);
  if (body.empty()) return "is empty";
  if (body.size() > kMaxName) return "is longer than 253 bytes";
  std::size_t start = 0;
  for (;;) {
    const std::size_t dot = body.find('.', start);
    const std::size_t len = (dot == std::string_view::npos ? body.size() : dot) - start;
    if (len == 0) return "has an empty label";
    if (len > kMaxLabel) return "has a label longer than 63 bytes";
    if (dot == std::string_view::npos) break;
    start = dot + 1;
  }
  // No NUL inside (checked above), so c_str() is the whole name.
  const std::string text(body);
  in_addr ignored{};
  if (::inet_aton(text.c_str(), &ignored) != 0 && ::inet_pton(AF_INET, text.c_str(), &ignored) != 1)
    return "is an IPv4 address in a non-standard form";
  return std::nullopt;
}

std::string printable_name(std::string_view name) {
  std::string out;
  out.reserve(name.size());
  for (char ch : name) {
    const auto c = static_cast<unsigned char>(ch);
    if (c < 0x20 || c >= 0x7f || c == '\\') {
      char buf[5];
      std::snprintf(buf, sizeof buf, "\\x%02x", c);
      out += buf;
    } else {
      out += ch;
    }
  }
  return out;
}

}  // namespace anytls::net
