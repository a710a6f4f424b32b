// The only translation unit that sees nlohmann-json: parse, merge, decode.
#include "config/load.hpp"

#include "anytls/padding.hpp"
#include "config/fingerprint.hpp"
#include "dns/message.hpp"

#include <algorithm>
#include <fstream>
#include <functional>
#include <map>
#include <set>
#include <sstream>

#include <asio/ip/address.hpp>
#include <nlohmann/json.hpp>

namespace anytls::config {
namespace {

using json = nlohmann::ordered_json;

[[noreturn]] void fail(const std::string& path, std::string problem) {
  throw ConfigError(path, std::move(problem));
}

std::string child(const std::string& path, std::string_view key) {
  return path.empty() ? std::string(key) : path + "." + std::string(key);
}

std::string item(const std::string& path, std::size_t i) {
  return path + "[" + std::to_string(i) + "]";
}

std::string in_quotes(std::string_view s) {
  return "\"" + std::string(s) + "\"";
}

// Kind of a JSON value as messages name it.
std::string kind(const json& j) {
  switch (j.type()) {
    case json::value_t::null: return "null";
    case json::value_t::boolean: return "boolean";
    case json::value_t::number_integer:
    case json::value_t::number_unsigned: return "integer";
    case json::value_t::number_float: return "number";
    case json::value_t::string: return "string";
    case json::value_t::array: return "array";
    case json::value_t::object: return "object";
    default: return "value";
  }
}

std::optional<std::uint16_t> dns_type_number(const std::string& s) { return dns::parse_type(s); }

bool is_ip(const std::string& s) {
  std::error_code ec;
  (void)asio::ip::make_address(s, ec);
  return !ec;
}

// ------------------------------------------------------------ object reader

// A JSON object being decoded: remembers which keys were read so finish()
// can reject the rest (strict decoding, like sing-box).
class Obj {
 public:
  Obj(const json& j, std::string path) : j_(j), path_(std::move(path)) {
    if (!j.is_object()) fail(path_, "expected object, got " + kind(j));
  }

  const std::string& path() const { return path_; }
  std::string at(std::string_view key) const { return child(path_, key); }

  // The value of key, or null when absent or JSON null (Go's zero value).
  const json* get(std::string_view key) {
    seen_.insert(std::string(key));
    auto it = j_.find(key);
    if (it == j_.end() || it->is_null()) return nullptr;
    return &*it;
  }

  // Rejects a field sing-box has but we cannot honour, unless it is
  // present only in a disabled form (false, or an object with enabled false).
  void refuse_enabled(std::string_view key, const std::string& reason) {
    const json* v = get(key);
    if (!v) return;
    bool enabled = true;
    if (v->is_boolean()) {
      enabled = v->get<bool>();
    } else if (v->is_object()) {
      auto e = v->find("enabled");
      enabled = e != v->end() && e->is_boolean() && e->get<bool>();
    }
    if (enabled) fail(at(key), "not supported: " + reason);
  }

  void finish() const {
    for (auto it = j_.begin(); it != j_.end(); ++it) {
      if (!seen_.count(it.key())) fail(at(it.key()), "unknown field");
    }
  }

