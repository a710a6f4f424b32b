#include "route/rule_router.hpp"

#include <algorithm>
#include <array>
#include <cctype>
#include <charconv>
#include <stdexcept>

namespace anytls::route {

namespace {

std::string normalize_domain(std::string_view s) {
  std::string out(s);
  for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  while (!out.empty() && out.back() == '.') out.pop_back();
  return out;
}

bool ends_with(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

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

bool RuleRouter::Prefix::contains(const asio::ip::address& raw) const {
  auto a = unmap(raw);
  if (network.is_v4() != a.is_v4()) return false;
  if (a.is_v4()) return prefix_equal(network.to_v4().to_bytes(), a.to_v4().to_bytes(), bits);
  return prefix_equal(network.to_v6().to_bytes(), a.to_v6().to_bytes(), bits);
}

std::optional<RuleRouter::Prefix> RuleRouter::parse_prefix(std::string_view text) {
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
    Rule r;
    r.inbound = in.inbound;
    for (const auto& d : in.domain) r.domain.push_back(normalize_domain(d));
    for (const auto& s : in.domain_suffix) {
      bool sub = !s.empty() && s.front() == '.';
      auto v = normalize_domain(sub ? std::string_view(s).substr(1) : std::string_view(s));
      r.domain_suffix.push_back(Suffix{std::move(v), sub});
    }
    for (const auto& k : in.domain_keyword) r.domain_keyword.push_back(normalize_domain(k));
    for (std::size_t j = 0; j < in.ip_cidr.size(); ++j) {
      auto p = parse_prefix(in.ip_cidr[j]);
      if (!p)
        throw std::invalid_argument(path + ".ip_cidr[" + std::to_string(j) + "]: invalid prefix: " + in.ip_cidr[j]);
      r.ip_cidr.push_back(*p);
    }
    r.port = in.port;
    if (!in.network.empty()) {
      r.tcp = r.udp = false;
      for (std::size_t j = 0; j < in.network.size(); ++j) {
        if (in.network[j] == "tcp")
          r.tcp = true;
        else if (in.network[j] == "udp")
          r.udp = true;
        else
          throw std::invalid_argument(path + ".network[" + std::to_string(j) + "]: unknown network: " +
                                      in.network[j]);
      }
    }
    if (in.action == config::RuleAction::reject)
      r.decision = Decision{nullptr, true};
    else
      r.decision = Decision{find(path + ".outbound", in.outbound), false};
    rules_.push_back(std::move(r));
  }
  if (!options.final.empty())
    final_ = Decision{find("route.final", options.final), false};
  else
    final_ = Decision{find("route.final (the first outbound)", first_outbound_tag), false};
}

bool RuleRouter::matches(const Rule& r, const outbound::Metadata& md, const std::string& host,
                         const std::optional<asio::ip::address>& ip) {
  if (!r.inbound.empty() && std::find(r.inbound.begin(), r.inbound.end(), md.inbound) == r.inbound.end())
    return false;
  if (!(md.network == outbound::Network::tcp ? r.tcp : r.udp)) return false;
  if (!r.port.empty() && std::find(r.port.begin(), r.port.end(), md.destination.port) == r.port.end())
    return false;

  const bool has_address_matchers =
      !r.domain.empty() || !r.domain_suffix.empty() || !r.domain_keyword.empty() || !r.ip_cidr.empty();
  if (!has_address_matchers) return true;
  if (ip) {
    for (const auto& p : r.ip_cidr)
      if (p.contains(*ip)) return true;
    return false;
  }
  if (host.empty()) return false;
  for (const auto& d : r.domain)
    if (host == d) return true;
  for (const auto& s : r.domain_suffix) {
    if (s.value.empty()) continue;
    if (!s.subdomains_only && host == s.value) return true;
    if (host.size() > s.value.size() && ends_with(host, s.value) &&
        host[host.size() - s.value.size() - 1] == '.')
      return true;
  }
  for (const auto& k : r.domain_keyword)
    if (host.find(k) != std::string::npos) return true;
  return false;
}

std::optional<std::size_t> RuleRouter::match(const outbound::Metadata& md) const {
  auto ip = md.destination.ip();
  std::string host = ip ? std::string() : normalize_domain(md.destination.host);
  for (std::size_t i = 0; i < rules_.size(); ++i)
    if (matches(rules_[i], md, host, ip)) return i;
  return std::nullopt;
}

Decision RuleRouter::decide(const outbound::Metadata& md) {
  if (auto i = match(md)) return rules_[*i].decision;
  return final_;
}

}  // namespace anytls::route
