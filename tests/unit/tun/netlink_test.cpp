// The rtnetlink client against a real kernel, in a namespace of its own.
#include <gtest/gtest.h>
#include <linux/fib_rules.h>
#include <linux/rtnetlink.h>
#include <sys/socket.h>

#include "tun/netlink.hpp"
#include "unit/tun/netns.hpp"

namespace anytls::tun {
namespace {

using test::sh;

TEST(IpPrefix, ParsesAndMasks) {
  auto p = parse_prefix("172.19.0.1/30");
  ASSERT_TRUE(p);
  EXPECT_EQ(p->to_string(), "172.19.0.1/30");
  EXPECT_EQ(masked(*p).to_string(), "172.19.0.0/30");
  EXPECT_EQ(masked(*parse_prefix("fdfe:dcba:9876::1/126")).to_string(), "fdfe:dcba:9876::/126");
  EXPECT_EQ(parse_prefix("10.0.0.1")->length, 32);
  EXPECT_FALSE(parse_prefix("10.0.0.0/33"));
  EXPECT_FALSE(parse_prefix("10.0.0.0/"));
  EXPECT_FALSE(parse_prefix("x/8"));
}

class NetlinkTest : public test::NamespaceTest {
 protected:
  NetlinkTest()
      : NamespaceTest("anytls-tun-route-nl",
                      "ip link add veth0 type veth peer name veth0p && ip link set veth0 up && ip link set veth0p up"
                      " && ip addr add 192.0.2.2/24 dev veth0 && ip route add default via 192.0.2.1 dev veth0"
                      " && ip -6 addr add 2001:db8:1::2/64 dev veth0 nodad"
                      " && ip -6 route add default via 2001:db8:1::1 dev veth0") {}
};

TEST_F(NetlinkTest, AddsListsAndDeletesRoutes) {
  auto nl = Netlink::open();
  ASSERT_TRUE(nl) << nl.error().text();
  RouteSpec r;
  r.family = AF_INET;
  r.table = 2022;
  r.dst = *parse_prefix("0.0.0.0/0");
  r.ifindex = interface_index("veth0");
  ASSERT_FALSE(nl->add_route(r));
  EXPECT_EQ(nl->add_route(r).value(), EEXIST);
  RouteSpec u;
  u.family = AF_INET6;
  u.table = 2022;
  u.dst = *parse_prefix("2001:db8:5::/48");
  u.type = RTN_UNREACHABLE;
  ASSERT_FALSE(nl->add_route(u));
  auto shown = sh("ip route show table 2022; ip -6 route show table 2022").out;
  EXPECT_NE(shown.find("default dev veth0"), std::string::npos) << shown;
  EXPECT_NE(shown.find("unreachable 2001:db8:5::/48"), std::string::npos) << shown;

  auto listed = nl->list_routes(AF_UNSPEC, 2022);
  ASSERT_TRUE(listed);
  ASSERT_EQ(listed->size(), 2u);
  for (const auto& x : *listed) ASSERT_FALSE(nl->delete_route(x)) << x.dst.to_string();
  EXPECT_EQ(sh("ip route show table 2022; ip -6 route show table 2022").out, "");
  EXPECT_EQ(nl->delete_route(r).value(), ESRCH);
}

TEST_F(NetlinkTest, AddsListsAndDeletesRules) {
  auto nl = Netlink::open();
  ASSERT_TRUE(nl);
  std::string before = sh("ip rule show; ip -6 rule show").out;
  RuleSpec a;
  a.family = AF_INET;
  a.priority = 9000;
  a.action = FR_ACT_GOTO;
  a.goto_priority = 9010;
  a.uid_range = UidRange{1000, 1999};
  RuleSpec b;
  b.family = AF_INET;
  b.priority = 9001;
  b.table = RT_TABLE_MAIN;
  b.suppress_prefixlength = 0;
  b.invert = true;
  b.dport_range = std::make_pair(std::uint16_t{53}, std::uint16_t{53});
  RuleSpec c;
  c.family = AF_INET6;
  c.priority = 9002;
  c.table = 2022;
  c.iif = "lo";
  c.src = parse_prefix("8000::/1");
  RuleSpec d;
  d.family = AF_INET;
  d.priority = 9003;
  d.action = FR_ACT_GOTO;
  d.goto_priority = 9010;
  d.fwmark = 0x99;
  d.fwmask = 0x99;
  RuleSpec n;
  n.family = AF_INET;
  n.priority = 9010;
  n.action = FR_ACT_NOP;
  for (const auto* r : {&a, &b, &c, &d, &n}) ASSERT_FALSE(nl->add_rule(*r)) << r->priority;
  EXPECT_EQ(nl->add_rule(a).value(), EEXIST);

  auto v4 = sh("ip rule show").out;
  EXPECT_NE(v4.find("9000:\tfrom all uidrange 1000-1999 goto 9010"), std::string::npos) << v4;
  EXPECT_NE(v4.find("9001:\tnot from all dport 53 lookup main suppress_prefixlength 0"), std::string::npos) << v4;
  EXPECT_NE(v4.find("9003:\tfrom all fwmark 0x99/0x99 goto 9010"), std::string::npos) << v4;
  EXPECT_NE(v4.find("9010:\tfrom all nop"), std::string::npos) << v4;
  auto v6 = sh("ip -6 rule show").out;
  EXPECT_NE(v6.find("9002:\tfrom 8000::/1 iif lo lookup 2022"), std::string::npos) << v6;

  auto listed = nl->list_rules(AF_INET);
  ASSERT_TRUE(listed);
  int ours = 0;
  for (const auto& r : *listed) {
    if (r.priority == 9000) {
      ++ours;
      EXPECT_EQ(r.action, FR_ACT_GOTO);
      EXPECT_EQ(r.goto_priority, 9010u);
      ASSERT_TRUE(r.uid_range);
      EXPECT_EQ(*r.uid_range, (UidRange{1000, 1999}));
    } else if (r.priority == 9001) {
      ++ours;
      EXPECT_TRUE(r.invert);
      EXPECT_EQ(r.table, RT_TABLE_MAIN);
      EXPECT_EQ(r.suppress_prefixlength, 0u);
      EXPECT_TRUE(r.dport_range);
    } else if (r.priority == 9003) {
      ++ours;
      EXPECT_EQ(r.fwmark, 0x99u);
    }
  }
  EXPECT_EQ(ours, 3);
  for (const auto* r : {&a, &b, &c, &d, &n}) ASSERT_FALSE(nl->delete_rule(*r)) << r->priority;
  EXPECT_EQ(nl->delete_rule(a).value(), ENOENT);
  EXPECT_EQ(sh("ip rule show; ip -6 rule show").out, before);
}

TEST_F(NetlinkTest, FindsTheDefaultRouteInterface) {
  auto nl = Netlink::open();
  ASSERT_TRUE(nl);
  int veth0 = interface_index("veth0");
  ASSERT_GT(veth0, 0);
  EXPECT_EQ(interface_name(veth0), "veth0");
  EXPECT_EQ(nl->default_route_interface(AF_INET).value(), veth0);
  EXPECT_EQ(nl->default_route_interface(AF_INET6).value(), veth0);
  EXPECT_EQ(nl->default_route_interface(AF_INET, veth0).value(), 0);
  ASSERT_EQ(sh("ip route del default").status, 0);
  EXPECT_EQ(nl->default_route_interface(AF_INET).value(), 0);
}

}  // namespace
}  // namespace anytls::tun
