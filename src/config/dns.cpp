// The "dns" section: servers (the 1.12 form and the legacy "address" form),
// rules, and the references to and from DNS servers.
#include "config/sections.hpp"

#include <algorithm>

#include "dns/message.hpp"

namespace anytls::config::detail {
namespace {

// Why DNS over QUIC and HTTP/3 are refused: Debian bookworm's QUIC stack,
// ngtcp2 0.12, does its TLS handshake with GnuTLS only (there is no
// OpenSSL 3.0 backend), and we keep one TLS library.
constexpr std::string_view kNoQuic =
    "no QUIC here (Debian's ngtcp2 handshakes with GnuTLS only, not the OpenSSL the rest uses); use a tls or https server";

std::optional<std::uint8_t> rcode_by_name(const std::string& n) {
  if (n == "success") return 0;
  if (n == "format_error") return 1;
  if (n == "server_failure") return 2;
  if (n == "name_error") return 3;
  if (n == "not_implemented") return 4;
  if (n == "refused") return 5;
  return std::nullopt;
}

// "1.2.3.0/24", "2001:db8::/56" or a plain IP (a /32 or /128).
void check_client_subnet(const std::string& s, const std::string& path) {
  if (!s.empty() && !valid_cidr(s)) fail(path, "expected an IP prefix (\"1.2.3.0/24\") or address, got " + in_quotes(s));
}

// host[:port] of a legacy address, IPv6 in brackets.
void split_legacy_host(std::string_view hp, const std::string& path, std::string& host, std::uint16_t& port) {
  std::string_view port_text;
  if (!hp.empty() && hp.front() == '[') {
    auto close = hp.find(']');
    if (close == std::string_view::npos) fail(path, "unterminated IPv6 address in " + in_quotes(hp));
    host = std::string(hp.substr(1, close - 1));
    auto after = hp.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') fail(path, "invalid address " + in_quotes(hp));
      port_text = after.substr(1);
    }
  } else if (std::count(hp.begin(), hp.end(), ':') == 1) {
    auto colon = hp.find(':');
    host = std::string(hp.substr(0, colon));
    port_text = hp.substr(colon + 1);
  } else {
    host = std::string(hp);  // a bare IPv6 literal or a name
  }
  if (host.empty()) fail(path, "missing server in " + in_quotes(hp));
  if (!port_text.empty()) {
    unsigned long p = 0;
    if (!is_digits(port_text) || (p = std::stoul(std::string(port_text))) == 0 || p > 65535)
      fail(path, "invalid port " + in_quotes(port_text));
    port = static_cast<std::uint16_t>(p);
  }
}

// The legacy "address" form decoded into the 1.12 fields.
void decode_legacy_address(const std::string& address, const std::string& path, DnsServerOptions& s) {
  if (address == "local") {
    s.type = "local";
    return;
  }
  if (address == "fakeip") {
    s.type = "fakeip";  // its ranges come from the dns.fakeip block (decode_dns)
    return;
  }
  auto sep = address.find("://");
  std::string scheme = sep == std::string::npos ? "" : lower(address.substr(0, sep));
  std::string rest = sep == std::string::npos ? address : address.substr(sep + 3);
  if (scheme == "rcode") {
    auto rc = rcode_by_name(rest);
    if (!rc) fail(path, "unknown rcode " + in_quotes(rest) + " (success format_error server_failure name_error not_implemented refused)");
    s.type = "rcode";
    s.rcode = *rc;
    return;
  }
  if (scheme == "quic" || scheme == "h3")
    fail(path, "not supported: " + scheme + ":// DNS servers: " + std::string(kNoQuic));
  if (scheme == "dhcp")
    fail(path, "not supported: " + scheme + ":// DNS servers (anytls-cpp has udp tcp tls https local hosts fakeip)");
  if (!scheme.empty() && scheme != "udp" && scheme != "tcp" && scheme != "tls" && scheme != "https")
    fail(path, "unknown DNS server scheme " + in_quotes(scheme + "://") + " (udp tcp tls https local rcode)");
  s.type = scheme.empty() ? "udp" : scheme;
  std::string hostport = rest;
  if (s.type == "https") {
    auto slash = rest.find('/');
    hostport = rest.substr(0, slash);
    s.path = slash == std::string::npos ? "/dns-query" : rest.substr(slash);
  } else if (rest.find('/') != std::string::npos) {
    fail(path, "unexpected path in " + in_quotes(address));
  }
  split_legacy_host(hostport, path, s.server, s.server_port);
}

// A fakeip range: an IP prefix of the key's family with room for at least
// one address besides the base, base + 1 and the broadcast address.
std::string fakeip_range(Obj& o, std::string_view key, bool v6) {
  std::string r = get_string(o, key);
  if (r.empty()) return r;
  auto slash = r.find('/');
  std::error_code ec;
  auto addr = asio::ip::make_address(r.substr(0, slash == std::string::npos ? r.size() : slash), ec);
  if (slash == std::string::npos || !valid_cidr(r) || ec || addr.is_v6() != v6)
    fail(o.at(key), std::string("expected an IPv") + (v6 ? "6" : "4") + " prefix, got " + in_quotes(r));
  if (std::stoi(r.substr(slash + 1)) > (v6 ? 126 : 30)) fail(o.at(key), "too small: " + in_quotes(r) + " (at most /" + (v6 ? "126" : "30") + ")");
  return r;
}

std::uint16_t default_dns_port(const std::string& type) {
  if (type == "tls") return 853;
  if (type == "https") return 443;
  return 53;
}

DnsServerOptions decode_dns_server(const json& j, const std::string& path, std::vector<std::string>& warnings) {
  Obj o(j, path);
  DnsServerOptions s;
  s.tag = get_string(o, "tag");
  if (o.get("address")) {
    // sing-box before 1.12.
    std::string address = required_string(o, "address");
    if (o.get("type")) fail(o.at("type"), "not allowed with address (the legacy form); use one form");
    decode_legacy_address(address, o.at("address"), s);
    s.dial.detour = get_string(o, "detour");
    s.dial.domain_resolver = get_string(o, "address_resolver");
    s.dial.domain_resolver_strategy = parse_strategy(o, "address_strategy");
    if (o.get("address_fallback_delay")) (void)get_duration(o, "address_fallback_delay", {}, true);
    s.strategy = parse_strategy(o, "strategy");
    s.client_subnet = get_string(o, "client_subnet");
    check_client_subnet(s.client_subnet, o.at("client_subnet"));
    o.finish();
    if (s.type == "tls" || s.type == "https") s.tls.enabled = true;
    if (s.server_port == 0 && s.type != "fakeip") s.server_port = default_dns_port(s.type);
    return s;
  }
  s.type = required_string(o, "type");
  if (s.type == "local") {
    (void)get_bool(o, "prefer_go");  // ours always goes through getaddrinfo
    decode_dial(o, s.dial);
  } else if (s.type == "hosts") {
    s.hosts_path = get_strings(o, "path");
    if (const json* p = o.get("predefined")) {
      Obj pre(*p, o.at("predefined"));
      for (auto it = p->begin(); it != p->end(); ++it) {
        auto ips = get_strings(pre, it.key());
        for (std::size_t i = 0; i < ips.size(); ++i)
          if (!is_ip(ips[i])) fail(item(pre.at(it.key()), i), "expected an IP address, got " + in_quotes(ips[i]));
        s.predefined.emplace_back(it.key(), std::move(ips));
      }
      pre.finish();
    }
  } else if (s.type == "udp" || s.type == "tcp" || s.type == "tls" || s.type == "https") {
    s.server = required_string(o, "server");
    s.server_port = get_port(o, "server_port");
    if (s.server_port == 0) s.server_port = default_dns_port(s.type);
    if (s.type == "https") {
      s.path = get_string(o, "path", "/dns-query");
      if (s.path.empty()) s.path = "/dns-query";
      if (s.path.front() != '/') fail(o.at("path"), "must start with \"/\", got " + in_quotes(s.path));
      if (const json* h = o.get("headers"); h && !(h->is_object() && h->empty()))
        fail(o.at("headers"), "not supported: extra HTTP headers for DNS over HTTPS");
    }
    if (s.type == "tls" || s.type == "https") {
      if (const json* t = o.get("tls")) s.tls = decode_outbound_tls(*t, o.at("tls"));
      s.tls.enabled = true;
      if (s.tls.utls.enabled) fail(o.at("tls") + ".utls", "not supported for DNS servers");
    }
    decode_dial(o, s.dial);
  } else if (s.type == "fakeip") {
    s.inet4_range = fakeip_range(o, "inet4_range", false);
    s.inet6_range = fakeip_range(o, "inet6_range", true);
    if (s.inet4_range.empty() && s.inet6_range.empty()) fail(o.at("inet4_range"), "missing required field (or inet6_range)");
  } else if (s.type == "quic" || s.type == "h3") {
    fail(o.at("type"), "not supported: DNS server type " + in_quotes(s.type) + ": " + std::string(kNoQuic));
  } else if (s.type == "dhcp" || s.type == "tailscale" || s.type == "resolved") {
    fail(o.at("type"), "not supported: DNS server type " + in_quotes(s.type) + " (anytls-cpp has local hosts udp tcp tls https fakeip)");
  } else {
    fail(o.at("type"), "unknown DNS server type " + in_quotes(s.type) + " (local hosts udp tcp tls https fakeip)");
  }
  o.finish();
  if (s.dial.tcp_fast_open) warnings.push_back(o.at("tcp_fast_open") + ": ignored for DNS servers");
  return s;
}

// The keys a DNS rule has beyond the route matchers.
constexpr const char* kDnsRuleKeys[] = {"query_type", "server", "action", "method", "no_drop", "disable_cache",
                                        "rewrite_ttl", "client_subnet", "strategy", "rcode", "answer", "ns", "extra",
                                        "ip_accept_any", "rule_set_ip_cidr_accept_empty"};

DnsRule decode_dns_rule(const json& j, const std::string& path) {
  Obj o(j, path);
  DnsRule r;
  if (o.get("outbound")) {
    // sing-box before 1.12: "any" is what templates write, for the names
    // the outbounds look up (their servers). Which outbound looks a name up
    // is not known here, so other tags are refused by name.
    const auto tags = get_strings(o, "outbound");
    for (std::size_t i = 0; i < tags.size(); ++i)
      if (tags[i] != "any")
        fail(o.get("outbound")->is_array() ? item(o.at("outbound"), i) : o.at("outbound"),
             "not supported: the outbound matcher of DNS rules takes \"any\" only (the lookups outbounds make); "
             "use domain_resolver on the outbound");
    r.outbound_any = !tags.empty();
  }
  // The matchers are route.rules' own: decode them with the route decoder
  // from a copy without the DNS-only keys.
  json matchers = j;
  for (const char* k : kDnsRuleKeys) matchers.erase(k);
  matchers.erase("outbound");
  matchers["action"] = "reject";
  r.match = decode_rule(matchers, path);
  if (const json* qt = o.get("query_type")) {
    std::vector<json> list = qt->is_array() ? std::vector<json>(qt->begin(), qt->end()) : std::vector<json>{*qt};
    for (std::size_t i = 0; i < list.size(); ++i) {
      std::string p = qt->is_array() ? item(o.at("query_type"), i) : o.at("query_type");
      if (list[i].is_string()) {
        auto t = dns::parse_type(list[i].get<std::string>());
        if (!t) fail(p, "unknown query type " + in_quotes(list[i].get<std::string>()) + " (A AAAA HTTPS ... or a number)");
        r.query_type.push_back(*t);
      } else {
        r.query_type.push_back(static_cast<std::uint16_t>(to_uint(list[i], p, 65535)));
      }
    }
  }
  // What route and route-options set for the query.
  auto query_options = [&] {
    r.disable_cache = get_bool(o, "disable_cache");
    if (const json* cs = o.get("client_subnet")) {
      if (!cs->is_string()) fail(o.at("client_subnet"), "expected string, got " + kind(*cs));
      r.client_subnet = cs->get<std::string>();
      check_client_subnet(*r.client_subnet, o.at("client_subnet"));
    }
    if (const json* t = o.get("rewrite_ttl"); t && !t->is_null())
      r.rewrite_ttl = static_cast<std::uint32_t>(to_uint(*t, o.at("rewrite_ttl"), 0xffffffffu));
  };
  // Address filters on the response: leaving them out would change which
  // queries match.
  for (const char* k : {"ip_accept_any", "rule_set_ip_cidr_accept_empty"})
    if (get_bool(o, k)) fail(o.at(k), "not supported by anytls-cpp (matching on the addresses of a response)");
  std::string action = get_string(o, "action", "route");
  if (action != "predefined")
    for (const char* k : {"rcode", "answer", "ns", "extra"})
      if (o.get(k)) fail(o.at(k), "only allowed with action predefined");
  r.server = get_string(o, "server");
  std::string method = get_string(o, "method");
  if (action == "route") {
    r.action = DnsRuleAction::route;
    if (r.server.empty()) fail(o.at("server"), "missing required field");
    if (!method.empty()) fail(o.at("method"), "only allowed with action reject");
    query_options();
    r.strategy = parse_strategy(o, "strategy");
    if (o.get("no_drop")) fail(o.at("no_drop"), "only allowed with action reject");
  } else if (action == "reject") {
    r.action = DnsRuleAction::reject;
    if (!r.server.empty()) fail(o.at("server"), "not allowed with action reject");
    if (method.empty() || method == "default") r.method = RejectMethod::default_;
    else if (method == "drop") r.method = RejectMethod::drop;
    else fail(o.at("method"), "unknown reject method " + in_quotes(method) + " (default drop)");
    (void)get_bool(o, "no_drop");
    for (const char* k : {"disable_cache", "rewrite_ttl", "client_subnet", "strategy"})
      if (o.get(k)) fail(o.at(k), "only allowed with action route");
  } else if (action == "route-options") {
    r.action = DnsRuleAction::route_options;
    if (!r.server.empty()) fail(o.at("server"), "not allowed with action route-options");
    if (!method.empty()) fail(o.at("method"), "only allowed with action reject");
    query_options();
    for (const char* k : {"strategy", "no_drop"})
      if (o.get(k)) fail(o.at(k), "not allowed with action route-options");
  } else if (action == "predefined") {
    fail(o.at("action"), "not supported: DNS rule action " + in_quotes(action) + " (route route-options reject)");
  } else {
    fail(o.at("action"), "unknown DNS rule action " + in_quotes(action) + " (route route-options reject)");
  }
  // Everything else was a matcher (decoded above) or is unknown there.
  for (auto it = j.begin(); it != j.end(); ++it) (void)o.get(it.key());
  o.finish();
  return r;
}

}  // namespace

