// Router from route.rules and route.final: the first rule whose matchers
// (route/rule_matcher.hpp) hold decides; no match -> final.
#pragma once
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <asio/ip/address.hpp>

#include "config/options.hpp"
#include "route/router.hpp"
#include "route/rule_matcher.hpp"

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
  // Who answers for hijack-dns rules (must outlive the router); without one
  // those rules reject.
  void set_dns(DnsHandler* dns) { dns_ = dns; }
  // Index of the first matching rule, nullopt when final applies.
  std::optional<std::size_t> match(const outbound::Metadata& md) const;

 private:
  struct Rule {
    RuleMatcher matcher;
    Decision decision;
    bool hijack_dns = false;
  };

  std::vector<Rule> rules_;
  Decision final_;
  DnsHandler* dns_ = nullptr;
};

}  // namespace anytls::route
