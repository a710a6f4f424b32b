#include "route/ip_set.hpp"

#include <algorithm>

#include "route/rule_matcher.hpp"

namespace anytls::route {

namespace {

template <class T>
void merge(std::vector<std::pair<T, T>>& v) {
  std::sort(v.begin(), v.end());
  std::vector<std::pair<T, T>> out;
  for (const auto& r : v) {
    // Adjacent ranges merge too (hi + 1 == lo), unless hi is the maximum.
    if (!out.empty() && (r.first <= out.back().second || r.first - 1 == out.back().second)) {
      out.back().second = std::max(out.back().second, r.second);
    } else {
      out.push_back(r);
    }
  }
  v = std::move(out);
}

template <class T>
bool find(const std::vector<std::pair<T, T>>& v, T x) {
  // First range starting after x; the one before it is the candidate.
  auto it = std::upper_bound(v.begin(), v.end(), x, [](T value, const std::pair<T, T>& r) { return value < r.first; });
  if (it == v.begin()) return false;
  --it;
  return x <= it->second;
}

unsigned __int128 to_u128(const asio::ip::address_v6::bytes_type& b) {
  unsigned __int128 x = 0;
  for (auto c : b) x = (x << 8) | c;
  return x;
}

}  // namespace

void IpSet::add(const Prefix& p) {
  auto a = p.network;
  if (a.is_v6() && a.to_v6().is_v4_mapped()) {
    a = asio::ip::make_address_v4(asio::ip::v4_mapped, a.to_v6());
    unsigned bits = p.bits >= 96 ? p.bits - 96 : 0;
    return add(Prefix{a, bits});
  }
  if (a.is_v4()) {
    std::uint32_t x = a.to_v4().to_uint();
    std::uint32_t host = p.bits >= 32 ? 0 : (p.bits == 0 ? 0xffffffffu : (0xffffffffu >> p.bits));
    v4_.emplace_back(x & ~host, (x & ~host) | host);
  } else {
    U128 x = to_u128(a.to_v6().to_bytes());
    U128 all = ~U128(0);
    U128 host = p.bits >= 128 ? 0 : (p.bits == 0 ? all : (all >> p.bits));
    v6_.emplace_back(x & ~host, (x & ~host) | host);
  }
}

void IpSet::add_range(U128 first, U128 last, bool v4) {
  if (first > last) return;
  constexpr U128 kMapped = U128(0xffff) << 32;
  if (!v4 && (first >> 32) == 0xffff && (last >> 32) == 0xffff) {
    first -= kMapped;
    last -= kMapped;
    v4 = true;
  }
  if (v4) {
    if (last > 0xffffffffu) return;
    v4_.emplace_back(static_cast<std::uint32_t>(first), static_cast<std::uint32_t>(last));
  } else {
    v6_.emplace_back(first, last);
  }
}

void IpSet::build() {
  merge(v4_);
  merge(v6_);
}

bool IpSet::contains(const asio::ip::address& raw) const {
  if (raw.is_v4()) return find(v4_, raw.to_v4().to_uint());
  auto v6 = raw.to_v6();
  if (v6.is_v4_mapped()) return find(v4_, asio::ip::make_address_v4(asio::ip::v4_mapped, v6).to_uint());
  return find(v6_, to_u128(v6.to_bytes()));
}

}  // namespace anytls::route
