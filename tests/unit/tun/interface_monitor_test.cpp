// auto_detect_interface in a namespace: the monitor finds the default
// route's interface and follows it when the route moves to another veth;
// a dial through net::Dialer with it set is bound there and bypasses the tun
// that auto_route installed.
#include <gtest/gtest.h>
#include <sys/socket.h>

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/io_context.hpp>
#include <chrono>
#include <thread>

#include "net/dialer.hpp"
#include "tun/auto_route.hpp"
#include "tun/interface_monitor.hpp"
#include "unit/tun/netns.hpp"

namespace anytls::tun {
namespace {

using test::sh;

class InterfaceMonitorTest : public test::NamespaceTest {
 protected:
  InterfaceMonitorTest()
      : NamespaceTest("anytls-tun-route-mon",
                      "ip link add veth0 type veth peer name veth0p && ip link add veth1 type veth peer name veth1p"
                      " && for d in veth0 veth0p veth1 veth1p; do ip link set $d up || exit 1; done"
                      " && ip addr add 192.0.2.2/24 dev veth0 && ip addr add 10.9.0.1/24 dev veth1"
                      " && ip route add default via 192.0.2.1 dev veth0") {}

  // Waits for the monitor's notification-driven update (bounded).
  static bool wait_for(const net::DefaultInterface& d, int index) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(3);
    while (d.index() != index) {
      if (std::chrono::steady_clock::now() > deadline) return false;
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    return true;
  }
};

TEST_F(InterfaceMonitorTest, FollowsTheDefaultRoute) {
  auto target = std::make_shared<net::DefaultInterface>();
  auto m = DefaultInterfaceMonitor::start(target, "tun0");
  ASSERT_TRUE(m) << m.error().text();
  int veth0 = interface_index("veth0"), veth1 = interface_index("veth1");
  EXPECT_EQ(target->index(), veth0);  // known at once, before any change
  EXPECT_EQ(target->name(), "veth0");

  ASSERT_EQ(sh("ip route replace default via 10.9.0.2 dev veth1").status, 0);
  EXPECT_TRUE(wait_for(*target, veth1));
  EXPECT_EQ(target->name(), "veth1");

  ASSERT_EQ(sh("ip route del default").status, 0);
  EXPECT_TRUE(wait_for(*target, 0));

  // A tun's own default route in main is never taken.
  ASSERT_EQ(sh("ip tuntap add dev tun0 mode tun && ip link set tun0 up && ip route add default dev tun0").status, 0);
  ASSERT_EQ(sh("ip route add default via 192.0.2.1 dev veth0 metric 100").status, 0);
  EXPECT_TRUE(wait_for(*target, veth0));
}

// The source address a dial to 203.0.113.1 gets (the connect itself fails:
// nothing answers; the source is set once the route is chosen).
asio::awaitable<void> dial_once(net::Dialer d, std::string* source) {
  auto ex = co_await asio::this_coro::executor;
  auto s = d.open_udp(ex);
  if (!s) {
    *source = s.error().text();
    co_return;
  }
  std::error_code ec;
  s->connect(asio::ip::udp::endpoint(asio::ip::make_address("203.0.113.1"), 53), ec);
  *source = ec ? ec.message() : s->local_endpoint().address().to_string();
}

TEST_F(InterfaceMonitorTest, DialsBindToItAndBypassTheTun) {
  ASSERT_EQ(sh("ip tuntap add dev tun0 mode tun && ip addr add 172.19.0.1/30 dev tun0 && ip link set tun0 up").status, 0);
  RoutePlan plan;
  plan.tun_name = "tun0";
  plan.tun_index = interface_index("tun0");
  plan.tun_addresses = {*parse_prefix("172.19.0.1/30")};
  AutoRoute ar(plan);
  ASSERT_FALSE(ar.install());

  auto target = std::make_shared<net::DefaultInterface>();
  auto m = DefaultInterfaceMonitor::start(target, "tun0");
  ASSERT_TRUE(m);
  ASSERT_EQ(target->name(), "veth0");

  asio::io_context io;
  auto resolver = std::make_shared<net::Resolver>();
  net::DialerOptions plain;
  net::DialerOptions bound;
  bound.inet4_bind_address = std::nullopt;
  bound.domain_strategy = net::DomainStrategy::ipv4_only;
  plain.domain_strategy = net::DomainStrategy::ipv4_only;
  bound.default_interface = target;
  std::string via_plain, via_bound;
  asio::co_spawn(io, dial_once(net::Dialer(plain, resolver), &via_plain), asio::detached);
  asio::co_spawn(io, dial_once(net::Dialer(bound, resolver), &via_bound), asio::detached);
  io.run();
  EXPECT_EQ(via_plain, "172.19.0.1");  // through the tun
  EXPECT_EQ(via_bound, "192.0.2.2");   // bound to the default interface
}

}  // namespace
}  // namespace anytls::tun
