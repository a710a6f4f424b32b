// Packets for the tun codec tests, every checksum computed from scratch
// here (not by the code under test).
#pragma once
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

#include "tun/packet.hpp"

namespace anytls::tun::test {

inline Ip ip4(std::uint8_t a, std::uint8_t b, std::uint8_t c, std::uint8_t d) {
  Ip ip;
  ip.bytes[0] = a, ip.bytes[1] = b, ip.bytes[2] = c, ip.bytes[3] = d;
  return ip;
}

inline Ip ip6(std::uint16_t first, std::uint16_t last) {
  Ip ip;
  ip.v6 = true;
  ip.bytes[0] = static_cast<std::uint8_t>(first >> 8), ip.bytes[1] = static_cast<std::uint8_t>(first);
  ip.bytes[14] = static_cast<std::uint8_t>(last >> 8), ip.bytes[15] = static_cast<std::uint8_t>(last);
  return ip;
}

inline void put16(std::vector<std::uint8_t>& b, std::size_t at, std::uint16_t v) {
  b[at] = static_cast<std::uint8_t>(v >> 8);
  b[at + 1] = static_cast<std::uint8_t>(v);
}

// The checksum of a transport segment from scratch: pseudo-header + segment.
inline std::uint16_t transport_sum(const std::vector<std::uint8_t>& b, std::size_t l4, bool v6, std::uint8_t proto) {
  std::vector<std::uint8_t> pseudo;
  const std::size_t n = v6 ? 16 : 4;
  const std::size_t src = v6 ? 8 : 12, dst = v6 ? 24 : 16;
  pseudo.insert(pseudo.end(), b.begin() + static_cast<long>(src), b.begin() + static_cast<long>(src + n));
  pseudo.insert(pseudo.end(), b.begin() + static_cast<long>(dst), b.begin() + static_cast<long>(dst + n));
  const std::size_t len = b.size() - l4;
  pseudo.push_back(0);
  pseudo.push_back(proto);
  pseudo.push_back(static_cast<std::uint8_t>(len >> 8));
  pseudo.push_back(static_cast<std::uint8_t>(len));
  pseudo.insert(pseudo.end(), b.begin() + static_cast<long>(l4), b.end());
  std::uint32_t sum = 0;
  for (std::size_t i = 0; i < pseudo.size(); i += 2)
    sum += static_cast<std::uint32_t>(pseudo[i] << 8 | (i + 1 < pseudo.size() ? pseudo[i + 1] : 0));
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return static_cast<std::uint16_t>(~sum);
}

// A TCP segment with options and payload, every checksum from scratch.
inline std::vector<std::uint8_t> tcp_packet(const Endpoint& s, const Endpoint& d, std::uint8_t flags, std::size_t payload) {
  const bool v6 = s.ip.v6;
  const std::size_t ip_len = v6 ? 40 : 20, tcp_len = 24;  // 4 bytes of options (MSS)
  std::vector<std::uint8_t> b(ip_len + tcp_len + payload);
  if (v6) {
    b[0] = 0x60;
    put16(b, 4, static_cast<std::uint16_t>(tcp_len + payload));
    b[6] = kTcp;
    b[7] = 64;
    std::memcpy(&b[8], s.ip.bytes.data(), 16);
    std::memcpy(&b[24], d.ip.bytes.data(), 16);
  } else {
    b[0] = 0x45;
    put16(b, 2, static_cast<std::uint16_t>(b.size()));
    put16(b, 4, 0x1234);
    b[8] = 64;
    b[9] = kTcp;
    std::memcpy(&b[12], s.ip.bytes.data(), 4);
    std::memcpy(&b[16], d.ip.bytes.data(), 4);
    std::uint32_t sum = 0;
    for (std::size_t i = 0; i < 20; i += 2) sum += static_cast<std::uint32_t>(b[i] << 8 | b[i + 1]);
    while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
    put16(b, 10, static_cast<std::uint16_t>(~sum));
  }
  const std::size_t l4 = ip_len;
  put16(b, l4, s.port);
  put16(b, l4 + 2, d.port);
  put16(b, l4 + 4, 0xdead), put16(b, l4 + 6, 0xbeef);  // seq
  b[l4 + 12] = static_cast<std::uint8_t>((tcp_len / 4) << 4);
  b[l4 + 13] = flags;
  put16(b, l4 + 14, 65535);
  b[l4 + 20] = 2, b[l4 + 21] = 4, put16(b, l4 + 22, 1460);
  for (std::size_t i = 0; i < payload; ++i) b[l4 + tcp_len + i] = static_cast<std::uint8_t>(i * 7 + 3);
  put16(b, l4 + 16, transport_sum(b, l4, v6, kTcp));
  return b;
}

// The endpoints of one connection through the stack's NAT: the client and
// the destination it wrote, the NAT address and port, our listener.
struct NatPath {
  Endpoint client, dest, nat, listener;
};

inline NatPath nat_path(bool v6) {
  return {{v6 ? ip6(0xfdfe, 1) : ip4(172, 19, 0, 1), 40000},
          {v6 ? ip6(0x2001, 0x99) : ip4(10, 99, 0, 1), 80},
          {v6 ? ip6(0xfdfe, 2) : ip4(172, 19, 0, 2), 1024},
          {v6 ? ip6(0xfdfe, 1) : ip4(172, 19, 0, 1), 38211}};
}

}  // namespace anytls::tun::test
