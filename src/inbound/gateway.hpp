// The gateway inbounds (Linux), which take connections a router's firewall
// sends them rather than requests a client addresses to a proxy:
//   redirect  TCP; the destination from SO_ORIGINAL_DST (an nftables
//             `redirect to :port` rule; IPv4 and IPv6);
//   tproxy    TCP and UDP with IP_TRANSPARENT (a `tproxy to :port` rule):
//             a TCP connection's destination is its local address, a
//             datagram's comes with it (inbound/udp_nat.hpp);
//   direct    TCP and UDP to override_address / override_port (homeproxy's
//             `dns-in`); without them, as sing-box: the address the client
//             connected to (TCP) or the listening address (UDP).
// Every connection and flow then takes the one dispatch path.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <system_error>

#include <asio/awaitable.hpp>
#include <asio/io_context.hpp>

#include "config/options.hpp"
#include "inbound/inbound.hpp"
#include "route/router.hpp"

namespace anytls::inbound {

struct GatewayContext;

class GatewayInbound final : public Inbound {
 public:
  // type: "redirect", "tproxy" or "direct". udp: whether this one opens the
  // UDP socket (of a sharded inbound only the first shard does: a flow's
  // datagrams must all reach the worker that holds it).
  GatewayInbound(asio::io_context& io, std::string type, std::string tag, config::GatewayInboundOptions options,
                 route::Router& router, bool udp = true);
  ~GatewayInbound() override;

  const std::string& tag() const override;
  // Opens the TCP listener and/or the UDP socket (the same port: listen_port
  // 0 takes the TCP one's). Errors name what failed in start_error(), e.g.
  // "listen tcp 0.0.0.0:7893: IP_TRANSPARENT: operation not permitted
  // (needs CAP_NET_ADMIN)".
  std::error_code start() override;
  const std::string& start_error() const;
  void stop() override;
  asio::awaitable<void> join() override;
  // Stops accepting: the listener and the UDP socket (its flows end).
  void drain() override;

  std::uint16_t port() const;
  std::size_t live_connections() const;
  std::size_t udp_flows() const;

 private:
  std::shared_ptr<GatewayContext> ctx_;
};

}  // namespace anytls::inbound