 private:
  const json& j_;
  std::string path_;
  std::set<std::string, std::less<>> seen_;
};

// ------------------------------------------------------------ scalar fields

std::string get_string(Obj& o, std::string_view key, std::string def = {}) {
  const json* v = o.get(key);
  if (!v) return def;
  if (!v->is_string()) fail(o.at(key), "expected string, got " + kind(*v));
  return v->get<std::string>();
}

std::string required_string(Obj& o, std::string_view key) {
  const json* v = o.get(key);
  if (!v) fail(o.at(key), "missing required field");
  if (!v->is_string()) fail(o.at(key), "expected string, got " + kind(*v));
  std::string s = v->get<std::string>();
  if (s.empty()) fail(o.at(key), "missing required field");
  return s;
}

bool get_bool(Obj& o, std::string_view key, bool def = false) {
  const json* v = o.get(key);
  if (!v) return def;
  if (!v->is_boolean()) fail(o.at(key), "expected boolean, got " + kind(*v));
  return v->get<bool>();
}

std::uint64_t to_uint(const json& v, const std::string& path, std::uint64_t max) {
  if (v.is_number_integer() && !v.is_number_unsigned()) {
    if (v.get<std::int64_t>() < 0) fail(path, "must not be negative");
  } else if (!v.is_number_unsigned()) {
    fail(path, "expected unsigned integer, got " + kind(v));
  }
  std::uint64_t u = v.get<std::uint64_t>();
  if (u > max) fail(path, "out of range: " + std::to_string(u) + " > " + std::to_string(max));
  return u;
}

std::optional<std::uint64_t> get_uint(Obj& o, std::string_view key, std::uint64_t max) {
  const json* v = o.get(key);
  if (!v) return std::nullopt;
  return to_uint(*v, o.at(key), max);
}

std::uint16_t get_port(Obj& o, std::string_view key) {
  return static_cast<std::uint16_t>(get_uint(o, key, 65535).value_or(0));
}

std::uint16_t required_port(Obj& o, std::string_view key) {
  auto p = get_uint(o, key, 65535);
  if (!p) fail(o.at(key), "missing required field");
  if (*p == 0) fail(o.at(key), "must be between 1 and 65535");
  return static_cast<std::uint16_t>(*p);
}

int get_count(Obj& o, std::string_view key, int def) {
  auto v = get_uint(o, key, 1'000'000);
  return v ? static_cast<int>(*v) : def;
}

// Go duration string. zero_is_default: "0" (or absent) gives def.
Duration get_duration(Obj& o, std::string_view key, Duration def, bool zero_is_default) {
  const json* v = o.get(key);
  if (!v) return def;
  if (!v->is_string()) fail(o.at(key), "expected duration string, got " + kind(*v));
  std::string s = v->get<std::string>();
  auto d = net::parse_duration(s, {.allow_days = true});
  if (!d) fail(o.at(key), "invalid duration " + in_quotes(s));
  if (d->count() < 0) fail(o.at(key), "must not be negative");
  if (d->count() == 0 && zero_is_default) return def;
  return *d;
}

// sing-box's udp_timeout also takes a bare number of seconds.
Duration get_udp_timeout(Obj& o, std::string_view key) {
  const json* v = o.get(key);
  if (v && v->is_number()) {
    std::uint64_t secs = to_uint(*v, o.at(key), 1'000'000'000);
    return secs == 0 ? defaults::kUdpTimeout : Duration(std::chrono::seconds(secs));
  }
  return get_duration(o, key, defaults::kUdpTimeout, true);
}

// Listable string: "a" or ["a", "b"].
std::vector<std::string> get_strings(Obj& o, std::string_view key) {
  const json* v = o.get(key);
  if (!v) return {};
  if (v->is_string()) return {v->get<std::string>()};
  if (!v->is_array()) fail(o.at(key), "expected string or array of strings, got " + kind(*v));
  std::vector<std::string> out;
  for (std::size_t i = 0; i < v->size(); ++i) {
    const json& e = (*v)[i];
    if (!e.is_string()) fail(item(o.at(key), i), "expected string, got " + kind(e));
    out.push_back(e.get<std::string>());
  }
  return out;
}

std::string get_lines(Obj& o, std::string_view key) {
  std::string out;
  auto lines = get_strings(o, key);
  for (std::size_t i = 0; i < lines.size(); ++i) {
    if (i) out += '\n';
    out += lines[i];
  }
  return out;
}

std::vector<std::uint16_t> get_ports(Obj& o, std::string_view key) {
  const json* v = o.get(key);
  if (!v) return {};
  if (!v->is_array()) return {static_cast<std::uint16_t>(to_uint(*v, o.at(key), 65535))};
  std::vector<std::uint16_t> out;
  for (std::size_t i = 0; i < v->size(); ++i)
    out.push_back(static_cast<std::uint16_t>(to_uint((*v)[i], item(o.at(key), i), 65535)));
  return out;
}

// routing_mark: integer, or a string in decimal or 0x-hex.
std::uint32_t get_mark(Obj& o, std::string_view key) {
  const json* v = o.get(key);
  if (!v) return 0;
  if (v->is_string()) {
    std::string s = v->get<std::string>();
    try {
      std::size_t used = 0;
      unsigned long long m = std::stoull(s, &used, 0);
      if (used == s.size() && m <= 0xffffffffULL) return static_cast<std::uint32_t>(m);
    } catch (const std::exception&) {
    }
    fail(o.at(key), "invalid routing mark " + in_quotes(s));
  }
  return static_cast<std::uint32_t>(to_uint(*v, o.at(key), 0xffffffffULL));
}

std::string get_tls_version(Obj& o, std::string_view key) {
  std::string s = get_string(o, key);
  if (!s.empty() && s != "1.0" && s != "1.1" && s != "1.2" && s != "1.3")
    fail(o.at(key), "invalid TLS version " + in_quotes(s) + " (1.0 1.1 1.2 1.3)");
  return s;
}

void check_versions(const Obj& o, const std::string& min, const std::string& max) {
  if (!min.empty() && !max.empty() && min > max)
    fail(o.at("min_version"), "greater than max_version");
}

// ------------------------------------------------------------ shared blocks

const std::set<std::string, std::less<>> kLogLevels = {"trace", "debug", "info", "warn",
                                                       "error", "fatal", "panic"};

LogOptions decode_log(const json& j, const std::string& path) {
  Obj o(j, path);
  LogOptions log;
  log.disabled = get_bool(o, "disabled");
  log.level = get_string(o, "level", std::string(defaults::kLogLevel));
  if (log.level.empty()) log.level = std::string(defaults::kLogLevel);
  if (!kLogLevels.count(log.level))
    fail(o.at("level"), "unknown level " + in_quotes(log.level) + " (trace debug info warn error fatal panic)");
  log.output = get_string(o, "output");
  log.timestamp = get_bool(o, "timestamp");
  o.finish();
  return log;
}

void decode_listen(Obj& o, ListenOptions& l) {
  l.listen = required_string(o, "listen");
  if (!is_ip(l.listen)) fail(o.at("listen"), "expected an IP address, got " + in_quotes(l.listen));
  l.listen_port = get_port(o, "listen_port");
  l.tcp_fast_open = get_bool(o, "tcp_fast_open");
  l.reuse_addr = get_bool(o, "reuse_addr");
  l.bind_interface = get_string(o, "bind_interface");
  l.routing_mark = get_mark(o, "routing_mark");
  l.tcp_keep_alive = get_duration(o, "tcp_keep_alive", defaults::kTcpKeepAlive, true);
  l.tcp_keep_alive_interval =
      get_duration(o, "tcp_keep_alive_interval", defaults::kTcpKeepAliveInterval, true);
  l.disable_tcp_keep_alive = get_bool(o, "disable_tcp_keep_alive");
  l.udp_timeout = get_udp_timeout(o, "udp_timeout");
  // Legacy (sing-box < 1.11) sniffing fields: decode() turns them into a
  // sniff rule.
  l.sniff = get_bool(o, "sniff");
  l.sniff_override_destination = get_bool(o, "sniff_override_destination");
  l.sniff_timeout = get_duration(o, "sniff_timeout", defaults::kSniffTimeout, true);
}

DomainStrategy parse_strategy(Obj& o, std::string_view key) {
  std::string ds = get_string(o, key);
  if (ds.empty() || ds == "as_is") return DomainStrategy::as_is;
  if (ds == "prefer_ipv4") return DomainStrategy::prefer_ipv4;
  if (ds == "prefer_ipv6") return DomainStrategy::prefer_ipv6;
  if (ds == "ipv4_only") return DomainStrategy::ipv4_only;
  if (ds == "ipv6_only") return DomainStrategy::ipv6_only;
  fail(o.at(key), "unknown domain strategy " + in_quotes(ds) + " (prefer_ipv4 prefer_ipv6 ipv4_only ipv6_only)");
}

// domain_resolver: "tag" or {"server": "tag", "strategy": ...}.
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
  std::string ds = get_string(o, "domain_strategy");
  if (ds.empty() || ds == "as_is") d.domain_strategy = DomainStrategy::as_is;
  else if (ds == "prefer_ipv4") d.domain_strategy = DomainStrategy::prefer_ipv4;
  else if (ds == "prefer_ipv6") d.domain_strategy = DomainStrategy::prefer_ipv6;
  else if (ds == "ipv4_only") d.domain_strategy = DomainStrategy::ipv4_only;
  else if (ds == "ipv6_only") d.domain_strategy = DomainStrategy::ipv6_only;
  else
    fail(o.at("domain_strategy"),
         "unknown domain strategy " + in_quotes(ds) + " (prefer_ipv4 prefer_ipv6 ipv4_only ipv6_only)");
  d.fallback_delay = get_duration(o, "fallback_delay", defaults::kFallbackDelay, true);
  decode_domain_resolver(o, "domain_resolver", d.domain_resolver, d.domain_resolver_strategy);
  d.tcp_multi_path = get_bool(o, "tcp_multi_path");
  d.udp_fragment = get_bool(o, "udp_fragment");
  // sing-box picks among interfaces by what Android's network monitor says
  // about them; Linux gives no such monitor.
  if (std::string ns = get_string(o, "network_strategy"); !ns.empty() && ns != "default")
    fail(o.at("network_strategy"), "not supported: network_strategy needs Android's network monitor (sing-box applies it only with auto_detect_interface on Android)");
  for (const char* k : {"network_type", "fallback_network_type"})
    if (o.get(k)) fail(o.at(k), "not supported: it belongs to network_strategy (Android's network monitor)");
}

InboundTlsOptions decode_inbound_tls(const json& j, const std::string& path) {
  Obj o(j, path);
  InboundTlsOptions t;
  t.enabled = get_bool(o, "enabled");
  t.server_name = get_string(o, "server_name");
  t.alpn = get_strings(o, "alpn");
  t.min_version = get_tls_version(o, "min_version");
  t.max_version = get_tls_version(o, "max_version");
  check_versions(o, t.min_version, t.max_version);
  t.cipher_suites = get_strings(o, "cipher_suites");
  t.certificate = get_lines(o, "certificate");
  t.certificate_path = get_string(o, "certificate_path");
  t.key = get_lines(o, "key");
  t.key_path = get_string(o, "key_path");
  // sing-box's acme object has no "enabled": its presence turns it on, so
  // it is refused before a missing certificate could be blamed instead.
  if (o.get("acme")) fail(o.at("acme"), "not supported: ACME certificate issuance; obtain the certificate elsewhere (e.g. certbot) and set certificate_path and key_path");
  o.refuse_enabled("ech", "ECH needs a TLS stack other than OpenSSL 3.0");
  o.refuse_enabled("reality", "REALITY needs a modified TLS stack");
  o.finish();
  if (t.enabled) {
    if (t.certificate.empty() && t.certificate_path.empty())
      fail(o.at("certificate_path"), "missing required field (or certificate)");
    if (t.key.empty() && t.key_path.empty()) fail(o.at("key_path"), "missing required field (or key)");
  }
  return t;
}

// The module that sends Chrome's ClientHello is optional (it needs Debian's
// android-libboringssl-dev, and sanitizer builds leave it out).
void check_utls_available(const std::string& path) {
#ifndef ANYTLS_HAVE_UTLS
  fail(path, "not available in this build: the Chrome ClientHello module (libanytls_utls.so) was not built "
             "(it needs android-libboringssl-dev and libbrotli-dev; sanitizer builds leave it out)");
#else
  (void)path;
#endif
}

UtlsOptions decode_utls(const json& j, const std::string& path) {
  Obj o(j, path);
  UtlsOptions u;
  u.enabled = get_bool(o, "enabled");
  std::string name = get_string(o, "fingerprint");
  o.finish();
  if (!u.enabled) return u;
  auto fp = utls_fingerprint(name);
  if (fp.canonical.empty()) fail(o.at("fingerprint"), fp.error);
  check_utls_available(path);
  u.fingerprint = fp.canonical;
  return u;
}

OutboundTlsOptions decode_outbound_tls(const json& j, const std::string& path) {
  Obj o(j, path);
  OutboundTlsOptions t;
  t.enabled = get_bool(o, "enabled");
  t.disable_sni = get_bool(o, "disable_sni");
  t.server_name = get_string(o, "server_name");
  t.insecure = get_bool(o, "insecure");
  t.alpn = get_strings(o, "alpn");
  t.min_version = get_tls_version(o, "min_version");
  t.max_version = get_tls_version(o, "max_version");
  check_versions(o, t.min_version, t.max_version);
  t.cipher_suites = get_strings(o, "cipher_suites");
  t.curve_preferences = get_strings(o, "curve_preferences");
  t.certificate = get_lines(o, "certificate");
  t.certificate_path = get_string(o, "certificate_path");
  t.certificate_public_key_sha256 = get_strings(o, "certificate_public_key_sha256");
  t.client_certificate = get_lines(o, "client_certificate");
  t.client_certificate_path = get_string(o, "client_certificate_path");
  t.client_key = get_lines(o, "client_key");
  t.client_key_path = get_string(o, "client_key_path");
  if (const json* u = o.get("utls")) t.utls = decode_utls(*u, o.at("utls"));
  o.refuse_enabled("ech", "ECH needs a TLS stack other than OpenSSL 3.0");
  o.refuse_enabled("reality", "REALITY needs a modified TLS stack");
  o.refuse_enabled("fragment", "TLS fragmentation needs control over TLS record boundaries that OpenSSL does not give");
  o.refuse_enabled("fragment_fallback_delay", "TLS fragmentation is not supported");
  o.refuse_enabled("record_fragment", "TLS record fragmentation needs control over TLS record boundaries that OpenSSL does not give");
  o.finish();
  if (t.utls.enabled) {
    // The Chrome fingerprint fixes these; honouring them would change it.
    const char* why = "cannot be combined with utls: the Chrome fingerprint fixes it";
    if (!t.min_version.empty()) fail(o.at("min_version"), why);
    if (!t.max_version.empty()) fail(o.at("max_version"), why);
    if (!t.cipher_suites.empty()) fail(o.at("cipher_suites"), why);
    if (!t.curve_preferences.empty()) fail(o.at("curve_preferences"), why);
    if (!t.client_certificate.empty() || !t.client_certificate_path.empty())
      fail(o.at(t.client_certificate.empty() ? "client_certificate_path" : "client_certificate"),
           "not supported with utls (client certificates need the OpenSSL client)");
  }
  bool has_cert = !t.client_certificate.empty() || !t.client_certificate_path.empty();
  bool has_key = !t.client_key.empty() || !t.client_key_path.empty();
  if (has_cert && !has_key) fail(o.at("client_key_path"), "missing required field (or client_key)");
  if (has_key && !has_cert)
    fail(o.at("client_certificate_path"), "missing required field (or client_certificate)");
  return t;
}

// ------------------------------------------------------------ inbounds

// The same parser the server uses, so what loads here also starts.
void check_padding_scheme(const std::string& text, const std::string& path) {
  if (!proto::PaddingScheme::parse(text)) fail(path, "invalid padding scheme: it needs a \"stop=N\" line with an integer N");
}

InboundOptions decode_inbound(const json& j, const std::string& path) {
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
  } else {
    fail(o.at("type"), "unsupported inbound type " + in_quotes(in.type) + " (mixed socks http anytls)");
  }
  return in;
}

// ------------------------------------------------------------ outbounds

json anytls_uri_json(std::string_view uri, const std::string& path, std::vector<std::string>& warnings);

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
    o.finish();
    out.options = std::move(d);
  } else if (out.type == "block") {
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

// An outbound object, or an anytls:// link standing for one.
OutboundOptions decode_outbound(const json& j, const std::string& path, std::vector<std::string>& warnings) {
  if (j.is_string()) return decode_outbound_object(anytls_uri_json(j.get<std::string>(), path, warnings), path);
  return decode_outbound_object(j, path);
}

// ------------------------------------------------------------ route

bool valid_cidr(const std::string& s) {
  auto slash = s.find('/');
  std::error_code ec;
  auto addr = asio::ip::make_address(s.substr(0, slash), ec);
  if (ec) return false;
  if (slash == std::string::npos) return true;
  std::string bits = s.substr(slash + 1);
  if (bits.empty() || bits.size() > 3 ||
      !std::all_of(bits.begin(), bits.end(), [](char c) { return c >= '0' && c <= '9'; }))
    return false;
  int n = std::stoi(bits);
  return n <= (addr.is_v4() ? 32 : 128);
}

DomainStrategy parse_strategy(const std::string& ds, const std::string& path) {
  if (ds.empty() || ds == "as_is") return DomainStrategy::as_is;
  if (ds == "prefer_ipv4") return DomainStrategy::prefer_ipv4;
  if (ds == "prefer_ipv6") return DomainStrategy::prefer_ipv6;
  if (ds == "ipv4_only") return DomainStrategy::ipv4_only;
  if (ds == "ipv6_only") return DomainStrategy::ipv6_only;
  fail(path, "unknown domain strategy " + in_quotes(ds) + " (prefer_ipv4 prefer_ipv6 ipv4_only ipv6_only)");
}

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
  r.network = get_strings(o, "network");
  r.clash_mode = get_string(o, "clash_mode");
  for (std::size_t i = 0; i < r.network.size(); ++i)
    if (r.network[i] != "tcp" && r.network[i] != "udp")
      fail(item(o.at("network"), i), "unknown network " + in_quotes(r.network[i]) + " (tcp udp)");
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

RouteRule decode_rule_body(const json& j, const std::string& path, bool top, bool headless);

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
      if (s == "tls" || s == "http") continue;
      if (s == "quic" || s == "dns" || s == "stun" || s == "bittorrent" || s == "dtls" || s == "ssh" || s == "rdp" ||
          s == "ntp")
        fail(item(o.at("sniffer"), i), "not supported: sniffer " + in_quotes(s) + " (anytls-cpp sniffs tls and http)");
      fail(item(o.at("sniffer"), i), "unknown sniffer " + in_quotes(s) + " (tls http)");
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

// top: a route.rules entry (with an action); headless: a rule-set rule.
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

// sing-box's rule-set source format: {"version": 1|2|3, "rules": [headless rules]}.
std::vector<RouteRule> decode_rule_set_source(const json& j, const std::string& path) {
  Obj o(j, path);
  auto version = get_uint(o, "version", 1000);
  if (!version) fail(o.at("version"), "missing required field");
  if (*version < 1 || *version > 3) fail(o.at("version"), "unknown rule-set version " + std::to_string(*version) + " (1 2 3)");
  std::vector<RouteRule> out;
  if (const json* rules = o.get("rules")) {
    if (!rules->is_array()) fail(o.at("rules"), "expected array, got " + kind(*rules));
    for (std::size_t i = 0; i < rules->size(); ++i)
      out.push_back(decode_rule_body((*rules)[i], item(o.at("rules"), i), false, true));
  }
  o.finish();
  return out;
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

RouteOptions decode_route(const json& j, const std::string& path, std::vector<std::string>& warnings) {
  Obj o(j, path);
  RouteOptions r;
  r.final = get_string(o, "final");
  r.auto_detect_interface = get_bool(o, "auto_detect_interface");
  r.default_interface = get_string(o, "default_interface");
  r.default_mark = get_mark(o, "default_mark");
  decode_domain_resolver(o, "default_domain_resolver", r.default_domain_resolver, r.default_domain_resolver_strategy);
  if (o.get("override_android_vpn")) fail(o.at("override_android_vpn"), "not supported: Android only");
  if (const json* ns = o.get("default_network_strategy"); ns && !(ns->is_string() && ns->get<std::string>().empty()))
    fail(o.at("default_network_strategy"), "not supported: network strategies need Android's network monitor");
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
  // Process lookup is always on for rules that ask for it (Linux /proc).
  if (get_bool(o, "find_process")) warnings.push_back("route.find_process: process lookup is done whenever a rule needs it");
  o.finish();
  return r;
}

// ------------------------------------------------------------ dns

bool is_digits(std::string_view s);
std::string lower(std::string_view s);

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
  if (scheme == "quic" || scheme == "h3" || scheme == "dhcp")
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
  } else if (s.type == "quic" || s.type == "h3" || s.type == "dhcp" || s.type == "tailscale" ||
             s.type == "resolved") {
    fail(o.at("type"), "not supported: DNS server type " + in_quotes(s.type) + " (anytls-cpp has local hosts udp tcp tls https fakeip)");
  } else {
    fail(o.at("type"), "unknown DNS server type " + in_quotes(s.type) + " (local hosts udp tcp tls https fakeip)");
  }
  o.finish();
  if (s.dial.tcp_fast_open) warnings.push_back(o.at("tcp_fast_open") + ": ignored for DNS servers");
  return s;
}

