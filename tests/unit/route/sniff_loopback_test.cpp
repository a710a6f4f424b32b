// Rule actions over real loopback traffic through the SOCKS inbound: a TLS
// connection made to an IP address is sniffed and routed by its SNI, an
// HTTP request by its Host (and override_destination rewrites the dial),
// reject with method drop leaves the client with no answer at all.
#include <gtest/gtest.h>

#include "config/load.hpp"
#include "inbound/socks.hpp"
#include "route/rule_router.hpp"
#include "route/rule_set_fetch.hpp"

#include <filesystem>
#include <unistd.h>
#include "support/run.hpp"
#include "support/tls_fixture.hpp"
#include "unit/inbound/loopback.hpp"
#include "unit/route/tag_outbound.hpp"

namespace anytls::route {
namespace {

using namespace anytls::test;
using Bytes = std::vector<std::uint8_t>;

struct Env {
  asio::io_context io;
  TagOutbound plain{"plain"};
  TagOutbound chosen{"chosen"};
  std::unique_ptr<RuleRouter> router;
  std::unique_ptr<inbound::SocksInbound> inbound;

  explicit Env(const std::string& rules) {
    auto opts = config::load_string(R"({"outbounds":[{"type":"block","tag":"plain"},{"type":"block","tag":"chosen"}],
      "route":{"rules":)" + rules + R"(,"final":"plain"}})");
    router = std::make_unique<RuleRouter>(opts.route, "plain", [this](std::string_view t) -> outbound::Outbound* {
      return t == "plain" ? &plain : t == "chosen" ? &chosen : nullptr;
    });
    inbound = std::make_unique<inbound::SocksInbound>(io, "socks-in", proxy_options(), *router);
    EXPECT_FALSE(inbound->start());
  }
  void run(asio::awaitable<void> body) {
    test::run(io, std::move(body), [this] { inbound->stop(); });
    EXPECT_EQ(inbound->live_connections(), 0u);
  }
};

Bytes connect_request(std::uint16_t port) {
  return {5, 1, 0, 1, 127, 0, 0, 1, static_cast<std::uint8_t>(port >> 8), static_cast<std::uint8_t>(port)};
}

// SOCKS5 greeting + CONNECT to an IPv4 literal; the reply code, -1 if none came.
asio::awaitable<int> socks5_connect(tcp::socket& s, std::uint16_t port) {
  Bytes greeting(3, 0);
  greeting[0] = 5;
  greeting[1] = 1;
  co_await send_bytes(s, std::move(greeting));
  auto method = co_await read_n(s, 2);
  if (method.size() != 2) co_return -1;
  Bytes req = connect_request(port);
  co_await send_bytes(s, std::move(req));
  auto reply = co_await read_n(s, 10);
  if (reply.size() != 10) co_return -1;
  co_return static_cast<unsigned char>(reply[1]);
}

const TlsContexts& no_verify() {
  static TlsContexts c = TlsContexts::make(Verify::none);
  return c;
}

// Accepts one connection and completes the server side of its handshake.
asio::awaitable<std::unique_ptr<tls::TlsConn>> accept_tls(tcp::acceptor& origin) {
  auto [ec, s] = co_await origin.async_accept(use_tuple);
  if (ec) co_return nullptr;
  auto conn = std::make_unique<tls::TlsConn>(std::move(s), no_verify().server.get(), tls::TlsConn::Role::server);
  auto hec = co_await conn->handshake();
  if (hec) co_return nullptr;
  co_return conn;
}

asio::awaitable<void> tls_by_sni(Env& e) {
  auto ex = co_await asio::this_coro::executor;
  tcp::acceptor origin(ex, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
  auto client = co_await connect_to(e.inbound->port());
  int rep = co_await socks5_connect(client, origin.local_endpoint().port());
  CO_ASSERT_TRUE(rep == 0);
  // A real TLS handshake through the proxy. The proxy dials only after the
  // ClientHello, so the origin accepts while the client handshakes.
  tls::TlsConn tls_client(std::move(client), no_verify().client.get(), tls::TlsConn::Role::client);
  tls_client.set_server_name("sni.example");
  using namespace asio::experimental::awaitable_operators;
  auto hc = tls_client.handshake();
  auto hs = accept_tls(origin);
  auto [cec, server] = co_await (std::move(hc) && std::move(hs));
  CO_ASSERT_TRUE(!cec && server);
  auto& tls_server = *server;
  std::string ping = "ping";
  auto wrote = co_await tls_client.write(asio::buffer(ping));
  CO_ASSERT_TRUE(!wrote);
  std::array<char, 4> got{};
  auto [rec, n] = co_await tls_server.read_some(asio::buffer(got));
  EXPECT_EQ(std::string(got.data(), n), "ping");
  tls_client.close();
  tls_server.close();
}

TEST(Sniff, TlsToAnIpIsRoutedBySni) {
  Env e(R"([{"action":"sniff","timeout":"5s"},{"domain":["sni.example"],"protocol":["tls"],"outbound":"chosen"}])");
  e.run(tls_by_sni(e));
  ASSERT_EQ(e.chosen.dialed.size(), 1u);
  EXPECT_TRUE(e.plain.dialed.empty());
  EXPECT_EQ(e.chosen.dialed[0].protocol, "tls");
  EXPECT_EQ(e.chosen.dialed[0].domain, "sni.example");
  EXPECT_EQ(e.chosen.dialed[0].destination.host, "127.0.0.1");  // no override_destination
}

asio::awaitable<void> http_by_host(Env& e, std::uint16_t http_port) {
  auto client = co_await connect_to(e.inbound->port());
  int rep = co_await socks5_connect(client, http_port);
  CO_ASSERT_TRUE(rep == 0);
  co_await send_all(client, "GET /x HTTP/1.1\r\nHost: web.example\r\nConnection: close\r\n\r\n");
  std::string pending;
  auto [head, body] = co_await read_response(client, pending);
  EXPECT_EQ(head.status, 200);
  EXPECT_EQ(body.rfind("GET /x host=web.example", 0), 0u) << body;
}

TEST(Sniff, HttpHostWithOverrideDestination) {
  Env e(R"([{"action":"sniff","sniffer":["http"],"override_destination":true,"timeout":"5s"},
            {"domain_suffix":["web.example"],"outbound":"chosen"}])");
  auto http = start_http(e.io);
  const auto port = http->acceptor.local_endpoint().port();
  test::run(e.io, http_by_host(e, port), [&] {
    e.inbound->stop();
    http->stop();
  });
  ASSERT_EQ(e.chosen.dialed.size(), 1u);
  EXPECT_TRUE(e.plain.dialed.empty());
  EXPECT_EQ(e.chosen.dialed[0].protocol, "http");
  EXPECT_EQ(e.chosen.dialed[0].destination.host, "web.example");  // dialed by name
  EXPECT_EQ(e.chosen.dialed[0].destination.port, port);
}

asio::awaitable<void> not_sniffed_body(Env& e) {
  // Bytes that are neither TLS nor HTTP: the sniff gives up at once, the
  // first bytes still reach the server (echo).
  test::TcpEchoServer echo(e.io);
  auto client = co_await connect_to(e.inbound->port());
  int rep = co_await socks5_connect(client, echo.port());
  CO_ASSERT_TRUE(rep == 0);
  co_await send_all(client, "\x01\x02hello");
  client.shutdown(tcp::socket::shutdown_send);
  auto back = co_await read_until_eof(client);
  EXPECT_EQ(back, std::string("\x01\x02hello"));
  echo.stop();
}

TEST(Sniff, UnknownProtocolLosesNoByte) {
  Env e(R"([{"action":"sniff","timeout":"5s"},{"protocol":["tls","http"],"outbound":"chosen"}])");
  e.run(not_sniffed_body(e));
  EXPECT_TRUE(e.chosen.dialed.empty());
  ASSERT_EQ(e.plain.dialed.size(), 1u);
  EXPECT_EQ(e.plain.dialed[0].protocol, "");
}

asio::awaitable<void> drop_body(Env& e) {
  // Default reject: an error reply (connection not allowed).
  auto first = co_await connect_to(e.inbound->port());
  int rep = co_await socks5_connect(first, 9);
  EXPECT_EQ(rep, 2);
  // Drop: after the method reply, nothing at all; the connection stays open
  // (what the client writes is swallowed) until the client gives up.
  auto client = co_await connect_to(e.inbound->port());
  Bytes greeting(3, 0);
  greeting[0] = 5;
  greeting[1] = 1;
  co_await send_bytes(client, std::move(greeting));
  auto method = co_await read_n(client, 2);
  CO_ASSERT_TRUE(method.size() == 2);
  Bytes req = connect_request(10);
  co_await send_bytes(client, std::move(req));
  co_await send_all(client, "anyone there?");
  using namespace asio::experimental::awaitable_operators;
  std::array<char, 16> buf;
  auto reading = client.async_read_some(asio::buffer(buf), use_tuple);
  auto waiting = net::sleep_for(std::chrono::milliseconds(300));
  auto r = co_await (std::move(reading) || std::move(waiting));
  EXPECT_EQ(r.index(), 1u) << "the dropped client got an answer";
  client.close();
  co_await until([&] { return e.inbound->live_connections() == 0; });
}

TEST(Reject, DropGivesASilentDrop) {
  Env e(R"([{"port":[9],"action":"reject"},{"port":[10],"action":"reject","method":"drop"}])");
  e.run(drop_body(e));
  EXPECT_TRUE(e.plain.dialed.empty());
  EXPECT_TRUE(e.chosen.dialed.empty());
}

Bytes connect_request_by_name(std::string_view name, std::uint16_t port) {
  std::string bytes("\x05\x01\x00\x03", 4);
  bytes += static_cast<char>(name.size());
  bytes += name;
  bytes += static_cast<char>(port >> 8);
  bytes += static_cast<char>(port & 0xFF);
  return Bytes(bytes.begin(), bytes.end());
}

asio::awaitable<void> resolve_body(Env& e) {
  test::TcpEchoServer echo(e.io);
  auto client = co_await connect_to(e.inbound->port());
  Bytes greeting(3, 0);
  greeting[0] = 5;
  greeting[1] = 1;
  co_await send_bytes(client, std::move(greeting));
  auto method = co_await read_n(client, 2);
  CO_ASSERT_TRUE(method.size() == 2);
  // CONNECT by name: the resolve action looks it up, ip_cidr sees the answer.
  Bytes req = connect_request_by_name("intranet.test", echo.port());
  co_await send_bytes(client, std::move(req));
  auto reply = co_await read_n(client, 10);
  CO_ASSERT_TRUE(reply.size() == 10 && reply[1] == 0);
  co_await send_all(client, "hi");
  auto back = co_await read_n(client, 2);
  EXPECT_EQ(back, "hi");
  echo.stop();
}

TEST(Resolve, AddressesFeedIpCidr) {
  Env e(R"([{"action":"resolve","strategy":"ipv4_only"},{"ip_cidr":["10.0.0.0/8"],"outbound":"chosen"}])");
  net::ResolverOptions ropts;
  ropts.lookup = [](const std::string& host) {
    net::LookupOutcome o;
    if (host == "intranet.test")
      o.addresses = {asio::ip::make_address("fd00::7"), asio::ip::make_address("10.1.2.3")};
    else
      o.code = asio::error::host_not_found;
    return o;
  };
  e.router->set_resolver(std::make_shared<net::Resolver>(ropts));
  e.run(resolve_body(e));
  ASSERT_EQ(e.chosen.dialed.size(), 1u);
  EXPECT_TRUE(e.plain.dialed.empty());
  ASSERT_EQ(e.chosen.dialed[0].destination_addresses.size(), 1u);  // ipv4_only
  EXPECT_EQ(e.chosen.dialed[0].destination_addresses[0].to_string(), "10.1.2.3");
  EXPECT_EQ(e.chosen.dialed[0].destination.host, "intranet.test");  // still dialed by name
}

// ---- remote rule sets ----------------------------------------------------------

asio::awaitable<void> remote_body(asio::io_context& io, RuleSetUpdater& updater, RuleSets& sets) {
  updater.start();
  co_await until([&] { return sets.find("remote")->size() > 0; });
  updater.stop();
  co_await updater.join();
  (void)io;
}

TEST(RemoteRuleSet, FetchedThroughAnOutboundCachedAndUsed) {
  asio::io_context io;
  test::HttpServer http(io, R"({"version": 2, "rules": [{"domain_suffix": ["remote.example"]}]})");
  const std::uint16_t http_port = http.port();
  const std::string dir = ::testing::TempDir() + "/remote-rule-set-" + std::to_string(::getpid());
  std::filesystem::remove_all(dir);
  auto opts = config::load_string(R"({"outbounds":[{"type":"block","tag":"plain"},{"type":"block","tag":"chosen"},
      {"type":"block","tag":"dl"}],
    "route":{"rule_set":[{"type":"remote","tag":"remote","format":"source","download_detour":"dl",
       "url":"http://127.0.0.1:)" + std::to_string(http_port) + R"(/rules.json"}],
     "rules":[{"rule_set":["remote"],"outbound":"chosen"}],"final":"plain"}})");
  TagOutbound plain("plain"), chosen("chosen"), dl("dl");
  auto lookup = [&](std::string_view t) -> outbound::Outbound* { return t == "chosen" ? &chosen : &plain; };
  auto sets = std::make_shared<RuleSets>(opts.route.rule_set, dir);
  EXPECT_EQ(sets->find("remote")->size(), 0u);  // nothing on disk yet
  RuleRouter router(opts.route, "plain", lookup, sets);
  RuleSetUpdater updater(io, sets, {{opts.route.rule_set[0], &dl}}, dir);
  test::run(io, remote_body(io, updater, *sets), [&] { http.stop(); });

  // Downloaded through the named outbound, from the local server.
  ASSERT_EQ(dl.dialed.size(), 1u);
  EXPECT_EQ(dl.dialed[0].destination.port, http_port);
  ASSERT_EQ(http.requests().size(), 1u);
  EXPECT_EQ(http.requests()[0].rfind("GET /rules.json HTTP/1.1\r\n", 0), 0u) << http.requests()[0];
  outbound::Metadata m;
  m.destination = net::Address{"www.remote.example", 443};
  EXPECT_EQ(router.decide(m).outbound, &chosen);
  m.destination = net::Address{"other.example", 443};
  EXPECT_EQ(router.decide(m).outbound, &plain);
  // Kept on disk: the next start (or a reload) has it before any download.
  RuleSets again(opts.route.rule_set, dir);
  EXPECT_EQ(again.find("remote")->size(), 1u);
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace anytls::route
