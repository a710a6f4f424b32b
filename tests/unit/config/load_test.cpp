#include "config/load.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <string>

#include "support/config_error.hpp"

namespace {

using namespace std::chrono_literals;
using namespace anytls::config;
using ::testing::HasSubstr;
using anytls::test::expect_config_error;

const AnyTlsOutboundOptions& anytls_out(const Options& o, std::size_t i = 0) {
  return std::get<AnyTlsOutboundOptions>(o.outbounds.at(i).options);
}

// A valid anytls outbound with `extra` fields appended inside the object.
std::string with_outbound(const std::string& extra, const std::string& tls_extra = "") {
  return R"({"outbounds": [{"type": "anytls", "tag": "out", "server": "example.com", "server_port": 443,
            "password": "pw", "tls": {"enabled": true)" +
         tls_extra + "}" + extra + "}]}";
}

// ------------------------------------------------------------ good configs

TEST(Load, EmptyConfigGetsDirect) {
  Options o = load_string("{}");
  ASSERT_EQ(o.outbounds.size(), 1u);
  EXPECT_EQ(o.outbounds[0].type, "direct");
  EXPECT_EQ(o.outbounds[0].tag, "direct");
  EXPECT_EQ(o.route.final, "direct");
  EXPECT_EQ(o.log.level, "info");
  EXPECT_FALSE(o.log.disabled);
}

// issue 27: the ntp section (sing-box's fields and defaults).
TEST(Load, Ntp) {
  Options o = load_string(R"({"ntp": {"enabled": true, "server": "time.example.org", "detour": "direct"}})");
  EXPECT_TRUE(o.ntp.enabled);
  EXPECT_EQ(o.ntp.server, "time.example.org");
  EXPECT_EQ(o.ntp.server_port, 123);
  EXPECT_EQ(o.ntp.interval, std::chrono::minutes(30));
  EXPECT_EQ(o.ntp.dial.detour, "direct");
  Options p = load_string(R"({"ntp": {"enabled": true, "server": "10.0.0.1", "server_port": 1123,
                                      "interval": "1h", "write_to_system": false}})");
  EXPECT_EQ(p.ntp.server_port, 1123);
  EXPECT_EQ(p.ntp.interval, std::chrono::hours(1));
  EXPECT_FALSE(load_string("{}").ntp.enabled);
}

TEST(Load, CommentsAndSchema) {
  Options o = load_string(R"({
    // line comment
    "$schema": "https://sing-box.sagernet.org/schema.json",
    /* block
       comment */
    "log": {"level": "debug", "timestamp": true, "output": "x.log", "disabled": false}
  })");
  EXPECT_EQ(o.log.level, "debug");
  EXPECT_TRUE(o.log.timestamp);
  EXPECT_EQ(o.log.output, "x.log");
}

TEST(Load, PoolDefaults) {
  Options o = load_string(with_outbound(""));
  const auto& a = anytls_out(o);
  EXPECT_EQ(a.idle_session_check_interval, 30s);
  EXPECT_EQ(a.idle_session_timeout, 30s);
  EXPECT_EQ(a.min_idle_session, 0);
  EXPECT_EQ(a.min_idle_session_for_age, 0);
  EXPECT_EQ(a.ensure_idle_session, 0);
  EXPECT_EQ(a.heartbeat, 0s);
  EXPECT_EQ(a.max_connection_lifetime, 0s);
  EXPECT_EQ(a.connection_lifetime_jitter, 0s);
  EXPECT_EQ(a.dial.fallback_delay, 300ms);
  EXPECT_EQ(a.dial.domain_strategy, DomainStrategy::as_is);
  EXPECT_EQ(o.route.final, "out");
}

