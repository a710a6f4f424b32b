// UDP-over-TCP v2 (sing's uot): request and the two datagram framings.
#pragma once
#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

#include "net/address.hpp"

namespace anytls::proto {

inline constexpr std::string_view kUotMagicAddress = "sp.v2.udp-over-tcp.arpa";
inline constexpr std::string_view kUotLegacyMagicAddress = "sp.udp-over-tcp.arpa";

struct UotRequest {
  bool is_connect = false;
  net::Address destination;
};
// false (nothing appended) when the destination is not encodable (see
// append_socks_address).
bool append_uot_request(std::vector<std::uint8_t>& out, const UotRequest& r);

template <class T>
struct Parsed {
  enum Status { ok, need_more, invalid } status = need_more;
  T value{};
  std::size_t consumed = 0;
};
// isConnect: any non-zero byte is true (as Go's binary.Read reads a bool).
Parsed<UotRequest> parse_uot_request(std::span<const std::uint8_t> in);

// The appends return false (nothing appended) for a payload over 65535 bytes
// or an address that is not encodable (domain empty or over 255 bytes).
// Connect mode: u16 BE length + payload.
bool append_uot_connect_packet(std::vector<std::uint8_t>& out, std::span<const std::uint8_t> payload);
// Non-connect mode: addr (00 v4 / 01 v6 / 02 domain) + port u16 BE + u16 BE length + payload.
bool append_uot_packet(std::vector<std::uint8_t>& out, const net::Address& addr,
                       std::span<const std::uint8_t> payload);

struct UotPacket {
  net::Address address;                   // non-connect mode only
  std::span<const std::uint8_t> payload;  // points into the input
};
// need_more until the whole datagram has arrived; a domain of length 0 or an
// unknown address type byte is invalid.
Parsed<UotPacket> parse_uot_connect_packet(std::span<const std::uint8_t> in);
Parsed<UotPacket> parse_uot_packet(std::span<const std::uint8_t> in);

}  // namespace anytls::proto
