#include "route/rule_router.hpp"

#include <stdexcept>

namespace anytls::route {

RuleRouter::RuleRouter(const config::RouteOptions& options, std::string_view first_outbound_tag,
                       OutboundLookup lookup) {
  auto find = [&](const std::string& path, std::string_view tag) {
    outbound::Outbound* o = lookup ? lookup(tag) : nullptr;
    if (!o) throw std::invalid_argument(path + ": outbound not found: " + std::string(tag));
    return o;
  };
  for (std::size_t i = 0; i < options.rules.size(); ++i) {
    const auto& in = options.rules[i];
    const std::string path = "route.rules[" + std::to_string(i) + "]";
    RuleMatcher matcher(in, path);
    Decision decision;
    if (in.action == config::RuleAction::reject || in.action == config::RuleAction::hijack_dns)
      decision = Decision{nullptr, true};  // hijack-dns: completed in decide()
    else
      decision = Decision{find(path + ".outbound", in.outbound), false};
    rules_.push_back(Rule{std::move(matcher), decision, in.action == config::RuleAction::hijack_dns});
  }
  if (!options.final.empty())
    final_ = Decision{find("route.final", options.final), false};
  else
    final_ = Decision{find("route.final (the first outbound)", first_outbound_tag), false};
}

std::optional<std::size_t> RuleRouter::match(const outbound::Metadata& md) const {
  for (std::size_t i = 0; i < rules_.size(); ++i)
    if (rules_[i].matcher.matches(md)) return i;
  return std::nullopt;
}

Decision RuleRouter::decide(const outbound::Metadata& md) {
  if (auto i = match(md)) {
    if (rules_[*i].hijack_dns && dns_) return Decision{nullptr, false, dns_};
    return rules_[*i].decision;
  }
  return final_;
}

}  // namespace anytls::route
