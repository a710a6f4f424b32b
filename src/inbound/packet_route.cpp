#include "inbound/packet_route.hpp"

#include <spdlog/spdlog.h>

#include "inbound/dispatch.hpp"
#include "net/log_limit.hpp"

namespace anytls::inbound {

route::Decision decide_datagram(route::Router& router, outbound::Metadata md) {
  md.rule_index = 0;
  route::Decision d;
  // Each step moves past the matched rule, so this ends.
  for (;;) {
    d = router.decide(md);
    const bool passing = !d.reject && d.rule != nullptr &&
                         (d.action == route::Action::sniff || d.action == route::Action::resolve ||
                          d.action == route::Action::route_options);
    if (!passing || d.next <= md.rule_index) return d;
    md.rule_index = d.next;
  }
}

RoutedPacketConn::RoutedPacketConn(std::unique_ptr<net::PacketConn> inner, route::Router& router,
                                   outbound::Metadata flow, const outbound::Outbound* out)
    : inner_(std::move(inner)), router_(router), flow_(std::move(flow)), out_(out) {
  // The first destination was routed when the flow opened.
  cache_[0] = {flow_.destination, true};
  cached_ = 1;
  next_slot_ = 1 % kCacheSize;
}

bool RoutedPacketConn::allowed(const net::Address& to) {
  if (cache_[last_].to == to) return cache_[last_].allowed;
  for (std::size_t i = 0; i < cached_; ++i)
    if (cache_[i].to == to) {
      last_ = i;
      return cache_[i].allowed;
    }
  outbound::Metadata md = flow_;
  md.destination = to;
  const auto d = decide_datagram(router_, md);
  const bool ok = !d.reject && d.action == route::Action::route && d.outbound == out_;
  if (!ok) {
    thread_local net::LogLimit limit;
    if (auto more = limit.admit()) {
      const char* why = d.reject                                ? "rejected by route"
                        : d.action == route::Action::hijack_dns ? "routed to hijack-dns, not through this flow"
                                                                : "routed to another outbound than this flow's";
      spdlog::info("{} packet to {}: {}, dropped{}", log_prefix(flow_), to.to_string(), why, *more);
    }
  }
  last_ = next_slot_;
  cache_[next_slot_] = {to, ok};
  next_slot_ = (next_slot_ + 1) % kCacheSize;
  if (cached_ < kCacheSize) ++cached_;
  return ok;
}

asio::awaitable<std::error_code> RoutedPacketConn::write_packet(asio::const_buffer buf, const net::Address& to) {
  // A fake address goes on as its name; one the table does not hold is lost.
  std::optional<net::Address> real = real_destination(router_, to);
  if (!real || !allowed(*real)) {
    ++dropped_;  // UDP: the datagram is lost, the flow goes on
    co_return std::error_code{};
  }
  co_return co_await inner_->write_packet(buf, *real);
}

}  // namespace anytls::inbound
