#include "inbound/sniff.hpp"

#include "dns/message.hpp"

#include <cctype>
#include <string_view>
#include <system_error>

#include <asio/ip/address.hpp>

namespace anytls::inbound::sniff {

namespace {

constexpr Result need_more() { return {Status::need_more, {}}; }
constexpr Result not_this() { return {Status::not_this, {}}; }

std::string lower(std::string_view s) {
  std::string out(s);
  for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

bool is_ip(const std::string& s) {
  std::error_code ec;
  (void)asio::ip::make_address(s, ec);
  return !ec;
}

class Cursor {
 public:
  explicit Cursor(std::span<const std::uint8_t> b) : b_(b) {}
  bool has(std::size_t n) const { return b_.size() - pos_ >= n; }
  std::uint32_t u8() { return b_[pos_++]; }
  std::uint32_t u16() {
    std::uint32_t v = (b_[pos_] << 8) | b_[pos_ + 1];
    pos_ += 2;
    return v;
  }
  std::uint32_t u24() {
    std::uint32_t v = (b_[pos_] << 16) | (b_[pos_ + 1] << 8) | b_[pos_ + 2];
    pos_ += 3;
    return v;
  }
  void skip(std::size_t n) { pos_ += n; }
  std::span<const std::uint8_t> take(std::size_t n) {
    auto s = b_.subspan(pos_, n);
    pos_ += n;
    return s;
  }

 private:
  std::span<const std::uint8_t> b_;
  std::size_t pos_ = 0;
};

// The server name in a complete ClientHello body (after type and length).
Result parse_client_hello(std::span<const std::uint8_t> body) {
  Cursor c(body);
  if (!c.has(2 + 32 + 1)) return not_this();
  c.skip(2 + 32);  // legacy_version, random
  std::size_t n = c.u8();
  if (!c.has(n + 2)) return not_this();
  c.skip(n);  // session id
  n = c.u16();
  if (!c.has(n + 1)) return not_this();
  c.skip(n);  // cipher suites
  n = c.u8();
  if (!c.has(n)) return not_this();
  c.skip(n);  // compression methods
  if (!c.has(2)) return {Status::found, {}};  // no extensions
  n = c.u16();
  if (!c.has(n)) return not_this();
  Cursor ext(c.take(n));
  while (ext.has(4)) {
    std::uint32_t type = ext.u16();
    std::size_t len = ext.u16();
    if (!ext.has(len)) return not_this();
    Cursor data(ext.take(len));
    if (type != 0) continue;  // server_name
    if (!data.has(2)) return not_this();
    std::size_t list = data.u16();
    if (!data.has(list)) return not_this();
    Cursor names(data.take(list));
    while (names.has(3)) {
      std::uint32_t name_type = names.u8();
      std::size_t name_len = names.u16();
      if (!names.has(name_len)) return not_this();
      auto name = names.take(name_len);
      if (name_type != 0) continue;  // host_name
      std::string host(reinterpret_cast<const char*>(name.data()), name.size());
      while (!host.empty() && host.back() == '.') host.pop_back();
      return {Status::found, lower(host)};
    }
    return {Status::found, {}};
  }
  return {Status::found, {}};
}

}  // namespace

Result tls_client_hello(std::span<const std::uint8_t> bytes) {
  // Gather handshake bytes from consecutive handshake records.
  std::string hs;
  Cursor c(bytes);
  while (true) {
    if (!c.has(5)) return need_more();
    std::uint32_t type = c.u8();
    std::uint32_t major = c.u8();
    std::uint32_t minor = c.u8();
    std::size_t len = c.u16();
    if (type != 22 || major != 3 || minor > 4 || len == 0 || len > (1u << 14)) return not_this();
    if (!c.has(len)) {
      // Partial first record: its first byte already tells a ClientHello.
      if (hs.empty() && bytes.size() > 5 && bytes[5] != 1) return not_this();
      return need_more();
    }
    auto payload = c.take(len);
    hs.append(reinterpret_cast<const char*>(payload.data()), payload.size());
    if (hs.size() >= 4) {
      if (static_cast<std::uint8_t>(hs[0]) != 1) return not_this();  // not a ClientHello
      std::size_t body = (static_cast<std::uint8_t>(hs[1]) << 16) | (static_cast<std::uint8_t>(hs[2]) << 8) |
                         static_cast<std::uint8_t>(hs[3]);
      if (body > (1u << 16)) return not_this();
      if (hs.size() >= 4 + body)
        return parse_client_hello(
            std::span<const std::uint8_t>(reinterpret_cast<const std::uint8_t*>(hs.data()) + 4, body));
    }
  }
}

Result http_host(std::span<const std::uint8_t> bytes) {
  std::string_view s(reinterpret_cast<const char*>(bytes.data()), bytes.size());
  // Method: 1-16 upper-case letters then a space.
  std::size_t i = 0;
  while (i < s.size() && i < 17 && s[i] >= 'A' && s[i] <= 'Z') ++i;
  if (i == s.size()) return i <= 16 ? need_more() : not_this();
  if (i == 0 || i > 16 || s[i] != ' ') return not_this();
  auto line_end = s.find("\r\n");
  if (line_end == std::string_view::npos) return s.size() > 8192 ? not_this() : need_more();
  auto line = s.substr(0, line_end);
  auto last_space = line.rfind(' ');
  if (last_space == std::string_view::npos || line.substr(last_space + 1).rfind("HTTP/1.", 0) != 0) return not_this();
  std::size_t pos = line_end + 2;
  while (true) {
    auto end = s.find("\r\n", pos);
    if (end == std::string_view::npos) return need_more();
    if (end == pos) return {Status::found, {}};  // no Host header
    auto header = s.substr(pos, end - pos);
    pos = end + 2;
    auto colon = header.find(':');
    if (colon == std::string_view::npos) return not_this();
    if (lower(header.substr(0, colon)) != "host") continue;
    auto value = header.substr(colon + 1);
    while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) value.remove_prefix(1);
    while (!value.empty() && (value.back() == ' ' || value.back() == '\t')) value.remove_suffix(1);
    std::string host;
    if (!value.empty() && value.front() == '[') {
      auto close = value.find(']');
      host = std::string(value.substr(1, close == std::string_view::npos ? std::string_view::npos : close - 1));
    } else {
      host = std::string(value.substr(0, value.find(':')));
    }
    while (!host.empty() && host.back() == '.') host.pop_back();
    if (host.empty() || is_ip(host)) return {Status::found, {}};
    return {Status::found, lower(host)};
  }
}

Result dns_query(std::span<const std::uint8_t> datagram) {
  Result r;
  if (datagram.size() < 12) return r;
  auto m = dns::parse(datagram);
  // opcode: bits 11-14 of the flags.
  if (!m || m->response() || ((m->flags >> 11) & 0x0f) != 0 || m->questions.empty()) return r;
  r.status = Status::found;
  return r;
}

Result dns_stream_query(std::span<const std::uint8_t> bytes) {
  Result r;
  if (bytes.size() < 2) {
    r.status = Status::need_more;
    return r;
  }
  const std::size_t length = std::size_t{bytes[0]} << 8 | bytes[1];
  if (length < 12) return r;
  if (bytes.size() < 2 + length) {
    // The header alone tells a query from other bytes.
    if (bytes.size() >= 2 + 12 && (bytes[2 + 2] & 0x80) != 0) return r;
    r.status = Status::need_more;
    return r;
  }
  return dns_query(bytes.subspan(2, length));
}

}  // namespace anytls::inbound::sniff