TEST(Load, ZeroMeansDefaultForIntervals) {
  const auto o = load_string(with_outbound(R"(, "idle_session_check_interval": "0", "idle_session_timeout": "0s",
      "heartbeat": "0", "max_connection_lifetime": "0s")"));
  EXPECT_EQ(anytls_out(o).idle_session_check_interval, 30s);
  EXPECT_EQ(anytls_out(o).idle_session_timeout, 30s);
  EXPECT_EQ(anytls_out(o).heartbeat, 0s);
  EXPECT_EQ(anytls_out(o).max_connection_lifetime, 0s);
}

TEST(Load, SeedStructure) {
  Options o = load_string(R"({"outbounds": [{
      "type": "anytls", "tag": "anytls-out",
      "server": "127.0.0.1", "server_port": 1080, "password": "8JCsPssfgS8tiRwiMlhARg==",
      "idle_session_check_interval": "30s", "idle_session_timeout": "5m",
      "min_idle_session": 2, "min_idle_session_for_age": 1, "ensure_idle_session": 5,
      "heartbeat": "30s", "max_connection_lifetime": "1h", "connection_lifetime_jitter": "10m",
      "tls": {"enabled": true, "server_name": "example.com", "alpn": "h2", "insecure": true,
              "certificate_public_key_sha256": "abc=", "curve_preferences": ["X25519", "P256"]},
      "connect_timeout": "2s", "domain_strategy": "ipv4_only", "routing_mark": "0x10",
      "inet4_bind_address": "10.0.0.1", "tcp_keep_alive": "1m"
    }, {"type": "direct", "tag": "d"}]})");
  const auto& a = anytls_out(o);
  EXPECT_EQ(o.outbounds[0].type, "anytls");
  EXPECT_EQ(o.outbounds[0].tag, "anytls-out");
  EXPECT_EQ(a.server, "127.0.0.1");
  EXPECT_EQ(a.server_port, 1080);
  EXPECT_EQ(a.password, "8JCsPssfgS8tiRwiMlhARg==");
  EXPECT_EQ(a.idle_session_check_interval, 30s);
  EXPECT_EQ(a.idle_session_timeout, 5min);
  EXPECT_EQ(a.min_idle_session, 2);
  EXPECT_EQ(a.min_idle_session_for_age, 1);
  EXPECT_EQ(a.ensure_idle_session, 5);
  EXPECT_EQ(a.heartbeat, 30s);
  EXPECT_EQ(a.max_connection_lifetime, 1h);
  EXPECT_EQ(a.connection_lifetime_jitter, 10min);
  EXPECT_TRUE(a.tls.enabled);
  EXPECT_TRUE(a.tls.insecure);
  EXPECT_EQ(a.tls.server_name, "example.com");
  EXPECT_EQ(a.tls.alpn, std::vector<std::string>{"h2"});
  EXPECT_EQ(a.tls.certificate_public_key_sha256, std::vector<std::string>{"abc="});
  EXPECT_EQ(a.tls.curve_preferences, (std::vector<std::string>{"X25519", "P256"}));
  EXPECT_EQ(a.dial.connect_timeout, 2s);
  EXPECT_EQ(a.dial.domain_strategy, DomainStrategy::ipv4_only);
  EXPECT_EQ(a.dial.routing_mark, 16u);
  EXPECT_EQ(a.dial.inet4_bind_address, "10.0.0.1");
  EXPECT_EQ(a.dial.tcp_keep_alive, 1min);
}

TEST(Load, Inbounds) {
  Options o = load_string(R"({"inbounds": [
      {"type": "mixed", "listen": "127.0.0.1", "listen_port": 2080,
       "users": [{"username": "u", "password": "p"}], "udp_timeout": 60},
      {"type": "socks", "listen": "::1", "udp_timeout": "10s", "routing_mark": 7},
      {"type": "http", "listen": "0.0.0.0"},
      {"type": "anytls", "tag": "srv", "listen": "::", "listen_port": 443,
       "users": [{"name": "a", "password": "pa"}],
       "padding_scheme": ["stop=2", "0=10-10"],
       "tls": {"enabled": true, "certificate": ["-----BEGIN", "X"], "key_path": "k.pem", "alpn": ["h2"]},
       "fallback": {"server": "127.0.0.1", "server_port": 80}}
    ]})");
  ASSERT_EQ(o.inbounds.size(), 4u);
  EXPECT_EQ(o.inbounds[0].tag, "mixed");
  EXPECT_EQ(o.inbounds[1].tag, "socks");
  EXPECT_EQ(o.inbounds[2].tag, "http");
  const auto& m = std::get<MixedInboundOptions>(o.inbounds[0].options);
  EXPECT_EQ(m.listen.listen_port, 2080);
  EXPECT_EQ(m.listen.udp_timeout, 60s);
  ASSERT_EQ(m.users.size(), 1u);
  EXPECT_EQ(m.users[0].username, "u");
  EXPECT_EQ(o.inbounds[1].listen().udp_timeout, 10s);
  EXPECT_EQ(o.inbounds[1].listen().routing_mark, 7u);
  EXPECT_EQ(o.inbounds[2].listen().udp_timeout, 5min);
  const auto& a = std::get<AnyTlsInboundOptions>(o.inbounds[3].options);
  EXPECT_EQ(o.inbounds[3].tag, "srv");
  EXPECT_EQ(a.padding_scheme, "stop=2\n0=10-10");
  EXPECT_EQ(a.tls.certificate, "-----BEGIN\nX");
  EXPECT_EQ(a.tls.key_path, "k.pem");
  ASSERT_TRUE(a.fallback.has_value());
  EXPECT_EQ(a.fallback->server_port, 80);
  EXPECT_EQ(a.handshake_timeout, 10s);
  EXPECT_EQ(a.max_streams_per_session, 1024u);
  EXPECT_EQ(a.session_idle_timeout, 5min);
  EXPECT_EQ(a.max_sessions_per_user, 0u);  // 0: derived from RLIMIT_NOFILE at start
  EXPECT_EQ(a.max_streams_per_user, 0u);
}

TEST(Load, TagsDefaultAndStayUnique) {
  Options o = load_string(R"({"outbounds": [{"type": "direct"}, {"type": "direct"}, {"type": "block", "tag": "direct-2"},
                                            {"type": "direct"}]})");
  EXPECT_EQ(o.outbounds[0].tag, "direct");
  EXPECT_EQ(o.outbounds[1].tag, "direct-1");
  EXPECT_EQ(o.outbounds[2].tag, "direct-2");
  EXPECT_EQ(o.outbounds[3].tag, "direct-3");
  EXPECT_EQ(o.route.final, "direct");
}

