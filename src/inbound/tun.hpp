// The tun inbound (Linux) with sing-box's "system" stack: TCP is carried by
// the kernel's own stack (tun/nat.hpp: each connection's packets are
// rewritten to reach a local listener on the tun's address, and the
// accepted connection finds its original destination by the NAT port), UDP
// is read and written as packets, one flow per (source, destination). Every
// connection and flow goes through the one dispatch path (dispatch.hpp) as
// inbound type "tun": source the client's address, destination the address
// the client used (a fake one stays fake there; dispatch translates it).
// ICMP (echo included) and other protocols are dropped.
//
// Runs on one worker: the device, the NAT and the flows are that worker's.
// With auto_route, start() installs the routes and policy rules
// (tun/auto_route.hpp), after clearing those a killed earlier process left,
// and stop() removes them. With auto_redirect as well, the TCP those routes
// send to the tun (this host's, and forwarded) is redirected by nftables
// rules to listeners of the inbound before it reaches the device
// (tun/redirect_rules.hpp; its destination from conntrack), and takes the
// same dispatch path.
#pragma once
#include <memory>
#include <string>
#include <system_error>

#include <asio/awaitable.hpp>
#include <asio/io_context.hpp>

#include "config/options.hpp"
#include "inbound/inbound.hpp"
#include "route/router.hpp"

namespace anytls::inbound {

struct TunState;

class TunInbound final : public Inbound {
 public:
  // Bounds: open UDP flows, datagrams waiting while a flow opens.
  static constexpr std::size_t kMaxUdpFlows = 4096;
  static constexpr std::size_t kMaxPendingDatagrams = 32;

  TunInbound(asio::io_context& io, std::string tag, config::TunInboundOptions options, route::Router& router);
  ~TunInbound() override;

  // auto_route: dials carrying this mark (route.default_mark) skip the tun.
  // Before start().
  void set_outbound_mark(std::uint32_t mark);

  const std::string& tag() const override;
  // Creates the device and the listeners. On failure start_error() says
  // why ("TUNSETIFF tun0: Operation not permitted (CAP_NET_ADMIN is needed)").
  std::error_code start() override;
  const std::string& start_error() const { return start_error_; }
  // Closes the device (it goes away), the listeners, every connection and flow.
  void stop() override;
  asio::awaitable<void> join() override;

  // After start(): the device's name.
  const std::string& interface_name() const;
  std::size_t udp_flows() const;
  std::size_t tcp_connections() const;

 private:
  // auto_redirect's listeners and nftables table.
  std::error_code start_redirect(TunState& st);

  std::shared_ptr<TunState> st_;
  std::string start_error_;
};

}  // namespace anytls::inbound
