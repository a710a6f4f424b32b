#include "net/socks_address.hpp"

#include <arpa/inet.h>

#include <cstring>
#include <string>

namespace anytls::net {

IpLiteral parse_ip_literal(std::string_view host) {
  IpLiteral r;
  // inet_pton needs a NUL-terminated string; hosts longer than any literal
  // (with a generous scope suffix) are names.
  if (host.empty() || host.size() > 63 || host.find('\0') != std::string_view::npos) return r;
  char buf[64];
  std::memcpy(buf, host.data(), host.size());
  buf[host.size()] = '\0';
  if (::inet_pton(AF_INET, buf, r.bytes) == 1) {
    r.family = IpLiteral::v4;
    return r;
  }
  if (char* pct = std::strchr(buf, '%'); pct != nullptr) {
    if (pct[1] == '\0') return r;  // "::1%" is no literal
    *pct = '\0';
  }
  if (::inet_pton(AF_INET6, buf, r.bytes) == 1) r.family = IpLiteral::v6;
  return r;
}

std::string ip_literal_to_string(IpLiteral::Family family, const std::uint8_t* bytes) {
  char buf[INET6_ADDRSTRLEN];
  const int af = family == IpLiteral::v4 ? AF_INET : AF_INET6;
  if (family == IpLiteral::none || ::inet_ntop(af, bytes, buf, sizeof buf) == nullptr) return {};
  return buf;
}

bool append_socks_address(std::vector<std::uint8_t>& out, const Address& a) {
  const IpLiteral ip = parse_ip_literal(a.host);
  if (ip.family == IpLiteral::v4) {
    out.push_back(0x01);
    out.insert(out.end(), ip.bytes, ip.bytes + 4);
  } else if (ip.family == IpLiteral::v6) {
    out.push_back(0x04);
    out.insert(out.end(), ip.bytes, ip.bytes + 16);
  } else {
    if (a.host.empty() || a.host.size() > 255) return false;
    out.push_back(0x03);
    out.push_back(static_cast<std::uint8_t>(a.host.size()));
    out.insert(out.end(), a.host.begin(), a.host.end());
  }
  out.push_back(static_cast<std::uint8_t>(a.port >> 8));
  out.push_back(static_cast<std::uint8_t>(a.port));
  return true;
}

SocksAddressParse parse_socks_address(std::span<const std::uint8_t> in) {
  SocksAddressParse r;
  if (in.empty()) return r;
  std::size_t host_len = 0;  // bytes after the type byte (and length byte)
  std::size_t off = 1;
  switch (in[0]) {
    case 0x01: host_len = 4; break;
    case 0x04: host_len = 16; break;
    case 0x03:
      if (in.size() < 2) return r;
      host_len = in[1];
      if (host_len == 0) {
        r.status = SocksAddressParse::invalid;
        return r;
      }
      off = 2;
      break;
    default: r.status = SocksAddressParse::invalid; return r;
  }
  const std::size_t total = off + host_len + 2;
  if (in.size() < total) return r;
  const std::uint8_t* h = in.data() + off;
  if (in[0] == 0x03)
    r.address.host.assign(reinterpret_cast<const char*>(h), host_len);
  else
    r.address.host = ip_literal_to_string(in[0] == 0x01 ? IpLiteral::v4 : IpLiteral::v6, h);
  r.address.port = static_cast<std::uint16_t>((h[host_len] << 8) | h[host_len + 1]);
  r.consumed = total;
  r.status = SocksAddressParse::ok;
  return r;
}

}  // namespace anytls::net
