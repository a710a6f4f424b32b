// The TCP NAT table: ports for new connections (SYN only), lookups both
// ways, the bound, and expiry on an injected time.
#include "tun/nat.hpp"

#include <gtest/gtest.h>

namespace {

using namespace anytls::tun;
using namespace std::chrono_literals;

FlowKey flow(std::uint16_t sport) {
  FlowKey k;
  k.source.ip.bytes[0] = 172, k.source.ip.bytes[3] = 1;
  k.source.port = sport;
  k.destination.ip.bytes[0] = 10, k.destination.ip.bytes[3] = 9;
  k.destination.port = 443;
  return k;
}

TEST(TcpNat, PortsBothWays) {
  TcpNat nat(100, 60s);
  const auto t0 = TcpNat::Clock::time_point{} + 1h;
  EXPECT_FALSE(nat.port_for(flow(1), false, t0)) << "no entry without a SYN";
  auto p1 = nat.port_for(flow(1), true, t0);
  auto p2 = nat.port_for(flow(2), true, t0);
  ASSERT_TRUE(p1 && p2);
  EXPECT_NE(*p1, *p2);
  EXPECT_GE(*p1, TcpNat::kFirstPort);
  EXPECT_EQ(nat.port_for(flow(1), false, t0), p1) << "the same flow keeps its port";
  ASSERT_NE(nat.flow_of(*p2, t0), nullptr);
  EXPECT_EQ(*nat.flow_of(*p2, t0), flow(2));
  EXPECT_EQ(nat.flow_of(1, t0), nullptr);
}

TEST(TcpNat, BoundedAndExpires) {
  TcpNat nat(3, 60s);
  const auto t0 = TcpNat::Clock::time_point{} + 1h;
  for (std::uint16_t i = 1; i <= 3; ++i) ASSERT_TRUE(nat.port_for(flow(i), true, t0));
  EXPECT_FALSE(nat.port_for(flow(4), true, t0 + 10s)) << "full";
  // Traffic keeps flow 1 alive; the others time out and make room.
  const auto p1 = *nat.port_for(flow(1), false, t0 + 50s);
  EXPECT_TRUE(nat.port_for(flow(4), true, t0 + 61s));
  EXPECT_NE(nat.flow_of(p1, t0 + 61s), nullptr);
  EXPECT_EQ(nat.size(), 2u);
  EXPECT_EQ(nat.expire(t0 + 200s), 2u);
  EXPECT_EQ(nat.size(), 0u);
}

TEST(TcpNat, PortsGoRoundBeforeReuse) {
  TcpNat nat(10, 1s);
  auto t = TcpNat::Clock::time_point{} + 1h;
  const auto first = *nat.port_for(flow(1), true, t);
  t += 5s;
  nat.expire(t);
  // A later connection takes the next port, not the one just freed.
  EXPECT_EQ(*nat.port_for(flow(2), true, t), first + 1);
}

}  // namespace
