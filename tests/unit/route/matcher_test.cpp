// Route matchers, logical/invert rules, rule sets (inline, JSON source,
// binary .srs) and the sniffers, as units.
#include <fstream>
#include <map>
#include <memory>
#include <string>

#include <gtest/gtest.h>

#include "config/load.hpp"
#include "dns/message.hpp"
#include "inbound/sniff.hpp"
#include "outbound/block.hpp"
#include "route/rule_router.hpp"
#include "route/rule_set.hpp"
#include "route/process.hpp"
#include "route/srs.hpp"
#include "support/config_error.hpp"

#include <unistd.h>

namespace anytls::route {
namespace {

using outbound::Metadata;
using outbound::Network;

Metadata md(std::string host, std::uint16_t port, Network net = Network::tcp) {
  Metadata m;
  m.inbound = "in";
  m.network = net;
  m.destination = net::Address{std::move(host), port};
  m.source = asio::ip::tcp::endpoint(asio::ip::make_address("192.168.7.9"), 40000);
  return m;
}

// A route rule from JSON, as the config loader decodes it.
config::RouteRule rule_json(const std::string& json) {
  auto opts = config::load_string(R"({"outbounds":[{"type":"direct","tag":"d"}],"route":{"rules":[)" + json + "]}}");
  return opts.route.rules.at(0);
}

bool matches(const std::string& json, const Metadata& m) {
  RuleMatcher r(rule_json(json), "route.rules[0]");
  return r.matches(m);
}

TEST(RouteMatcher, RegexIsRe2Unanchored) {
  const std::string rule = R"({"domain_regex": ["^stun\\..+", "video[0-9]+\\.cdn"], "outbound": "d"})";
  EXPECT_TRUE(matches(rule, md("stun.example.com", 3478)));
  EXPECT_TRUE(matches(rule, md("a.video12.cdn.net", 443)));
  EXPECT_FALSE(matches(rule, md("xstun.example.com", 3478)));
  EXPECT_FALSE(matches(rule, md("10.0.0.1", 443)));  // domain matchers need a name
  EXPECT_THROW(RuleMatcher(rule_json(R"({"domain_regex": ["(unclosed"], "outbound": "d"})"), "route.rules[0]"),
               std::invalid_argument);
}

TEST(RouteMatcher, SingBoxGrouping) {
  // Destination group ORs across domain and ip lists; port group ORs port and
  // port_range; source group ORs source_ip_cidr and source_ip_is_private.
  const std::string rule = R"({"domain_suffix": ["example.com"], "ip_cidr": ["10.0.0.0/8"],
      "port": [80], "port_range": ["8000:8100"], "source_ip_is_private": true, "outbound": "d"})";
  EXPECT_TRUE(matches(rule, md("www.example.com", 80)));
  EXPECT_TRUE(matches(rule, md("10.1.2.3", 8050)));
  EXPECT_FALSE(matches(rule, md("10.1.2.3", 443)));      // port group fails
  EXPECT_FALSE(matches(rule, md("other.org", 80)));      // address group fails
  auto pub = md("www.example.com", 80);
  pub.source = asio::ip::tcp::endpoint(asio::ip::make_address("8.8.8.8"), 1);
  EXPECT_FALSE(matches(rule, pub));                      // source group fails
}

TEST(RouteMatcher, PrivateVersionPortsUsersProtocol) {
  EXPECT_TRUE(matches(R"({"ip_is_private": true, "outbound": "d"})", md("192.168.1.1", 1)));
  EXPECT_TRUE(matches(R"({"ip_is_private": true, "outbound": "d"})", md("fd00::1", 1)));
  EXPECT_TRUE(matches(R"({"ip_is_private": true, "outbound": "d"})", md("127.0.0.1", 1)));
  EXPECT_FALSE(matches(R"({"ip_is_private": true, "outbound": "d"})", md("1.1.1.1", 1)));
  EXPECT_TRUE(matches(R"({"ip_version": 6, "outbound": "d"})", md("2001:db8::1", 1)));
  EXPECT_FALSE(matches(R"({"ip_version": 6, "outbound": "d"})", md("1.1.1.1", 1)));
  EXPECT_TRUE(matches(R"({"source_port_range": [":40000"], "outbound": "d"})", md("x.org", 1)));
  EXPECT_FALSE(matches(R"({"source_port": [1], "source_port_range": ["40001:"], "outbound": "d"})", md("x.org", 1)));
  EXPECT_TRUE(matches(R"({"source_ip_cidr": ["192.168.0.0/16"], "outbound": "d"})", md("x.org", 1)));
  auto m = md("x.org", 443);
  EXPECT_FALSE(matches(R"({"auth_user": ["alice"], "outbound": "d"})", m));
  m.user = "alice";
  EXPECT_TRUE(matches(R"({"auth_user": ["alice"], "outbound": "d"})", m));
  EXPECT_FALSE(matches(R"({"protocol": ["tls"], "outbound": "d"})", m));
  m.protocol = "tls";
  EXPECT_TRUE(matches(R"({"protocol": ["tls", "http"], "outbound": "d"})", m));
}

TEST(RouteMatcher, SniffedDomainAndResolvedAddresses) {
  auto m = md("93.184.216.34", 443);
  EXPECT_FALSE(matches(R"({"domain": ["sni.example"], "outbound": "d"})", m));
  m.domain = "sni.example";  // a sniff action found it
  EXPECT_TRUE(matches(R"({"domain": ["sni.example"], "outbound": "d"})", m));
  EXPECT_TRUE(matches(R"({"ip_cidr": ["93.184.0.0/16"], "outbound": "d"})", m));
  auto n = md("name.example", 443);
  EXPECT_FALSE(matches(R"({"ip_cidr": ["10.0.0.0/8"], "outbound": "d"})", n));
  n.destination_addresses = {asio::ip::make_address("10.2.3.4")};  // a resolve action found it
  EXPECT_TRUE(matches(R"({"ip_cidr": ["10.0.0.0/8"], "outbound": "d"})", n));
}

TEST(RouteMatcher, LogicalAndInvert) {
  const std::string rule = R"({"type": "logical", "mode": "and", "rules": [
      {"domain_suffix": ["example.com"]},
      {"type": "logical", "mode": "or", "rules": [{"port": [443]}, {"network": ["udp"]}]},
      {"domain_keyword": ["ads"], "invert": true}], "outbound": "d"})";
  EXPECT_TRUE(matches(rule, md("www.example.com", 443)));
  EXPECT_TRUE(matches(rule, md("www.example.com", 53, Network::udp)));
  EXPECT_FALSE(matches(rule, md("www.example.com", 80)));
  EXPECT_FALSE(matches(rule, md("ads.example.com", 443)));
  EXPECT_TRUE(matches(R"({"domain": ["a.org"], "invert": true, "outbound": "d"})", md("b.org", 1)));
  EXPECT_FALSE(matches(R"({"type": "logical", "mode": "or", "invert": true,
      "rules": [{"domain": ["a.org"]}, {"port": [1]}], "outbound": "d"})", md("b.org", 1)));
}

