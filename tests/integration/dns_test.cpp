// The DNS module and the issue-14 inbound/outbound fields on loopback with
// real sockets and real TLS:
//   - a udp and a tcp DNS server with detour through the anytls outbound
//     resolve through the tunnel (the AnyTLS server counts the streams);
//   - tls (DoT) and https (DoH, legacy address form) servers on loopback,
//     certificate verified, directly and with detour through the tunnel;
//   - SOCKS5 UDP to port 53 and SOCKS5 CONNECT to port 53 are hijacked by a
//     hijack-dns rule and answered from a local DNS server;
//   - an http inbound with tls is a real HTTPS proxy;
//   - an anytls inbound without tls (plain TCP) serves an anytls client
//     whose detour carries the connection.
#include <gtest/gtest.h>

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/read.hpp>
#include <asio/steady_timer.hpp>
#include <asio/write.hpp>

#include "config/load.hpp"
#include "dns/client.hpp"
#include "dns/message.hpp"
#include "inbound/http.hpp"
#include "inbound/mixed.hpp"
#include "inbound/socks.hpp"
#include "inbound/socks_codec.hpp"
#include "integration/harness.hpp"
#include "net/coro.hpp"
#include "net/relay.hpp"
#include "net/tcp_conn.hpp"
#include "support/run.hpp"

namespace anytls::integ {
namespace {

using Bytes = std::vector<std::uint8_t>;
using asio::ip::tcp;
using asio::ip::udp;

// The reply to q with one address record for its question: ip, ttl seconds.
Bytes reply_with(const dns::Message& q, std::array<std::uint8_t, 4> ip, std::uint32_t ttl) {
  dns::Message r = dns::make_reply(q, dns::rcode::noerror);
  r.answers.push_back(dns::address_record(q.questions[0].name, ip, ttl));
  return *dns::encode(r);
}
constexpr std::array<std::uint8_t, 4> kTestAddress{198, 51, 100, 7};

// The next datagram on s, its sender in *from; nullopt once s is closed.
asio::awaitable<std::optional<Bytes>> next_datagram(udp::socket& s, udp::endpoint* from) {
  std::array<std::uint8_t, 4096> buf;
  auto [ec, n] = co_await s.async_receive_from(asio::buffer(buf), *from, net::use_tuple);
  if (ec) co_return std::nullopt;
  co_return Bytes(buf.begin(), buf.begin() + static_cast<std::ptrdiff_t>(n));
}

// A DNS server on 127.0.0.1 (UDP and TCP, the same port number): A queries
// get 198.51.100.7 (TTL 300), everything else an empty answer.
struct TestDnsServer {
  struct State {
    // The kernel picks the UDP port; the TCP port of the same number may be
    // taken by another test running in parallel: then another UDP port.
    explicit State(asio::io_context& io) : udp_socket(io), acceptor(io) {
      const auto lo = asio::ip::make_address("127.0.0.1");
      for (int attempt = 0;; ++attempt) {
        std::error_code ec;
        udp_socket = udp::socket(io, udp::endpoint(lo, 0));
        acceptor = tcp::acceptor(io);
        tcp::endpoint ep(lo, udp_socket.local_endpoint().port());
        acceptor.open(ep.protocol());
        acceptor.bind(ep, ec);
        if (!ec) {
          acceptor.listen();
          return;
        }
        if (attempt == 50) throw std::system_error(ec, "bind");
      }
    }
    udp::socket udp_socket;
    tcp::acceptor acceptor;
    std::vector<std::string> names;  // every question seen
    std::size_t udp_queries = 0, tcp_queries = 0;
  };
  std::shared_ptr<State> st;

  explicit TestDnsServer(asio::io_context& io) : st(std::make_shared<State>(io)) {
    asio::co_spawn(io, serve_udp(st), asio::detached);
    asio::co_spawn(io, serve_tcp(st), asio::detached);
  }
  std::uint16_t port() const { return st->udp_socket.local_endpoint().port(); }
  void stop() {
    std::error_code ec;
    st->udp_socket.close(ec);
    st->acceptor.close(ec);
  }