TEST(Load, RouteRules) {
  Options o = load_string(R"({
    "outbounds": [{"type": "direct", "tag": "d"}, {"type": "block", "tag": "b"}],
    "route": {"final": "b", "rules": [
      {"inbound": "in", "domain": "a.com", "domain_suffix": [".b.com"], "domain_keyword": "k",
       "ip_cidr": ["10.0.0.0/8", "::1", "fe80::/10"], "port": 443, "network": "tcp", "outbound": "d"},
      {"port": [80, 8080], "action": "reject", "method": "drop"},
      {"type": "default", "network": ["udp"], "action": "route", "outbound": "b"}
    ]}})");
  EXPECT_EQ(o.route.final, "b");
  ASSERT_EQ(o.route.rules.size(), 3u);
  const auto& r = o.route.rules[0];
  EXPECT_EQ(r.inbound, std::vector<std::string>{"in"});
  EXPECT_EQ(r.domain, std::vector<std::string>{"a.com"});
  EXPECT_EQ(r.domain_suffix, std::vector<std::string>{".b.com"});
  EXPECT_EQ(r.ip_cidr.size(), 3u);
  EXPECT_EQ(r.port, std::vector<std::uint16_t>{443});
  EXPECT_EQ(r.network, std::vector<std::string>{"tcp"});
  EXPECT_EQ(r.action, RuleAction::route);
  EXPECT_EQ(r.outbound, "d");
  EXPECT_EQ(o.route.rules[1].action, RuleAction::reject);
  EXPECT_EQ(o.route.rules[1].method, RejectMethod::drop);
  EXPECT_EQ(o.route.rules[1].port, (std::vector<std::uint16_t>{80, 8080}));
}

TEST(Load, DisabledUnsupportedFeaturesAreAccepted) {
  Options o = load_string(with_outbound("", R"(, "utls": {"enabled": false, "fingerprint": "chrome"},
      "ech": {"enabled": false}, "reality": {"enabled": false}, "fragment": false, "record_fragment": false)"));
  EXPECT_TRUE(anytls_out(o).tls.enabled);
  (void)load_string(with_outbound(R"(, "tcp_fast_open": false)"));
}

// sing-box-subscribe's and Sub-Store's templates set both: the fakeip
// tables are kept in the cache file; rdrc has nothing to keep here.
TEST(Load, CacheFileStoreFakeipAndRdrc) {
  Options o = load_string(R"({"experimental": {"cache_file": {"enabled": true, "store_fakeip": true,
                                                               "store_rdrc": true, "rdrc_timeout": "7d"}}})");
  EXPECT_TRUE(o.cache_file.store_fakeip);
  ASSERT_EQ(o.warnings.size(), 1u);
  EXPECT_THAT(o.warnings.at(0), HasSubstr("experimental.cache_file.store_rdrc: nothing to store"));
}

// ------------------------------------------------------------ rejections

// sing-box before 1.12: `{"type": "dns"}` and rules sending to it are
// hijack-dns, as sing-box 1.11 converts them.
TEST(Load, LegacyDnsOutboundBecomesHijackDns) {
  Options o = load_string(R"({"outbounds": [{"type": "direct", "tag": "direct"}, {"type": "dns", "tag": "dns-out"}],
                              "route": {"rules": [{"protocol": "dns", "outbound": "dns-out"},
                                                  {"port": 53, "outbound": "dns-out"},
                                                  {"domain": "x.test", "outbound": "direct"}]}})");
  ASSERT_EQ(o.outbounds.size(), 1u);
  EXPECT_EQ(o.outbounds[0].tag, "direct");
  ASSERT_EQ(o.route.rules.size(), 3u);
  EXPECT_EQ(o.route.rules[0].action, RuleAction::hijack_dns);
  EXPECT_EQ(o.route.rules[1].action, RuleAction::hijack_dns);
  EXPECT_EQ(o.route.rules[1].outbound, "");
  EXPECT_EQ(o.route.rules[2].action, RuleAction::route);
  EXPECT_EQ(o.route.final, "direct");
  EXPECT_THAT(o.warnings.at(0), HasSubstr("outbounds[1]: the legacy dns outbound"));
  expect_config_error(R"({"outbounds": [{"type": "dns", "tag": "dns-out"}, {"type": "direct"}],
                          "route": {"final": "dns-out"}})",
                      "route.final", "only works in route rules");
  expect_config_error(R"({"outbounds": [{"type": "direct", "tag": "d"}, {"type": "dns", "tag": "dns-out"},
                                        {"type": "selector", "tag": "s", "outbounds": ["d", "dns-out"]}]})",
                      "outbounds[2].outbounds[1]", "only works in route rules");
}

// Fields real configs carry that sing-box 1.11-1.12 loads.
TEST(Load, NetworkListsInOneStringAndInboundMultipath) {
  Options o = load_string(R"({"inbounds": [{"type": "mixed", "listen": "127.0.0.1", "listen_port": 1080, "tcp_multi_path": true}],
                              "route": {"rules": [{"network": "udp,tcp", "outbound": "direct"}]}})");
  EXPECT_EQ(o.route.rules.at(0).network, (std::vector<std::string>{"udp", "tcp"}));
  EXPECT_TRUE(o.inbounds.at(0).listen().tcp_multi_path);
  expect_config_error(R"({"route": {"rules": [{"network": ["tcp", "udp,icmp"], "outbound": "direct"}]}})",
                      "route.rules[0].network[1]", "unknown network \"udp,icmp\"");
}

