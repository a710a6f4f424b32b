// The "route" section: rules (matchers and actions), rule sets, and the
// references from them to outbounds and rule sets.
#include "config/sections.hpp"

#include <algorithm>
#include <initializer_list>

namespace anytls::config::detail {
namespace {

void check_cidrs(Obj& o, std::string_view key, const std::vector<std::string>& list) {
  for (std::size_t i = 0; i < list.size(); ++i)
    if (!valid_cidr(list[i])) fail(item(o.at(key), i), "invalid CIDR " + in_quotes(list[i]));
}

// "1000:2000", ":3000", "4000:" (sing-box's port ranges).
void check_port_ranges(Obj& o, std::string_view key, const std::vector<std::string>& list) {
  for (std::size_t i = 0; i < list.size(); ++i) {
    const std::string& r = list[i];
    auto colon = r.find(':');
    bool ok = colon != std::string::npos && r.size() > 1;
    auto part_ok = [](const std::string& t) {
      if (t.empty()) return true;
      if (t.size() > 5 || !std::all_of(t.begin(), t.end(), [](char c) { return c >= '0' && c <= '9'; })) return false;
      return std::stoul(t) <= 65535;
    };
    if (ok) ok = part_ok(r.substr(0, colon)) && part_ok(r.substr(colon + 1));
    if (ok && colon > 0 && colon + 1 < r.size()) ok = std::stoul(r.substr(0, colon)) <= std::stoul(r.substr(colon + 1));
    if (!ok) fail(item(o.at(key), i), "invalid port range " + in_quotes(r) + " (\"1000:2000\", \":3000\", \"4000:\")");
  }
}

// The matcher fields of a rule (route rule, logical sub-rule or headless
// rule-set rule).
void decode_matchers(Obj& o, RouteRule& r, bool headless) {
  r.invert = get_bool(o, "invert");
  if (!headless) {
    r.inbound = get_strings(o, "inbound");
    r.auth_user = get_strings(o, "auth_user");
    r.protocol = get_strings(o, "protocol");
    for (std::size_t i = 0; i < r.protocol.size(); ++i)
      if (r.protocol[i].empty()) fail(item(o.at("protocol"), i), "empty protocol");
    if (auto v = get_uint(o, "ip_version", 6)) {
      if (*v != 4 && *v != 6) fail(o.at("ip_version"), "must be 4 or 6");
      r.ip_version = static_cast<int>(*v);
    }
    r.ip_is_private = get_bool(o, "ip_is_private");
    r.source_ip_is_private = get_bool(o, "source_ip_is_private");
    r.user = get_strings(o, "user");
    if (const json* v = o.get("user_id")) {
      if (!v->is_array()) r.user_id.push_back(static_cast<std::uint32_t>(to_uint(*v, o.at("user_id"), 0xffffffffULL)));
      else
        for (std::size_t i = 0; i < v->size(); ++i)
          r.user_id.push_back(static_cast<std::uint32_t>(to_uint((*v)[i], item(o.at("user_id"), i), 0xffffffffULL)));
    }
    r.rule_set = get_strings(o, "rule_set");
    r.rule_set_ip_cidr_match_source = get_bool(o, "rule_set_ip_cidr_match_source");
    if (get_bool(o, "rule_set_ipcidr_match_source")) r.rule_set_ip_cidr_match_source = true;  // pre-1.10 name
  }
  // "udp,tcp" (real configs write it, sing-box loads it) is both.
  const auto networks = get_strings(o, "network");
  for (std::size_t i = 0; i < networks.size(); ++i) {
    const std::string& n = networks[i];
    for (std::size_t at = 0; at <= n.size();) {
      const std::size_t comma = std::min(n.find(',', at), n.size());
      std::string one = n.substr(at, comma - at);
      if (one != "tcp" && one != "udp") fail(item(o.at("network"), i), "unknown network " + in_quotes(n) + " (tcp udp)");
      r.network.push_back(std::move(one));
      at = comma + 1;
    }
  }
  r.clash_mode = get_string(o, "clash_mode");
  r.domain = get_strings(o, "domain");
  r.domain_suffix = get_strings(o, "domain_suffix");
  r.domain_keyword = get_strings(o, "domain_keyword");
  r.domain_regex = get_strings(o, "domain_regex");
  r.source_ip_cidr = get_strings(o, "source_ip_cidr");
  check_cidrs(o, "source_ip_cidr", r.source_ip_cidr);
  r.ip_cidr = get_strings(o, "ip_cidr");
  check_cidrs(o, "ip_cidr", r.ip_cidr);
  r.source_port = get_ports(o, "source_port");
  r.source_port_range = get_strings(o, "source_port_range");
  check_port_ranges(o, "source_port_range", r.source_port_range);
  r.port = get_ports(o, "port");
  r.port_range = get_strings(o, "port_range");
  check_port_ranges(o, "port_range", r.port_range);
  r.process_name = get_strings(o, "process_name");
  r.process_path = get_strings(o, "process_path");
  r.process_path_regex = get_strings(o, "process_path_regex");
  // Named, not "unknown field": sing-box has them, we cannot honour them.
  for (const char* key : {"geosite", "geoip", "source_geoip"})
    if (o.get(key)) fail(o.at(key), "not supported: removed in sing-box 1.12, use rule_set");
  for (const char* key : {"package_name", "wifi_ssid", "wifi_bssid", "network_type", "network_is_expensive",
                          "network_is_constrained", "client", "query_type", "adguard_domain"})
    if (o.get(key)) fail(o.at(key), "not supported by anytls-cpp (no Android/mobile network state, no QUIC client sniffing, DNS-only field)");
}

void decode_logical(Obj& o, RouteRule& r, bool headless) {
  r.type = "logical";
  r.mode = get_string(o, "mode");
  if (r.mode != "and" && r.mode != "or") fail(o.at("mode"), "expected \"and\" or \"or\", got " + in_quotes(r.mode));
  const json* rules = o.get("rules");
  if (!rules || !rules->is_array() || rules->empty()) fail(o.at("rules"), "expected a non-empty array of rules");
  for (std::size_t i = 0; i < rules->size(); ++i)
    r.rules.push_back(decode_rule_body((*rules)[i], item(o.at("rules"), i), false, headless));
  r.invert = get_bool(o, "invert");
}

void decode_action(Obj& o, RouteRule& r) {
  std::string action = get_string(o, "action", "route");
  r.outbound = get_string(o, "outbound");
  auto allow = [&](std::initializer_list<const char*> keys, const std::string& what) {
    for (const char* key : {"outbound", "override_address", "override_port", "method", "no_drop", "sniffer",
                            "timeout", "override_destination", "server", "strategy"}) {
      bool allowed = std::find_if(keys.begin(), keys.end(), [&](const char* k) { return std::string_view(k) == key; }) != keys.end();
      if (!allowed && o.get(key)) fail(o.at(key), "not allowed with action " + what);
    }
  };
  if (action == "route" || action == "route-options") {
    r.action = action == "route" ? RuleAction::route : RuleAction::route_options;
    if (r.action == RuleAction::route && r.outbound.empty()) fail(o.at("outbound"), "missing required field");
    r.override_address = get_string(o, "override_address");
    r.override_port = get_port(o, "override_port");
    for (const char* key : {"network_strategy", "network_type", "fallback_network_type", "fallback_delay",
                            "udp_disable_domain_unmapping", "udp_connect", "udp_timeout", "tls_fragment",
                            "tls_fragment_fallback_delay", "tls_record_fragment"})
      if (o.get(key)) fail(o.at(key), "not supported by anytls-cpp (route option)");
    allow(action == "route" ? std::initializer_list<const char*>{"outbound", "override_address", "override_port"}
                            : std::initializer_list<const char*>{"override_address", "override_port"},
          action);
  } else if (action == "reject") {
    r.action = RuleAction::reject;
    std::string method = get_string(o, "method");
    if (method.empty() || method == "default") r.method = RejectMethod::default_;
    else if (method == "drop") r.method = RejectMethod::drop;
    else fail(o.at("method"), "unknown reject method " + in_quotes(method) + " (default drop)");
    r.no_drop = get_bool(o, "no_drop");
    if (r.no_drop && r.method == RejectMethod::drop) fail(o.at("no_drop"), "not available with method drop");
    allow({"method", "no_drop"}, action);
  } else if (action == "hijack-dns") {
    r.action = RuleAction::hijack_dns;
    allow({}, action);
  } else if (action == "sniff") {
    r.action = RuleAction::sniff;
    r.sniffer = get_strings(o, "sniffer");
    for (std::size_t i = 0; i < r.sniffer.size(); ++i) {
      const std::string& s = r.sniffer[i];
      // quic, stun, dtls, ntp, bittorrent, ssh, rdp: the protocol only (sniff.hpp).
      if (s == "tls" || s == "http" || s == "dns" || s == "quic" || s == "stun" || s == "bittorrent" || s == "dtls" ||
          s == "ssh" || s == "rdp" || s == "ntp")
        continue;
      fail(item(o.at("sniffer"), i), "unknown sniffer " + in_quotes(s) + " (tls http quic dns stun bittorrent dtls ssh rdp ntp)");
    }
    r.sniff_timeout = get_duration(o, "timeout", defaults::kSniffTimeout, true);
    r.override_destination = get_bool(o, "override_destination");
    allow({"sniffer", "timeout", "override_destination"}, action);
  } else if (action == "resolve") {
    r.action = RuleAction::resolve;
    r.resolve_server = get_string(o, "server");
    r.resolve_strategy = parse_strategy(get_string(o, "strategy"), o.at("strategy"));
    for (const char* key : {"disable_cache", "rewrite_ttl", "client_subnet"})
      if (o.get(key)) fail(o.at(key), "not supported by anytls-cpp (resolve option)");
    allow({"server", "strategy"}, action);
  } else {
    fail(o.at("action"), "unsupported action " + in_quotes(action) +
                             " (route route-options reject hijack-dns sniff resolve)");
  }
}

std::string format_from_path(const std::string& p) {
  auto dot = p.rfind('.');
  std::string ext = dot == std::string::npos ? "" : p.substr(dot + 1);
  if (ext == "json") return "source";
  if (ext == "srs") return "binary";
  return "";
}

RuleSetOptions decode_rule_set(const json& j, const std::string& path) {
  Obj o(j, path);
  RuleSetOptions r;
  r.type = get_string(o, "type");
  r.tag = required_string(o, "tag");
  if (r.type == "inline") {
    if (const json* rules = o.get("rules")) {
      if (!rules->is_array()) fail(o.at("rules"), "expected array, got " + kind(*rules));
      for (std::size_t i = 0; i < rules->size(); ++i)
        r.rules.push_back(decode_rule_body((*rules)[i], item(o.at("rules"), i), false, true));
    }
  } else if (r.type == "local" || r.type == "remote") {
    if (r.type == "local") r.path = required_string(o, "path");
    else r.url = required_string(o, "url");
    r.format = get_string(o, "format");
    if (r.format.empty()) r.format = format_from_path(r.type == "local" ? r.path : r.url.substr(0, r.url.find('?')));
    if (r.format.empty()) fail(o.at("format"), "missing: cannot tell from the file name (source binary)");
    if (r.format != "source" && r.format != "binary")
      fail(o.at("format"), "unknown format " + in_quotes(r.format) + " (source binary)");
    if (r.type == "remote") {
      // Fetched through an outbound's stream (TLS over it for https://).
      if (r.url.rfind("http://", 0) != 0 && r.url.rfind("https://", 0) != 0)
        fail(o.at("url"), "expected an http:// or https:// URL, got " + in_quotes(r.url));
      r.download_detour = get_string(o, "download_detour");
      r.update_interval = get_duration(o, "update_interval", defaults::kRuleSetUpdateInterval, true);
    }
  } else {
    fail(o.at("type"), "unknown rule-set type " + in_quotes(r.type) + " (inline local remote)");
  }
  o.finish();
  return r;
}

void check_rule_set_refs(const RouteRule& r, const std::string& path,
                         const std::set<std::string, std::less<>>& tags) {
  for (std::size_t j = 0; j < r.rule_set.size(); ++j)
    if (!tags.count(r.rule_set[j]))
      fail(item(child(path, "rule_set"), j), "unknown rule-set " + in_quotes(r.rule_set[j]));
  for (std::size_t j = 0; j < r.rules.size(); ++j) check_rule_set_refs(r.rules[j], item(child(path, "rules"), j), tags);
}

}  // namespace

RouteRule decode_rule_body(const json& j, const std::string& path, bool top, bool headless) {
  Obj o(j, path);
  RouteRule r;
  std::string type = get_string(o, "type");
  if (type == "logical") {
    decode_logical(o, r, headless);
  } else if (type.empty() || type == "default") {
    decode_matchers(o, r, headless);
  } else {
    fail(o.at("type"), "unknown rule type " + in_quotes(type) + " (default logical)");
  }
  if (top) decode_action(o, r);
  o.finish();
  return r;
}

RouteRule decode_rule(const json& j, const std::string& path) { return decode_rule_body(j, path, true, false); }

RouteOptions decode_route(const json& j, const std::string& path, std::vector<std::string>& warnings) {
  Obj o(j, path);
  RouteOptions r;
  r.final = get_string(o, "final");
  r.auto_detect_interface = get_bool(o, "auto_detect_interface");
  r.default_interface = get_string(o, "default_interface");
  r.default_mark = get_mark(o, "default_mark");
  decode_domain_resolver(o, "default_domain_resolver", r.default_domain_resolver, r.default_domain_resolver_strategy);
  if (get_bool(o, "override_android_vpn"))
    warnings.push_back("route.override_android_vpn: ignored: Android only (it concerns Android's VPN service)");
  if (const json* ns = o.get("default_network_strategy"); ns && !(ns->is_string() && ns->get<std::string>().empty()))
    fail(o.at("default_network_strategy"), "not supported: network strategies need Android's network monitor");
  for (const char* k : {"default_network_type", "default_fallback_network_type"})
    if (o.get(k)) fail(o.at(k), "not supported: it belongs to default_network_strategy (Android's network monitor)");
  // It times network-strategy fallbacks only; each outbound's own
  // fallback_delay (dial fields) is read where it is written.
  if (o.get("default_fallback_delay")) {
    (void)get_duration(o, "default_fallback_delay", {}, true);
    warnings.push_back("route.default_fallback_delay: ignored: it times network_strategy fallbacks (Android's network monitor)");
  }
  if (const json* rules = o.get("rules")) {
    if (!rules->is_array()) fail(o.at("rules"), "expected array, got " + kind(*rules));
    for (std::size_t i = 0; i < rules->size(); ++i) r.rules.push_back(decode_rule((*rules)[i], item(o.at("rules"), i)));
  }
  if (const json* sets = o.get("rule_set")) {
    if (!sets->is_array()) fail(o.at("rule_set"), "expected array, got " + kind(*sets));
    std::set<std::string> tags;
    for (std::size_t i = 0; i < sets->size(); ++i) {
      r.rule_set.push_back(decode_rule_set((*sets)[i], item(o.at("rule_set"), i)));
      if (!tags.insert(r.rule_set.back().tag).second)
        fail(child(item(o.at("rule_set"), i), "tag"), "duplicate rule-set tag " + in_quotes(r.rule_set.back().tag));
    }
  }
  // The databases of the geoip/geosite matchers (sing-box 1.11): those
  // matchers are refused, so the blocks alone change nothing.
  for (const char* db : {"geoip", "geosite"}) {
    const json* v = o.get(db);
    if (!v) continue;
    Obj g(*v, o.at(db));
    for (const char* k : {"path", "download_url", "download_detour"}) (void)get_string(g, k);
    g.finish();
    warnings.push_back(o.at(db) + ": ignored: it serves geoip/geosite rules, removed in sing-box 1.12 (use rule_set)");
  }
  // Process lookup is always on for rules that ask for it (Linux /proc).
  if (get_bool(o, "find_process")) warnings.push_back("route.find_process: process lookup is done whenever a rule needs it");
  o.finish();
  return r;
}

void check_route_references(const Options& opts, const OutboundIndex& index) {
  if (!index.count(opts.route.final)) fail("route.final", "unknown outbound " + in_quotes(opts.route.final));
  std::set<std::string, std::less<>> rule_sets;
  for (std::size_t i = 0; i < opts.route.rule_set.size(); ++i) {
    const auto& rs = opts.route.rule_set[i];
    rule_sets.insert(rs.tag);
    if (!rs.download_detour.empty() && !index.count(rs.download_detour))
      fail(child(item("route.rule_set", i), "download_detour"), "unknown outbound " + in_quotes(rs.download_detour));
  }
  for (std::size_t i = 0; i < opts.route.rules.size(); ++i) {
    const RouteRule& r = opts.route.rules[i];
    if (r.action == RuleAction::route && !index.count(r.outbound))
      fail(child(item("route.rules", i), "outbound"), "unknown outbound " + in_quotes(r.outbound));
    check_rule_set_refs(r, item("route.rules", i), rule_sets);
  }
}

}  // namespace anytls::config::detail