  static std::optional<Bytes> answer(State& s, const Bytes& query) {
    auto q = dns::parse(query);
    if (!q || q->questions.size() != 1) return std::nullopt;
    s.names.push_back(q->questions[0].name);
    if (q->questions[0].type == dns::type::a) return reply_with(*q, kTestAddress, 300);
    return dns::encode(dns::make_reply(*q, dns::rcode::noerror));
  }
  static asio::awaitable<void> serve_udp(std::shared_ptr<State> s) {
    for (;;) {
      udp::endpoint from;
      auto query = co_await next_datagram(s->udp_socket, &from);
      if (!query) co_return;
      ++s->udp_queries;
      auto a = answer(*s, *query);
      if (!a) continue;
      (void)co_await s->udp_socket.async_send_to(asio::buffer(*a), from, net::use_tuple);
    }
  }
  static asio::awaitable<void> serve_conn(std::shared_ptr<State> s, tcp::socket c) {
    for (;;) {
      std::array<std::uint8_t, 2> len;
      auto [ec, n] = co_await asio::async_read(c, asio::buffer(len), net::use_tuple);
      if (ec) co_return;
      Bytes q(static_cast<std::size_t>(len[0] << 8 | len[1]));
      auto [ec2, n2] = co_await asio::async_read(c, asio::buffer(q), net::use_tuple);
      if (ec2) co_return;
      ++s->tcp_queries;
      auto a = answer(*s, q);
      if (!a) co_return;
      Bytes framed{static_cast<std::uint8_t>(a->size() >> 8), static_cast<std::uint8_t>(a->size())};
      framed.insert(framed.end(), a->begin(), a->end());
      auto [ec3, n3] = co_await asio::async_write(c, asio::buffer(framed), net::use_tuple);
      if (ec3) co_return;
    }
  }
  static asio::awaitable<void> serve_tcp(std::shared_ptr<State> s) {
    for (;;) {
      auto [ec, c] = co_await s->acceptor.async_accept(net::use_tuple);
      if (ec) co_return;
      asio::co_spawn(s->acceptor.get_executor(), serve_conn(s, std::move(c)), asio::detached);
    }
  }
};

config::DnsOptions dns_options(const std::string& json) {
  auto o = config::load_string(R"({"dns": )" + json + R"(, "outbounds": [{"type": "direct", "tag": "proxy"}]})");
  return *o.dns;
}

// A DNS client on env's resolver; `proxy` (if any) is the outbound tagged "proxy".
dns::Client dns_client(Env* env, const config::DnsOptions& opts, outbound::Outbound* proxy = nullptr) {
  dns::Client::Deps deps;
  deps.resolver = env->resolver;
  if (proxy)
    deps.outbounds = [proxy](std::string_view tag) -> outbound::Outbound* { return tag == "proxy" ? proxy : nullptr; };
  return dns::Client(opts, std::move(deps));
}

// Looks `name` up on `server`: expects it to succeed with 198.51.100.7 (what
// the test servers answer) first; false when the lookup failed.
asio::awaitable<bool> resolves_to_test_address(dns::Client& client, std::string name, std::string server,
                                               config::DomainStrategy strategy = config::DomainStrategy::ipv4_only) {
  auto op = client.lookup(name, server, strategy);
  auto r = co_await std::move(op);
  EXPECT_TRUE(r.ok()) << name;
  if (!r.ok()) co_return false;
  EXPECT_EQ(r->at(0).to_string(), "198.51.100.7") << name;
  co_return true;
}

// ---------------------------------------------------------------- detour through the tunnel

asio::awaitable<void> detour_body(Env* env, outbound::AnyTlsOutbound* proxy, TestDnsServer* dns_server) {
  auto opts = dns_options(R"({"servers": [
      {"tag": "udp-remote", "type": "udp", "server": "127.0.0.1", "server_port": )" + std::to_string(dns_server->port()) +
                          R"(, "detour": "proxy"},
      {"tag": "tcp-remote", "type": "tcp", "server": "127.0.0.1", "server_port": )" + std::to_string(dns_server->port()) +
                          R"(, "detour": "proxy"}]})");
  dns::Client client = dns_client(env, opts, proxy);
  auto streams_before = env->server->stats().streams;
  bool viaudp = co_await resolves_to_test_address(client, "tunnel.test", "udp-remote");
  CO_ASSERT_TRUE(viaudp);
  bool viatcp = co_await resolves_to_test_address(client, "tcp.tunnel.test", "tcp-remote", config::DomainStrategy::as_is);
  CO_ASSERT_TRUE(viatcp);
  EXPECT_EQ(dns_server->st->udp_queries, 1u);
  EXPECT_EQ(dns_server->st->tcp_queries, 2u);  // A and AAAA
  // Every query was a stream of the AnyTLS session (UoT for UDP).
  EXPECT_GE(env->server->stats().streams, streams_before + 3);
  // A second lookup is answered from the cache.
  auto op3 = client.lookup("tunnel.test", "udp-remote", config::DomainStrategy::ipv4_only);
  auto again = co_await std::move(op3);
  EXPECT_TRUE(again.ok());
  EXPECT_EQ(dns_server->st->udp_queries, 1u);
  dns_server->stop();
}

TEST(DnsIntegration, ServerWithDetourResolvesThroughTheAnyTlsTunnel) {
  Env env;
  TestDnsServer dns_server(env.io);
  auto& proxy = env.start_client();
  run(env, detour_body(&env, &proxy, &dns_server), 20s);
}

// ---------------------------------------------------------------- forged UDP answers

// A UDP DNS server on 127.0.0.1 that answers 198.51.100.7 (TTL 300) only
// once `release` is set (at most 4 s later), and reports each query's
// source port and id.
struct SlowDnsServer {
  struct State {
    explicit State(asio::io_context& io) : socket(io, udp::endpoint(asio::ip::make_address("127.0.0.1"), 0)) {}
    udp::socket socket;
    std::vector<std::uint16_t> ports, ids;
    std::vector<Bytes> queries;
    bool release = false;
  };
  std::shared_ptr<State> st;
  explicit SlowDnsServer(asio::io_context& io) : st(std::make_shared<State>(io)) {
    asio::co_spawn(io, serve(st), asio::detached);
  }
  std::uint16_t port() const { return st->socket.local_endpoint().port(); }
  void stop() {
    std::error_code ec;
    st->socket.close(ec);
  }
  static asio::awaitable<void> serve(std::shared_ptr<State> s) {
    for (;;) {
      udp::endpoint from;
      auto query = co_await next_datagram(s->socket, &from);
      if (!query) co_return;
      const Bytes& q = *query;
      auto parsed = dns::parse(q);
      if (!parsed || parsed->questions.size() != 1) continue;
      s->ports.push_back(from.port());
      s->ids.push_back(parsed->id);
      s->queries.push_back(q);
      for (int waited = 0; !s->release && waited < 800; ++waited) {
        asio::steady_timer t(s->socket.get_executor(), 5ms);
        auto [tec] = co_await t.async_wait(net::use_tuple);
        (void)tec;
      }
      auto wire = reply_with(*parsed, kTestAddress, 300);
      (void)co_await s->socket.async_send_to(asio::buffer(wire), from, net::use_tuple);
    }
  }
};

// The forged answer to `query`: 203.0.113.66 for a day, with `id`.
Bytes forged_answer(const Bytes& query, std::uint16_t id) {
  auto wire = reply_with(*dns::parse(query), {203, 0, 113, 66}, 86400);
  dns::set_id(wire, id);
  return wire;
}

// An attacker on 127.0.0.2 (another host, as far as the client can tell)
// that learns the query's source port and id (the strongest off-path
// attacker: one whose guess was right) and sends the forged answer with
// that id first, then all 65,536 ids, to the client's port.
// Then lets the server answer.
asio::awaitable<void> spray(SlowDnsServer* server, udp::socket* attacker, std::size_t* sent) {
  std::function<bool()> asked = [server] { return !server->st->ports.empty(); };
  const bool seen = co_await eventually(asked, 5000ms, 1ms);
  CO_ASSERT_TRUE(seen);
  udp::endpoint victim(asio::ip::make_address("127.0.0.1"), server->st->ports.front());
  const Bytes query = server->st->queries.front();
  Bytes right = forged_answer(query, server->st->ids.front());
  (void)co_await attacker->async_send_to(asio::buffer(right), victim, net::use_tuple);
  ++*sent;
  Bytes any = forged_answer(query, 0);
  for (std::uint32_t id = 0; id <= 0xffff; ++id) {
    dns::set_id(any, static_cast<std::uint16_t>(id));
    auto [ec, n] = co_await attacker->async_send_to(asio::buffer(any), victim, net::use_tuple);
    (void)n;
    if (!ec) ++*sent;
  }
  server->st->release = true;
}

asio::awaitable<void> spoof_body(Env* env, SlowDnsServer* server, udp::socket* attacker) {
  auto opts = dns_options(R"({"servers": [{"tag": "slow", "type": "udp", "server": "127.0.0.1", "server_port": )" +
                          std::to_string(server->port()) + R"(}]})");
  dns::Client client = dns_client(env, opts);
  std::size_t sent = 0;
  auto ex = co_await asio::this_coro::executor;
  asio::co_spawn(ex, spray(server, attacker, &sent), asio::detached);
  auto op = client.lookup("victim.test", "slow", config::DomainStrategy::ipv4_only);
  auto got = co_await std::move(op);
  CO_ASSERT_TRUE(got.ok());
  EXPECT_GT(sent, 60000u);  // the spray went out before the real answer
  CO_ASSERT_TRUE(got->size() == 1u);
  EXPECT_EQ(got->at(0).to_string(), "198.51.100.7");
  // Nor was the forgery cached: the cached answer is the real one.
  bool again = co_await resolves_to_test_address(client, "victim.test", "slow");
  CO_ASSERT_TRUE(again);
  EXPECT_EQ(server->st->ports.size(), 1u);

  // Every query a socket of its own with a port the kernel picked at
  // random, and a random id: neither counts up.
  for (int i = 0; i < 8; ++i) {
    auto opn = client.lookup("n" + std::to_string(i) + ".test", "slow", config::DomainStrategy::ipv4_only);
    auto r = co_await std::move(opn);
    EXPECT_TRUE(r.ok());
  }
  const auto& ports = server->st->ports;
  const auto& ids = server->st->ids;
  CO_ASSERT_TRUE(ports.size() == 9u);
  int port_steps = 0, id_steps = 0;
  for (std::size_t i = 1; i < ports.size(); ++i) {
    port_steps += std::abs(int(ports[i]) - int(ports[i - 1])) <= 2;
    id_steps += std::abs(int(ids[i]) - int(ids[i - 1])) <= 2;
  }
  EXPECT_LT(port_steps, 3) << "source ports look sequential";
  EXPECT_LT(id_steps, 3) << "query ids look sequential";
  server->stop();
}

TEST(DnsIntegration, ForgedUdpAnswersFromAnotherAddressAreNeverTaken) {
  Env env;
  SlowDnsServer server(env.io);
  udp::socket attacker(env.io);
  std::error_code ec;
  attacker.open(udp::v4(), ec);
  attacker.bind(udp::endpoint(asio::ip::make_address("127.0.0.2"), 0), ec);
  if (ec) GTEST_SKIP() << "cannot bind 127.0.0.2: " << ec.message();
  run(env, spoof_body(&env, &server, &attacker), 20s);
}

// ---------------------------------------------------------------- hijack-dns through SOCKS5

struct HijackEnv {
  asio::io_context& io;
  std::shared_ptr<dns::Client> client;
  std::unique_ptr<route::RuleRouter> router;
  std::unique_ptr<inbound::SocksInbound> socks;
};

asio::awaitable<void> hijack_body(Env* env, HijackEnv* h, TestDnsServer* dns_server) {
  // SOCKS5 UDP ASSOCIATE.
  auto s = co_await tcp_connect(h->socks->port());
  Bytes hello{5, 1, 0};
  co_await asio::async_write(s, asio::buffer(hello), asio::use_awaitable);
  std::array<std::uint8_t, 2> method;
  co_await asio::async_read(s, asio::buffer(method), asio::use_awaitable);
  Bytes assoc{5, 3, 0};
  inbound::socks::append_address(assoc, net::Address{"0.0.0.0", 0});
  co_await asio::async_write(s, asio::buffer(assoc), asio::use_awaitable);
  std::array<std::uint8_t, 10> reply;
  co_await asio::async_read(s, asio::buffer(reply), asio::use_awaitable);
  CO_ASSERT_TRUE(reply[1] == 0 && reply[3] == 1);
  udp::endpoint relay(asio::ip::make_address("127.0.0.1"), static_cast<std::uint16_t>(reply[8] << 8 | reply[9]));

  // A DNS query to 127.0.0.1:53, where nothing listens: the rule hijacks it.
  udp::socket u(env->io, udp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
  Bytes d{0, 0, 0};
  inbound::socks::append_address(d, net::Address{"127.0.0.1", 53});
  auto q = *dns::encode(dns::make_query(0x5151, "hijacked.test", dns::type::a));
  d.insert(d.end(), q.begin(), q.end());
  co_await u.async_send_to(asio::buffer(d), relay, asio::use_awaitable);
  std::array<std::uint8_t, 2048> buf;
  udp::endpoint from;
  std::size_t n = co_await u.async_receive_from(asio::buffer(buf), from, asio::use_awaitable);
  auto head = inbound::socks::parse_socks5_udp_header(inbound::socks::Bytes(buf.data(), n));
  CO_ASSERT_TRUE(head.status == inbound::socks::Status::ok);
  EXPECT_EQ(head.value.destination, (net::Address{"127.0.0.1", 53}));
  auto answer = dns::parse(std::span<const std::uint8_t>(buf.data() + head.consumed, n - head.consumed));
  CO_ASSERT_TRUE(answer.has_value());
  EXPECT_EQ(answer->id, 0x5151);
  CO_ASSERT_TRUE(answer->answers.size() == 1u);
  EXPECT_EQ(answer->answers[0].data, (Bytes{198, 51, 100, 7}));
  EXPECT_EQ(dns_server->st->names, std::vector<std::string>{"hijacked.test"});

  // DNS over TCP: SOCKS5 CONNECT to port 53 is answered the same way.
  auto t = co_await tcp_connect(h->socks->port());
  co_await asio::async_write(t, asio::buffer(hello), asio::use_awaitable);
  co_await asio::async_read(t, asio::buffer(method), asio::use_awaitable);
  Bytes conn{5, 1, 0};
  inbound::socks::append_address(conn, net::Address{"127.0.0.1", 53});
  co_await asio::async_write(t, asio::buffer(conn), asio::use_awaitable);
  co_await asio::async_read(t, asio::buffer(reply), asio::use_awaitable);
  CO_ASSERT_TRUE(reply[1] == 0);
  auto tq = *dns::encode(dns::make_query(0x6262, "tcp.hijacked.test", dns::type::a));
  Bytes framed{static_cast<std::uint8_t>(tq.size() >> 8), static_cast<std::uint8_t>(tq.size())};
  framed.insert(framed.end(), tq.begin(), tq.end());
  co_await asio::async_write(t, asio::buffer(framed), asio::use_awaitable);
  std::array<std::uint8_t, 2> len;
  co_await asio::async_read(t, asio::buffer(len), asio::use_awaitable);
  Bytes body(static_cast<std::size_t>(len[0] << 8 | len[1]));
  co_await asio::async_read(t, asio::buffer(body), asio::use_awaitable);
  auto tanswer = dns::parse(body);
  CO_ASSERT_TRUE(tanswer.has_value());
  EXPECT_EQ(tanswer->id, 0x6262);
  EXPECT_EQ(tanswer->answers.at(0).data, (Bytes{198, 51, 100, 7}));
  EXPECT_EQ(dns_server->st->udp_queries, 2u);  // the module asked its udp server both times
  t.close();
  s.close();
  h->socks->stop();
  dns_server->stop();
}

// The queries of hijack_body, with `rules` as the route rules.
void hijack_test(const std::string& rules) {
  Env env;
  TestDnsServer dns_server(env.io);
  auto opts = config::load_string(R"({
      "dns": {"servers": [{"type": "udp", "server": "127.0.0.1", "server_port": )" +
                                  std::to_string(dns_server.port()) + R"(}]},
      "outbounds": [{"type": "direct", "tag": "direct"}],
      "route": {"rules": )" + rules + R"(, "final": "direct"}})");
  HijackEnv h{env.io, nullptr, nullptr, nullptr};
  dns::Client::Deps deps;
  deps.resolver = env.resolver;
  h.client = std::make_shared<dns::Client>(*opts.dns, std::move(deps));
  auto* direct = env.direct.get();
  h.router = std::make_unique<route::RuleRouter>(opts.route, "direct", [direct](std::string_view) -> outbound::Outbound* {
    return direct;
  });
  h.router->set_dns(h.client);
  config::MixedInboundOptions in;
  in.listen.listen = "127.0.0.1";
  h.socks = std::make_unique<inbound::SocksInbound>(env.io, "socks-in", in, *h.router);
  ASSERT_FALSE(h.socks->start());
  run(env, hijack_body(&env, &h, &dns_server), 20s);
}

TEST(DnsIntegration, Socks5QueriesToPort53AreHijacked) { hijack_test(R"([{"port": 53, "action": "hijack-dns"}])"); }

// The common sing-box client rules: the sniff action finds the DNS query
// (the UDP datagram; the TCP stream's length-prefixed message), and the
// protocol rule hijacks it.
TEST(DnsIntegration, SniffedDnsIsHijackedByProtocol) {
  hijack_test(R"([{"action": "sniff"}, {"protocol": "dns", "action": "hijack-dns"}])");
}

// ---------------------------------------------------------------- names with impossible bytes

struct NameEnv {
  std::unique_ptr<route::RuleRouter> router;
  std::unique_ptr<inbound::MixedInbound> mixed;
  tcp::acceptor target;  // 127.0.0.1: where "localhost" would lead
  outbound::AnyTlsOutbound* client = nullptr;
};

asio::awaitable<void> names_body(NameEnv* h) {
  using namespace std::string_literals;
  const auto port = h->target.local_endpoint().port();
  // 2130706433 is 127.0.0.1 to inet_aton (getaddrinfo), a name to the router.
  const int decimal = co_await socks5_connect_code(h->mixed->port(), "2130706433"s, port);
  EXPECT_NE(decimal, 0) << "CONNECT to 2130706433 was dialled";
  EXPECT_FALSE(accepted_any(&h->target)) << "2130706433 reached 127.0.0.1";
  const int nul = co_await socks5_connect_code(h->mixed->port(), "localhost\0.lan"s, port);
  EXPECT_NE(nul, 0) << "CONNECT to a name holding a NUL was dialled";
  // An AnyTLS stream's destination (the server parses SOCKS addresses of
  // any bytes): the .lan rule sees "localhost\0.lan", getaddrinfo would
  // see "localhost".
  outbound::Metadata md = tcp_to(port);
  md.destination.host = "localhost\0.lan"s;
  auto c = co_await h->client->dial(md);
  if (c) {
    auto ec = co_await write_all(**c, "x");
    (void)ec;
  }
  std::function<bool()> arrived = [h] { return accepted_any(&h->target); };
  const bool reached = co_await eventually(arrived, 1000ms, 10ms);
  EXPECT_FALSE(reached) << "a connection reached 127.0.0.1";
  if (c) (*c)->close();
  // The same inbound still dials a proper name.
  const int ok = co_await socks5_connect_code(h->mixed->port(), "localhost"s, port);
  EXPECT_EQ(ok, 0);
  h->mixed->stop();
  h->target.close();
}

TEST(DnsIntegration, NamesAResolverWouldReadAsAnotherAreRefusedNotDialled) {
  Env env;
  auto opts = config::load_string(R"({
      "outbounds": [{"type": "direct", "tag": "direct"}],
      "route": {"rules": [{"domain_suffix": "lan", "outbound": "direct"}], "final": "direct"}})");
  auto* direct = env.direct.get();
  NameEnv h{nullptr, nullptr, tcp::acceptor(env.io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0)), nullptr};
  auto lookup = [direct](std::string_view tag) -> outbound::Outbound* { return tag == "direct" ? direct : nullptr; };
  h.router = std::make_unique<route::RuleRouter>(opts.route, "direct", lookup);
  config::MixedInboundOptions in;
  in.listen.listen = "127.0.0.1";
  h.mixed = std::make_unique<inbound::MixedInbound>(env.io, "mixed-in", in, *h.router);
  ASSERT_FALSE(h.mixed->start());
  h.client = &env.make_client(client_options(env.server->port()));
  h.client->start();
  run(env, names_body(&h), 20s);
}

// ---------------------------------------------------------------- HTTPS proxy inbound

asio::awaitable<void> https_proxy_body(Env* env, inbound::HttpInbound* https) {
  auto conn = co_await tls_connect(env->raw_tls, https->port());
  std::string req = "CONNECT 127.0.0.1:" + std::to_string(env->echo.port()) + " HTTP/1.1\r\nHost: x\r\n\r\n";
  auto wec = co_await write_all(*conn, req);
  CO_ASSERT_TRUE(!wec);
  std::string established;
  const std::string expect = "HTTP/1.1 200 Connection established\r\n\r\n";
  auto rec = co_await read_exact(*conn, established, expect.size());
  CO_ASSERT_TRUE(!rec);
  EXPECT_EQ(established, expect);
  auto echoed = co_await echo_once(*conn, "through the https proxy");
  EXPECT_EQ(echoed, "through the https proxy");
  conn->close();
  https->stop();
}

// The test certificate (SAN 127.0.0.1) as an inbound's tls block.
config::InboundTlsOptions test_tls() {
  config::InboundTlsOptions t;
  t.enabled = true;
  t.certificate = test_pem().cert;
  t.key = test_pem().key;
  return t;
}

TEST(DnsIntegration, HttpInboundWithTlsIsAnHttpsProxy) {
  Env env;
  config::MixedInboundOptions in;
  in.listen.listen = "127.0.0.1";
  in.tls = test_tls();
  inbound::HttpInbound https(env.io, "https-in", in, *env.router);
  ASSERT_FALSE(https.start());
  run(env, https_proxy_body(&env, &https), 20s);
}


// ---------------------------------------------------------------- DoT and DoH on loopback

// A TLS listener on 127.0.0.1 (port 0) with the test certificate, for the
// loopback servers below: it handshakes each connection and hands it to
// Server::serve(server, conn).
template <class Server>
struct TlsListener {
  tcp::acceptor acceptor;
  std::shared_ptr<tls::ServerContext> ctx;

