#include "route/rule_router.hpp"

#include <map>
#include <memory>
#include <stdexcept>
#include <string>

#include <gtest/gtest.h>

#include "outbound/block.hpp"

namespace anytls::route {
namespace {

using outbound::Metadata;
using outbound::Network;

// Outbounds are only compared by address here; BlockOutbound is a cheap one.
struct Outbounds {
  Outbounds() {
    for (const char* t : {"proxy", "direct", "block", "other"}) all[t] = std::make_unique<outbound::BlockOutbound>(t);
  }
  RuleRouter::OutboundLookup lookup() {
    return [this](std::string_view tag) -> outbound::Outbound* {
      auto it = all.find(std::string(tag));
      return it == all.end() ? nullptr : it->second.get();
    };
  }
  std::map<std::string, std::unique_ptr<outbound::Outbound>> all;
};

config::RouteRule route_to(std::string tag) {
  config::RouteRule r;
  r.outbound = std::move(tag);
  return r;
}

Metadata md(std::string host, std::uint16_t port, Network net = Network::tcp, std::string inbound = "mixed-in") {
  Metadata m;
  m.inbound = std::move(inbound);
  m.network = net;
  m.destination = net::Address{std::move(host), port};
  return m;
}

// Which outbound tag (or "reject") a router picks.
std::string pick(RuleRouter& r, const Metadata& m) {
  auto d = r.decide(m);
  if (d.reject) return "reject";
  return d.outbound ? d.outbound->tag() : "null";
}

TEST(RuleRouter, DomainMatchersTable) {
  Outbounds obs;
  config::RouteOptions opts;
  {
    auto r = route_to("direct");
    r.domain = {"exact.com"};
    opts.rules.push_back(r);
  }
  {
    auto r = route_to("other");
    r.domain_suffix = {"example.com", ".sub.org"};
    opts.rules.push_back(r);
  }
  {
    auto r = route_to("block");
    r.domain_keyword = {"ads"};
    opts.rules.push_back(r);
  }
  RuleRouter router(opts, "proxy", obs.lookup());

  struct Case {
    const char* host;
    const char* want;
  } cases[] = {
      {"exact.com", "direct"},
      {"EXACT.com.", "direct"},         // case and trailing dot
      {"www.exact.com", "proxy"},       // domain is exact
      {"example.com", "other"},         // suffix without dot: itself
      {"a.b.example.com", "other"},     // ... and subdomains
      {"badexample.com", "proxy"},      // label boundary respected
      {"sub.org", "proxy"},             // leading dot: subdomains only
      {"x.sub.org", "other"},
      {"myads.net", "block"},           // keyword: substring
      {"nothing.net", "proxy"},         // final = first outbound
      {"127.0.0.1", "proxy"},           // domain rules never match IPs
  };
  for (const auto& c : cases) EXPECT_EQ(pick(router, md(c.host, 443)), c.want) << c.host;
}

TEST(RuleRouter, IpCidrTable) {
  Outbounds obs;
  config::RouteOptions opts;
  auto r = route_to("direct");
  r.ip_cidr = {"10.0.0.0/8", "192.168.1.7", "fd00::/8", "172.16.5.9/12"};
  opts.rules.push_back(r);
  opts.final = "other";
  RuleRouter router(opts, "proxy", obs.lookup());

  struct Case {
    const char* host;
    const char* want;
  } cases[] = {
      {"10.1.2.3", "direct"},          {"11.0.0.1", "other"},
      {"192.168.1.7", "direct"},       {"192.168.1.8", "other"},
      {"fd12::1", "direct"},           {"fe80::1", "other"},
      {"::ffff:10.9.9.9", "direct"},   // v4-mapped counts as v4
      {"172.31.255.255", "direct"},    {"172.32.0.0", "other"},  // host bits in the rule ignored
      {"ten.example", "other"},        // names never match ip_cidr
  };
  for (const auto& c : cases) EXPECT_EQ(pick(router, md(c.host, 80)), c.want) << c.host;
}

TEST(RuleRouter, FieldsAreAndedExceptTheAddressGroup) {
  Outbounds obs;
  config::RouteOptions opts;
  auto r = route_to("direct");
  r.inbound = {"socks-in", "mixed-in"};
  r.network = {"udp"};
  r.port = {53, 853};
  r.domain_suffix = {"lan"};
  r.ip_cidr = {"192.168.0.0/16"};  // ORed with domain_suffix, as in sing-box
  opts.rules.push_back(r);
  RuleRouter router(opts, "proxy", obs.lookup());

  EXPECT_EQ(pick(router, md("nas.lan", 53, Network::udp)), "direct");
  EXPECT_EQ(pick(router, md("192.168.3.3", 853, Network::udp, "socks-in")), "direct");
  EXPECT_EQ(pick(router, md("nas.lan", 53, Network::tcp)), "proxy");               // network
  EXPECT_EQ(pick(router, md("nas.lan", 80, Network::udp)), "proxy");               // port
  EXPECT_EQ(pick(router, md("nas.lan", 53, Network::udp, "http-in")), "proxy");    // inbound
  EXPECT_EQ(pick(router, md("example.com", 53, Network::udp)), "proxy");           // address group
  EXPECT_EQ(pick(router, md("8.8.8.8", 53, Network::udp)), "proxy");
}

TEST(RuleRouter, FirstMatchWinsRejectAndEmptyRule) {
  Outbounds obs;
  config::RouteOptions opts;
  {
    config::RouteRule r;
    r.action = config::RuleAction::reject;
    r.port = {25};
    opts.rules.push_back(r);
  }
  {
    auto r = route_to("direct");
    r.domain_suffix = {"example.com"};
    opts.rules.push_back(r);
  }
  {
    auto r = route_to("other");
    r.domain = {"www.example.com"};  // shadowed by the rule above
    opts.rules.push_back(r);
  }
  opts.rules.push_back(route_to("block"));  // no matchers: matches everything
  RuleRouter router(opts, "proxy", obs.lookup());

  EXPECT_EQ(pick(router, md("mail.example.com", 25)), "reject");
  EXPECT_EQ(router.decide(md("x", 25)).outbound, nullptr);
  EXPECT_EQ(pick(router, md("www.example.com", 443)), "direct");
  EXPECT_EQ(router.match(md("www.example.com", 443)), 1u);
  EXPECT_EQ(pick(router, md("anything.net", 443)), "block");
  EXPECT_EQ(router.match(md("anything.net", 443)), 3u);
}

TEST(RuleRouter, FinalAndFirstOutbound) {
  Outbounds obs;
  config::RouteOptions none;
  RuleRouter first(none, "proxy", obs.lookup());
  EXPECT_EQ(pick(first, md("a.b", 1)), "proxy");
  EXPECT_FALSE(first.match(md("a.b", 1)).has_value());
  config::RouteOptions fin;
  fin.final = "direct";
  RuleRouter with_final(fin, "proxy", obs.lookup());
  EXPECT_EQ(pick(with_final, md("a.b", 1)), "direct");
}

TEST(RuleRouter, ConfigErrorsNameThePath) {
  Outbounds obs;
  auto expect_error = [&](const config::RouteOptions& o, const std::string& want) {
    try {
      RuleRouter r(o, "proxy", obs.lookup());
      ADD_FAILURE() << "no error, wanted " << want;
    } catch (const std::invalid_argument& e) {
      EXPECT_EQ(std::string(e.what()), want);
    }
  };
  config::RouteOptions a;
  a.rules.push_back(route_to("ghost"));
  expect_error(a, "route.rules[0].outbound: outbound not found: ghost");

  config::RouteOptions b;
  b.rules.push_back(route_to("direct"));
  b.rules.push_back(route_to("direct"));
  b.rules[1].ip_cidr = {"10.0.0.0/8", "10.0.0.0/33"};
  expect_error(b, "route.rules[1].ip_cidr[1]: invalid prefix: 10.0.0.0/33");

  config::RouteOptions c;
  c.final = "ghost";
  expect_error(c, "route.final: outbound not found: ghost");

  config::RouteOptions d;
  d.rules.push_back(route_to("direct"));
  d.rules[0].network = {"sctp"};
  expect_error(d, "route.rules[0].network[0]: unknown network: sctp");
}

TEST(RuleRouter, ParsePrefix) {
  EXPECT_TRUE(Prefix::parse("0.0.0.0/0"));
  EXPECT_TRUE(Prefix::parse("::/0"));
  EXPECT_TRUE(Prefix::parse("2001:db8::/32"));
  EXPECT_FALSE(Prefix::parse("2001:db8::/129"));
  EXPECT_FALSE(Prefix::parse("10.0.0.0/"));
  EXPECT_FALSE(Prefix::parse("10.0.0.0/8x"));
  EXPECT_FALSE(Prefix::parse("example.com/8"));
  auto any4 = Prefix::parse("0.0.0.0/0");
  EXPECT_TRUE(any4->contains(asio::ip::make_address("203.0.113.9")));
  EXPECT_FALSE(any4->contains(asio::ip::make_address("2001:db8::1")));
}

}  // namespace
}  // namespace anytls::route
