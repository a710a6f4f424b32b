// Route rules in the words sing-box's Clash API uses for them: GET /rules
// lists {type, payload, proxy} and a connection's "rule" reads
// "<payload> => <action>" ("final" when no rule matched), e.g.
// "clash_mode=global => route(proxy)". Dashboards show these strings as
// they are; nothing parses them.
#pragma once
#include <string>

#include "config/options.hpp"

namespace anytls::route {

struct RuleText {
  std::string type;     // "default" or "logical"
  std::string payload;  // the matchers: "domain_suffix=[a.com b.com] port=443"
  std::string action;   // "route(proxy)", "reject", "hijack-dns", "sniff", ...
};

RuleText describe(const config::RouteRule& rule);
// "<payload> => <action>", as a connection shows the rule that routed it.
std::string connection_rule(const config::RouteRule& rule);

}  // namespace anytls::route
