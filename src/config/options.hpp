// Typed configuration: the sing-box JSON we accept (spec/config.md), decoded
// and validated by config/load.hpp. Defaults live in config/defaults.hpp and
// are already applied: a field that is 0/absent in the JSON and "means the
// default" holds the default here.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "config/defaults.hpp"
#include "net/duration.hpp"

namespace anytls::config {

using net::Duration;

// ---------------------------------------------------------------- log

struct LogOptions {
  bool disabled = false;
  // trace debug info warn error fatal panic (validated)
  std::string level = std::string(defaults::kLogLevel);
  std::string output;  // file path (append); empty = stderr
  bool timestamp = false;
  bool operator==(const LogOptions&) const = default;
};

// ---------------------------------------------------------------- shared

struct ListenOptions {
  std::string listen;              // required: IP literal ("127.0.0.1", "::")
  std::uint16_t listen_port = 0;
  bool tcp_fast_open = false;
  bool reuse_addr = false;
  std::string bind_interface;
  std::uint32_t routing_mark = 0;  // 0 = unset
  Duration tcp_keep_alive = defaults::kTcpKeepAlive;
  Duration tcp_keep_alive_interval = defaults::kTcpKeepAliveInterval;
  bool disable_tcp_keep_alive = false;
  Duration udp_timeout = defaults::kUdpTimeout;
  bool operator==(const ListenOptions&) const = default;
};

enum class DomainStrategy { as_is, prefer_ipv4, prefer_ipv6, ipv4_only, ipv6_only };

struct DialOptions {
  std::string detour;               // tag of another outbound; empty = none
  std::string bind_interface;
  std::string inet4_bind_address;   // IPv4 literal or empty
  std::string inet6_bind_address;   // IPv6 literal or empty
  std::uint32_t routing_mark = 0;
  bool reuse_addr = false;
  Duration connect_timeout = defaults::kConnectTimeout;
  bool tcp_fast_open = false;       // refused on anytls outbounds
  Duration tcp_keep_alive = defaults::kTcpKeepAlive;
  Duration tcp_keep_alive_interval = defaults::kTcpKeepAliveInterval;
  bool disable_tcp_keep_alive = false;
  DomainStrategy domain_strategy = DomainStrategy::as_is;
  Duration fallback_delay = defaults::kFallbackDelay;
  bool operator==(const DialOptions&) const = default;
};

// TLS versions as written: "1.0" "1.1" "1.2" "1.3"; empty = library default.
struct InboundTlsOptions {
  bool enabled = false;
  std::string server_name;
  std::vector<std::string> alpn;
  std::string min_version;
  std::string max_version;
  std::vector<std::string> cipher_suites;
  // Inline PEM (a JSON list of lines, joined with "\n") or a file path; at
  // least one of each pair is set when enabled.
  std::string certificate;
  std::string certificate_path;
  std::string key;
  std::string key_path;
  bool operator==(const InboundTlsOptions&) const = default;
};

// tls.utls: a browser ClientHello instead of OpenSSL's. Only Chrome's can be
// produced (BoringSSL module); the loader refuses every other fingerprint.
struct UtlsOptions {
  bool enabled = false;
  std::string fingerprint;  // canonical: "chrome" when enabled
  bool operator==(const UtlsOptions&) const = default;
};

struct OutboundTlsOptions {
  bool enabled = false;
  bool disable_sni = false;
  std::string server_name;       // empty = the outbound's server
  bool insecure = false;
  std::vector<std::string> alpn;
  std::string min_version;
  std::string max_version;
  std::vector<std::string> cipher_suites;
  std::vector<std::string> curve_preferences;  // e.g. "X25519", "P256"
  std::string certificate;       // trusted CA, PEM
  std::string certificate_path;
  std::vector<std::string> certificate_public_key_sha256;  // base64 SPKI sha256 pins
  std::string client_certificate;  // PEM
  std::string client_certificate_path;
  std::string client_key;          // PEM
  std::string client_key_path;
  UtlsOptions utls;
  bool operator==(const OutboundTlsOptions&) const = default;
};

// ---------------------------------------------------------------- inbounds

struct ProxyUser {
  std::string username;
  std::string password;
  bool operator==(const ProxyUser&) const = default;
};

struct AnyTlsUser {
  std::string name;
  std::string password;  // non-empty
  bool operator==(const AnyTlsUser&) const = default;
};

// type "mixed", "socks" and "http".
struct MixedInboundOptions {
  ListenOptions listen;
  std::vector<ProxyUser> users;  // empty = no authentication
  bool operator==(const MixedInboundOptions&) const = default;
};

struct Fallback {
  std::string server;
  std::uint16_t server_port = 0;
  bool operator==(const Fallback&) const = default;
};

struct AnyTlsInboundOptions {
  ListenOptions listen;
  std::vector<AnyTlsUser> users;  // non-empty
  std::string padding_scheme;     // lines joined with "\n"; empty = default scheme
  InboundTlsOptions tls;          // enabled, with a certificate and a key
  std::optional<Fallback> fallback;  // where failed-auth connections go
  Duration handshake_timeout = defaults::kHandshakeTimeout;
  std::uint32_t max_streams_per_session = defaults::kMaxStreamsPerSession;
  Duration session_idle_timeout = defaults::kSessionIdleTimeout;
  std::uint32_t max_sessions_per_user = defaults::kMaxSessionsPerUser;  // 0: from RLIMIT_NOFILE
  std::uint32_t max_streams_per_user = defaults::kMaxStreamsPerUser;    // 0: from RLIMIT_NOFILE
  bool operator==(const AnyTlsInboundOptions&) const = default;
};

struct InboundOptions {
  std::string type;  // "mixed" "socks" "http" "anytls"
  std::string tag;   // never empty after loading (see load.hpp)
  std::variant<MixedInboundOptions, AnyTlsInboundOptions> options;

