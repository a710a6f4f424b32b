// The tun packet codec: parse, rewrite with incremental checksums (checked
// against checksums computed from scratch), UDP packets built from scratch,
// and malformed or truncated input refused without reading past it.
#include "tun/packet.hpp"

#include <gtest/gtest.h>

#include <cstring>
#include <optional>
#include <span>
#include <vector>

#include "test_packets.hpp"

namespace {

using namespace anytls::tun;
using namespace anytls::tun::test;

// What parse() must say of bytes: the protocol, the endpoints, the payload
// size, and checksums that verify.
std::optional<Packet> expect_packet(std::span<const std::uint8_t> bytes, std::uint8_t protocol, const Endpoint& source,
                                    const Endpoint& destination, std::size_t payload) {
  auto p = parse(bytes);
  EXPECT_TRUE(p);
  if (!p) return p;
  EXPECT_EQ(p->protocol, protocol);
  EXPECT_EQ(p->source, source);
  EXPECT_EQ(p->destination, destination);
  EXPECT_EQ(p->payload_size(), payload);
  EXPECT_TRUE(checksums_ok(bytes, *p));
  return p;
}

class Rewrite : public ::testing::TestWithParam<bool> {};

TEST_P(Rewrite, RoundTripKeepsChecksumsRight) {
  const auto [client, dest, nat, listener] = nat_path(GetParam());
  for (std::size_t payload : {0u, 1u, 1000u}) {
    auto bytes = tcp_packet(client, dest, kSyn, payload);
    const auto original = bytes;
    auto p = expect_packet(bytes, kTcp, client, dest, payload);
    ASSERT_TRUE(p);
    EXPECT_EQ(p->tcp_flags, kSyn);
    rewrite(bytes, *p, nat, listener);
    // The rewritten packet parses as what it now is, and its incrementally
    // updated checksums equal the ones computed from scratch.
    auto q = expect_packet(bytes, kTcp, nat, listener, payload);
    ASSERT_TRUE(q);
    EXPECT_EQ(bytes, tcp_packet(nat, listener, kSyn, payload));
    rewrite(bytes, *q, client, dest);
    EXPECT_EQ(bytes, original);
  }
}

TEST_P(Rewrite, UdpBuiltFromScratch) {
  const bool v6 = GetParam();
  const Endpoint from{v6 ? ip6(0x2001, 0x53) : ip4(198, 18, 0, 7), 53};
  const Endpoint to{v6 ? ip6(0xfdfe, 1) : ip4(172, 19, 0, 1), 5353};
  std::vector<std::uint8_t> buf(2000);
  const std::size_t header = udp_header_size(v6);
  for (std::size_t i = 0; i < 101; ++i) buf[header + i] = static_cast<std::uint8_t>(i);
  const std::size_t n = build_udp(buf, from, to, 101);
  ASSERT_EQ(n, header + 101);
  buf.resize(n);
  auto p = expect_packet(buf, kUdp, from, to, 101);
  ASSERT_TRUE(p);
  EXPECT_EQ(p->payload, header);
  EXPECT_EQ(transport_sum(buf, v6 ? 40 : 20, v6, kUdp), 0);
  // Rewritten both ways, still right.
  rewrite(buf, *p, to, from);
  EXPECT_TRUE(checksums_ok(buf, *p));
  // Too small a buffer, or too large a payload: nothing built.
  std::vector<std::uint8_t> small(header + 10);
  EXPECT_EQ(build_udp(small, from, to, 11), 0u);
}

INSTANTIATE_TEST_SUITE_P(Families, Rewrite, ::testing::Values(false, true),
                         [](const auto& info) { return info.param ? std::string("v6") : std::string("v4"); });

TEST(Parse, TruncatedAtEveryLengthIsRefused) {
  for (bool v6 : {false, true}) {
    const Endpoint a{v6 ? ip6(1, 1) : ip4(1, 1, 1, 1), 1}, b{v6 ? ip6(2, 2) : ip4(2, 2, 2, 2), 2};
    auto bytes = tcp_packet(a, b, kAck, 10);
    for (std::size_t n = 0; n < bytes.size(); ++n) {
      std::vector<std::uint8_t> cut(bytes.begin(), bytes.begin() + static_cast<long>(n));
      EXPECT_FALSE(parse(cut)) << "v6 " << v6 << " length " << n;
    }
    // Bytes past the IP length are ignored.
    bytes.push_back(0);
    auto p = parse(bytes);
    ASSERT_TRUE(p);
    EXPECT_EQ(p->size, bytes.size() - 1);
  }
}

TEST(Parse, RefusesWhatTheStackDoesNotHandle) {
  const Endpoint a{ip4(1, 1, 1, 1), 1}, b{ip4(2, 2, 2, 2), 2};
  auto frag = tcp_packet(a, b, kSyn, 0);
  put16(frag, 6, 0x2000);  // more fragments
  EXPECT_FALSE(parse(frag));
  put16(frag, 6, 0x0001);  // an offset
  EXPECT_FALSE(parse(frag));
  auto icmp = tcp_packet(a, b, kSyn, 0);
  icmp[9] = 1;
  EXPECT_FALSE(parse(icmp));
  auto ihl = tcp_packet(a, b, kSyn, 0);
  ihl[0] = 0x44;  // IHL 16 bytes
  EXPECT_FALSE(parse(ihl));
  auto offset = tcp_packet(a, b, kSyn, 0);
  offset[20 + 12] = 0xf0;  // data offset 60 > segment
  EXPECT_FALSE(parse(offset));
  auto version = tcp_packet(a, b, kSyn, 0);
  version[0] = 0x55;
  EXPECT_FALSE(parse(version));
  const Endpoint a6{ip6(1, 1), 1}, b6{ip6(2, 2), 2};
  auto ext = tcp_packet(a6, b6, kSyn, 0);
  ext[6] = 0;  // hop-by-hop options header: not followed
  EXPECT_FALSE(parse(ext));
  // A UDP length larger than the packet.
  std::vector<std::uint8_t> buf(100);
  const auto n = build_udp(buf, a, b, 10);
  buf.resize(n);
  put16(buf, 24, 200);
  EXPECT_FALSE(parse(buf));
  EXPECT_FALSE(parse({}));
}

TEST(Ip, Next) {
  EXPECT_EQ(ip4(172, 19, 0, 1).next(), ip4(172, 19, 0, 2));
  EXPECT_EQ(ip4(10, 0, 0, 255).next(), ip4(10, 0, 1, 0));
  EXPECT_EQ(ip6(0xfdfe, 1).next(), ip6(0xfdfe, 2));
  EXPECT_EQ(ip6(0xfdfe, 0xffff).next().bytes[13], 1);
}

}  // namespace
