// The DNS answer cache: bounded (least recently used entry evicted), keyed
// by question (and the server's tag with independent_cache), entries live
// for the answer's smallest TTL on an injectable clock. Answers are kept as
// the wire bytes the server sent; a hit gets the asker's id and TTLs lowered
// by the time spent in the cache.
#pragma once
#include <cstddef>
#include <cstdint>
#include <list>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "dns/message.hpp"
#include "net/clock.hpp"

namespace anytls::dns {

class Cache {
 public:
  // capacity: entries (at least 1). disable_expire: entries never expire
  // (sing-box's disable_expire), TTLs still count down to 0.
  Cache(std::size_t capacity, bool disable_expire, net::Clock* clock);

  static std::string key(const Question& q, std::string_view server_tag);

  // A fresh copy of the cached answer with `id`, or nullopt.
  std::optional<std::vector<std::uint8_t>> get(const std::string& key, std::uint16_t id);
  // Stores an answer parse() accepted; answers without a TTL (no records)
  // or with TTL 0 are not stored.
  void put(const std::string& key, std::vector<std::uint8_t> wire, const Message& parsed);

  std::size_t size() const { return map_.size(); }
  std::uint64_t hits() const { return hits_; }
  std::uint64_t misses() const { return misses_; }

 private:
  struct Entry {
    std::string key;
    std::vector<std::uint8_t> wire;
    Message offsets;  // parsed records (only TTL offsets and values are used)
    net::Clock::time_point stored;
    std::uint32_t ttl = 0;
  };
  using List = std::list<Entry>;

  std::size_t capacity_;
  bool disable_expire_;
  net::Clock* clock_;
  List lru_;  // most recently used first
  std::unordered_map<std::string, List::iterator> map_;
  std::uint64_t hits_ = 0, misses_ = 0;
};

}  // namespace anytls::dns