TEST(RouteMatcher, IpSetMergesAndSearches) {
  IpSet s;
  for (const char* p : {"10.0.0.0/9", "10.128.0.0/9", "192.168.1.7", "::/0"}) s.add(*Prefix::parse(p));
  s.build();
  EXPECT_EQ(s.ranges(), 3u);  // the two /9 merge into one range
  EXPECT_TRUE(s.contains(asio::ip::make_address("10.255.255.255")));
  EXPECT_TRUE(s.contains(asio::ip::make_address("::ffff:192.168.1.7")));
  EXPECT_FALSE(s.contains(asio::ip::make_address("192.168.1.8")));
  EXPECT_TRUE(s.contains(asio::ip::make_address("2001:db8::1")));
}

// ---- rule sets -------------------------------------------------------------

struct Outs {
  outbound::BlockOutbound a{"a"}, b{"b"};
  RuleRouter::OutboundLookup lookup() {
    return [this](std::string_view t) -> outbound::Outbound* { return t == "a" ? &a : t == "b" ? &b : nullptr; };
  }
};

std::string pick(RuleRouter& r, const Metadata& m) {
  auto d = r.decide(m);
  return d.reject ? "reject" : d.outbound ? d.outbound->tag() : "null";
}

std::string data_file(const char* name) { return std::string(ANYTLS_ROUTE_TEST_DATA) + "/" + name; }

