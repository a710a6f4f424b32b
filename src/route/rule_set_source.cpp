#include "route/rule_set_source.hpp"

#include <algorithm>
#include <stdexcept>
#include <tuple>

#include "route/rule_matcher.hpp"
#include "route/rule_set.hpp"

namespace anytls::route {

// Named, not anonymous: a unity build shares one anonymous namespace among
// neighbouring sources.
namespace source_detail {

using U128 = unsigned __int128;

std::string at(const std::string& path, const char* key, std::size_t i) {
  return path + "." + key + "[" + std::to_string(i) + "]";
}

// What a headless rule of ours may hold that sing-box's may not.
void refuse_route_only(const config::RouteRule& r, const std::string& path) {
  if (!r.clash_mode.empty()) throw std::invalid_argument(path + ".clash_mode: not a rule-set field");
}

// netipx.IPSetBuilder: every prefix as a range, sorted by family (v4 first)
// and start, overlapping or adjacent ranges merged.
std::vector<srs::IpRange> ranges(const std::vector<std::string>& cidrs, const std::vector<config::IpRange>& given,
                                 const std::string& path, const char* key) {
  std::vector<srs::IpRange> out;
  for (const auto& g : given) out.push_back({g.first, g.last, g.v4});
  for (std::size_t i = 0; i < cidrs.size(); ++i) {
    auto p = Prefix::parse(cidrs[i]);
    if (!p) throw std::invalid_argument(at(path, key, i) + ": invalid prefix: " + cidrs[i]);
    const bool v4 = p->network.is_v4();
    U128 a = 0;
    if (v4) {
      a = p->network.to_v4().to_uint();
    } else {
      for (auto b : p->network.to_v6().to_bytes()) a = (a << 8) | b;
    }
    const unsigned host = (v4 ? 32 : 128) - p->bits;
    const U128 span = host >= 128 ? ~U128{0} : (U128{1} << host) - 1;
    out.push_back({a & ~span, (a & ~span) | span, v4});
  }
  std::sort(out.begin(), out.end(), [](const srs::IpRange& x, const srs::IpRange& y) {
    return x.v4 != y.v4 ? x.v4 : x.first < y.first;
  });
  std::vector<srs::IpRange> merged;
  for (const auto& r : out) {
    if (!merged.empty() && merged.back().v4 == r.v4 &&
        (merged.back().last == ~U128{0} || r.first <= merged.back().last + 1)) {
      merged.back().last = std::max(merged.back().last, r.last);
      continue;
    }
    merged.push_back(r);
  }
  return merged;
}

// Moves the lists: a source set may be as large as its bound, and is not
// needed once compiled.
srs::Rule binary_rule(config::RouteRule&& r, const std::string& path) {
  refuse_route_only(r, path);
  srs::Rule out;
  out.invert = r.invert;
  if (r.type == "logical") {
    out.logical = true;
    out.mode_or = r.mode == "or";
    for (std::size_t i = 0; i < r.rules.size(); ++i)
      out.rules.push_back(binary_rule(std::move(r.rules[i]), path + ".rules[" + std::to_string(i) + "]"));
    return out;
  }
  out.source_ip_cidr = ranges(r.source_ip_cidr, r.source_ip_range, path, "source_ip_cidr");
  out.ip_cidr = ranges(r.ip_cidr, r.ip_range, path, "ip_cidr");
  out.network = std::move(r.network);
  out.domain = std::move(r.domain);
  out.domain_suffix = std::move(r.domain_suffix);
  out.domain_keyword = std::move(r.domain_keyword);
  out.domain_regex = std::move(r.domain_regex);
  out.source_port = std::move(r.source_port);
  out.source_port_range = std::move(r.source_port_range);
  out.port = std::move(r.port);
  out.port_range = std::move(r.port_range);
  out.process_name = std::move(r.process_name);
  out.process_path = std::move(r.process_path);
  out.process_path_regex = std::move(r.process_path_regex);
  return out;
}

// sing-box's domain.Matcher.Dump: a name and its ".name" suffix become the
// suffix "name". In place: the lists may be as large as the decode allowed.
void recover_domains(config::RouteRule& r) {
  for (auto& sub : r.rules) recover_domains(sub);
  std::sort(r.domain.begin(), r.domain.end());
  std::vector<bool> taken(r.domain.size());
  for (auto& s : r.domain_suffix) {
    if (s.size() < 2 || s[0] != '.') continue;
    auto it = std::lower_bound(r.domain.begin(), r.domain.end(), std::string_view(s).substr(1));
    if (it == r.domain.end() || std::string_view(*it) != std::string_view(s).substr(1)) continue;
    taken[static_cast<std::size_t>(it - r.domain.begin())] = true;
    s.erase(0, 1);
  }
  std::size_t kept = 0;
  for (std::size_t i = 0; i < r.domain.size(); ++i)
    if (!taken[i]) {
      if (kept != i) r.domain[kept] = std::move(r.domain[i]);
      ++kept;
    }
  r.domain.resize(kept);
  std::sort(r.domain_suffix.begin(), r.domain_suffix.end());
}

// Go's encoding/json string: <, > and & escaped (its HTML-safe default),
// control characters and U+2028/U+2029 as \u escapes.
void write_string(std::ostream& out, const std::string& s) {
  static const char* hex = "0123456789abcdef";
  out << '"';
  for (std::size_t i = 0; i < s.size(); ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    switch (c) {
      case '"': out << "\\\""; continue;
      case '\\': out << "\\\\"; continue;
      case '\n': out << "\\n"; continue;
      case '\r': out << "\\r"; continue;
      case '\t': out << "\\t"; continue;
      case '\b': out << "\\b"; continue;  // Go 1.22 on
      case '\f': out << "\\f"; continue;
      default: break;
    }
    if (c < 0x20 || c == '<' || c == '>' || c == '&') {
      out << "\\u00" << hex[c >> 4] << hex[c & 15];
    } else if (c == 0xE2 && i + 2 < s.size() && static_cast<unsigned char>(s[i + 1]) == 0x80 &&
               (static_cast<unsigned char>(s[i + 2]) == 0xA8 || static_cast<unsigned char>(s[i + 2]) == 0xA9)) {
      out << (static_cast<unsigned char>(s[i + 2]) == 0xA8 ? "\\u2028" : "\\u2029");
      i += 2;
    } else {
      out << s[i];
    }
  }
  out << '"';
}

class JsonOut {
 public:
  explicit JsonOut(std::ostream& out) : out_(out) {}
  // The next member of the object being written.
  void key(const char* name) {
    next();
    write_string(out_, name);
    out_ << ": ";
  }
  void open(char bracket) {
    out_ << bracket;
    firsts_.push_back(true);
  }
  void close(char bracket) {
    const bool empty = firsts_.back();
    firsts_.pop_back();
    if (!empty) newline();
    out_ << bracket;
  }
  // The next element of the array being written.
  void element() { next(); }
  std::ostream& raw() { return out_; }