RouteRule decode_rule(const json& j, const std::string& path);

// The keys a DNS rule has beyond the route matchers.
constexpr const char* kDnsRuleKeys[] = {"query_type", "server", "action", "method", "no_drop",
                                        "disable_cache", "rewrite_ttl", "client_subnet", "strategy"};

DnsRule decode_dns_rule(const json& j, const std::string& path) {
  Obj o(j, path);
  DnsRule r;
  if (o.get("outbound"))
    fail(o.at("outbound"), "not supported: the outbound matcher of DNS rules (deprecated in sing-box 1.12; use domain_resolver on the outbound)");
  // The matchers are route.rules' own: decode them with the route decoder
  // from a copy without the DNS-only keys.
  json matchers = j;
  for (const char* k : kDnsRuleKeys) matchers.erase(k);
  matchers["action"] = "reject";
  r.match = decode_rule(matchers, path);
  if (const json* qt = o.get("query_type")) {
    std::vector<json> list = qt->is_array() ? std::vector<json>(qt->begin(), qt->end()) : std::vector<json>{*qt};
    for (std::size_t i = 0; i < list.size(); ++i) {
      std::string p = qt->is_array() ? item(o.at("query_type"), i) : o.at("query_type");
      if (list[i].is_string()) {
        auto t = dns_type_number(list[i].get<std::string>());
        if (!t) fail(p, "unknown query type " + in_quotes(list[i].get<std::string>()) + " (A AAAA HTTPS ... or a number)");
        r.query_type.push_back(*t);
      } else {
        r.query_type.push_back(static_cast<std::uint16_t>(to_uint(list[i], p, 65535)));
      }
    }
  }
  std::string action = get_string(o, "action", "route");
  r.server = get_string(o, "server");
  std::string method = get_string(o, "method");
  if (action == "route") {
    r.action = DnsRuleAction::route;
    if (r.server.empty()) fail(o.at("server"), "missing required field");
    if (!method.empty()) fail(o.at("method"), "only allowed with action reject");
    r.disable_cache = get_bool(o, "disable_cache");
    if (const json* cs = o.get("client_subnet")) {
      if (!cs->is_string()) fail(o.at("client_subnet"), "expected string, got " + kind(*cs));
      r.client_subnet = cs->get<std::string>();
      check_client_subnet(*r.client_subnet, o.at("client_subnet"));
    }
    if (o.get("rewrite_ttl")) fail(o.at("rewrite_ttl"), "not supported: rewrite_ttl");
    if (o.get("strategy")) fail(o.at("strategy"), "not supported on a DNS rule (set dns.strategy or the server's domain_resolver strategy)");
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
  } else if (action == "route-options" || action == "predefined") {
    fail(o.at("action"), "not supported: DNS rule action " + in_quotes(action) + " (route reject)");
  } else {
    fail(o.at("action"), "unknown DNS rule action " + in_quotes(action) + " (route reject)");
  }
  // Everything else was a matcher (decoded above) or is unknown there.
  for (auto it = j.begin(); it != j.end(); ++it) (void)o.get(it.key());
  o.finish();
  return r;
}

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

