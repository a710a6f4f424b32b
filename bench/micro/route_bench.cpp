// Route decision cost with large rule sets: 100k domain suffixes, 100k
// exact domains and 100k IPv4 prefixes in one rule set, a rule naming it,
// then decide() for names and addresses that hit and that miss (a miss
// walks every label of the name and searches the whole prefix set).
#include <benchmark/benchmark.h>

#include <random>
#include <string>

#include "outbound/block.hpp"
#include "route/rule_router.hpp"

using namespace anytls;

namespace {

struct Fixture {
  outbound::BlockOutbound proxy{"proxy"}, direct{"direct"};
  std::unique_ptr<route::RuleRouter> router;
  std::vector<std::string> hit_names, miss_names, hit_ips, miss_ips;

  Fixture() {
    std::mt19937 rng(42);
    config::RouteRule set_rule;
    for (int i = 0; i < 100000; ++i) {
      set_rule.domain_suffix.push_back("site" + std::to_string(i) + ".example" + std::to_string(i % 50));
      set_rule.domain.push_back("host" + std::to_string(i) + ".exact.test");
      std::uint32_t net = (rng() & 0xFFFFFF00u) | 0x01000000u;
      set_rule.ip_cidr.push_back(std::to_string(net >> 24) + "." + std::to_string((net >> 16) & 255) + "." +
                                 std::to_string((net >> 8) & 255) + ".0/24");
      if (i % 1000 == 0) {
        hit_names.push_back("a.b.site" + std::to_string(i) + ".example" + std::to_string(i % 50));
        hit_ips.push_back(std::to_string(net >> 24) + "." + std::to_string((net >> 16) & 255) + "." +
                          std::to_string((net >> 8) & 255) + ".77");
        miss_names.push_back("www.cdn" + std::to_string(i) + ".elsewhere.org");
        miss_ips.push_back("0." + std::to_string(i % 256) + ".1.1");  // 0/8 is never generated
      }
    }
    config::RouteOptions opts;
    config::RuleSetOptions rs;
    rs.type = "inline";
    rs.tag = "big";
    rs.rules.push_back(set_rule);
    opts.rule_set.push_back(rs);
    config::RouteRule r;
    r.rule_set = {"big"};
    r.outbound = "direct";
    opts.rules.push_back(r);
    opts.final = "proxy";
    router = std::make_unique<route::RuleRouter>(opts, "proxy", [this](std::string_view t) -> outbound::Outbound* {
      return t == "proxy" ? &proxy : &direct;
    });
  }
};

Fixture& fixture() {
  static Fixture f;
  return f;
}

void run(benchmark::State& state, const std::vector<std::string>& hosts, const char* expect) {
  auto& f = fixture();
  std::vector<outbound::Metadata> mds;
  for (const auto& h : hosts) {
    outbound::Metadata m;
    m.destination = net::Address{h, 443};
    mds.push_back(m);
  }
  std::size_t i = 0;
  for (auto _ : state) {
    auto d = f.router->decide(mds[i++ % mds.size()]);
    benchmark::DoNotOptimize(d);
    if (d.outbound->tag() != expect) state.SkipWithError("wrong decision");
  }
}

void BM_RouteDomainHit(benchmark::State& s) { run(s, fixture().hit_names, "direct"); }
void BM_RouteDomainMiss(benchmark::State& s) { run(s, fixture().miss_names, "proxy"); }
void BM_RouteIpHit(benchmark::State& s) { run(s, fixture().hit_ips, "direct"); }
void BM_RouteIpMiss(benchmark::State& s) { run(s, fixture().miss_ips, "proxy"); }

}  // namespace

BENCHMARK(BM_RouteDomainHit);
BENCHMARK(BM_RouteDomainMiss);
BENCHMARK(BM_RouteIpHit);
BENCHMARK(BM_RouteIpMiss);
BENCHMARK_MAIN();
