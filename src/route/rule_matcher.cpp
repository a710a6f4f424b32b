#include "route/rule_matcher.hpp"

#include "route/rule_set.hpp"
#include "route/clash_mode.hpp"

#include <algorithm>
#include <array>
#include <cctype>
#include <charconv>
#include <stdexcept>

namespace anytls::route {

namespace {

asio::ip::address unmap(const asio::ip::address& a) {
  if (a.is_v6() && a.to_v6().is_v4_mapped())
    return asio::ip::make_address_v4(asio::ip::v4_mapped, a.to_v6());
  return a;
}

template <std::size_t N>
bool prefix_equal(const std::array<unsigned char, N>& a, const std::array<unsigned char, N>& b, unsigned bits) {
  std::size_t full = bits / 8;
  for (std::size_t i = 0; i < full; ++i)
    if (a[i] != b[i]) return false;
  unsigned rest = bits % 8;
  if (rest == 0) return true;
  unsigned char mask = static_cast<unsigned char>(0xFF00u >> rest);
  return (a[full] & mask) == (b[full] & mask);
}

}  // namespace

std::string normalize_domain(std::string_view s) {
  std::string out(s);
  for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  while (!out.empty() && out.back() == '.') out.pop_back();
  return out;
}

bool Prefix::contains(const asio::ip::address& raw) const {
  auto a = unmap(raw);
  if (network.is_v4() != a.is_v4()) return false;
  if (a.is_v4()) return prefix_equal(network.to_v4().to_bytes(), a.to_v4().to_bytes(), bits);
  return prefix_equal(network.to_v6().to_bytes(), a.to_v6().to_bytes(), bits);
}

std::optional<Prefix> Prefix::parse(std::string_view text) {
  auto slash = text.find('/');
  std::string addr_text(text.substr(0, slash));
  std::error_code ec;
  auto addr = asio::ip::make_address(addr_text, ec);
  if (ec) return std::nullopt;
  if (addr.is_v6() && addr.to_v6().scope_id() != 0) return std::nullopt;
  unsigned max_bits = addr.is_v4() ? 32 : 128;
  unsigned bits = max_bits;
  if (slash != std::string_view::npos) {
    auto digits = text.substr(slash + 1);
    if (digits.empty() || digits.size() > 3) return std::nullopt;
    auto [p, err] = std::from_chars(digits.data(), digits.data() + digits.size(), bits);
    if (err != std::errc() || p != digits.data() + digits.size() || bits > max_bits) return std::nullopt;
  }
  return Prefix{addr, bits};
}

bool is_private_address(const asio::ip::address& raw) {
  auto a = unmap(raw);
  if (a.is_unspecified() || a.is_loopback() || a.is_multicast()) return true;
  if (a.is_v4()) {
    auto u = a.to_v4().to_uint();
    return (u >> 24) == 10 || (u >> 20) == 0xAC1 || (u >> 16) == 0xC0A8 ||  // 10/8 172.16/12 192.168/16
           (u >> 16) == 0xA9FE;                                             // 169.254/16 link-local
  }
  auto b = a.to_v6().to_bytes();
  if ((b[0] & 0xFE) == 0xFC) return true;                // fc00::/7 unique local
  if (b[0] == 0xFE && (b[1] & 0xC0) == 0x80) return true;  // fe80::/10 link-local
  return false;
}

namespace {

std::string at(const std::string& path, std::string_view key, std::size_t i) {
  return path + "." + std::string(key) + "[" + std::to_string(i) + "]";
}

IpSet compile_cidrs(const std::vector<std::string>& list, const std::vector<config::IpRange>& ranges,
                    const std::string& path, std::string_view key) {
  IpSet set;
  for (const auto& r : ranges) set.add_range(r.first, r.last, r.v4);
  for (std::size_t j = 0; j < list.size(); ++j) {
    auto p = Prefix::parse(list[j]);
    if (!p) throw std::invalid_argument(at(path, key, j) + ": invalid prefix: " + list[j]);
    set.add(*p);
  }
  set.build();
  return set;
}

std::uint16_t port_number(std::string_view t, std::uint16_t empty_value, bool& ok) {
  if (t.empty()) return empty_value;
  unsigned v = 0;
  auto [p, err] = std::from_chars(t.data(), t.data() + t.size(), v);
  if (err != std::errc() || p != t.data() + t.size() || v > 65535) ok = false;
  return static_cast<std::uint16_t>(v);
}

std::vector<std::pair<std::uint16_t, std::uint16_t>> compile_ranges(const std::vector<std::string>& list,
                                                                    const std::string& path, std::string_view key) {
  std::vector<std::pair<std::uint16_t, std::uint16_t>> out;
  for (std::size_t j = 0; j < list.size(); ++j) {
    std::string_view r = list[j];
    auto colon = r.find(':');
    bool ok = colon != std::string_view::npos && r.size() > 1;
    std::uint16_t lo = 0, hi = 65535;
    if (ok) {
      lo = port_number(r.substr(0, colon), 0, ok);
      hi = port_number(r.substr(colon + 1), 65535, ok);
    }
    if (!ok || lo > hi) throw std::invalid_argument(at(path, key, j) + ": invalid port range: " + list[j]);
    out.emplace_back(lo, hi);
  }
  return out;
}

bool in_ports(std::uint16_t port, const std::vector<std::uint16_t>& list,
              const std::vector<std::pair<std::uint16_t, std::uint16_t>>& ranges) {
  if (std::find(list.begin(), list.end(), port) != list.end()) return true;
  for (const auto& [lo, hi] : ranges)
    if (port >= lo && port <= hi) return true;
  return false;
}

template <class T>
bool contains(const std::vector<T>& v, const T& x) {
  return std::find(v.begin(), v.end(), x) != v.end();
}

}  // namespace

RuleMatcher::~RuleMatcher() = default;
RuleMatcher::RuleMatcher(RuleMatcher&&) noexcept = default;
RuleMatcher& RuleMatcher::operator=(RuleMatcher&&) noexcept = default;

RuleMatcher::RuleMatcher(const config::RouteRule& in, const std::string& path, const RuleSets* sets) {
  invert_ = in.invert;
  if (in.type == "logical") {
    logical_ = true;
    and_ = in.mode != "or";
    for (std::size_t j = 0; j < in.rules.size(); ++j) {
      children_.emplace_back(in.rules[j], path + ".rules[" + std::to_string(j) + "]", sets);
      needs_process_ = needs_process_ || children_.back().needs_process();
    }
    return;
  }
  inbound_ = in.inbound;
  ip_version_ = in.ip_version;
  auth_user_ = in.auth_user;
  protocol_ = in.protocol;
  for (const auto& d : in.domain) domains_.add_domain(d);
  for (const auto& s : in.domain_suffix) domains_.add_suffix(s);
  for (const auto& k : in.domain_keyword) domains_.add_keyword(k);
  for (std::size_t j = 0; j < in.domain_regex.size(); ++j) {
    auto err = domains_.add_regex(in.domain_regex[j]);
    if (!err.empty()) throw std::invalid_argument(at(path, "domain_regex", j) + ": invalid regex: " + err);
  }
  ip_cidr_ = compile_cidrs(in.ip_cidr, in.ip_range, path, "ip_cidr");
  ip_is_private_ = in.ip_is_private;
  source_ip_cidr_ = compile_cidrs(in.source_ip_cidr, in.source_ip_range, path, "source_ip_cidr");
  source_ip_is_private_ = in.source_ip_is_private;
  port_ = in.port;
  port_range_ = compile_ranges(in.port_range, path, "port_range");
  source_port_ = in.source_port;
  source_port_range_ = compile_ranges(in.source_port_range, path, "source_port_range");
  process_name_ = in.process_name;
  process_path_ = in.process_path;
  for (std::size_t j = 0; j < in.process_path_regex.size(); ++j) {
    auto err = process_path_regex_.add_regex(in.process_path_regex[j]);
    if (!err.empty()) throw std::invalid_argument(at(path, "process_path_regex", j) + ": invalid regex: " + err);
  }
  user_ = in.user;
  user_id_ = in.user_id;
  needs_process_ = !process_name_.empty() || !process_path_.empty() || !process_path_regex_.empty() ||
                   !user_.empty() || !user_id_.empty();
  clash_mode_ = in.clash_mode;
  if (!in.network.empty()) {
    tcp_ = udp_ = false;
    for (std::size_t j = 0; j < in.network.size(); ++j) {
      if (in.network[j] == "tcp")
        tcp_ = true;
      else if (in.network[j] == "udp")
        udp_ = true;
      else
        throw std::invalid_argument(at(path, "network", j) + ": unknown network: " + in.network[j]);
    }
  }
  for (std::size_t j = 0; j < in.rule_set.size(); ++j) {
    const RuleSet* set = sets ? sets->find(in.rule_set[j]) : nullptr;
    if (!set) throw std::invalid_argument(at(path, "rule_set", j) + ": rule-set not found: " + in.rule_set[j]);
    rule_sets_.push_back(set);
    needs_process_ = needs_process_ || set->needs_process();
  }
  rule_set_source_ = in.rule_set_ip_cidr_match_source;
}

bool RuleMatcher::match(const outbound::Metadata& md, bool ip_cidr_is_source) const {
  bool result;
  if (logical_) {
    result = and_;
    for (const auto& c : children_) {
      if (c.match(md, ip_cidr_is_source) != and_) {
        result = !and_;
        break;
      }
    }
  } else {
    result = match_default(md, ip_cidr_is_source);
  }
  return result != invert_;
}

bool RuleMatcher::match_default(const outbound::Metadata& md, bool ip_cidr_is_source) const {
  if (!inbound_.empty() && !contains(inbound_, md.inbound)) return false;
  if (!clash_mode_.empty() && !clash_mode_is(clash_mode_)) return false;
  if (!(md.network == outbound::Network::tcp ? tcp_ : udp_)) return false;
  if (!auth_user_.empty() && (md.user.empty() || !contains(auth_user_, md.user))) return false;
  if (!protocol_.empty() && (md.protocol.empty() || !contains(protocol_, md.protocol))) return false;
  const auto dest_ip = md.destination.ip();
  if (ip_version_ != 0) {
    // The destination's family; for a name, the resolved or the source's.
    bool v4 = dest_ip ? unmap(*dest_ip).is_v4()
              : !md.destination_addresses.empty() ? unmap(md.destination_addresses.front()).is_v4()
                                                  : unmap(md.source.address()).is_v4();
    if ((ip_version_ == 4) != v4) return false;
  }
  if ((!port_.empty() || !port_range_.empty()) && !in_ports(md.destination.port, port_, port_range_)) return false;
  if ((!source_port_.empty() || !source_port_range_.empty()) &&
      !in_ports(md.source.port(), source_port_, source_port_range_))
    return false;

  // Source address group. A rule set's ip_cidr may count here instead.
  const bool cidr_is_source = ip_cidr_is_source && !ip_cidr_.empty();
  if (!source_ip_cidr_.empty() || source_ip_is_private_ || cidr_is_source) {
    const auto source = unmap(md.source.address());
    bool ok = (source_ip_is_private_ && is_private_address(source)) || source_ip_cidr_.contains(source) ||
              (cidr_is_source && ip_cidr_.contains(source));
    if (!ok) return false;
  }

  // Destination address group.
  const bool dest_ips = (!ip_cidr_.empty() && !ip_cidr_is_source) || ip_is_private_;
  if (dest_ips || !domains_.empty()) {
    bool ok = false;
    if (!domains_.empty()) {
      std::string host = normalize_domain(!md.domain.empty() ? std::string_view(md.domain)
                                          : dest_ip            ? std::string_view()
                                                               : std::string_view(md.destination.host));
      ok = domains_.matches(host);
    }
    if (!ok && dest_ips) {
      auto ip_ok = [&](const asio::ip::address& a) {
        return (ip_is_private_ && is_private_address(a)) || (!ip_cidr_is_source && ip_cidr_.contains(a));
      };
      if (dest_ip) {
        ok = ip_ok(*dest_ip);
      } else {
        for (const auto& a : md.destination_addresses)
          if (ip_ok(a)) {
            ok = true;
            break;
          }
      }
    }
    if (!ok) return false;
  }

  if (needs_process_ && (!process_name_.empty() || !process_path_.empty() || !process_path_regex_.empty() ||
                         !user_.empty() || !user_id_.empty())) {
    if (!md.process) return false;
    const auto& p = *md.process;
    if (!process_name_.empty() && !contains(process_name_, p.name)) return false;
    if (!process_path_.empty() && !contains(process_path_, p.path)) return false;
    if (!process_path_regex_.empty() && !process_path_regex_.matches(p.path)) return false;
    if (!user_.empty() && !contains(user_, p.user)) return false;
    if (!user_id_.empty() && !contains(user_id_, p.uid)) return false;
  }

  if (!rule_sets_.empty()) {
    bool any = false;
    for (const auto* set : rule_sets_)
      if (set->match(md, rule_set_source_)) {
        any = true;
        break;
      }
    if (!any) return false;
  }
  return true;
}

}  // namespace anytls::route
