// Between a rule set's two forms: sing-box's JSON source (headless
// config::RouteRule, as config::parse_rule_set_source reads them) and its
// binary .srs (srs::RuleSet). What `anytls rule-set compile | decompile |
// format | match | merge` are made of; sing-box's cmd_rule_set_*.go are the
// reference for every output.
#pragma once
#include <cstdint>
#include <ostream>
#include <string>
#include <vector>

#include "config/options.hpp"
#include "route/srs.hpp"

namespace anytls::route {

// Source rules as binary ones, the way sing-box compiles them: ip_cidr and
// source_ip_cidr (strings, or ranges already) become one sorted list of
// merged ranges per family, v4 first (Go's netipx.IPSet). Throws
// std::invalid_argument naming the rule ("rules[1].ip_cidr[0]: invalid
// prefix: x"; "rules[0].clash_mode: not a rule-set field").
srs::RuleSet to_binary(std::vector<config::RouteRule> rules, std::uint8_t version);

// Binary rules as source rules, as sing-box's decompile recovers them:
// domains and suffixes each sorted, a name with its subdomains-only suffix
// (version 1's way of saying "suffix") as the one suffix; IP sets stay
// ranges (ip_range), written out as CIDR prefixes by write_source_json.
std::vector<config::RouteRule> to_source(srs::RuleSet set);

// {"version": N, "rules": [...]} as sing-box's JSON encoder writes it (its
// field order, empty fields left out, a list of one as the value alone,
// 2-space indent, <>& escaped, one newline at the end). Ranges are written
// as the prefixes that cover them, one at a time: a set that stays small as
// ranges is never held as strings. Throws std::invalid_argument for a field
// a rule set cannot have (rules[0].clash_mode).
void write_source_json(std::ostream& out, std::uint8_t version, const std::vector<config::RouteRule>& rules);

// The rule as sing-box prints it in `rule-set match` ("domain_suffix=[a b]
// port=443", "!(...)", "a || b"); binary: a set read from .srs, whose domain
// and IP items print as "<binary>".
std::string describe(const config::RouteRule& rule, bool binary);

// "1.2.3.0/24", "2001:db8::/32", "::ffff:1.2.3.4/128": the prefixes that
// cover [first, last] exactly, in order, passed to emit one at a time.
template <class Emit>
void range_prefixes(const config::IpRange& r, Emit&& emit);
std::string prefix_text(unsigned __int128 address, unsigned bits, bool v4);

template <class Emit>
void range_prefixes(const config::IpRange& r, Emit&& emit) {
  using U128 = unsigned __int128;
  const unsigned width = r.v4 ? 32 : 128;
  U128 a = r.first;
  while (true) {
    // The largest aligned block at a that ends at or before r.last.
    unsigned k = 0;
    while (k < width && !((a >> k) & 1)) ++k;
    auto last_of = [&](unsigned n) { return n >= 128 ? ~U128{0} : a + ((U128{1} << n) - 1); };
    while (last_of(k) > r.last) --k;
    emit(prefix_text(a, width - k, r.v4));
    const U128 end = last_of(k);
    if (end >= r.last) return;
    a = end + 1;
  }
}

}  // namespace anytls::route