TEST(RuleSet, InlineAndLocalSourceWithMatchSource) {
  const std::string dir = ::testing::TempDir();
  const std::string path = dir + "/rs-source.json";
  std::ofstream(path) << R"({"version": 3, "rules": [{"ip_cidr": ["192.168.0.0/16"]}, {"domain_keyword": ["tracker"]}]})";
  auto opts = config::load_string(R"({"outbounds":[{"type":"block","tag":"a"},{"type":"block","tag":"b"}],
    "route":{"rule_set":[
      {"type":"inline","tag":"in","rules":[{"domain_suffix":["inline.example"]}]},
      {"type":"local","tag":"file","path":")" + path + R"("}],
     "rules":[{"rule_set":["in"],"outbound":"b"},
              {"rule_set":["file"],"rule_set_ip_cidr_match_source":true,"port":[8080],"outbound":"b"}],
     "final":"a"}})");
  Outs o;
  RuleRouter r(opts.route, "a", o.lookup());
  EXPECT_EQ(pick(r, md("x.inline.example", 443)), "b");
  EXPECT_EQ(pick(r, md("x.org", 8080)), "b");        // source 192.168.7.9 in the set's ip_cidr
  EXPECT_EQ(pick(r, md("192.168.1.1", 443)), "a");   // port 443: rule 1 does not hold
  EXPECT_EQ(pick(r, md("mytracker.org", 8080)), "b");
}

TEST(RuleSet, BinarySrsFixture) {
  std::ifstream in(data_file("sample.srs"), std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  ASSERT_FALSE(bytes.empty());
  std::string error;
  auto set = srs::decode(std::span<const std::uint8_t>(reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size()),
                         error);
  ASSERT_TRUE(set) << error;
  EXPECT_EQ(set->version, 2);
  ASSERT_EQ(set->rules.size(), 3u);
  const auto& r0 = set->rules[0];
  EXPECT_EQ(r0.domain, std::vector<std::string>{"exact.example"});
  auto suffixes = r0.domain_suffix;
  std::sort(suffixes.begin(), suffixes.end());
  EXPECT_EQ(suffixes, (std::vector<std::string>{".sub.example", "suffix.example"}));
  EXPECT_EQ(r0.port, (std::vector<std::uint16_t>{443, 8443}));
  // IP sets stay ranges: 10.0.0.0/8, 192.168.1.0/24, 2001:db8::/32.
  const auto& ips = set->rules[1].ip_cidr;
  ASSERT_EQ(ips.size(), 3u);
  EXPECT_TRUE(ips[0].v4 && ips[0].first == 0x0a000000u && ips[0].last == 0x0affffffu);
  EXPECT_TRUE(ips[1].v4 && ips[1].first == 0xc0a80100u && ips[1].last == 0xc0a801ffu);
  const unsigned __int128 db8 = static_cast<unsigned __int128>(0x20010db8u) << 96;
  EXPECT_TRUE(!ips[2].v4 && ips[2].first == db8 && ips[2].last == (db8 | ((static_cast<unsigned __int128>(1) << 96) - 1)));
  EXPECT_TRUE(set->rules[2].logical && set->rules[2].mode_or && set->rules[2].invert);

  // And through a local rule set into routing.
  auto opts = config::load_string(R"({"outbounds":[{"type":"block","tag":"a"},{"type":"block","tag":"b"}],
    "route":{"rule_set":[{"type":"local","tag":"srs","path":")" + data_file("sample.srs") + R"("}],
     "rules":[{"rule_set":["srs"],"outbound":"b"}], "final":"a"}})");
  EXPECT_EQ(opts.route.rule_set.at(0).format, "binary");
  Outs o;
  RuleRouter r(opts.route, "a", o.lookup());
  // UDP, so that rule 2 (inverted: "udp or source in 172.16/12") stays out of the way.
  const auto udp = Network::udp;
  EXPECT_EQ(pick(r, md("exact.example", 443, udp)), "b");
  EXPECT_EQ(pick(r, md("a.b.suffix.example", 1500, udp)), "b");
  EXPECT_EQ(pick(r, md("suffix.example", 8443, udp)), "b");
  EXPECT_EQ(pick(r, md("x.sub.example", 443, udp)), "b");
  EXPECT_EQ(pick(r, md("re42.host", 443, udp)), "b");
  EXPECT_EQ(pick(r, md("has-kw.org", 443, udp)), "b");
  EXPECT_EQ(pick(r, md("sub.example", 443, udp)), "a");     // ".sub.example": subdomains only
  EXPECT_EQ(pick(r, md("exact.example", 80, udp)), "a");    // port
  EXPECT_EQ(pick(r, md("10.9.9.9", 53, udp)), "b");         // rule 1: ip_cidr
  EXPECT_EQ(pick(r, md("2001:db8::5", 53, udp)), "b");
  EXPECT_EQ(pick(r, md("other.org", 80)), "b");             // rule 2: TCP from 192.168.7.9
  auto other = md("8.8.8.8", 53, udp);
  EXPECT_EQ(pick(r, other), "a");                     // rule 2 inverted: udp -> or holds -> no match
}

