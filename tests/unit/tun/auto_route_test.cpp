// auto_route in a namespace: a veth with the default route (the "LAN"), a
// second veth as another inbound interface, and a tun made by `ip tuntap`.
// The assertions are the kernel's routing decisions (`ip route get`, and
// the source address a connected socket gets).
#include <arpa/inet.h>
#include <cstring>
#include <gtest/gtest.h>
#include <linux/rtnetlink.h>
#include <netinet/in.h>
#include <linux/capability.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tun/auto_route.hpp"
#include "unit/tun/netns.hpp"

namespace anytls::tun {
namespace {

using test::sh;

IpPrefix P(const char* text) { return *parse_prefix(text); }

std::vector<std::string> texts(const std::vector<IpPrefix>& v) {
  std::vector<std::string> out;
  for (const auto& p : v) out.push_back(p.to_string());
  return out;
}

TEST(AutoRoutePlan, SubtractsExcludedPrefixes) {
  EXPECT_EQ(texts(subtract_prefixes({P("0.0.0.0/0")}, {P("128.0.0.0/1")})),
            (std::vector<std::string>{"0.0.0.0/1"}));
  EXPECT_EQ(texts(subtract_prefixes({P("10.0.0.0/8")}, {P("10.0.0.0/10"), P("10.192.0.0/10")})),
            (std::vector<std::string>{"10.64.0.0/10", "10.128.0.0/10"}));
  EXPECT_EQ(texts(subtract_prefixes({P("0.0.0.0/0")}, {P("192.168.0.0/16"), P("::/0")})).size(), 16u);
  EXPECT_EQ(texts(subtract_prefixes({P("10.0.0.0/8")}, {P("0.0.0.0/0")})).size(), 0u);
  EXPECT_EQ(texts(subtract_prefixes({P("10.0.0.0/8"), P("10.1.0.0/16")}, {})),
            (std::vector<std::string>{"10.0.0.0/8"}));
  EXPECT_EQ(texts(subtract_prefixes({P("::/0")}, {P("8000::/1")})), (std::vector<std::string>{"::/1"}));
}

TEST(AutoRoutePlan, SkippedUidRanges) {
  EXPECT_EQ(skipped_uid_ranges({}, {{5, 9}, {1, 4}, {20, 20}}), (std::vector<UidRange>{{1, 9}, {20, 20}}));
  // include 1000-1999 but not 1500: everything else skips the tun.
  EXPECT_EQ(skipped_uid_ranges({{1000, 1999}}, {{1500, 1500}}),
            (std::vector<UidRange>{{0, 999}, {1500, 1500}, {2000, 0xFFFFFFFEu}}));
}

TEST(AutoRoutePlan, PrioritiesFollowSingTun) {
  RoutePlan plan;
  plan.tun_name = "tun0";
  plan.tun_index = 7;
  plan.tun_addresses = {P("172.19.0.1/30"), P("fdfe:dcba:9876::1/126")};
  auto rules = plan_rules(plan);
  std::vector<std::uint32_t> v4, v6;
  for (const auto& r : rules) (r.family == AF_INET ? v4 : v6).push_back(r.priority);
  EXPECT_EQ(v4, (std::vector<std::uint32_t>{9000, 9001, 9002, 9002, 9003, 9003, 9003, 9010}));
  EXPECT_EQ(v6, (std::vector<std::uint32_t>{9000, 9001, 9001, 9001, 9001, 9002, 9003, 9010}));
  auto routes = plan_routes(plan);
  ASSERT_EQ(routes.size(), 2u);
  EXPECT_EQ(routes[0].dst.to_string(), "0.0.0.0/0");
  EXPECT_EQ(routes[1].dst.to_string(), "::/0");
  EXPECT_EQ(routes[1].table, 2022u);
}

class AutoRouteTest : public test::NamespaceTest {
 protected:
  // veth0: the LAN with both default routes; veth1: another inbound
  // interface (forwarded traffic); tun0: the tun, no process behind it.
  AutoRouteTest()
      : NamespaceTest("anytls-tun-route",
                      "sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1"
                      " && ip link add veth0 type veth peer name veth0p && ip link add veth1 type veth peer name veth1p"
                      " && for d in veth0 veth0p veth1 veth1p; do ip link set $d up || exit 1; done"
                      " && ip addr add 192.0.2.2/24 dev veth0 && ip route add default via 192.0.2.1 dev veth0"
                      " && ip -6 addr add 2001:db8:1::2/64 dev veth0 nodad"
                      " && ip -6 route add default via 2001:db8:1::1 dev veth0"
                      " && ip addr add 10.9.0.1/24 dev veth1"
                      " && ip tuntap add dev tun0 mode tun && ip addr add 172.19.0.1/30 dev tun0"
                      " && ip -6 addr add fdfe:dcba:9876::1/126 dev tun0 nodad && ip link set tun0 up") {}
  void SetUp() override {
    NamespaceTest::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    before_ = state();
  }

