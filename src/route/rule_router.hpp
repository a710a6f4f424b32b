// Router from route.rules and route.final: the first rule whose matchers
// (route/rule_matcher.hpp) hold decides; no match -> final.
#pragma once
#include <mutex>
#include <chrono>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <asio/ip/address.hpp>

#include "config/options.hpp"
#include "route/router.hpp"
#include "route/rule_matcher.hpp"
#include "route/rule_set.hpp"

namespace anytls::route {

class RuleRouter final : public Router {
 public:
  // Tag -> outbound, or nullptr when there is none.
  using OutboundLookup = std::function<outbound::Outbound*(std::string_view tag)>;

  // first_outbound_tag: route.final's default. sets: the rule sets rules
  // name (null: built here from options.rule_set, remote ones empty). Throws
  // std::invalid_argument naming the path ("route.rules[2].outbound: outbound
  // not found: x", "route.rules[0].ip_cidr[1]: invalid prefix: ...", "route.final: ...").
  RuleRouter(const config::RouteOptions& options, std::string_view first_outbound_tag, OutboundLookup lookup,
             std::shared_ptr<RuleSets> sets = nullptr);

  Decision decide(const outbound::Metadata& md) override;
  bool needs_process() const override { return needs_process_; }
  net::Resolver* resolver() const override { return resolver_.get(); }
  void set_resolver(std::shared_ptr<net::Resolver> r) { resolver_ = std::move(r); }
  // Who answers for hijack-dns rules (must outlive the router); without one
  // those rules reject.
  void set_dns(std::shared_ptr<DnsHandler> dns) { dns_ = std::move(dns); }
  std::shared_ptr<DnsHandler> dns() const override { return dns_; }
  // Index of the first matching rule from md.rule_index, nullopt when final applies.
  std::optional<std::size_t> match(const outbound::Metadata& md) const;
  const std::shared_ptr<RuleSets>& rule_sets() const { return sets_; }

 private:
  struct Rule {
    RuleMatcher matcher;
    config::RouteRule options;
    Decision decision;
    std::deque<std::chrono::steady_clock::time_point> rejects;  // reject without no_drop: the last 50
  };

  std::shared_ptr<RuleSets> sets_;
  std::vector<Rule> rules_;
  Decision final_;
  bool needs_process_ = false;
  std::shared_ptr<net::Resolver> resolver_;
  std::shared_ptr<DnsHandler> dns_;
  std::mutex mu_;  // the rules' reject histories (decide() on every worker)
};

}  // namespace anytls::route
