// Loopback tests of the gateway inbounds that need no firewall rule: the
// direct inbound (override_address / override_port, TCP and UDP), the UDP
// flow table's bounds (flow count, idle timeout), and a redirect inbound
// reached without a redirect rule (closed, never routed: it would loop).
// redirect and tproxy with real nftables rules: tests/smoke/gateway-check.sh.
#include <gtest/gtest.h>

#include "inbound/gateway.hpp"
#include "inbound/udp_nat.hpp"
#include "unit/inbound/loopback.hpp"

namespace anytls::inbound {
namespace {

using namespace anytls::test;
using namespace std::chrono_literals;

config::GatewayInboundOptions direct_options(bool tcp, bool udp, std::uint16_t override_port) {
  config::GatewayInboundOptions o;
  o.listen.listen = "127.0.0.1";
  o.tcp = tcp;
  o.udp = udp;
  o.override_address = "127.0.0.1";
  o.override_port = override_port;
  return o;
}

asio::awaitable<std::string> udp_round_trip(udp::socket& u, const udp::endpoint& to, const std::string& msg) {
  co_await u.async_send_to(asio::buffer(msg), to, asio::use_awaitable);
  std::array<char, 2048> buf;
  udp::endpoint from;
  const std::size_t n = co_await u.async_receive_from(asio::buffer(buf), from, asio::use_awaitable);
  EXPECT_EQ(from, to) << "the reply comes from the address the client sent to";
  co_return std::string(buf.data(), n);
}

struct DirectEnv {
  asio::io_context io;
  TestRouter router;
  test::TcpEchoServer echo{io};
  test::UdpEchoServer udp_echo{io};
  GatewayInbound tcp_in{io, "direct", "tcp-in", direct_options(true, false, echo.port()), router};
  GatewayInbound udp_in{io, "direct", "udp-in", direct_options(false, true, udp_echo.port()), router};
};

asio::awaitable<void> direct_body(DirectEnv& e) {
  auto s = co_await connect_to(e.tcp_in.port());
  co_await send_all(s, "to the override");
  std::array<char, 64> buf;
  const std::size_t n = co_await asio::async_read(s, asio::buffer(buf.data(), 15), asio::use_awaitable);
  EXPECT_EQ(std::string(buf.data(), n), "to the override");
  udp::socket u(e.io, udp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
  const udp::endpoint udp_in(asio::ip::make_address("127.0.0.1"), e.udp_in.port());
  EXPECT_EQ(co_await udp_round_trip(u, udp_in, "one"), "one");
  EXPECT_EQ(co_await udp_round_trip(u, udp_in, std::string(1400, 'x')), std::string(1400, 'x'));
  // One flow per client: opened (and routed) once.
  EXPECT_EQ(e.udp_in.udp_flows(), 1u);
  const auto& dialed = e.router.outbound.dialed;
  if (dialed.size() != 2) {
    ADD_FAILURE() << "dialed " << dialed.size() << " times";
    co_return;
  }
  EXPECT_EQ(dialed[0].inbound_type, "direct");
  EXPECT_EQ(dialed[0].destination, (net::Address{"127.0.0.1", e.echo.port()}));
  EXPECT_EQ(dialed[1].network, outbound::Network::udp);
  EXPECT_EQ(dialed[1].destination, (net::Address{"127.0.0.1", e.udp_echo.port()}));
  s.close();
  co_await until([&] { return e.tcp_in.live_connections() == 0; });
}

TEST(DirectInbound, OverrideAddressAndPortForTcpAndUdp) {
  DirectEnv e;
  ASSERT_FALSE(e.tcp_in.start());
  ASSERT_FALSE(e.udp_in.start());
  EXPECT_EQ(e.udp_in.udp_flows(), 0u);
  test::run(e.io, direct_body(e), [&e] {
    e.tcp_in.stop();
    e.udp_in.stop();
    e.echo.stop();
    e.udp_echo.stop();
  });
  EXPECT_EQ(e.udp_in.udp_flows(), 0u);
}

// Flows are bounded: a third client takes the least recently used flow's
// place (udp_timeout long: nothing ends by time here).
asio::awaitable<void> count_body(asio::io_context& io, UdpNat& nat) {
  const udp::endpoint to = nat.local_endpoint();
  udp::socket a(io, udp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
  udp::socket b(io, udp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
  udp::socket c(io, udp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
  EXPECT_EQ(co_await udp_round_trip(a, to, "a"), "a");
  EXPECT_EQ(co_await udp_round_trip(b, to, "b"), "b");
  EXPECT_EQ(nat.flows(), 2u);
  EXPECT_EQ(co_await udp_round_trip(c, to, "c"), "c");
  EXPECT_EQ(nat.flows(), 2u) << "max_flows 2: the oldest flow made room";
  EXPECT_EQ(co_await udp_round_trip(b, to, "b again"), "b again");  // still open: not the oldest
}

// Each flow ends after udp_timeout without a datagram; the client's next
// datagram opens a new one.
asio::awaitable<void> idle_body(asio::io_context& io, UdpNat& nat) {
  const udp::endpoint to = nat.local_endpoint();
  udp::socket a(io, udp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
  EXPECT_EQ(co_await udp_round_trip(a, to, "a"), "a");
  co_await until([&] { return nat.flows() == 0; });
  EXPECT_EQ(co_await udp_round_trip(a, to, "a again"), "a again");
}

struct NatEnv {
  asio::io_context io;
  TestRouter router;
  test::UdpEchoServer echo{io};
  std::shared_ptr<UdpNat> nat;
  NatEnv(std::size_t max_flows, net::Duration timeout) {
    UdpNatConfig config;
    config.type = "direct";
    config.tag = "bounded";
    config.timeout = timeout;
    config.max_flows = max_flows;
    config.destination = net::Address{"127.0.0.1", echo.port()};
    udp::socket socket(io, udp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
    nat = std::make_shared<UdpNat>(std::move(socket), router, config);
    nat->start();
  }
  void run(asio::awaitable<void> body) {
    test::run(io, std::move(body), [this] {
      nat->close();
      echo.stop();
    });
  }
};

TEST(UdpNat, FlowCountIsBounded) {
  NatEnv e(2, std::chrono::minutes(5));
  e.run(count_body(e.io, *e.nat));
  EXPECT_EQ(e.router.outbound.dialed.size(), 3u);  // a, b, c: b's flow was kept
  EXPECT_EQ(e.echo.datagrams(), 4u);
}

// A refused flow is routed once: the client's next datagrams are dropped
// without asking the rules again, until the flow times out.
asio::awaitable<void> refused_body(asio::io_context& io, UdpNat& nat, TestRouter& router) {
  const udp::endpoint to = nat.local_endpoint();
  udp::socket a(io, udp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
  const std::string msg = "retry";
  for (int i = 0; i < 3; ++i) co_await a.async_send_to(asio::buffer(msg), to, asio::use_awaitable);
  co_await until([&] { return !router.decided.empty(); });
  co_await until([&] { return nat.flows() == 0; });  // udp_timeout
  EXPECT_EQ(router.decided.size(), 1u) << "routed once, not per datagram";
}

TEST(UdpNat, ARefusedFlowIsRoutedOnce) {
  NatEnv e(16, 300ms);
  e.router.reject_all = true;
  e.run(refused_body(e.io, *e.nat, e.router));
  EXPECT_EQ(e.echo.datagrams(), 0u);
}

TEST(UdpNat, AFlowEndsAfterUdpTimeout) {
  NatEnv e(16, 300ms);  // long enough for a round trip on a loaded machine
  e.run(idle_body(e.io, *e.nat));
  EXPECT_EQ(e.router.outbound.dialed.size(), 2u);
}

// A connection to the redirect port itself, not sent there by a firewall
// rule: no original destination other than the listener, so it is closed
// and never routed (dialling it would come back here).
asio::awaitable<void> unredirected_body(GatewayInbound& in) {
  auto s = co_await connect_to(in.port());
  std::array<char, 16> buf;
  auto [ec, n] = co_await s.async_read_some(asio::buffer(buf), use_tuple);
  EXPECT_EQ(ec, asio::error::eof);
  EXPECT_EQ(n, 0u);
}

// Starts a `type` inbound on 127.0.0.1, connects to it directly, and checks
// that the connection is closed without asking the router.
void expect_closed_unrouted(const std::string& type) {
  asio::io_context io;
  TestRouter router;
  config::GatewayInboundOptions o;
  o.listen.listen = "127.0.0.1";
  GatewayInbound in(io, type, type + "-in", o, router);
  if (auto ec = in.start()) GTEST_SKIP() << type << ": " << in.start_error();  // tproxy without CAP_NET_ADMIN
  test::run(io, unredirected_body(in), [&] { in.stop(); });
  EXPECT_TRUE(router.decided.empty());
}

TEST(RedirectInbound, AConnectionWithoutARedirectRuleIsClosed) { expect_closed_unrouted("redirect"); }

// The same for tproxy: a connection whose destination (its local address)
// is the listener's own address and port. Needs IP_TRANSPARENT.
TEST(TproxyInbound, AConnectionToTheListenerItselfIsClosed) { expect_closed_unrouted("tproxy"); }

}  // namespace
}  // namespace anytls::inbound
