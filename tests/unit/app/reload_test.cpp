// Components::apply: what a reload keeps, replaces, drains and starts, and
// that the router is swapped. Real listeners on 127.0.0.1 port 0. (Traffic
// across a reload is tested with real processes in tests/smoke/reload-check.sh.)
#include "app/reload.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include <asio/io_context.hpp>

#include "app/preflight.hpp"
#include "config/load.hpp"
#include "inbound/dispatch.hpp"
#include "inbound/mixed.hpp"
#include "route/rule_set.hpp"

namespace {

using anytls::app::Components;
using anytls::config::load_string;
using ::testing::UnorderedElementsAre;

std::string config(const std::string& inbounds, const std::string& outbounds, const std::string& route = "{}") {
  return R"({"inbounds": [)" + inbounds + R"(], "outbounds": [)" + outbounds + R"(], "route": )" + route + "}";
}

const std::string kMixed = R"({"type": "mixed", "tag": "m", "listen": "127.0.0.1", "listen_port": 0})";
const std::string kOuts = R"({"type": "direct", "tag": "d"}, {"type": "direct", "tag": "via", "detour": "d"},
                             {"type": "block", "tag": "b"})";

class Reload : public ::testing::Test {
 protected:
  asio::io_context io{1};
  std::shared_ptr<anytls::net::Resolver> resolver = std::make_shared<anytls::net::Resolver>();
  Components parts{io, resolver};

  std::vector<std::string> apply(const std::string& json) {
    auto options = load_string(json);
    anytls::app::preflight(options);
    auto changes = parts.apply(options);
    EXPECT_TRUE(changes.has_value());
    return changes.value_or(std::vector<std::string>{});
  }
  std::string route_tcp(const std::string& inbound) {
    anytls::outbound::Metadata md;
    md.inbound = inbound;
    md.destination = anytls::net::Address{"example.com", 443};
    auto d = parts.router().decide(md);
    return d.outbound ? d.outbound->tag() : (d.reject ? "reject" : "none");
  }
};

TEST_F(Reload, KeepsWhatDidNotChange) {
  auto first = load_string(config(kMixed, kOuts));
  ASSERT_FALSE(parts.start(first));
  auto* m = parts.inbound("m");
  auto* d = parts.outbound("d");
  auto* b = parts.outbound("b");
  ASSERT_NE(m, nullptr);
  std::uint16_t port = static_cast<anytls::inbound::MixedInbound*>(m)->port();

  EXPECT_TRUE(apply(config(kMixed, kOuts)).empty());
  EXPECT_EQ(parts.inbound("m"), m);
  EXPECT_EQ(parts.outbound("d"), d);
  EXPECT_EQ(parts.outbound("b"), b);
  EXPECT_EQ(route_tcp("m"), "d");

  // Only the route changes: every object stays, the new rule applies.
  EXPECT_TRUE(apply(config(kMixed, kOuts, R"({"rules": [{"inbound": "m", "outbound": "b"}], "final": "via"})")).empty());
  EXPECT_EQ(parts.inbound("m"), m);
  EXPECT_EQ(parts.outbound("d"), d);
  EXPECT_EQ(route_tcp("m"), "b");
  EXPECT_EQ(route_tcp("other"), "via");
  EXPECT_EQ(static_cast<anytls::inbound::MixedInbound*>(m)->port(), port);  // still listening
}

TEST_F(Reload, ReplacesChangedRemovesAndAdds) {
  ASSERT_FALSE(parts.start(load_string(config(kMixed, kOuts))));
  auto* m = parts.inbound("m");
  auto* d = parts.outbound("d");
  auto* via = parts.outbound("via");
  // d changes, so "via" (which detours through d) is rebuilt as well; b goes.
  auto changes = apply(config(kMixed + R"(, {"type": "http", "tag": "h", "listen": "127.0.0.1", "listen_port": 0})",
                              R"({"type": "direct", "tag": "d", "connect_timeout": "3s"},
                                 {"type": "direct", "tag": "via", "detour": "d"})"));
  EXPECT_THAT(changes, UnorderedElementsAre("outbound/direct[d]: replaced (old connections drain)",
                                            "outbound/direct[via]: replaced (old connections drain)",
                                            "outbound/block[b]: removed (its connections drain)",
                                            "inbound/http[h]: added"));
  EXPECT_EQ(parts.inbound("m"), m);
  EXPECT_NE(parts.outbound("d"), d);
  EXPECT_NE(parts.outbound("via"), via);
  EXPECT_EQ(parts.outbound("b"), nullptr);
  EXPECT_NE(parts.inbound("h"), nullptr);
  EXPECT_EQ(route_tcp("m"), "d");
  EXPECT_EQ(parts.outbound_count(), 2u);
  EXPECT_EQ(parts.inbound_count(), 2u);

  // An inbound whose options change is replaced, on the same address.
  changes = apply(config(R"({"type": "mixed", "tag": "m", "listen": "127.0.0.1", "listen_port": 0,
                             "users": [{"username": "u", "password": "p"}]})",
                         R"({"type": "direct", "tag": "d", "connect_timeout": "3s"},
                            {"type": "direct", "tag": "via", "detour": "d"})"));
  EXPECT_THAT(changes, UnorderedElementsAre("inbound/mixed[m]: replaced (old connections drain)",
                                            "inbound/http[h]: removed (its connections drain)"));
  EXPECT_NE(parts.inbound("m"), m);
  EXPECT_EQ(parts.inbound("h"), nullptr);
}

