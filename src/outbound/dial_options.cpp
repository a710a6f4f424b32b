#include "outbound/dial_options.hpp"

#include <stdexcept>

namespace anytls::outbound {

namespace {

net::DomainStrategy convert(config::DomainStrategy s) {
  switch (s) {
    case config::DomainStrategy::as_is: return net::DomainStrategy::as_is;
    case config::DomainStrategy::prefer_ipv4: return net::DomainStrategy::prefer_ipv4;
    case config::DomainStrategy::prefer_ipv6: return net::DomainStrategy::prefer_ipv6;
    case config::DomainStrategy::ipv4_only: return net::DomainStrategy::ipv4_only;
    case config::DomainStrategy::ipv6_only: return net::DomainStrategy::ipv6_only;
  }
  return net::DomainStrategy::as_is;
}

}  // namespace

net::DialerOptions make_dialer_options(const config::DialOptions& dial) {
  net::DialerOptions o;
  o.bind_interface = dial.bind_interface;
  std::error_code ec;
  if (!dial.inet4_bind_address.empty()) {
    auto a = asio::ip::make_address(dial.inet4_bind_address, ec);
    if (ec || !a.is_v4())
      throw std::invalid_argument("inet4_bind_address: not an IPv4 address: " + dial.inet4_bind_address);
    o.inet4_bind_address = a.to_v4();
  }
  if (!dial.inet6_bind_address.empty()) {
    auto a = asio::ip::make_address(dial.inet6_bind_address, ec);
    if (ec || !a.is_v6())
      throw std::invalid_argument("inet6_bind_address: not an IPv6 address: " + dial.inet6_bind_address);
    o.inet6_bind_address = a.to_v6();
  }
  o.routing_mark = dial.routing_mark;
  o.reuse_addr = dial.reuse_addr;
  o.connect_timeout = dial.connect_timeout;
  o.tcp_fast_open = dial.tcp_fast_open;
  o.disable_tcp_keep_alive = dial.disable_tcp_keep_alive;
  o.tcp_keep_alive = dial.tcp_keep_alive;
  o.tcp_keep_alive_interval = dial.tcp_keep_alive_interval;
  o.domain_strategy = convert(dial.domain_strategy);
  o.fallback_delay = dial.fallback_delay;
  o.tcp_multi_path = dial.tcp_multi_path;
  return o;
}

}  // namespace anytls::outbound
