// net::relay and net::Listener, on loopback.
#include <netinet/in.h>
#include <sys/socket.h>

#include <fstream>

#include <gtest/gtest.h>

#include "net/listener.hpp"
#include "net/relay.hpp"
#include "unit/inbound/loopback.hpp"

namespace anytls::net {
namespace {

using namespace anytls::test;

struct RelayFixture {
  tcp::socket client_a, client_b;  // the ends the test drives
  TcpConn a, b;                    // the ends relay() copies between
};

asio::awaitable<std::unique_ptr<RelayFixture>> make_fixture() {
  auto [ca, sa] = co_await socket_pair();
  auto [cb, sb] = co_await socket_pair();
  co_return std::unique_ptr<RelayFixture>(
      new RelayFixture{std::move(ca), std::move(cb), TcpConn(std::move(sa)), TcpConn(std::move(sb))});
}

asio::awaitable<void> run_relay(RelayFixture& f, RelayStats& out, bool& done,
                                std::chrono::steady_clock::duration idle) {
  out = co_await relay(f.a, f.b, idle);
  done = true;
}

asio::awaitable<void> half_close_body(asio::io_context& io) {
  auto f = co_await make_fixture();
  RelayStats stats;
  bool done = false;
  asio::co_spawn(io, run_relay(*f, stats, done, {}), asio::detached);
  // a -> b, then a half-closes: b sees the data and EOF, and b -> a still works.
  std::string big(200 * 1024, 'q');
  co_await send_all(f->client_a, big);
  f->client_a.shutdown(tcp::socket::shutdown_send);
  {
    auto got_ = co_await read_until_eof(f->client_b);
    EXPECT_EQ(got_, big);
  }
  EXPECT_FALSE(done);
  co_await send_all(f->client_b, "reply");
  {
    auto got_ = co_await read_n(f->client_a, 5);
    EXPECT_EQ(got_, "reply");
  }
  f->client_b.shutdown(tcp::socket::shutdown_send);
  {
    auto got_ = co_await read_until_eof(f->client_a);
    EXPECT_EQ(got_, "");
  }
  co_await until([&] { return done; });
  EXPECT_EQ(stats.a_to_b, big.size());
  EXPECT_EQ(stats.b_to_a, 5u);
  EXPECT_FALSE(stats.error);
  EXPECT_FALSE(stats.idle_timeout);
}

TEST(Relay, HalfCloseAndCounts) {
  asio::io_context io;
  run(io, half_close_body(io), [] {});
}

asio::awaitable<void> error_body(asio::io_context& io) {
  auto f = co_await make_fixture();
  RelayStats stats;
  bool done = false;
  asio::co_spawn(io, run_relay(*f, stats, done, {}), asio::detached);
  co_await send_all(f->client_a, "x");
  {
    auto got_ = co_await read_n(f->client_b, 1);
    EXPECT_EQ(got_, "x");
  }
  // Reset b's peer: the b -> a direction errors and both sides close, so
  // client_a sees the end although nothing was wrong on its side.
  f->client_b.set_option(asio::socket_base::linger(true, 0));
  f->client_b.close();
  auto skip_ = co_await read_until_eof(f->client_a);
  (void)skip_;
  co_await until([&] { return done; });
  EXPECT_TRUE(stats.error);
}

TEST(Relay, ErrorClosesBothSides) {
  asio::io_context io;
  run(io, error_body(io), [] {});
}

asio::awaitable<void> idle_body(asio::io_context& io) {
  auto f = co_await make_fixture();
  RelayStats stats;
  bool done = false;
  asio::co_spawn(io, run_relay(*f, stats, done, std::chrono::milliseconds(50)), asio::detached);
  co_await send_all(f->client_a, "abc");
  {
    auto got_ = co_await read_n(f->client_b, 3);
    EXPECT_EQ(got_, "abc");
  }
  // Then silence: the watchdog closes both.
  {
    auto got_ = co_await read_until_eof(f->client_a);
    EXPECT_EQ(got_, "");
  }
  {
    auto got_ = co_await read_until_eof(f->client_b);
    EXPECT_EQ(got_, "");
  }
  co_await until([&] { return done; });
  EXPECT_TRUE(stats.idle_timeout);
  EXPECT_EQ(stats.a_to_b, 3u);
}

TEST(Relay, IdleTimeoutClosesBoth) {
  asio::io_context io;
  run(io, idle_body(io), [] {});
}

// A relay whose ends are quiet holds no buffer: each direction gives its
// lease back before it waits, and takes one again when bytes come.
asio::awaitable<void> quiet_body(asio::io_context& io) {
  const std::size_t before = Lease::outstanding();
  auto f = co_await make_fixture();
  RelayStats stats;
  bool done = false;
  asio::co_spawn(io, run_relay(*f, stats, done, {}), asio::detached);
  std::string big(300 * 1024, 'z');
  co_await send_all(f->client_a, big);
  {
    auto got_ = co_await read_n(f->client_b, big.size());
    EXPECT_EQ(got_, big);
  }
  co_await send_all(f->client_b, "back");
  {
    auto got_ = co_await read_n(f->client_a, 4);
    EXPECT_EQ(got_, "back");
  }
  co_await until([&] { return Lease::outstanding() == before; });
  EXPECT_FALSE(done);
  EXPECT_GE(Lease::free_on_this_thread(), 1u);
  // Bytes again after the quiet spell: a lease is taken and they flow.
  co_await send_all(f->client_a, "again");
  {
    auto got_ = co_await read_n(f->client_b, 5);
    EXPECT_EQ(got_, "again");
  }
  f->client_a.shutdown(tcp::socket::shutdown_send);
  f->client_b.shutdown(tcp::socket::shutdown_send);
  co_await until([&] { return done; });
  EXPECT_EQ(stats.a_to_b, big.size() + 5);
  EXPECT_EQ(stats.b_to_a, 4u);
  EXPECT_EQ(Lease::outstanding(), before);
}

TEST(Relay, QuietRelayHoldsNoBuffer) {
  asio::io_context io;
  run(io, quiet_body(io), [] {});
}

#ifndef IPPROTO_MPTCP
#define IPPROTO_MPTCP 262
#endif

ListenConfig on_loopback() {
  ListenConfig c;
  c.listen = "127.0.0.1";
  return c;
}

int socket_protocol(int fd) {
  int v = 0;
  socklen_t len = sizeof v;
  return ::getsockopt(fd, SOL_SOCKET, SO_PROTOCOL, &v, &len) == 0 ? v : -1;
}

bool mptcp_enabled() {
  std::ifstream f("/proc/sys/net/mptcp/enabled");
  int on = 0;
  return f >> on && on == 1;
}

TEST(Listener, TcpMultiPathListensWithMptcpAndTakesPlainTcp) {
  asio::io_context io;
  Listener l(io);
  ListenConfig c = on_loopback();
  c.tcp_multi_path = true;
  ASSERT_FALSE(l.open(c));
  const int proto = socket_protocol(l.acceptor().native_handle());
  if (mptcp_enabled()) EXPECT_EQ(proto, IPPROTO_MPTCP);
  else EXPECT_EQ(proto, IPPROTO_TCP);  // the kernel refused MPTCP: plain TCP, as Go does
  asio::ip::tcp::socket client(io);
  client.connect({asio::ip::make_address("127.0.0.1"), l.port()});
  auto accepted = l.acceptor().accept();
  EXPECT_TRUE(accepted.is_open());
  Listener plain(io);
  c.tcp_multi_path = false;
  ASSERT_FALSE(plain.open(c));
  EXPECT_EQ(socket_protocol(plain.acceptor().native_handle()), IPPROTO_TCP);
}

TEST(Listener, PortZeroAndErrors) {
  asio::io_context io;
  Listener l(io);
  ListenConfig c = on_loopback();
  c.reuse_addr = true;
  ASSERT_FALSE(l.open(c));
  EXPECT_NE(l.port(), 0);

  Listener dup(io);
  ListenConfig same = c;
  same.reuse_addr = false;
  same.listen_port = l.port();
  EXPECT_EQ(dup.open(same), asio::error::address_in_use);
  EXPECT_FALSE(dup.is_open());

  Listener bad(io);
  ListenConfig b;
  b.listen = "localhost";
  EXPECT_EQ(bad.open(b), asio::error::invalid_argument);

  // A config::ListenOptions opens directly.
  config::ListenOptions opts;
  opts.listen = "127.0.0.1";
  opts.tcp_fast_open = true;
  Listener tfo(io);
  EXPECT_FALSE(tfo.open(opts));
}

asio::awaitable<void> accept_body(Listener& l, bool v6) {
  tcp::socket c(co_await asio::this_coro::executor);
  co_await c.async_connect(tcp::endpoint(asio::ip::make_address(v6 ? "::1" : "127.0.0.1"), l.port()),
                           asio::use_awaitable);
  auto [ec, s] = co_await l.accept();
  EXPECT_FALSE(ec);
  asio::socket_base::keep_alive ka;
  s.get_option(ka);
  EXPECT_TRUE(ka.value());
  l.close();
  auto [ec2, s2] = co_await l.accept();
  EXPECT_EQ(ec2, asio::error::bad_descriptor);
}

TEST(Listener, DualStackAcceptsIPv4WithKeepAlive) {
  asio::io_context io;
  Listener l(io);
  ListenConfig c;
  c.listen = "::";
  if (l.open(c)) GTEST_SKIP() << "no IPv6";
  run(io, accept_body(l, false), [] {});
}

}  // namespace
}  // namespace anytls::net