// ------------------------------------------------------------ experimental

// "127.0.0.1:9100", "[::1]:9100": an IP literal and a port.
void decode_host_port(const std::string& text, const std::string& path, std::string& host, std::uint16_t& port) {
  auto colon = text.rfind(':');
  if (colon == std::string::npos || colon + 1 == text.size())
    fail(path, "expected IP:port (e.g. \"127.0.0.1:9100\"), got " + in_quotes(text));
  std::string h = text.substr(0, colon);
  if (h.size() >= 2 && h.front() == '[' && h.back() == ']') h = h.substr(1, h.size() - 2);
  else if (h.find(':') != std::string::npos)
    fail(path, "an IPv6 address needs brackets: \"[::1]:9100\", got " + in_quotes(text));
  if (!is_ip(h)) fail(path, "expected an IP address before the port, got " + in_quotes(text));
  std::uint32_t p = 0;
  for (std::size_t i = colon + 1; i < text.size(); ++i) {
    char c = text[i];
    if (c < '0' || c > '9' || p > 65535) fail(path, "invalid port in " + in_quotes(text));
    p = p * 10 + static_cast<std::uint32_t>(c - '0');
  }
  if (p == 0 || p > 65535) fail(path, "invalid port in " + in_quotes(text));
  host = h;
  port = static_cast<std::uint16_t>(p);
}