  // A Listable: one value alone, more as an array, none not at all.
  template <class T, class Write>
  void list(const char* name, const std::vector<T>& v, Write&& write) {
    if (v.empty()) return;
    key(name);
    if (v.size() == 1) return write(v[0]);
    open('[');
    for (const auto& x : v) {
      element();
      write(x);
    }
    close(']');
  }
  void strings(const char* name, const std::vector<std::string>& v) {
    list(name, v, [this](const std::string& s) { write_string(out_, s); });
  }
  void ports(const char* name, const std::vector<std::uint16_t>& v) {
    list(name, v, [this](std::uint16_t p) { out_ << p; });
  }
  // CIDR strings and ranges, as one list of prefixes.
  void cidrs(const char* name, const std::vector<std::string>& strings, const std::vector<config::IpRange>& given) {
    std::size_t count = strings.size();
    for (const auto& r : given) {
      if (count > 1) break;
      range_prefixes(r, [&count](const std::string&) { ++count; });
    }
    if (count == 0) return;
    key(name);
    auto one = [this](const std::string& s) { write_string(out_, s); };
    if (count == 1) {
      for (const auto& s : strings) one(s);
      for (const auto& r : given) range_prefixes(r, one);
      return;
    }
    open('[');
    auto each = [&](const std::string& s) {
      element();
      one(s);
    };
    for (const auto& s : strings) each(s);
    for (const auto& r : given) range_prefixes(r, each);
    close(']');
  }

