// experimental.cache_file: what the user chose, kept across restarts:
// selector members (outbound/group.hpp's SelectionStore) and the Clash mode;
// with store_fakeip, the fakeip tables (dns/fakeip_tables.hpp).
//
// Format: a small JSON document, not sing-box's bbolt database. It holds a
// handful of short strings, is rewritten whole on each change (a click in a
// dashboard, not a data path), and a person can read and fix it:
//
//   {"anytls_cache_file": 1,
//    "caches": {"": {"selected": {"select": "server-b"}, "clash_mode": "Rule",
//                    "fakeip": {"fakeip 198.18.0.0/15 -": {"inet4": {"next": 1, "names": ["a.com"]}}}}}}
//
// The fakeip tables (up to 65,536 names per family) are written by the
// box every few seconds while they change, and at stop.
//
// "caches" is keyed by cache_id, so several configs can share a file.
// Crash-safe: written to "<path>.tmp", fsync'd, renamed over <path>, and the
// directory fsync'd; a crash leaves the old or the new file, never half of
// one. A file that is not ours (e.g. sing-box's cache.db) is left untouched:
// an error is logged and nothing is stored.
#pragma once
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "config/options.hpp"
#include "dns/fakeip_tables.hpp"
#include "outbound/group.hpp"

namespace anytls::app {

class CacheFile final : public outbound::SelectionStore, public dns::FakeIpMemory {
 public:
  explicit CacheFile(config::CacheFileOptions options);

  // Reads the file (missing: empty). An error text when it cannot be used;
  // the cache then keeps choices in memory only.
  std::string open();

  std::optional<std::string> load_selected(std::string_view group) const override;
  void save_selected(std::string_view group, std::string_view member) override;
  std::optional<std::string> load_mode() const;
  void save_mode(std::string_view mode);

  // dns::FakeIpMemory
  std::optional<dns::FakeIpStore::State> load_fakeip(std::string_view key) const override;
  void save_fakeip(std::string_view key, dns::FakeIpStore::State state) override;
  void flush_fakeip() override { write(); }

  const std::string& path() const { return options_.path; }
  // Last write error (empty: none).
  const std::string& write_error() const { return write_error_; }

 private:
  struct Entry {
    std::map<std::string, std::string, std::less<>> selected;
    std::string clash_mode;
    std::map<std::string, dns::FakeIpStore::State, std::less<>> fakeip;
  };
  void write();

  config::CacheFileOptions options_;
  // Every cache_id's entry, so writing ours keeps the others.
  std::map<std::string, Entry, std::less<>> caches_;
  bool writable_ = true;
  std::string write_error_;
};

}  // namespace anytls::app