MetricsOptions decode_metrics(const json& j, const std::string& path) {
  Obj o(j, path);
  MetricsOptions m;
  if (const json* v = o.get("listen")) {
    if (!v->is_string()) fail(o.at("listen"), "expected string, got " + kind(*v));
    decode_host_port(v->get<std::string>(), o.at("listen"), m.listen, m.listen_port);
  }
  m.path = get_string(o, "path", m.path);
  if (m.path.empty() || m.path.front() != '/') fail(o.at("path"), "must start with \"/\", got " + in_quotes(m.path));
  for (char c : m.path)
    if (static_cast<unsigned char>(c) <= ' ' || c == '?' || c == '#' || c == 0x7f)
      fail(o.at("path"), "must be a plain URL path (no spaces, '?' or '#'), got " + in_quotes(m.path));
  m.secret = get_string(o, "secret");
  o.finish();
  return m;
}

CacheFileOptions decode_cache_file(const json& j, const std::string& path) {
  Obj o(j, path);
  CacheFileOptions c;
  c.enabled = get_bool(o, "enabled");
  c.path = get_string(o, "path", c.path);
  if (c.path.empty()) c.path = std::string(defaults::kCacheFilePath);
  c.cache_id = get_string(o, "cache_id");
  // Only selections are stored: no fake-ip pool and no DNS here.
  if (get_bool(o, "store_fakeip"))
    fail(o.at("store_fakeip"), "not supported: keeping the fake-ip table across restarts (anytls-cpp keeps it in memory)");
  if (get_bool(o, "store_rdrc")) fail(o.at("store_rdrc"), "not supported: anytls-cpp has no DNS rules");
  (void)get_duration(o, "rdrc_timeout", Duration{0}, false);
  o.finish();
  return c;
}

ClashApiOptions decode_clash_api(const json& j, const std::string& path) {
  Obj o(j, path);
  ClashApiOptions c;
  if (const json* v = o.get("external_controller")) {
    if (!v->is_string()) fail(o.at("external_controller"), "expected string, got " + kind(*v));
    std::string text = v->get<std::string>();
    if (!text.empty()) decode_host_port(text, o.at("external_controller"), c.listen, c.listen_port);
  }
  c.external_ui = get_string(o, "external_ui");
  for (const char* key : {"external_ui_download_url", "external_ui_download_detour"})
    if (o.get(key)) fail(o.at(key), "not supported: put the dashboard's files in external_ui yourself");
  c.secret = get_string(o, "secret");
  c.default_mode = get_string(o, "default_mode", c.default_mode);
  if (c.default_mode.empty()) c.default_mode = std::string(defaults::kClashDefaultMode);
  c.access_control_allow_origin = get_strings(o, "access_control_allow_origin");
  c.access_control_allow_private_network = get_bool(o, "access_control_allow_private_network");
  // sing-box 1.8 moved these to experimental.cache_file.
  for (const char* key : {"store_mode", "store_selected", "store_fakeip", "cache_file", "cache_id"})
    if (o.get(key)) fail(o.at(key), "moved to experimental.cache_file (as in sing-box 1.8+)");
  o.finish();
  return c;
}

void decode_experimental(const json& j, const std::string& path, Options& opts) {
  Obj o(j, path);
  // sing-box's experimental services we do not have (yet): named, not
  // silently ignored.
  for (const char* key : {"v2ray_api", "debug"}) {
    if (o.get(key))
      fail(o.at(key), "not supported yet (of experimental, anytls-cpp has \"metrics\", \"cache_file\" and "
                      "\"clash_api\")");
  }
  if (const json* m = o.get("metrics")) opts.metrics = decode_metrics(*m, o.at("metrics"));
  if (const json* c = o.get("cache_file")) opts.cache_file = decode_cache_file(*c, o.at("cache_file"));
  if (const json* c = o.get("clash_api")) opts.clash_api = decode_clash_api(*c, o.at("clash_api"));
  o.finish();
}

// ------------------------------------------------------------ top level

// Gives every untagged entry a tag and rejects duplicates.
template <class T>
void assign_tags(std::vector<T>& entries, const std::string& array) {
  std::set<std::string> taken;
  for (std::size_t i = 0; i < entries.size(); ++i) {
    if (entries[i].tag.empty()) continue;
    if (!taken.insert(entries[i].tag).second)
      fail(child(item(array, i), "tag"), "duplicate tag " + in_quotes(entries[i].tag));
  }
  for (std::size_t i = 0; i < entries.size(); ++i) {
    if (!entries[i].tag.empty()) continue;
    std::string tag = entries[i].type;
    if (taken.count(tag)) tag = entries[i].type + "-" + std::to_string(i);
    for (int n = 2; taken.count(tag); ++n) tag = entries[i].type + "-" + std::to_string(i) + "-" + std::to_string(n);
    taken.insert(tag);
    entries[i].tag = tag;
  }
}

void check_rule_set_refs(const RouteRule& r, const std::string& path,
                         const std::set<std::string, std::less<>>& tags) {
  for (std::size_t j = 0; j < r.rule_set.size(); ++j)
    if (!tags.count(r.rule_set[j]))
      fail(item(child(path, "rule_set"), j), "unknown rule-set " + in_quotes(r.rule_set[j]));
  for (std::size_t j = 0; j < r.rules.size(); ++j) check_rule_set_refs(r.rules[j], item(child(path, "rules"), j), tags);
}