  const ListenOptions& listen() const {
    return std::visit([](const auto& o) -> const ListenOptions& { return o.listen; }, options);
  }
  bool operator==(const InboundOptions&) const = default;
};

// ---------------------------------------------------------------- outbounds

struct AnyTlsOutboundOptions {
  std::string server;
  std::uint16_t server_port = 0;
  std::string password;
  // The session pool (session-pool.md); defaults already applied.
  Duration idle_session_check_interval = defaults::kIdleSessionCheckInterval;
  Duration idle_session_timeout = defaults::kIdleSessionTimeout;
  int min_idle_session = defaults::kMinIdleSession;
  int min_idle_session_for_age = defaults::kMinIdleSessionForAge;
  int ensure_idle_session = defaults::kEnsureIdleSession;
  Duration heartbeat = defaults::kHeartbeat;
  Duration max_connection_lifetime = defaults::kMaxConnectionLifetime;
  Duration connection_lifetime_jitter = defaults::kConnectionLifetimeJitter;
  OutboundTlsOptions tls;  // enabled
  DialOptions dial;
  bool operator==(const AnyTlsOutboundOptions&) const = default;
};

struct DirectOutboundOptions {
  DialOptions dial;
  bool operator==(const DirectOutboundOptions&) const = default;
};

struct BlockOutboundOptions {
  bool operator==(const BlockOutboundOptions&) const = default;
};

// "selector": the member chosen by hand (Clash API), kept in cache_file.
struct SelectorOutboundOptions {
  std::vector<std::string> outbounds;  // member tags, non-empty, existing
  std::string default_;                // "default": a member; empty = the first
  bool interrupt_exist_connections = false;
  bool operator==(const SelectorOutboundOptions&) const = default;
};

// "urltest": the member with the lowest HTTP latency (sing-box's semantics).
struct UrlTestOutboundOptions {
  std::vector<std::string> outbounds;  // member tags, non-empty, existing
  std::string url = std::string(defaults::kUrlTestUrl);  // http:// or https://
  Duration interval = defaults::kUrlTestInterval;
  std::uint16_t tolerance_ms = defaults::kUrlTestToleranceMs;
  Duration idle_timeout = defaults::kUrlTestIdleTimeout;
  bool interrupt_exist_connections = false;
  bool operator==(const UrlTestOutboundOptions&) const = default;
};

struct OutboundOptions {
  std::string type;  // "anytls" "direct" "block" "selector" "urltest"
  std::string tag;   // never empty after loading (see load.hpp)
  std::variant<AnyTlsOutboundOptions, DirectOutboundOptions, BlockOutboundOptions, SelectorOutboundOptions,
               UrlTestOutboundOptions>
      options;
  bool operator==(const OutboundOptions&) const = default;
};

// ---------------------------------------------------------------- route

enum class RuleAction { route, reject };
enum class RejectMethod { default_, drop };  // sing-box's reject "method"

struct RouteRule {
  // As in sing-box: the destination matchers (domain, domain_suffix,
  // domain_keyword, ip_cidr) form one OR group; that group, inbound, port and
  // network must each match when present (OR within a list). domain: exact (case-insensitive); domain_suffix:
  // "example.com" matches it and its subdomains, ".example.com" subdomains
  // only; domain_keyword: substring; ip_cidr: "10.0.0.0/8" or a plain IP.
  std::vector<std::string> inbound;
  std::vector<std::string> domain;
  std::vector<std::string> domain_suffix;
  std::vector<std::string> domain_keyword;
  std::vector<std::string> ip_cidr;
  std::vector<std::uint16_t> port;
  std::vector<std::string> network;  // "tcp" / "udp"
  std::string clash_mode;             // Clash API mode ("Rule", "Global", "Direct"); case-insensitive
  RuleAction action = RuleAction::route;
  std::string outbound;               // an existing outbound tag with action route
  RejectMethod method = RejectMethod::default_;
  bool operator==(const RouteRule&) const = default;
};

struct RouteOptions {
  std::string final;  // existing outbound tag; defaults to the first outbound
  std::vector<RouteRule> rules;
  bool operator==(const RouteOptions&) const = default;
};

// ---------------------------------------------------------------- experimental

// experimental.metrics (our addition): a Prometheus endpoint. Present =
// enabled.
struct MetricsOptions {
  std::string listen = std::string(defaults::kMetricsListenAddress);  // IP literal
  std::uint16_t listen_port = defaults::kMetricsListenPort;
  std::string path = std::string(defaults::kMetricsPath);            // starts with '/'
  std::string secret;  // non-empty: scrapes need "Authorization: Bearer <secret>"
};

// experimental.cache_file: what the user chose (selector members, the Clash
// mode), kept across restarts.
struct CacheFileOptions {
  bool enabled = false;
  std::string path = std::string(defaults::kCacheFilePath);
  std::string cache_id;  // several configs may share one file
};

// experimental.clash_api.
struct ClashApiOptions {
  std::string listen = std::string(defaults::kClashApiListenAddress);  // IP literal
  std::uint16_t listen_port = defaults::kClashApiListenPort;
  std::string external_ui;  // directory served under /ui/; empty = none
  std::string secret;       // non-empty: every request needs it
  std::string default_mode = std::string(defaults::kClashDefaultMode);
  std::vector<std::string> access_control_allow_origin;  // CORS; empty = "*"
  bool access_control_allow_private_network = false;
};

// ---------------------------------------------------------------- top level

struct Options {
  LogOptions log;
  std::vector<InboundOptions> inbounds;
  std::vector<OutboundOptions> outbounds;  // never empty after loading
  RouteOptions route;
  // Things accepted but ignored (e.g. udp=0 in a share link), for the log.
  std::vector<std::string> warnings;
  std::optional<MetricsOptions> metrics;   // experimental.metrics
  CacheFileOptions cache_file;             // experimental.cache_file
  std::optional<ClashApiOptions> clash_api;  // experimental.clash_api
};

}  // namespace anytls::config
