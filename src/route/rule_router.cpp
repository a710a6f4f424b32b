#include "route/rule_router.hpp"

#include <stdexcept>

namespace anytls::route {

namespace {

// sing-box: a reject rule without no_drop drops instead once it has fired
// 50 times within 30 s (a client retrying in a loop stops getting answers).
constexpr std::size_t kDropAfter = 50;
constexpr auto kDropWindow = std::chrono::seconds(30);

Action action_of(config::RuleAction a) {
  switch (a) {
    case config::RuleAction::route: return Action::route;
    case config::RuleAction::route_options: return Action::route_options;
    case config::RuleAction::reject: return Action::reject;
    case config::RuleAction::hijack_dns: return Action::hijack_dns;
    case config::RuleAction::sniff: return Action::sniff;
    case config::RuleAction::resolve: return Action::resolve;
  }
  return Action::route;
}

}  // namespace

RuleRouter::RuleRouter(const config::RouteOptions& options, std::string_view first_outbound_tag,
                       OutboundLookup lookup, std::shared_ptr<RuleSets> sets)
    : sets_(sets ? std::move(sets) : std::make_shared<RuleSets>(options.rule_set, std::string())) {
  auto find = [&](const std::string& path, std::string_view tag) {
    outbound::Outbound* o = lookup ? lookup(tag) : nullptr;
    if (!o) throw std::invalid_argument(path + ": outbound not found: " + std::string(tag));
    return o;
  };
  rules_.reserve(options.rules.size());
  for (std::size_t i = 0; i < options.rules.size(); ++i) {
    const auto& in = options.rules[i];
    const std::string path = "route.rules[" + std::to_string(i) + "]";
    RuleMatcher matcher(in, path, sets_.get());
    needs_process_ = needs_process_ || matcher.needs_process();
    Decision decision;
    decision.action = action_of(in.action);
    decision.next = i + 1;
    if (in.action == config::RuleAction::reject) {
      decision.reject = true;
      decision.drop = in.method == config::RejectMethod::drop;
    } else if (in.action == config::RuleAction::route) {
      decision.outbound = find(path + ".outbound", in.outbound);
    }
    rules_.push_back(Rule{std::move(matcher), in, decision, {}});
  }
  // The decisions point at their rule's options (stable once the vector is built).
  for (auto& r : rules_) r.decision.rule = &r.options;
  if (!options.final.empty())
    final_.outbound = find("route.final", options.final);
  else
    final_.outbound = find("route.final (the first outbound)", first_outbound_tag);
  final_.next = rules_.size();
}

std::optional<std::size_t> RuleRouter::match(const outbound::Metadata& md) const {
  for (std::size_t i = md.rule_index; i < rules_.size(); ++i)
    if (rules_[i].matcher.matches(md)) return i;
  return std::nullopt;
}

Decision RuleRouter::decide(const outbound::Metadata& md) {
  // Every worker routes through this router at once: matching only reads;
  // the reject history below is the only state a decision changes.
  auto i = match(md);
  if (!i) return final_;
  auto& rule = rules_[*i];
  Decision d = rule.decision;
  if (d.action == Action::hijack_dns) {
    // Answered by the DNS module; without a dns block there is nobody to
    // answer: rejected.
    if (dns_) {
      d.hijack_dns = dns_;
    } else {
      d.action = Action::reject;
      d.reject = true;
    }
    return d;
  }
  if (d.action == Action::reject && !d.drop && !rule.options.no_drop) {
    std::lock_guard lock(mu_);
    auto now = std::chrono::steady_clock::now();
    while (!rule.rejects.empty() && now - rule.rejects.front() > kDropWindow) rule.rejects.pop_front();
    if (rule.rejects.size() >= kDropAfter) d.drop = true;
    else rule.rejects.push_back(now);
  }
  return d;
}

}  // namespace anytls::route
