#include "inbound/sniff.hpp"

#include "dns/message.hpp"
#include "http/proxy_codec.hpp"

#include <algorithm>
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
  if (last_space == std::string_view::npos || !http::proxy::http1_minor(line.substr(last_space + 1))) return not_this();
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

namespace {

Result found() { return {Status::found, {}}; }

// bytes start with `prefix` (found), could still (need_more), or not.
Result starts_with(std::span<const std::uint8_t> bytes, std::string_view prefix) {
  const std::size_t n = std::min(bytes.size(), prefix.size());
  for (std::size_t i = 0; i < n; ++i)
    if (bytes[i] != static_cast<std::uint8_t>(prefix[i])) return {};
  return {n == prefix.size() ? Status::found : Status::need_more, {}};
}

std::uint32_t be32(std::span<const std::uint8_t> b, std::size_t at) {
  return std::uint32_t{b[at]} << 24 | std::uint32_t{b[at + 1]} << 16 | std::uint32_t{b[at + 2]} << 8 | b[at + 3];
}

}  // namespace

Result quic_initial(std::span<const std::uint8_t> d) {
  // RFC 9000 17.2 / RFC 9369: long header, fixed bit, Initial's type bits.
  if (d.size() < 1200 || (d[0] & 0xc0) != 0xc0) return {};
  const std::uint32_t version = be32(d, 1);
  const unsigned type = (d[0] >> 4) & 0x03;
  const bool initial = (version == 0x00000001 && type == 0) || (version == 0x6b3343cf && type == 1);
  if (!initial || d[5] > 20) return {};  // a connection id is at most 20 bytes
  return found();
}

Result stun_message(std::span<const std::uint8_t> d) {
  if (d.size() < 20 || (d[0] & 0xc0) != 0 || be32(d, 4) != 0x2112a442) return {};
  const std::size_t length = std::size_t{d[2]} << 8 | d[3];
  if (length % 4 != 0 || 20 + length != d.size()) return {};
  return found();
}

Result dtls_client_hello(std::span<const std::uint8_t> d) {
  // Record: type 22, version fe ff (1.0) or fe fd (1.2), epoch, sequence,
  // length; then the handshake message type 1 (ClientHello).
  if (d.size() < 14 || d[0] != 22 || d[1] != 0xfe || (d[2] != 0xff && d[2] != 0xfd)) return {};
  const std::size_t length = std::size_t{d[11]} << 8 | d[12];
  if (13 + length > d.size() || d[13] != 1) return {};
  return found();
}

Result ntp_client(std::span<const std::uint8_t> d) {
  if (d.size() < 48) return {};
  const unsigned version = (d[0] >> 3) & 0x07, mode = d[0] & 0x07;
  if ((version != 3 && version != 4) || mode != 3) return {};
  return found();
}

Result bittorrent_datagram(std::span<const std::uint8_t> d) {
  // uTP (BEP 29): version 1, type ST_SYN (4), a 20-byte header.
  if (d.size() >= 20 && d[0] == 0x41 && d[1] <= 2) return found();
  // Mainline DHT (BEP 5): a bencoded query.
  if (starts_with(d, "d1:ad2:id20:").status == Status::found) return found();
  return {};
}

Result ssh_banner(std::span<const std::uint8_t> bytes) { return starts_with(bytes, "SSH-"); }

Result rdp_request(std::span<const std::uint8_t> b) {
  // TPKT (version 3, reserved 0, length) and X.224's Connection Request
  // TPDU (its code 0xe0 after the length indicator).
  if (b.size() >= 1 && b[0] != 3) return {};
  if (b.size() >= 2 && b[1] != 0) return {};
  if (b.size() < 6) return {Status::need_more, {}};
  const std::size_t length = std::size_t{b[2]} << 8 | b[3];
  if (length < 11 || (b[5] & 0xf0) != 0xe0) return {};
  return found();
}

Result bittorrent_handshake(std::span<const std::uint8_t> bytes) {
  return starts_with(bytes, std::string_view("\x13" "BitTorrent protocol"));
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
