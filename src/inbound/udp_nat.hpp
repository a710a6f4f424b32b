// The UDP side of the tproxy and direct inbounds (sing-box's udpnat): one
// socket receives every client's datagrams, and each flow, keyed by the
// client's address and the datagram's destination, is opened once through
// the dispatch (connect_packet) and carries the datagrams both ways.
//
// tproxy: the destination is the datagram's original one (IP_RECVORIGDSTADDR),
// and replies go out from a transparent socket bound to it, so the client
// sees the answer come from the address it sent to (a connected UDP socket
// would drop anything else). direct: every datagram goes to one destination
// (override_address / override_port) and replies leave from the listening
// socket.
//
// Bounded: at most kMaxFlows flows (the least recently used one is closed to
// make room for a new one), kMaxQueued datagrams waiting per flow (more are
// dropped, as a full socket buffer would), and a flow ends after
// udp_timeout without a datagram either way. A flow the dispatch refused
// (reject rule, failed dial) stays until then too, dropping the client's
// datagrams, so a retrying client is routed and logged once, not per
// datagram. Single-threaded: one worker.
#pragma once
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>

#include <asio/awaitable.hpp>
#include <asio/ip/udp.hpp>

#include "net/address.hpp"
#include "net/duration.hpp"
#include "net/task_group.hpp"
#include "route/router.hpp"

namespace anytls::inbound {

struct UdpNatConfig {
  std::string type;  // "tproxy", "direct": metadata and logs
  std::string tag;
  net::Duration timeout = std::chrono::minutes(5);  // udp_timeout
  // direct: where every datagram goes. nullopt: the datagram's original
  // destination, replies from a transparent socket bound to it (tproxy).
  std::optional<net::Address> destination;
  std::uint32_t routing_mark = 0;  // of the transparent reply sockets
  std::size_t max_flows = 512;
};

class UdpNat : public std::enable_shared_from_this<UdpNat> {
 public:
  static constexpr std::size_t kMaxQueued = 16;
  static constexpr std::size_t kMaxDatagram = 65536;

  // socket: bound, and for tproxy opened transparent with original
  // destinations (net::ListenConfig::transparent). router outlives this.
  UdpNat(asio::ip::udp::socket socket, route::Router& router, UdpNatConfig config);
  ~UdpNat();

  // Spawns the receive loop.
  void start();
  // Closes the socket and every flow. Idempotent.
  void close();
  asio::awaitable<void> join() { return tasks_.join(); }

  std::size_t flows() const { return flows_.size(); }
  asio::ip::udp::endpoint local_endpoint() const;
  std::string log_name() const { return "inbound/" + config_.type + "[" + config_.tag + "]"; }

  struct Flow;
  using Key = std::pair<asio::ip::udp::endpoint, asio::ip::udp::endpoint>;  // client, destination

 private:
  static asio::awaitable<void> receive_loop(std::shared_ptr<UdpNat> self);
  static asio::awaitable<void> run_flow(std::shared_ptr<UdpNat> self, std::shared_ptr<Flow> flow);
  static asio::awaitable<void> upstream(std::shared_ptr<UdpNat> self, std::shared_ptr<Flow> flow);
  static asio::awaitable<void> downstream(std::shared_ptr<UdpNat> self, std::shared_ptr<Flow> flow);
  // The flow for key, opened (and spawned) when new; null once closed.
  std::shared_ptr<Flow> flow_for(const Key& key, const net::Address& to);
  void forget(const Flow& flow);
  void evict_oldest();

  asio::ip::udp::socket socket_;
  route::Router& router_;
  UdpNatConfig config_;
  net::TaskGroup tasks_;
  std::map<Key, std::shared_ptr<Flow>> flows_;
  bool closed_ = false;
};

}  // namespace anytls::inbound