DnsOptions decode_dns(const json& j, const std::string& path, std::vector<std::string>& warnings) {
  Obj o(j, path);
  DnsOptions d;
  if (const json* servers = o.get("servers")) {
    if (!servers->is_array()) fail(o.at("servers"), "expected array, got " + kind(*servers));
    for (std::size_t i = 0; i < servers->size(); ++i)
      d.servers.push_back(decode_dns_server((*servers)[i], item(o.at("servers"), i), warnings));
  }
  if (const json* rules = o.get("rules")) {
    if (!rules->is_array()) fail(o.at("rules"), "expected array, got " + kind(*rules));
    for (std::size_t i = 0; i < rules->size(); ++i) d.rules.push_back(decode_dns_rule((*rules)[i], item(o.at("rules"), i)));
  }
  d.final = get_string(o, "final");
  d.strategy = parse_strategy(o, "strategy");
  d.disable_cache = get_bool(o, "disable_cache");
  d.disable_expire = get_bool(o, "disable_expire");
  d.independent_cache = get_bool(o, "independent_cache");
  if (auto c = get_uint(o, "cache_capacity", 1u << 20)) d.cache_capacity = std::max<std::uint32_t>(1024, static_cast<std::uint32_t>(*c));
  if (auto b = get_uint(o, "cache_max_bytes", 1ull << 40)) {
    if (*b < defaults::kDnsCacheMinBytes)
      fail(o.at("cache_max_bytes"), "must be at least " + std::to_string(defaults::kDnsCacheMinBytes) + " (1 MiB)");
    d.cache_max_bytes = *b;
  }
  d.client_subnet = get_string(o, "client_subnet");
  check_client_subnet(d.client_subnet, o.at("client_subnet"));
  if (get_bool(o, "reverse_mapping")) fail(o.at("reverse_mapping"), "not supported: reverse_mapping (it serves tun-based setups)");
  // The legacy dns.fakeip block: the ranges of the "address": "fakeip" servers.
  std::string inet4, inet6;
  bool fakeip = false;
  if (const json* f = o.get("fakeip")) {
    Obj fo(*f, o.at("fakeip"));
    fakeip = get_bool(fo, "enabled");
    inet4 = fakeip_range(fo, "inet4_range", false);
    inet6 = fakeip_range(fo, "inet6_range", true);
    fo.finish();
    if (fakeip && inet4.empty() && inet6.empty()) fail(o.at("fakeip") + ".inet4_range", "missing required field (or inet6_range)");
  }
  for (std::size_t i = 0; i < d.servers.size(); ++i) {
    auto& s = d.servers[i];
    if (s.type != "fakeip" || !s.inet4_range.empty() || !s.inet6_range.empty()) continue;
    if (!fakeip) fail(item(o.at("servers"), i) + ".address", "fakeip needs the dns.fakeip block enabled, with its ranges");
    s.inet4_range = inet4;
    s.inet6_range = inet6;
  }
  o.finish();
  return d;
}

