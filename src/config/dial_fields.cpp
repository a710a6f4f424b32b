// The dial fields outbounds and DNS servers share.
#include "config/sections.hpp"

#include <system_error>

#include <asio/ip/address.hpp>

namespace anytls::config::detail {

void decode_domain_resolver(Obj& o, std::string_view key, std::string& tag, DomainStrategy& strategy) {
  const json* v = o.get(key);
  if (!v) return;
  if (v->is_string()) {
    tag = v->get<std::string>();
    return;
  }
  Obj r(*v, o.at(key));
  tag = required_string(r, "server");
  strategy = parse_strategy(r, "strategy");
  for (const char* k : {"disable_cache", "rewrite_ttl", "client_subnet"})
    if (r.get(k)) fail(r.at(k), "not supported on a domain_resolver (set it in dns.rules or dns)");
  r.finish();
}

void decode_dial(Obj& o, DialOptions& d) {
  d.detour = get_string(o, "detour");
  d.bind_interface = get_string(o, "bind_interface");
  d.inet4_bind_address = get_string(o, "inet4_bind_address");
  if (!d.inet4_bind_address.empty()) {
    std::error_code ec;
    auto a = asio::ip::make_address(d.inet4_bind_address, ec);
    if (ec || !a.is_v4())
      fail(o.at("inet4_bind_address"), "expected an IPv4 address, got " + in_quotes(d.inet4_bind_address));
  }
  d.inet6_bind_address = get_string(o, "inet6_bind_address");
  if (!d.inet6_bind_address.empty()) {
    std::error_code ec;
    auto a = asio::ip::make_address(d.inet6_bind_address, ec);
    if (ec || !a.is_v6())
      fail(o.at("inet6_bind_address"), "expected an IPv6 address, got " + in_quotes(d.inet6_bind_address));
  }
  d.routing_mark = get_mark(o, "routing_mark");
  d.reuse_addr = get_bool(o, "reuse_addr");
  d.connect_timeout = get_duration(o, "connect_timeout", defaults::kConnectTimeout, true);
  d.tcp_fast_open = get_bool(o, "tcp_fast_open");
  d.tcp_keep_alive = get_duration(o, "tcp_keep_alive", defaults::kTcpKeepAlive, true);
  d.tcp_keep_alive_interval =
      get_duration(o, "tcp_keep_alive_interval", defaults::kTcpKeepAliveInterval, true);
  d.disable_tcp_keep_alive = get_bool(o, "disable_tcp_keep_alive");
  d.domain_strategy = parse_strategy(o, "domain_strategy");
  d.fallback_delay = get_duration(o, "fallback_delay", defaults::kFallbackDelay, true);
  decode_domain_resolver(o, "domain_resolver", d.domain_resolver, d.domain_resolver_strategy);
  d.tcp_multi_path = get_bool(o, "tcp_multi_path");
  d.udp_fragment = get_bool(o, "udp_fragment");
  if (!get_string(o, "netns").empty())
    fail(o.at("netns"), "not supported: network namespaces (start anytls inside it: ip netns exec NAME anytls run ...)");
  // sing-box picks among interfaces by what Android's network monitor says
  // about them; Linux gives no such monitor.
  if (std::string ns = get_string(o, "network_strategy"); !ns.empty() && ns != "default")
    fail(o.at("network_strategy"), "not supported: network_strategy needs Android's network monitor (sing-box applies it only with auto_detect_interface on Android)");
  for (const char* k : {"network_type", "fallback_network_type"})
    if (o.get(k)) fail(o.at(k), "not supported: it belongs to network_strategy (Android's network monitor)");
}

}  // namespace anytls::config::detail
