// auto_redirect on Linux: the tun's TCP taken by nftables before it reaches
// the device. auto_route still decides what goes to the tun; NAT rules
// redirect each TCP connection that would go there to a listener of ours,
// which finds the destination with SO_ORIGINAL_DST. The connection is then
// an ordinary local socket (one pass through the kernel, as for the mixed
// inbound) instead of packets read from and written back to the device.
// UDP keeps taking the device. This is sing-tun's layout without marks:
//   - output: this host's connections whose route leads to the tun
//     (oifname, after the routing decision: every auto_route exclusion
//     holds);
//   - prerouting: connections forwarded from other hosts (a router's LAN)
//     to what auto_route routes through the tun (its routes' prefixes),
//     except from the interfaces it leaves out, to this host's own
//     addresses and subnets (as sing-tun: the LAN stays direct; kept
//     current by keep()), and what
//     the tun itself wrote. (nftables' fib lookup can't stand in for the
//     routing decision there: it looks up as from loopback, where
//     auto_route's rules for forwarded traffic don't apply.)
//   - input: a connection that reaches the listeners' ports without a
//     redirect is dropped (they take the wildcard address, so that a
//     forwarded connection can be redirected to the address it came in on).
//
// The rules live in one table, `inet anytls`, written and removed in one
// nftables transaction each (libnftables):
//   table inet anytls {
//     chain output {
//       type nat hook output priority mangle; policy accept;
//       oifname "<tun>" meta nfproto ipv4 meta l4proto tcp counter redirect to :<port4>
//       (the same for ipv6 and port6)
//     }
//     chain prerouting {
//       type nat hook prerouting priority dstnat + 1; policy accept;
//       iifname "<tun>" return
//       iifname != { <include_interface> } return   (or: iifname { <exclude_interface> } return)
//       fib daddr type local return
//       ip daddr { <this host's subnets> } return   (and ip6)
//       meta nfproto ipv4 meta l4proto tcp ip daddr { <routed> } counter redirect to :<port4>
//       (the same for ipv6 and port6; no daddr match when everything is routed)
//     }
//     chain input {
//       type filter hook input priority filter; policy accept;
//       meta l4proto tcp th dport { <port4>, <port6> } ct status & dnat == 0 counter drop
//     }
//   }
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "net/result.hpp"
#include "tun/netlink.hpp"

namespace anytls::tun {

inline constexpr const char* kRedirectTable = "anytls";

struct RedirectPlan {
  std::string tun_name;
  std::uint16_t port4 = 0;  // the IPv4 listener (0.0.0.0); 0: the family is not redirected
  std::uint16_t port6 = 0;  // the IPv6 listener ([::], IPv6 only)
  // Forwarded traffic: the destinations auto_route routes through the tun
  // (both families; a family without any is not redirected), this host's
  // subnets (local_subnets()), and auto_route's interface filter.
  std::vector<IpPrefix> routed;
  std::vector<IpPrefix> local;
  std::vector<std::string> include_interface;
  std::vector<std::string> exclude_interface;  // ignored when include_interface is set
};

// The subnets of this host's addresses, as sing-tun takes them: every
// interface's global unicast addresses (private ones included) and lo's.
std::vector<IpPrefix> local_subnets();

// The nftables script that replaces the table with the plan's (one
// transaction: created when missing, then deleted and written again).
std::string redirect_ruleset(const RedirectPlan& plan);

// Removes the table when there (a process killed before its stop left it).
// true when there was one.
net::Result<bool> remove_stale_redirect();

// Writes the plan's rules while alive; removes them on remove() or
// destruction, unless another run's rules replaced them since.
class RedirectRules {
 public:
  explicit RedirectRules(RedirectPlan plan);
  RedirectRules(const RedirectRules&) = delete;
  RedirectRules& operator=(const RedirectRules&) = delete;
  ~RedirectRules();

  std::optional<net::Error> install();
  // While running, with this host's subnets as they are now: writes the
  // table again when they changed, or when it is gone (a firewall reload
  // that flushed the ruleset); leaves alone a table another run wrote since.
  enum class Kept { unchanged, subnets_changed, restored, taken_over };
  net::Result<Kept> keep(std::vector<IpPrefix> local);
  std::optional<net::Error> remove();
  const RedirectPlan& plan() const { return plan_; }

 private:
  RedirectPlan plan_;
  bool installed_ = false;
};

}  // namespace anytls::tun
