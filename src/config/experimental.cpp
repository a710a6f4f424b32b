// The "experimental" section: metrics, cache_file, clash_api.
#include "config/sections.hpp"

namespace anytls::config::detail {
namespace {

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

CacheFileOptions decode_cache_file(const json& j, const std::string& path, std::vector<std::string>& warnings) {
  Obj o(j, path);
  CacheFileOptions c;
  c.enabled = get_bool(o, "enabled");
  c.path = get_string(o, "path", c.path);
  if (c.path.empty()) c.path = std::string(defaults::kCacheFilePath);
  c.cache_id = get_string(o, "cache_id");
  c.store_fakeip = get_bool(o, "store_fakeip");
  // sing-box's rdrc remembers answers that an address-filter DNS rule
  // rejected; no DNS rule here matches on answers, so it would stay empty.
  if (get_bool(o, "store_rdrc"))
    warnings.push_back(o.at("store_rdrc") +
                       ": nothing to store: anytls-cpp's DNS rules do not match on answers, so none are rejected");
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
  c.external_ui_download_url = get_string(o, "external_ui_download_url");
  if (!c.external_ui_download_url.empty() && c.external_ui_download_url.rfind("http://", 0) != 0 &&
      c.external_ui_download_url.rfind("https://", 0) != 0)
    fail(o.at("external_ui_download_url"), "expected an http:// or https:// URL, got " + in_quotes(c.external_ui_download_url));
  c.external_ui_download_detour = get_string(o, "external_ui_download_detour");
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

}  // namespace

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
  if (const json* c = o.get("cache_file")) opts.cache_file = decode_cache_file(*c, o.at("cache_file"), opts.warnings);
  if (const json* c = o.get("clash_api")) opts.clash_api = decode_clash_api(*c, o.at("clash_api"));
  o.finish();
}

}  // namespace anytls::config::detail
