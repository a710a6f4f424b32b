// The "outbounds" section: anytls, direct, block, selector, urltest, and
// the checks across outbounds (detours, group members).
#include "config/sections.hpp"

#include <algorithm>
#include <functional>

namespace anytls::config::detail {
namespace {

const std::vector<std::string>* members_of(const OutboundOptions& o) {
  if (const auto* s = std::get_if<SelectorOutboundOptions>(&o.options)) return &s->outbounds;
  if (const auto* u = std::get_if<UrlTestOutboundOptions>(&o.options)) return &u->outbounds;
  return nullptr;
}

}  // namespace

OutboundOptions decode_outbound_object(const json& j, const std::string& path) {
  Obj o(j, path);
  OutboundOptions out;
  out.type = required_string(o, "type");
  out.tag = get_string(o, "tag");
  if (out.type == "anytls") {
    AnyTlsOutboundOptions a;
    a.server = required_string(o, "server");
    a.server_port = required_port(o, "server_port");
    a.password = required_string(o, "password");
    a.idle_session_check_interval =
        get_duration(o, "idle_session_check_interval", defaults::kIdleSessionCheckInterval, true);
    a.idle_session_timeout = get_duration(o, "idle_session_timeout", defaults::kIdleSessionTimeout, true);
    a.min_idle_session = get_count(o, "min_idle_session", defaults::kMinIdleSession);
    a.min_idle_session_for_age = get_count(o, "min_idle_session_for_age", defaults::kMinIdleSessionForAge);
    a.ensure_idle_session = get_count(o, "ensure_idle_session", defaults::kEnsureIdleSession);
    a.heartbeat = get_duration(o, "heartbeat", defaults::kHeartbeat, false);
    a.max_connection_lifetime =
        get_duration(o, "max_connection_lifetime", defaults::kMaxConnectionLifetime, false);
    a.connection_lifetime_jitter =
        get_duration(o, "connection_lifetime_jitter", defaults::kConnectionLifetimeJitter, false);
    const json* tls = o.get("tls");
    if (!tls) fail(o.at("tls"), "missing required field");
    a.tls = decode_outbound_tls(*tls, o.at("tls"));
    if (!a.tls.enabled) fail(child(o.at("tls"), "enabled"), "must be true");
    decode_dial(o, a.dial);
    if (a.dial.tcp_fast_open)
      fail(o.at("tcp_fast_open"), "not supported: TCP Fast Open on an anytls outbound (sing-box refuses it too)");
    o.finish();
    out.options = std::move(a);
  } else if (out.type == "direct") {
    DirectOutboundOptions d;
    decode_dial(o, d.dial);
    // Deprecated in sing-box 1.11 (still run by 1.12); ignoring them would
    // send the connections elsewhere.
    for (const char* k : {"override_address", "override_port"})
      if (o.get(k))
        fail(o.at(k), "not supported on the direct outbound: use a route rule with action route-options and " +
                          std::string(k));
    o.finish();
    out.options = std::move(d);
  } else if (out.type == "block" || out.type == "dns") {
    // "dns": sing-box before 1.12; load.cpp turns the route rules naming it
    // into hijack-dns and drops it.
    o.finish();
    out.options = BlockOutboundOptions{};
  } else if (out.type == "selector") {
    SelectorOutboundOptions g;
    g.outbounds = get_strings(o, "outbounds");
    if (g.outbounds.empty()) fail(o.at("outbounds"), "missing required field (the member tags)");
    g.default_ = get_string(o, "default");
    g.interrupt_exist_connections = get_bool(o, "interrupt_exist_connections");
    o.finish();
    if (!g.default_.empty() && std::find(g.outbounds.begin(), g.outbounds.end(), g.default_) == g.outbounds.end())
      fail(o.at("default"), "not one of outbounds: " + in_quotes(g.default_));
    out.options = std::move(g);
  } else if (out.type == "urltest") {
    UrlTestOutboundOptions g;
    g.outbounds = get_strings(o, "outbounds");
    if (g.outbounds.empty()) fail(o.at("outbounds"), "missing required field (the member tags)");
    g.url = get_string(o, "url", g.url);
    if (g.url.empty()) g.url = std::string(defaults::kUrlTestUrl);
    if (g.url.rfind("http://", 0) != 0 && g.url.rfind("https://", 0) != 0)
      fail(o.at("url"), "expected an http:// or https:// URL, got " + in_quotes(g.url));
    g.interval = get_duration(o, "interval", defaults::kUrlTestInterval, true);
    if (auto t = get_uint(o, "tolerance", 65535)) g.tolerance_ms = static_cast<std::uint16_t>(*t);
    g.idle_timeout = get_duration(o, "idle_timeout", defaults::kUrlTestIdleTimeout, true);
    g.interrupt_exist_connections = get_bool(o, "interrupt_exist_connections");
    o.finish();
    // sing-box's rule: tests stop after idle_timeout without use, so an
    // interval longer than that would never test.
    if (g.interval > g.idle_timeout) fail(o.at("interval"), "must not be longer than idle_timeout");
    out.options = std::move(g);
  } else {
    fail(o.at("type"), "unsupported outbound type " + in_quotes(out.type) + " (anytls direct block selector urltest)");
  }
  return out;
}

OutboundOptions decode_outbound(const json& j, const std::string& path, std::vector<std::string>& warnings) {
  if (j.is_string()) return decode_outbound_object(anytls_uri_json(j.get<std::string>(), path, warnings), path);
  return decode_outbound_object(j, path);
}

const DialOptions* dial_of(const OutboundOptions& o) {
  if (const auto* a = std::get_if<AnyTlsOutboundOptions>(&o.options)) return &a->dial;
  if (const auto* d = std::get_if<DirectOutboundOptions>(&o.options)) return &d->dial;
  return nullptr;
}

void check_detours(const Options& opts, const OutboundIndex& index) {
  for (std::size_t i = 0; i < opts.outbounds.size(); ++i) {
    const DialOptions* dial = dial_of(opts.outbounds[i]);
    if (!dial || dial->detour.empty()) continue;
    std::string p = child(item("outbounds", i), "detour");
    // The Chrome ClientHello module drives a socket itself.
    if (const auto* a = std::get_if<AnyTlsOutboundOptions>(&opts.outbounds[i].options); a && a->tls.utls.enabled)
      fail(p, "not supported together with tls.utls: the Chrome ClientHello module needs a TCP connection of its own");
    auto it = index.find(dial->detour);
    if (it == index.end()) fail(p, "unknown outbound " + in_quotes(dial->detour));
    if (it->second == i) fail(p, "an outbound cannot detour through itself");
  }
  // Detour chains must end (a -> b -> a would dial forever).
  auto detour_of = [&](std::size_t i) -> std::string {
    const DialOptions* dial = dial_of(opts.outbounds[i]);
    return dial ? dial->detour : std::string();
  };
  for (std::size_t i = 0; i < opts.outbounds.size(); ++i) {
    std::size_t at = i;
    for (std::size_t steps = 0; !detour_of(at).empty(); ++steps) {
      at = index.at(detour_of(at));
      if (at == i || steps > opts.outbounds.size())
        fail(child(item("outbounds", i), "detour"), "a detour cycle through " + in_quotes(opts.outbounds[at].tag));
    }
  }
}

// Group members exist, are not repeated, and no group contains itself,
// directly or through other groups.
void check_groups(const Options& opts, const OutboundIndex& index) {
  for (std::size_t i = 0; i < opts.outbounds.size(); ++i) {
    const auto* members = members_of(opts.outbounds[i]);
    if (!members) continue;
    std::set<std::string> seen;
    for (std::size_t k = 0; k < members->size(); ++k) {
      const std::string p = item(child(item("outbounds", i), "outbounds"), k);
      const auto& m = (*members)[k];
      if (!index.count(m)) fail(p, "unknown outbound " + in_quotes(m));
      if (!seen.insert(m).second) fail(p, "duplicate member " + in_quotes(m));
    }
  }
  // Depth-first search for a cycle through group members.
  std::vector<int> state(opts.outbounds.size(), 0);  // 0 new, 1 on the path, 2 done
  std::function<void(std::size_t)> visit = [&](std::size_t i) {
    state[i] = 1;
    if (const auto* members = members_of(opts.outbounds[i])) {
      for (const auto& m : *members) {
        std::size_t j = index.at(m);
        if (state[j] == 1)
          fail(child(item("outbounds", i), "outbounds"),
               "a group cannot contain itself (" + in_quotes(opts.outbounds[i].tag) + " reaches " + in_quotes(m) + ")");
        if (state[j] == 0) visit(j);
      }
    }
    state[i] = 2;
  };
  for (std::size_t i = 0; i < opts.outbounds.size(); ++i)
    if (state[i] == 0) visit(i);
}

}  // namespace anytls::config::detail
