// A set of IP prefixes for matching, as sorted disjoint ranges searched by
// binary search: what a prefix tree gives (longest-prefix is not needed,
// only membership) in a fraction of the memory, O(log n) per lookup. Go's
// netipx.IPSet, which sing-box matches with, is built the same way.
#pragma once
#include <cstdint>
#include <utility>
#include <vector>

#include <asio/ip/address.hpp>

namespace anytls::route {

struct Prefix;

class IpSet {
 public:
  void add(const Prefix& p);
  // [first, last], inclusive (v4: 32-bit values); a v6 range inside
  // ::ffff:0:0/96 is stored as the IPv4 range it maps.
  void add_range(unsigned __int128 first, unsigned __int128 last, bool v4);
  // Sorts and merges; call once after the last add().
  void build();
  bool contains(const asio::ip::address& a) const;  // IPv4-mapped IPv6 as IPv4
  bool empty() const { return v4_.empty() && v6_.empty(); }
  std::size_t ranges() const { return v4_.size() + v6_.size(); }

 private:
  using U128 = unsigned __int128;
  std::vector<std::pair<std::uint32_t, std::uint32_t>> v4_;  // inclusive
  std::vector<std::pair<U128, U128>> v6_;
};

}  // namespace anytls::route
