#include "tun/nat.hpp"

#include <algorithm>
#include <vector>

namespace anytls::tun {

std::size_t FlowKeyHash::operator()(const FlowKey& k) const noexcept {
  // FNV-1a over the fields that differ between flows.
  std::size_t h = 1469598103934665603ull;
  auto mix = [&h](std::uint8_t b) { h = (h ^ b) * 1099511628211ull; };
  for (const Endpoint* e : {&k.source, &k.destination}) {
    for (std::size_t i = 0; i < e->ip.size(); ++i) mix(e->ip.bytes[i]);
    mix(static_cast<std::uint8_t>(e->port >> 8));
    mix(static_cast<std::uint8_t>(e->port));
    mix(e->ip.v6);
  }
  return h;
}

TcpNat::TcpNat(std::size_t capacity, Clock::duration timeout)
    : capacity_(std::min<std::size_t>(capacity, 65536 - kFirstPort)), timeout_(timeout) {}

std::optional<std::uint16_t> TcpNat::port_for(const FlowKey& flow, bool open, Clock::time_point now) {
  if (auto it = by_flow_.find(flow); it != by_flow_.end()) {
    by_port_[it->second].last = now;
    return it->second;
  }
  if (!open) return std::nullopt;
  if (by_port_.size() >= capacity_ && expire(now) == 0) return std::nullopt;
  // A free port exists (size < capacity <= the range): the walk ends.
  for (;;) {
    const std::uint16_t port = next_;
    next_ = next_ == 65535 ? kFirstPort : static_cast<std::uint16_t>(next_ + 1);
    auto it = by_port_.find(port);
    if (it != by_port_.end()) {
      if (now - it->second.last <= timeout_) continue;
      by_flow_.erase(it->second.flow);
      by_port_.erase(it);
    }
    by_port_.emplace(port, Entry{flow, now});
    by_flow_.emplace(flow, port);
    return port;
  }
}

const FlowKey* TcpNat::flow_of(std::uint16_t port, Clock::time_point now) {
  auto it = by_port_.find(port);
  if (it == by_port_.end()) return nullptr;
  if (now - it->second.last > timeout_) {
    by_flow_.erase(it->second.flow);
    by_port_.erase(it);
    return nullptr;
  }
  it->second.last = now;
  return &it->second.flow;
}

std::size_t TcpNat::expire(Clock::time_point now) {
  std::vector<std::uint16_t> old;
  for (const auto& [port, e] : by_port_)
    if (now - e.last > timeout_) old.push_back(port);
  for (auto port : old) {
    by_flow_.erase(by_port_[port].flow);
    by_port_.erase(port);
  }
  return old.size();
}

}  // namespace anytls::tun
