// auto_route on Linux, the way sing-box (sing-tun) installs it: the tun's
// routes in their own table (iproute2_table_index, default 2022) and policy
// rules from iproute2_rule_index (default 9000) that send traffic there,
// except what must stay outside (excluded uids / interfaces, the tun's own
// packets, sockets bound to another interface's address, our marked
// outbound traffic), and with strict_route a family the tun does not carry
// made unreachable instead of leaking.
//
// The layout, per family (v4 and v6 count priorities separately; nop is
// rule_index + 10, an empty rule goto jumps to, "skip the tun"):
//   start      uidrange <excluded> goto nop; fwmark <mark> goto nop
//   next       iif <include_interface> goto match; then: goto nop; match: (empty)
//              or: iif <exclude_interface> goto nop
//   next       (strict_route, family without tun address) unreachable
//   v4 next    to <tun subnet> lookup T
//   next       lookup T suppress_prefixlength 0   (T's specific routes)
//   next       not dport 53 lookup main suppress_prefixlength 0 (the LAN,
//              but DNS to a LAN resolver still goes to the tun);
//              iif <tun> goto nop                  (packets the tun wrote)
//              v6: iif lo from ::/1 goto nop; iif lo from 8000::/1 goto nop
//              (a source-less lookup matches no "from" rule: only sockets
//              bound to an address skip)
//   v4 next    not iif lo lookup T; iif lo from 0.0.0.0/32 lookup T;
//              iif lo from <tun subnet> lookup T   (forwarded and unbound
//              local traffic; a socket bound to a LAN address stays out)
//   v6 next    iif lo from <tun subnet> lookup T; next: lookup T
//   nop        (empty)
// The routes of T: route_address (default: everything) minus
// route_exclude_address, dev <tun>.
//
// The fwmark rule is ours (sing-box relies on binding to the default
// interface): dials carrying route.default_mark / routing_mark skip the tun.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "net/result.hpp"
#include "tun/netlink.hpp"

namespace anytls::tun {

struct RoutePlan {
  int tun_index = 0;
  std::string tun_name;
  std::vector<IpPrefix> tun_addresses;        // both families; a family is routed when present
  std::uint32_t table_index = 2022;           // iproute2_table_index
  std::uint32_t rule_index = 9000;            // iproute2_rule_index
  bool strict_route = false;
  std::vector<IpPrefix> route_address;        // empty: the whole family
  std::vector<IpPrefix> route_exclude_address;
  std::vector<UidRange> include_uid;          // include_uid + include_uid_range
  std::vector<UidRange> exclude_uid;          // exclude_uid + exclude_uid_range
  std::vector<std::string> include_interface;
  std::vector<std::string> exclude_interface;  // ignored when include_interface is set
  std::uint32_t outbound_mark = 0;            // route.default_mark; 0: none
};

// The rules and routes a plan installs, in installation order.
std::vector<RuleSpec> plan_rules(const RoutePlan& plan);
std::vector<RouteSpec> plan_routes(const RoutePlan& plan);

// Ranges of `base` not covered by `exclude`, as sorted prefixes without
// overlaps (adjacent ones are not merged; one family: base's first).
std::vector<IpPrefix> subtract_prefixes(const std::vector<IpPrefix>& base,
                                        const std::vector<IpPrefix>& exclude);
// Uid ranges that skip the tun: exclude_uid, or with include_uid everything
// outside it (minus exclude_uid's holes), merged and sorted.
std::vector<UidRange> skipped_uid_ranges(const std::vector<UidRange>& include,
                                         const std::vector<UidRange>& exclude);

class AutoRoute {
 public:
  explicit AutoRoute(RoutePlan plan);
  AutoRoute(AutoRoute&& o) noexcept;  // o no longer owns the installation
  AutoRoute& operator=(AutoRoute&& o) noexcept;
  ~AutoRoute();  // remove() when still installed

  // Adds the routes and rules; on failure, takes back what it added.
  // Errors: "auto_route needs CAP_NET_ADMIN" (EPERM), "auto_route: add rule
  // 9001 ...: File exists".
  std::optional<net::Error> install();
  // Deletes exactly what install() added (rules first); idempotent.
  std::optional<net::Error> remove();
  bool installed() const { return installed_; }
  const RoutePlan& plan() const { return plan_; }

 private:
  RoutePlan plan_;
  std::vector<RuleSpec> rules_;
  std::vector<RouteSpec> routes_;
  bool installed_ = false;
};

// Deletes what an earlier process (killed before its remove()) left: every
// rule of either family with a priority in [rule_start, rule_end] and every
// route of `table`. Called before install() at start. The number deleted.
net::Result<std::size_t> cleanup_stale(std::uint32_t table, std::uint32_t rule_start,
                                       std::uint32_t rule_end);
// The range auto_route uses from rule_index: [rule_index, rule_index + 10].
inline std::uint32_t rule_range_end(std::uint32_t rule_index) { return rule_index + 10; }

}  // namespace anytls::tun