  TlsListener(asio::io_context& io, Server* server)
      : acceptor(io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0)),
        ctx(*tls::ServerContext::create(test_tls())) {
    asio::co_spawn(io, accept_loop(this, server), asio::detached);
  }
  std::uint16_t port() const { return acceptor.local_endpoint().port(); }

  static asio::awaitable<void> handshake_then_serve(TlsListener* l, Server* server, tcp::socket s) {
    auto c = l->ctx->current();
    tls::TlsConn conn(std::move(s), c.get(), tls::TlsConn::Role::server);
    std::error_code hs = co_await conn.handshake();
    if (hs) co_return;
    co_await Server::serve(server, conn);
  }
  static asio::awaitable<void> accept_loop(TlsListener* l, Server* server) {
    for (;;) {
      auto [ec, s] = co_await l->acceptor.async_accept(net::use_tuple);
      if (ec) co_return;
      asio::co_spawn(l->acceptor.get_executor(), handshake_then_serve(l, server, std::move(s)), asio::detached);
    }
  }
};

// A DNS-over-TLS and DNS-over-HTTPS server (the test certificate; answers
// from TestDnsServer::answer). `https` picks the protocol.
struct TlsDnsServer {
  TestDnsServer::State* state;
  bool https;
  std::vector<std::string> requests;  // DoH request heads
  TlsListener<TlsDnsServer> listener;

