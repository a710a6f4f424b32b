// anytls:// share links (load.hpp): a link is turned into the outbound
// object it stands for, and decoded as that object.
#include "config/sections.hpp"

#include <algorithm>
#include <map>

namespace anytls::config::detail {
namespace {

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

}  // namespace

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

}  // namespace anytls::config::detail

namespace anytls::config {

OutboundOptions parse_anytls_uri(std::string_view uri, const std::string& path) {
  std::vector<std::string> warnings;
  return parse_anytls_uri(uri, path, warnings);
}

OutboundOptions parse_anytls_uri(std::string_view uri, const std::string& path, std::vector<std::string>& warnings) {
  return detail::decode_outbound_object(detail::anytls_uri_json(uri, path, warnings), path);
}

std::string anytls_uri_to_json(std::string_view uri, const std::string& path, std::vector<std::string>& warnings) {
  return detail::anytls_uri_json(uri, path, warnings).dump(2) + "\n";
}

}  // namespace anytls::config
