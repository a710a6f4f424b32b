// SOCKS address codec as AnyTLS uses it: 01 + IPv4, 04 + IPv6, 03 + len +
// name, then port u16 BE.
#pragma once
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "net/address.hpp"

namespace anytls::net {

// Appends the address. A host that is not an IP literal is written as a
// domain; a domain must be 1..255 bytes: otherwise nothing is appended and
// the result is false (callers check hosts from peers before relying on it).
// An IPv6 literal's "%scope" suffix is not encodable and is dropped.
bool append_socks_address(std::vector<std::uint8_t>& out, const Address& a);

struct SocksAddressParse {
  enum Status { ok, need_more, invalid } status = need_more;
  Address address;
  std::size_t consumed = 0;
};
// Parses from the start of in. A domain of length 0 or an unknown type byte
// is invalid; need_more until the whole address and port have arrived.
// IP hosts come out in canonical text form ("127.0.0.1", "::1"); a domain
// comes out as its raw bytes.
SocksAddressParse parse_socks_address(std::span<const std::uint8_t> in);

// IP literal <-> raw bytes with inet_pton/inet_ntop, so that the pure codecs
// need no asio code (Address::ip() would instantiate it). Shared with uot.
struct IpLiteral {
  enum Family { none, v4, v6 } family = none;
  std::uint8_t bytes[16]{};  // 4 used for v4
};
// none when host is not an IPv4/IPv6 literal; an IPv6 "%scope" is ignored.
IpLiteral parse_ip_literal(std::string_view host);
// bytes: 4 (v4) or 16 (v6) bytes.
std::string ip_literal_to_string(IpLiteral::Family family, const std::uint8_t* bytes);

}  // namespace anytls::net