  static std::string state() {
    return sh("ip rule show; ip -6 rule show; ip route show table all | grep -v 'table local';"
              " ip -6 route show table all | grep -v 'table local'").out;
  }

  RoutePlan plan(bool v6 = true) const {
    RoutePlan p;
    p.tun_name = "tun0";
    p.tun_index = interface_index("tun0");
    p.tun_addresses.push_back(P("172.19.0.1/30"));
    if (v6) p.tun_addresses.push_back(P("fdfe:dcba:9876::1/126"));
    return p;
  }

  // The device `ip route get <args>` picks, or "unreachable".
  static std::string via(const std::string& args, bool v6 = false) {
    auto r = sh(std::string(v6 ? "ip -6" : "ip") + " route get " + args);
    if (r.status != 0) return r.out.find("unreachable") != std::string::npos ? "unreachable" : r.out;
    auto at = r.out.find(" dev ");
    if (at == std::string::npos) return r.out;
    auto name = r.out.substr(at + 5);
    return name.substr(0, name.find(' '));
  }

  std::string before_;
};

TEST_F(AutoRouteTest, RoutesThroughTheTunExceptWhatIsExcluded) {
  auto p = plan();
  p.route_exclude_address = {P("198.51.100.0/24"), P("2001:db8:99::/48")};
  p.exclude_uid = {{1000, 1999}};
  p.exclude_interface = {"veth1"};
  p.outbound_mark = 0x99;
  AutoRoute ar(p);
  auto err = ar.install();
  ASSERT_FALSE(err) << err->text();

  EXPECT_EQ(via("1.1.1.1"), "tun0");
  EXPECT_EQ(via("2001:4860::1", true), "tun0");
  EXPECT_EQ(via("198.51.100.7"), "veth0");             // route_exclude_address
  EXPECT_EQ(via("2001:db8:99::1", true), "veth0");
  EXPECT_EQ(via("1.1.1.1 uid 1500"), "veth0");          // exclude_uid
  EXPECT_EQ(via("1.1.1.1 uid 2000"), "tun0");
  EXPECT_EQ(via("2001:4860::1 uid 1000", true), "veth0");
  EXPECT_EQ(via("1.1.1.1 mark 0x99"), "veth0");         // our own outbound traffic
  EXPECT_EQ(via("1.1.1.1 from 10.9.0.2 iif veth1"), "veth0");  // exclude_interface
  // The table's routes around an excluded prefix are specific ones, so
  // they win over the LAN's (as in sing-box: exclude the LAN explicitly).
  EXPECT_EQ(via("192.0.2.77"), "tun0");

  auto shown = sh("ip route show table 2022").out;
  EXPECT_NE(shown.find("dev tun0"), std::string::npos) << shown;
  EXPECT_EQ(shown.find("198.51.100.0/24"), std::string::npos) << shown;

  ASSERT_FALSE(ar.remove());
  EXPECT_EQ(state(), before_);
  EXPECT_EQ(via("1.1.1.1"), "veth0");
}

TEST_F(AutoRouteTest, IncludeInterfaceAndRouteAddress) {
  auto p = plan(false);
  p.include_interface = {"veth1"};
  p.route_address = {P("1.0.0.0/8")};
  AutoRoute ar(p);
  auto err = ar.install();
  ASSERT_FALSE(err) << err->text();
  EXPECT_EQ(via("1.1.1.1 from 10.9.0.2 iif veth1"), "tun0");
  EXPECT_EQ(via("1.1.1.1 from 192.0.2.9 iif veth0"), "veth0");  // not included
  EXPECT_EQ(via("1.1.1.1"), "veth0");  // local traffic: not an included interface
  EXPECT_EQ(via("8.8.8.8 from 10.9.0.2 iif veth1"), "veth0");  // outside route_address
  EXPECT_EQ(via("2001:4860::1", true), "veth0");  // IPv6 untouched without strict_route
  {
    AutoRoute moved(std::move(ar));  // the moved-from one owns nothing now
    EXPECT_FALSE(ar.installed());
    EXPECT_FALSE(ar.remove());
    EXPECT_EQ(via("1.1.1.1 from 10.9.0.2 iif veth1"), "tun0");
  }  // removed by the destructor
  EXPECT_EQ(state(), before_);
}

TEST_F(AutoRouteTest, StrictRouteMakesTheOtherFamilyUnreachable) {
  auto p = plan(false);
  p.strict_route = true;
  AutoRoute ar(p);
  auto err = ar.install();
  ASSERT_FALSE(err) << err->text();
  EXPECT_EQ(via("1.1.1.1"), "tun0");
  EXPECT_EQ(via("2001:4860::1", true), "unreachable");
  // With only the default route in the table, the LAN stays on the LAN...
  EXPECT_EQ(via("192.0.2.77"), "veth0");
  EXPECT_EQ(via("192.0.2.77 ipproto udp dport 53"), "tun0");  // ...but not its DNS
  EXPECT_EQ(via("1.1.1.1 from 172.19.0.2 iif tun0"), "veth0");  // what the tun wrote
  ASSERT_FALSE(ar.remove());
  EXPECT_EQ(state(), before_);
  EXPECT_EQ(via("2001:4860::1", true), "veth0");
}

// The source address the kernel gives a UDP socket connected to dst: the
// tun's address when routed through it.
std::string source_for(const char* dst, const char* bind_device) {
  int fd = ::socket(AF_INET, SOCK_DGRAM, 0);
  if (fd < 0) return "socket failed";
  if (bind_device) ::setsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, bind_device, static_cast<socklen_t>(std::strlen(bind_device)));
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(53);
  ::inet_pton(AF_INET, dst, &sa.sin_addr);
  std::string out = "connect failed";
  if (::connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) == 0) {
    socklen_t len = sizeof sa;
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&sa), &len);
    char buf[INET_ADDRSTRLEN];
    out = ::inet_ntop(AF_INET, &sa.sin_addr, buf, sizeof buf);
  }
  ::close(fd);
  return out;
}

