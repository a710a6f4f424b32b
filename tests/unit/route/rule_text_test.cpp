// route/rule_text: route rules in sing-box's words, as the Clash API's
// /rules and /connections show them.
#include <gtest/gtest.h>

#include "route/rule_text.hpp"

namespace anytls::route {
namespace {

TEST(RuleText, DefaultRuleItemsAndActions) {
  config::RouteRule r;
  r.domain_suffix = {"a.com", "b.com"};
  r.port = {443};
  r.outbound = "proxy";
  auto t = describe(r);
  EXPECT_EQ(t.type, "default");
  EXPECT_EQ(t.payload, "domain_suffix=[a.com b.com] port=443");
  EXPECT_EQ(t.action, "route(proxy)");
  EXPECT_EQ(connection_rule(r), "domain_suffix=[a.com b.com] port=443 => route(proxy)");

  config::RouteRule many;
  many.domain = {"1.com", "2.com", "3.com", "4.com"};
  many.action = config::RuleAction::reject;
  many.method = config::RejectMethod::drop;
  EXPECT_EQ(describe(many).payload, "domain=[1.com 2.com 3.com...]");
  EXPECT_EQ(describe(many).action, "reject(drop)");

  config::RouteRule dns;
  dns.protocol = {"dns"};
  dns.action = config::RuleAction::hijack_dns;
  EXPECT_EQ(connection_rule(dns), "protocol=dns => hijack-dns");

  config::RouteRule sniff;
  sniff.inbound = {"in"};
  sniff.action = config::RuleAction::sniff;
  EXPECT_EQ(describe(sniff).action, "sniff");
  sniff.sniffer = {"tls", "http"};
  EXPECT_EQ(describe(sniff).action, "sniff(tls,http)");

  config::RouteRule moved;
  moved.ip_is_private = true;
  moved.invert = true;
  moved.action = config::RuleAction::route_options;
  moved.override_port = 8443;
  EXPECT_EQ(describe(moved).payload, "!(ip_is_private)");
  EXPECT_EQ(describe(moved).action, "route-options(override-port=8443)");
}

TEST(RuleText, LogicalRule) {
  config::RouteRule a;
  a.network = {"udp"};
  config::RouteRule b;
  b.port = {53};
  config::RouteRule r;
  r.type = "logical";
  r.mode = "or";
  r.rules = {a, b};
  r.outbound = "dns-out";
  auto t = describe(r);
  EXPECT_EQ(t.type, "logical");
  EXPECT_EQ(t.payload, "network=udp || port=53");
  EXPECT_EQ(t.action, "route(dns-out)");
}

}  // namespace
}  // namespace anytls::route
