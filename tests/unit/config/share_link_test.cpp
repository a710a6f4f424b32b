// anytls:// links as real clients and converters write them (v2rayN,
// Shadowrocket-style subscriptions, NekoBox, sing-box/mihomo converters),
// decoded into outbound options; and links written by `generate link`
// read back.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <vector>

#include "app/share_link.hpp"
#include "config/load.hpp"

namespace {

using namespace std::chrono_literals;
using anytls::config::AnyTlsOutboundOptions;
using anytls::config::ConfigError;
using anytls::config::parse_anytls_uri;
using ::testing::HasSubstr;

struct Good {
  const char* source;  // who writes links like this
  const char* link;
  const char* tag;
  const char* server;
  std::uint16_t port;
  const char* password;
  const char* sni;
  bool insecure;
  bool disable_sni;
  std::vector<std::string> alpn;
  int warnings;  // ignored parameters that matter
};

const std::vector<Good> kGood = {
    {"anytls-go README", "anytls://password@example.com:8443", "anytls", "example.com", 8443, "password", "", false,
     false, {}, 0},
    {"v2rayN", "anytls://0a1b2c3d-pass@203.0.113.7:443?security=tls&sni=www.example.com&alpn=h2%2Chttp%2F1.1"
                "&type=tcp&headerType=none#HK%2001",
     "HK 01", "203.0.113.7", 443, "0a1b2c3d-pass", "www.example.com", false, false, {"h2", "http/1.1"}, 0},
    {"v2rayN insecure", "anytls://pw@203.0.113.7:443?security=tls&sni=cdn.example.net&allowInsecure=1&type=tcp#n",
     "n", "203.0.113.7", 443, "pw", "cdn.example.net", true, false, {}, 0},
    {"Shadowrocket", "anytls://pw@node.example.org:443/?peer=edge.example.org&insecure=1&udp=1#SR%20node",
     "SR node", "node.example.org", 443, "pw", "edge.example.org", true, false, {}, 0},
    {"NekoBox", "anytls://p%40ss%3Aw0rd@[2001:db8::10]:8443/?sni=v6.example.com&insecure=0&alpn=h2#neko",
     "neko", "2001:db8::10", 8443, "p@ss:w0rd", "v6.example.com", false, false, {"h2"}, 0},
    {"subscription converter", "anytls://pw@198.51.100.9:443?allow_insecure=true&udp=true&type=raw#conv", "conv",
     "198.51.100.9", 443, "pw", "", true, true, {}, 0},
    {"insecure=yes", "anytls://pw@example.com?insecure=yes&security=TLS", "anytls", "example.com", 443, "pw", "", true,
     false, {}, 0},
    {"udp=0 is ignored with a warning", "anytls://pw@example.com:443?sni=example.com&udp=0", "anytls", "example.com",
     443, "pw", "example.com", false, false, {}, 1},
    {"IP sni", "anytls://pw@example.com:443?peer=192.0.2.1", "anytls", "example.com", 443, "pw", "192.0.2.1", false,
     true, {}, 0},
    {"empty query values", "anytls://pw@example.com:443/?sni=&fp=&alpn=&headerType=", "anytls", "example.com", 443,
     "pw", "", false, false, {}, 0},
};

TEST(ShareLinks, RealWorld) {
  for (const auto& g : kGood) {
    SCOPED_TRACE(std::string(g.source) + ": " + g.link);
    std::vector<std::string> warnings;
    auto o = parse_anytls_uri(g.link, "outbounds[0]", warnings);
    const auto& a = std::get<AnyTlsOutboundOptions>(o.options);
    EXPECT_EQ(o.tag, g.tag);
    EXPECT_EQ(a.server, g.server);
    EXPECT_EQ(a.server_port, g.port);
    EXPECT_EQ(a.password, g.password);
    EXPECT_EQ(a.tls.server_name, g.sni);
    EXPECT_EQ(a.tls.insecure, g.insecure);
    EXPECT_EQ(a.tls.disable_sni, g.disable_sni);
    EXPECT_EQ(a.tls.alpn, g.alpn);
    EXPECT_TRUE(a.tls.enabled);
    EXPECT_EQ(static_cast<int>(warnings.size()), g.warnings);
  }
}

TEST(ShareLinks, PoolParameters) {
  // mihomo's names with dashes and bare seconds; sing-box's with underscores.
  auto o = parse_anytls_uri(
      "anytls://pw@example.com:443?idle-session-check-interval=30&idle-session-timeout=45&min-idle-session=2"
      "&idle_session_timeout=1m&ensure_idle_session=3&heartbeat=15s#p");
  const auto& a = std::get<AnyTlsOutboundOptions>(o.options);
  EXPECT_EQ(a.idle_session_check_interval, 30s);
  EXPECT_EQ(a.idle_session_timeout, 1min);  // the later key wins
  EXPECT_EQ(a.min_idle_session, 2);
  EXPECT_EQ(a.ensure_idle_session, 3);
  EXPECT_EQ(a.heartbeat, 15s);
}

struct Bad {
  const char* link;
  const char* path;     // what the error names
  const char* problem;  // a piece of the message
};

const std::vector<Bad> kBad = {
    // fp maps onto tls.utls, which refuses other browsers by name.
    {"anytls://pw@example.com:443?client-fingerprint=firefox", "outbounds[0].tls.utls.fingerprint", "NSS"},
    {"anytls://pw@example.com:443?security=reality&pbk=x", "outbounds[0]", "REALITY"},
    {"anytls://pw@example.com:443?security=none", "outbounds[0]", "always TLS"},
    {"anytls://pw@example.com:443?type=ws", "outbounds[0]", "type=ws"},
    {"anytls://pw@example.com:443?headerType=http", "outbounds[0]", "headerType=http"},
    {"anytls://pw@example.com:443?allowInsecure=maybe", "outbounds[0]", "allowInsecure"},
    {"anytls://pw@example.com:443?udp=2", "outbounds[0]", "udp"},
    {"anytls://pw@example.com:443?min-idle-session=-1", "outbounds[0]", "min-idle-session"},
    {"anytls://pw@example.com:443?idle-session-timeout=5x", "outbounds[0].idle_session_timeout", "invalid duration"},
    {"anytls://pw@example.com:443?obfs=1", "outbounds[0]", "unknown query parameter \"obfs\""},
};

TEST(ShareLinks, Refused) {
  for (const auto& b : kBad) {
    SCOPED_TRACE(b.link);
    try {
      std::vector<std::string> warnings;
      (void)parse_anytls_uri(b.link, "outbounds[0]", warnings);
      ADD_FAILURE() << "accepted";
    } catch (const ConfigError& e) {
      EXPECT_EQ(e.path(), b.path) << e.what();
      EXPECT_THAT(e.what(), HasSubstr(b.problem));
    }
  }
}

TEST(ShareLinks, WarningsReachOptions) {
  auto o = anytls::config::load_string(R"({"outbounds": ["anytls://pw@example.com?udp=0#p"]})");
  ASSERT_EQ(o.warnings.size(), 1u);
  EXPECT_THAT(o.warnings[0], HasSubstr("outbounds[0]"));
  EXPECT_THAT(o.warnings[0], HasSubstr("udp=0"));
}

TEST(ShareLinks, GeneratedLinksReadBack) {
  AnyTlsOutboundOptions a;
  a.server = "2001:db8::1";
  a.server_port = 8443;
  a.password = "p@ss word/&?#";
  a.tls.enabled = true;
  a.tls.server_name = "proxy.example.com";
  a.tls.insecure = true;
  a.tls.alpn = {"h2", "http/1.1"};
  a.ensure_idle_session = 2;
  a.idle_session_timeout = 90s;
  std::string link = anytls::app::outbound_link("my proxy", a);
  EXPECT_THAT(link, ::testing::StartsWith("anytls://p%40ss%20word%2F%26%3F%23@[2001:db8::1]:8443/?sni=proxy.example.com"));
  auto o = parse_anytls_uri(link);
  const auto& b = std::get<AnyTlsOutboundOptions>(o.options);
  EXPECT_EQ(o.tag, "my proxy");
  EXPECT_EQ(b.server, a.server);
  EXPECT_EQ(b.server_port, a.server_port);
  EXPECT_EQ(b.password, a.password);
  EXPECT_EQ(b.tls.server_name, a.tls.server_name);
  EXPECT_TRUE(b.tls.insecure);
  EXPECT_EQ(b.tls.alpn, a.tls.alpn);
  EXPECT_EQ(b.ensure_idle_session, 2);
  EXPECT_EQ(b.idle_session_timeout, 90s);
}

TEST(ShareLinks, FromInboundUsers) {
  auto opts = anytls::config::load_string(R"({
    "inbounds": [{"type": "anytls", "tag": "in", "listen": "::", "listen_port": 8443,
                  "users": [{"name": "alice", "password": "a-pw"}, {"name": "bob", "password": "b pw"}],
                  "tls": {"enabled": true, "server_name": "proxy.example.com",
                          "certificate_path": "x.crt", "key_path": "x.key"}}]})");
  auto links = anytls::app::share_links(opts, {});
  ASSERT_EQ(links.size(), 2u);
  EXPECT_EQ(links[0], "anytls://a-pw@proxy.example.com:8443/#alice");
  EXPECT_EQ(links[1], "anytls://b%20pw@proxy.example.com:8443/#bob");
  links = anytls::app::share_links(opts, {.tag = "in", .user = "bob", .server = "203.0.113.5"});
  ASSERT_EQ(links.size(), 1u);
  EXPECT_EQ(links[0], "anytls://b%20pw@203.0.113.5:8443/?sni=proxy.example.com#bob");
  anytls::app::LinkRequest unknown_tag, unknown_user;
  unknown_tag.tag = "nope";
  unknown_user.user = "carol";
  EXPECT_THROW(anytls::app::share_links(opts, unknown_tag), ConfigError);
  EXPECT_THROW(anytls::app::share_links(opts, unknown_user), ConfigError);
}

}  // namespace
