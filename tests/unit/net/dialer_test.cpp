#include "net/dialer.hpp"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <chrono>
#include <future>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include <asio/error.hpp>
#include <asio/ip/v6_only.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/experimental/awaitable_operators.hpp>

#include "support/run_until_done.hpp"

namespace anytls::net {
namespace {

using namespace std::chrono_literals;
using namespace anytls::testing;  // run_until_done, use_tuple, ...
using asio::ip::tcp;

// ---- fake names -----------------------------------------------------------

std::promise<void>* g_slow_release = nullptr;

LookupOutcome fake_lookup(const std::string& host) {
  auto a = [](const char* s) { return asio::ip::make_address(s); };
  if (host == "dual.test") return {{}, {}, {a("::1"), a("127.0.0.1")}};
  if (host == "dual4.test") return {{}, {}, {a("127.0.0.1"), a("::1")}};
  if (host == "v4.test") return {{}, {}, {a("127.0.0.1")}};
  if (host == "mapped.test") return {{}, {}, {a("::ffff:127.0.0.1")}};
  if (host == "slow.test" && g_slow_release) {
    g_slow_release->get_future().wait();
    return {{}, {}, {a("127.0.0.1")}};
  }
  return {asio::error::host_not_found, "no such host", {}};
}

std::shared_ptr<Resolver> fake_resolver() {
  return std::make_shared<Resolver>(ResolverOptions{2, 64, fake_lookup});
}

// ---- connect hooks ----------------------------------------------------------

struct HookLog {
  std::vector<std::string> attempts;
  int hung = 0;
  int hang_cancelled = 0;
} g_log;

asio::awaitable<std::error_code> hang_connect(tcp::socket& s, tcp::endpoint ep) {
  g_log.attempts.push_back(Address{ep.address().to_string(), ep.port()}.to_string());
  ++g_log.hung;
  asio::steady_timer t(s.get_executor(), asio::steady_timer::time_point::max());
  auto [ec] = co_await t.async_wait(use_tuple);
  if (ec == asio::error::operation_aborted) ++g_log.hang_cancelled;
  co_return asio::error::operation_aborted;
}

asio::awaitable<std::error_code> recording_connect(tcp::socket& s, tcp::endpoint ep) {
  g_log.attempts.push_back(Address{ep.address().to_string(), ep.port()}.to_string());
  auto [ec] = co_await s.async_connect(ep, use_tuple);
  co_return ec;
}

asio::awaitable<std::error_code> v6_hangs(tcp::socket& s, tcp::endpoint ep) {
  if (ep.address().is_v6()) co_return co_await hang_connect(s, ep);
  co_return co_await recording_connect(s, ep);
}

// ---- listeners --------------------------------------------------------------

struct Listener {
  explicit Listener(asio::io_context& ctx, const char* ip = "127.0.0.1", std::uint16_t port = 0)
      : acceptor(ctx) {
    auto addr = asio::ip::make_address(ip);
    acceptor.open(addr.is_v4() ? tcp::v4() : tcp::v6());
    if (addr.is_v6()) acceptor.set_option(asio::ip::v6_only(true));
    acceptor.bind({addr, port});
    acceptor.listen();
  }
  std::uint16_t port() const { return acceptor.local_endpoint().port(); }
  tcp::acceptor acceptor;  // connections complete in the backlog; no accept needed
};

// 127.0.0.1:P and [::1]:P, same P.
struct DualListener {
  explicit DualListener(asio::io_context& ctx) {
    for (int i = 0; i < 20 && !v6; ++i) {
      v4.emplace(ctx);
      try {
        v6.emplace(ctx, "::1", v4->port());
      } catch (const std::system_error&) {
        v4.reset();
      }
    }
  }
  std::uint16_t port() const { return v4->port(); }
  std::optional<Listener> v4, v6;
};

std::uint16_t closed_port(asio::io_context& ctx, const char* ip = "127.0.0.1") {
  Listener l(ctx, ip);
  return l.port();  // closed when l goes away: connecting is refused
}

int int_option(tcp::socket& s, int level, int name) {
  int v = -1;
  socklen_t len = sizeof(v);
  ::getsockopt(s.native_handle(), level, name, &v, &len);
  return v;
}

class DialerTest : public ::testing::Test {
 protected:
  void SetUp() override { g_log = HookLog{}; }
  asio::io_context ctx;
};

// ---- tests ------------------------------------------------------------------

TEST_F(DialerTest, ConnectsToLocalListenerWithKeepAliveAndNoDelay) {
  Listener l(ctx);
  Dialer d(DialerOptions{}, fake_resolver());
  auto res = run_until_done(ctx, d.dial_tcp(Address{"127.0.0.1", l.port()}));
  ASSERT_TRUE(res);
  ASSERT_TRUE(*res) << res->error().text();
  auto& s = res->value();
  EXPECT_EQ(s.remote_endpoint().port(), l.port());
  EXPECT_EQ(int_option(s, SOL_SOCKET, SO_KEEPALIVE), 1);
  EXPECT_EQ(int_option(s, IPPROTO_TCP, TCP_KEEPIDLE), 300);
  EXPECT_EQ(int_option(s, IPPROTO_TCP, TCP_KEEPINTVL), 75);
  EXPECT_EQ(int_option(s, IPPROTO_TCP, TCP_NODELAY), 1);
}

TEST_F(DialerTest, KeepAliveCanBeDisabled) {
  Listener l(ctx);
  DialerOptions o;
  o.disable_tcp_keep_alive = true;
  Dialer d(o, fake_resolver());
  auto res = run_until_done(ctx, d.dial_tcp(Address{"127.0.0.1", l.port()}));
  ASSERT_TRUE(res && *res);
  EXPECT_EQ(int_option(res->value(), SOL_SOCKET, SO_KEEPALIVE), 0);
}

TEST_F(DialerTest, BindsToInet4BindAddress) {
  Listener l(ctx);
  DialerOptions o;
  o.inet4_bind_address = asio::ip::make_address_v4("127.0.0.1");
  o.reuse_addr = true;
  Dialer d(o, fake_resolver());
  auto res = run_until_done(ctx, d.dial_tcp(Address{"127.0.0.1", l.port()}));
  ASSERT_TRUE(res && *res) << (res && !*res ? res->error().text() : "");
  EXPECT_EQ(res->value().local_endpoint().address(), asio::ip::make_address("127.0.0.1"));
  EXPECT_EQ(int_option(res->value(), SOL_SOCKET, SO_REUSEADDR), 1);
}

TEST_F(DialerTest, BadBindAddressIsABindError) {
  Listener l(ctx);
  DialerOptions o;
  o.inet4_bind_address = asio::ip::make_address_v4("192.0.2.1");  // not ours
  Dialer d(o, fake_resolver());
  auto res = run_until_done(ctx, d.dial_tcp(Address{"127.0.0.1", l.port()}));
  ASSERT_TRUE(res);
  ASSERT_FALSE(*res);
  EXPECT_EQ(res->error().text().rfind("dial tcp 127.0.0.1:" + std::to_string(l.port()) + ": bind: ", 0), 0u)
      << res->error().text();
}

// route.auto_detect_interface: a dial without bind_interface is bound to
// the detected interface (lo here, index 1, whatever the host has), except
// to a loopback destination: a socket bound to the LAN could not reach it.
TEST_F(DialerTest, BindsToTheDetectedDefaultInterfaceButNotForLoopback) {
  Listener l(ctx);
  auto detected = std::make_shared<DefaultInterface>();
  detected->set(1, "lo");
  DialerOptions o;
  o.default_interface = detected;
  Dialer d(o, fake_resolver());
  auto res = run_until_done(ctx, d.dial_tcp(Address{"127.0.0.1", l.port()}));
  ASSERT_TRUE(res && *res) << (res && !*res ? res->error().text() : "");
  EXPECT_EQ(int_option(res->value(), SOL_SOCKET, SO_BINDTOIFINDEX), 0);

  auto bound_index = [](asio::ip::udp::socket& s) {
    int v = -1;
    socklen_t len = sizeof(v);
    ::getsockopt(s.native_handle(), SOL_SOCKET, SO_BINDTOIFINDEX, &v, &len);
    return v;
  };
  auto udp = d.open_udp(ctx.get_executor());
  ASSERT_TRUE(udp) << udp.error().text();
  EXPECT_EQ(bound_index(*udp), 1);

  detected->set(0, "");  // none known: not bound
  auto unbound = d.open_udp(ctx.get_executor());
  ASSERT_TRUE(unbound);
  EXPECT_EQ(bound_index(*unbound), 0);
}

TEST_F(DialerTest, RefusedPortHasGoText) {
  auto port = closed_port(ctx);
  Dialer d(DialerOptions{}, fake_resolver());
  auto res = run_until_done(ctx, d.dial_tcp(Address{"127.0.0.1", port}));
  ASSERT_TRUE(res);
  ASSERT_FALSE(*res);
  EXPECT_EQ(res->error().text(), "dial tcp 127.0.0.1:" + std::to_string(port) + ": connect: connection refused");
  EXPECT_EQ(res->error().code, asio::error::connection_refused);
}

TEST_F(DialerTest, LocalhostByName) {
  Listener l(ctx);
  Dialer d(DialerOptions{}, std::make_shared<Resolver>());
  auto res = run_until_done(ctx, d.dial_tcp(Address{"localhost", l.port()}));
  ASSERT_TRUE(res);
  if (!*res && res->error().text().find("lookup") != std::string::npos)
    GTEST_SKIP() << "no localhost here: " << res->error().text();
  ASSERT_TRUE(*res) << res->error().text();
  EXPECT_TRUE(res->value().remote_endpoint().address().is_loopback());
}

TEST_F(DialerTest, UnknownNameHasGoText) {
  Dialer d(DialerOptions{}, fake_resolver());
  auto res = run_until_done(ctx, d.dial_tcp(Address{"x.invalid", 80}));
  ASSERT_TRUE(res);
  ASSERT_FALSE(*res);
  EXPECT_EQ(res->error().text(), "dial tcp: lookup x.invalid: no such host");
}

TEST_F(DialerTest, ConnectTimeoutHasGoText) {
  DialerOptions o;
  o.connect_timeout = 50ms;
  Dialer d(o, fake_resolver(), DialerHooks{hang_connect});
  auto start = std::chrono::steady_clock::now();
  auto res = run_until_done(ctx, d.dial_tcp(Address{"10.0.0.1", 80}));
  auto took = std::chrono::steady_clock::now() - start;
  ASSERT_TRUE(res);
  ASSERT_FALSE(*res);
  EXPECT_EQ(res->error().text(), "dial tcp 10.0.0.1:80: i/o timeout");
  EXPECT_EQ(res->error().code, asio::error::timed_out);
  EXPECT_GE(took, 50ms);
  EXPECT_LT(took, 10s);
  EXPECT_EQ(g_log.hung, 1);
  EXPECT_EQ(g_log.hang_cancelled, 1);  // the attempt was cancelled, not leaked
}

TEST_F(DialerTest, TimeoutDuringLookup) {
  std::promise<void> release;
  g_slow_release = &release;
  {
    auto resolver = fake_resolver();
    DialerOptions o;
    o.connect_timeout = 50ms;
    Dialer d(o, resolver);
    auto res = run_until_done(ctx, d.dial_tcp(Address{"slow.test", 80}));
    ASSERT_TRUE(res);
    ASSERT_FALSE(*res);
    EXPECT_EQ(res->error().text(), "dial tcp: lookup slow.test: i/o timeout");
    release.set_value();
    resolver->stop();
  }
  g_slow_release = nullptr;
  ctx.restart();
  ctx.run();
}

TEST_F(DialerTest, HappyEyeballsFallsBackAtOnceWhenPrimaryIsRefused) {
  if (!have_ipv6_loopback()) GTEST_SKIP() << "no ::1";
  Listener l(ctx, "127.0.0.1");  // nothing on [::1]:P (a v6-only listener was never bound there)
  DialerOptions o;
  o.fallback_delay = 10s;  // far longer than the test may take
  Dialer d(o, fake_resolver(), DialerHooks{recording_connect});
  auto start = std::chrono::steady_clock::now();
  auto res = run_until_done(ctx, d.dial_tcp(Address{"dual.test", l.port()}));
  ASSERT_TRUE(res);
  ASSERT_TRUE(*res) << res->error().text();
  EXPECT_TRUE(res->value().remote_endpoint().address().is_v4());
  EXPECT_LT(std::chrono::steady_clock::now() - start, 5s);
  const std::string p = std::to_string(l.port());
  EXPECT_EQ(g_log.attempts, (std::vector<std::string>{"[::1]:" + p, "127.0.0.1:" + p}));
}

TEST_F(DialerTest, HappyEyeballsStartsFallbackAfterDelayAndCancelsLoser) {
  if (!have_ipv6_loopback()) GTEST_SKIP() << "no ::1";
  DualListener l(ctx);
  ASSERT_TRUE(l.v6);
  DialerOptions o;
  o.fallback_delay = 50ms;
  Dialer d(o, fake_resolver(), DialerHooks{v6_hangs});
  auto start = std::chrono::steady_clock::now();
  auto res = run_until_done(ctx, d.dial_tcp(Address{"dual.test", l.port()}));
  auto took = std::chrono::steady_clock::now() - start;
  ASSERT_TRUE(res);
  ASSERT_TRUE(*res) << res->error().text();
  EXPECT_TRUE(res->value().remote_endpoint().address().is_v4());
  EXPECT_GE(took, 50ms);
  EXPECT_EQ(g_log.hung, 1);
  EXPECT_EQ(g_log.hang_cancelled, 1);
}

TEST_F(DialerTest, AsIsPrefersTheFirstAddressFamily) {
  if (!have_ipv6_loopback()) GTEST_SKIP() << "no ::1";
  DualListener l(ctx);
  ASSERT_TRUE(l.v6);
  Dialer d(DialerOptions{}, fake_resolver());
  auto v6 = run_until_done(ctx, d.dial_tcp(Address{"dual.test", l.port()}));
  ASSERT_TRUE(v6 && *v6);
  EXPECT_TRUE(v6->value().remote_endpoint().address().is_v6());
  auto v4 = run_until_done(ctx, d.dial_tcp(Address{"dual4.test", l.port()}));
  ASSERT_TRUE(v4 && *v4);
  EXPECT_TRUE(v4->value().remote_endpoint().address().is_v4());
}

TEST_F(DialerTest, PreferStrategiesPickTheFamily) {
  if (!have_ipv6_loopback()) GTEST_SKIP() << "no ::1";
  DualListener l(ctx);
  ASSERT_TRUE(l.v6);
  DialerOptions o4;
  o4.domain_strategy = DomainStrategy::prefer_ipv4;
  auto v4 = run_until_done(ctx, Dialer(o4, fake_resolver()).dial_tcp(Address{"dual.test", l.port()}));
  ASSERT_TRUE(v4 && *v4);
  EXPECT_TRUE(v4->value().remote_endpoint().address().is_v4());
  DialerOptions o6;
  o6.domain_strategy = DomainStrategy::prefer_ipv6;
  auto v6 = run_until_done(ctx, Dialer(o6, fake_resolver()).dial_tcp(Address{"dual4.test", l.port()}));
  ASSERT_TRUE(v6 && *v6);
  EXPECT_TRUE(v6->value().remote_endpoint().address().is_v6());
}

TEST_F(DialerTest, Ipv4OnlyFiltersIpv6) {
  Listener l(ctx);
  DialerOptions o;
  o.domain_strategy = DomainStrategy::ipv4_only;
  Dialer d(o, fake_resolver(), DialerHooks{recording_connect});
  auto res = run_until_done(ctx, d.dial_tcp(Address{"dual.test", l.port()}));
  ASSERT_TRUE(res && *res);
  EXPECT_EQ(g_log.attempts, (std::vector<std::string>{"127.0.0.1:" + std::to_string(l.port())}));
}

TEST_F(DialerTest, Ipv6OnlyWithOnlyIpv4HasNoSuitableAddress) {
  DialerOptions o;
  o.domain_strategy = DomainStrategy::ipv6_only;
  Dialer d(o, fake_resolver());
  auto res = run_until_done(ctx, d.dial_tcp(Address{"v4.test", 80}));
  ASSERT_TRUE(res);
  ASSERT_FALSE(*res);
  EXPECT_EQ(res->error().text(), "dial tcp: address v4.test: no suitable address found");
  auto lit = run_until_done(ctx, d.dial_tcp(Address{"127.0.0.1", 80}));
  ASSERT_TRUE(lit);
  ASSERT_FALSE(*lit);
  EXPECT_EQ(lit->error().text(), "dial tcp: address 127.0.0.1: no suitable address found");
}

TEST_F(DialerTest, ResolveUnmapsAndOrders) {
  DialerOptions o;
  o.domain_strategy = DomainStrategy::prefer_ipv4;
  Dialer d(o, fake_resolver());
  auto r = run_until_done(ctx, d.resolve("dual.test"));
  ASSERT_TRUE(r && *r);
  EXPECT_EQ(r->value(), (std::vector<asio::ip::address>{asio::ip::make_address("127.0.0.1"),
                                                         asio::ip::make_address("::1")}));
  auto m = run_until_done(ctx, d.resolve("mapped.test"));
  ASSERT_TRUE(m && *m);
  EXPECT_EQ(m->value(), (std::vector<asio::ip::address>{asio::ip::make_address("127.0.0.1")}));
}

TEST_F(DialerTest, BothFamiliesFailingReportsThePrimaryError) {
  if (!have_ipv6_loopback()) GTEST_SKIP() << "no ::1";
  auto port = closed_port(ctx);
  Dialer d(DialerOptions{}, fake_resolver());
  auto res = run_until_done(ctx, d.dial_tcp(Address{"dual.test", port}));
  ASSERT_TRUE(res);
  ASSERT_FALSE(*res);
  EXPECT_EQ(res->error().text(), "dial tcp [::1]:" + std::to_string(port) + ": connect: connection refused");
}

TEST_F(DialerTest, CancellingTheDialCancelsAttempts) {
  using namespace asio::experimental::awaitable_operators;
  Dialer d(DialerOptions{}, fake_resolver(), DialerHooks{hang_connect});
  auto res = run_until_done(ctx, d.dial_tcp(Address{"127.0.0.1", 80}) || anytls::testing::sleep_for(20ms));
  ASSERT_TRUE(res);
  EXPECT_EQ(res->index(), 1u);
  EXPECT_EQ(g_log.hung, 1);
  EXPECT_EQ(g_log.hang_cancelled, 1);
}

TEST_F(DialerTest, CancellingDuringHappyEyeballsCancelsBothFamilies) {
  using namespace asio::experimental::awaitable_operators;
  DialerOptions o;
  o.fallback_delay = 10ms;
  Dialer d(o, fake_resolver(), DialerHooks{hang_connect});
  auto res = run_until_done(ctx, d.dial_tcp(Address{"dual.test", 80}) || anytls::testing::sleep_for(100ms));
  ASSERT_TRUE(res);
  EXPECT_EQ(res->index(), 1u);
  EXPECT_EQ(g_log.hung, 2);
  EXPECT_EQ(g_log.hang_cancelled, 2);
}

TEST_F(DialerTest, OpenUdpFamilies) {
  Dialer dual(DialerOptions{}, fake_resolver());
  auto s = dual.open_udp(ctx.get_executor());
  ASSERT_TRUE(s) << s.error().text();
  EXPECT_NE(s->local_endpoint().port(), 0);

  DialerOptions o4;
  o4.domain_strategy = DomainStrategy::ipv4_only;
  auto s4 = Dialer(o4, fake_resolver()).open_udp(ctx.get_executor());
  ASSERT_TRUE(s4);
  EXPECT_TRUE(s4->local_endpoint().address().is_v4());

  DialerOptions ob;
  ob.inet4_bind_address = asio::ip::make_address_v4("127.0.0.1");
  auto sb = Dialer(ob, fake_resolver()).open_udp(ctx.get_executor());
  ASSERT_TRUE(sb);
  EXPECT_EQ(sb->local_endpoint().address(), asio::ip::make_address("127.0.0.1"));

  DialerOptions bad;
  bad.inet4_bind_address = asio::ip::make_address_v4("192.0.2.1");
  auto sbad = Dialer(bad, fake_resolver()).open_udp(ctx.get_executor());
  ASSERT_FALSE(sbad);
  EXPECT_EQ(sbad.error().text().rfind("listen udp 192.0.2.1:0: bind: ", 0), 0u) << sbad.error().text();
}

TEST(GoErrorText, Wording) {
  EXPECT_EQ(go_error_text(asio::error::connection_refused), "connection refused");
  EXPECT_EQ(go_error_text(asio::error::operation_aborted), "operation was canceled");
  EXPECT_EQ(go_error_text(asio::error::network_unreachable), "network is unreachable");
  EXPECT_EQ(go_error_text(asio::error::eof), "EOF");
}

}  // namespace
}  // namespace anytls::net
