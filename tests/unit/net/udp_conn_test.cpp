#include "net/udp_conn.hpp"

#include <chrono>
#include <string>

#include <gtest/gtest.h>

#include <asio/error.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/experimental/awaitable_operators.hpp>

#include "support/run_until_done.hpp"

namespace anytls::net {
namespace {

using namespace std::chrono_literals;
using namespace anytls::testing;  // run_until_done, use_tuple, ...
using asio::ip::udp;

LookupOutcome fake_lookup(const std::string& host) {
  if (host == "echo.test") return {{}, {}, {asio::ip::make_address("127.0.0.1")}};
  if (host == "echo6.test") return {{}, {}, {asio::ip::make_address("::1")}};
  return {asio::error::host_not_found, "no such host", {}};
}

struct EchoServer {
  EchoServer(asio::io_context& ctx, const char* ip) : socket(ctx, udp::endpoint(asio::ip::make_address(ip), 0)) {
    asio::co_spawn(ctx, udp_echo(socket), asio::detached);
  }
  ~EchoServer() {
    std::error_code ec;
    socket.close(ec);
  }
  std::uint16_t port() const { return socket.local_endpoint().port(); }
  udp::socket socket;
};

struct Exchange {
  std::error_code write_ec;
  std::error_code read_ec;
  std::string data;
  Address from;
};

asio::awaitable<Exchange> round_trip(PacketConn& c, std::string payload, Address to) {
  Exchange x;
  x.write_ec = co_await c.write_packet(asio::buffer(payload), to);
  if (x.write_ec) co_return x;
  char buf[2048];
  auto [ec, n] = co_await c.read_packet(asio::buffer(buf), x.from);
  x.read_ec = ec;
  x.data.assign(buf, n);
  co_return x;
}

class UdpConnTest : public ::testing::Test {
 protected:
  std::unique_ptr<UdpPacketConn> open(DialerOptions o = {}) {
    Dialer d(o, resolver);
    auto s = d.open_udp(ctx.get_executor());
    EXPECT_TRUE(s) << s.error().text();
    return std::make_unique<UdpPacketConn>(std::move(*s), d);
  }
  asio::io_context ctx;
  std::shared_ptr<Resolver> resolver = std::make_shared<Resolver>(ResolverOptions{1, 16, fake_lookup});
};

TEST_F(UdpConnTest, EchoToIpv4LiteralOnDualStackSocket) {
  EchoServer server(ctx, "127.0.0.1");
  auto c = open();
  auto x = run_until_done(ctx, round_trip(*c, "hello", Address{"127.0.0.1", server.port()}));
  ASSERT_TRUE(x);
  ASSERT_FALSE(x->write_ec) << x->write_ec.message();
  ASSERT_FALSE(x->read_ec);
  EXPECT_EQ(x->data, "hello");
  EXPECT_EQ(x->from, (Address{"127.0.0.1", server.port()}));  // not ::ffff:127.0.0.1
}

TEST_F(UdpConnTest, EchoOnIpv4OnlySocket) {
  EchoServer server(ctx, "127.0.0.1");
  DialerOptions o;
  o.domain_strategy = DomainStrategy::ipv4_only;
  auto c = open(o);
  auto x = run_until_done(ctx, round_trip(*c, "v4", Address{"127.0.0.1", server.port()}));
  ASSERT_TRUE(x);
  ASSERT_FALSE(x->write_ec);
  EXPECT_EQ(x->data, "v4");
  auto bad = run_until_done(ctx, c->write_packet(asio::buffer("x", 1), Address{"::1", 9}));
  ASSERT_TRUE(bad);
  EXPECT_EQ(*bad, asio::error::address_family_not_supported);
}

TEST_F(UdpConnTest, EchoToIpv6Literal) {
  if (!have_ipv6_loopback()) GTEST_SKIP() << "no ::1";
  EchoServer server(ctx, "::1");
  auto c = open();
  auto x = run_until_done(ctx, round_trip(*c, "six", Address{"::1", server.port()}));
  ASSERT_TRUE(x);
  ASSERT_FALSE(x->write_ec) << x->write_ec.message();
  EXPECT_EQ(x->data, "six");
  EXPECT_EQ(x->from, (Address{"::1", server.port()}));
}

TEST_F(UdpConnTest, NameIsResolvedAndRepliesAreReportedFromTheName) {
  EchoServer server(ctx, "127.0.0.1");
  auto c = open();
  auto x = run_until_done(ctx, round_trip(*c, "named", Address{"echo.test", server.port()}));
  ASSERT_TRUE(x);
  ASSERT_FALSE(x->write_ec) << x->write_ec.message();
  EXPECT_EQ(x->data, "named");
  EXPECT_EQ(x->from, (Address{"echo.test", server.port()}));
  // Second packet: from the cache.
  auto y = run_until_done(ctx, round_trip(*c, "again", Address{"echo.test", server.port()}));
  ASSERT_TRUE(y);
  EXPECT_EQ(y->data, "again");
}

TEST_F(UdpConnTest, UnknownNameFailsTheWrite) {
  auto c = open();
  auto ec = run_until_done(ctx, c->write_packet(asio::buffer("x", 1), Address{"nope.invalid", 53}));
  ASSERT_TRUE(ec);
  EXPECT_EQ(*ec, asio::error::host_not_found);
}

TEST_F(UdpConnTest, CloseEndsAPendingRead) {
  using namespace asio::experimental::awaitable_operators;
  auto c = open();
  asio::steady_timer t(ctx, 20ms);
  t.async_wait([&](std::error_code) { c->close(); });
  Address from;
  char buf[16];
  auto r = run_until_done(ctx, c->read_packet(asio::buffer(buf), from));
  ASSERT_TRUE(r);
  EXPECT_TRUE(r->first);
}

// On virtual time: every touch pushes the deadline out; the wait completes
// exactly `timeout` after the last touch.
asio::awaitable<void> idle_body(VirtualClock* clock, std::shared_ptr<IdleTimer> idle, bool* fired,
                                Clock::time_point* at) {
  co_await idle->wait();
  *fired = true;
  *at = clock->now();
}

void settle(asio::io_context& ctx) {
  ctx.restart();
  ctx.poll();
}

TEST(IdleTimer, FiresOnlyAfterQuietPeriod) {
  VirtualClock clock;
  asio::io_context ctx;
  auto idle = IdleTimer::create(ctx.get_executor(), 200ms, &clock);
  bool fired = false;
  Clock::time_point at{};
  asio::co_spawn(ctx, idle_body(&clock, idle, &fired, &at), asio::detached);  // test driver: polled below
  const auto start = clock.now();
  // Busy for 400ms: a touch every 20ms.
  for (int i = 0; i < 20; ++i) {
    clock.advance(20ms);
    idle->touch();
    settle(ctx);
    ASSERT_FALSE(fired) << "fired while busy, at touch " << i;
  }
  clock.advance(199ms);
  settle(ctx);
  EXPECT_FALSE(fired) << "fired before 200ms of quiet";
  clock.advance(1ms);
  settle(ctx);
  ASSERT_TRUE(fired);
  EXPECT_EQ(at - start, 600ms);  // 20 touches * 20ms, then 200ms of quiet
}

TEST(IdleTimer, CancelledWait) {
  using namespace asio::experimental::awaitable_operators;
  asio::io_context ctx;
  auto idle = IdleTimer::create(ctx.get_executor(), 0ms);  // never fires
  auto r = run_until_done(ctx, idle->wait() || anytls::testing::sleep_for(20ms));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->index(), 1u);
}

TEST_F(UdpConnTest, IdleTrackingConnTouches) {
  EchoServer server(ctx, "127.0.0.1");
  VirtualClock clock;
  auto idle = IdleTimer::create(ctx.get_executor(), 150ms, &clock);
  IdleTrackingPacketConn c(open(), idle);
  bool fired = false;
  Clock::time_point at{};
  asio::co_spawn(ctx, idle_body(&clock, idle, &fired, &at), asio::detached);  // test driver: polled below
  settle(ctx);
  clock.advance(100ms);
  // A round trip at +100ms touches the timer (sent and received).
  auto x = run_until_done(ctx, round_trip(c, "t", Address{"127.0.0.1", server.port()}));
  ASSERT_TRUE(x);
  EXPECT_EQ(x->data, "t");
  // Untouched, it would fire at +150ms; touched, at +250ms.
  clock.advance(60ms);
  settle(ctx);
  EXPECT_FALSE(fired);
  clock.advance(90ms);
  settle(ctx);
  EXPECT_TRUE(fired);
}

}  // namespace
}  // namespace anytls::net