// redirect, tproxy and direct: sing-box's fields, network as sing-box reads it
// ("" or absent: both), override fields only on direct.
TEST(Load, GatewayInbounds) {
  Options o = load_string(R"({"inbounds": [
      {"type": "redirect", "tag": "redirect-in", "listen": "::", "listen_port": 5331, "sniff": true, "tcp_multi_path": true},
      {"type": "tproxy", "tag": "tproxy-in", "listen": "::", "listen_port": 5332, "network": "udp", "udp_timeout": "1m"},
      {"type": "tproxy", "tag": "both", "listen": "::", "listen_port": 5334},
      {"type": "direct", "tag": "dns-in", "listen": "::", "listen_port": 5333, "network": ["tcp", "udp"],
       "override_address": "1.1.1.1", "override_port": 53}]})");
  ASSERT_EQ(o.inbounds.size(), 4u);
  const auto& r = std::get<GatewayInboundOptions>(o.inbounds[0].options);
  EXPECT_EQ(o.inbounds[0].type, "redirect");
  EXPECT_TRUE(r.tcp);
  EXPECT_FALSE(r.udp);
  EXPECT_TRUE(r.listen.tcp_multi_path);
  const auto& t = std::get<GatewayInboundOptions>(o.inbounds[1].options);
  EXPECT_FALSE(t.tcp);
  EXPECT_TRUE(t.udp);
  EXPECT_EQ(t.listen.udp_timeout, 1min);
  const auto& both = std::get<GatewayInboundOptions>(o.inbounds[2].options);
  EXPECT_TRUE(both.tcp && both.udp);
  const auto& d = std::get<GatewayInboundOptions>(o.inbounds[3].options);
  EXPECT_TRUE(d.tcp && d.udp);
  EXPECT_EQ(d.override_address, "1.1.1.1");
  EXPECT_EQ(d.override_port, 53);
  // The legacy sniff field of redirect-in became a sniff rule for it.
  ASSERT_FALSE(o.route.rules.empty());
  EXPECT_EQ(o.route.rules[0].inbound, (std::vector<std::string>{"redirect-in"}));
}

TEST(Reject, GatewayInbounds) {
  // sing-box's redirect has no network field, tproxy no override fields.
  expect_config_error(R"({"inbounds": [{"type": "redirect", "listen": "::", "network": "udp"}]})",
                      "inbounds[0].network", "unknown field");
  expect_config_error(R"({"inbounds": [{"type": "tproxy", "listen": "::", "override_port": 53}]})",
                      "inbounds[0].override_port", "unknown field");
  expect_config_error(R"({"inbounds": [{"type": "tproxy", "listen": "::", "network": "icmp"}]})",
                      "inbounds[0].network", "unknown network \"icmp\"");
  expect_config_error(R"({"inbounds": [{"type": "direct", "listen": "::", "network": ["tcp", "sctp"]}]})",
                      "inbounds[0].network[1]", "unknown network \"sctp\"");
  expect_config_error(R"({"inbounds": [{"type": "direct", "listen": "::", "override_port": 65536}]})",
                      "inbounds[0].override_port", "out of range");
}

TEST(Reject, Durations) {
  expect_config_error(with_outbound(R"(, "idle_session_timeout": "5x")"), "outbounds[0].idle_session_timeout",
               "invalid duration \"5x\"");
  expect_config_error(with_outbound(R"(, "heartbeat": "-5s")"), "outbounds[0].heartbeat", "must not be negative");
  expect_config_error(with_outbound(R"(, "heartbeat": 30)"), "outbounds[0].heartbeat", "expected duration string, got integer");
  expect_config_error(with_outbound(R"(, "connect_timeout": "1")"), "outbounds[0].connect_timeout", "invalid duration");
}

TEST(Reject, Types) {
  expect_config_error(R"({"inbounds": [{"type": "mixed", "listen": "127.0.0.1"},
                                {"type": "mixed", "listen": "127.0.0.1", "listen_port": "80"}]})",
               "inbounds[1].listen_port", "expected unsigned integer, got string");
  expect_config_error(R"({"inbounds": [{"type": "mixed", "listen": "127.0.0.1", "listen_port": 70000}]})",
               "inbounds[0].listen_port", "out of range");
  expect_config_error(R"({"inbounds": [{"type": "mixed", "listen": "127.0.0.1", "listen_port": -1}]})",
               "inbounds[0].listen_port", "must not be negative");
  expect_config_error(R"({"log": {"timestamp": "yes"}})", "log.timestamp", "expected boolean, got string");
  expect_config_error(R"({"log": []})", "log", "expected object, got array");
  expect_config_error(R"({"inbounds": {}})", "inbounds", "expected array, got object");
  expect_config_error(with_outbound("", R"(, "alpn": [1])"), "outbounds[0].tls.alpn[0]", "expected string, got integer");
}