TEST(RuleSet, SrsRejectsGarbage) {
  std::string error;
  const std::uint8_t bad[] = {'S', 'R', 'S', 2, 0x78, 0x9c, 1, 2, 3};
  EXPECT_FALSE(srs::decode(bad, error));
  EXPECT_NE(error.find("zlib"), std::string::npos) << error;
  const std::uint8_t wrong[] = {'X', 'R', 'S', 1};
  EXPECT_FALSE(srs::decode(wrong, error));
  EXPECT_NE(error.find("magic"), std::string::npos);
}

TEST(RouteConfig, ErrorsNameThePath) {
  auto err = [](const std::string& route) {
    try {
      config::load_string(R"({"outbounds":[{"type":"direct","tag":"d"}],"route":)" + route + "}");
    } catch (const config::ConfigError& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  EXPECT_EQ(err(R"({"rules":[{"rule_set":["nope"],"outbound":"d"}]})"), "route.rules[0].rule_set[0]: unknown rule-set \"nope\"");
  EXPECT_EQ(err(R"({"rules":[{"port_range":["9:1"],"outbound":"d"}]})").rfind("route.rules[0].port_range[0]: invalid port range", 0), 0u);
  EXPECT_EQ(err(R"({"rules":[{"type":"logical","mode":"xor","rules":[{}],"outbound":"d"}]})"),
            "route.rules[0].mode: expected \"and\" or \"or\", got \"xor\"");
  EXPECT_EQ(err(R"({"rules":[{"action":"reject","method":"drop","no_drop":true}]})"),
            "route.rules[0].no_drop: not available with method drop");
  EXPECT_EQ(err(R"({"rule_set":[{"type":"remote","tag":"r","url":"https://x/y.srs"}]})"), "no error");
  EXPECT_EQ(err(R"({"rule_set":[{"type":"remote","tag":"r","url":"ftp://x/y.srs"}]})").rfind("route.rule_set[0].url: expected an http:// or https:// URL", 0), 0u);
  EXPECT_EQ(err(R"({"rule_set":[{"type":"remote","tag":"r","url":"http://x/y.srs","download_detour":"nope"}]})"),
            "route.rule_set[0].download_detour: unknown outbound \"nope\"");
  EXPECT_EQ(err(R"({"rules":[{"action":"sniff","outbound":"d"}]})"), "route.rules[0].outbound: not allowed with action sniff");
  // hijack-dns loads (the DNS module answers it); legacy inbound sniffing becomes a rule.
  auto o = config::load_string(R"({"inbounds":[{"type":"mixed","tag":"m","listen":"127.0.0.1","sniff":true,
     "sniff_override_destination":true}],"outbounds":[{"type":"direct","tag":"d"}],
     "route":{"rules":[{"protocol":"dns","action":"hijack-dns"}]}})");
  ASSERT_EQ(o.route.rules.size(), 2u);
  EXPECT_EQ(o.route.rules[0].action, config::RuleAction::sniff);
  EXPECT_TRUE(o.route.rules[0].override_destination);
  EXPECT_EQ(o.route.rules[1].action, config::RuleAction::hijack_dns);
}

TEST(RuleRouter, NonFinalActionsContinueAndNoDropTurnsToDrop) {
  auto opts = config::load_string(R"({"outbounds":[{"type":"block","tag":"a"},{"type":"block","tag":"b"}],
    "route":{"rules":[{"action":"sniff"},{"action":"route-options","override_port":8443},
       {"domain":["x.org"],"action":"reject"},{"outbound":"b"}]}})");
  Outs o;
  RuleRouter r(opts.route, "a", o.lookup());
  auto m = md("x.org", 443);
  auto d = r.decide(m);
  EXPECT_EQ(d.action, Action::sniff);
  m.rule_index = d.next;
  d = r.decide(m);
  EXPECT_EQ(d.action, Action::route_options);
  m.rule_index = d.next;
  // reject without no_drop: answered 50 times in 30 s, then dropped.
  for (int i = 0; i < 50; ++i) {
    d = r.decide(m);
    ASSERT_TRUE(d.reject);
    EXPECT_FALSE(d.drop) << i;
  }
  EXPECT_TRUE(r.decide(m).drop);
}

// ---- sniffers ------------------------------------------------------------------

std::vector<std::uint8_t> bytes_of(std::string_view s) { return {s.begin(), s.end()}; }

TEST(Sniff, HttpHost) {
  using inbound::sniff::Status;
  auto r = inbound::sniff::http_host(bytes_of("GET / HTTP/1.1\r\nUser-Agent: x\r\nHoSt: Web.Example:8080\r\n\r\n"));
  EXPECT_EQ(r.status, Status::found);
  EXPECT_EQ(r.domain, "web.example");
  EXPECT_EQ(inbound::sniff::http_host(bytes_of("GET / HTTP/1.1\r\nHost: x")).status, Status::need_more);
  EXPECT_EQ(inbound::sniff::http_host(bytes_of("GE")).status, Status::need_more);
  EXPECT_EQ(inbound::sniff::http_host(bytes_of("\x16\x03\x01")).status, Status::not_this);
  EXPECT_EQ(inbound::sniff::http_host(bytes_of("GET / HTTP/1.1\r\nHost: [::1]:80\r\n\r\n")).domain, "");
}

TEST(Sniff, DnsQueries) {
  using inbound::sniff::Status;
  const auto q = *dns::encode(dns::make_query(0x1234, "example.com", dns::type::aaaa));
  EXPECT_EQ(inbound::sniff::dns_query(q).status, Status::found);
  EXPECT_TRUE(inbound::sniff::dns_query(q).domain.empty());  // protocol only, as sing-box
  // A response, a truncated query, other bytes: not DNS queries.
  auto reply = q;
  reply[2] |= 0x80;
  EXPECT_EQ(inbound::sniff::dns_query(reply).status, Status::not_this);
  EXPECT_EQ(inbound::sniff::dns_query(std::span(q).first(q.size() - 3)).status, Status::not_this);
  EXPECT_EQ(inbound::sniff::dns_query(bytes_of("GET / HTTP/1.1\r\n\r\n")).status, Status::not_this);
  // Over TCP: the length first; a partial message asks for more.
  std::vector<std::uint8_t> framed{static_cast<std::uint8_t>(q.size() >> 8), static_cast<std::uint8_t>(q.size())};
  framed.insert(framed.end(), q.begin(), q.end());
  EXPECT_EQ(inbound::sniff::dns_stream_query(framed).status, Status::found);
  EXPECT_EQ(inbound::sniff::dns_stream_query(std::span(framed).first(1)).status, Status::need_more);
  EXPECT_EQ(inbound::sniff::dns_stream_query(std::span(framed).first(framed.size() - 1)).status, Status::need_more);
  // A framed response is not a query.
  std::copy(reply.begin(), reply.end(), framed.begin() + 2);
  EXPECT_EQ(inbound::sniff::dns_stream_query(framed).status, Status::not_this);
}

// Every sniffer sing-box names loads (the protocol-only ones: sniff.hpp);
// another name is refused.
TEST(RouteConfig, EverySniffersNameLoads) {
  const std::string all = R"({"route": {"rules": [{"action": "sniff", "sniffer":
      ["dns", "dtls", "http", "tls", "quic", "ntp", "bittorrent", "stun", "rdp", "ssh"]}]}})";
  EXPECT_NO_THROW((void)config::load_string(all));
  test::expect_config_error(R"({"route": {"rules": [{"action": "sniff", "sniffer": ["gopher"]}]}})",
                            "route.rules[0].sniffer[0]", "unknown sniffer");
}

