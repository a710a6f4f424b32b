// Worker threads (net/workers.hpp) end to end, real time, real TLS on
// 127.0.0.1: a client box (mixed inbound -> anytls outbound) and a server
// box (anytls inbound -> direct), each on two workers, built by
// app::Components as `anytls run` builds them. Also run under TSan (the
// README's test command): every object that two workers touch is checked
// there.
//   - inbounds run one shard per worker on the same port;
//   - the anytls pool stays one pool: ensure_idle_session counts sessions of
//     the process, spread over the workers;
//   - a stream that takes an idle session of another worker works through
//     a hop per operation, and the session goes back to the pool after it;
//   - many proxied connections at once echo their bytes intact;
//   - per-user limits count the sessions of every shard together;
//   - stop + join end everything on every worker;
//   - a port another box already listens on is refused (as sing-box refuses
//     it), though the shards of one box share theirs, and a reload that
//     replaces an inbound on its own address listens again.
#include <gtest/gtest.h>

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/read.hpp>
#include <asio/write.hpp>
#include <fmt/format.h>

#include "app/reload.hpp"
#include "harness.hpp"
#include "support/run.hpp"
#include "inbound/anytls_server.hpp"
#include "inbound/mixed.hpp"
#include "inbound/sharded.hpp"
#include "net/coro.hpp"
#include "net/workers.hpp"
#include "outbound/anytls.hpp"

namespace anytls::integ {
namespace {

using asio::ip::tcp;

config::Options server_config() {
  config::Options o;
  config::InboundOptions in;
  in.type = "anytls";
  in.tag = "anytls-in";
  in.options = server_options();
  o.inbounds.push_back(in);
  o.outbounds.push_back(direct_outbound("direct"));
  return o;
}

config::Options client_config(std::uint16_t server_port, int ensure_idle) {
  config::Options o;
  o.inbounds.push_back(mixed_inbound("mixed-in"));
  config::OutboundOptions out;
  out.type = "anytls";
  out.tag = "proxy";
  auto a = client_options(server_port);
  a.ensure_idle_session = ensure_idle;
  out.options = a;
  o.outbounds.push_back(out);
  return o;
}

std::uint16_t port_of(const inbound::Inbound* in) {
  if (auto* s = dynamic_cast<const inbound::ShardedInbound*>(in)) return s->port();
  return 0;
}

// SOCKS5 CONNECT to 127.0.0.1:port through the mixed inbound at `proxy`.
asio::awaitable<tcp::socket> socks_connect(std::uint16_t proxy, std::uint16_t port) {
  auto s = co_await tcp_connect(proxy);
  std::uint8_t hello[] = {5, 1, 0};
  co_await asio::async_write(s, asio::buffer(hello), asio::use_awaitable);
  std::uint8_t choice[2];
  co_await asio::async_read(s, asio::buffer(choice), asio::use_awaitable);
  std::uint8_t req[] = {5, 1, 0, 1, 127, 0, 0, 1, static_cast<std::uint8_t>(port >> 8),
                        static_cast<std::uint8_t>(port & 0xff)};
  co_await asio::async_write(s, asio::buffer(req), asio::use_awaitable);
  std::uint8_t rep[10];
  co_await asio::async_read(s, asio::buffer(rep), asio::use_awaitable);
  if (choice[1] != 0 || rep[1] != 0) throw std::runtime_error("socks5 refused");
  co_return s;
}

// Echo through the proxy; "" when the bytes came back intact.
asio::awaitable<std::string> echo_through(std::uint16_t proxy, std::uint16_t port, std::size_t n, unsigned seed) {
  try {
    auto s = co_await socks_connect(proxy, port);
    auto data = pattern(n, seed);
    co_await asio::async_write(s, asio::buffer(data), asio::use_awaitable);
    std::string back(n, '\0');
    co_await asio::async_read(s, asio::buffer(back), asio::use_awaitable);
    co_return back == data ? std::string() : "bytes differ";
  } catch (const std::exception& e) {
    co_return std::string("error: ") + e.what();
  }
}

std::size_t idle_of(const outbound::AnyTlsOutbound& a) {
  std::size_t n = 0;
  a.inspect_policy([&](const outbound::PoolPolicy& p) { n = p.idle_count(); });
  return n;
}

// Two boxes on two workers each, sharing the threads (as two processes
// would have their own; here one set of workers carries both).
struct Boxes {
  asio::io_context io{1};
  net::Workers workers{io, 2};
  std::shared_ptr<net::Resolver> resolver = std::make_shared<net::Resolver>();
  app::Components server{io, resolver, &workers};
  app::Components client{io, resolver, &workers};
  TcpEchoServer echo{io};

