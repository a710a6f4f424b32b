// Rule sets against hostile input: the memory a set may decode into (per
// set and per process), domain keys no longer than a DNS name, IP ranges
// kept as ranges. The .srs files are real bytes from data/make_hostile_srs.py.
#include <sys/resource.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

#include <gtest/gtest.h>

#include "route/rule_set.hpp"
#include "route/srs.hpp"
#include "srs_files.hpp"

namespace anytls::route {
namespace {

using test::data_file;
using test::decode;
using test::read_bytes;

long peak_rss_kib() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return ru.ru_maxrss;
}

// ---- a rule stream built here (srs.hpp's layout) -------------------------------

std::string uvarint(std::uint64_t v) {
  std::string out;
  while (v >= 0x80) {
    out += static_cast<char>((v & 0x7F) | 0x80);
    v >>= 7;
  }
  out += static_cast<char>(v);
  return out;
}

std::string words(const std::vector<bool>& bits) {
  std::vector<std::uint64_t> w((bits.size() + 63) / 64);
  for (std::size_t i = 0; i < bits.size(); ++i)
    if (bits[i]) w[i >> 6] |= std::uint64_t{1} << (i & 63);
  std::string out = uvarint(w.size());
  for (auto x : w)
    for (int b = 7; b >= 0; --b) out += static_cast<char>((x >> (8 * b)) & 0xFF);
  return out;
}

// One rule whose trie is a chain of n labels 'a' under the root; the nodes
// at the depths in `leaves` end a key.
std::string chain_body(std::size_t n, const std::vector<std::size_t>& leaf_depths) {
  std::vector<bool> leaves(n + 1), bitmap;
  for (auto d : leaf_depths) leaves[d] = true;
  for (std::size_t k = 0; k < n; ++k) {
    bitmap.push_back(false);
    bitmap.push_back(true);
  }
  bitmap.push_back(true);
  std::string trie = std::string(1, '\x01') + words(leaves) + words(bitmap) + uvarint(n) + std::string(n, 'a');
  return uvarint(1) + std::string(1, '\0') + std::string(1, '\x02') + trie + "\xff" + std::string(1, '\0');
}

// ---- .srs ------------------------------------------------------------------------

TEST(SrsLimits, ChainTrieIsRefusedAtOnce) {
  // 142 bytes; spelled out leaf by leaf, 65535 keys of 1..65535 bytes (2 GiB).
  const auto bytes = read_bytes(data_file("chain.srs"));
  ASSERT_EQ(bytes.size(), 142u);
  std::string error;
  const long before = peak_rss_kib();
  EXPECT_FALSE(decode(bytes, error));
  EXPECT_EQ(error, "rules[0]: bad domain trie: a name longer than 253 bytes");
  EXPECT_LT(peak_rss_kib() - before, 64 * 1024);
}

TEST(SrsLimits, KeysUpToADnsNameLong) {
  // 253 bytes of name and the marker... (here: a plain domain of 254 bytes
  // is the longest key the trie may hold; one more is refused).
  std::string error;
  auto ok = srs::decode_body(2, chain_body(254, {3, 254}), error);
  ASSERT_TRUE(ok) << error;
  ASSERT_EQ(ok->rules.at(0).domain.size(), 2u);
  EXPECT_EQ(ok->rules[0].domain[0], "aaa");
  EXPECT_EQ(ok->rules[0].domain[1], std::string(254, 'a'));
  EXPECT_FALSE(srs::decode_body(2, chain_body(255, {3}), error));
  EXPECT_EQ(error, "rules[0]: bad domain trie: a name longer than 253 bytes");
}

TEST(SrsLimits, WideTrieIsRefusedBeforeItsKeysAreMade) {
  // 17 KB: 4.8 million names of 234 bytes, each a valid length.
  const auto bytes = read_bytes(data_file("broom.srs"));
  std::string error;
  const long before = peak_rss_kib();
  EXPECT_FALSE(decode(bytes, error));
  EXPECT_EQ(error, "rules[0]: rule set needs at least 1237 MiB decoded, over the 256 MiB bound");
  // What it costs to say no: the inflated trie (10 MB) and its index (20 MB).
  EXPECT_LT(peak_rss_kib() - before, 128 * 1024);
}

TEST(SrsLimits, Ipv6RangesStayRanges) {
  // 2.5 KB: 25000 ranges of 254 prefixes each when written as CIDRs.
  const auto bytes = read_bytes(data_file("ipv6.srs"));
  std::string error;
  auto set = decode(bytes, error);
  ASSERT_TRUE(set) << error;
  ASSERT_EQ(set->rules.at(0).ip_cidr.size(), 25000u);
  EXPECT_LE(set->decoded_bytes, 25000 * sizeof(srs::IpRange) + sizeof(srs::Rule));
  // Matched as the one range it is.
  const std::string dir = ::testing::TempDir() + "/srs-limits-" + std::to_string(::getpid());
  std::filesystem::create_directories(dir);
  config::RuleSetOptions o;
  o.type = "local";
  o.tag = "v6";
  o.format = "binary";
  o.path = data_file("ipv6.srs");
  RuleSetBudget budget;
  RuleSets sets({o}, dir, budget);
  EXPECT_EQ(budget.used(), set->decoded_bytes);
  outbound::Metadata m;
  m.destination = net::Address{"::2", 443};
  EXPECT_TRUE(sets.find("v6")->match(m, false));
  m.destination = net::Address{"ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe", 443};
  EXPECT_TRUE(sets.find("v6")->match(m, false));
  m.destination = net::Address{"::", 443};
  EXPECT_FALSE(sets.find("v6")->match(m, false));
  std::filesystem::remove_all(dir);
}

TEST(SrsLimits, EverythingCountsAgainstTheBudget) {
  const auto bytes = read_bytes(data_file("sample.srs"));
  std::string error;
  auto set = decode(bytes, error);
  ASSERT_TRUE(set) << error;
  EXPECT_GT(set->decoded_bytes, 0u);
  // The inflated stream alone is over 100 bytes.
  EXPECT_FALSE(decode(bytes, error, 100));
  EXPECT_EQ(error, "rule set needs at least 1 KiB decoded, over the 1 KiB bound");
  // Room for the stream, not for the rules.
  EXPECT_FALSE(decode(bytes, error, 400));
  EXPECT_NE(error.find("over the 1 KiB bound"), std::string::npos) << error;
}

// ---- per set and per process -------------------------------------------------

struct TempDir {
  std::string path = ::testing::TempDir() + "/rule-set-limits-" + std::to_string(::getpid());
  TempDir() { std::filesystem::create_directories(path); }
  ~TempDir() { std::filesystem::remove_all(path); }
  std::string write(const std::string& name, const std::string& content) const {
    std::ofstream(path + "/" + name, std::ios::binary) << content;
    return path + "/" + name;
  }
};

// A source-format set of n suffixes "nameNNNNNN.example".
std::string json_set(std::size_t n) {
  std::string s = R"({"version": 2, "rules": [{"domain_suffix": [)";
  for (std::size_t i = 0; i < n; ++i) s += (i ? ",\"name" : "\"name") + std::to_string(1000000 + i) + ".example\"";
  return s + "]}]}";
}

config::RuleSetOptions local(const std::string& tag, const std::string& path, const std::string& format) {
  config::RuleSetOptions o;
  o.type = "local";
  o.tag = tag;
  o.path = path;
  o.format = format;
  return o;
}

std::string load_error(const std::vector<config::RuleSetOptions>& sets, const std::string& dir, RuleSetBudget& budget) {
  try {
    RuleSets loaded(sets, dir, budget);
  } catch (const std::invalid_argument& e) {
    return e.what();
  }
  return "loaded";
}

TEST(RuleSetLimits, JsonSetOverItsBoundIsRefused) {
  TempDir dir;
  // 10000 suffixes of 19 bytes: (19 + 32) * 10000 + the rule decoded, and
  // more than twice that as a parsed document: refused before it is built.
  const auto path = dir.write("big.json", json_set(10000));
  RuleSetBudget small(256 * 1024, 1 << 30);
  EXPECT_EQ(load_error({local("big", path, "source")}, dir.path, small),
            "route.rule_set[0] (" + path + "): rule set needs 1134 KiB as a parsed JSON document, over the 256 KiB bound");
  EXPECT_EQ(small.used(), 0u);
  // Not even parsed when the file is over its own bound.
  RuleSetBudget file_bound(1 << 20, 1 << 30, 64 * 1024);
  EXPECT_EQ(load_error({local("big", path, "source")}, dir.path, file_bound),
            "route.rule_set[0] (" + path + "): rule-set file of 215 KiB, over the 64 KiB bound for a file");
  RuleSetBudget enough(2 << 20, 1 << 30);
  RuleSets sets({local("big", path, "source")}, dir.path, enough);
  EXPECT_EQ(enough.used(), 10000 * (19 + srs::kStringOverhead) + sizeof(srs::Rule));
  EXPECT_EQ(sets.find("big")->charged(), enough.used());
}

TEST(RuleSetLimits, JsonDocumentIsBoundedBeforeItIsBuilt) {
  // 4 MB of one-letter names: a parsed document of about 80 MB (20x).
  TempDir dir;
  std::string text = R"({"version": 2, "rules": [{"domain": ["a")";
  text.reserve(4 << 20);
  for (int i = 1; i < 1000000; ++i) text += ",\"a\"";
  text += "]}]}";
  const auto path = dir.write("tiny.json", text);
  std::string().swap(text);
  RuleSetBudget budget(16 << 20, 1 << 30);
  const long before = peak_rss_kib();
  EXPECT_EQ(load_error({local("tiny", path, "source")}, dir.path, budget),
            "route.rule_set[0] (" + path + "): rule set needs 77 MiB as a parsed JSON document, over the 16 MiB bound");
  EXPECT_LT(peak_rss_kib() - before, 16 * 1024);  // the text, not the document
}

TEST(RuleSetLimits, ProcessTotalRefusesTheSetThatWouldGoOver) {
  TempDir dir;
  const auto a = dir.write("a.json", json_set(10000));  // 499 KiB each
  const auto b = dir.write("b.srs", read_bytes(data_file("ipv6.srs")));  // 1.2 MB
  RuleSetBudget budget(4 << 20, 1 << 20);
  EXPECT_EQ(load_error({local("a", a, "source"), local("v6", b, "binary")}, dir.path, budget),
            "route.rule_set[1] (" + b + "): rule set \"v6\" needs 1173 KiB decoded, the loaded rule sets hold 499 KiB "
            "of the 1 MiB bound for all of them");
  EXPECT_EQ(budget.used(), 0u);  // the first set was given back with the RuleSets that failed
  {
    RuleSets one({local("a", a, "source")}, dir.path, budget);
    EXPECT_GT(budget.used(), 0u);
    // Another RuleSets of the same process (a reload) shares the total.
    const auto error = load_error({local("a2", a, "source"), local("a3", a, "source")}, dir.path, budget);
    EXPECT_NE(error.find(
                  "rule set \"a3\" needs 499 KiB decoded, the loaded rule sets hold 997 KiB of the 1 MiB bound"),
              std::string::npos)
        << error;
  }
  EXPECT_EQ(budget.used(), 0u);
}

// A measurement, not a check: loads the set in $ANYTLS_RULE_SET (format
// from its extension) and prints the peak RSS before and after, e.g.
//   ANYTLS_RULE_SET=big.json route_test --gtest_also_run_disabled_tests
//     --gtest_filter='*MeasureLoad'
TEST(RuleSetLimits, DISABLED_MeasureLoad) {
  const char* path = std::getenv("ANYTLS_RULE_SET");
  ASSERT_NE(path, nullptr);
  const std::string file(path);
  const std::string format = file.size() > 4 && file.substr(file.size() - 4) == ".srs" ? "binary" : "source";
  TempDir dir;
  const long before = peak_rss_kib();
  RuleSetBudget budget;
  RuleSets sets({local("m", file, format)}, dir.path, budget);
  std::printf("file %zu bytes: peak RSS %ld -> %ld KiB (+%ld KiB), charged %zu KiB\n",
              static_cast<std::size_t>(std::filesystem::file_size(file)), before, peak_rss_kib(),
              peak_rss_kib() - before, budget.used() / 1024);
}

}  // namespace
}  // namespace anytls::route
