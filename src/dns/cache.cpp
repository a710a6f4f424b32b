#include "dns/cache.hpp"

#include <algorithm>
#include <cctype>

namespace anytls::dns {

Cache::Cache(std::size_t capacity, bool disable_expire, net::Clock* clock)
    : capacity_(std::max<std::size_t>(capacity, 1)), disable_expire_(disable_expire), clock_(clock) {}

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
    lru_.erase(it->second);
    map_.erase(it);
    ++misses_;
    return std::nullopt;
  }
  lru_.splice(lru_.begin(), lru_, it->second);
  ++hits_;
  std::vector<std::uint8_t> out = e.wire;
  set_id(out, id);
  patch_ttls(out, e.offsets, static_cast<std::uint32_t>(std::min<std::uint64_t>(secs, 0xffffffffu)));
  return out;
}

void Cache::put(const std::string& key, std::vector<std::uint8_t> wire, const Message& parsed) {
  auto ttl = min_ttl(parsed);
  if (!ttl || *ttl == 0) return;
  Entry e{key, std::move(wire), {}, net::clock_or_system(clock_).now(), *ttl};
  // Keep only what patch_ttls needs.
  for (const auto* section : {&parsed.answers, &parsed.authority, &parsed.additional})
    for (const auto& r : *section) {
      Record slim;
      slim.type = r.type;
      slim.ttl = r.ttl;
      slim.ttl_offset = r.ttl_offset;
      e.offsets.answers.push_back(std::move(slim));
    }
  if (auto it = map_.find(key); it != map_.end()) {
    lru_.erase(it->second);
    map_.erase(it);
  }
  while (map_.size() >= capacity_) {
    map_.erase(lru_.back().key);
    lru_.pop_back();
  }
  lru_.push_front(std::move(e));
  map_[key] = lru_.begin();
}

}  // namespace anytls::dns