TEST(Reject, MissingRequired) {
  expect_config_error(R"({"outbounds": [{"type": "anytls", "server": "s", "server_port": 1, "tls": {"enabled": true}}]})",
               "outbounds[0].password", "missing required field");
  expect_config_error(R"({"outbounds": [{"type": "anytls", "server_port": 1, "password": "p", "tls": {"enabled": true}}]})",
               "outbounds[0].server", "missing required field");
  expect_config_error(R"({"outbounds": [{"type": "anytls", "server": "s", "password": "p", "tls": {"enabled": true}}]})",
               "outbounds[0].server_port", "missing required field");
  expect_config_error(R"({"outbounds": [{"type": "anytls", "server": "s", "server_port": 1, "password": "p"}]})",
               "outbounds[0].tls", "missing required field");
  expect_config_error(R"({"outbounds": [{"type": "anytls", "server": "s", "server_port": 1, "password": "p", "tls": {}}]})",
               "outbounds[0].tls.enabled", "must be true");
  expect_config_error(R"({"outbounds": [{"tag": "x"}]})", "outbounds[0].type", "missing required field");
  expect_config_error(R"({"inbounds": [{"type": "mixed"}]})", "inbounds[0].listen", "missing required field");
  expect_config_error(R"({"inbounds": [{"type": "mixed", "listen": "localhost"}]})", "inbounds[0].listen",
               "expected an IP address");
}

TEST(Reject, NegativeCounts) {
  expect_config_error(with_outbound(R"(, "min_idle_session": -1)"), "outbounds[0].min_idle_session", "must not be negative");
  expect_config_error(with_outbound(R"(, "ensure_idle_session": -3)"), "outbounds[0].ensure_idle_session",
               "must not be negative");
  expect_config_error(with_outbound(R"(, "min_idle_session_for_age": 1.5)"), "outbounds[0].min_idle_session_for_age",
               "expected unsigned integer, got number");
}

TEST(Reject, UnsupportedTls) {
  std::string two = R"({"outbounds": [{"type": "direct"}, {"type": "anytls", "server": "s", "server_port": 1,
                        "password": "p", "tls": {"enabled": true, )";
  expect_config_error(two + R"("utls": {"enabled": true, "fingerprint": "firefox"}}}]})", "outbounds[1].tls.utls.fingerprint",
               "Firefox's ClientHello comes from NSS");
  expect_config_error(two + R"("ech": {"enabled": true}}}]})", "outbounds[1].tls.ech", "not supported");
  expect_config_error(two + R"("reality": {"enabled": true}}}]})", "outbounds[1].tls.reality", "not supported");
  expect_config_error(two + R"("fragment": true}}]})", "outbounds[1].tls.fragment", "not supported");
  expect_config_error(two + R"("record_fragment": true}}]})", "outbounds[1].tls.record_fragment", "not supported");
  expect_config_error(with_outbound(R"(, "tcp_fast_open": true)"), "outbounds[0].tcp_fast_open", "not supported");
  expect_config_error(with_outbound("", R"(, "min_version": "1.4")"), "outbounds[0].tls.min_version", "invalid TLS version");
  expect_config_error(with_outbound("", R"(, "client_certificate_path": "c.pem")"), "outbounds[0].tls.client_key_path",
               "missing required field");
}

// ------------------------------------------------------------ tls.utls

#ifdef ANYTLS_HAVE_UTLS
TEST(Utls, ChromeNamesGiveChrome) {
  for (const char* name : {"chrome", "", "Chrome", "chromium", "edge", "random", "chrome_120", "chrome_117",
                           "chrome_132", "chrome_psk", "chrome_psk_shuffle", "chrome_padding_psk_shuffle"}) {
    SCOPED_TRACE(name);
    Options o = load_string(with_outbound("", std::string(R"(, "utls": {"enabled": true, "fingerprint": ")") + name + "\"}"));
    EXPECT_TRUE(anytls_out(o).tls.utls.enabled);
    EXPECT_EQ(anytls_out(o).tls.utls.fingerprint, "chrome");
  }
  // enabled with no fingerprint at all: chrome, as sing-box.
  Options o = load_string(with_outbound("", R"(, "utls": {"enabled": true})"));
  EXPECT_EQ(anytls_out(o).tls.utls.fingerprint, "chrome");
  Options off = load_string(with_outbound("", R"(, "utls": {"enabled": false, "fingerprint": "firefox"})"));
  EXPECT_FALSE(anytls_out(off).tls.utls.enabled);
}

TEST(Utls, UriFpParameter) {
  auto o = parse_anytls_uri("anytls://pw@example.com:443?sni=a.example.com&fp=chrome");
  const auto& a = std::get<AnyTlsOutboundOptions>(o.options);
  EXPECT_TRUE(a.tls.utls.enabled);
  EXPECT_EQ(a.tls.utls.fingerprint, "chrome");
  auto n = parse_anytls_uri("anytls://pw@example.com:443?fp=");
  EXPECT_FALSE(std::get<AnyTlsOutboundOptions>(n.options).tls.utls.enabled);
  expect_config_error(R"({"outbounds": ["anytls://pw@example.com?fp=safari"]})", "outbounds[0].tls.utls.fingerprint",
               "Apple's TLS stack");
}
#else
TEST(Utls, NotInThisBuildIsAClearError) {
  expect_config_error(with_outbound("", R"(, "utls": {"enabled": true, "fingerprint": "chrome"})"), "outbounds[0].tls.utls",
               "not available in this build: the Chrome ClientHello module");
  expect_config_error(R"({"outbounds": ["anytls://pw@example.com?fp=chrome"]})", "outbounds[0].tls.utls",
               "not available in this build");
}
#endif

