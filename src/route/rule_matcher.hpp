// One rule's matchers, compiled from config: the part of a route rule that
// says whether a connection matches, without what to do about it. The route
// router, rule sets and dns.rules use it.
//
// sing-box's matching (route rule docs):
//
//   (domain || domain_suffix || domain_keyword || domain_regex || ip_cidr || ip_is_private) &&
//   (port || port_range) &&
//   (source_ip_cidr || source_ip_is_private) &&
//   (source_port || source_port_range) &&
//   every other matcher present (inbound, network, ip_version, auth_user,
//   protocol, process_*, user, rule_set)
//
// then `invert`. Values within a list are ORed and a rule without matchers
// matches everything. Domains compare case-insensitively, a trailing dot
// ignored; the domain matched is the sniffed one (Metadata::domain) if any,
// else the destination when it is a name. ip_cidr / ip_is_private match an IP
// destination, or the addresses a resolve action found. A logical rule
// (mode and|or) combines sub-rules. rule_set matches when any rule of any
// named set matches (rule_set_ip_cidr_match_source: the sets' ip_cidr
// against the source address).
#pragma once
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <asio/ip/address.hpp>

#include "config/options.hpp"
#include "outbound/outbound.hpp"
#include "route/domain_set.hpp"
#include "route/ip_set.hpp"

namespace anytls::route {

struct Prefix {
  asio::ip::address network;
  unsigned bits = 0;
  bool contains(const asio::ip::address& a) const;
  // "10.0.0.0/8", "2001:db8::/32" or a plain address; nullopt when invalid.
  static std::optional<Prefix> parse(std::string_view text);
};

// Lower case, trailing dots removed.
std::string normalize_domain(std::string_view s);

// Go's netip IsPrivate/IsLoopback/IsLinkLocal/IsMulticast/IsUnspecified: what
// sing-box's ip_is_private calls "not public".
bool is_private_address(const asio::ip::address& a);

class RuleSet;
class RuleSets;

class RuleMatcher {
 public:
  // path names the rule in errors ("route.rules[2]"); throws
  // std::invalid_argument naming the field ("route.rules[0].ip_cidr[1]: invalid prefix: ...").
  // sets: where rule_set tags are found (a rule naming one without sets is an error).
  RuleMatcher(const config::RouteRule& rule, const std::string& path, const RuleSets* sets = nullptr);
  ~RuleMatcher();
  RuleMatcher(RuleMatcher&&) noexcept;
  RuleMatcher& operator=(RuleMatcher&&) noexcept;

  bool matches(const outbound::Metadata& md) const { return match(md, false); }
  // ip_cidr_is_source: a rule set referenced with rule_set_ip_cidr_match_source.
  bool match(const outbound::Metadata& md, bool ip_cidr_is_source) const;
  // Whether this rule (or a sub-rule or set it names) looks at the process.
  bool needs_process() const { return needs_process_; }

 private:
  bool match_default(const outbound::Metadata& md, bool ip_cidr_is_source) const;

  bool invert_ = false;
  bool needs_process_ = false;
  // logical
  bool logical_ = false;
  bool and_ = true;
  std::vector<RuleMatcher> children_;
  // default
  std::vector<std::string> inbound_;
  int ip_version_ = 0;
  bool tcp_ = true;
  bool udp_ = true;
  std::vector<std::string> auth_user_;
  std::vector<std::string> protocol_;
  DomainSet domains_;
  IpSet ip_cidr_;
  bool ip_is_private_ = false;
  IpSet source_ip_cidr_;
  bool source_ip_is_private_ = false;
  std::vector<std::uint16_t> port_;
  std::vector<std::pair<std::uint16_t, std::uint16_t>> port_range_;
  std::vector<std::uint16_t> source_port_;
  std::vector<std::pair<std::uint16_t, std::uint16_t>> source_port_range_;
  std::vector<std::string> process_name_;
  std::vector<std::string> process_path_;
  DomainSet process_path_regex_;  // regexes only
  std::vector<std::string> user_;
  std::vector<std::uint32_t> user_id_;
  std::vector<const RuleSet*> rule_sets_;
  bool rule_set_source_ = false;
  std::string clash_mode_;  // empty: any (route/clash_mode.hpp)
};

}  // namespace anytls::route
