// The fakeip table: a DNS server of type fakeip answers each name with an
// address of its own range (inet4_range / inet6_range), and a connection
// to such an address is sent on by that name (inbound/dispatch).
//
// Addresses are handed out in order from the range's base + 2, as sing-box
// does, and wrap around to it; a name asked again keeps its address. The
// table is bounded: at most kMaxEntries names per family (the range's size
// when smaller), so wrapping takes back the address handed out longest ago
// and forgets its old name. A connection to an address the table does not
// hold is refused, never dialled.
//
// Shared: the DNS module writes it on its thread, the dispatch of every
// worker reads it; one mutex, held for a map lookup.
#pragma once
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include <asio/ip/address.hpp>

namespace anytls::dns {

// An address range: "198.18.0.0/15", "fc00::/18".
struct FakeIpRange {
  asio::ip::address base;  // the prefix with its host bits cleared
  unsigned bits = 0;
  bool contains(const asio::ip::address& a) const;
};

// "198.18.0.0/15" -> the range; nullopt when not a prefix, or when it has
// fewer than 4 addresses (nothing to hand out between base + 1 and the
// broadcast address).
std::optional<FakeIpRange> parse_fakeip_range(std::string_view text);

class FakeIpStore {
 public:
  static constexpr std::size_t kMaxEntries = 65536;

  // What a table holds, to keep it across restarts
  // (experimental.cache_file.store_fakeip): per family, the slot handed out
  // next and each slot's name ("" = free), slot k being base + 2 + k.
  struct State {
    struct Family {
      std::size_t next = 0;
      std::vector<std::string> names;
    };
    Family inet4, inet6;
  };

  FakeIpStore(std::optional<FakeIpRange> inet4, std::optional<FakeIpRange> inet6,
              std::size_t max_entries = kMaxEntries);

  // The address for name (lower-case, no trailing dot); nullopt when this
  // store has no range of that family.
  std::optional<asio::ip::address> create(std::string_view name, bool v6);
  // Whether a lies in one of the ranges (fake, whether or not it is held).
  bool contains(const asio::ip::address& a) const;
  // The name a was handed out for; nullopt when not held.
  std::optional<std::string> lookup(const asio::ip::address& a) const;
  // Forgets every name (the Clash API's /cache/fakeip/flush).
  void reset();
  std::size_t size() const;

  State snapshot() const;
  // Takes a snapshot back; false (and nothing changed) when it does not fit
  // this store's ranges (the config changed since it was taken).
  bool restore(const State& state);
  // Changes with every name handed out and every reset: whether a
  // snapshot taken earlier is stale.
  std::uint64_t generation() const;

 private:
  struct Family {
    std::optional<FakeIpRange> range;
    std::size_t capacity = 0;  // addresses that can be handed out
    std::size_t next = 0;      // slot of the next address
    std::vector<std::string> names;  // slot -> name ("" = free)
    std::unordered_map<std::string, std::size_t> slots;  // name -> slot
  };
  static asio::ip::address address_of(const Family& f, std::size_t slot);
  static std::optional<std::size_t> slot_of(const Family& f, const asio::ip::address& a);

  mutable std::mutex mu_;
  Family v4_, v6_;
  std::uint64_t generation_ = 0;
};

}  // namespace anytls::dns
