// SOCKS address codec as AnyTLS uses it: 01 + IPv4, 04 + IPv6, 03 + len +
// name, then port u16 BE.
#pragma once
#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include "net/address.hpp"

namespace anytls::net {

void append_socks_address(std::vector<std::uint8_t>& out, const Address& a);

struct SocksAddressParse {
  enum Status { ok, need_more, invalid } status = need_more;
  Address address;
  std::size_t consumed = 0;
};
// Parses from the start of in. A domain of length 0 or an unknown type byte
// is invalid.
SocksAddressParse parse_socks_address(std::span<const std::uint8_t> in);

}  // namespace anytls::net
