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

enum class DomainStrategy { as_is, prefer_ipv4, prefer_ipv6, ipv4_only, ipv6_only };

struct ListenOptions {
  std::string listen;              // required: IP literal ("127.0.0.1", "::")
  std::uint16_t listen_port = 0;
  bool tcp_fast_open = false;
  bool tcp_multi_path = false;  // MPTCP listener, TCP when the kernel refuses
  bool reuse_addr = false;
  // Not a config key (never read from JSON): the first shard of a sharded
  // inbound claims the address alone first (net::ListenConfig::claim_port).
  bool claim_port = false;
  std::string bind_interface;
  std::uint32_t routing_mark = 0;  // 0 = unset
  Duration tcp_keep_alive = defaults::kTcpKeepAlive;
  Duration tcp_keep_alive_interval = defaults::kTcpKeepAliveInterval;
  bool disable_tcp_keep_alive = false;
  Duration udp_timeout = defaults::kUdpTimeout;
  // Legacy sniffing: becomes a leading sniff rule for this inbound.
  bool sniff = false;
  bool sniff_override_destination = false;
  Duration sniff_timeout = defaults::kSniffTimeout;
  // Legacy domain_strategy: becomes a resolve rule for this inbound.
  DomainStrategy domain_strategy = DomainStrategy::as_is;
  bool udp_fragment = false;  // accepted with a warning (the kernel's default applies)
  bool operator==(const ListenOptions&) const = default;
};

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
  // Issue 14 dial fields. domain_resolver: a dns.servers tag (its string or
  // object form's "server"); names this outbound dials are resolved there.
  std::string domain_resolver;
  DomainStrategy domain_resolver_strategy = DomainStrategy::as_is;  // its "strategy"
  bool tcp_multi_path = false;  // MPTCP, TCP when the kernel refuses
  bool udp_fragment = false;    // accepted: Linux fragments UDP unless DF is set
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
  InboundTlsOptions tls;         // http/mixed: enabled = an HTTPS proxy
  bool set_system_proxy = false; // accepted with a warning (nothing to set headless)
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
  std::uint32_t max_handshakes = defaults::kMaxHandshakes;              // 0: from RLIMIT_NOFILE
  std::uint64_t max_buffered_bytes = defaults::kMaxBufferedBytes;
  bool operator==(const AnyTlsInboundOptions&) const = default;
};

// "1000:99999" in include_uid_range / exclude_uid_range (both ends included).
struct UidRange {
  std::uint32_t first = 0;
  std::uint32_t last = 0;
  bool operator==(const UidRange&) const = default;
};

// type "tun" (Linux). The device and its packet stack are src/tun/ and
// inbound/tun; the route and policy-rule fields are for the auto_route
// module. Prefixes are kept as written after validation ("172.19.0.1/30").
struct TunInboundOptions {
  // Not a listener: only the legacy sniff fields and udp_timeout are read.
  ListenOptions listen;
  std::string interface_name;         // empty: the first free tunN
  std::vector<std::string> address;   // inet4_address / inet6_address merged in
  std::uint32_t mtu = defaults::kTunMtu;
  bool auto_route = false;
  bool auto_redirect = false;  // TCP to the tun redirected by nftables (tun/redirect_rules.hpp)
  std::uint32_t iproute2_table_index = defaults::kTunTableIndex;
  std::uint32_t iproute2_rule_index = defaults::kTunRuleIndex;
  std::uint32_t auto_redirect_input_mark = defaults::kTunRedirectInputMark;
  std::uint32_t auto_redirect_output_mark = defaults::kTunRedirectOutputMark;
  bool strict_route = false;
  std::vector<std::string> route_address;          // the inet4_/inet6_ forms merged in
  std::vector<std::string> route_exclude_address;
  std::vector<std::string> route_address_set;      // rule-set tags
  std::vector<std::string> route_exclude_address_set;
  bool endpoint_independent_nat = false;
  std::string stack = "system";  // as written: system, gvisor or mixed (all served by system)
  std::vector<std::string> include_interface;
  std::vector<std::string> exclude_interface;
  std::vector<UidRange> include_uid;  // include_uid and include_uid_range together
  std::vector<UidRange> exclude_uid;
  bool operator==(const TunInboundOptions&) const = default;
};

// type "redirect" (TCP), "tproxy" and "direct" (TCP and/or UDP): the
// gateway inbounds, whose destination is not in the protocol but in the
// socket (SO_ORIGINAL_DST, the local address of a transparent socket) or in
// the configuration (override_address / override_port).
struct GatewayInboundOptions {
  ListenOptions listen;
  bool tcp = true;   // "network": absent or "" is both
  bool udp = false;  // redirect: never
  std::string override_address;  // direct only: IP or name; empty = keep
  std::uint16_t override_port = 0;  // direct only: 0 = keep
  bool operator==(const GatewayInboundOptions&) const = default;
};