TEST_F(Reload, InboundThatCannotListenKeepsTheOldOne) {
  // Take a port, then ask the reloaded inbound to listen on it.
  asio::ip::tcp::acceptor taken(io, asio::ip::tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
  const auto busy = taken.local_endpoint().port();
  ASSERT_FALSE(parts.start(load_string(config(kMixed, kOuts))));
  auto* m = parts.inbound("m");
  auto changes = apply(config(R"({"type": "mixed", "tag": "m", "listen": "127.0.0.1", "listen_port": )" +
                                  std::to_string(busy) + "}",
                              kOuts));
  EXPECT_TRUE(changes.empty());
  EXPECT_EQ(parts.inbound("m"), m);  // still the old one, still listening
  EXPECT_TRUE(static_cast<anytls::inbound::MixedInbound*>(m)->port() != 0);
}

}  // namespace

namespace {

// Issue 24: a reload keeps nothing large of the configuration it replaces.
// The replaced DNS module (and its cache) is freed as soon as nothing uses
// it: here a hijacked flow's hold on it, taken from a decision, is all
// that keeps it, and it goes with that hold. Twenty reloads leave one.
TEST_F(Reload, ReplacedDnsModuleIsReleased) {
  const std::string route = R"({"rules": [{"port": 53, "action": "hijack-dns"}], "final": "d"})";
  auto cfg = [&](int i) {
    // Each reload changes the DNS module (its cache size), so a new one is built.
    std::string d = R"("dns": {"servers": [{"type": "local", "tag": "l"}], "cache_capacity": )" +
                    std::to_string(1024 + i) + "}, ";
    return "{" + d + R"("inbounds": [)" + kMixed + R"(], "outbounds": [)" + kOuts + R"(], "route": )" + route + "}";
  };
  auto first = load_string(cfg(0));
  anytls::app::preflight(first);
  ASSERT_FALSE(parts.start(first));
  anytls::outbound::Metadata md;
  md.inbound = "m";
  md.network = anytls::outbound::Network::udp;
  md.destination = anytls::net::Address{"127.0.0.1", 53};
  auto held = parts.router().decide(md).hijack_dns;  // as a hijacked flow holds it
  ASSERT_TRUE(held);
  std::weak_ptr<anytls::route::DnsHandler> first_dns = held;
  std::vector<std::weak_ptr<anytls::route::DnsHandler>> replaced;
  for (int i = 1; i <= 20; ++i) {
    replaced.push_back(parts.router().decide(md).hijack_dns);
    apply(cfg(i));
  }
  // The flow still has its module; the other replaced ones are gone.
  EXPECT_FALSE(first_dns.expired());
  std::size_t alive = 0;
  for (const auto& w : replaced) alive += !w.expired();
  EXPECT_EQ(alive, 1u) << "only the module the flow holds may stay";
  held.reset();
  EXPECT_TRUE(first_dns.expired());
  EXPECT_TRUE(parts.router().decide(md).hijack_dns);
}

}  // namespace