void check_dns_references(Options& opts, const OutboundIndex& outbound_index) {
  std::set<std::string> dns_tags;
  if (opts.dns) {
    auto& d = *opts.dns;
    assign_tags(d.servers, "dns.servers");
    for (const auto& sv : d.servers) dns_tags.insert(sv.tag);
    auto need = [&](const std::string& tag, const std::string& path) {
      if (!dns_tags.count(tag)) fail(path, "unknown DNS server " + in_quotes(tag));
    };
    if (!d.final.empty()) need(d.final, "dns.final");
    for (std::size_t i = 0; i < d.rules.size(); ++i)
      if (d.rules[i].action == DnsRuleAction::route) need(d.rules[i].server, child(item("dns.rules", i), "server"));
    for (std::size_t i = 0; i < d.servers.size(); ++i) {
      const auto& sv = d.servers[i];
      std::string p = item("dns.servers", i);
      if (!sv.dial.detour.empty()) {
        if (!outbound_index.count(sv.dial.detour)) fail(child(p, "detour"), "unknown outbound " + in_quotes(sv.dial.detour));
      }
      if (!sv.dial.domain_resolver.empty()) {
        need(sv.dial.domain_resolver, child(p, "domain_resolver"));
        if (sv.dial.domain_resolver == sv.tag) fail(child(p, "domain_resolver"), "a DNS server cannot resolve its own address");
      }
    }
  }
  auto need_any = [&](const std::string& tag, const std::string& path) {
    if (tag.empty()) return;
    if (!opts.dns) fail(path, "unknown DNS server " + in_quotes(tag) + " (there is no dns block)");
    if (!dns_tags.count(tag)) fail(path, "unknown DNS server " + in_quotes(tag));
  };
  need_any(opts.route.default_domain_resolver, "route.default_domain_resolver");
  for (std::size_t i = 0; i < opts.outbounds.size(); ++i)
    if (const DialOptions* dial = dial_of(opts.outbounds[i]))
      need_any(dial->domain_resolver, child(item("outbounds", i), "domain_resolver"));
}

}  // namespace anytls::config::detail
