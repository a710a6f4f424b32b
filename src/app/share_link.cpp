#include "app/share_link.hpp"

#include <stdexcept>

#include <asio/ip/address.hpp>
#include <fmt/format.h>

#include "app/generate.hpp"
#include "config/load.hpp"
#include "net/duration.hpp"

namespace anytls::app {

namespace {

// RFC 3986: everything but the unreserved characters is percent-encoded.
std::string encode(std::string_view s) {
  std::string out;
  for (unsigned char c : s) {
    if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.' ||
        c == '_' || c == '~')
      out += static_cast<char>(c);
    else
      out += fmt::format("%{:02X}", c);
  }
  return out;
}

std::string host_part(const std::string& host) {
  std::error_code ec;
  auto a = asio::ip::make_address(host, ec);
  return !ec && a.is_v6() ? "[" + host + "]" : encode(host);
}

std::string join(const std::vector<std::string>& v, char sep) {
  std::string out;
  for (const auto& s : v) {
    if (!out.empty()) out += sep;
    out += s;
  }
  return out;
}

std::string build(const std::string& password, const std::string& server, std::uint16_t port,
                  const std::vector<std::pair<std::string, std::string>>& query, const std::string& tag) {
  std::string link = "anytls://" + encode(password) + "@" + host_part(server) + ":" + std::to_string(port) + "/";
  for (std::size_t i = 0; i < query.size(); ++i)
    link += (i ? "&" : "?") + query[i].first + "=" + encode(query[i].second);
  if (!tag.empty()) link += "#" + encode(tag);
  return link;
}

}  // namespace

std::string outbound_link(const std::string& tag, const config::AnyTlsOutboundOptions& o) {
  namespace d = config::defaults;
  std::vector<std::pair<std::string, std::string>> q;
  if (!o.tls.server_name.empty()) q.emplace_back("sni", o.tls.server_name);
  if (o.tls.insecure) q.emplace_back("insecure", "1");
  if (!o.tls.alpn.empty()) q.emplace_back("alpn", join(o.tls.alpn, ','));
  auto dur = [&q](const char* key, net::Duration v, net::Duration def) {
    if (v != def) q.emplace_back(key, net::format_duration(v));
  };
  auto count = [&q](const char* key, int v, int def) {
    if (v != def) q.emplace_back(key, std::to_string(v));
  };
  dur("idle_session_check_interval", o.idle_session_check_interval, d::kIdleSessionCheckInterval);
  dur("idle_session_timeout", o.idle_session_timeout, d::kIdleSessionTimeout);
  count("min_idle_session", o.min_idle_session, d::kMinIdleSession);
  count("min_idle_session_for_age", o.min_idle_session_for_age, d::kMinIdleSessionForAge);
  count("ensure_idle_session", o.ensure_idle_session, d::kEnsureIdleSession);
  dur("heartbeat", o.heartbeat, d::kHeartbeat);
  dur("max_connection_lifetime", o.max_connection_lifetime, d::kMaxConnectionLifetime);
  dur("connection_lifetime_jitter", o.connection_lifetime_jitter, d::kConnectionLifetimeJitter);
  return build(o.password, o.server, o.server_port, q, tag);
}

std::vector<std::string> share_links(const config::Options& options, const LinkRequest& request) {
  const config::OutboundOptions* out = nullptr;
  const config::InboundOptions* in = nullptr;
  std::size_t found = 0;
  for (const auto& o : options.outbounds) {
    if (o.type != "anytls" || (!request.tag.empty() && o.tag != request.tag)) continue;
    out = &o;
    ++found;
  }
  for (const auto& i : options.inbounds) {
    if (i.type != "anytls" || (!request.tag.empty() && i.tag != request.tag)) continue;
    in = &i;
    ++found;
  }
  if (found == 0)
    throw config::ConfigError("generate link", request.tag.empty()
                                                   ? "no anytls outbound or inbound in the configuration"
                                                   : "no anytls outbound or inbound tagged \"" + request.tag + "\"");
  if (found > 1) throw config::ConfigError("generate link", "several anytls outbounds/inbounds: name one by its tag");

  if (out) {
    if (!request.user.empty() || !request.server.empty())
      throw config::ConfigError("generate link", "--user and --server apply to an inbound; " + out->tag + " is an outbound");
    return {outbound_link(out->tag, std::get<config::AnyTlsOutboundOptions>(out->options))};
  }

  const auto& a = std::get<config::AnyTlsInboundOptions>(in->options);
  std::string server = request.server;
  if (server.empty()) server = a.tls.server_name;
  if (server.empty()) {
    std::error_code ec;
    auto addr = asio::ip::make_address(a.listen.listen, ec);
    if (!ec && !addr.is_unspecified()) server = a.listen.listen;
  }
  if (server.empty())
    throw config::ConfigError("generate link", "inbound " + in->tag +
                                                   " listens on every address and has no tls.server_name: give --server");
  std::vector<std::string> links;
  for (const auto& u : a.users) {
    if (!request.user.empty() && u.name != request.user) continue;
    config::AnyTlsOutboundOptions o;
    o.server = server;
    o.server_port = a.listen.listen_port;
    o.password = u.password;
    if (!a.tls.server_name.empty() && a.tls.server_name != server) o.tls.server_name = a.tls.server_name;
    o.tls.alpn = a.tls.alpn;
    links.push_back(outbound_link(u.name.empty() ? in->tag : u.name, o));
  }
  if (links.empty()) throw config::ConfigError("generate link", "inbound " + in->tag + " has no user \"" + request.user + "\"");
  return links;
}

std::string uuid_v4() {
  auto b = random_bytes(16);
  b[6] = static_cast<unsigned char>((b[6] & 0x0f) | 0x40);  // version 4
  b[8] = static_cast<unsigned char>((b[8] & 0x3f) | 0x80);  // RFC 4122 variant
  std::string h = to_hex(b);
  return h.substr(0, 8) + "-" + h.substr(8, 4) + "-" + h.substr(12, 4) + "-" + h.substr(16, 4) + "-" + h.substr(20);
}

}  // namespace anytls::app