// The protocol-only sniffers: a minimal packet of each, and what is not one.
TEST(Sniff, ProtocolOnlySniffers) {
  using inbound::sniff::Status;
  namespace sn = inbound::sniff;
  // QUIC v1 Initial: long header, type 0, DCID length 8, padded to 1200.
  std::vector<std::uint8_t> quic(1200, 0);
  quic[0] = 0xc3;
  quic[1] = 0; quic[2] = 0; quic[3] = 0; quic[4] = 1;
  quic[5] = 8;
  EXPECT_EQ(sn::quic_initial(quic).status, Status::found);
  EXPECT_TRUE(sn::quic_initial(quic).domain.empty());
  EXPECT_EQ(sn::quic_initial(std::span(quic).first(1199)).status, Status::not_this);  // not padded: not a client Initial
  auto handshake = quic;
  handshake[0] = 0xe3;  // type 2: Handshake
  EXPECT_EQ(sn::quic_initial(handshake).status, Status::not_this);
  auto v2 = quic;
  v2[0] = 0xd3;  // QUIC v2's Initial type bits are 01
  v2[1] = 0x6b; v2[2] = 0x33; v2[3] = 0x43; v2[4] = 0xcf;
  EXPECT_EQ(sn::quic_initial(v2).status, Status::found);
  // STUN binding request: type 0x0001, length 0, magic cookie, transaction id.
  std::vector<std::uint8_t> stun{0x00, 0x01, 0x00, 0x00, 0x21, 0x12, 0xa4, 0x42};
  stun.resize(20, 7);
  EXPECT_EQ(sn::stun_message(stun).status, Status::found);
  stun[3] = 4;  // a length the datagram does not have
  EXPECT_EQ(sn::stun_message(stun).status, Status::not_this);
  // DTLS 1.2 handshake record carrying a ClientHello.
  std::vector<std::uint8_t> dtls{22, 0xfe, 0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1};
  EXPECT_EQ(sn::dtls_client_hello(dtls).status, Status::found);
  dtls[13] = 2;  // ServerHello
  EXPECT_EQ(sn::dtls_client_hello(dtls).status, Status::not_this);
  // NTP v4 client request; a server reply is not one.
  std::vector<std::uint8_t> ntp(48, 0);
  ntp[0] = 0x23;
  EXPECT_EQ(sn::ntp_client(ntp).status, Status::found);
  ntp[0] = 0x24;
  EXPECT_EQ(sn::ntp_client(ntp).status, Status::not_this);
  // BitTorrent: a uTP SYN and a DHT query over UDP; the handshake over TCP.
  std::vector<std::uint8_t> utp(20, 0);
  utp[0] = 0x41;
  EXPECT_EQ(sn::bittorrent_datagram(utp).status, Status::found);
  EXPECT_EQ(sn::bittorrent_datagram(bytes_of("d1:ad2:id20:abcdefghij0123456789e1:q4:pinge")).status, Status::found);
  EXPECT_EQ(sn::bittorrent_datagram(bytes_of("hello there, not a torrent")).status, Status::not_this);
  EXPECT_EQ(sn::bittorrent_handshake(bytes_of("\x13" "BitTorrent protocol")).status, Status::found);
  EXPECT_EQ(sn::bittorrent_handshake(bytes_of("\x13" "BitTor")).status, Status::need_more);
  EXPECT_EQ(sn::bittorrent_handshake(bytes_of("GET /")).status, Status::not_this);
  // SSH and RDP over TCP, with their partial forms.
  EXPECT_EQ(sn::ssh_banner(bytes_of("SSH-2.0-OpenSSH_9.2\r\n")).status, Status::found);
  EXPECT_EQ(sn::ssh_banner(bytes_of("SS")).status, Status::need_more);
  EXPECT_EQ(sn::ssh_banner(bytes_of("GET")).status, Status::not_this);
  const std::vector<std::uint8_t> rdp{3, 0, 0, 19, 14, 0xe0, 0, 0, 0, 0, 0, 1, 0, 8, 0, 3, 0, 0, 0};
  EXPECT_EQ(sn::rdp_request(rdp).status, Status::found);
  EXPECT_EQ(sn::rdp_request(std::span(rdp).first(4)).status, Status::need_more);
  EXPECT_EQ(sn::rdp_request(bytes_of("\x16\x03\x01")).status, Status::not_this);
}

