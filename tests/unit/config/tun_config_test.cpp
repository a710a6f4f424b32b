// The tun inbound's fields: what loads, what warns, what is refused, with
// the JSON path.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>

#include "config/load.hpp"
#include "support/config_error.hpp"

namespace {

using namespace std::chrono_literals;
using namespace anytls::config;
using ::testing::HasSubstr;
using anytls::test::expect_config_error;

std::string tun(const std::string& fields) {
  return R"({"inbounds": [{"type": "tun", "tag": "tun-in")" + fields + "}]}";
}
const char* kAddress = R"(, "address": ["172.19.0.1/30", "fdfe:dcba:9876::1/126"])";

const TunInboundOptions& tun_of(const Options& o) { return std::get<TunInboundOptions>(o.inbounds.at(0).options); }

bool has_warning(const Options& o, const std::string& text) {
  for (const auto& w : o.warnings)
    if (w.find(text) != std::string::npos) return true;
  return false;
}

TEST(TunConfig, SingBoxClientAndDefaults) {
  Options o = load_string(tun(std::string(kAddress) + R"(, "mtu": 9000, "auto_route": true, "strict_route": true,
                                 "stack": "system")"));
  const auto& t = tun_of(o);
  EXPECT_EQ(o.inbounds[0].type, "tun");
  EXPECT_EQ(t.address, (std::vector<std::string>{"172.19.0.1/30", "fdfe:dcba:9876::1/126"}));
  EXPECT_EQ(t.mtu, 9000u);
  EXPECT_TRUE(t.auto_route);
  EXPECT_TRUE(t.strict_route);
  EXPECT_EQ(t.stack, "system");
  EXPECT_EQ(t.iproute2_table_index, 2022u);
  EXPECT_EQ(t.iproute2_rule_index, 9000u);
  EXPECT_EQ(t.auto_redirect_input_mark, 0x2023u);
  EXPECT_EQ(t.auto_redirect_output_mark, 0x2024u);
  EXPECT_EQ(t.listen.udp_timeout, 5min);
  EXPECT_TRUE(t.interface_name.empty());
  EXPECT_TRUE(o.warnings.empty());
}

TEST(TunConfig, AutoRedirect) {
  Options o = load_string(tun(std::string(kAddress) + R"(, "auto_route": true, "auto_redirect": true,
                                 "auto_redirect_input_mark": "0x100", "auto_redirect_reset_mark": "0x2025")"));
  EXPECT_TRUE(tun_of(o).auto_redirect);
  EXPECT_EQ(tun_of(o).auto_redirect_input_mark, 0x100u);
  EXPECT_TRUE(o.warnings.empty());
  EXPECT_FALSE(tun_of(load_string(tun(kAddress))).auto_redirect);
  const std::string second = R"({"inbounds": [
      {"type": "tun", "tag": "a", "address": "172.19.0.1/30", "auto_route": true, "auto_redirect": true},
      {"type": "tun", "tag": "b", "interface_name": "tun9", "address": "172.20.0.1/30", "auto_route": true,
       "auto_redirect": true, "iproute2_table_index": 2023}]})";
  expect_config_error(second, "inbounds[1].auto_redirect", "only one tun inbound");
}

