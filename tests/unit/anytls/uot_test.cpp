#include "anytls/uot.hpp"

#include <gtest/gtest.h>

#include "net/socks_address.hpp"
#include "unit/anytls/hex.hpp"

using namespace anytls::proto;
using anytls::net::Address;
using anytls::test::bytes;
using anytls::test::hex;
using anytls::test::unhex;

TEST(Uot, MagicAddressOnTheStream) {
  std::vector<std::uint8_t> out;
  ASSERT_TRUE(anytls::net::append_socks_address(out, Address{std::string(kUotMagicAddress), 0}));
  EXPECT_EQ(hex(out), "031773702e76322e7564702d6f7665722d7463702e617270610000");
}

TEST(Uot, Request) {
  std::vector<std::uint8_t> out;
  ASSERT_TRUE(append_uot_request(out, {true, Address{"1.2.3.4", 53}}));
  EXPECT_EQ(hex(out), "01" "0101020304" "0035");
  out.clear();
  ASSERT_TRUE(append_uot_request(out, {false, Address{"example.com", 443}}));
  EXPECT_EQ(hex(out), "00" "030b6578616d706c652e636f6d" "01bb");
  out.clear();
  ASSERT_TRUE(append_uot_request(out, {false, Address{"::1", 53}}));
  EXPECT_EQ(hex(out), "00" "0400000000000000000000000000000001" "0035");

  // glued to the first packet: consumed stops at the request
  out.push_back(0xee);
  auto r = parse_uot_request(out);
  ASSERT_EQ(r.status, Parsed<UotRequest>::ok);
  EXPECT_EQ(r.consumed, out.size() - 1);
  EXPECT_FALSE(r.value.is_connect);
  EXPECT_EQ(r.value.destination, (Address{"::1", 53}));
  for (std::size_t n = 0; n + 1 < out.size(); ++n)
    EXPECT_EQ(parse_uot_request(std::span(out).first(n)).status, Parsed<UotRequest>::need_more) << n;

  auto c = parse_uot_request(unhex("01" "0101020304" "0035"));
  ASSERT_EQ(c.status, Parsed<UotRequest>::ok);
  EXPECT_TRUE(c.value.is_connect);
  EXPECT_EQ(c.value.destination, (Address{"1.2.3.4", 53}));
  EXPECT_TRUE(parse_uot_request(unhex("02" "0101020304" "0035")).value.is_connect);

  EXPECT_EQ(parse_uot_request(unhex("0005")).status, Parsed<UotRequest>::invalid);
  EXPECT_EQ(parse_uot_request(unhex("000300")).status, Parsed<UotRequest>::invalid);
  out.clear();
  EXPECT_FALSE(append_uot_request(out, {true, Address{std::string(256, 'a'), 1}}));
  EXPECT_TRUE(out.empty());
}

TEST(Uot, ConnectPacket) {
  std::vector<std::uint8_t> out;
  ASSERT_TRUE(append_uot_connect_packet(out, bytes("abc")));
  ASSERT_TRUE(append_uot_connect_packet(out, {}));
  EXPECT_EQ(hex(out), "0003616263" "0000");
  auto p = parse_uot_connect_packet(out);
  ASSERT_EQ(p.status, Parsed<UotPacket>::ok);
  EXPECT_EQ(p.consumed, 5u);
  EXPECT_EQ(hex(p.value.payload), "616263");
  auto q = parse_uot_connect_packet(std::span(out).subspan(5));
  ASSERT_EQ(q.status, Parsed<UotPacket>::ok);
  EXPECT_EQ(q.consumed, 2u);
  EXPECT_TRUE(q.value.payload.empty());
  for (std::size_t n = 0; n < 5; ++n)
    EXPECT_EQ(parse_uot_connect_packet(std::span(out).first(n)).status, Parsed<UotPacket>::need_more);

  std::vector<std::uint8_t> big(65536, 1);
  out.clear();
  EXPECT_FALSE(append_uot_connect_packet(out, big));
  EXPECT_TRUE(out.empty());
  big.pop_back();
  EXPECT_TRUE(append_uot_connect_packet(out, big));
  EXPECT_EQ(out.size(), 65537u);
  EXPECT_EQ(parse_uot_connect_packet(out).status, Parsed<UotPacket>::ok);
}

TEST(Uot, NonConnectPacketUsesItsOwnTypeBytes) {
  std::vector<std::uint8_t> out;
  ASSERT_TRUE(append_uot_packet(out, Address{"8.8.8.8", 53}, bytes("abc")));
  EXPECT_EQ(hex(out), "00" "08080808" "0035" "0003" "616263");
  out.clear();
  ASSERT_TRUE(append_uot_packet(out, Address{"2001:db8::1", 443}, bytes("x")));
  EXPECT_EQ(hex(out), "01" "20010db8000000000000000000000001" "01bb" "0001" "78");
  out.clear();
  ASSERT_TRUE(append_uot_packet(out, Address{"dns.google", 53}, {}));
  EXPECT_EQ(hex(out), "02" "0a" "646e732e676f6f676c65" "0035" "0000");
}

TEST(Uot, NonConnectPacketParse) {
  std::vector<std::uint8_t> out;
  const std::vector<Address> addrs{{"8.8.8.8", 53}, {"2001:db8::1", 443}, {"dns.google", 5353}};
  for (const auto& a : addrs) ASSERT_TRUE(append_uot_packet(out, a, bytes("payload-" + a.host)));
  std::span<const std::uint8_t> in = out;
  for (const auto& a : addrs) {
    // every strict prefix of the next packet is need_more
    auto whole = parse_uot_packet(in);
    ASSERT_EQ(whole.status, Parsed<UotPacket>::ok);
    for (std::size_t n = 0; n < whole.consumed; ++n)
      EXPECT_EQ(parse_uot_packet(in.first(n)).status, Parsed<UotPacket>::need_more);
    EXPECT_EQ(whole.value.address, a);
    EXPECT_EQ(std::string(whole.value.payload.begin(), whole.value.payload.end()), "payload-" + a.host);
    in = in.subspan(whole.consumed);
  }
  EXPECT_TRUE(in.empty());

  EXPECT_EQ(parse_uot_packet(unhex("03")).status, Parsed<UotPacket>::invalid);
  EXPECT_EQ(parse_uot_packet(unhex("04")).status, Parsed<UotPacket>::invalid);  // SOCKS v6 byte is not valid here
  EXPECT_EQ(parse_uot_packet(unhex("0200")).status, Parsed<UotPacket>::invalid);
  EXPECT_EQ(parse_uot_packet(unhex("00080808080035ffff")).status, Parsed<UotPacket>::need_more);

  out.clear();
  EXPECT_FALSE(append_uot_packet(out, Address{"", 1}, bytes("x")));
  EXPECT_FALSE(append_uot_packet(out, Address{"1.1.1.1", 1}, std::vector<std::uint8_t>(65536)));
  EXPECT_TRUE(out.empty());
}
