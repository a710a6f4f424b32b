// The fakeip tables of a running process, one per fakeip server. They
// outlive a reload, so a connection to an address handed out before it
// still goes by its name, and, given a memory
// (experimental.cache_file.store_fakeip), a restart.
#pragma once
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

#include "dns/fakeip.hpp"

namespace anytls::dns {

// Where tables are kept between runs (app/cache_file). Keys name a server
// and its ranges, so a table is never read back into other ranges.
class FakeIpMemory {
 public:
  virtual ~FakeIpMemory() = default;
  virtual std::optional<FakeIpStore::State> load_fakeip(std::string_view key) const = 0;
  virtual void save_fakeip(std::string_view key, FakeIpStore::State state) = 0;
  // After a round of save_fakeip(): write them out.
  virtual void flush_fakeip() = 0;
};

class FakeIpTables {
 public:
  // Set before the first table(); must outlive this. Null: memory only.
  void set_memory(FakeIpMemory* memory) { memory_ = memory; }

  // The table of fakeip server `tag` with these ranges (their config text
  // and parsed form): the one an earlier config built while it is still in
  // use and its ranges are the same, else a new one, restored from the
  // memory when it holds one.
  std::shared_ptr<FakeIpStore> table(std::string_view tag, std::string_view inet4_text,
                                     std::optional<FakeIpRange> inet4, std::string_view inet6_text,
                                     std::optional<FakeIpRange> inet6);
  // Hands every table that changed since it was last saved to the memory;
  // how many. Call on the thread that calls table().
  std::size_t save_changed();

 private:
  struct Entry {
    std::weak_ptr<FakeIpStore> store;
    std::uint64_t saved = 0;  // the generation the memory holds
  };
  std::mutex mu_;
  std::map<std::string, Entry, std::less<>> tables_;
  FakeIpMemory* memory_ = nullptr;
};

}  // namespace anytls::dns
