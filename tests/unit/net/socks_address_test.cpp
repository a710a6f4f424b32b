#include "net/socks_address.hpp"

#include <gtest/gtest.h>

#include "unit/anytls/hex.hpp"

using namespace anytls::net;
using anytls::test::hex;
using anytls::test::unhex;

namespace {
std::string enc(const Address& a) {
  std::vector<std::uint8_t> out;
  EXPECT_TRUE(append_socks_address(out, a));
  return hex(out);
}
}  // namespace

TEST(SocksAddress, Vectors) {
  const std::vector<std::pair<Address, std::string>> vectors{
      {{"127.0.0.1", 8080}, "017f0000011f90"},
      {{"::1", 53}, "04000000000000000000000000000000010035"},
      {{"sp.v2.udp-over-tcp.arpa", 0}, "031773702e76322e7564702d6f7665722d7463702e617270610000"},
      {{"example.com", 443}, "030b6578616d706c652e636f6d01bb"},
  };
  for (const auto& [addr, h] : vectors) {
    EXPECT_EQ(enc(addr), h);
    const auto wire = unhex(h);
    auto r = parse_socks_address(wire);
    ASSERT_EQ(r.status, SocksAddressParse::ok) << h;
    EXPECT_EQ(r.consumed, wire.size());
    EXPECT_EQ(r.address, addr);
    for (std::size_t n = 0; n < wire.size(); ++n)
      EXPECT_EQ(parse_socks_address(std::span(wire).first(n)).status, SocksAddressParse::need_more) << h << " " << n;
  }
}

TEST(SocksAddress, TrailingBytesAreNotConsumed) {
  const auto wire = unhex("017f0000011f90" "deadbeef");
  auto r = parse_socks_address(wire);
  ASSERT_EQ(r.status, SocksAddressParse::ok);
  EXPECT_EQ(r.consumed, 7u);
}

TEST(SocksAddress, Invalid) {
  for (const char* h : {"00", "02", "05", "ff", "0300", "03000000", "7f0000011f90"})
    EXPECT_EQ(parse_socks_address(unhex(h)).status, SocksAddressParse::invalid) << h;
}

TEST(SocksAddress, DomainLengthLimits) {
  std::vector<std::uint8_t> out;
  EXPECT_FALSE(append_socks_address(out, Address{"", 80}));
  EXPECT_FALSE(append_socks_address(out, Address{std::string(256, 'a'), 80}));
  EXPECT_TRUE(out.empty());
  const std::string max(255, 'b');
  ASSERT_TRUE(append_socks_address(out, Address{max, 80}));
  EXPECT_EQ(out.size(), 1 + 1 + 255 + 2u);
  EXPECT_EQ(out[1], 255);
  auto r = parse_socks_address(out);
  ASSERT_EQ(r.status, SocksAddressParse::ok);
  EXPECT_EQ(r.address.host, max);
}

TEST(SocksAddress, IpLiterals) {
  EXPECT_EQ(enc({"fe80::1%eth0", 1}), "04fe800000000000000000000000000001" "0001");  // scope dropped
  EXPECT_EQ(enc({"::ffff:1.2.3.4", 1}), "0400000000000000000000ffff01020304" "0001");
  EXPECT_EQ(enc({"1.2.3", 1}), "0305312e322e33" "0001");  // not a literal: a name
  EXPECT_EQ(enc({"::1%", 1}), "03043a3a3125" "0001");
  auto r = parse_socks_address(unhex("0420010db8000000000000000000000001" "0050"));
  ASSERT_EQ(r.status, SocksAddressParse::ok);
  EXPECT_EQ(r.address.host, "2001:db8::1");
  EXPECT_EQ(r.address.port, 80);
  EXPECT_EQ(r.address.to_string(), "[2001:db8::1]:80");
}

TEST(SocksAddress, DomainBytesKeptRaw) {
  auto r = parse_socks_address(unhex("0303610062" "0001"));
  ASSERT_EQ(r.status, SocksAddressParse::ok);
  EXPECT_EQ(r.address.host, std::string("a\0b", 3));
}
