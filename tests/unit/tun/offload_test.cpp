// The tun offload header and the rewrite of packets whose checksum the
// device finishes (NEEDS_CSUM: the field holds the pseudo-header's sum):
// the header's bytes, which headers the stack follows, a captured-shape
// packet against checksums computed elsewhere (Python), and GSO
// super-packets rewritten partial, finished as the kernel would, and
// compared with the same packets rewritten with full checksums.
#include "tun/offload.hpp"

#include <gtest/gtest.h>

#include <vector>

#include "test_packets.hpp"
#include "tun/packet.hpp"

namespace {

using namespace anytls::tun;
using namespace anytls::tun::test;

std::uint16_t get16(const std::vector<std::uint8_t>& b, std::size_t at) {
  return static_cast<std::uint16_t>(b[at] << 8 | b[at + 1]);
}

// What the kernel hands over for a packet whose checksum it left to the
// device: the field holds the pseudo-header's folded sum.
void make_partial(std::vector<std::uint8_t>& b, const Packet& p) {
  put16(b, p.transport + checksum_field(p.protocol), fold(pseudo_header_sum(b, p)));
}

VnetHeader needs_csum(const Packet& p) {
  VnetHeader h;
  h.flags = VnetHeader::kNeedsCsum;
  h.csum_start = static_cast<std::uint16_t>(p.transport);
  h.csum_offset = static_cast<std::uint16_t>(checksum_field(p.protocol));
  return h;
}

TEST(Vnet, HeaderBytesAreLittleEndian) {
  const std::vector<std::uint8_t> bytes{0x01, 0x81, 0x34, 0x00, 0xa8, 0x05, 0x14, 0x00, 0x10, 0x00};
  auto h = parse_vnet(bytes);
  ASSERT_TRUE(h);
  EXPECT_EQ(h->flags, VnetHeader::kNeedsCsum);
  EXPECT_EQ(h->gso_type, VnetHeader::kGsoTcp4 | VnetHeader::kGsoEcn);
  EXPECT_EQ(h->hdr_len, 52);
  EXPECT_EQ(h->gso_size, 1448);
  EXPECT_EQ(h->csum_start, 20);
  EXPECT_EQ(h->csum_offset, 16);
  EXPECT_TRUE(h->gso());
  std::vector<std::uint8_t> out(VnetHeader::kSize);
  put_vnet(out, *h);
  EXPECT_EQ(out, bytes);
  EXPECT_FALSE(parse_vnet(std::span<const std::uint8_t>(bytes.data(), 9)));
}

TEST(Vnet, WhichHeadersTheStackFollows) {
  const auto v4 = tcp_packet({ip4(10, 0, 0, 1), 1}, {ip4(10, 0, 0, 2), 2}, kAck, 3000);
  const auto v6 = tcp_packet({ip6(1, 1), 1}, {ip6(2, 2), 2}, kAck, 3000);
  const auto p4 = *parse(v4), p6 = *parse(v6);
  EXPECT_EQ(checksum_of(VnetHeader{}, p4), L4Checksum::full);
  EXPECT_EQ(checksum_of(needs_csum(p4), p4), L4Checksum::partial);
  EXPECT_EQ(checksum_of(needs_csum(p6), p6), L4Checksum::partial);
  auto elsewhere = needs_csum(p4);
  elsewhere.csum_offset = 6;  // not TCP's field
  EXPECT_FALSE(checksum_of(elsewhere, p4));
  elsewhere = needs_csum(p4);
  elsewhere.csum_start = 24;
  EXPECT_FALSE(checksum_of(elsewhere, p4));
  auto gso = needs_csum(p4);
  gso.gso_type = VnetHeader::kGsoTcp4;
  gso.gso_size = 1448;
  EXPECT_EQ(checksum_of(gso, p4), L4Checksum::partial);
  gso.gso_type = VnetHeader::kGsoTcp4 | VnetHeader::kGsoEcn;
  EXPECT_EQ(checksum_of(gso, p4), L4Checksum::partial);
  gso.gso_type = VnetHeader::kGsoTcp6;  // the other family
  EXPECT_FALSE(checksum_of(gso, p4));
  auto gso6 = needs_csum(p6);
  gso6.gso_type = VnetHeader::kGsoTcp6;
  EXPECT_EQ(checksum_of(gso6, p6), L4Checksum::partial);
  auto whole = gso;  // a super-packet whose checksum is not left to the device
  whole.gso_type = VnetHeader::kGsoTcp4;
  whole.flags = 0;
  EXPECT_FALSE(checksum_of(whole, p4));
  std::vector<std::uint8_t> udp(200);
  const auto n = build_udp(udp, {ip4(10, 0, 0, 1), 1}, {ip4(10, 0, 0, 2), 2}, 100);
  udp.resize(n);
  const auto pu = *parse(udp);
  EXPECT_EQ(checksum_of(needs_csum(pu), pu), L4Checksum::partial);
  auto uso = needs_csum(pu);
  uso.gso_type = 5;  // UDP super-packets (USO) are not asked for
  EXPECT_FALSE(checksum_of(uso, pu));
}

// 10.0.0.1:12345 -> 10.99.0.1:8080, PSH|ACK, an HTTP request; the checksums
// (and those after the rewrite) computed with Python's struct and sum.
TEST(Vnet, KnownPacketRewrittenPartial) {
  const std::string request = "GET / HTTP/1.1\r\n\r\n";
  std::vector<std::uint8_t> b{0x45, 0x00, 0x00, 0x3a, 0x12, 0x34, 0x40, 0x00, 0x40, 0x06, 0x14, 0x26, 10, 0, 0, 1,
                              10,   99,   0,    1,    0x30, 0x39, 0x1f, 0x90, 0,    0,    0,    1,    0,    0, 0, 0,
                              0x50, 0x18, 0xff, 0xff, 0x6c, 0xeb, 0,    0};
  b.insert(b.end(), request.begin(), request.end());
  auto p = parse(b);
  ASSERT_TRUE(p);
  ASSERT_TRUE(checksums_ok(b, *p));
  EXPECT_EQ(fold(pseudo_header_sum(b, *p)), 0x1491);
  make_partial(b, *p);
  EXPECT_EQ(get16(b, 36), 0x1491);
  ASSERT_EQ(checksum_of(needs_csum(*p), *p), L4Checksum::partial);
  rewrite(b, *p, {ip4(172, 19, 0, 2), 1024}, {ip4(172, 19, 0, 1), 38211}, L4Checksum::partial);
  EXPECT_EQ(get16(b, 10), 0xd060);  // the IPv4 header's, updated
  EXPECT_EQ(get16(b, 36), 0x5856);  // the new pseudo-header's sum: ports not in it
  complete_checksum(b, *p);
  EXPECT_EQ(get16(b, 36), 0xdfab);
  EXPECT_TRUE(checksums_ok(b, *p));
}

class Gso : public ::testing::TestWithParam<bool> {};

// A super-packet as TSO hands it over (40000 bytes of payload, one header),
// rewritten to the NAT and back like the stack does: finished as the
// kernel would, it equals the same packet rewritten with full checksums,
// which equals one built from scratch.
TEST_P(Gso, SuperPacketRewrittenPartialThenFinished) {
  const bool v6 = GetParam();
  const auto [client, dest, nat, listener] = nat_path(v6);
  for (std::size_t payload : {1u, 1448u, 40000u, 65535u - 80u}) {
    const auto full = tcp_packet(client, dest, kAck, payload);
    auto partial = full;
    auto p = parse(partial);
    ASSERT_TRUE(p);
    make_partial(partial, *p);
    VnetHeader h = needs_csum(*p);
    h.gso_type = v6 ? VnetHeader::kGsoTcp6 : VnetHeader::kGsoTcp4;
    h.gso_size = 1448;
    h.hdr_len = static_cast<std::uint16_t>(p->payload);
    ASSERT_EQ(checksum_of(h, *p), L4Checksum::partial);
    rewrite(partial, *p, nat, listener, L4Checksum::partial);
    EXPECT_EQ(p->source, nat);
    EXPECT_EQ(p->destination, listener);
    auto finished = partial;
    complete_checksum(finished, *p);
    EXPECT_TRUE(checksums_ok(finished, *p)) << payload;
    EXPECT_EQ(finished, tcp_packet(nat, listener, kAck, payload)) << payload;
    // And back: the pseudo-header sum of the original addresses again.
    rewrite(partial, *p, client, dest, L4Checksum::partial);
    auto original = full;
    make_partial(original, *p);
    EXPECT_EQ(partial, original) << payload;
  }
}

TEST_P(Gso, UdpPartialFinishedRight) {
  const bool v6 = GetParam();
  const Endpoint a{v6 ? ip6(0xfdfe, 1) : ip4(172, 19, 0, 1), 5353};
  const Endpoint b{v6 ? ip6(0x2001, 0x53) : ip4(198, 18, 0, 7), 53};
  std::vector<std::uint8_t> buf(1500);
  for (std::size_t i = 0; i < 333; ++i) buf[udp_header_size(v6) + i] = static_cast<std::uint8_t>(i * 13);
  buf.resize(build_udp(buf, a, b, 333));
  auto p = parse(buf);
  ASSERT_TRUE(p);
  make_partial(buf, *p);
  rewrite(buf, *p, b, a, L4Checksum::partial);
  complete_checksum(buf, *p);
  EXPECT_TRUE(checksums_ok(buf, *p));
}

// A partial checksum the rewrite can't follow is finished wherever the
// header puts it, as a device without the offload would, and the header
// then says it is done; a place outside the packet is left alone.
TEST_P(Gso, PartialFinishedWhereTheHeaderPutsIt) {
  const bool v6 = GetParam();
  const auto [client, dest, nat, listener] = nat_path(v6);
  auto b = tcp_packet(client, dest, kAck, 777);
  auto p = parse(b);
  ASSERT_TRUE(p);
  make_partial(b, *p);
  VnetHeader h = needs_csum(*p);
  ASSERT_TRUE(finish_checksum(b, h));
  EXPECT_EQ(h.flags & VnetHeader::kNeedsCsum, 0);
  EXPECT_EQ(checksum_of(h, *p), L4Checksum::full);
  EXPECT_TRUE(checksums_ok(b, *p));
  EXPECT_EQ(b, tcp_packet(client, dest, kAck, 777));
  EXPECT_FALSE(finish_checksum(b, h));  // no longer partial

  const auto before = b;
  VnetHeader outside = needs_csum(*p);
  outside.csum_offset = static_cast<std::uint16_t>(b.size() - p->transport - 1);
  EXPECT_FALSE(finish_checksum(b, outside));
  outside.csum_start = static_cast<std::uint16_t>(b.size());
  outside.csum_offset = 0;
  EXPECT_FALSE(finish_checksum(b, outside));
  EXPECT_EQ(b, before);
  EXPECT_EQ(outside.flags, VnetHeader::kNeedsCsum);
}

INSTANTIATE_TEST_SUITE_P(Families, Gso, ::testing::Values(false, true),
                         [](const auto& info) { return info.param ? std::string("v6") : std::string("v4"); });

}  // namespace
