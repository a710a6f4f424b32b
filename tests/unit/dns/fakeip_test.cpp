// The fakeip table alone: the order addresses are handed out in, the
// bound, what wrapping forgets, and the ranges it accepts; how a table is
// kept across a reload and, through the cache file, a restart.
#include <filesystem>
#include <map>

#include <unistd.h>

#include <gtest/gtest.h>

#include "app/cache_file.hpp"
#include "dns/fakeip.hpp"
#include "dns/fakeip_tables.hpp"

namespace anytls::dns {
namespace {

asio::ip::address ip(const char* text) { return asio::ip::make_address(text); }

TEST(FakeIpStore, HandsOutInOrderAndKeepsANamesAddress) {
  FakeIpStore store(parse_fakeip_range("198.18.0.0/15"), parse_fakeip_range("fc00::/18"));
  EXPECT_EQ(store.create("a.test", false), ip("198.18.0.2"));
  EXPECT_EQ(store.create("b.test", false), ip("198.18.0.3"));
  EXPECT_EQ(store.create("a.test", false), ip("198.18.0.2"));
  EXPECT_EQ(store.create("a.test", true), ip("fc00::2"));
  EXPECT_EQ(store.lookup(ip("198.18.0.3")), "b.test");
  EXPECT_EQ(store.lookup(ip("fc00::2")), "a.test");
  EXPECT_TRUE(store.contains(ip("198.19.255.1")));
  EXPECT_FALSE(store.contains(ip("198.20.0.1")));
  EXPECT_EQ(store.lookup(ip("198.18.0.9")), std::nullopt);  // in the range, never handed out
  EXPECT_EQ(store.lookup(ip("198.18.0.1")), std::nullopt);
  store.reset();
  EXPECT_EQ(store.size(), 0u);
  EXPECT_EQ(store.lookup(ip("198.18.0.2")), std::nullopt);
  EXPECT_EQ(store.create("c.test", false), ip("198.18.0.2"));
}

TEST(FakeIpStore, BoundedWrappingForgetsTheOldest) {
  // A /29: base + 2 .. base + 6 (the broadcast address is never handed out).
  FakeIpStore small(parse_fakeip_range("10.0.0.0/29"), std::nullopt);
  for (int i = 0; i < 5; ++i) EXPECT_EQ(small.create("n" + std::to_string(i), false), ip(("10.0.0." + std::to_string(i + 2)).c_str()));
  EXPECT_EQ(small.create("n5", false), ip("10.0.0.2"));  // wrapped
  EXPECT_EQ(small.lookup(ip("10.0.0.2")), "n5");
  EXPECT_EQ(small.create("n0", false), ip("10.0.0.3"));  // n0 was forgotten: a new address
  EXPECT_EQ(small.size(), 5u);
  EXPECT_EQ(small.create("v6", true), std::nullopt);     // no IPv6 range
  // A huge range holds at most max_entries names.
  FakeIpStore capped(std::nullopt, parse_fakeip_range("fc00::/18"), 3);
  for (int i = 0; i < 10; ++i) (void)capped.create("h" + std::to_string(i), true);
  EXPECT_EQ(capped.size(), 3u);
  EXPECT_EQ(capped.lookup(ip("fc00::2")), "h9");
}

TEST(FakeIpStore, Ranges) {
  auto r = parse_fakeip_range("198.18.1.7/15");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->base, ip("198.18.0.0"));
  EXPECT_FALSE(parse_fakeip_range("198.18.0.0"));
  EXPECT_FALSE(parse_fakeip_range("198.18.0.0/31"));
  EXPECT_FALSE(parse_fakeip_range("nope/8"));
  EXPECT_FALSE(parse_fakeip_range("10.0.0.0/x"));
  EXPECT_TRUE(parse_fakeip_range("fc00::/126"));
}

TEST(FakeIpStore, SnapshotRestoresIntoTheSameRangesOnly) {
  FakeIpStore store(parse_fakeip_range("10.0.0.0/29"), parse_fakeip_range("fc00::/120"));
  for (int i = 0; i < 6; ++i) (void)store.create("n" + std::to_string(i), false);  // wraps once
  (void)store.create("six.test", true);
  const auto generation = store.generation();
  auto state = store.snapshot();
  EXPECT_EQ(store.generation(), generation);  // a snapshot changes nothing

  FakeIpStore again(parse_fakeip_range("10.0.0.0/29"), parse_fakeip_range("fc00::/120"));
  ASSERT_TRUE(again.restore(state));
  EXPECT_EQ(again.lookup(ip("10.0.0.2")), "n5");
  EXPECT_EQ(again.lookup(ip("10.0.0.3")), "n1");
  EXPECT_EQ(again.lookup(ip("fc00::2")), "six.test");
  EXPECT_EQ(again.create("n5", false), ip("10.0.0.2"));  // known names keep their address
  EXPECT_EQ(again.create("new", false), ip("10.0.0.3"));  // and the order goes on where it was

  // Into a smaller range, or a store without that family: refused, unchanged.
  FakeIpStore smaller(parse_fakeip_range("10.0.0.0/30"), parse_fakeip_range("fc00::/120"));
  EXPECT_FALSE(smaller.restore(state));
  EXPECT_EQ(smaller.size(), 0u);
  FakeIpStore v4_only(parse_fakeip_range("10.0.0.0/29"), std::nullopt);
  EXPECT_FALSE(v4_only.restore(state));
  // A name twice (a hand-edited file) is held once.
  FakeIpStore::State twice;
  twice.inet4.names = {"dup", "dup"};
  FakeIpStore t(parse_fakeip_range("10.0.0.0/29"), std::nullopt);
  ASSERT_TRUE(t.restore(twice));
  EXPECT_EQ(t.size(), 1u);
}

// A memory in a map, counting the writes.
class MapMemory final : public FakeIpMemory {
 public:
  std::optional<FakeIpStore::State> load_fakeip(std::string_view key) const override {
    auto it = states.find(std::string(key));
    if (it == states.end()) return std::nullopt;
    return it->second;
  }
  void save_fakeip(std::string_view key, FakeIpStore::State state) override { states[std::string(key)] = std::move(state); }
  void flush_fakeip() override { ++flushes; }
  std::map<std::string, FakeIpStore::State> states;
  int flushes = 0;
};

TEST(FakeIpTables, AReloadKeepsTheTableAndARestartReadsItBack) {
  const auto r4 = parse_fakeip_range("198.18.0.0/15");
  MapMemory memory;
  auto tables = std::make_shared<FakeIpTables>();
  tables->set_memory(&memory);
  auto first = tables->table("fakeip", "198.18.0.0/15", r4, "", std::nullopt);
  EXPECT_EQ(first->create("a.test", false), ip("198.18.0.2"));
  // A reload with the same server and ranges: the same table.
  auto reloaded = tables->table("fakeip", "198.18.0.0/15", r4, "", std::nullopt);
  EXPECT_EQ(reloaded, first);
  // Other ranges: another table.
  auto other = tables->table("fakeip", "10.0.0.0/8", parse_fakeip_range("10.0.0.0/8"), "", std::nullopt);
  EXPECT_NE(other, first);
  EXPECT_EQ(other->lookup(ip("10.0.0.2")), std::nullopt);

  EXPECT_EQ(tables->save_changed(), 1u);  // only the one that changed
  EXPECT_EQ(memory.flushes, 1);
  EXPECT_EQ(tables->save_changed(), 0u);  // nothing new
  EXPECT_EQ(memory.flushes, 1);
  EXPECT_EQ(reloaded->create("b.test", false), ip("198.18.0.3"));
  EXPECT_EQ(tables->save_changed(), 1u);

  // A restart: new tables over the same memory.
  first.reset();
  reloaded.reset();
  auto restarted = std::make_shared<FakeIpTables>();
  restarted->set_memory(&memory);
  auto back = restarted->table("fakeip", "198.18.0.0/15", r4, "", std::nullopt);
  EXPECT_EQ(back->lookup(ip("198.18.0.3")), "b.test");
  EXPECT_EQ(restarted->save_changed(), 0u);  // read back, not changed
}

TEST(FakeIpTables, SurviveARestartThroughTheCacheFile) {
  auto dir = std::filesystem::temp_directory_path() / ("anytls-fakeip-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  config::CacheFileOptions co;
  co.enabled = true;
  co.store_fakeip = true;
  co.path = (dir / "cache.db").string();
  std::filesystem::remove(co.path);
  const auto r4 = parse_fakeip_range("198.18.0.0/15");
  const auto r6 = parse_fakeip_range("fc00::/18");
  {
    app::CacheFile cache(co);
    ASSERT_EQ(cache.open(), "");
    cache.save_selected("select", "b");
    FakeIpTables tables;
    tables.set_memory(&cache);
    auto t = tables.table("fakeip", "198.18.0.0/15", r4, "fc00::/18", r6);
    (void)t->create("a.test", false);
    (void)t->create("b.test", false);
    (void)t->create("b.test", true);
    EXPECT_EQ(tables.save_changed(), 1u);
  }
  app::CacheFile cache(co);
  ASSERT_EQ(cache.open(), "");
  EXPECT_EQ(cache.load_selected("select"), "b");  // the rest of the file is kept
  FakeIpTables tables;
  tables.set_memory(&cache);
  auto t = tables.table("fakeip", "198.18.0.0/15", r4, "fc00::/18", r6);
  EXPECT_EQ(t->lookup(ip("198.18.0.3")), "b.test");
  EXPECT_EQ(t->lookup(ip("fc00::2")), "b.test");
  EXPECT_EQ(t->create("c.test", false), ip("198.18.0.4"));
  // The same file under another server tag or range: not read back.
  auto elsewhere = tables.table("fake2", "198.18.0.0/15", r4, "fc00::/18", r6);
  EXPECT_EQ(elsewhere->size(), 0u);
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace anytls::dns