// Tags of dns.servers, and every reference to one (rules, final,
// domain_resolver) or from one (detour) resolved.
void check_dns_references(Options& opts, const std::map<std::string, std::size_t>& outbound_index) {
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
  for (std::size_t i = 0; i < opts.outbounds.size(); ++i) {
    const DialOptions* dial = nullptr;
    if (auto* a = std::get_if<AnyTlsOutboundOptions>(&opts.outbounds[i].options)) dial = &a->dial;
    if (auto* dd = std::get_if<DirectOutboundOptions>(&opts.outbounds[i].options)) dial = &dd->dial;
    if (dial) need_any(dial->domain_resolver, child(item("outbounds", i), "domain_resolver"));
  }
}

const std::vector<std::string>* members_of(const OutboundOptions& o) {
  if (const auto* s = std::get_if<SelectorOutboundOptions>(&o.options)) return &s->outbounds;
  if (const auto* u = std::get_if<UrlTestOutboundOptions>(&o.options)) return &u->outbounds;
  return nullptr;
}

// Group members exist, are not repeated, and no group contains itself,
// directly or through other groups.
void check_groups(const Options& opts, const std::map<std::string, std::size_t>& index) {
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

Options decode(const json& root) {
  Obj o(root, "");
  Options opts;
  (void)o.get("$schema");
  if (const json* d = o.get("dns")) opts.dns = decode_dns(*d, "dns", opts.warnings);
  for (const char* key : {"ntp", "certificate", "endpoints", "services"}) {
    if (o.get(key)) fail(key, "not supported by anytls-cpp");
  }
  if (const json* e = o.get("experimental")) decode_experimental(*e, "experimental", opts);
  if (const json* log = o.get("log")) opts.log = decode_log(*log, "log");
  if (const json* ins = o.get("inbounds")) {
    if (!ins->is_array()) fail("inbounds", "expected array, got " + kind(*ins));
    for (std::size_t i = 0; i < ins->size(); ++i) opts.inbounds.push_back(decode_inbound((*ins)[i], item("inbounds", i)));
  }
  if (const json* outs = o.get("outbounds")) {
    if (!outs->is_array()) fail("outbounds", "expected array, got " + kind(*outs));
    for (std::size_t i = 0; i < outs->size(); ++i)
      opts.outbounds.push_back(decode_outbound((*outs)[i], item("outbounds", i), opts.warnings));
  }
  if (const json* route = o.get("route")) opts.route = decode_route(*route, "route", opts.warnings);
  o.finish();

  assign_tags(opts.inbounds, "inbounds");
  if (opts.outbounds.empty()) {
    opts.outbounds.push_back(OutboundOptions{"direct", "direct", DirectOutboundOptions{}});
  }
  assign_tags(opts.outbounds, "outbounds");

  std::map<std::string, std::size_t> outbound_index;
  for (std::size_t i = 0; i < opts.outbounds.size(); ++i) outbound_index[opts.outbounds[i].tag] = i;
  for (std::size_t i = 0; i < opts.outbounds.size(); ++i) {
    const DialOptions* dial = nullptr;
    if (auto* a = std::get_if<AnyTlsOutboundOptions>(&opts.outbounds[i].options)) dial = &a->dial;
    if (auto* d = std::get_if<DirectOutboundOptions>(&opts.outbounds[i].options)) dial = &d->dial;
    if (!dial || dial->detour.empty()) continue;
    std::string p = child(item("outbounds", i), "detour");
    // The Chrome ClientHello module drives a socket itself.
    if (const auto* a = std::get_if<AnyTlsOutboundOptions>(&opts.outbounds[i].options); a && a->tls.utls.enabled)
      fail(p, "not supported together with tls.utls: the Chrome ClientHello module needs a TCP connection of its own");
    auto it = outbound_index.find(dial->detour);
    if (it == outbound_index.end()) fail(p, "unknown outbound " + in_quotes(dial->detour));
    if (it->second == i) fail(p, "an outbound cannot detour through itself");
  }
  // Detour chains must end (a -> b -> a would dial forever).
  auto detour_of = [&](std::size_t i) -> std::string {
    if (auto* a = std::get_if<AnyTlsOutboundOptions>(&opts.outbounds[i].options)) return a->dial.detour;
    if (auto* d = std::get_if<DirectOutboundOptions>(&opts.outbounds[i].options)) return d->dial.detour;
    return {};
  };
  for (std::size_t i = 0; i < opts.outbounds.size(); ++i) {
    std::size_t at = i;
    for (std::size_t steps = 0; !detour_of(at).empty(); ++steps) {
      at = outbound_index.at(detour_of(at));
      if (at == i || steps > opts.outbounds.size())
        fail(child(item("outbounds", i), "detour"), "a detour cycle through " + in_quotes(opts.outbounds[at].tag));
    }
  }
  if (opts.route.final.empty()) {
    opts.route.final = opts.outbounds.front().tag;
  } else if (!outbound_index.count(opts.route.final)) {
    fail("route.final", "unknown outbound " + in_quotes(opts.route.final));
  }
  std::set<std::string, std::less<>> rule_sets;
  for (std::size_t i = 0; i < opts.route.rule_set.size(); ++i) {
    const auto& rs = opts.route.rule_set[i];
    rule_sets.insert(rs.tag);
    if (!rs.download_detour.empty() && !outbound_index.count(rs.download_detour))
      fail(child(item("route.rule_set", i), "download_detour"), "unknown outbound " + in_quotes(rs.download_detour));
  }
  for (std::size_t i = 0; i < opts.route.rules.size(); ++i) {
    const RouteRule& r = opts.route.rules[i];
    if (r.action == RuleAction::route && !outbound_index.count(r.outbound))
      fail(child(item("route.rules", i), "outbound"), "unknown outbound " + in_quotes(r.outbound));
    check_rule_set_refs(r, item("route.rules", i), rule_sets);
  }
  // Legacy inbound sniffing (sing-box < 1.11): a sniff rule for that inbound
  // ahead of the others, as sing-box itself converts it.
  std::vector<RouteRule> legacy;
  for (const auto& in : opts.inbounds) {
    const ListenOptions& l = in.listen();
    if (!l.sniff) continue;
    RouteRule r;
    r.inbound = {in.tag};
    r.action = RuleAction::sniff;
    r.sniff_timeout = l.sniff_timeout;
    r.override_destination = l.sniff_override_destination;
    legacy.push_back(std::move(r));
  }
  opts.route.rules.insert(opts.route.rules.begin(), legacy.begin(), legacy.end());
  check_dns_references(opts, outbound_index);
  for (std::size_t i = 0; i < opts.inbounds.size(); ++i) {
    const auto* m = std::get_if<MixedInboundOptions>(&opts.inbounds[i].options);
    if (m && m->set_system_proxy)
      opts.warnings.push_back(child(item("inbounds", i), "set_system_proxy") +
                              ": ignored: a headless Linux has no system proxy setting to change");
  }
  if (opts.route.auto_detect_interface && opts.route.default_interface.empty())
    opts.warnings.push_back("route.auto_detect_interface: the kernel's routing table picks the interface (no interface is bound)");
  check_groups(opts, outbound_index);
  return opts;
}

// `text` parsed in place (no copy: a rule set's text can be tens of MB).
json parse(std::string_view text, const std::string& name) {
  try {
    return json::parse(text.begin(), text.end(), nullptr, /*allow_exceptions=*/true, /*ignore_comments=*/true);
  } catch (const json::parse_error& e) {
    std::string msg = e.what();
    // "[json.exception.parse_error.101] parse error at line 3, ..." -> "parse error at line 3, ..."
    if (auto close = msg.find("] "); msg.rfind("[json.exception", 0) == 0 && close != std::string::npos)
      msg = msg.substr(close + 2);
    fail(name, msg);
  }
}

json parse(const ConfigSource& source) { return parse(source.text, source.name); }

// sing-box's merge: objects merge key by key, arrays concatenate, anything
// else is replaced by the later value.
void merge_into(json& dst, const json& src) {
  if (dst.is_object() && src.is_object()) {
    for (auto it = src.begin(); it != src.end(); ++it) {
      auto found = dst.find(it.key());
      if (found == dst.end()) dst[it.key()] = it.value();
      else merge_into(*found, it.value());
    }
  } else if (dst.is_array() && src.is_array()) {
    for (const auto& e : src) dst.push_back(e);
  } else {
    dst = src;
  }
}

json merge_sources(const std::vector<ConfigSource>& sources) {
  json merged = json::object();
  for (const auto& s : sources) {
    json doc = parse(s);
    if (!doc.is_object()) fail(s.name, "expected a JSON object at the top level, got " + kind(doc));
    merge_into(merged, doc);
  }
  return merged;
}

// ------------------------------------------------------------ URI helpers

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::string percent_decode(std::string_view s, const std::string& path, std::string_view what) {
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '%') {
      out += s[i];
      continue;
    }
    if (i + 2 >= s.size()) fail(path, "anytls URI: invalid percent-encoding in " + std::string(what));
    int hi = hex_value(s[i + 1]);
    int lo = hex_value(s[i + 2]);
    if (hi < 0 || lo < 0) fail(path, "anytls URI: invalid percent-encoding in " + std::string(what));
    out += static_cast<char>(hi * 16 + lo);
    i += 2;
  }
  return out;
}


