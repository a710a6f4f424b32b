#include "outbound/direct.hpp"

#include <chrono>
#include <list>
#include <stdexcept>
#include <string>

#include <gtest/gtest.h>

#include <asio/error.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/read.hpp>
#include <asio/write.hpp>

#include "outbound/block.hpp"
#include "support/run_until_done.hpp"

namespace anytls::outbound {
namespace {

using namespace std::chrono_literals;
using namespace anytls::testing;  // run_until_done, use_tuple, ...
using asio::ip::tcp;
using asio::ip::udp;

asio::awaitable<void> tcp_echo_once(tcp::acceptor& a) {
  auto [ec, s] = co_await a.async_accept(use_tuple);
  if (ec) co_return;
  char buf[1024];
  for (;;) {
    auto [rec, n] = co_await s.async_read_some(asio::buffer(buf), use_tuple);
    if (rec) co_return;
    co_await asio::async_write(s, asio::buffer(buf, n), use_tuple);
  }
}

asio::awaitable<std::string> tcp_through(Outbound& out, Metadata md, std::string payload) {
  auto conn = co_await out.dial(md);
  if (!conn) co_return "error: " + conn.error().text();
  auto ec = co_await (*conn)->write(asio::buffer(payload));
  if (ec) co_return "write: " + ec.message();
  std::string got;
  char buf[1024];
  while (got.size() < payload.size()) {
    auto [rec, n] = co_await (*conn)->read_some(asio::buffer(buf));
    if (rec) co_return "read: " + rec.message();
    got.append(buf, n);
  }
  (*conn)->close();
  co_return got;
}

asio::awaitable<std::string> udp_through(Outbound& out, Metadata md, std::string payload) {
  auto pc = co_await out.listen_packet(md);
  if (!pc) co_return "error: " + pc.error().text();
  auto ec = co_await (*pc)->write_packet(asio::buffer(payload), md.destination);
  if (ec) co_return "write: " + ec.message();
  char buf[2048];
  net::Address from;
  auto [rec, n] = co_await (*pc)->read_packet(asio::buffer(buf), from);
  if (rec) co_return "read: " + rec.message();
  if (!(from == md.destination)) co_return "from " + from.to_string();
  co_return std::string(buf, n);
}

class DirectTest : public ::testing::Test {
 protected:
  asio::io_context ctx;
  std::shared_ptr<net::Resolver> resolver = std::make_shared<net::Resolver>();

  // A TCP echo server on 127.0.0.1 for one connection: its port.
  std::uint16_t start_tcp_echo() {
    auto& a = acceptors.emplace_back(ctx, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
    asio::co_spawn(ctx, tcp_echo_once(a), asio::detached);
    return a.local_endpoint().port();
  }
  std::list<tcp::acceptor> acceptors;
};

// A TCP stream to 127.0.0.1:port.
Metadata tcp_to_loopback(std::uint16_t port) {
  Metadata md;
  md.destination = net::Address{"127.0.0.1", port};
  return md;
}

TEST_F(DirectTest, TcpEcho) {
  const auto port = start_tcp_echo();
  DirectOutbound direct("direct", config::DirectOutboundOptions{}, resolver);
  EXPECT_EQ(direct.type(), "direct");
  EXPECT_EQ(direct.tag(), "direct");
  auto md = tcp_to_loopback(port);
  auto got = run_until_done(ctx, tcp_through(direct, md, "ping over tcp"));
  ASSERT_TRUE(got);
  EXPECT_EQ(*got, "ping over tcp");
}

TEST_F(DirectTest, UdpEcho) {
  udp::socket server(ctx, udp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
  asio::co_spawn(ctx, udp_echo(server), asio::detached);
  DirectOutbound direct("direct", config::DirectOutboundOptions{}, resolver);
  Metadata md;
  md.network = Network::udp;
  md.destination = net::Address{"127.0.0.1", server.local_endpoint().port()};
  auto got = run_until_done(ctx, udp_through(direct, md, "ping over udp"));
  ASSERT_TRUE(got);
  EXPECT_EQ(*got, "ping over udp");
  server.close();
}

TEST_F(DirectTest, RefusedIsReported) {
  std::uint16_t port;
  {
    tcp::acceptor a(ctx, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
    port = a.local_endpoint().port();
  }
  DirectOutbound direct("direct", config::DirectOutboundOptions{}, resolver);
  auto md = tcp_to_loopback(port);
  auto got = run_until_done(ctx, tcp_through(direct, md, "x"));
  ASSERT_TRUE(got);
  EXPECT_EQ(*got, "error: dial tcp 127.0.0.1:" + std::to_string(port) + ": connect: connection refused");
}

TEST_F(DirectTest, ConfigBindAddress) {
  const auto port = start_tcp_echo();
  config::DirectOutboundOptions o;
  o.dial.inet4_bind_address = "127.0.0.1";
  o.dial.domain_strategy = config::DomainStrategy::ipv4_only;
  DirectOutbound direct("d2", o, resolver);
  EXPECT_EQ(direct.dialer().options().domain_strategy, net::DomainStrategy::ipv4_only);
  auto md = tcp_to_loopback(port);
  auto got = run_until_done(ctx, tcp_through(direct, md, "bound"));
  ASSERT_TRUE(got);
  EXPECT_EQ(*got, "bound");
}

TEST_F(DirectTest, ConfigRejectsWrongFamilyBindAddress) {
  config::DirectOutboundOptions o;
  o.dial.inet4_bind_address = "::1";
  EXPECT_THROW(DirectOutbound("d", o, resolver), std::invalid_argument);
  config::DirectOutboundOptions o6;
  o6.dial.inet6_bind_address = "127.0.0.1";
  EXPECT_THROW(DirectOutbound("d", o6, resolver), std::invalid_argument);
}

TEST_F(DirectTest, DetourForwards) {
  config::DirectOutboundOptions o;
  o.dial.detour = "blocker";
  DirectOutbound direct("direct", o, resolver);
  EXPECT_EQ(direct.detour_tag(), "blocker");
  BlockOutbound block("blocker");
  direct.set_detour(&block);
  auto md = tcp_to_loopback(9);
  auto got = run_until_done(ctx, tcp_through(direct, md, "x"));
  ASSERT_TRUE(got);
  EXPECT_EQ(*got, "error: dial tcp 127.0.0.1:9: blocked by outbound \"blocker\"");
}

TEST(Block, AlwaysFails) {
  asio::io_context ctx;
  BlockOutbound block("block");
  EXPECT_EQ(block.type(), "block");
  Metadata md;
  md.destination = net::Address{"example.com", 443};
  auto c = run_until_done(ctx, block.dial(md));
  ASSERT_TRUE(c);
  ASSERT_FALSE(*c);
  EXPECT_EQ(c->error().text(), "dial tcp example.com:443: blocked by outbound \"block\"");
  EXPECT_EQ(c->error().code, std::errc::operation_not_permitted);
  auto p = run_until_done(ctx, block.listen_packet(md));
  ASSERT_TRUE(p);
  ASSERT_FALSE(*p);
  EXPECT_EQ(p->error().text(), "listen udp example.com:443: blocked by outbound \"block\"");
}

}  // namespace
}  // namespace anytls::outbound