TEST(Utls, OtherBrowsersAreRefused) {
  const std::string path = "outbounds[0].tls.utls.fingerprint";
  auto with_fp = [](const std::string& fp) {
    return with_outbound("", R"(, "utls": {"enabled": true, "fingerprint": ")" + fp + "\"}");
  };
  expect_config_error(with_fp("firefox"), path, "Firefox's ClientHello comes from NSS, which BoringSSL cannot imitate; only");
  expect_config_error(with_fp("safari"), path, "Apple's TLS stack");
  expect_config_error(with_fp("ios"), path, "Apple's TLS stack");
  expect_config_error(with_fp("android"), path, "OkHttp");
  expect_config_error(with_fp("randomized"), path, "a randomized ClientHello is no browser's");
  expect_config_error(with_fp("chrome_pq"), path, "post-quantum");
  expect_config_error(with_fp("chrome_133"), path, "Chrome 133 sends a post-quantum (ML-KEM) key share");
  expect_config_error(with_fp("chrome_100"), path, "Chrome 100 predates ECH GREASE");
  expect_config_error(with_fp("360"), path, "unknown or unsupported fingerprint \"360\"");
  expect_config_error(with_outbound("", R"(, "utls": {"enabled": true, "fp": "chrome"})"), "outbounds[0].tls.utls.fp",
               "unknown field");
}

#ifdef ANYTLS_HAVE_UTLS
TEST(Utls, OptionsTheFingerprintFixesAreRefused) {
  const std::string u = R"(, "utls": {"enabled": true, "fingerprint": "chrome"})";
  expect_config_error(with_outbound("", u + R"(, "cipher_suites": ["TLS_AES_128_GCM_SHA256"])"), "outbounds[0].tls.cipher_suites",
               "cannot be combined with utls");
  expect_config_error(with_outbound("", u + R"(, "curve_preferences": ["X25519"])"), "outbounds[0].tls.curve_preferences",
               "cannot be combined with utls");
  expect_config_error(with_outbound("", u + R"(, "min_version": "1.3")"), "outbounds[0].tls.min_version",
               "cannot be combined with utls");
  expect_config_error(with_outbound("", u + R"(, "max_version": "1.2")"), "outbounds[0].tls.max_version",
               "cannot be combined with utls");
  expect_config_error(with_outbound("", u + R"(, "client_certificate_path": "c.pem", "client_key_path": "k.pem")"),
               "outbounds[0].tls.client_certificate_path", "not supported with utls");
}
#endif

TEST(Reject, Acme) {
  // sing-box's acme object has no "enabled": present means on. Refused by
  // name, with or without a certificate next to it.
  std::string in = R"({"inbounds": [{"type": "anytls", "listen": "::", "users": [{"password": "p"}],
                        "tls": {"enabled": true, )";
  expect_config_error(in + R"("acme": {"domain": ["example.com"], "email": "a@example.com"}}}]})", "inbounds[0].tls.acme",
               "not supported: ACME");
  expect_config_error(in + R"("certificate_path": "c", "key_path": "k", "acme": {"domain": ["example.com"]}}}]})",
               "inbounds[0].tls.acme", "certificate_path and key_path");
}

TEST(Reject, UnknownNames) {
  expect_config_error(R"({"inbounds": [{"type": "vmess", "listen": "::"}]})", "inbounds[0].type",
               "unsupported inbound type \"vmess\"");
  expect_config_error(R"({"outbounds": [{"type": "direct"}, {"type": "shadowsocks"}]})", "outbounds[1].type",
               "unsupported outbound type \"shadowsocks\"");
  expect_config_error(R"({"bogus": 1})", "bogus", "unknown field");
  expect_config_error(R"({"ntp": {"enabled": true, "write_to_system": true, "server": "pool.ntp.org"}})",
                      "ntp.write_to_system", "not supported");
  expect_config_error(R"({"ntp": {"enabled": true}})", "ntp.server", "required");
  expect_config_error(R"({"ntp": {"enabled": true, "server": "x", "detour": "nope"}})", "ntp.detour",
                      "unknown outbound \"nope\"");
  expect_config_error(R"({"ntp": {"enabled": true, "server": "x", "servers": []}})", "ntp.servers", "unknown field");
  expect_config_error(R"({"log": {"level": "verbose"}})", "log.level", "unknown level \"verbose\"");
  expect_config_error(with_outbound(R"(, "idle_timeout": "5m")"), "outbounds[0].idle_timeout", "unknown field");
  expect_config_error(with_outbound("", R"(, "sni": "x")"), "outbounds[0].tls.sni", "unknown field");
  expect_config_error(R"({"outbounds": [{"type": "block", "server": "x"}]})", "outbounds[0].server", "unknown field");
  expect_config_error(R"({"outbounds": [{"type": "direct", "domain_strategy": "fastest"}]})",
               "outbounds[0].domain_strategy", "unknown domain strategy");
}

TEST(Reject, AnyTlsInbound) {
  std::string head = R"({"inbounds": [{"type": "anytls", "listen": "::", )";
  std::string tls = R"("tls": {"enabled": true, "certificate_path": "c", "key_path": "k"})";
  expect_config_error(head + tls + "}]}", "inbounds[0].users", "missing required field");
  expect_config_error(head + R"("users": [], )" + tls + "}]}", "inbounds[0].users", "must not be empty");
  expect_config_error(head + R"("users": [{"name": "a"}], )" + tls + "}]}", "inbounds[0].users[0].password",
               "missing required field");
  expect_config_error(head + R"("users": [{"name": "a", "password": "p"}], "tls": {"enabled": true, "key_path": "k"}}]})",
               "inbounds[0].tls.certificate_path", "missing required field");
  expect_config_error(head + R"("users": [{"name": "a", "password": "p"}], "padding_scheme": "0=1-2", )" + tls + "}]}",
               "inbounds[0].padding_scheme", "invalid padding scheme");
  expect_config_error(head + R"("users": [{"name": "a", "password": "p"}], "fallback": {"server": "x"}, )" + tls + "}]}",
               "inbounds[0].fallback.server_port", "missing required field");
}

