// A small rtnetlink client (libmnl): the routes and policy rules that
// auto_route installs, listing them back for cleanup and tests, and the main
// table's default route. Blocking, one request at a time: it runs at start,
// stop and reload, and on the default-interface monitor's thread, never on a
// worker's data path.
//
// Errors are the kernel's errno as std::error_code (EPERM without
// CAP_NET_ADMIN, EEXIST for a rule or route already there, ENOENT/ESRCH for
// one that is not).
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <system_error>
#include <vector>

#include <asio/ip/address.hpp>

#include "net/result.hpp"

struct mnl_socket;

namespace anytls::tun {

// An address and a prefix length, of one family.
struct IpPrefix {
  asio::ip::address address;
  std::uint8_t length = 0;

  int family() const;  // AF_INET / AF_INET6
  std::string to_string() const;  // "10.0.0.0/8"
  friend bool operator==(const IpPrefix&, const IpPrefix&) = default;
};

// "10.0.0.0/8", "fdfe::1/126", a bare address (full length); the host bits
// are kept as given. nullopt when it is not one.
std::optional<IpPrefix> parse_prefix(const std::string& text);
// The prefix with its host bits cleared ("172.19.0.1/30" -> "172.19.0.0/30").
IpPrefix masked(const IpPrefix& p);

struct RouteSpec {
  int family = 0;                 // AF_INET / AF_INET6
  std::uint32_t table = 0;        // RT_TABLE_MAIN = 254
  IpPrefix dst;                   // length 0: default
  int ifindex = 0;                // output device; 0: none (unreachable, throw)
  std::uint8_t type = 1;          // RTN_UNICAST; RTN_UNREACHABLE, RTN_THROW
  std::uint32_t priority = 0;     // metric
};

struct UidRange {
  std::uint32_t start = 0;
  std::uint32_t end = 0;  // inclusive
  friend bool operator==(const UidRange&, const UidRange&) = default;
};

struct RuleSpec {
  int family = 0;
  std::uint32_t priority = 0;
  std::uint8_t action = 1;        // FR_ACT_TO_TBL; FR_ACT_GOTO, FR_ACT_NOP, FR_ACT_UNREACHABLE
  std::uint32_t table = 0;        // with FR_ACT_TO_TBL
  std::uint32_t goto_priority = 0;  // with FR_ACT_GOTO
  bool invert = false;            // "not": the selectors below must not all match
  std::string iif;                // "iif lo"
  std::string oif;
  std::optional<UidRange> uid_range;
  std::optional<std::uint32_t> fwmark;
  std::optional<std::uint32_t> fwmask;
  std::optional<std::uint32_t> suppress_prefixlength;
  std::optional<IpPrefix> dst;
  std::optional<IpPrefix> src;
  std::optional<std::pair<std::uint16_t, std::uint16_t>> dport_range;
};

// One NETLINK_ROUTE socket. Not thread-safe: one owner at a time.
class Netlink {
 public:
  // Opens and binds the socket; `groups` are the RTMGRP_* multicast groups
  // to listen to (0 for a request-only socket).
  static net::Result<Netlink> open(unsigned groups = 0);
  Netlink(Netlink&&) noexcept;
  Netlink& operator=(Netlink&&) noexcept;
  Netlink(const Netlink&) = delete;
  Netlink& operator=(const Netlink&) = delete;
  ~Netlink();

  std::error_code add_route(const RouteSpec& r);
  std::error_code delete_route(const RouteSpec& r);
  std::error_code add_rule(const RuleSpec& r);
  std::error_code delete_rule(const RuleSpec& r);

  // family AF_UNSPEC: both. Routes of every table when table is 0.
  net::Result<std::vector<RouteSpec>> list_routes(int family, std::uint32_t table = 0);
  net::Result<std::vector<RuleSpec>> list_rules(int family);

  // The output interface of the main table's default route of `family`
  // (lowest metric first), skipping `exclude_ifindex`; 0 when there is none.
  net::Result<int> default_route_interface(int family, int exclude_ifindex = 0);

  int fd() const;  // for poll() on a monitor socket

  // Reads one batch of multicast notifications (blocking unless the fd is
  // readable); true when any of them was a route or link change.
  net::Result<bool> read_notifications();

 private:
  explicit Netlink(mnl_socket* s);
  std::error_code request(void* buf);  // with NLM_F_ACK, waits for it
  mnl_socket* sock_ = nullptr;
  std::uint32_t port_ = 0;
  std::uint32_t seq_ = 0;
};

// Interface name <-> index (if_nametoindex / if_indextoname); 0 / "" when
// there is none.
int interface_index(const std::string& name);
std::string interface_name(int index);

}  // namespace anytls::tun
