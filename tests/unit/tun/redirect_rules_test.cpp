// auto_redirect's nftables table: the script (pure), and what it leaves in
// a namespace of its own: written, replaced by a later run, removed by its
// owner only, and a killed run's table removed at the next start. (The
// redirect itself, end to end: smoke_tun_auto_redirect.)
#include <gtest/gtest.h>

#include "netns.hpp"
#include "tun/redirect_rules.hpp"

namespace {

using namespace anytls::tun;
using anytls::tun::test::NamespaceTest;
using anytls::tun::test::sh;

TEST(RedirectRuleset, OneRulePerFamilyInTheOutputHook) {
  const std::string both = redirect_ruleset({"tun0", 4001, 6001});
  EXPECT_EQ(both,
            "table inet anytls {}\n"
            "delete table inet anytls\n"
            "table inet anytls {\n"
            "  chain output {\n"
            "    type nat hook output priority mangle; policy accept;\n"
            "    oifname \"tun0\" meta nfproto ipv4 meta l4proto tcp counter redirect to :4001\n"
            "    oifname \"tun0\" meta nfproto ipv6 meta l4proto tcp counter redirect to :6001\n"
            "  }\n"
            "}\n");
  const std::string v4 = redirect_ruleset({"tun0", 4001, 0});
  EXPECT_NE(v4.find("ipv4"), std::string::npos);
  EXPECT_EQ(v4.find("ipv6"), std::string::npos);
}

class RedirectRulesTest : public NamespaceTest {
 protected:
  // oifname matches by name: the rules need no device.
  RedirectRulesTest() : NamespaceTest("anytls-redirect", "true") {}
  static std::string table() { return sh("nft list table inet anytls 2>&1").out; }
  static bool present() { return sh("nft list table inet anytls >/dev/null 2>&1").status == 0; }
};

TEST_F(RedirectRulesTest, WrittenAndRemovedByItsOwnerOnly) {
  RedirectRules first({"tun0", 4001, 6001});
  ASSERT_FALSE(first.install()) << table();
  EXPECT_NE(table().find("oifname \"tun0\" meta nfproto ipv4 meta l4proto tcp counter packets 0 bytes 0 redirect to :4001"),
            std::string::npos)
      << table();
  // A later run (a reload's new inbound) replaces the table in one step...
  RedirectRules second({"tun0", 4002, 0});
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
  ASSERT_EQ(sh("printf '%s' '" + redirect_ruleset({"tun0", 4001, 6001}) + "' | nft -f -").status, 0);
  ASSERT_TRUE(present());
  auto stale = remove_stale_redirect();
  ASSERT_TRUE(stale.ok()) << stale.error().text();
  EXPECT_TRUE(*stale);
  EXPECT_FALSE(present());
}

TEST_F(RedirectRulesTest, ANameNftablesCannotQuoteIsRefused) {
  RedirectRules rules({"tun\"0", 4001, 0});
  auto err = rules.install();
  ASSERT_TRUE(err);
  EXPECT_NE(err->text().find("can't be written in a rule"), std::string::npos) << err->text();
  EXPECT_FALSE(present());
}

}  // namespace
