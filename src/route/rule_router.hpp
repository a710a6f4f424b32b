// Router from route.rules and route.final, with sing-box's matching:
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
// literal destinations (there is no resolution when routing); domain
// matchers only names. The first matching rule wins; no match -> final.
#pragma once
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <asio/ip/address.hpp>

#include "config/options.hpp"
#include "route/router.hpp"

namespace anytls::route {

class RuleRouter final : public Router {
 public:
  // Tag -> outbound, or nullptr when there is none.
  using OutboundLookup = std::function<outbound::Outbound*(std::string_view tag)>;

  // first_outbound_tag: route.final's default. Throws std::invalid_argument
  // naming the path ("route.rules[2].outbound: outbound not found: x",
  // "route.rules[0].ip_cidr[1]: invalid prefix: ...", "route.final: ...").
  RuleRouter(const config::RouteOptions& options, std::string_view first_outbound_tag,
             OutboundLookup lookup);

  Decision decide(const outbound::Metadata& md) override;
  // Index of the first matching rule, nullopt when final applies.
  std::optional<std::size_t> match(const outbound::Metadata& md) const;

  struct Prefix {
    asio::ip::address network;
    unsigned bits = 0;
    bool contains(const asio::ip::address& a) const;
  };
  // "10.0.0.0/8", "2001:db8::/32" or a plain address; nullopt when invalid.
  static std::optional<Prefix> parse_prefix(std::string_view text);

 private:
  struct Suffix {
    std::string value;      // lower case, no leading dot
    bool subdomains_only;   // written with a leading dot
  };
  struct Rule {
    std::vector<std::string> inbound;
    std::vector<std::string> domain;
    std::vector<Suffix> domain_suffix;
    std::vector<std::string> domain_keyword;
    std::vector<Prefix> ip_cidr;
    std::vector<std::uint16_t> port;
    bool tcp = true;
    bool udp = true;
    Decision decision;
  };
  static bool matches(const Rule& r, const outbound::Metadata& md, const std::string& host,
                      const std::optional<asio::ip::address>& ip);

  std::vector<Rule> rules_;
  Decision final_;
};

}  // namespace anytls::route
