// fakeip end to end: the DNS module hands out fake addresses, a SOCKS
// CONNECT to one is routed and dialled by the name it stands for, and a
// fake address the table does not hold is refused, never dialled.
#include <gtest/gtest.h>

#include "config/load.hpp"
#include "dns/client.hpp"
#include "dns/message.hpp"
#include "inbound/mixed.hpp"
#include "integration/harness.hpp"
#include "outbound/block.hpp"
#include "route/rule_router.hpp"

namespace anytls::integ {
namespace {

using Bytes = std::vector<std::uint8_t>;

struct FakeIpEnv {
  std::shared_ptr<dns::Client> dns;
  std::unique_ptr<outbound::BlockOutbound> block;
  std::unique_ptr<route::RuleRouter> router;
  std::unique_ptr<inbound::MixedInbound> mixed;
  asio::ip::tcp::acceptor target;  // 127.0.0.1: where "localhost" leads
};

// The addresses of an A or AAAA answer, as text.
std::vector<std::string> answer_addresses(const Bytes& wire, std::uint32_t* ttl) {
  std::vector<std::string> out;
  auto m = dns::parse(wire);
  if (!m) return out;
  for (const auto& r : m->answers) {
    *ttl = r.ttl;
    if (r.type == dns::type::a && r.data.size() == 4) {
      asio::ip::address_v4::bytes_type b;
      std::copy(r.data.begin(), r.data.end(), b.begin());
      out.push_back(asio::ip::address_v4(b).to_string());
    } else if (r.type == dns::type::aaaa && r.data.size() == 16) {
      asio::ip::address_v6::bytes_type b;
      std::copy(r.data.begin(), r.data.end(), b.begin());
      out.push_back(asio::ip::address_v6(b).to_string());
    }
  }
  return out;
}

asio::awaitable<std::vector<std::string>> ask(dns::Client* client, std::string name, std::uint16_t type,
                                              std::uint32_t* ttl) {
  Bytes q = *dns::encode(dns::make_query(7, name, type));
  outbound::Metadata md;
  md.inbound = "mixed-in";
  auto op = client->exchange(q, md);
  auto r = co_await std::move(op);
  if (!r || !*r) co_return std::vector<std::string>{};
  co_return answer_addresses(**r, ttl);
}

asio::awaitable<void> fakeip_body(FakeIpEnv* h) {
  using namespace std::string_literals;
  const auto port = h->target.local_endpoint().port();
  std::uint32_t ttl = 0;
  // Handed out in order from the range's base + 2; a name asked again keeps its address.
  auto v4 = co_await ask(h->dns.get(), "localhost"s, dns::type::a, &ttl);
  EXPECT_EQ(v4, std::vector<std::string>{"198.18.0.2"});
  EXPECT_EQ(ttl, 600u);
  auto other = co_await ask(h->dns.get(), "other.test"s, dns::type::a, &ttl);
  EXPECT_EQ(other, std::vector<std::string>{"198.18.0.3"});
  auto again = co_await ask(h->dns.get(), "LOCALHOST"s, dns::type::a, &ttl);
  EXPECT_EQ(again, std::vector<std::string>{"198.18.0.2"});
  auto v6 = co_await ask(h->dns.get(), "localhost"s, dns::type::aaaa, &ttl);
  EXPECT_EQ(v6, std::vector<std::string>{"fc00::2"});

  // By name: the route's domain rule sends it to direct (final is block),
  // and direct dials localhost.
  const int ok = co_await socks5_connect_code(h->mixed->port(), "198.18.0.2"s, port);
  EXPECT_EQ(ok, 0);
  std::function<bool()> arrived = [h] { return accepted_any(&h->target); };
  EXPECT_TRUE(co_await eventually(arrived, 2000ms, 10ms)) << "the fake address did not reach localhost";
  const int ok6 = co_await socks5_connect_code(h->mixed->port(), "fc00::2"s, port);
  EXPECT_EQ(ok6, 0);
  EXPECT_TRUE(co_await eventually(arrived, 2000ms, 10ms)) << "the fake IPv6 address did not reach localhost";

  // Not in the table: refused, nothing dialled.
  const int missing = co_await socks5_connect_code(h->mixed->port(), "198.18.0.77"s, port);
  EXPECT_NE(missing, 0);
  // After a flush (the Clash API's /cache/fakeip/flush) nothing is held.
  h->dns->reset_fakeip();
  const int flushed = co_await socks5_connect_code(h->mixed->port(), "198.18.0.2"s, port);
  EXPECT_NE(flushed, 0);
  EXPECT_FALSE(accepted_any(&h->target)) << "a fake address the table does not hold was dialled";
  h->mixed->stop();
  h->target.close();
}

TEST(FakeIp, ConnectionsToAFakeAddressGoByName) {
  Env env;
  auto opts = config::load_string(R"({
      "dns": {"servers": [{"type": "local", "tag": "local"},
                          {"type": "fakeip", "tag": "fake", "inet4_range": "198.18.0.0/15", "inet6_range": "fc00::/18"}],
              "rules": [{"query_type": ["A", "AAAA"], "server": "fake"}], "final": "local"},
      "outbounds": [{"type": "direct", "tag": "direct"}, {"type": "block", "tag": "block"}],
      "route": {"rules": [{"domain": "localhost", "outbound": "direct"}], "final": "block"}})");
  FakeIpEnv h{nullptr, nullptr, nullptr, nullptr, asio::ip::tcp::acceptor(env.io)};
  dns::Client::Deps deps;
  deps.resolver = env.resolver;
  h.dns = std::make_shared<dns::Client>(*opts.dns, std::move(deps));
  h.block = std::make_unique<outbound::BlockOutbound>("block");
  auto* direct = env.direct.get();
  auto* block = h.block.get();
  h.router = std::make_unique<route::RuleRouter>(opts.route, "direct",
                                                 [direct, block](std::string_view tag) -> outbound::Outbound* {
                                                   return tag == "block" ? static_cast<outbound::Outbound*>(block)
                                                                         : direct;
                                                 });
  h.router->set_dns(h.dns);
  config::MixedInboundOptions in;
  in.listen.listen = "127.0.0.1";
  h.mixed = std::make_unique<inbound::MixedInbound>(env.io, "mixed-in", in, *h.router);
  ASSERT_FALSE(h.mixed->start());
  h.target.open(asio::ip::tcp::v4());
  h.target.bind({asio::ip::make_address("127.0.0.1"), 0});
  h.target.listen();
  run(env, fakeip_body(&h), 20s);
}

TEST(FakeIp, ConfigForms) {
  // The legacy form: "address": "fakeip" with the dns.fakeip block.
  auto legacy = config::load_string(R"({"dns": {"servers": [{"tag": "l", "address": "local"}, {"tag": "f", "address": "fakeip"}],
                                                "fakeip": {"enabled": true, "inet4_range": "198.18.0.0/15"}}})");
  ASSERT_EQ(legacy.dns->servers.size(), 2u);
  EXPECT_EQ(legacy.dns->servers[1].type, "fakeip");
  EXPECT_EQ(legacy.dns->servers[1].inet4_range, "198.18.0.0/15");
  EXPECT_EQ(legacy.dns->servers[1].inet6_range, "");
  auto error_of = [](const std::string& json) -> std::string {
    try {
      auto o = config::load_string(json);
      if (o.dns) dns::Client c(*o.dns, dns::Client::Deps{});
    } catch (const std::exception& e) {
      return e.what();
    }
    return "";
  };
  EXPECT_NE(error_of(R"({"dns": {"servers": [{"address": "fakeip"}]}})").find("dns.servers[0].address"), std::string::npos);
  EXPECT_NE(error_of(R"({"dns": {"servers": [{"type": "fakeip", "inet4_range": "fc00::/18"}]}})")
                .find("dns.servers[0].inet4_range: expected an IPv4 prefix"),
            std::string::npos);
  EXPECT_NE(error_of(R"({"dns": {"servers": [{"type": "fakeip", "inet4_range": "10.0.0.0/31"}]}})").find("too small"),
            std::string::npos);
  EXPECT_NE(error_of(R"({"dns": {"servers": [{"type": "fakeip"}]}})").find("missing required field"), std::string::npos);
  // A fakeip final server would hand fake addresses to the dialers.
  EXPECT_NE(error_of(R"({"dns": {"servers": [{"type": "fakeip", "inet4_range": "198.18.0.0/15"}]}})")
                .find("the default DNS server cannot be fakeip"),
            std::string::npos);
}

}  // namespace
}  // namespace anytls::integ
