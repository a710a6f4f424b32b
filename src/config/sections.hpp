// The decoders of the configuration, one file per top-level section, and
// the blocks several sections share. load.cpp parses and merges the
// documents and calls them in order; each throws a ConfigError naming the
// JSON path. Internal to src/config.
#pragma once
#include <cstddef>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "config/field_reader.hpp"

namespace anytls::config::detail {

// Outbound tags to their index in Options::outbounds.
using OutboundIndex = std::map<std::string, std::size_t>;

// load.cpp: `text` parsed in place (ConfigError naming `name` when it is
// not JSON).
json parse(std::string_view text, const std::string& name);

// log.cpp
LogOptions decode_log(const json& j, const std::string& path);

// inbounds.cpp
InboundOptions decode_inbound(const json& j, const std::string& path, std::vector<std::string>& warnings);
// The legacy inbound sniff fields (sniff, sniff_override_destination,
// sniff_timeout), which decode() turns into a sniff rule.
void decode_sniff_fields(Obj& o, ListenOptions& l);

// tun_fields.cpp: the fields of a tun inbound (o: the inbound object).
TunInboundOptions decode_tun_inbound(Obj& o, std::vector<std::string>& warnings);
// route_address_set and route_exclude_address_set name route.rule_set tags.
void check_tun_references(const Options& opts);

// outbounds.cpp: an outbound object, or an anytls:// link standing for one.
OutboundOptions decode_outbound_object(const json& j, const std::string& path);
OutboundOptions decode_outbound(const json& j, const std::string& path, std::vector<std::string>& warnings);
// The dial fields of an anytls or direct outbound (null for the others).
const DialOptions* dial_of(const OutboundOptions& o);
// Detours name an outbound, not the one they belong to, and chains end.
void check_detours(const Options& opts, const OutboundIndex& index);
// Group members exist, are not repeated, and no group contains itself,
// directly or through other groups.
void check_groups(const Options& opts, const OutboundIndex& index);

// anytls_uri.cpp: the link as the outbound object it stands for.
json anytls_uri_json(std::string_view uri, const std::string& path, std::vector<std::string>& warnings);

// route.cpp. top: a route.rules entry (with an action); headless: a
// rule-set rule.
RouteRule decode_rule_body(const json& j, const std::string& path, bool top, bool headless);
RouteRule decode_rule(const json& j, const std::string& path);
RouteOptions decode_route(const json& j, const std::string& path, std::vector<std::string>& warnings);
// route.final, download_detour and rules name outbounds and rule sets that exist.
void check_route_references(const Options& opts, const OutboundIndex& index);

// dns.cpp
DnsOptions decode_dns(const json& j, const std::string& path, std::vector<std::string>& warnings);
// Tags of dns.servers, and every reference to one (rules, final,
// domain_resolver) or from one (detour) resolved.
void check_dns_references(Options& opts, const OutboundIndex& outbound_index);

// experimental.cpp: metrics, cache_file, clash_api.
void decode_experimental(const json& j, const std::string& path, Options& opts);

// ntp.cpp
NtpOptions decode_ntp(const json& j, const std::string& path);

// dial_fields.cpp: the dial fields of outbounds and DNS servers.
void decode_dial(Obj& o, DialOptions& d);
// domain_resolver: "tag" or {"server": "tag", "strategy": ...}.
void decode_domain_resolver(Obj& o, std::string_view key, std::string& tag, DomainStrategy& strategy);

// tls_fields.cpp
InboundTlsOptions decode_inbound_tls(const json& j, const std::string& path);
OutboundTlsOptions decode_outbound_tls(const json& j, const std::string& path);

}  // namespace anytls::config::detail