TEST(Sniff, TlsClientHelloSplitOverRecords) {
  // A minimal ClientHello with server_name "split.example", in two records.
  std::vector<std::uint8_t> body = {0x03, 0x03};
  body.insert(body.end(), 32, 0xAB);            // random
  body.push_back(0);                           // session id
  body.insert(body.end(), {0x00, 0x02, 0x13, 0x01});  // one cipher suite
  body.insert(body.end(), {0x01, 0x00});       // compression
  std::string name = "Split.Example";
  std::vector<std::uint8_t> sni = {0x00, 0x00};  // type server_name
  std::uint16_t list_len = static_cast<std::uint16_t>(name.size() + 3);
  std::uint16_t ext_len = static_cast<std::uint16_t>(list_len + 2);
  sni.insert(sni.end(), {static_cast<std::uint8_t>(ext_len >> 8), static_cast<std::uint8_t>(ext_len),
                         static_cast<std::uint8_t>(list_len >> 8), static_cast<std::uint8_t>(list_len), 0x00,
                         static_cast<std::uint8_t>(name.size() >> 8), static_cast<std::uint8_t>(name.size())});
  sni.insert(sni.end(), name.begin(), name.end());
  body.push_back(static_cast<std::uint8_t>(sni.size() >> 8));
  body.push_back(static_cast<std::uint8_t>(sni.size()));
  body.insert(body.end(), sni.begin(), sni.end());
  std::vector<std::uint8_t> hs = {0x01, 0x00, static_cast<std::uint8_t>(body.size() >> 8), static_cast<std::uint8_t>(body.size())};
  hs.insert(hs.end(), body.begin(), body.end());
  std::vector<std::uint8_t> wire;
  std::size_t half = hs.size() / 2;
  for (auto [from, to] : {std::pair{std::size_t{0}, half}, std::pair{half, hs.size()}}) {
    std::size_t n = to - from;
    wire.insert(wire.end(), {0x16, 0x03, 0x01, static_cast<std::uint8_t>(n >> 8), static_cast<std::uint8_t>(n)});
    wire.insert(wire.end(), hs.begin() + static_cast<std::ptrdiff_t>(from), hs.begin() + static_cast<std::ptrdiff_t>(to));
  }
  using inbound::sniff::Status;
  for (std::size_t cut = 0; cut < wire.size(); ++cut) {
    auto r = inbound::sniff::tls_client_hello(std::span(wire.data(), cut));
    ASSERT_EQ(r.status, Status::need_more) << cut;
  }
  auto r = inbound::sniff::tls_client_hello(wire);
  EXPECT_EQ(r.status, Status::found);
  EXPECT_EQ(r.domain, "split.example");
  EXPECT_EQ(inbound::sniff::tls_client_hello(bytes_of("GET / HTTP/1.1\r\n")).status, Status::not_this);
}

}  // namespace
}  // namespace anytls::route

