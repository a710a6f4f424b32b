#include "tun/auto_route.hpp"

#include <algorithm>
#include <array>
#include <cerrno>
#include <utility>

#include <linux/fib_rules.h>
#include <linux/rtnetlink.h>
#include <sys/socket.h>

namespace anytls::tun {

namespace {

constexpr std::uint32_t kUidEnd = 0xFFFFFFFFu - 1;  // the kernel's largest uid

// An address as 16 bytes (v4 in the first 4) for bit arithmetic.
struct Bits {
  std::array<unsigned char, 16> b{};
  bool v4 = true;
  bool bit(int i) const { return (b[static_cast<std::size_t>(i / 8)] >> (7 - i % 8)) & 1; }
  void set(int i) { b[static_cast<std::size_t>(i / 8)] |= static_cast<unsigned char>(1u << (7 - i % 8)); }
};

Bits bits_of(const IpPrefix& p) {
  Bits x;
  x.v4 = p.address.is_v4();
  if (x.v4) {
    auto a = p.address.to_v4().to_bytes();
    std::copy(a.begin(), a.end(), x.b.begin());
  } else {
    x.b = p.address.to_v6().to_bytes();
  }
  return x;
}

IpPrefix prefix_of(const Bits& x, int length) {
  if (x.v4) {
    asio::ip::address_v4::bytes_type a;
    std::copy(x.b.begin(), x.b.begin() + 4, a.begin());
    return masked({asio::ip::address_v4(a), static_cast<std::uint8_t>(length)});
  }
  return masked({asio::ip::address_v6(x.b), static_cast<std::uint8_t>(length)});
}

// a contains b (same family).
bool contains(const IpPrefix& a, const IpPrefix& b) {
  if (a.length > b.length) return false;
  auto x = bits_of(a), y = bits_of(b);
  for (int i = 0; i < a.length; ++i)
    if (x.bit(i) != y.bit(i)) return false;
  return true;
}

bool less(const IpPrefix& a, const IpPrefix& b) {
  auto x = bits_of(a), y = bits_of(b);
  if (x.b != y.b) return x.b < y.b;
  return a.length < b.length;
}

// p minus e, where e lies inside p: the sibling of each step down to e.
void split_around(const IpPrefix& p, const IpPrefix& e, std::vector<IpPrefix>& out) {
  auto eb = bits_of(e);
  auto base = bits_of(p);
  for (int len = p.length; len < e.length; ++len) {
    // The half of the current prefix that e is not in.
    Bits sibling = base;  // zero from bit len on
    if (!eb.bit(len)) sibling.set(len);
    out.push_back(prefix_of(sibling, len + 1));
    if (eb.bit(len)) base.set(len);
  }
}

int family_of(bool v6) { return v6 ? AF_INET6 : AF_INET; }

RuleSpec rule(int family, std::uint32_t priority) {
  RuleSpec r;
  r.family = family;
  r.priority = priority;
  r.action = FR_ACT_NOP;
  return r;
}

RuleSpec to_table(int family, std::uint32_t priority, std::uint32_t table) {
  RuleSpec r = rule(family, priority);
  r.action = FR_ACT_TO_TBL;
  r.table = table;
  return r;
}

RuleSpec goto_rule(int family, std::uint32_t priority, std::uint32_t target) {
  RuleSpec r = rule(family, priority);
  r.action = FR_ACT_GOTO;
  r.goto_priority = target;
  return r;
}

IpPrefix host_zero(bool v6, int length) {
  if (v6) return {asio::ip::address_v6::any(), static_cast<std::uint8_t>(length)};
  return {asio::ip::address_v4::any(), static_cast<std::uint8_t>(length)};
}

std::vector<IpPrefix> of_family(const std::vector<IpPrefix>& v, bool v6) {
  std::vector<IpPrefix> out;
  for (const auto& p : v)
    if (p.address.is_v6() == v6) out.push_back(masked(p));
  return out;
}

// The rules of one family; `p` is its priority counter.
void family_rules(const RoutePlan& plan, bool v6, bool enabled, std::vector<RuleSpec>& out) {
  const int f = family_of(v6);
  const std::uint32_t T = plan.table_index;
  const std::uint32_t nop = plan.rule_index + 10;
  std::uint32_t p = plan.rule_index;
  auto addresses = of_family(plan.tun_addresses, v6);

  if (enabled) {
    auto skipped = skipped_uid_ranges(plan.include_uid, plan.exclude_uid);
    for (const auto& u : skipped) {
      auto r = goto_rule(f, p, nop);
      r.uid_range = u;
      out.push_back(r);
    }
    if (plan.outbound_mark != 0) {
      auto r = goto_rule(f, p, nop);
      r.fwmark = plan.outbound_mark;
      r.fwmask = plan.outbound_mark;
      out.push_back(r);
    }
    if (!skipped.empty() || plan.outbound_mark != 0) ++p;

    if (!plan.include_interface.empty()) {
      const std::uint32_t match = p + 2;
      for (const auto& name : plan.include_interface) {
        auto r = goto_rule(f, p, match);
        r.iif = name;
        out.push_back(r);
      }
      ++p;
      out.push_back(goto_rule(f, p, nop));
      ++p;
      out.push_back(rule(f, match));
      ++p;
    } else if (!plan.exclude_interface.empty()) {
      for (const auto& name : plan.exclude_interface) {
        auto r = goto_rule(f, p, nop);
        r.iif = name;
        out.push_back(r);
      }
      ++p;
    }
  }

  if (!enabled) {
    // strict_route: a family the tun does not carry must not leak around it.
    if (plan.strict_route) {
      auto r = rule(f, p);
      r.action = FR_ACT_UNREACHABLE;
      out.push_back(r);
    }
    return;
  }

  if (!v6) {
    for (const auto& a : addresses) {
      auto r = to_table(f, p, T);
      r.dst = a;
      out.push_back(r);
    }
    ++p;
  }
  {
    auto r = to_table(f, p, T);
    r.suppress_prefixlength = 0;
    out.push_back(r);
    ++p;
  }
  {
    // The main table's specific routes (the LAN), but never for DNS: queries
    // to a LAN resolver still go through the tun (DNS hijack).
    auto r = to_table(f, p, RT_TABLE_MAIN);
    r.suppress_prefixlength = 0;
    r.invert = true;
    r.dport_range = std::make_pair(std::uint16_t{53}, std::uint16_t{53});
    out.push_back(r);
  }
  {
    auto r = goto_rule(f, p, nop);
    r.iif = plan.tun_name;
    out.push_back(r);
  }
  if (!v6) {
    ++p;
    auto r = to_table(f, p, T);
    r.invert = true;
    r.iif = "lo";
    out.push_back(r);
    r = to_table(f, p, T);
    r.iif = "lo";
    r.src = host_zero(false, 32);
    out.push_back(r);
    for (const auto& a : addresses) {
      r = to_table(f, p, T);
      r.iif = "lo";
      r.src = a;
      out.push_back(r);
    }
  } else {
    auto r = goto_rule(f, p, nop);
    r.iif = "lo";
    r.src = host_zero(true, 1);
    out.push_back(r);
    r = goto_rule(f, p, nop);
    r.iif = "lo";
    asio::ip::address_v6::bytes_type high{};
    high[0] = 0x80;
    r.src = IpPrefix{asio::ip::address_v6(high), 1};
    out.push_back(r);
    ++p;
    for (const auto& a : addresses) {
      auto s = to_table(f, p, T);
      s.iif = "lo";
      s.src = a;
      out.push_back(s);
    }
    ++p;
    out.push_back(to_table(f, p, T));
  }
  out.push_back(rule(f, nop));
}

bool ignorable_on_delete(const std::error_code& ec) {
  return ec.value() == ENOENT || ec.value() == ESRCH || ec.value() == ENODEV;
}

net::Error route_error(const std::error_code& ec, const std::string& what) {
  if (ec.value() == EPERM || ec.value() == EACCES)
    return {ec, "auto_route needs CAP_NET_ADMIN (" + what + ": " + ec.message() + ")"};
  return {ec, "auto_route: " + what + ": " + ec.message()};
}

std::string describe(const RuleSpec& r) {
  return "rule " + std::to_string(r.priority) + (r.family == AF_INET6 ? " (IPv6)" : " (IPv4)");
}

std::string describe(const RouteSpec& r) {
  return "route " + r.dst.to_string() + " table " + std::to_string(r.table);
}

std::error_code add(Netlink& nl, const RouteSpec& r) { return nl.add_route(r); }
std::error_code add(Netlink& nl, const RuleSpec& r) { return nl.add_rule(r); }

// Adds each of `specs`, recording it in `added`; stops at the first error.
template <class Spec>
std::optional<net::Error> add_all(Netlink& nl, const std::vector<Spec>& specs, std::vector<Spec>& added) {
  for (const auto& spec : specs) {
    if (auto ec = add(nl, spec)) return route_error(ec, "add " + describe(spec));
    added.push_back(spec);
  }
  return std::nullopt;
}

}  // namespace

std::vector<IpPrefix> subtract_prefixes(const std::vector<IpPrefix>& base,
                                        const std::vector<IpPrefix>& exclude) {
  if (base.empty()) return {};
  bool v6 = base.front().address.is_v6();
  auto current = of_family(base, v6);
  for (const auto& e : of_family(exclude, v6)) {
    std::vector<IpPrefix> next;
    for (const auto& p : current) {
      if (contains(e, p)) continue;  // wholly excluded
      if (contains(p, e)) {
        split_around(p, e, next);
      } else {
        next.push_back(p);  // disjoint
      }
    }
    current = std::move(next);
  }
  // Sorted, duplicates and prefixes inside another one dropped.
  std::sort(current.begin(), current.end(), less);
  std::vector<IpPrefix> out;
  for (const auto& p : current)
    if (out.empty() || !contains(out.back(), p)) out.push_back(p);
  return out;
}

std::vector<UidRange> skipped_uid_ranges(const std::vector<UidRange>& include,
                                         const std::vector<UidRange>& exclude) {
  auto merge = [](std::vector<UidRange> v) {
    std::sort(v.begin(), v.end(), [](const UidRange& a, const UidRange& b) { return a.start < b.start; });
    std::vector<UidRange> out;
    for (const auto& r : v) {
      if (!out.empty() && (out.back().end == kUidEnd || r.start <= out.back().end + 1)) {
        out.back().end = std::max(out.back().end, r.end);
      } else {
        out.push_back(r);
      }
    }
    return out;
  };
  if (include.empty()) return merge(exclude);
  // The complement of (include minus exclude) over [0, kUidEnd]: excluded
  // uids skip the tun anyway, so it is the complement of include plus exclude.
  auto inc = merge(include);
  std::vector<UidRange> skipped;
  std::uint64_t next = 0;
  for (const auto& r : inc) {
    if (r.start > next) skipped.push_back({static_cast<std::uint32_t>(next), r.start - 1});
    next = static_cast<std::uint64_t>(r.end) + 1;
  }
  if (next <= kUidEnd) skipped.push_back({static_cast<std::uint32_t>(next), kUidEnd});
  skipped.insert(skipped.end(), exclude.begin(), exclude.end());
  return merge(skipped);
}

std::vector<RuleSpec> plan_rules(const RoutePlan& plan) {
  bool v4 = false, v6 = false;
  for (const auto& a : plan.tun_addresses) (a.address.is_v6() ? v6 : v4) = true;
  std::vector<RuleSpec> out;
  if (!v4 && !v6) return out;
  family_rules(plan, false, v4, out);
  family_rules(plan, true, v6, out);
  return out;
}

std::vector<RouteSpec> plan_routes(const RoutePlan& plan) {
  std::vector<RouteSpec> out;
  for (bool v6 : {false, true}) {
    bool enabled = std::any_of(plan.tun_addresses.begin(), plan.tun_addresses.end(),
                               [&](const IpPrefix& a) { return a.address.is_v6() == v6; });
    if (!enabled) continue;
    auto base = of_family(plan.route_address, v6);
    if (base.empty()) base.push_back(host_zero(v6, 0));
    for (const auto& dst : subtract_prefixes(base, plan.route_exclude_address)) {
      RouteSpec r;
      r.family = family_of(v6);
      r.table = plan.table_index;
      r.dst = dst;
      r.ifindex = plan.tun_index;
      out.push_back(r);
    }
  }
  return out;
}

AutoRoute::AutoRoute(RoutePlan plan) : plan_(std::move(plan)) {}

AutoRoute::AutoRoute(AutoRoute&& o) noexcept
    : plan_(std::move(o.plan_)),
      rules_(std::move(o.rules_)),
      routes_(std::move(o.routes_)),
      installed_(std::exchange(o.installed_, false)) {}

AutoRoute& AutoRoute::operator=(AutoRoute&& o) noexcept {
  if (this != &o) {
    if (installed_) remove();
    plan_ = std::move(o.plan_);
    rules_ = std::move(o.rules_);
    routes_ = std::move(o.routes_);
    installed_ = std::exchange(o.installed_, false);
  }
  return *this;
}

AutoRoute::~AutoRoute() {
  if (installed_) remove();
}

std::optional<net::Error> AutoRoute::install() {
  if (installed_) return std::nullopt;
  auto nl = Netlink::open();
  if (!nl) return route_error(nl.error().code, "netlink");
  auto routes = plan_routes(plan_);
  auto rules = plan_rules(plan_);
  routes_.clear();
  rules_.clear();
  installed_ = true;  // so remove() takes back a partial install
  // Routes first: the rules that lead to the table come once it is filled.
  auto err = add_all(*nl, routes, routes_);
  if (!err) err = add_all(*nl, rules, rules_);
  if (err) remove();
  return err;
}

std::optional<net::Error> AutoRoute::remove() {
  if (!installed_) return std::nullopt;
  installed_ = false;
  auto nl = Netlink::open();
  if (!nl) return route_error(nl.error().code, "netlink");
  std::optional<net::Error> first;
  // Rules first: no moment where they point at an emptied table.
  for (auto it = rules_.rbegin(); it != rules_.rend(); ++it) {
    auto ec = nl->delete_rule(*it);
    if (ec && !ignorable_on_delete(ec) && !first) first = route_error(ec, "delete " + describe(*it));
  }
  for (const auto& r : routes_) {
    auto ec = nl->delete_route(r);
    if (ec && !ignorable_on_delete(ec) && !first) first = route_error(ec, "delete " + describe(r));
  }
  rules_.clear();
  routes_.clear();
  return first;
}

net::Result<std::size_t> cleanup_stale(std::uint32_t table, std::uint32_t rule_start,
                                       std::uint32_t rule_end) {
  auto nl = Netlink::open();
  if (!nl) return route_error(nl.error().code, "netlink");
  std::size_t deleted = 0;
  for (int family : {AF_INET, AF_INET6}) {
    auto rules = nl->list_rules(family);
    if (!rules) return route_error(rules.error().code, "list rules");
    for (const auto& r : *rules) {
      if (r.priority < rule_start || r.priority > rule_end) continue;
      auto ec = nl->delete_rule(r);
      if (ec && !ignorable_on_delete(ec)) return route_error(ec, "delete stale " + describe(r));
      if (!ec) ++deleted;
    }
  }
  auto routes = nl->list_routes(AF_UNSPEC, table);
  if (!routes) return route_error(routes.error().code, "list routes");
  for (const auto& r : *routes) {
    auto ec = nl->delete_route(r);
    if (ec && !ignorable_on_delete(ec)) return route_error(ec, "delete stale " + describe(r));
    if (!ec) ++deleted;
  }
  return deleted;
}

}  // namespace anytls::tun
