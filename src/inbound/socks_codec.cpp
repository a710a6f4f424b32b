#include "inbound/socks_codec.hpp"

#include <algorithm>
#include <cstring>

#include <asio/ip/address.hpp>

namespace anytls::inbound::socks {

namespace {

std::uint16_t be16(const std::uint8_t* p) {
  return static_cast<std::uint16_t>((p[0] << 8) | p[1]);
}

template <class T>
Parsed<T> invalid(std::string why) {
  Parsed<T> r;
  r.status = Status::invalid;
  r.error = std::move(why);
  return r;
}

template <class T>
Parsed<T> need_more() {
  return Parsed<T>{};
}

// A NUL-terminated string of at most `max` bytes starting at in[pos].
// Returns the index after the NUL, 0 when incomplete, SIZE_MAX when too long.
std::size_t find_nul(Bytes in, std::size_t pos, std::size_t max) {
  std::size_t limit = std::min(in.size(), pos + max + 1);
  for (std::size_t i = pos; i < limit; ++i) {
    if (in[i] == 0) return i + 1;
  }
  return in.size() >= pos + max + 1 ? SIZE_MAX : 0;
}

}  // namespace

// ---- SOCKS4 ----------------------------------------------------------------

Parsed<Socks4Request> parse_socks4_request(Bytes in) {
  if (in.empty()) return need_more<Socks4Request>();
  if (in[0] != kVersion4) return invalid<Socks4Request>("not socks4");
  if (in.size() < 8) return need_more<Socks4Request>();
  Socks4Request req;
  req.command = in[1];
  req.destination.port = be16(&in[2]);
  std::array<unsigned char, 4> ip{in[4], in[5], in[6], in[7]};
  std::size_t end = find_nul(in, 8, kMaxSocks4Field);
  if (end == SIZE_MAX) return invalid<Socks4Request>("socks4 user id too long");
  if (end == 0) return need_more<Socks4Request>();
  req.user_id.assign(reinterpret_cast<const char*>(&in[8]), end - 1 - 8);
  if (ip[0] == 0 && ip[1] == 0 && ip[2] == 0 && ip[3] != 0) {
    req.socks4a = true;
    std::size_t host_end = find_nul(in, end, kMaxSocks4Field);
    if (host_end == SIZE_MAX) return invalid<Socks4Request>("socks4a host too long");
    if (host_end == 0) return need_more<Socks4Request>();
    if (host_end - 1 == end) return invalid<Socks4Request>("socks4a empty host");
    req.destination.host.assign(reinterpret_cast<const char*>(&in[end]), host_end - 1 - end);
    end = host_end;
  } else {
    req.destination.host = asio::ip::address_v4(ip).to_string();
  }
  Parsed<Socks4Request> r;
  r.status = Status::ok;
  r.value = std::move(req);
  r.consumed = end;
  return r;
}

std::array<std::uint8_t, 8> socks4_reply(std::uint8_t code) {
  return {0x00, code, 0, 0, 0, 0, 0, 0};
}

// ---- SOCKS5 ----------------------------------------------------------------

bool Socks5Greeting::offers(std::uint8_t m) const {
  return std::find(methods.begin(), methods.end(), m) != methods.end();
}

Parsed<Socks5Greeting> parse_socks5_greeting(Bytes in) {
  if (in.empty()) return need_more<Socks5Greeting>();
  if (in[0] != kVersion5) return invalid<Socks5Greeting>("not socks5");
  if (in.size() < 2) return need_more<Socks5Greeting>();
  std::size_t n = in[1];
  if (n == 0) return invalid<Socks5Greeting>("socks5 greeting without methods");
  if (in.size() < 2 + n) return need_more<Socks5Greeting>();
  Parsed<Socks5Greeting> r;
  r.status = Status::ok;
  r.value.methods.assign(in.begin() + 2, in.begin() + 2 + static_cast<std::ptrdiff_t>(n));
  r.consumed = 2 + n;
  return r;
}

std::array<std::uint8_t, 2> socks5_method_reply(std::uint8_t method) { return {kVersion5, method}; }

Parsed<Socks5Credentials> parse_socks5_auth(Bytes in) {
  if (in.empty()) return need_more<Socks5Credentials>();
  if (in[0] != 0x01) return invalid<Socks5Credentials>("bad auth version");
  if (in.size() < 2) return need_more<Socks5Credentials>();
  std::size_t ulen = in[1];
  if (ulen == 0) return invalid<Socks5Credentials>("empty username");
  if (in.size() < 2 + ulen + 1) return need_more<Socks5Credentials>();
  std::size_t plen = in[2 + ulen];
  if (in.size() < 3 + ulen + plen) return need_more<Socks5Credentials>();
  Parsed<Socks5Credentials> r;
  r.status = Status::ok;
  r.value.username.assign(reinterpret_cast<const char*>(&in[2]), ulen);
  r.value.password.assign(reinterpret_cast<const char*>(&in[3 + ulen]), plen);
  r.consumed = 3 + ulen + plen;
  return r;
}

std::array<std::uint8_t, 2> socks5_auth_reply(bool success) {
  return {0x01, static_cast<std::uint8_t>(success ? 0x00 : 0x01)};
}

Parsed<net::Address> parse_address(Bytes in) {
  if (in.empty()) return need_more<net::Address>();
  std::size_t len = 0;
  net::Address a;
  switch (in[0]) {
    case kAtypIPv4: {
      len = 1 + 4 + 2;
      if (in.size() < len) return need_more<net::Address>();
      std::array<unsigned char, 4> b{in[1], in[2], in[3], in[4]};
      a.host = asio::ip::address_v4(b).to_string();
      break;
    }
    case kAtypIPv6: {
      len = 1 + 16 + 2;
      if (in.size() < len) return need_more<net::Address>();
      std::array<unsigned char, 16> b{};
      std::memcpy(b.data(), &in[1], 16);
      a.host = asio::ip::address_v6(b).to_string();
      break;
    }
    case kAtypDomain: {
      if (in.size() < 2) return need_more<net::Address>();
      std::size_t n = in[1];
      if (n == 0) return invalid<net::Address>("empty domain");
      len = 2 + n + 2;
      if (in.size() < len) return need_more<net::Address>();
      a.host.assign(reinterpret_cast<const char*>(&in[2]), n);
      if (a.host.find('\0') != std::string::npos) return invalid<net::Address>("NUL in domain");
      break;
    }
    default:
      return invalid<net::Address>("address type");
  }
  a.port = be16(&in[len - 2]);
  Parsed<net::Address> r;
  r.status = Status::ok;
  r.value = std::move(a);
  r.consumed = len;
  return r;
}

std::size_t address_size(const net::Address& a) {
  auto ip = a.ip();
  if (ip) return ip->is_v4() ? 7 : 19;
  if (a.host.empty() || a.host.size() > 255) return 0;
  return 2 + a.host.size() + 2;
}

// Writes ATYP ADDR PORT to out (room for 1+1+255+2 bytes); returns its size,
// 0 if `a` cannot be encoded.
static std::size_t encode_address(std::uint8_t* out, const net::Address& a) {
  std::size_t n = 0;
  auto ip = a.ip();
  if (ip && ip->is_v4()) {
    out[n++] = kAtypIPv4;
    auto b = ip->to_v4().to_bytes();
    std::memcpy(out + n, b.data(), b.size());
    n += b.size();
  } else if (ip) {
    out[n++] = kAtypIPv6;
    auto b = ip->to_v6().to_bytes();
    std::memcpy(out + n, b.data(), b.size());
    n += b.size();
  } else {
    if (a.host.empty() || a.host.size() > 255) return 0;
    out[n++] = kAtypDomain;
    out[n++] = static_cast<std::uint8_t>(a.host.size());
    std::memcpy(out + n, a.host.data(), a.host.size());
    n += a.host.size();
  }
  out[n++] = static_cast<std::uint8_t>(a.port >> 8);
  out[n++] = static_cast<std::uint8_t>(a.port & 0xFF);
  return n;
}

bool append_address(std::vector<std::uint8_t>& out, const net::Address& a) {
  std::array<std::uint8_t, kMaxUdpHeader> tmp;
  std::size_t n = encode_address(tmp.data(), a);
  if (n == 0) return false;
  out.insert(out.end(), tmp.begin(), tmp.begin() + static_cast<std::ptrdiff_t>(n));
  return true;
}

Parsed<Socks5Request> parse_socks5_request(Bytes in) {
  if (in.empty()) return need_more<Socks5Request>();
  if (in[0] != kVersion5) return invalid<Socks5Request>("not socks5");
  if (in.size() < 4) return need_more<Socks5Request>();
  auto addr = parse_address(in.subspan(3));
  if (addr.status == Status::need_more) return need_more<Socks5Request>();
  if (addr.status == Status::invalid) return invalid<Socks5Request>(addr.error);
  Parsed<Socks5Request> r;
  r.status = Status::ok;
  r.value.command = in[1];
  r.value.destination = std::move(addr.value);
  r.consumed = 3 + addr.consumed;
  return r;
}

std::vector<std::uint8_t> socks5_reply(Reply5 rep, const net::Address& bound) {
  std::vector<std::uint8_t> out{kVersion5, static_cast<std::uint8_t>(rep), 0x00};
  if (!append_address(out, bound)) {
    out.resize(3);
    append_address(out, net::Address{"0.0.0.0", 0});
  }
  return out;
}

// ---- SOCKS5 UDP ------------------------------------------------------------

Parsed<Socks5UdpHeader> parse_socks5_udp_header(Bytes datagram) {
  if (datagram.size() < 4) return invalid<Socks5UdpHeader>("short udp header");
  auto addr = parse_address(datagram.subspan(3));
  if (addr.status == Status::need_more) return invalid<Socks5UdpHeader>("short udp header");
  if (addr.status == Status::invalid) return invalid<Socks5UdpHeader>(addr.error);
  Parsed<Socks5UdpHeader> r;
  r.status = Status::ok;
  r.value.frag = datagram[2];
  r.value.destination = std::move(addr.value);
  r.consumed = 3 + addr.consumed;
  return r;
}

std::size_t write_socks5_udp_header_before(std::uint8_t* end, std::size_t room,
                                           const net::Address& a) {
  std::array<std::uint8_t, kMaxUdpHeader> tmp{};  // RSV RSV FRAG=0 then the address
  std::size_t n = encode_address(tmp.data() + 3, a);
  if (n == 0 || 3 + n > room) return 0;
  std::memcpy(end - (3 + n), tmp.data(), 3 + n);
  return 3 + n;
}

}  // namespace anytls::inbound::socks
