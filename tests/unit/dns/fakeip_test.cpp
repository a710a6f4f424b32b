// The fakeip table alone: the order addresses are handed out in, the
// bound, what wrapping forgets, and the ranges it accepts.
#include <gtest/gtest.h>

#include "dns/fakeip.hpp"

namespace anytls::dns {
namespace {

asio::ip::address ip(const char* text) { return asio::ip::make_address(text); }

TEST(FakeIpStore, HandsOutInOrderAndKeepsANamesAddress) {
  FakeIpStore store(parse_fakeip_range("198.18.0.0/15"), parse_fakeip_range("fc00::/18"));
  EXPECT_EQ(store.create("a.test", false), ip("198.18.0.2"));
  EXPECT_EQ(store.create("b.test", false), ip("198.18.0.3"));
  EXPECT_EQ(store.create("a.test", false), ip("198.18.0.2"));
  EXPECT_EQ(store.create("a.test", true), ip("fc00::2"));
  EXPECT_EQ(store.lookup(ip("198.18.0.3")), "b.test");
  EXPECT_EQ(store.lookup(ip("fc00::2")), "a.test");
  EXPECT_TRUE(store.contains(ip("198.19.255.1")));
  EXPECT_FALSE(store.contains(ip("198.20.0.1")));
  EXPECT_EQ(store.lookup(ip("198.18.0.9")), std::nullopt);  // in the range, never handed out
  EXPECT_EQ(store.lookup(ip("198.18.0.1")), std::nullopt);
  store.reset();
  EXPECT_EQ(store.size(), 0u);
  EXPECT_EQ(store.lookup(ip("198.18.0.2")), std::nullopt);
  EXPECT_EQ(store.create("c.test", false), ip("198.18.0.2"));
}

TEST(FakeIpStore, BoundedWrappingForgetsTheOldest) {
  // A /29: base + 2 .. base + 6 (the broadcast address is never handed out).
  FakeIpStore small(parse_fakeip_range("10.0.0.0/29"), std::nullopt);
  for (int i = 0; i < 5; ++i) EXPECT_EQ(small.create("n" + std::to_string(i), false), ip(("10.0.0." + std::to_string(i + 2)).c_str()));
  EXPECT_EQ(small.create("n5", false), ip("10.0.0.2"));  // wrapped
  EXPECT_EQ(small.lookup(ip("10.0.0.2")), "n5");
  EXPECT_EQ(small.create("n0", false), ip("10.0.0.3"));  // n0 was forgotten: a new address
  EXPECT_EQ(small.size(), 5u);
  EXPECT_EQ(small.create("v6", true), std::nullopt);     // no IPv6 range
  // A huge range holds at most max_entries names.
  FakeIpStore capped(std::nullopt, parse_fakeip_range("fc00::/18"), 3);
  for (int i = 0; i < 10; ++i) (void)capped.create("h" + std::to_string(i), true);
  EXPECT_EQ(capped.size(), 3u);
  EXPECT_EQ(capped.lookup(ip("fc00::2")), "h9");
}

TEST(FakeIpStore, Ranges) {
  auto r = parse_fakeip_range("198.18.1.7/15");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->base, ip("198.18.0.0"));
  EXPECT_FALSE(parse_fakeip_range("198.18.0.0"));
  EXPECT_FALSE(parse_fakeip_range("198.18.0.0/31"));
  EXPECT_FALSE(parse_fakeip_range("nope/8"));
  EXPECT_FALSE(parse_fakeip_range("10.0.0.0/x"));
  EXPECT_TRUE(parse_fakeip_range("fc00::/126"));
}

}  // namespace
}  // namespace anytls::dns