TEST_F(AutoRouteTest, ASocketBoundToTheDefaultInterfaceBypassesTheTun) {
  AutoRoute ar(plan());
  auto err = ar.install();
  ASSERT_FALSE(err) << err->text();
  EXPECT_EQ(source_for("1.1.1.1", nullptr), "172.19.0.1");
  EXPECT_EQ(source_for("1.1.1.1", "veth0"), "192.0.2.2");
  EXPECT_EQ(via("1.1.1.1 oif veth0"), "veth0");
}

TEST_F(AutoRouteTest, CleanupStaleRemovesWhatAKilledProcessLeft) {
  auto p = plan();
  // A child installs and exits without remove(), as kill -9 would.
  pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    AutoRoute ar(p);
    ::_exit(ar.install() ? 1 : (ar.installed() ? 0 : 2));  // _exit: no destructor runs
  }
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  ASSERT_NE(state(), before_);

  // Installing over the leftovers fails; cleanup first, then it works.
  {
    AutoRoute again(p);
    auto err = again.install();
    ASSERT_TRUE(err);
    EXPECT_NE(err->text().find("File exists"), std::string::npos) << err->text();
  }
  auto deleted = cleanup_stale(p.table_index, p.rule_index, rule_range_end(p.rule_index));
  ASSERT_TRUE(deleted) << deleted.error().text();
  EXPECT_EQ(*deleted, plan_rules(p).size() + plan_routes(p).size());
  EXPECT_EQ(state(), before_);

  AutoRoute ar(p);
  auto err = ar.install();
  ASSERT_FALSE(err) << err->text();
  auto nl = Netlink::open();
  std::size_t ours = 0;
  for (int f : {AF_INET, AF_INET6}) {
    auto rules = nl->list_rules(f);  // kept: a range-for over *temporary would dangle
    ASSERT_TRUE(rules) << rules.error().text();
    for (const auto& r : *rules)
      if (r.priority >= 9000 && r.priority <= 9010) ++ours;
  }
  EXPECT_EQ(ours, plan_rules(p).size());
  EXPECT_EQ(nl->list_routes(AF_UNSPEC, 2022)->size(), plan_routes(p).size());
  ASSERT_FALSE(ar.remove());
  EXPECT_EQ(state(), before_);
}

TEST_F(AutoRouteTest, WithoutCapNetAdminItSaysSo) {
  // A child without any capability (root's uid kept) tries to install.
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
    __user_cap_data_struct data[2] = {};
    if (::syscall(SYS_capset, &header, data) != 0) ::_exit(3);
    AutoRoute ar(plan());
    auto err = ar.install();
    std::string text = err ? err->text() : "installed";
    [[maybe_unused]] auto n = ::write(fds[1], text.data(), text.size());
    ::_exit(0);
  }
  ::close(fds[1]);
  std::string text;
  char buf[512];
  ssize_t n;
  while ((n = ::read(fds[0], buf, sizeof buf)) > 0) text.append(buf, static_cast<std::size_t>(n));
  ::close(fds[0]);
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  EXPECT_EQ(text.rfind("auto_route needs CAP_NET_ADMIN", 0), 0u) << text;
  EXPECT_EQ(state(), before_);
}

}  // namespace
}  // namespace anytls::tun
