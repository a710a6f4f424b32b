// One rule's matchers, compiled from config: the part of a route rule that
// says whether a connection matches, without what to do about it. The route
// router and dns.rules both use it.
//
// sing-box's matching:
//
//   (domain || domain_suffix || domain_keyword || ip_cidr) &&
//   port && network && inbound
//
// i.e. the destination-address matchers form one group whose lists are ORed
// together (a rule with domain_suffix and ip_cidr matches either), every
// other matcher must hold, values within a list are ORed, and a rule without
// matchers matches everything. Domains compare case-insensitively, a trailing
// dot ignored. domain_suffix "example.com" matches example.com and
// sub.example.com, ".example.com" subdomains only. ip_cidr matches only IP
// literal destinations; domain matchers only names.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <asio/ip/address.hpp>

#include "config/options.hpp"
#include "outbound/outbound.hpp"

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

class RuleMatcher {
 public:
  // path names the rule in errors ("route.rules[2]"); throws
  // std::invalid_argument naming the field ("route.rules[0].ip_cidr[1]: invalid prefix: ...").
  RuleMatcher(const config::RouteRule& rule, const std::string& path);

  bool matches(const outbound::Metadata& md) const;

 private:
  struct Suffix {
    std::string value;      // lower case, no leading dot
    bool subdomains_only;   // written with a leading dot
  };
  std::vector<std::string> inbound_;
  std::vector<std::string> domain_;
  std::vector<Suffix> domain_suffix_;
  std::vector<std::string> domain_keyword_;
  std::vector<Prefix> ip_cidr_;
  std::vector<std::uint16_t> port_;
  bool tcp_ = true;
  bool udp_ = true;
  std::string clash_mode_;  // empty: any (route/clash_mode.hpp)
};

}  // namespace anytls::route