struct InboundOptions {
  std::string type;  // "mixed" "socks" "http" "anytls" "tun" "redirect" "tproxy" "direct"
  std::string tag;   // never empty after loading (see load.hpp)
  std::variant<MixedInboundOptions, AnyTlsInboundOptions, TunInboundOptions, GatewayInboundOptions> options;

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

// sing-box 1.11+ rule actions. route, reject and hijack-dns end matching;
// route-options, sniff and resolve apply and matching goes on with the next
// rule.
enum class RuleAction { route, route_options, reject, hijack_dns, sniff, resolve };
enum class RejectMethod { default_, drop };  // sing-box's reject "method"

// An inclusive IP range, as a binary rule set stores its IP sets (v4: the
// values fit 32 bits). Kept as a range: written out as CIDRs, one range can
// be up to 254 prefixes.
struct IpRange {
  unsigned __int128 first = 0, last = 0;
  bool v4 = false;
  bool operator==(const IpRange&) const = default;
};

struct RouteRule {
  // sing-box's grouping (route/rule_matcher.hpp): the destination address
  // matchers (domain, domain_suffix, domain_keyword, domain_regex, ip_cidr,
  // ip_is_private) form one OR group, port/port_range another,
  // source_ip_cidr/source_ip_is_private another, source_port/
  // source_port_range another; every group and every other matcher present
  // must hold (OR within a list). domain: exact (case-insensitive);
  // domain_suffix: "example.com" matches it and its subdomains,
  // ".example.com" subdomains only; domain_keyword: substring; domain_regex:
  // RE2 (Go) syntax, unanchored; ip_cidr: "10.0.0.0/8" or a plain IP.
  std::string type;  // "" / "default", or "logical" (mode + rules)
  std::string mode;  // logical: "and" / "or"
  std::vector<RouteRule> rules;  // logical: sub-rules (no actions)
  bool invert = false;

  std::vector<std::string> inbound;
  int ip_version = 0;  // 0 = any, 4, 6
  std::vector<std::string> network;  // "tcp" / "udp"
  std::vector<std::string> auth_user;
  std::vector<std::string> protocol;  // sniffed: "tls", "http"
  std::vector<std::string> domain;
  std::vector<std::string> domain_suffix;
  std::vector<std::string> domain_keyword;
  std::vector<std::string> domain_regex;
  std::vector<std::string> source_ip_cidr;
  bool source_ip_is_private = false;
  std::vector<std::string> ip_cidr;
  // Not from JSON: a binary rule set's source_ip_cidr / ip_cidr, as ranges.
  std::vector<IpRange> source_ip_range, ip_range;
  bool ip_is_private = false;
  std::vector<std::uint16_t> source_port;
  std::vector<std::string> source_port_range;  // "1000:2000", ":3000", "4000:"
  std::vector<std::uint16_t> port;
  std::vector<std::string> port_range;
  std::vector<std::string> process_name;  // Linux, local sources only
  std::vector<std::string> process_path;
  std::vector<std::string> process_path_regex;
  std::vector<std::string> user;  // Linux user owning the local process
  std::vector<std::uint32_t> user_id;
  std::vector<std::string> rule_set;  // route.rule_set tags; any set matching
  bool rule_set_ip_cidr_match_source = false;