TEST(TunConfig, EveryRouteField) {
  Options o = load_string(R"({"inbounds": [{"type": "tun", "interface_name": "tun7", "address": "10.7.0.1/24",
      "mtu": 1500, "udp_timeout": "30s", "iproute2_table_index": 100, "iproute2_rule_index": 500,
      "route_address": ["0.0.0.0/1", "::/1"], "route_exclude_address": "192.168.0.0/16",
      "route_address_set": "geoip-x", "route_exclude_address_set": ["geoip-x"],
      "include_interface": ["eth1"], "include_uid": [1000, 1001], "include_uid_range": "2000:2999",
      "exclude_uid": 0, "exclude_uid_range": ["3000:3000"], "endpoint_independent_nat": true,
      "auto_redirect_input_mark": "0x100", "auto_redirect_output_mark": 512,
      "sniff": true, "sniff_override_destination": true, "domain_strategy": "",
      "udp_disable_domain_unmapping": true, "stack": "gvisor"}],
    "route": {"rule_set": [{"type": "inline", "tag": "geoip-x", "rules": [{"ip_cidr": "1.0.0.0/8"}]}]}})");
  const auto& t = tun_of(o);
  EXPECT_EQ(t.interface_name, "tun7");
  EXPECT_EQ(t.mtu, 1500u);
  EXPECT_EQ(t.listen.udp_timeout, 30s);
  EXPECT_EQ(t.iproute2_table_index, 100u);
  EXPECT_EQ(t.iproute2_rule_index, 500u);
  EXPECT_EQ(t.route_address, (std::vector<std::string>{"0.0.0.0/1", "::/1"}));
  EXPECT_EQ(t.route_exclude_address, (std::vector<std::string>{"192.168.0.0/16"}));
  EXPECT_EQ(t.route_address_set, (std::vector<std::string>{"geoip-x"}));
  EXPECT_EQ(t.include_interface, (std::vector<std::string>{"eth1"}));
  ASSERT_EQ(t.include_uid.size(), 3u);
  EXPECT_EQ(t.include_uid[2], (UidRange{2000, 2999}));
  ASSERT_EQ(t.exclude_uid.size(), 2u);
  EXPECT_EQ(t.exclude_uid[0], (UidRange{0, 0}));
  EXPECT_EQ(t.auto_redirect_input_mark, 0x100u);
  EXPECT_EQ(t.auto_redirect_output_mark, 512u);
  EXPECT_TRUE(t.endpoint_independent_nat);
  EXPECT_TRUE(has_warning(o, "inbounds[0].endpoint_independent_nat: ignored"));
  EXPECT_EQ(t.stack, "gvisor");
  // The legacy sniff fields become a sniff rule for this inbound.
  ASSERT_FALSE(o.route.rules.empty());
  EXPECT_EQ(o.route.rules[0].action, RuleAction::sniff);
  EXPECT_EQ(o.route.rules[0].inbound, (std::vector<std::string>{"tun"}));
}