 private:
  void next() {
    if (!firsts_.back()) out_ << ',';
    firsts_.back() = false;
    newline();
  }
  void newline() { out_ << '\n' << std::string(2 * firsts_.size(), ' '); }
  std::ostream& out_;
  std::vector<bool> firsts_;
};

// option.HeadlessRule's JSON: a logical rule's type, mode, rules, invert; a
// default rule's items in DefaultHeadlessRule's field order, invert last.
void write_rule(JsonOut& j, const config::RouteRule& r, const std::string& path) {
  refuse_route_only(r, path);
  j.open('{');
  if (r.type == "logical") {
    j.key("type");
    write_string(j.raw(), "logical");
    j.key("mode");
    write_string(j.raw(), r.mode);
    if (!r.rules.empty()) {
      j.key("rules");
      j.open('[');
      for (std::size_t i = 0; i < r.rules.size(); ++i) {
        j.element();
        write_rule(j, r.rules[i], path + ".rules[" + std::to_string(i) + "]");
      }
      j.close(']');
    }
  } else {
    j.strings("network", r.network);
    j.strings("domain", r.domain);
    j.strings("domain_suffix", r.domain_suffix);
    j.strings("domain_keyword", r.domain_keyword);
    j.strings("domain_regex", r.domain_regex);
    j.cidrs("source_ip_cidr", r.source_ip_cidr, r.source_ip_range);
    j.cidrs("ip_cidr", r.ip_cidr, r.ip_range);
    j.ports("source_port", r.source_port);
    j.strings("source_port_range", r.source_port_range);
    j.ports("port", r.port);
    j.strings("port_range", r.port_range);
    j.strings("process_name", r.process_name);
    j.strings("process_path", r.process_path);
    j.strings("process_path_regex", r.process_path_regex);
  }
  if (r.invert) {
    j.key("invert");
    j.raw() << "true";
  }
  j.close('}');
}

// sing-box's item descriptions: "name=value" for one, "name=[a b c]" for a
// few, and for domains, keywords and CIDRs the first three and "...".
std::string item(const std::string& name, const std::vector<std::string>& v, bool truncate) {
  if (v.size() == 1) return name + "=" + v[0];
  std::string out = name + "=[";
  const std::size_t n = truncate && v.size() > 3 ? 3 : v.size();
  for (std::size_t i = 0; i < n; ++i) out += (i ? " " : "") + v[i];
  return out + (n < v.size() ? "...]" : "]");
}

std::vector<std::string> port_texts(const std::vector<std::uint16_t>& v) {
  std::vector<std::string> out;
  for (auto p : v) out.push_back(std::to_string(p));
  return out;
}

std::string wrap_invert(std::string text, bool invert) { return invert ? "!(" + text + ")" : text; }

std::string v4_text(std::uint32_t a) {
  return std::to_string(a >> 24) + "." + std::to_string((a >> 16) & 255) + "." + std::to_string((a >> 8) & 255) + "." +
         std::to_string(a & 255);
}

// Go's netip.Addr.String for IPv6: RFC 5952 (the longest run of two or
// more zero fields, the first of equals, as "::"), and an IPv4-mapped
// address as ::ffff:a.b.c.d.
std::string v6_text(U128 a) {
  if ((a >> 32) == 0xFFFF) return "::ffff:" + v4_text(static_cast<std::uint32_t>(a));
  std::uint16_t f[8];
  for (int i = 0; i < 8; ++i) f[i] = static_cast<std::uint16_t>(a >> (16 * (7 - i)));
  int best = -1, best_len = 1;
  for (int i = 0; i < 8;) {
    int j = i;
    while (j < 8 && f[j] == 0) ++j;
    if (j - i > best_len) {
      best = i;
      best_len = j - i;
    }
    i = j == i ? i + 1 : j;
  }
  static const char* hex = "0123456789abcdef";
  std::string out;
  for (int i = 0; i < 8; ++i) {
    if (i == best) {
      out += "::";
      i += best_len - 1;
      continue;
    }
    if (!out.empty() && out.back() != ':') out += ':';
    bool lead = true;
    for (int s = 12; s >= 0; s -= 4) {
      const int d = (f[i] >> s) & 15;
      if (lead && d == 0 && s) continue;
      lead = false;
      out += hex[d];
    }
  }
  return out;
}

}  // namespace source_detail

std::string prefix_text(unsigned __int128 address, unsigned bits, bool v4) {
  using namespace source_detail;
  return (v4 ? v4_text(static_cast<std::uint32_t>(address)) : v6_text(address)) + "/" + std::to_string(bits);
}

srs::RuleSet to_binary(std::vector<config::RouteRule> rules, std::uint8_t version) {
  using namespace source_detail;
  srs::RuleSet set;
  set.version = version;
  for (std::size_t i = 0; i < rules.size(); ++i)
    set.rules.push_back(binary_rule(std::move(rules[i]), "rules[" + std::to_string(i) + "]"));
  return set;
}

std::vector<config::RouteRule> to_source(srs::RuleSet set) {
  using namespace source_detail;
  std::vector<config::RouteRule> out;
  out.reserve(set.rules.size());
  for (auto& r : set.rules) {
    out.push_back(from_srs(std::move(r)));
    recover_domains(out.back());
  }
  return out;
}

void write_source_json(std::ostream& out, std::uint8_t version, const std::vector<config::RouteRule>& rules) {
  using namespace source_detail;
  JsonOut j(out);
  j.open('{');
  j.key("version");
  out << static_cast<unsigned>(version);
  if (!rules.empty()) {
    j.key("rules");
    j.open('[');
    for (std::size_t i = 0; i < rules.size(); ++i) {
      j.element();
      write_rule(j, rules[i], "rules[" + std::to_string(i) + "]");
    }
    j.close(']');
  }
  j.close('}');
  out << '\n';
}

std::string describe(const config::RouteRule& r, bool binary) {
  using namespace source_detail;
  if (r.type == "logical") {
    std::string out;
    for (const auto& sub : r.rules) out += (out.empty() ? "" : r.mode == "or" ? " || " : " && ") + describe(sub, binary);
    return wrap_invert(std::move(out), r.invert);
  }
  std::vector<std::string> items;
  auto add = [&items](const std::string& name, const std::vector<std::string>& v, bool truncate) {
    if (!v.empty()) items.push_back(item(name, v, truncate));
  };
  add("network", r.network, false);
  if (binary && (!r.domain.empty() || !r.domain_suffix.empty())) {
    items.push_back("domain/domain_suffix=<binary>");
  } else {
    std::string d;
    if (!r.domain.empty()) d = item("domain", r.domain, true);
    if (!r.domain_suffix.empty()) d += (d.empty() ? "" : " ") + item("domain_suffix", r.domain_suffix, true);
    if (!d.empty()) items.push_back(d);
  }
  add("domain_keyword", r.domain_keyword, true);
  // sing-box shortens a long regex list without the "...".
  if (!r.domain_regex.empty()) {
    std::string d = item("domain_regex", r.domain_regex, true);
    if (r.domain_regex.size() > 3) d.replace(d.size() - 4, 3, "");
    items.push_back(d);
  }
  for (auto [name, strings, given] : {std::tuple{"source_ip_cidr", &r.source_ip_cidr, &r.source_ip_range},
                                      std::tuple{"ip_cidr", &r.ip_cidr, &r.ip_range}}) {
    if (!given->empty()) items.push_back(std::string(name) + "=<binary>");
    else add(name, *strings, true);
  }
  add("source_port", port_texts(r.source_port), false);
  add("source_port_range", r.source_port_range, false);
  add("port", port_texts(r.port), false);
  add("port_range", r.port_range, false);
  add("process_name", r.process_name, false);
  add("process_path", r.process_path, false);
  {
    std::string d = r.process_path_regex.empty() ? "" : item("process_path_regex", r.process_path_regex, true);
    if (r.process_path_regex.size() > 3) d.replace(d.size() - 4, 3, "");
    if (!d.empty()) items.push_back(d);
  }
  std::string out;
  for (const auto& s : items) out += (out.empty() ? "" : " ") + s;
  return wrap_invert(std::move(out), r.invert);
}

}  // namespace anytls::route
