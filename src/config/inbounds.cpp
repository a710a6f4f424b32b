// The "inbounds" section: mixed, socks, http, anytls, redirect, tproxy, direct, tun (tun_fields.cpp).
#include "config/sections.hpp"

#include "anytls/padding.hpp"

namespace anytls::config::detail {
namespace {

void decode_listen(Obj& o, ListenOptions& l) {
  l.listen = required_string(o, "listen");
  if (!is_ip(l.listen)) fail(o.at("listen"), "expected an IP address, got " + in_quotes(l.listen));
  l.listen_port = get_port(o, "listen_port");
  l.tcp_fast_open = get_bool(o, "tcp_fast_open");
  l.tcp_multi_path = get_bool(o, "tcp_multi_path");
  l.reuse_addr = get_bool(o, "reuse_addr");
  l.bind_interface = get_string(o, "bind_interface");
  l.routing_mark = get_mark(o, "routing_mark");
  l.tcp_keep_alive = get_duration(o, "tcp_keep_alive", defaults::kTcpKeepAlive, true);
  l.tcp_keep_alive_interval =
      get_duration(o, "tcp_keep_alive_interval", defaults::kTcpKeepAliveInterval, true);
  l.disable_tcp_keep_alive = get_bool(o, "disable_tcp_keep_alive");
  l.udp_timeout = get_udp_timeout(o, "udp_timeout");
  decode_sniff_fields(o, l);
  // Legacy (sing-box < 1.11) as well: decode() turns it into a resolve rule.
  l.domain_strategy = parse_strategy(o, "domain_strategy");
  l.udp_fragment = get_bool(o, "udp_fragment");
  // Fields sing-box has whose absence would change what happens.
  if (!get_string(o, "netns").empty())
    fail(o.at("netns"), "not supported: network namespaces (start anytls inside it: ip netns exec NAME anytls run ...)");
  if (!get_string(o, "detour").empty())
    fail(o.at("detour"), "not supported: handing an inbound's connections to another inbound");
  if (get_bool(o, "udp_disable_domain_unmapping"))
    fail(o.at("udp_disable_domain_unmapping"), "not supported by anytls-cpp (UDP replies always come from the address asked)");
}

// sing-box's "network" of an inbound: "tcp", "udp", or absent/"" for both;
// "udp,tcp" and a list are read as rules read them.
void decode_network(Obj& o, GatewayInboundOptions& g) {
  const json* v = o.get("network");
  if (!v) return;
  std::vector<std::string> parts = get_strings(o, "network");
  bool tcp = false, udp = false;
  for (std::size_t i = 0; i < parts.size(); ++i) {
    const std::string& n = parts[i];
    for (std::size_t at = 0; at <= n.size();) {
      const std::size_t comma = std::min(n.find(',', at), n.size());
      const std::string one = n.substr(at, comma - at);
      if (one == "tcp") tcp = true;
      else if (one == "udp") udp = true;
      else if (!one.empty()) fail(v->is_array() ? item(o.at("network"), i) : o.at("network"), "unknown network " + in_quotes(n) + " (tcp udp)");
      at = comma + 1;
    }
  }
  if (!tcp && !udp) tcp = udp = true;  // "" is both
  g.tcp = tcp;
  g.udp = udp;
}

GatewayInboundOptions decode_gateway(Obj& o, const std::string& type) {
  GatewayInboundOptions g;
  decode_listen(o, g.listen);
  if (type == "redirect") {
    g.udp = false;  // SO_ORIGINAL_DST is TCP's; sing-box's redirect has no network field
  } else {
    g.udp = true;
    decode_network(o, g);
  }
  if (type == "direct") {
    g.override_address = get_string(o, "override_address");
    g.override_port = get_port(o, "override_port");
  }
  return g;
}

// The same parser the server uses, so what loads here also starts.
void check_padding_scheme(const std::string& text, const std::string& path) {
  if (!proto::PaddingScheme::parse(text)) fail(path, "invalid padding scheme: it needs a \"stop=N\" line with an integer N");
}

}  // namespace

// Legacy (sing-box < 1.11) sniffing fields: decode() turns them into a
// sniff rule.
void decode_sniff_fields(Obj& o, ListenOptions& l) {
  l.sniff = get_bool(o, "sniff");
  l.sniff_override_destination = get_bool(o, "sniff_override_destination");
  l.sniff_timeout = get_duration(o, "sniff_timeout", defaults::kSniffTimeout, true);
}

InboundOptions decode_inbound(const json& j, const std::string& path, std::vector<std::string>& warnings) {
  Obj o(j, path);
  InboundOptions in;
  in.type = required_string(o, "type");
  in.tag = get_string(o, "tag");
  if (in.type == "mixed" || in.type == "socks" || in.type == "http") {
    MixedInboundOptions m;
    decode_listen(o, m.listen);
    if (const json* users = o.get("users")) {
      if (!users->is_array()) fail(o.at("users"), "expected array, got " + kind(*users));
      for (std::size_t i = 0; i < users->size(); ++i) {
        Obj u((*users)[i], item(o.at("users"), i));
        ProxyUser pu;
        pu.username = get_string(u, "username");
        pu.password = get_string(u, "password");
        u.finish();
        m.users.push_back(std::move(pu));
      }
    }
    if (const json* tls = o.get("tls")) {
      m.tls = decode_inbound_tls(*tls, o.at("tls"));
      if (m.tls.enabled && in.type == "socks")
        fail(child(o.at("tls"), "enabled"), "not supported on a socks inbound (sing-box has no SOCKS over TLS either); use http or mixed");
    }
    m.set_system_proxy = get_bool(o, "set_system_proxy");
    if (m.set_system_proxy && in.type == "socks") fail(o.at("set_system_proxy"), "unknown field");
    o.finish();
    in.options = std::move(m);
  } else if (in.type == "anytls") {
    AnyTlsInboundOptions a;
    decode_listen(o, a.listen);
    const json* users = o.get("users");
    if (!users) fail(o.at("users"), "missing required field");
    if (!users->is_array()) fail(o.at("users"), "expected array, got " + kind(*users));
    if (users->empty()) fail(o.at("users"), "must not be empty");
    for (std::size_t i = 0; i < users->size(); ++i) {
      Obj u((*users)[i], item(o.at("users"), i));
      AnyTlsUser au;
      au.name = get_string(u, "name");
      au.password = required_string(u, "password");
      u.finish();
      a.users.push_back(std::move(au));
    }
    a.padding_scheme = get_lines(o, "padding_scheme");
    if (!a.padding_scheme.empty()) check_padding_scheme(a.padding_scheme, o.at("padding_scheme"));
    // No tls (or enabled false): plain TCP, for a server behind another
    // TLS front (sing-box allows it).
    if (const json* tls = o.get("tls")) a.tls = decode_inbound_tls(*tls, o.at("tls"));
    if (const json* fb = o.get("fallback")) {
      Obj f(*fb, o.at("fallback"));
      Fallback fallback;
      fallback.server = required_string(f, "server");
      fallback.server_port = required_port(f, "server_port");
      f.finish();
      a.fallback = std::move(fallback);
    }
    a.handshake_timeout = get_duration(o, "handshake_timeout", defaults::kHandshakeTimeout, true);
    if (auto n = get_uint(o, "max_streams_per_session", 1u << 31)) {
      a.max_streams_per_session = *n == 0 ? defaults::kMaxStreamsPerSession : static_cast<std::uint32_t>(*n);
    }
    a.session_idle_timeout = get_duration(o, "session_idle_timeout", defaults::kSessionIdleTimeout, true);
    if (auto n = get_uint(o, "max_sessions_per_user", 1u << 31)) a.max_sessions_per_user = static_cast<std::uint32_t>(*n);
    if (auto n = get_uint(o, "max_streams_per_user", 1u << 31)) a.max_streams_per_user = static_cast<std::uint32_t>(*n);
    if (auto n = get_uint(o, "max_handshakes", 1u << 31)) a.max_handshakes = static_cast<std::uint32_t>(*n);
    if (auto n = get_uint(o, "max_buffered_bytes", std::uint64_t{1} << 48)) {
      if (*n < (1u << 20)) fail(o.at("max_buffered_bytes"), "at least 1048576 (1 MiB): every session needs room to read");
      a.max_buffered_bytes = *n;
    }
    o.finish();
    in.options = std::move(a);
  } else if (in.type == "tun") {
    in.options = decode_tun_inbound(o, warnings);
    o.finish();
  } else if (in.type == "redirect" || in.type == "tproxy" || in.type == "direct") {
    in.options = decode_gateway(o, in.type);
    o.finish();
  } else {
    fail(o.at("type"), "unsupported inbound type " + in_quotes(in.type) + " (mixed socks http anytls tun redirect tproxy direct)");
  }
  return in;
}

}  // namespace anytls::config::detail
