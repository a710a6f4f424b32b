// Fields sing-box 1.12 documents that docs/fields.md once found "unknown":
// each now works, is accepted with a warning naming it, or is refused with
// its path and a reason (the policy of docs/config.md).
#include "config/load.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>

#include "support/config_error.hpp"

namespace {

using namespace anytls::config;
using ::testing::Contains;
using ::testing::HasSubstr;
using ::testing::StartsWith;
using anytls::test::expect_config_error;

// A mixed inbound tagged "in" with `extra` fields appended inside it.
std::string with_inbound(const std::string& extra) {
  return R"({"inbounds": [{"type": "mixed", "tag": "in", "listen": "127.0.0.1", "listen_port": 1080)" + extra + "}]}";
}

TEST(SingBoxFields, LegacyInboundDomainStrategyBecomesAResolveRule) {
  Options o = load_string(with_inbound(R"(, "sniff": true, "domain_strategy": "ipv4_only")"));
  ASSERT_EQ(o.route.rules.size(), 2u);
  EXPECT_EQ(o.route.rules[0].action, RuleAction::sniff);
  const RouteRule& r = o.route.rules[1];
  EXPECT_EQ(r.action, RuleAction::resolve);
  EXPECT_EQ(r.inbound, std::vector<std::string>{"in"});
  EXPECT_EQ(r.resolve_strategy, DomainStrategy::ipv4_only);
  EXPECT_TRUE(load_string(with_inbound(R"(, "domain_strategy": "")")).route.rules.empty());
  expect_config_error(with_inbound(R"(, "domain_strategy": "ipv5")"), "inbounds[0].domain_strategy", "ipv5");
}

TEST(SingBoxFields, WarnedFieldsNameTheirPath) {
  Options o = load_string(with_inbound(R"(, "udp_fragment": true)"));
  EXPECT_THAT(o.warnings, Contains(StartsWith("inbounds[0].udp_fragment: ignored")));
  o = load_string(R"({"route": {"override_android_vpn": true, "default_fallback_delay": "300ms"}})");
  EXPECT_THAT(o.warnings, Contains(StartsWith("route.override_android_vpn: ignored: Android only")));
  EXPECT_THAT(o.warnings, Contains(StartsWith("route.default_fallback_delay: ignored")));
  EXPECT_TRUE(load_string(R"({"route": {"override_android_vpn": false}})").warnings.empty());
  expect_config_error(R"({"route": {"default_fallback_delay": "soon"}})", "route.default_fallback_delay", "invalid duration");
  o = load_string(R"({"route": {"geoip": {"path": "geoip.db"}, "geosite": {"download_detour": "direct"}}})");
  EXPECT_THAT(o.warnings, Contains(StartsWith("route.geoip: ignored")));
  EXPECT_THAT(o.warnings, Contains(StartsWith("route.geosite: ignored")));
  expect_config_error(R"({"route": {"geoip": {"paths": "geoip.db"}}})", "route.geoip.paths", "unknown field");
}

TEST(SingBoxFields, RefusedFieldsNameTheirPathAndWhy) {
  expect_config_error(with_inbound(R"(, "netns": "/run/netns/a")"), "inbounds[0].netns", "network namespaces");
  expect_config_error(with_inbound(R"(, "detour": "other")"), "inbounds[0].detour", "another inbound");
  expect_config_error(with_inbound(R"(, "udp_disable_domain_unmapping": true)"), "inbounds[0].udp_disable_domain_unmapping",
                      "not supported");
  expect_config_error(R"({"outbounds": [{"type": "direct", "netns": "/run/netns/a"}]})", "outbounds[0].netns",
                      "network namespaces");
  expect_config_error(R"({"outbounds": [{"type": "direct", "override_address": "1.1.1.1"}]})",
                      "outbounds[0].override_address", "route-options");
  expect_config_error(R"({"outbounds": [{"type": "direct", "override_port": 53}]})", "outbounds[0].override_port",
                      "route-options");
  expect_config_error(R"({"route": {"default_network_type": ["wifi"]}})", "route.default_network_type",
                      "default_network_strategy");
  expect_config_error(R"({"route": {"default_fallback_network_type": ["cellular"]}})",
                      "route.default_fallback_network_type", "default_network_strategy");
}

TEST(SingBoxFields, DnsRuleFieldsBeyondOurActions) {
  const std::string servers = R"({"dns": {"servers": [{"type": "udp", "tag": "d", "server": "1.1.1.1"}], "rules": [)";
  expect_config_error(servers + R"({"domain": "a.com", "server": "d", "ip_accept_any": true}]}})", "dns.rules[0].ip_accept_any",
                      "addresses of a response");
  expect_config_error(servers + R"({"domain": "a.com", "server": "d", "rule_set_ip_cidr_accept_empty": true}]}})",
                      "dns.rules[0].rule_set_ip_cidr_accept_empty", "addresses of a response");
  expect_config_error(servers + R"({"domain": "a.com", "action": "predefined", "rcode": "NXDOMAIN"}]}})", "dns.rules[0].action",
                      "not supported: DNS rule action \"predefined\"");
  expect_config_error(servers + R"({"domain": "a.com", "server": "d", "answer": ["a.com. IN A 1.1.1.1"]}]}})",
                      "dns.rules[0].answer", "only allowed with action predefined");
  // Off (their default) is what we do.
  EXPECT_EQ(load_string(servers + R"({"domain": "a.com", "server": "d", "ip_accept_any": false}]}})").dns->rules.size(), 1u);
}

}  // namespace
