#include "route/rule_matcher.hpp"

#include "route/clash_mode.hpp"

#include <algorithm>
#include <array>
#include <cctype>
#include <charconv>
#include <stdexcept>

namespace anytls::route {

namespace {

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

RuleMatcher::RuleMatcher(const config::RouteRule& in, const std::string& path) {
  inbound_ = in.inbound;
  for (const auto& d : in.domain) domain_.push_back(normalize_domain(d));
  for (const auto& s : in.domain_suffix) {
    bool sub = !s.empty() && s.front() == '.';
    auto v = normalize_domain(sub ? std::string_view(s).substr(1) : std::string_view(s));
    domain_suffix_.push_back(Suffix{std::move(v), sub});
  }
  for (const auto& k : in.domain_keyword) domain_keyword_.push_back(normalize_domain(k));
  for (std::size_t j = 0; j < in.ip_cidr.size(); ++j) {
    auto p = Prefix::parse(in.ip_cidr[j]);
    if (!p)
      throw std::invalid_argument(path + ".ip_cidr[" + std::to_string(j) + "]: invalid prefix: " + in.ip_cidr[j]);
    ip_cidr_.push_back(*p);
  }
  port_ = in.port;
  clash_mode_ = in.clash_mode;
  if (!in.network.empty()) {
    tcp_ = udp_ = false;
    for (std::size_t j = 0; j < in.network.size(); ++j) {
      if (in.network[j] == "tcp")
        tcp_ = true;
      else if (in.network[j] == "udp")
        udp_ = true;
      else
        throw std::invalid_argument(path + ".network[" + std::to_string(j) + "]: unknown network: " +
                                    in.network[j]);
    }
  }
}

bool RuleMatcher::matches(const outbound::Metadata& md) const {
  if (!clash_mode_.empty() && !clash_mode_is(clash_mode_)) return false;
  if (!inbound_.empty() && std::find(inbound_.begin(), inbound_.end(), md.inbound) == inbound_.end())
    return false;
  if (!(md.network == outbound::Network::tcp ? tcp_ : udp_)) return false;
  if (!port_.empty() && std::find(port_.begin(), port_.end(), md.destination.port) == port_.end())
    return false;

  const bool has_address_matchers =
      !domain_.empty() || !domain_suffix_.empty() || !domain_keyword_.empty() || !ip_cidr_.empty();
  if (!has_address_matchers) return true;
  if (auto ip = md.destination.ip()) {
    for (const auto& p : ip_cidr_)
      if (p.contains(*ip)) return true;
    return false;
  }
  const std::string host = normalize_domain(md.destination.host);
  if (host.empty()) return false;
  for (const auto& d : domain_)
    if (host == d) return true;
  for (const auto& s : domain_suffix_) {
    if (s.value.empty()) continue;
    if (!s.subdomains_only && host == s.value) return true;
    if (host.size() > s.value.size() && ends_with(host, s.value) &&
        host[host.size() - s.value.size() - 1] == '.')
      return true;
  }
  for (const auto& k : domain_keyword_)
    if (host.find(k) != std::string::npos) return true;
  return false;
}

}  // namespace anytls::route