TEST(Reject, Route) {
  expect_config_error(R"({"outbounds": [{"type": "direct"}], "route": {"final": "proxy"}})", "route.final",
               "unknown outbound \"proxy\"");
  expect_config_error(R"({"route": {"rules": [{"domain": "a", "outbound": "nope"}]}})", "route.rules[0].outbound",
               "unknown outbound \"nope\"");
  expect_config_error(R"({"route": {"rules": [{"domain": "a"}]}})", "route.rules[0].outbound", "missing required field");
  expect_config_error(R"({"route": {"rules": [{"ip_cidr": ["10.0.0.0/33"], "outbound": "direct"}]}})",
               "route.rules[0].ip_cidr[0]", "invalid CIDR");
  expect_config_error(R"({"route": {"rules": [{"network": "icmp", "outbound": "direct"}]}})", "route.rules[0].network[0]",
               "unknown network");
  expect_config_error(R"({"route": {"rules": [{"action": "redirect"}]}})", "route.rules[0].action", "unsupported action");
  expect_config_error(R"({"route": {"rules": [{"action": "bogus"}]}})", "route.rules[0].action", "unsupported action");
  expect_config_error(R"({"outbounds": [{"type": "direct", "detour": "x"}]})", "outbounds[0].detour", "unknown outbound");
  // A detour chain must end.
  expect_config_error(R"({"outbounds": [{"type": "anytls", "tag": "a", "server": "s", "server_port": 1, "password": "p",
                   "tls": {"enabled": true}, "detour": "d"}, {"type": "direct", "tag": "d", "detour": "a"}]})",
               "outbounds[0].detour", "a detour cycle");
}

TEST(Reject, DuplicateTags) {
  expect_config_error(R"({"outbounds": [{"type": "direct", "tag": "a"}, {"type": "block", "tag": "a"}]})",
               "outbounds[1].tag", "duplicate tag \"a\"");
  expect_config_error(R"({"inbounds": [{"type": "mixed", "tag": "a", "listen": "::"}, {"type": "http", "tag": "a", "listen": "::"}]})",
               "inbounds[1].tag", "duplicate tag \"a\"");
}

TEST(Reject, BadJson) {
  expect_config_error(R"({"log": {)", "config", "parse error");
  expect_config_error("[]", "config", "expected a JSON object");
}

// ------------------------------------------------------------ URI

TEST(Uri, Basic) {
  auto o = parse_anytls_uri("anytls://pa%40ss%2Fw@example.com:8443/?sni=cdn.example.com&insecure=1");
  EXPECT_EQ(o.type, "anytls");
  EXPECT_EQ(o.tag, "anytls");
  const auto& a = std::get<AnyTlsOutboundOptions>(o.options);
  EXPECT_EQ(a.password, "pa@ss/w");
  EXPECT_EQ(a.server, "example.com");
  EXPECT_EQ(a.server_port, 8443);
  EXPECT_TRUE(a.tls.enabled);
  EXPECT_TRUE(a.tls.insecure);
  EXPECT_EQ(a.tls.server_name, "cdn.example.com");
  EXPECT_FALSE(a.tls.disable_sni);
  EXPECT_EQ(a.idle_session_check_interval, 30s);
}

TEST(Uri, DefaultsIpv6FragmentAndIpSni) {
  auto o = parse_anytls_uri("anytls://pw@[2001:db8::1]#my%20proxy");
  const auto& a = std::get<AnyTlsOutboundOptions>(o.options);
  EXPECT_EQ(o.tag, "my proxy");
  EXPECT_EQ(a.server, "2001:db8::1");
  EXPECT_EQ(a.server_port, 443);
  EXPECT_TRUE(a.tls.disable_sni);
  EXPECT_FALSE(a.tls.insecure);

  auto p = parse_anytls_uri("anytls://pw@example.com:443?sni=1.2.3.4&insecure=0");
  const auto& b = std::get<AnyTlsOutboundOptions>(p.options);
  EXPECT_TRUE(b.tls.disable_sni);
  EXPECT_EQ(b.tls.server_name, "1.2.3.4");
  EXPECT_FALSE(b.tls.insecure);
}

TEST(Uri, InOutbounds) {
  Options o = load_string(R"({"outbounds": ["anytls://secret@1.2.3.4:443/?sni=example.com#proxy",
                                            {"type": "direct"}],
                              "route": {"final": "proxy"}})");
  ASSERT_EQ(o.outbounds.size(), 2u);
  EXPECT_EQ(o.outbounds[0].tag, "proxy");
  EXPECT_EQ(anytls_out(o).password, "secret");
  EXPECT_EQ(anytls_out(o).tls.server_name, "example.com");
}

