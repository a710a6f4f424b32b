#include "inbound/packet_route.hpp"

#include <asio/error.hpp>
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

bool transient_udp_error(const std::error_code& ec) {
  return ec == asio::error::connection_refused || ec == asio::error::host_unreachable ||
         ec == asio::error::network_unreachable || ec == asio::error::message_size ||
         ec == asio::error::no_buffer_space || ec == asio::error::host_not_found ||
         ec == asio::error::host_not_found_try_again || ec == asio::error::no_data ||
         ec == asio::error::address_family_not_supported;
}

RoutedPacketConn::RoutedPacketConn(std::unique_ptr<net::PacketConn> inner, route::Router& router,
                                   outbound::Metadata flow, const outbound::Outbound* out)
    : inner_(std::move(inner)), router_(router), flow_(std::move(flow)), out_(out) {
  // The first destination was routed when the flow opened.
  cache_[0] = {flow_.destination, true, flow_.destination};
  cached_ = 1;
  next_slot_ = 1 % kCacheSize;
}

const net::Address* RoutedPacketConn::route(const net::Address& to) {
  auto found = [this](std::size_t i) { return cache_[i].allowed ? &cache_[i].real : nullptr; };
  if (cache_[last_].to == to) return found(last_);
  for (std::size_t i = 0; i < cached_; ++i)
    if (cache_[i].to == to) {
      last_ = i;
      return found(i);
    }
  std::optional<net::Address> real = real_destination(router_, to);
  bool ok = false;
  const char* why = "missing fakeip record";
  if (real) {
    outbound::Metadata md = flow_;
    md.destination = *real;
    const auto d = decide_datagram(router_, md);
    ok = !d.reject && d.action == route::Action::route && d.outbound == out_;
    why = d.reject                                ? "rejected by route"
          : d.action == route::Action::hijack_dns ? "routed to hijack-dns, not through this flow"
                                                  : "routed to another outbound than this flow's";
  }
  if (!ok) {
    thread_local net::LogLimit limit;
    if (auto more = limit.admit()) spdlog::info("{} packet to {}: {}, dropped{}", log_prefix(flow_), to.to_string(), why, *more);
  }
  last_ = next_slot_;
  cache_[next_slot_] = {to, ok, real.value_or(to)};
  next_slot_ = (next_slot_ + 1) % kCacheSize;
  if (cached_ < kCacheSize) ++cached_;
  return found(last_);
}

asio::awaitable<std::error_code> RoutedPacketConn::write_packet(asio::const_buffer buf, const net::Address& to) {
  // The flow's one writer: nothing else touches the cache entry `real`
  // points into while the write waits.
  const net::Address* real = route(to);
  if (!real) {
    ++dropped_;  // UDP: the datagram is lost, the flow goes on
    co_return std::error_code{};
  }
  co_return co_await inner_->write_packet(buf, *real);
}

}  // namespace anytls::inbound
