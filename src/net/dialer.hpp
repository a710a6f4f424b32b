// Outgoing TCP connections and UDP sockets honouring sing-box's Dial fields:
// connect_timeout, bind_interface (SO_BINDTODEVICE; or the detected default
// interface, route.auto_detect_interface), inet4/inet6 bind
// addresses, routing_mark (SO_MARK), reuse_addr, TCP keep-alive,
// tcp_fast_open (TCP_FASTOPEN_CONNECT), domain_strategy and Happy Eyeballs
// (RFC 8305 style: the preferred family first, the other one fallback_delay
// later or as soon as the preferred family has failed, first success wins,
// the loser is cancelled).
//
// Errors read like Go's net errors, since they travel to AnyTLS clients:
//   "dial tcp 127.0.0.1:9: connect: connection refused"
//   "dial tcp: lookup x.invalid: no such host"
//   "dial tcp 10.0.0.1:80: i/o timeout"
//
// A Dialer is a cheap, copyable handle on shared immutable state. dial_tcp()
// runs its attempts on the awaiting coroutine's executor, which must be
// single-threaded (an io_context run by one thread, or a strand).
#pragma once
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <system_error>
#include <vector>

#include <asio/any_io_executor.hpp>
#include <asio/awaitable.hpp>
#include <asio/ip/address.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/ip/udp.hpp>

#include "net/address.hpp"
#include "net/default_interface.hpp"
#include "net/duration.hpp"
#include "net/resolver.hpp"
#include "net/result.hpp"

namespace anytls::net {

enum class DomainStrategy { as_is, prefer_ipv4, prefer_ipv6, ipv4_only, ipv6_only };

// The Dial fields, parsed (outbound/dial_options.hpp builds this from
// config::DialOptions). detour is not here: it is an outbound-level concern.
struct DialerOptions {
  std::string bind_interface;                         // SO_BINDTODEVICE; empty = none
  std::optional<asio::ip::address_v4> inet4_bind_address;
  std::optional<asio::ip::address_v6> inet6_bind_address;
  std::uint32_t routing_mark = 0;                     // SO_MARK; 0 = none
  bool reuse_addr = false;                            // SO_REUSEADDR
  Duration connect_timeout = std::chrono::seconds(5);  // whole dial incl. lookup; 0 = none
  bool tcp_fast_open = false;                         // TCP_FASTOPEN_CONNECT (best effort)
  bool disable_tcp_keep_alive = false;
  Duration tcp_keep_alive = std::chrono::minutes(5);            // idle before the first probe
  Duration tcp_keep_alive_interval = std::chrono::seconds(75);  // between probes
  DomainStrategy domain_strategy = DomainStrategy::as_is;
  Duration fallback_delay = std::chrono::milliseconds(300);     // Happy Eyeballs; 0 = 300ms
  // Name lookups go here instead of the shared Resolver when set (the DNS
  // module: dns block, domain_resolver). Must not be a coroutine lambda with
  // captures (GCC 12): call a coroutine function with parameters.
  std::function<asio::awaitable<Result<std::vector<asio::ip::address>>>(const std::string& host)> lookup;
  bool tcp_multi_path = false;                        // IPPROTO_MPTCP, TCP if the kernel refuses
  bool mark_best_effort = false;  // routing_mark from route.default_mark: warn, not fail, when refused
  // route.auto_detect_interface: without bind_interface, bind to this one
  // (SO_BINDTOIFINDEX) when it is known; loopback destinations stay unbound.
  std::shared_ptr<const DefaultInterface> default_interface;
};

// Test hooks (never set in production).
struct DialerHooks {
  // Replaces socket.async_connect(endpoint). Must honour per-operation
  // cancellation like async_connect does.
  std::function<asio::awaitable<std::error_code>(asio::ip::tcp::socket&, asio::ip::tcp::endpoint)> connect;
};

class Dialer {
 public:
  // resolver: shared by every dialer of the process; must not be null.
  Dialer(DialerOptions options, std::shared_ptr<Resolver> resolver, DialerHooks hooks = {});

  // A connected TCP socket to destination (name or IP literal). The whole
  // dial, lookup included, is bounded by connect_timeout. Cancellation of the
  // awaiting coroutine cancels every attempt.
  asio::awaitable<Result<asio::ip::tcp::socket>> dial_tcp(Address destination) const;

  // host's addresses with domain_strategy applied: *_only filters, prefer_*
  // orders (stable). v4-mapped IPv6 addresses are returned as IPv4. Errors:
  // "lookup x: no such host", "address ::1: no suitable address found".
  asio::awaitable<Result<std::vector<asio::ip::address>>> resolve(std::string host) const;

  // An unconnected UDP socket with the bind options applied, bound to an
  // ephemeral port. Family: IPv4 with ipv4_only or when only
  // inet4_bind_address is set; IPv6-only with ipv6_only or when only
  // inet6_bind_address is set; else dual-stack IPv6 (falls back to IPv4 when
  // the host has no IPv6). Errors: "listen udp 0.0.0.0:0: bind: ...".
  Result<asio::ip::udp::socket> open_udp(const asio::any_io_executor& ex) const;

  const DialerOptions& options() const;
  const std::shared_ptr<Resolver>& resolver() const;

  struct Impl;

 private:
  std::shared_ptr<const Impl> impl_;
};

// Go's wording for a socket error: "connection refused", "i/o timeout",
// "operation was canceled", "network is unreachable", ...
std::string go_error_text(const std::error_code& ec);

}  // namespace anytls::net