TEST(Uri, Rejects) {
  expect_config_error(R"({"outbounds": ["vless://x@y:1"]})", "outbounds[0]", "anytls:// URI");
  expect_config_error(R"({"outbounds": ["anytls://example.com:443"]})", "outbounds[0]", "missing password");
  expect_config_error(R"({"outbounds": ["anytls://pw@example.com:99999"]})", "outbounds[0]", "invalid port");
  expect_config_error(R"({"outbounds": ["anytls://pw@example.com?insecure=2"]})", "outbounds[0]", "insecure");
  expect_config_error(R"({"outbounds": ["anytls://pw@example.com?foo=1"]})", "outbounds[0]", "unknown query parameter");
  expect_config_error(R"({"outbounds": ["anytls://p%zzw@example.com"]})", "outbounds[0]", "percent-encoding");
  expect_config_error(R"({"outbounds": ["anytls://pw@"]})", "outbounds[0]", "missing host");
}

// ------------------------------------------------------------ merge

TEST(Merge, ObjectsMergeArraysConcatenate) {
  std::vector<ConfigSource> sources = {
      {"a.json", R"({"log": {"level": "debug"}, "outbounds": [{"type": "direct", "tag": "d"}]})"},
      {"b.json", R"(// second file
                   {"log": {"timestamp": true, "level": "warn"},
                    "outbounds": [{"type": "block", "tag": "b"}], "route": {"final": "b"}})"},
  };
  Options o = load(sources);
  EXPECT_EQ(o.log.level, "warn");
  EXPECT_TRUE(o.log.timestamp);
  ASSERT_EQ(o.outbounds.size(), 2u);
  EXPECT_EQ(o.outbounds[0].tag, "d");
  EXPECT_EQ(o.outbounds[1].tag, "b");
  EXPECT_EQ(o.route.final, "b");
  std::string merged = merged_json(sources);
  EXPECT_THAT(merged, HasSubstr("\"timestamp\": true"));
  EXPECT_EQ(merged.find("//"), std::string::npos);
}

TEST(Merge, ParseErrorNamesTheFile) {
  try {
    (void)load({{"a.json", "{}"}, {"b.json", "{,}"}});
    ADD_FAILURE();
  } catch (const ConfigError& e) {
    EXPECT_EQ(e.path(), "b.json");
    EXPECT_THAT(e.what(), HasSubstr("line 1"));
  }
}

TEST(Format, KeepsOrderDropsComments) {
  std::string out = format_json({"x", "{ /* c */ \"b\": 1, \"a\": [1,2] }"});
  EXPECT_EQ(out, "{\n  \"b\": 1,\n  \"a\": [\n    1,\n    2\n  ]\n}\n");
}

// ------------------------------------------------------------ examples

std::filesystem::path examples_dir() {
  const char* src = std::getenv("ANYTLS_SOURCE_DIR");
  return std::filesystem::path(src ? src : ANYTLS_TEST_SOURCE_DIR) / "examples";
}

TEST(Examples, AllLoad) {
  auto dir = examples_dir();
  auto files = list_config_dir(dir);
  ASSERT_GE(files.size(), 8u) << dir;
  for (const auto& f : files) {
    SCOPED_TRACE(f.string());
    EXPECT_NO_THROW((void)load_file(f));
  }
}

TEST(Examples, LoopbackShape) {
  Options o = load_file(examples_dir() / "loopback.json");
  ASSERT_EQ(o.inbounds.size(), 2u);
  EXPECT_EQ(o.inbounds[0].listen().listen_port, 2080);
  EXPECT_EQ(o.inbounds[1].tag, "anytls-in");
  EXPECT_EQ(o.inbounds[1].listen().listen_port, 8443);
  EXPECT_EQ(o.route.final, "anytls-out");
  ASSERT_EQ(o.route.rules.size(), 1u);
  EXPECT_EQ(o.route.rules[0].inbound, std::vector<std::string>{"anytls-in"});
  EXPECT_EQ(o.route.rules[0].outbound, "direct");
}

TEST(Examples, StrategiesMatchTheSeed) {
  struct Want {
    const char* file;
    int ensure, min;
    std::chrono::nanoseconds timeout, interval, heartbeat;
  };
  for (const Want& w : {Want{"strategy-high-performance.json", 5, 3, 10min, 30s, 20s},
                        Want{"strategy-high-availability.json", 10, 5, 15min, 1min, 30s},
                        Want{"strategy-nat-traversal.json", 3, 2, 5min, 30s, 10s},
                        Want{"strategy-resource-efficient.json", 1, 1, 2min, 1min, 45s},
                        Want{"strategy-balanced.json", 5, 2, 5min, 30s, 30s}}) {
    SCOPED_TRACE(w.file);
    Options o = load_file(examples_dir() / w.file);
    ASSERT_FALSE(o.outbounds.empty());
    const auto& a = anytls_out(o);
    EXPECT_EQ(a.ensure_idle_session, w.ensure);
    EXPECT_EQ(a.min_idle_session, w.min);
    EXPECT_EQ(a.idle_session_timeout, w.timeout);
    EXPECT_EQ(a.idle_session_check_interval, w.interval);
    EXPECT_EQ(a.heartbeat, w.heartbeat);
    EXPECT_EQ(a.server, "example.com");
    EXPECT_EQ(a.tls.server_name, "example.com");
    EXPECT_EQ(o.route.final, "anytls-out");
  }
}

}  // namespace