// ------------------------------------------------------------ anytls:// URIs

bool is_digits(std::string_view s) {
  return !s.empty() && s.size() <= 9 && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// "1" "true" "yes" / "0" "false" "no" "" (any case); nullopt otherwise.
std::optional<bool> uri_bool(std::string_view v) {
  std::string l = lower(v);
  if (l == "1" || l == "true" || l == "yes") return true;
  if (l == "0" || l == "false" || l == "no" || l.empty()) return false;
  return std::nullopt;
}

// Pool fields a link may carry, as idle_session_timeout or
// idle-session-timeout; a bare number of a duration field means seconds
// (mihomo writes them as integers).
const std::map<std::string, bool, std::less<>> kUriPoolFields = {
    {"idle_session_check_interval", true}, {"idle_session_timeout", true},
    {"min_idle_session", false},           {"min_idle_session_for_age", false},
    {"ensure_idle_session", false},        {"heartbeat", true},
    {"max_connection_lifetime", true},     {"connection_lifetime_jitter", true}};

// The link as the outbound object it stands for, so the object's decoder
// (and its checks, e.g. on tls.utls) applies to links too.
json anytls_uri_json(std::string_view uri, const std::string& path, std::vector<std::string>& warnings) {
  constexpr std::string_view kScheme = "anytls://";
  if (uri.size() < kScheme.size() || lower(uri.substr(0, kScheme.size())) != kScheme)
    fail(path, "expected an outbound object or an anytls:// URI");
  std::string_view rest = uri.substr(kScheme.size());

  json out = json::object();
  out["type"] = "anytls";
  out["tag"] = std::string(defaults::kAnyTlsUriTag);
  if (auto hash = rest.find('#'); hash != std::string_view::npos) {
    std::string tag = percent_decode(rest.substr(hash + 1), path, "the fragment");
    if (!tag.empty()) out["tag"] = tag;
    rest = rest.substr(0, hash);
  }
  std::string_view query;
  if (auto q = rest.find('?'); q != std::string_view::npos) {
    query = rest.substr(q + 1);
    rest = rest.substr(0, q);
  }
  std::string_view authority = rest.substr(0, rest.find('/'));
  if (rest.size() > authority.size() && rest.substr(authority.size()) != "/")
    fail(path, "unexpected path in anytls URI");

  auto at = authority.rfind('@');
  if (at == std::string_view::npos) fail(path, "anytls URI: missing password (anytls://PASSWORD@host:port)");
  std::string password = percent_decode(authority.substr(0, at), path, "the password");
  if (password.empty()) fail(path, "anytls URI: missing password (anytls://PASSWORD@host:port)");
  std::string_view hostport = authority.substr(at + 1);
  std::string_view port_text;
  std::string server;
  if (!hostport.empty() && hostport.front() == '[') {
    auto close = hostport.find(']');
    if (close == std::string_view::npos) fail(path, "anytls URI: unterminated IPv6 address");
    server = std::string(hostport.substr(1, close - 1));
    std::string_view after = hostport.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') fail(path, "anytls URI: invalid host");
      port_text = after.substr(1);
    }
  } else {
    auto colon = hostport.rfind(':');
    if (colon != std::string_view::npos) {
      port_text = hostport.substr(colon + 1);
      hostport = hostport.substr(0, colon);
    }
    server = percent_decode(hostport, path, "the host");
  }
  if (server.empty()) fail(path, "anytls URI: missing host");
  unsigned long port = defaults::kAnyTlsUriPort;
  if (!port_text.empty()) {
    bool ok = port_text.size() <= 5 && is_digits(port_text);
    if (ok) port = std::stoul(std::string(port_text));
    if (!ok || port == 0 || port > 65535) fail(path, "anytls URI: invalid port " + in_quotes(port_text));
  }
  out["server"] = server;
  out["server_port"] = port;
  out["password"] = password;

  json tls = json::object();
  tls["enabled"] = true;
  std::string sni;
  bool insecure = false;
  while (!query.empty()) {
    auto amp = query.find('&');
    std::string_view kv = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view{} : query.substr(amp + 1);
    if (kv.empty()) continue;
    auto eq = kv.find('=');
    std::string key = percent_decode(kv.substr(0, eq), path, "the query");
    std::string value = eq == std::string_view::npos ? "" : percent_decode(kv.substr(eq + 1), path, "the query");
    std::string pool_key = key;
    std::replace(pool_key.begin(), pool_key.end(), '-', '_');
    if (key == "sni" || key == "peer") {
      sni = value;
    } else if (key == "insecure" || key == "allowInsecure" || key == "allow_insecure") {
      auto b = uri_bool(value);
      if (!b) fail(path, "anytls URI: invalid " + key + " value " + in_quotes(value) + " (1 true yes, 0 false no)");
      insecure = *b;
    } else if (key == "alpn") {
      json list = json::array();
      std::string_view v = value;
      while (!v.empty()) {
        auto comma = v.find(',');
        std::string_view one = v.substr(0, comma);
        if (!one.empty()) list.push_back(std::string(one));
        v = comma == std::string_view::npos ? std::string_view{} : v.substr(comma + 1);
      }
      if (!list.empty()) tls["alpn"] = list;
    } else if (key == "udp") {
      auto b = uri_bool(value);
      if (!b) fail(path, "anytls URI: invalid udp value " + in_quotes(value) + " (1 true yes, 0 false no)");
      if (!*b) warnings.push_back(path + ": anytls URI: udp=" + value + " ignored: UDP is always carried (UDP over TCP)");
    } else if (key == "security") {
      if (lower(value) == "reality") fail(path, "anytls URI: security=reality: not supported: REALITY needs a modified TLS stack");
      if (lower(value) != "tls") fail(path, "anytls URI: security=" + value + ": an anytls link is always TLS (security=tls)");
    } else if (key == "type") {
      if (lower(value) != "tcp" && lower(value) != "raw")
        fail(path, "anytls URI: type=" + value + ": not supported: anytls runs over plain TCP (type=tcp)");
    } else if (key == "headerType") {
      if (!value.empty() && lower(value) != "none")
        fail(path, "anytls URI: headerType=" + value + ": not supported (headerType=none)");
    } else if (key == "fp" || key == "client-fingerprint" || key == "client_fingerprint") {
      // "none" (some converters write it): OpenSSL's own ClientHello.
      if (!value.empty() && value != "none") tls["utls"] = json{{"enabled", true}, {"fingerprint", value}};
    } else if (auto f = kUriPoolFields.find(pool_key); f != kUriPoolFields.end()) {
      if (f->second) {
        out[pool_key] = is_digits(value) ? value + "s" : value;
      } else {
        if (!is_digits(value)) fail(path, "anytls URI: " + key + ": expected a non-negative integer, got " + in_quotes(value));
        out[pool_key] = std::stoul(value);
      }
    } else {
      fail(path, "anytls URI: unknown query parameter " + in_quotes(key) +
                     " (sni peer insecure allowInsecure alpn udp security type headerType fp idle_session_* ...)");
    }
  }
  if (!sni.empty()) tls["server_name"] = sni;
  if (insecure) tls["insecure"] = true;
  // No SNI for IP literals (RFC 6066); the name is still used to verify.
  if (is_ip(sni.empty() ? server : sni)) tls["disable_sni"] = true;
  out["tls"] = std::move(tls);
  return out;
}
}  // namespace