  std::string clash_mode;             // Clash API mode ("Rule", "Global", "Direct"); case-insensitive
  RuleAction action = RuleAction::route;
  std::string outbound;               // an existing outbound tag with action route
  // route / route-options
  std::string override_address;       // empty = keep
  std::uint16_t override_port = 0;    // 0 = keep
  // reject
  RejectMethod method = RejectMethod::default_;
  bool no_drop = false;
  // sniff
  std::vector<std::string> sniffer;   // empty = all we have ("tls", "http")
  Duration sniff_timeout = defaults::kSniffTimeout;
  bool override_destination = false;  // sniff: the sniffed domain replaces the destination
  // resolve
  std::string resolve_server;         // dns server tag (the DNS module); empty = default resolver
  DomainStrategy resolve_strategy = DomainStrategy::as_is;
  bool operator==(const RouteRule&) const = default;
};

// route.rule_set entries (sing-box 1.8+).
struct RuleSetOptions {
  std::string type;    // "inline" "local" "remote"
  std::string tag;
  std::string format;  // "source" (JSON) / "binary" (.srs); local/remote
  std::vector<RouteRule> rules;  // inline: headless rules
  std::string path;    // local
  std::string url;     // remote
  std::string download_detour;   // remote: outbound tag; empty = the first outbound
  Duration update_interval = defaults::kRuleSetUpdateInterval;
  bool operator==(const RuleSetOptions&) const = default;
};

struct RouteOptions {
  std::string final;  // existing outbound tag; defaults to the first outbound
  std::vector<RouteRule> rules;
  std::vector<RuleSetOptions> rule_set;
  // Issue 14 (part D): outbound dial defaults.
  bool auto_detect_interface = false;  // bind dials to the default route's interface (tun/interface_monitor)
  std::string default_interface;       // bind_interface of dials that set none
  std::uint32_t default_mark = 0;      // routing_mark of dials that set none
  std::string default_domain_resolver; // dns.servers tag; "" = dns.final / system
  DomainStrategy default_domain_resolver_strategy = DomainStrategy::as_is;
  bool operator==(const RouteOptions&) const = default;
};

// ---------------------------------------------------------------- dns

// One dns.servers entry, sing-box 1.12+ form; the legacy "address" form
// ("tls://1.1.1.1", "https://dns.google/dns-query", "local", "rcode://refused",
// a plain IP) is decoded into the same fields.
struct DnsServerOptions {
  std::string type;  // local hosts udp tcp tls https fakeip rcode (rcode: legacy only)
  std::string tag;   // never empty after loading
  std::string server;               // udp tcp tls https: host (IP or name)
  std::uint16_t server_port = 0;    // default 53 / 853 / 443 applied
  std::string path;                 // https: default "/dns-query"
  OutboundTlsOptions tls;           // tls https (enabled implied)
  std::vector<std::string> hosts_path;  // hosts: files; empty with no predefined = /etc/hosts
  // hosts: name -> addresses (IP literals), in file order.
  std::vector<std::pair<std::string, std::vector<std::string>>> predefined;
  std::uint8_t rcode = 0;           // rcode: the answer's rcode
  std::string inet4_range, inet6_range;  // fakeip: "198.18.0.0/15", "fc00::/18" (one at least)
  // Dial fields: detour (queries travel through that outbound),
  // domain_resolver (resolves `server` when it is a name), bind_interface...
  DialOptions dial;
  // Legacy per-server fields: the strategy of lookups this server answers,
  // and a client_subnet overriding dns.client_subnet.
  DomainStrategy strategy = DomainStrategy::as_is;
  std::string client_subnet;
  bool operator==(const DnsServerOptions&) const = default;
};

// route_options: sets disable_cache / client_subnet for the query and
// matching goes on with the next rule.
enum class DnsRuleAction { route, reject, route_options };

struct DnsRule {
  RouteRule match;                        // the route matchers (action fields unused)
  std::vector<std::uint16_t> query_type;  // empty = any
  // Legacy `outbound: "any"`: the rule matches the lookups outbounds make to
  // dial (and never a client's query).
  bool outbound_any = false;
  DnsRuleAction action = DnsRuleAction::route;
  std::string server;                     // route: a dns.servers tag
  RejectMethod method = RejectMethod::default_;  // reject: default = REFUSED, drop = no answer
  bool disable_cache = false;             // route, route_options: answers not cached
  std::optional<std::uint32_t> rewrite_ttl;  // route, route_options: every answer TTL set to it
  std::optional<std::string> client_subnet;  // route, route_options: overrides dns.client_subnet
  DomainStrategy strategy = DomainStrategy::as_is;  // route: the answer's families (as_is: the server's)
  bool operator==(const DnsRule&) const = default;
};

struct DnsOptions {
  std::vector<DnsServerOptions> servers;
  std::vector<DnsRule> rules;
  std::string final;  // dns.servers tag; defaults to the first server
  DomainStrategy strategy = DomainStrategy::as_is;
  bool disable_cache = false;
  bool disable_expire = false;
  bool independent_cache = false;
  std::uint32_t cache_capacity = 1024;  // entries; sing-box's default (min 1024)
  std::uint64_t cache_max_bytes = defaults::kDnsCacheMaxBytes;  // our addition: bytes
  std::string client_subnet;            // "1.2.3.0/24" or an IP; empty = none
  bool operator==(const DnsOptions&) const = default;
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
  bool store_fakeip = false;  // the fakeip tables too (dns/fakeip_tables.hpp)
};

// experimental.clash_api.
struct ClashApiOptions {
  std::string listen = std::string(defaults::kClashApiListenAddress);  // IP literal
  std::uint16_t listen_port = defaults::kClashApiListenPort;
  std::string external_ui;  // directory served under /ui/; empty = none
  // A zip of the dashboard, unpacked into external_ui when that is empty
  // (app/external_ui_download); the detour's tag, empty = the default
  // outbound (route.final).
  std::string external_ui_download_url;
  std::string external_ui_download_detour;
  std::string secret;       // non-empty: every request needs it
  std::string default_mode = std::string(defaults::kClashDefaultMode);
  std::vector<std::string> access_control_allow_origin;  // CORS; empty = "*"
  bool access_control_allow_private_network = false;
};

// ---------------------------------------------------------------- ntp

// The top-level `ntp` section: an SNTP client whose clock offset TLS
// certificate checks use (app/ntp_service).
struct NtpOptions {
  bool enabled = false;
  std::string server;
  std::uint16_t server_port = 123;
  Duration interval = defaults::kNtpInterval;
  DialOptions dial;  // detour: the queries go through that outbound
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
  std::optional<DnsOptions> dns;           // the dns block, when present
  CacheFileOptions cache_file;             // experimental.cache_file
  std::optional<ClashApiOptions> clash_api;  // experimental.clash_api
  NtpOptions ntp;
};

}  // namespace anytls::config
