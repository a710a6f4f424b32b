// auto_redirect on Linux: the tun's TCP taken by nftables before it reaches
// the device. auto_route still decides what goes to the tun; a rule in the
// output hook's NAT redirects each TCP connection whose route leads to the
// tun to a listener of ours on loopback, which finds the destination with
// SO_ORIGINAL_DST. The connection is then an ordinary local socket (one
// pass through the kernel, as for the mixed inbound) instead of packets
// read from and written back to the device. UDP and what else reaches the
// tun keep taking the device. This is sing-tun's output chain (its mode
// without marks); forwarded traffic (a router's LAN) is not redirected
// here and keeps taking the tun.
//
// The rules live in one table, `inet anytls`, written and removed in one
// nftables transaction each (libnftables):
//   table inet anytls {
//     chain output {
//       type nat hook output priority mangle; policy accept;
//       oifname "<tun>" meta nfproto ipv4 meta l4proto tcp counter redirect to :<port4>
//       oifname "<tun>" meta nfproto ipv6 meta l4proto tcp counter redirect to :<port6>
//     }
//   }
#pragma once
#include <cstdint>
#include <optional>
#include <string>

#include "net/result.hpp"

namespace anytls::tun {

inline constexpr const char* kRedirectTable = "anytls";

struct RedirectPlan {
  std::string tun_name;
  std::uint16_t port4 = 0;  // the IPv4 listener on 127.0.0.1; 0: the family is not redirected
  std::uint16_t port6 = 0;  // the IPv6 listener on ::1
};

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
  std::optional<net::Error> remove();

 private:
  RedirectPlan plan_;
  bool installed_ = false;
};

}  // namespace anytls::tun
