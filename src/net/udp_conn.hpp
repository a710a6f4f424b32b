// PacketConn over an unconnected UDP socket, and an idle timer for UDP flows
// (the server's UoT streams and SOCKS5 UDP associations: udp_timeout).
#pragma once
#include <cstddef>
#include <map>
#include <memory>
#include <string>
#include <unordered_map>

#include <asio/any_io_executor.hpp>
#include <asio/awaitable.hpp>
#include <asio/ip/udp.hpp>

#include "net/clock.hpp"
#include "net/conn.hpp"
#include "net/timer.hpp"
#include "net/dialer.hpp"
#include "net/duration.hpp"

namespace anytls::net {

// Sends to any address: IP literals directly, names through the dialer's
// resolver (domain_strategy applied, result cached for the flow's life).
// Replies from an address a name resolved to are reported as coming from
// that name (sing-box's domain unmapping), so a SOCKS5 client that sent to
// "dns.example:53" sees its answer from "dns.example:53". IPv4 peers of a
// dual-stack socket are reported as plain IPv4.
class UdpPacketConn final : public PacketConn {
 public:
  UdpPacketConn(asio::ip::udp::socket socket, Dialer dialer);
  ~UdpPacketConn() override { close(); }

  asio::awaitable<ReadResult> read_packet(asio::mutable_buffer buf, Address& from) override;
  // Errors: resolution failures as asio::error::host_not_found (and friends);
  // a destination of the wrong family for the socket as
  // address_family_not_supported.
  asio::awaitable<std::error_code> write_packet(asio::const_buffer buf, const Address& to) override;
  void close() override;

  // Connects the socket to one peer (an IPv4 peer of a dual-stack socket
  // as its mapped address): the kernel then drops datagrams from any other
  // source before they are queued, and write_packet() to that peer still
  // works. For a flow with a single peer (a DNS query).
  std::error_code connect_peer(const asio::ip::address& ip, std::uint16_t port);

  asio::ip::udp::socket& socket() { return socket_; }

 private:
  static constexpr std::size_t kMaxCache = 256;

  asio::ip::udp::socket socket_;
  Dialer dialer_;
  bool v6_ = false;       // an IPv6 socket
  bool v6_only_ = false;  // ... that cannot reach IPv4
  std::unordered_map<std::string, asio::ip::address> resolved_;  // name -> address sent to
  std::map<asio::ip::udp::endpoint, std::string> names_;         // peer -> name it came from
};

// Fires after `timeout` without touch(). touch() is O(1) (it does not re-arm
// a timer), so it can be called for every packet. Use from one executor:
//   auto idle = IdleTimer::create(ex, udp_timeout);
//   co_await (relay(...) || idle->wait());
class IdleTimer : public std::enable_shared_from_this<IdleTimer> {
 public:
  // clock: null = the real one.
  static std::shared_ptr<IdleTimer> create(asio::any_io_executor ex, Duration timeout, Clock* clock = nullptr);

  void touch() { last_ = timer_.clock().now(); }
  Duration timeout() const { return timeout_; }
  // Completes when the flow has been idle for `timeout` (or on cancellation).
  // timeout <= 0 never fires.
  asio::awaitable<void> wait();

  IdleTimer(asio::any_io_executor ex, Duration timeout, Clock* clock);  // use create()

 private:
  static asio::awaitable<void> run(std::shared_ptr<IdleTimer> self);

  Timer timer_;
  Duration timeout_;
  Clock::time_point last_;
};

// A PacketConn that touches an IdleTimer on every packet either way.
class IdleTrackingPacketConn final : public PacketConn {
 public:
  IdleTrackingPacketConn(std::unique_ptr<PacketConn> inner, std::shared_ptr<IdleTimer> idle)
      : inner_(std::move(inner)), idle_(std::move(idle)) {}

  asio::awaitable<ReadResult> read_packet(asio::mutable_buffer buf, Address& from) override;
  asio::awaitable<std::error_code> write_packet(asio::const_buffer buf, const Address& to) override;
  void close() override { inner_->close(); }

 private:
  std::unique_ptr<PacketConn> inner_;
  std::shared_ptr<IdleTimer> idle_;
};

}  // namespace anytls::net
