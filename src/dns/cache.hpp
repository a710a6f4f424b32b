// The DNS answer cache: bounded twice, in entries (cache_capacity) and in
// bytes (cache_max_bytes), least recently used entries evicted until both
// hold; keyed by question (and the server's tag with independent_cache),
// entries live for the answer's smallest TTL on an injectable clock.
// Answers are kept as the wire bytes the server sent; a hit gets the
// asker's id and TTLs lowered by the time spent in the cache.
//
// The byte count of an entry (entry_bytes) is what it holds on the heap,
// estimated: the wire bytes, the key, the TTL offsets (4 bytes a record) and
// a fixed overhead for the list node and the hash map node. One answer may
// take at most an eighth of the byte bound; a larger one is not stored.
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
  // capacity: entries (at least 1); max_bytes: bytes (entry_bytes summed).
  // disable_expire: entries never expire (sing-box's disable_expire), TTLs
  // still count down to 0.
  Cache(std::size_t capacity, std::size_t max_bytes, bool disable_expire, net::Clock* clock);

  static std::string key(const Question& q, std::string_view server_tag);

  // A fresh copy of the cached answer with `id`, or nullopt.
  std::optional<std::vector<std::uint8_t>> get(const std::string& key, std::uint16_t id);
  // Stores an answer parse() accepted; answers without a TTL (no records)
  // or with TTL 0, and answers over max_bytes / 8, are not stored.
  void put(const std::string& key, std::vector<std::uint8_t> wire, const Message& parsed);
  // Forgets every answer (the Clash API's POST /cache/dns/flush).
  void clear();

  std::size_t size() const { return map_.size(); }
  std::size_t bytes() const { return bytes_; }
  std::size_t max_bytes() const { return max_bytes_; }
  std::uint64_t hits() const { return hits_; }
  std::uint64_t misses() const { return misses_; }
  std::uint64_t too_large() const { return too_large_; }

  // What one entry counts against max_bytes.
  static std::size_t entry_bytes(std::size_t key_size, std::size_t wire_size, std::size_t records);

 private:
  struct Entry {
    std::string key;
    std::vector<std::uint8_t> wire;
    std::vector<std::uint32_t> ttl_offsets;  // where each TTL (OPT excluded) sits in wire
    net::Clock::time_point stored;
    std::uint32_t ttl = 0;
    std::size_t bytes = 0;  // entry_bytes
  };
  using List = std::list<Entry>;

  void erase(std::unordered_map<std::string, List::iterator>::iterator it);

  std::size_t capacity_;
  std::size_t max_bytes_;
  bool disable_expire_;
  net::Clock* clock_;
  List lru_;  // most recently used first
  std::unordered_map<std::string, List::iterator> map_;
  std::size_t bytes_ = 0;
  std::uint64_t hits_ = 0, misses_ = 0, too_large_ = 0;
};

}  // namespace anytls::dns