// ------------------------------------------------------------ public API

ConfigSource read_source(const std::filesystem::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) fail(file.string(), "cannot read file");
  std::ostringstream ss;
  ss << in.rdbuf();
  if (in.bad()) fail(file.string(), "cannot read file");
  return {file.string(), ss.str()};
}

std::vector<std::filesystem::path> list_config_dir(const std::filesystem::path& dir) {
  std::error_code ec;
  std::vector<std::filesystem::path> out;
  std::filesystem::directory_iterator it(dir, ec);
  if (ec) fail(dir.string(), "cannot read directory: " + ec.message());
  for (const auto& entry : it) {
    if (entry.path().extension() == ".json" && !entry.is_directory()) out.push_back(entry.path());
  }
  std::sort(out.begin(), out.end());
  return out;
}

Options load(const std::vector<ConfigSource>& sources) {
  return decode(merge_sources(sources));
}

Options load_string(std::string_view text, std::string_view name) {
  return load({ConfigSource{std::string(name), std::string(text)}});
}

Options load_file(const std::filesystem::path& file) {
  return load({read_source(file)});
}

Options load_files(const std::vector<std::filesystem::path>& files) {
  std::vector<ConfigSource> sources;
  for (const auto& f : files) sources.push_back(read_source(f));
  return load(sources);
}

std::string merged_json(const std::vector<ConfigSource>& sources) {
  return merge_sources(sources).dump(2) + "\n";
}

std::string format_json(const ConfigSource& source) {
  return parse(source).dump(2) + "\n";
}

OutboundOptions parse_anytls_uri(std::string_view uri, const std::string& path) {
  std::vector<std::string> warnings;
  return parse_anytls_uri(uri, path, warnings);
}

OutboundOptions parse_anytls_uri(std::string_view uri, const std::string& path, std::vector<std::string>& warnings) {
  return decode_outbound_object(anytls_uri_json(uri, path, warnings), path);
}

std::string anytls_uri_to_json(std::string_view uri, const std::string& path, std::vector<std::string>& warnings) {
  return anytls_uri_json(uri, path, warnings).dump(2) + "\n";
}

namespace {

// Adds up what the document would hold; builds nothing. The figures are
// libstdc++ / glibc on 64 bits: a json value 16 bytes (and as much again of
// spare capacity in its array, on average), a string a heap std::string
// (32) with malloc's 16 and its bytes past the 15 kept inline, an ordered
// object a vector of (key, value) pairs (48 each).
class DocumentCost {
 public:
  std::size_t bytes = 0;
  bool null() { return value(); }
  bool boolean(bool) { return value(); }
  bool number_integer(json::number_integer_t) { return value(); }
  bool number_unsigned(json::number_unsigned_t) { return value(); }
  bool number_float(json::number_float_t, const std::string&) { return value(); }
  bool string(std::string& s) { return value() && add(48 + heap(s.size())); }
  bool binary(json::binary_t& b) { return value() && add(48 + b.size()); }
  bool start_object(std::size_t) { return value() && add(48); }
  bool key(std::string& k) { return add(64 + heap(k.size())); }
  bool end_object() { return true; }
  bool start_array(std::size_t) { return value() && add(48); }
  bool end_array() { return true; }
  bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception&) { return false; }

 private:
  static std::size_t heap(std::size_t n) { return n > 15 ? n + 17 : 0; }
  bool value() { return add(32); }
  bool add(std::size_t n) {
    bytes += n;
    return true;
  }
};

}  // namespace

std::size_t rule_set_source_document_bytes(std::string_view text) {
  DocumentCost cost;
  const bool ok = json::sax_parse(text.begin(), text.end(), &cost, json::input_format_t::json, /*strict=*/true,
                                  /*ignore_comments=*/true);
  return ok ? cost.bytes : 0;
}

std::vector<RouteRule> parse_rule_set_source(std::string text, const std::string& name) {
  json doc = parse(text, name);
  std::string().swap(text);
  return decode_rule_set_source(doc, name);  // `doc` goes on return, before the rules are compiled
}

}  // namespace anytls::config
