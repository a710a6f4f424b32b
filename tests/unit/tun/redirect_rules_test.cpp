// auto_redirect's nftables table: the script (pure), and what it leaves in
// a namespace of its own: written, replaced by a later run, removed by its
// owner only, and a killed run's table removed at the next start. (The
// redirect itself, end to end: smoke_tun_auto_redirect.)
#include <gtest/gtest.h>

#include <algorithm>

#include "netns.hpp"
#include "tun/redirect_rules.hpp"

namespace {

using namespace anytls::tun;
using anytls::tun::test::NamespaceTest;
using anytls::tun::test::sh;

RedirectPlan plan(std::string tun, std::uint16_t port4, std::uint16_t port6) {
  RedirectPlan p;
  p.tun_name = std::move(tun);
  p.port4 = port4;
  p.port6 = port6;
  p.routed = {*parse_prefix("0.0.0.0/0"), *parse_prefix("::/0")};
  return p;
}

TEST(RedirectRuleset, ThisHostsAndForwardedConnections) {
  auto both = plan("tun0", 4001, 6001);
  both.local = {*parse_prefix("192.168.1.1/24"), *parse_prefix("192.168.1.7/32"), *parse_prefix("127.0.0.1/8"),
                *parse_prefix("fd30::1/64")};
  EXPECT_EQ(redirect_ruleset(both),
            "table inet anytls {}\n"
            "delete table inet anytls\n"
            "table inet anytls {\n"
            "  chain output {\n"
            "    type nat hook output priority mangle; policy accept;\n"
            "    oifname \"tun0\" meta nfproto ipv4 meta l4proto tcp counter redirect to :4001\n"
            "    oifname \"tun0\" meta nfproto ipv6 meta l4proto tcp counter redirect to :6001\n"
            "  }\n"
            "  chain prerouting {\n"
            "    type nat hook prerouting priority dstnat + 1; policy accept;\n"
            "    iifname \"tun0\" return\n"
            "    fib daddr type local return\n"
            // Host bits cleared, the /32 inside the /24 dropped (nftables refuses overlaps).
            "    ip daddr { 127.0.0.0/8, 192.168.1.0/24 } return\n"
            "    ip6 daddr { fd30::/64 } return\n"
            "    meta nfproto ipv4 meta l4proto tcp counter redirect to :4001\n"
            "    meta nfproto ipv6 meta l4proto tcp counter redirect to :6001\n"
            "  }\n"
            "  chain input {\n"
            "    type filter hook input priority filter; policy accept;\n"
            "    meta l4proto tcp th dport { 4001, 6001 } ct status & dnat == 0 counter drop\n"
            "  }\n"
            "}\n");
}

TEST(RedirectRuleset, WhatAutoRouteRoutesAndItsInterfaces) {
  auto p = plan("tun0", 4001, 0);
  p.routed = {*parse_prefix("10.0.0.0/8"), *parse_prefix("1.1.1.1/32"), *parse_prefix("fd00::/8")};
  p.include_interface = {"eth1", "eth2"};
  const auto text = redirect_ruleset(p);
  EXPECT_NE(text.find("    meta nfproto ipv4 meta l4proto tcp ip daddr { 1.1.1.1/32, 10.0.0.0/8 } counter redirect to :4001\n"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("    iifname != { \"eth1\", \"eth2\" } return\n"), std::string::npos) << text;
  EXPECT_EQ(text.find("ipv6"), std::string::npos) << text;  // no IPv6 listener: not redirected
  EXPECT_NE(text.find("th dport { 4001 }"), std::string::npos) << text;
  p.include_interface.clear();
  p.exclude_interface = {"eth3"};
  EXPECT_NE(redirect_ruleset(p).find("    iifname { \"eth3\" } return\n"), std::string::npos);
  p.routed.clear();  // auto_route sends no IPv4 to the tun
  EXPECT_EQ(redirect_ruleset(p).find("meta nfproto ipv4 meta l4proto tcp ip daddr"), std::string::npos);
}

class RedirectRulesTest : public NamespaceTest {
 protected:
  // oifname matches by name: the rules need no device.
  RedirectRulesTest() : NamespaceTest("anytls-redirect", "true") {}
  static std::string table() { return sh("nft list table inet anytls 2>&1").out; }
  static bool present() { return sh("nft list table inet anytls >/dev/null 2>&1").status == 0; }
};

TEST_F(RedirectRulesTest, WrittenAndRemovedByItsOwnerOnly) {
  RedirectRules first(plan("tun0", 4001, 6001));
  ASSERT_FALSE(first.install()) << table();
  EXPECT_NE(table().find("oifname \"tun0\" meta nfproto ipv4 meta l4proto tcp counter packets 0 bytes 0 redirect to :4001"),
            std::string::npos)
      << table();
  // A later run (a reload's new inbound) replaces the table in one step...
  RedirectRules second(plan("tun0", 4002, 0));
  ASSERT_FALSE(second.install());
  EXPECT_NE(table().find("redirect to :4002"), std::string::npos);
  EXPECT_EQ(table().find("redirect to :4001"), std::string::npos);
  // ...and the earlier one's stop leaves it alone.
  EXPECT_FALSE(first.remove());
  EXPECT_TRUE(present());
  EXPECT_FALSE(second.remove());
  EXPECT_FALSE(present());
}

TEST_F(RedirectRulesTest, AKilledRunsTableIsRemovedAtTheNextStart) {
  auto none = remove_stale_redirect();
  ASSERT_TRUE(none.ok()) << none.error().text();
  EXPECT_FALSE(*none);
  // What a run killed before its stop() leaves.
  ASSERT_EQ(sh("printf '%s' '" + redirect_ruleset(plan("tun0", 4001, 6001)) + "' | nft -f -").status, 0);
  ASSERT_TRUE(present());
  auto stale = remove_stale_redirect();
  ASSERT_TRUE(stale.ok()) << stale.error().text();
  EXPECT_TRUE(*stale);
  EXPECT_FALSE(present());
}

TEST_F(RedirectRulesTest, ANameNftablesCannotQuoteIsRefused) {
  auto quoted = plan("tun0", 4001, 0);
  quoted.exclude_interface = {"eth\\1"};
  for (const auto& bad : {plan("tun\"0", 4001, 0), quoted}) {
    RedirectRules rules(bad);
    auto err = rules.install();
    ASSERT_TRUE(err);
    EXPECT_NE(err->text().find("can't be written in a rule"), std::string::npos) << err->text();
    EXPECT_FALSE(present());
  }
}

TEST_F(RedirectRulesTest, EveryPartLoads) {
  auto p = plan("tun0", 4001, 6001);
  p.routed = {*parse_prefix("10.0.0.0/8"), *parse_prefix("fd00::/8")};
  p.local = local_subnets();
  p.include_interface = {"eth1", "eth2"};
  RedirectRules rules(p);
  ASSERT_FALSE(rules.install()) << table();
  EXPECT_NE(table().find("iifname != { \"eth1\", \"eth2\" } return"), std::string::npos) << table();
  EXPECT_NE(table().find("tcp dport { 4001, 6001 } ct status ! dnat"), std::string::npos) << table();  // as nft lists it
}

TEST_F(RedirectRulesTest, KeptCurrentWhileRunning) {
  using Kept = RedirectRules::Kept;
  auto p = plan("tun0", 4001, 6001);
  p.local = {*parse_prefix("192.168.1.0/24")};
  RedirectRules rules(p);
  ASSERT_FALSE(rules.install());
  auto kept = rules.keep(p.local);
  ASSERT_TRUE(kept.ok()) << kept.error().text();
  EXPECT_EQ(*kept, Kept::unchanged);
  // An address came: its subnet joins the rules.
  kept = rules.keep({*parse_prefix("192.168.1.0/24"), *parse_prefix("10.203.0.0/24")});
  ASSERT_TRUE(kept.ok());
  EXPECT_EQ(*kept, Kept::subnets_changed);
  EXPECT_NE(table().find("10.203.0.0/24"), std::string::npos) << table();
  // A firewall reload flushed the ruleset: written again.
  ASSERT_EQ(sh("nft flush ruleset").status, 0);
  kept = rules.keep(rules.plan().local);
  ASSERT_TRUE(kept.ok());
  EXPECT_EQ(*kept, Kept::restored);
  EXPECT_NE(table().find("redirect to :4001"), std::string::npos) << table();
  // Another run's table is left alone.
  RedirectRules other(plan("tun0", 4002, 0));
  ASSERT_FALSE(other.install());
  kept = rules.keep({*parse_prefix("172.16.0.0/12")});
  ASSERT_TRUE(kept.ok());
  EXPECT_EQ(*kept, Kept::taken_over);
  EXPECT_NE(table().find("redirect to :4002"), std::string::npos) << table();
  EXPECT_EQ(table().find("172.16.0.0/12"), std::string::npos) << table();
}

// 10.9.0.5/24 and fd09::5/64 on lo (a namespace of its own).
class LocalSubnetsTest : public NamespaceTest {
 protected:
  LocalSubnetsTest()
      : NamespaceTest("anytls-local", "ip addr add 10.9.0.5/24 dev lo && ip -6 addr add fd09::5/64 dev lo nodad") {}
};

TEST_F(LocalSubnetsTest, TheSubnetsOfThisHostsAddresses) {
  std::vector<std::string> got;
  for (const auto& p : local_subnets()) got.push_back(p.to_string());
  for (const char* want : {"10.9.0.0/24", "127.0.0.0/8", "fd09::/64", "::1/128"})
    EXPECT_NE(std::find(got.begin(), got.end(), want), got.end()) << want;
}

}  // namespace
