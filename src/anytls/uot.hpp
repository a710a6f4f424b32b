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
void append_uot_request(std::vector<std::uint8_t>& out, const UotRequest& r);

template <class T>
struct Parsed {
  enum Status { ok, need_more, invalid } status = need_more;
  T value{};
  std::size_t consumed = 0;
};
Parsed<UotRequest> parse_uot_request(std::span<const std::uint8_t> in);

// Connect mode: u16 BE length + payload.
void append_uot_connect_packet(std::vector<std::uint8_t>& out, std::span<const std::uint8_t> payload);
// Non-connect mode: addr (00 v4 / 01 v6 / 02 domain) + port u16 BE + u16 BE length + payload.
void append_uot_packet(std::vector<std::uint8_t>& out, const net::Address& addr,
                       std::span<const std::uint8_t> payload);

struct UotPacket {
  net::Address address;                   // non-connect mode only
  std::span<const std::uint8_t> payload;  // points into the input
};
Parsed<UotPacket> parse_uot_connect_packet(std::span<const std::uint8_t> in);
Parsed<UotPacket> parse_uot_packet(std::span<const std::uint8_t> in);

}  // namespace anytls::proto