TEST(TunConfig, LegacyFormsLoadWithWarnings) {
  Options o = load_string(tun(R"(, "inet4_address": "172.19.0.1/30", "inet6_address": ["fdfe::1/126"],
      "inet4_route_address": "1.0.0.0/8", "inet6_route_exclude_address": "fc00::/7",
      "platform": {"http_proxy": {"enabled": true, "server": "127.0.0.1", "server_port": 8080}},
      "include_package": ["a.b"], "include_android_user": [0], "gso": true)"));
  const auto& t = tun_of(o);
  EXPECT_EQ(t.address, (std::vector<std::string>{"172.19.0.1/30", "fdfe::1/126"}));
  EXPECT_EQ(t.route_address, (std::vector<std::string>{"1.0.0.0/8"}));
  EXPECT_EQ(t.route_exclude_address, (std::vector<std::string>{"fc00::/7"}));
  EXPECT_TRUE(has_warning(o, "inbounds[0].inet4_address: deprecated"));
  EXPECT_TRUE(has_warning(o, "inbounds[0].inet6_address: deprecated"));
  EXPECT_TRUE(has_warning(o, "inbounds[0].inet4_route_address: deprecated"));
  EXPECT_TRUE(has_warning(o, "inbounds[0].inet6_route_exclude_address: deprecated"));
  EXPECT_TRUE(has_warning(o, "inbounds[0].platform: ignored"));
  EXPECT_TRUE(has_warning(o, "inbounds[0].include_package: ignored: Android only"));
  EXPECT_TRUE(has_warning(o, "inbounds[0].include_android_user: ignored: Android only"));
  EXPECT_TRUE(has_warning(o, "inbounds[0].gso: ignored"));
}

TEST(TunConfig, Refused) {
  expect_config_error(tun(""), "inbounds[0].address", "missing");
  expect_config_error(tun(R"(, "address": "172.19.0.1")"), "inbounds[0].address[0]", "expected an address prefix");
  expect_config_error(tun(R"(, "address": ["172.19.0.1/30", "172.19.0.1/32"])"), "inbounds[0].address[1]",
                      "at least 2 addresses");
  expect_config_error(tun(R"(, "address": "fd00::1/128")"), "inbounds[0].address[0]", "at least 2 addresses");
  expect_config_error(tun(R"(, "address": "172.19.0.3/30")"), "inbounds[0].address[0]", "last of its prefix");
  expect_config_error(tun(R"(, "inet4_address": "300.1.1.1/30")"), "inbounds[0].inet4_address[0]", "expected an address prefix");
  expect_config_error(tun(std::string(kAddress) + R"(, "auto_redirect": true)"), "inbounds[0].auto_redirect",
                      "needs auto_route");
  expect_config_error(tun(std::string(kAddress) + R"(, "auto_route": true, "auto_redirect": true, "exclude_mptcp": true)"),
                      "inbounds[0].exclude_mptcp", "not supported");
  expect_config_error(tun(std::string(kAddress) + R"(, "stack": "lwip")"), "inbounds[0].stack", "unknown stack");
  expect_config_error(tun(std::string(kAddress) + R"(, "mtu": 1000)"), "inbounds[0].mtu", "at least 1280");
  expect_config_error(tun(std::string(kAddress) + R"(, "include_uid_range": ["5:1"])"),
                      "inbounds[0].include_uid_range[0]", "invalid uid range");
  expect_config_error(tun(std::string(kAddress) + R"(, "exclude_uid_range": "1000")"),
                      "inbounds[0].exclude_uid_range[0]", "expected a uid range");
  expect_config_error(tun(std::string(kAddress) + R"(, "route_address": ["x"])"), "inbounds[0].route_address[0]",
                      "expected an address prefix");
  expect_config_error(tun(std::string(kAddress) + R"(, "route_address_set": "nope")"),
                      "inbounds[0].route_address_set[0]", "rule-set not found");
  expect_config_error(tun(std::string(kAddress) + R"(, "interface_name": "a-very-long-name0")"),
                      "inbounds[0].interface_name", "IFNAMSIZ");
  expect_config_error(tun(std::string(kAddress) + R"(, "loopback_address": ["10.0.0.1"])"),
                      "inbounds[0].loopback_address", "auto_redirect");
  expect_config_error(tun(std::string(kAddress) + R"(, "listen": "127.0.0.1")"), "inbounds[0].listen", "unknown field");
}

// As on the other inbounds (iceliuhacker's tun template sets it): a resolve
// rule for this inbound, first among the rules.
TEST(TunConfig, LegacyDomainStrategyBecomesAResolveRule) {
  Options o = load_string(tun(std::string(kAddress) + R"(, "domain_strategy": "prefer_ipv6")"));
  ASSERT_FALSE(o.route.rules.empty());
  EXPECT_EQ(o.route.rules[0].action, RuleAction::resolve);
  EXPECT_EQ(o.route.rules[0].resolve_strategy, DomainStrategy::prefer_ipv6);
  EXPECT_EQ(o.route.rules[0].inbound, std::vector<std::string>{o.inbounds[0].tag});
}

TEST(TunConfig, DnsSnifferAccepted) {
  Options o = load_string(R"({"route": {"rules": [{"action": "sniff", "sniffer": ["dns", "tls"]},
                                                  {"protocol": "dns", "action": "hijack-dns"}]}})");
  EXPECT_EQ(o.route.rules.at(0).sniffer, (std::vector<std::string>{"dns", "tls"}));
}

}  // namespace