  TlsDnsServer(asio::io_context& io, TestDnsServer::State* st, bool doh) : state(st), https(doh), listener(io, this) {}
  std::uint16_t port() const { return listener.port(); }

  static asio::awaitable<void> serve(TlsDnsServer* f, tls::TlsConn& conn) {
    if (!f->https) {
      std::string len;
      auto e1 = co_await read_exact(conn, len, 2);
      if (e1) co_return;
      std::string q;
      auto e2 = co_await read_exact(conn, q, static_cast<std::size_t>(static_cast<unsigned char>(len[0]) << 8 | static_cast<unsigned char>(len[1])));
      if (e2) co_return;
      ++f->state->tcp_queries;
      auto a = TestDnsServer::answer(*f->state, Bytes(q.begin(), q.end()));
      if (!a) co_return;
      std::string out{static_cast<char>(a->size() >> 8), static_cast<char>(a->size())};
      out.append(a->begin(), a->end());
      (void)co_await write_all(conn, out);
      co_return;
    }
    // DoH: the head, then Content-Length bytes of body.
    std::string req;
    std::array<char, 4096> buf;
    std::size_t head_end = std::string::npos;
    while ((head_end = req.find("\r\n\r\n")) == std::string::npos) {
      auto [ec, n] = co_await conn.read_some(asio::buffer(buf));
      if (ec) co_return;
      req.append(buf.data(), n);
    }
    auto cl = req.find("Content-Length: ");
    if (cl == std::string::npos) co_return;
    std::size_t body_len = std::stoul(req.substr(cl + 16));
    std::string body = req.substr(head_end + 4);
    if (body.size() < body_len) {
      std::string rest;
      auto e = co_await read_exact(conn, rest, body_len - body.size());
      if (e) co_return;
      body += rest;
    }
    f->requests.push_back(req.substr(0, head_end));
    ++f->state->tcp_queries;
    auto a = TestDnsServer::answer(*f->state, Bytes(body.begin(), body.end()));
    if (!a) co_return;
    std::string resp = "HTTP/1.1 200 OK\r\nContent-Type: application/dns-message\r\nContent-Length: " +
                       std::to_string(a->size()) + "\r\n\r\n";
    resp.append(a->begin(), a->end());
    (void)co_await write_all(conn, resp);
  }
};

asio::awaitable<void> dot_doh_body(Env* env, TlsDnsServer* dot, TlsDnsServer* doh, TestDnsServer* plain,
                                   outbound::AnyTlsOutbound* proxy) {
  auto opts = dns_options(R"({"servers": [
      {"tag": "dot", "type": "tls", "server": "127.0.0.1", "server_port": )" + std::to_string(dot->port()) + R"(},
      {"tag": "doh", "address": "https://127.0.0.1:)" + std::to_string(doh->port()) + R"(/custom-path"},
      {"tag": "dot-tunnel", "type": "tls", "server": "127.0.0.1", "server_port": )" + std::to_string(dot->port()) +
                          R"(, "detour": "proxy"},
      {"tag": "doh-tunnel", "type": "https", "server": "127.0.0.1", "server_port": )" + std::to_string(doh->port()) +
                          R"(, "detour": "proxy"}]})");
  for (auto& sv : opts.servers) sv.tls.certificate = test_pem().cert;  // verified, not insecure
  dns::Client client = dns_client(env, opts, proxy);
  bool a = co_await resolves_to_test_address(client, "dot.test", "dot");
  CO_ASSERT_TRUE(a);
  bool b = co_await resolves_to_test_address(client, "doh.test", "doh");
  CO_ASSERT_TRUE(b);
  CO_ASSERT_TRUE(doh->requests.size() == 1u);
  EXPECT_EQ(doh->requests[0].rfind("POST /custom-path HTTP/1.1\r\n", 0), 0u) << doh->requests[0];
  EXPECT_EQ(plain->st->names, (std::vector<std::string>{"dot.test", "doh.test"}));
  // The same through the anytls tunnel: TLS over a stream of its session.
  auto streams_before = env->server->stats().streams;
  bool c = co_await resolves_to_test_address(client, "dot.tunnel.test", "dot-tunnel");
  CO_ASSERT_TRUE(c);
  bool d = co_await resolves_to_test_address(client, "doh.tunnel.test", "doh-tunnel");
  CO_ASSERT_TRUE(d);
  EXPECT_EQ(env->server->stats().streams, streams_before + 2);
  EXPECT_EQ(doh->requests.size(), 2u);
  std::error_code ec;
  dot->listener.acceptor.close(ec);
  doh->listener.acceptor.close(ec);
  plain->stop();
}

TEST(DnsIntegration, TlsAndHttpsServersDirectAndThroughTheTunnel) {
  Env env;
  TestDnsServer plain(env.io);
  TlsDnsServer dot(env.io, plain.st.get(), false);
  TlsDnsServer doh(env.io, plain.st.get(), true);
  auto& proxy = env.start_client();
  run(env, dot_doh_body(&env, &dot, &doh, &plain, &proxy), 20s);
}

// ---------------------------------------------------------------- anytls detour, plain anytls inbound

asio::awaitable<void> chain_body(Env* env, outbound::AnyTlsOutbound* hop, outbound::AnyTlsOutbound* inner) {
  auto problem = co_await dial_echo(inner, env->echo.port(), pattern(50'000, 3));
  EXPECT_EQ(problem, "");
  // Two sessions reached the server: the hop's, and the inner one whose TLS
  // ran inside a stream of the hop's session.
  EXPECT_GE(env->server->stats().authenticated, 2u);
  EXPECT_GE(hop->stats().sessions_created, 1u);
  EXPECT_GE(inner->stats().sessions_created, 1u);
}

TEST(AnyTlsFields, OutboundDetourCarriesTlsOverTheDetourStream) {
  Env env;
  auto& hop = env.make_client(client_options(env.server->port()));
  auto inner_opts = client_options(env.server->port());
  inner_opts.dial.detour = "hop";
  auto& inner = env.make_client(inner_opts);
  inner.set_detour(&hop);
  hop.start();
  inner.start();
  run(env, chain_body(&env, &hop, &inner), 20s);
}

// A TLS front: terminates TLS with the test certificate and relays the
// plaintext to `target` (the setup an anytls inbound without tls sits in).
struct TlsFront {
  std::uint16_t target;
  std::size_t relayed = 0;
  TlsListener<TlsFront> listener;

  TlsFront(asio::io_context& io, std::uint16_t target_port) : target(target_port), listener(io, this) {}
  std::uint16_t port() const { return listener.port(); }

  static asio::awaitable<void> serve(TlsFront* f, tls::TlsConn& front) {
    auto back_socket = co_await tcp_connect(f->target);
    net::TcpConn back(std::move(back_socket));
    ++f->relayed;
    (void)co_await net::relay(front, back);
  }
};

asio::awaitable<void> plain_body(Env* env, TlsFront* front, outbound::AnyTlsOutbound* client) {
  auto problem = co_await dial_echo(client, env->echo.port(), "behind a TLS front");
  EXPECT_EQ(problem, "");
  EXPECT_GE(front->relayed, 1u);
  EXPECT_GE(env->server->stats().authenticated, 1u);
  EXPECT_EQ(env->server->stats().handshakes, 0u);  // no TLS on the anytls inbound itself
  std::error_code ec;
  front->listener.acceptor.close(ec);
}

TEST(AnyTlsFields, InboundWithoutTlsBehindATlsFront) {
  auto plain = server_options();
  plain.tls = config::InboundTlsOptions{};
  Env env(plain);
  TlsFront front(env.io, env.server->port());
  auto& client = env.make_client(client_options(front.port()));
  client.start();
  run(env, plain_body(&env, &front, &client), 20s);
}

}  // namespace
}  // namespace anytls::integ