// ---- process lookup ----------------------------------------------------------------

namespace anytls::route {
namespace {

TEST(Process, LoopbackClientIsThisProcess) {
  asio::io_context io;
  asio::ip::tcp::acceptor acceptor(io, asio::ip::tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
  asio::ip::tcp::socket client(io);
  client.connect(acceptor.local_endpoint());
  auto server = acceptor.accept();
  // What the proxy sees: the peer of its accepted socket.
  auto p = find_process(outbound::Network::tcp, server.remote_endpoint());
  ASSERT_TRUE(p.has_value());
  char self[4096];
  auto n = readlink("/proc/self/exe", self, sizeof(self) - 1);
  ASSERT_GT(n, 0);
  EXPECT_EQ(p->path, std::string(self, static_cast<std::size_t>(n)));
  EXPECT_EQ(p->name, "route_test");
  EXPECT_EQ(p->uid, getuid());
  // A rule on it.
  auto opts = config::load_string(R"({"outbounds":[{"type":"direct","tag":"d"}],
      "route":{"rules":[{"process_name":["route_test"],"outbound":"d"}]}})");
  RuleMatcher m(opts.route.rules[0], "route.rules[0]");
  EXPECT_TRUE(m.needs_process());
  outbound::Metadata md;
  md.source = server.remote_endpoint();
  EXPECT_FALSE(m.matches(md));  // not looked up: no match
  md.process = p;
  EXPECT_TRUE(m.matches(md));
  // Not local: never looked up.
  EXPECT_FALSE(find_process(outbound::Network::tcp,
                            asio::ip::tcp::endpoint(asio::ip::make_address("192.0.2.1"), 1234)));
}

}  // namespace
}  // namespace anytls::route
