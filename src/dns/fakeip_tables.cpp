#include "dns/fakeip_tables.hpp"

#include <vector>

namespace anytls::dns {

std::shared_ptr<FakeIpStore> FakeIpTables::table(std::string_view tag, std::string_view inet4_text,
                                                 std::optional<FakeIpRange> inet4, std::string_view inet6_text,
                                                 std::optional<FakeIpRange> inet6) {
  // "fakeip 198.18.0.0/15 fc00::/18": readable in the cache file.
  std::string key(tag);
  key.append(" ").append(inet4_text.empty() ? "-" : inet4_text);
  key.append(" ").append(inet6_text.empty() ? "-" : inet6_text);
  std::lock_guard lock(mu_);
  for (auto it = tables_.begin(); it != tables_.end();) {
    if (it->second.store.expired()) it = tables_.erase(it);
    else ++it;
  }
  if (auto it = tables_.find(key); it != tables_.end()) return it->second.store.lock();
  auto store = std::make_shared<FakeIpStore>(inet4, inet6);
  Entry entry;
  if (memory_) {
    if (auto state = memory_->load_fakeip(key); state && store->restore(*state)) entry.saved = store->generation();
  }
  entry.store = store;
  tables_.emplace(std::move(key), std::move(entry));
  return store;
}

std::size_t FakeIpTables::save_changed() {
  std::vector<std::pair<std::string, FakeIpStore::State>> changed;
  {
    std::lock_guard lock(mu_);
    if (!memory_) return 0;
    for (auto& [key, entry] : tables_) {
      auto store = entry.store.lock();
      if (!store) continue;
      const auto generation = store->generation();
      if (generation == entry.saved) continue;
      changed.emplace_back(key, store->snapshot());
      entry.saved = generation;
    }
  }
  for (auto& [key, state] : changed) memory_->save_fakeip(key, std::move(state));
  if (!changed.empty()) memory_->flush_fakeip();
  return changed.size();
}

}  // namespace anytls::dns
