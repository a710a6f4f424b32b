#include "route/rule_text.hpp"

#include <fmt/format.h>

namespace anytls::route {

namespace {

// sing-box's item shape: "key=v", "key=[a b c]", and the first three then
// "..." for longer lists (a rule of 10,000 domains stays one short line).
template <class T>
void item(std::string& out, std::string_view key, const std::vector<T>& values) {
  if (values.empty()) return;
  if (!out.empty()) out += ' ';
  out += key;
  out += '=';
  if (values.size() == 1) {
    out += fmt::format("{}", values.front());
    return;
  }
  out += '[';
  for (std::size_t i = 0; i < values.size() && i < 3; ++i) out += fmt::format("{}{}", i ? " " : "", values[i]);
  out += values.size() > 3 ? "...]" : "]";
}

void flag(std::string& out, std::string_view text, bool on) {
  if (!on) return;
  if (!out.empty()) out += ' ';
  out += text;
}

std::string_view strategy_name(config::DomainStrategy s) {
  switch (s) {
    case config::DomainStrategy::as_is: return "";
    case config::DomainStrategy::prefer_ipv4: return "prefer_ipv4";
    case config::DomainStrategy::prefer_ipv6: return "prefer_ipv6";
    case config::DomainStrategy::ipv4_only: return "ipv4_only";
    case config::DomainStrategy::ipv6_only: return "ipv6_only";
  }
  return "";
}

std::string route_options(const config::RouteRule& r) {
  std::string out;
  if (!r.override_address.empty()) out += "override-address=" + r.override_address;
  if (r.override_port != 0) out += fmt::format("{}override-port={}", out.empty() ? "" : ",", r.override_port);
  return out;
}

std::string action_text(const config::RouteRule& r) {
  switch (r.action) {
    case config::RuleAction::route: {
      auto opts = route_options(r);
      return "route(" + r.outbound + (opts.empty() ? "" : "," + opts) + ")";
    }
    case config::RuleAction::route_options: return "route-options(" + route_options(r) + ")";
    case config::RuleAction::reject: return r.method == config::RejectMethod::drop ? "reject(drop)" : "reject";
    case config::RuleAction::hijack_dns: return "hijack-dns";
    case config::RuleAction::sniff: {
      if (r.sniffer.empty()) return "sniff";
      std::string names;
      for (const auto& n : r.sniffer) names += (names.empty() ? "" : ",") + n;
      return "sniff(" + names + ")";
    }
    case config::RuleAction::resolve: {
      std::string opts = r.resolve_server;
      auto s = strategy_name(r.resolve_strategy);
      if (!s.empty()) opts += (opts.empty() ? "" : ",") + std::string(s);
      return opts.empty() ? "resolve" : "resolve(" + opts + ")";
    }
  }
  return "";
}

std::string payload(const config::RouteRule& r) {
  std::string out;
  if (r.type == "logical") {
    const std::string op = r.mode == "or" ? " || " : " && ";
    for (std::size_t i = 0; i < r.rules.size(); ++i) out += (i ? op : "") + payload(r.rules[i]);
  } else {
    item(out, "inbound", r.inbound);
    if (r.ip_version != 0) item(out, "ip_version", std::vector<int>(1, r.ip_version));
    item(out, "network", r.network);
    item(out, "auth_user", r.auth_user);
    item(out, "protocol", r.protocol);
    item(out, "domain", r.domain);
    item(out, "domain_suffix", r.domain_suffix);
    item(out, "domain_keyword", r.domain_keyword);
    item(out, "domain_regex", r.domain_regex);
    item(out, "source_ip_cidr", r.source_ip_cidr);
    flag(out, "source_ip_is_private", r.source_ip_is_private);
    item(out, "ip_cidr", r.ip_cidr);
    flag(out, "ip_is_private", r.ip_is_private);
    item(out, "source_port", r.source_port);
    item(out, "source_port_range", r.source_port_range);
    item(out, "port", r.port);
    item(out, "port_range", r.port_range);
    item(out, "process_name", r.process_name);
    item(out, "process_path", r.process_path);
    item(out, "process_path_regex", r.process_path_regex);
    item(out, "user", r.user);
    item(out, "user_id", r.user_id);
    item(out, "rule_set", r.rule_set);
    if (!r.clash_mode.empty()) item(out, "clash_mode", std::vector<std::string>(1, r.clash_mode));
  }
  return r.invert ? "!(" + out + ")" : out;
}

}  // namespace

RuleText describe(const config::RouteRule& rule) {
  return RuleText{rule.type == "logical" ? "logical" : "default", payload(rule), action_text(rule)};
}

std::string connection_rule(const config::RouteRule& rule) {
  auto t = describe(rule);
  return t.payload + " => " + t.action;
}

}  // namespace anytls::route