namespace {

// Issue 24: twenty reloads with a large remote rule set keep one copy of it
// loaded: the replaced router's sets and their updater are freed once the
// updater has stopped (before, every reload kept its sets until exit:
// +140 MB a reload with a 1.5-million-suffix set).
TEST_F(Reload, ReplacedRuleSetsAreReleased) {
  namespace fs = std::filesystem;
  const fs::path dir = fs::path(::testing::TempDir()) / ("anytls-reload-sets-" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  ::setenv("STATE_DIRECTORY", dir.c_str(), 1);
  {
    // The copy a download left: 20,000 suffixes (about 1 MB decoded).
    std::ofstream f(dir / "rule-set-big.json");
    f << R"({"version": 1, "rules": [{"domain_suffix": [)";
    for (int i = 0; i < 20000; ++i) f << (i ? "," : "") << "\"host" << i << ".example\"";
    f << "]}]}";
  }
  const std::string route = R"({"rule_set": [{"type": "remote", "tag": "big", "format": "source",
                                 "url": "http://127.0.0.1:9/big.json", "download_detour": "d",
                                 "update_interval": "24h"}],
                                "rules": [{"rule_set": "big", "outbound": "b"}], "final": "d"})";
  auto first = load_string(config(kMixed, kOuts, route));
  anytls::app::preflight(first);
  ASSERT_FALSE(parts.start(first));
  io.run_for(std::chrono::milliseconds(20));
  auto& budget = anytls::route::RuleSetBudget::process();
  const std::size_t one = budget.used();
  EXPECT_GT(one, 500000u) << "the set's decoded size is charged";
  anytls::outbound::Metadata md;
  md.inbound = "m";
  md.destination = anytls::net::Address{"www.host7.example", 443};
  EXPECT_EQ(parts.router().decide(md).outbound, parts.outbound("b"));
  for (int i = 0; i < 20; ++i) {
    apply(config(kMixed, kOuts, route));
    io.run_for(std::chrono::milliseconds(20));  // the replaced updater stops and goes
  }
  EXPECT_EQ(budget.used(), one) << "replaced rule sets are still loaded";
  EXPECT_EQ(parts.router().decide(md).outbound, parts.outbound("b"));
  ::unsetenv("STATE_DIRECTORY");
  fs::remove_all(dir);
}

}  // namespace

namespace {

// Issue 26: dns.rules name the route's rule sets (was "rule-set not found":
// the DNS module built its matchers without them), at start and on reload,
// from one loaded copy.
TEST_F(Reload, DnsRulesUseTheRouteRuleSets) {
  const std::string dns = R"("dns": {"servers": [{"type": "local", "tag": "l"}, {"type": "hosts", "tag": "h"}],
                                     "rules": [{"rule_set": "ads", "server": "h"}], "final": "l"}, )";
  const std::string route = R"({"rule_set": [{"type": "inline", "tag": "ads", "rules": [{"domain_suffix": "ad.test"}]}],
                                "rules": [{"rule_set": "ads", "outbound": "b"}], "final": "d"})";
  const std::string json = "{" + dns + R"("inbounds": [)" + kMixed + R"(], "outbounds": [)" + kOuts +
                           R"(], "route": )" + route + "}";
  auto first = load_string(json);
  anytls::app::preflight(first);
  auto failure = parts.start(first);
  ASSERT_FALSE(failure) << failure->message;
  auto& budget = anytls::route::RuleSetBudget::process();
  const std::size_t one = budget.used();
  apply(json);
  apply(json);
  EXPECT_EQ(budget.used(), one) << "the route and the DNS rules share one copy";
  anytls::outbound::Metadata md;
  md.inbound = "m";
  md.destination = anytls::net::Address{"x.ad.test", 443};
  EXPECT_EQ(parts.router().decide(md).outbound, parts.outbound("b"));
}

}  // namespace

namespace {

// The router connections ask is the switch a reload swaps: it must reach
// the DNS module's fakeip table (it did not, so fake addresses were dialled
// as they were in a running process).
TEST_F(Reload, FakeAddressesReachTheDnsModuleThroughTheRouterInUse) {
  const std::string json = R"({"dns": {"servers": [{"type": "local", "tag": "l"},
                                                  {"type": "fakeip", "tag": "f", "inet4_range": "198.18.0.0/15"}],
                                      "rules": [{"query_type": "A", "server": "f"}], "final": "l"},
                              "inbounds": [)" + kMixed + R"(], "outbounds": [)" + kOuts + R"(], "route": {"final": "d"}})";
  auto first = load_string(json);
  anytls::app::preflight(first);
  auto failure = parts.start(first);
  ASSERT_FALSE(failure) << failure->message;
  ASSERT_TRUE(parts.router().dns());
  // In the range, never handed out: refused, not dialled.
  EXPECT_FALSE(anytls::inbound::real_destination(parts.router(), anytls::net::Address{"198.18.0.5", 80}));
  const anytls::net::Address real{"192.0.2.1", 80};
  EXPECT_EQ(anytls::inbound::real_destination(parts.router(), real), real);
  // A name handed out before the reload (the server's table, as its DNS
  // answers fill it) still stands for its address after it.
  auto table = parts.fakeip_tables().table("f", "198.18.0.0/15", anytls::dns::parse_fakeip_range("198.18.0.0/15"), "",
                                           std::nullopt);
  ASSERT_EQ(table->create("kept.test", false), asio::ip::make_address("198.18.0.2"));
  apply(json);  // and after a reload
  EXPECT_FALSE(anytls::inbound::real_destination(parts.router(), anytls::net::Address{"198.18.0.5", 80}));
  auto kept = anytls::inbound::real_destination(parts.router(), anytls::net::Address{"198.18.0.2", 80});
  ASSERT_TRUE(kept);
  EXPECT_EQ(kept->host, "kept.test");
}

}  // namespace
