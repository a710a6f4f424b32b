// The system stack's TCP NAT (as sing-tun's "system" stack does it): a
// connection S:sp -> D:dp from the tun is rewritten to come from the tun
// prefix's next address at a NAT port and to go to our listener on the
// tun's own address, so the kernel's TCP accepts it; the NAT port maps back
// to (S:sp, D:dp) for the replies and for the accepted connection's
// original destination. Pure: time is passed in.
//
// Bounded: at most `capacity` entries (ports from kFirstPort up). An entry
// lives while packets pass, and `timeout` after the last one; ports are
// handed out round the range, so a freed port is reused as late as possible
// (the kernel may still hold its old connection in TIME_WAIT).
#pragma once
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <unordered_map>

#include "tun/packet.hpp"

namespace anytls::tun {

struct FlowKey {
  Endpoint source;
  Endpoint destination;
  bool operator==(const FlowKey&) const = default;
};

struct FlowKeyHash {
  std::size_t operator()(const FlowKey& k) const noexcept;
};

class TcpNat {
 public:
  using Clock = std::chrono::steady_clock;
  static constexpr std::uint16_t kFirstPort = 1024;

  TcpNat(std::size_t capacity, Clock::duration timeout);

  // The NAT port of the flow, refreshed. A new flow gets one only when
  // `open` (a SYN); nullopt when it has none, or the table is full.
  std::optional<std::uint16_t> port_for(const FlowKey& flow, bool open, Clock::time_point now);
  // The flow of a NAT port, refreshed; null when the port is not in use.
  const FlowKey* flow_of(std::uint16_t port, Clock::time_point now);
  // Forgets the entries idle past the timeout. Returns how many went.
  std::size_t expire(Clock::time_point now);
  std::size_t size() const { return by_port_.size(); }
  std::size_t capacity() const { return capacity_; }

 private:
  struct Entry {
    FlowKey flow;
    Clock::time_point last;
  };
  std::size_t capacity_;
  Clock::duration timeout_;
  std::unordered_map<std::uint16_t, Entry> by_port_;
  std::unordered_map<FlowKey, std::uint16_t, FlowKeyHash> by_flow_;
  std::uint16_t next_ = kFirstPort;
};

}  // namespace anytls::tun
