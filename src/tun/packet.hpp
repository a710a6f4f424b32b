// IPv4/IPv6 packets as the tun device carries them (IFF_NO_PI: the IP
// header first): parse the TCP and UDP ones, rewrite their addresses and
// ports with incremental checksum updates (RFC 1624), and build UDP replies.
// Pure: bytes in, values out (fuzzed by tests/fuzz/fuzz_tun_packet).
//
// Not parsed (parse() says so and the stack drops them): IPv4 fragments,
// IPv6 extension headers (fragments included), ICMP and every other
// protocol, and packets whose lengths disagree with their headers.
#pragma once
#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>

namespace anytls::tun {

inline constexpr std::uint8_t kTcp = 6;
inline constexpr std::uint8_t kUdp = 17;

// An IP address of either family as raw bytes (IPv4: the first 4).
struct Ip {
  bool v6 = false;
  std::array<std::uint8_t, 16> bytes{};

  std::size_t size() const { return v6 ? 16 : 4; }
  bool operator==(const Ip&) const = default;
  // The next address (172.19.0.1 -> 172.19.0.2), wrapping at the end.
  Ip next() const;
  static Ip v4(std::uint32_t host_order);
};

struct Endpoint {
  Ip ip;
  std::uint16_t port = 0;
  bool operator==(const Endpoint&) const = default;
};

// TCP flag bits.
inline constexpr std::uint8_t kFin = 0x01, kSyn = 0x02, kRst = 0x04, kAck = 0x10;

// A parsed TCP or UDP packet: offsets into the bytes it was parsed from.
struct Packet {
  std::uint8_t protocol = 0;  // kTcp or kUdp
  Endpoint source;
  Endpoint destination;
  std::size_t size = 0;            // the IP packet's length (bytes past it are ignored)
  std::size_t transport = 0;       // offset of the TCP/UDP header
  std::size_t payload = 0;         // offset of the TCP/UDP payload
  std::uint8_t tcp_flags = 0;      // TCP only

  bool v6() const { return source.ip.v6; }
  std::size_t payload_size() const { return size - payload; }
};

// nullopt: not a TCP/UDP packet this stack handles, or malformed (any
// length a header claims is checked against the bytes).
std::optional<Packet> parse(std::span<const std::uint8_t> bytes);

// What the TCP/UDP checksum field of a packet holds: the checksum, or
// (a packet whose checksum the device finishes: tun/offload.hpp) the
// pseudo-header's sum only, not inverted, which covers the addresses but
// not the ports.
enum class L4Checksum { full, partial };

// Rewrites source and destination (addresses of the packet's own family)
// in place, updating the IPv4 header checksum and the TCP/UDP checksum
// field incrementally, as what it holds requires. p: what parse() returned
// for these bytes.
void rewrite(std::span<std::uint8_t> bytes, Packet& p, const Endpoint& source, const Endpoint& destination,
             L4Checksum checksum = L4Checksum::full);

// The Internet checksum (RFC 1071) of bytes from scratch, folded, not
// inverted; `sum` carries a partial sum in.
std::uint32_t sum_words(std::span<const std::uint8_t> bytes, std::uint32_t sum = 0);
std::uint16_t fold(std::uint32_t sum);
// The sum of p's pseudo-header (addresses, protocol, TCP/UDP length), unfolded.
std::uint32_t pseudo_header_sum(std::span<const std::uint8_t> bytes, const Packet& p);
// Offset of p's TCP/UDP checksum field from its transport header.
inline constexpr std::size_t checksum_field(std::uint8_t protocol) { return protocol == kTcp ? 16 : 6; }
// Whether the packet's IPv4 header checksum (v4) and TCP/UDP checksum
// verify, computed from scratch (tests, and nothing on the data path).
bool checksums_ok(std::span<const std::uint8_t> bytes, const Packet& p);

// Header bytes in front of a UDP payload: 20 + 8 (IPv4), 40 + 8 (IPv6).
inline constexpr std::size_t udp_header_size(bool v6) { return v6 ? 48 : 28; }
// Writes the IP and UDP headers of a packet source -> destination into
// out[0, udp_header_size) for the payload_size bytes that already follow
// them in out, checksums included. The packet's size, 0 if it does not fit
// (out too small, or over 65535 bytes).
std::size_t build_udp(std::span<std::uint8_t> out, const Endpoint& source, const Endpoint& destination,
                      std::size_t payload_size);

}  // namespace anytls::tun
