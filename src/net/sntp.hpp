// SNTP (RFC 4330) packets, as a pure codec: the 48-byte client request and
// the checks and arithmetic on the server's reply. No sockets: the query
// through an outbound is outbound/ntp_query.
#pragma once
#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <variant>

namespace anytls::net::sntp {

inline constexpr std::size_t kPacketSize = 48;
inline constexpr std::uint16_t kDefaultPort = 123;
using Packet = std::array<std::uint8_t, kPacketSize>;
using SysTime = std::chrono::system_clock::time_point;

// NTP's 64-bit timestamp: seconds since 1900 (era 0) and a 32-bit fraction.
std::uint64_t to_ntp(SysTime t);
// Era 0 (1900-2036) when the top bit of the seconds is set, else era 1
// (2036-2172), as RFC 4330 section 3 suggests.
SysTime from_ntp(std::uint64_t ts);

// A version 4 client request (mode 3) whose transmit timestamp is `sent`
// (the server copies it into its reply's originate field).
Packet encode_request(SysTime sent);

struct Reply {
  SysTime server_time;              // the reply's transmit timestamp (T3)
  std::chrono::nanoseconds offset;  // ((T2 - T1) + (T3 - T4)) / 2
  std::chrono::nanoseconds delay;   // (T4 - T1) - (T3 - T2)
  int stratum = 0;
  int leap = 0;
};

// The reply to the request sent at `sent` (T1), received at `received`
// (T4), or why it is not one: shorter than 48 bytes, not mode 4 (server) or
// 5 (broadcast), version not 1-4, a kiss-o'-death (stratum 0) with its
// code, unsynchronized (leap 3), an originate timestamp that is not ours,
// a zero transmit timestamp.
std::variant<Reply, std::string> decode_reply(const std::uint8_t* data, std::size_t size, SysTime sent,
                                              SysTime received);

}  // namespace anytls::net::sntp