  Boxes() { workers.start(); }
  ~Boxes() {
    server.stop();
    client.stop();
    resolver->stop();
    workers.stop();
  }
  outbound::AnyTlsOutbound& proxy() { return *dynamic_cast<outbound::AnyTlsOutbound*>(client.outbound("proxy")); }
  std::uint16_t mixed_port() { return port_of(client.inbound("mixed-in")); }
};

// Runs body on the boxes' worker 0, then stops and joins every component.
void run_boxes(Boxes& b, asio::awaitable<void> body) {
  bool done = false;
  auto main = [](Boxes* b, asio::awaitable<void> body, bool* done) -> asio::awaitable<void> {
    co_await std::move(body);
    b->client.stop();
    b->server.stop();
    co_await b->client.join();
    co_await b->server.join();
    b->echo.stop();
    *done = true;
    b->io.stop();
  };
  asio::co_spawn(b.io, main(&b, std::move(body), &done), [](std::exception_ptr e) {
    if (e) std::rethrow_exception(e);
  });
  b.io.run_for(std::chrono::seconds(30));
  EXPECT_TRUE(done) << "the test body or the shutdown hung";
}

TEST(Workers, InboundsShardOnOnePortAndThePoolStaysGlobal) {
  Boxes b;
  ASSERT_FALSE(b.server.start(server_config()));
  auto sport = port_of(b.server.inbound("anytls-in"));
  ASSERT_NE(sport, 0);
  ASSERT_FALSE(b.client.start(client_config(sport, 4)));
  auto* sharded = dynamic_cast<inbound::ShardedInbound*>(b.client.inbound("mixed-in"));
  ASSERT_NE(sharded, nullptr);
  EXPECT_EQ(sharded->size(), 2u);
  EXPECT_EQ(dynamic_cast<inbound::ProxyInbound&>(sharded->shard(1)).port(), sharded->port());

  run_boxes(b, [](Boxes* b) -> asio::awaitable<void> {
    auto& proxy = b->proxy();
    // ensure_idle_session: 4 sessions for the process, not 4 per worker.
    bool warm = co_await eventually([&] { return idle_of(proxy) == 4; }, 5000ms, 5ms);
    EXPECT_TRUE(warm);
    EXPECT_EQ(proxy.stats().sessions_created, 4u);

    // 24 connections at once, 64 KiB each way; the kernel spreads them over
    // both shards, which take sessions of the global pool.
    constexpr int kConns = 24;
    auto results = std::make_shared<std::vector<std::string>>(kConns, "pending");
    auto left = std::make_shared<int>(kConns);
    for (int i = 0; i < kConns; ++i) {
      asio::co_spawn(
          b->io,
          [](std::shared_ptr<std::vector<std::string>> r, std::shared_ptr<int> left, int i, std::uint16_t proxy,
             std::uint16_t port) -> asio::awaitable<void> {
            (*r)[i] = co_await echo_through(proxy, port, 64 * 1024, static_cast<unsigned>(i));
            --*left;
          }(results, left, i, b->mixed_port(), b->echo.port()),
          asio::detached);
    }
    bool all = co_await eventually([&] { return *left == 0; }, 20000ms, 5ms);
    EXPECT_TRUE(all);
    for (int i = 0; i < kConns; ++i) EXPECT_EQ((*results)[i], "") << "connection " << i;
    EXPECT_GE(proxy.stats().streams, static_cast<std::uint64_t>(kConns));
  }(&b));
}

// A stream on worker 1 when the pool's only idle session lives on worker 0.
asio::awaitable<std::string> dial_from_worker(outbound::AnyTlsOutbound* proxy, std::uint16_t port) {
  auto conn = co_await proxy->dial(tcp_to(port));
  if (!conn) co_return "dial: " + conn.error().text();
  auto got = co_await echo_once(**conn, pattern(100 * 1024, 7));
  if (got != pattern(100 * 1024, 7)) co_return "echo: " + got.substr(0, 80);
  // Then as a relay writes (leases framed in place on the session's worker).
  got = co_await echo_spent(**conn, pattern(1024 * 1024, 8));
  (*conn)->close();
  co_return got == pattern(1024 * 1024, 8) ? std::string() : "spent echo: " + got.substr(0, 80);
}

TEST(Workers, AStreamTakesAnIdleSessionOfAnotherWorker) {
  Boxes b;
  ASSERT_FALSE(b.server.start(server_config()));
  ASSERT_FALSE(b.client.start(client_config(port_of(b.server.inbound("anytls-in")), 1)));
  run_boxes(b, [](Boxes* b) -> asio::awaitable<void> {
    auto& proxy = b->proxy();
    bool warm = co_await eventually([&] { return idle_of(proxy) == 1; }, 5000ms, 5ms);
    CO_ASSERT_TRUE(warm);
    // The first pre-warmed session went to worker 0 (round robin from 0);
    // ask from worker 1.
    auto op = dial_from_worker(&proxy, b->echo.port());
    auto problem = co_await net::run_on(b->workers.at(1).get_executor(), std::move(op));
    EXPECT_EQ(problem, "");
    auto st = proxy.stats();
    EXPECT_EQ(st.sessions_created, 1u) << "the idle session of worker 0 was used, none dialled";
    EXPECT_EQ(st.cross_worker_streams, 1u);
    // Back in the pool once the stream ended (its close reached worker 0).
    bool back = co_await eventually([&] { return idle_of(proxy) == 1; }, 5000ms, 5ms);
    EXPECT_TRUE(back);
  }(&b));
}

// Live sessions of every shard of the server, each read on its own worker.
asio::awaitable<std::size_t> live_here(inbound::AnyTlsServer* s) { co_return s->live_sessions(); }

asio::awaitable<std::size_t> server_sessions(Boxes* b) {
  auto& sharded = dynamic_cast<inbound::ShardedInbound&>(*b->server.inbound("anytls-in"));
  std::size_t n = 0;
  for (std::size_t k = 0; k < sharded.size(); ++k) {
    auto* shard = &dynamic_cast<inbound::AnyTlsServer&>(sharded.shard(k));
    auto op = live_here(shard);
    n += co_await net::run_on(b->workers.at(k).get_executor(), std::move(op));
  }
  co_return n;
}

TEST(Workers, PerUserLimitsCountEveryShard) {
  Boxes b;
  auto server = server_config();
  std::get<config::AnyTlsInboundOptions>(server.inbounds[0].options).max_sessions_per_user = 2;
  ASSERT_FALSE(b.server.start(server));
  // Six pre-warmed sessions wanted; connections land on both shards.
  ASSERT_FALSE(b.client.start(client_config(port_of(b.server.inbound("anytls-in")), 6)));
  run_boxes(b, [](Boxes* b) -> asio::awaitable<void> {
    std::size_t most = 0;
    auto until = std::chrono::steady_clock::now() + 1500ms;
    while (std::chrono::steady_clock::now() < until) {
      const std::size_t now = co_await server_sessions(b);
      most = std::max(most, now);
      co_await net::sleep_for(10ms);
    }
    EXPECT_EQ(most, 2u) << "the limit is per user for the whole inbound, not per worker";
    const std::size_t settled = co_await server_sessions(b);
    EXPECT_EQ(settled, 2u);
  }(&b));
}

// A port nobody listens on now, for a config that names its port.
std::uint16_t free_port() {
  asio::io_context io;
  tcp::acceptor a(io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
  return a.local_endpoint().port();
}

bool in_use(const std::string& message) { return message.find("already in use") != std::string::npos; }

// A second box is what a second `anytls run` of the same user is to the
// kernel (SO_REUSEPORT groups are per user, not per process): its own
// shards on its own listeners.
TEST(Workers, AnAddressAnotherBoxListensOnIsRefused) {
  Boxes b;
  ASSERT_FALSE(b.server.start(server_config()));
  const auto sport = port_of(b.server.inbound("anytls-in"));
  ASSERT_FALSE(b.client.start(client_config(sport, 0)));
  const auto mport = b.mixed_port();
  ASSERT_NE(mport, 0);
  EXPECT_EQ(dynamic_cast<inbound::ProxyInbound&>(
                dynamic_cast<inbound::ShardedInbound*>(b.client.inbound("mixed-in"))->shard(1))
                .port(),
            mport)
      << "listen_port 0: the first shard picked the port, the second took the same";

  {
    // The mixed inbound's address, taken by b.client's two shards.
    app::Components other(b.io, b.resolver, &b.workers);
    auto c = client_config(sport, 0);
    std::get<config::MixedInboundOptions>(c.inbounds[0].options).listen.listen_port = mport;
    auto failure = other.start(c);
    ASSERT_TRUE(failure);
    EXPECT_EQ(failure->exit_code, 2);
    EXPECT_TRUE(in_use(failure->message)) << failure->message;
    EXPECT_NE(failure->message.find(fmt::format("listen 127.0.0.1:{}", mport)), std::string::npos)
        << failure->message;
  }
  {
    // The anytls server's.
    app::Components other(b.io, b.resolver, &b.workers);
    auto c = server_config();
    std::get<config::AnyTlsInboundOptions>(c.inbounds[0].options).listen.listen_port = sport;
    auto failure = other.start(c);
    ASSERT_TRUE(failure);
    EXPECT_EQ(failure->exit_code, 2);
    EXPECT_TRUE(in_use(failure->message)) << failure->message;
  }
  {
    // One box on one worker (a plain listener) is refused the same way.
    asio::io_context io1;
    app::Components other(io1, b.resolver, nullptr);
    auto c = client_config(sport, 0);
    std::get<config::MixedInboundOptions>(c.inbounds[0].options).listen.listen_port = mport;
    c.outbounds = server_config().outbounds;  // direct: nothing that needs io1 to run
    auto failure = other.start(c);
    ASSERT_TRUE(failure);
    EXPECT_TRUE(in_use(failure->message)) << failure->message;
  }

  // The first box still has its port and serves through both hops.
  run_boxes(b, [](Boxes* b) -> asio::awaitable<void> {
    for (unsigned i = 0; i < 4; ++i) {
      auto problem = co_await echo_through(b->mixed_port(), b->echo.port(), 16 * 1024, i);
      EXPECT_EQ(problem, "") << "connection " << i;
    }
  }(&b));
}

// reuse_addr: true asks for SO_REUSEPORT sharing with whoever else asks for
// it (sing-box's listen field); that stays possible.
TEST(Workers, ExplicitReuseAddrStillShares) {
  Boxes b;
  auto c = client_config(1, 0);
  auto& listen = std::get<config::MixedInboundOptions>(c.inbounds[0].options).listen;
  listen.reuse_addr = true;
  listen.listen_port = free_port();
  ASSERT_FALSE(b.client.start(c));
  app::Components other(b.io, b.resolver, &b.workers);
  auto failure = other.start(c);
  EXPECT_FALSE(failure) << failure->message;
  run_boxes(b, [](app::Components* other) -> asio::awaitable<void> {
    other->stop();
    co_await other->join();
  }(&other));
}

// A reload that replaces a sharded inbound on its own address closes the
// old shards' listeners before the new first shard claims the address.
TEST(Workers, AReloadReplacingAnInboundOnItsAddressListensAgain) {
  Boxes b;
  ASSERT_FALSE(b.server.start(server_config()));
  const auto sport = port_of(b.server.inbound("anytls-in"));
  auto c = client_config(sport, 0);
  auto& listen = std::get<config::MixedInboundOptions>(c.inbounds[0].options).listen;
  listen.listen_port = free_port();
  ASSERT_FALSE(b.client.start(c));
  const auto before = b.mixed_port();
  listen.sniff = true;  // a change: the inbound is replaced
  auto changes = b.client.apply(c);
  ASSERT_TRUE(changes);
  ASSERT_EQ(changes->size(), 1u);
  EXPECT_NE((*changes)[0].find("replaced"), std::string::npos) << (*changes)[0];
  EXPECT_EQ(b.mixed_port(), before);
  run_boxes(b, [](Boxes* b) -> asio::awaitable<void> {
    auto problem = co_await echo_through(b->mixed_port(), b->echo.port(), 16 * 1024, 3);
    EXPECT_EQ(problem, "");
  }(&b));
}

}  // namespace
}  // namespace anytls::integ
