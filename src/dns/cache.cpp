#include "dns/cache.hpp"

#include <algorithm>
#include <cctype>

namespace anytls::dns {

namespace {
// The list node (two pointers + Entry) and the hash map node (next pointer,
// cached hash, key string, iterator) plus the allocator's headers of those
// and of the three heap blocks (key, wire, offsets), as counted on glibc.
constexpr std::size_t kEntryOverhead = 256;
}  // namespace

Cache::Cache(std::size_t capacity, std::size_t max_bytes, bool disable_expire, net::Clock* clock)
    : capacity_(std::max<std::size_t>(capacity, 1)), max_bytes_(max_bytes), disable_expire_(disable_expire),
      clock_(clock) {}

std::size_t Cache::entry_bytes(std::size_t key_size, std::size_t wire_size, std::size_t records) {
  // The key is held twice (entry and map); short keys live inside the string.
  return kEntryOverhead + 2 * key_size + wire_size + 4 * records;
}

std::string Cache::key(const Question& q, std::string_view server_tag) {
  std::string k;
  k.reserve(q.name.size() + server_tag.size() + 16);
  for (char c : q.name) k += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  while (!k.empty() && k.back() == '.') k.pop_back();
  k += '\0' + std::to_string(q.type) + '/' + std::to_string(q.klass);
  if (!server_tag.empty()) {
    k += '\0';
    k += server_tag;
  }
  return k;
}

void Cache::erase(std::unordered_map<std::string, List::iterator>::iterator it) {
  bytes_ -= it->second->bytes;
  lru_.erase(it->second);
  map_.erase(it);
}

void Cache::clear() {
  map_.clear();
  lru_.clear();
  bytes_ = 0;
}

std::optional<std::vector<std::uint8_t>> Cache::get(const std::string& key, std::uint16_t id) {
  auto it = map_.find(key);
  if (it == map_.end()) {
    ++misses_;
    return std::nullopt;
  }
  Entry& e = *it->second;
  auto age = net::clock_or_system(clock_).now() - e.stored;
  auto secs = static_cast<std::uint64_t>(std::max<std::int64_t>(0, std::chrono::duration_cast<std::chrono::seconds>(age).count()));
  if (!disable_expire_ && secs >= e.ttl) {
    erase(it);
    ++misses_;
    return std::nullopt;
  }
  lru_.splice(lru_.begin(), lru_, it->second);
  ++hits_;
  std::vector<std::uint8_t> out = e.wire;
  set_id(out, id);
  const auto elapsed = static_cast<std::uint32_t>(std::min<std::uint64_t>(secs, 0xffffffffu));
  for (std::uint32_t off : e.ttl_offsets) {
    if (off + 4 > out.size()) continue;
    std::uint32_t ttl = 0;
    for (int i = 0; i < 4; ++i) ttl = ttl << 8 | out[off + static_cast<std::size_t>(i)];
    ttl = ttl > elapsed ? ttl - elapsed : 0;
    for (int i = 0; i < 4; ++i) out[off + static_cast<std::size_t>(i)] = static_cast<std::uint8_t>(ttl >> (24 - 8 * i));
  }
  return out;
}

void Cache::put(const std::string& key, std::vector<std::uint8_t> wire, const Message& parsed) {
  auto ttl = min_ttl(parsed);
  if (!ttl || *ttl == 0) return;
  std::size_t records = 0;
  for (const auto* section : {&parsed.answers, &parsed.authority, &parsed.additional})
    for (const auto& r : *section) records += r.type != type::opt;
  const std::size_t bytes = entry_bytes(key.size(), wire.size(), records);
  // An older answer to the question goes either way.
  if (auto it = map_.find(key); it != map_.end()) erase(it);
  if (bytes > max_bytes_ / 8) {
    ++too_large_;
    return;
  }
  Entry e{key, std::move(wire), {}, net::clock_or_system(clock_).now(), *ttl, bytes};
  e.wire.shrink_to_fit();
  e.ttl_offsets.reserve(records);
  for (const auto* section : {&parsed.answers, &parsed.authority, &parsed.additional})
    for (const auto& r : *section)
      if (r.type != type::opt) e.ttl_offsets.push_back(static_cast<std::uint32_t>(r.ttl_offset));
  while (!lru_.empty() && (map_.size() >= capacity_ || bytes_ + bytes > max_bytes_))
    erase(map_.find(lru_.back().key));
  lru_.push_front(std::move(e));
  map_[key] = lru_.begin();
  bytes_ += bytes;
}

}  // namespace anytls::dns
