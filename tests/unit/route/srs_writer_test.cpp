// The .srs writer against the reader: fixtures decoded, written and read
// again; JSON sources compiled and read back; the JSON sing-box's decompile
// writes; matchers built from a written set.
#include <zlib.h>

#include <fstream>
#include <sstream>
#include <string>

#include <gtest/gtest.h>

#include "config/load.hpp"
#include "route/rule_set.hpp"
#include "route/rule_set_source.hpp"
#include "route/srs.hpp"
#include "route/srs_writer.hpp"
#include "srs_files.hpp"

namespace anytls::route {
namespace {

using test::data_file;
using test::decode;
using test::read_bytes;

std::string inflated(const std::string& file) {
  std::string out(64 << 20, '\0');
  uLongf size = out.size();
  EXPECT_EQ(uncompress(reinterpret_cast<Bytef*>(out.data()), &size,
                       reinterpret_cast<const Bytef*>(file.data() + 4), file.size() - 4),
            Z_OK);
  out.resize(size);
  return out;
}

srs::RuleSet compile(const std::string& json, std::uint8_t version) {
  return to_binary(config::parse_rule_set_source(json, "test.json"), version);
}

std::string json_of(std::uint8_t version, const std::vector<config::RouteRule>& rules) {
  std::ostringstream out;
  write_source_json(out, version, rules);
  return out.str();
}

std::vector<RuleMatcher> matchers(const srs::RuleSet& set) {
  std::vector<config::RouteRule> rules;
  for (auto r : set.rules) rules.push_back(from_srs(std::move(r)));
  return compile_rules(rules, "set.rules");
}

outbound::Metadata to(const std::string& host, std::uint16_t port = 0) {
  outbound::Metadata m;
  m.network = outbound::Network::tcp;
  m.destination = net::Address{host, port};
  return m;
}

bool any_match(const std::vector<RuleMatcher>& rules, const std::string& host) {
  for (const auto& r : rules)
    if (r.matches(to(host))) return true;
  return false;
}

TEST(SrsWriter, FixturesComeBackTheSame) {
  for (const char* name : {"sample.srs", "ipv6.srs"}) {
    SCOPED_TRACE(name);
    const std::string file = read_bytes(data_file(name));
    std::string error;
    auto set = decode(file, error);
    ASSERT_TRUE(set) << error;
    auto written = srs::encode(*set, error);
    ASSERT_TRUE(written) << error;
    EXPECT_EQ(written->substr(0, 4), file.substr(0, 4));  // "SRS" and the version
    auto again = decode(*written, error);
    ASSERT_TRUE(again) << error;
    EXPECT_EQ(again->version, set->version);
    EXPECT_TRUE(again->rules == set->rules);
  }
}

TEST(SrsWriter, StreamIsTheFixturesByteForByte) {
  // ipv6.srs: IP sets only, written exactly as they were.
  std::string error;
  const std::string v6 = read_bytes(data_file("ipv6.srs"));
  auto set = decode(v6, error);
  ASSERT_TRUE(set) << error;
  EXPECT_EQ(srs::encode_body(*set, error), inflated(v6));
  // sample.srs (make_srs.py) gives its trie the version byte 1 where
  // sing-box writes 0; every other byte is the same.
  const std::string sample = read_bytes(data_file("sample.srs"));
  set = decode(sample, error);
  ASSERT_TRUE(set) << error;
  auto body = srs::encode_body(*set, error);
  ASSERT_TRUE(body) << error;
  const std::string original = inflated(sample);
  ASSERT_EQ(body->size(), original.size());
  std::vector<std::size_t> differ;
  for (std::size_t i = 0; i < original.size(); ++i)
    if ((*body)[i] != original[i]) differ.push_back(i);
  ASSERT_EQ(differ.size(), 1u);
  EXPECT_EQ((*body)[differ[0]], '\0');
  EXPECT_EQ(original[differ[0]], '\1');
  EXPECT_EQ(original[differ[0] - 1], '\2');  // right after the domain item's type
}

TEST(SrsWriter, TrieAsSingBoxBuildsIt) {
  // Worked by hand from sing's newSuccinctSet: keys "a" and "b\n" (a suffix
  // at version 2); nodes root, 'a' (leaf), 'b', '\n' (leaf): leaves 0b1010;
  // label bitmap 0 0 1 | 1 | 0 1 | 1 = 0b1101100; labels "ab\n".
  srs::RuleSet set;
  set.version = 2;
  set.rules.resize(1);
  set.rules[0].domain = {"a"};
  set.rules[0].domain_suffix = {"b"};
  std::string error;
  auto body = srs::encode_body(set, error);
  ASSERT_TRUE(body) << error;
  const std::string expected = std::string("\x01\x00\x02\x00\x01", 5) + std::string(7, '\0') + "\x0a" + "\x01" +
                               std::string(7, '\0') + "\x6c" + "\x03" + "ab\n" + std::string("\xff\x00", 2);
  EXPECT_EQ(*body, expected);
}

TEST(SrsWriter, SourceCompilesAndReadsBack) {
  const std::string source = R"({"version": 3, "rules": [
    {"domain": ["b.example", "a.example"], "domain_suffix": [".sub.example", "suffix.example"],
     "domain_keyword": "kw", "domain_regex": ["^x[0-9]+\\."], "port": [443, 8443], "port_range": "1000:2000"},
    {"ip_cidr": ["10.128.0.0/9", "10.0.0.0/9", "1.2.3.4", "2001:db8::/32", "192.168.1.7/24"],
     "source_ip_cidr": "::ffff:1.2.3.4/128", "network": "udp", "invert": true},
    {"type": "logical", "mode": "or", "rules": [{"process_name": ["curl"]}, {"source_port": 53}], "invert": true}
  ]})";
  auto set = compile(source, srs::compile_version(3));
  EXPECT_EQ(set.version, 2);  // sing-box lowers 3 to 2 when no rule needs 3
  std::string error;
  auto bytes = srs::encode(set, error);
  ASSERT_TRUE(bytes) << error;
  auto back = decode(*bytes, error);
  ASSERT_TRUE(back) << error;
  EXPECT_EQ(back->version, 2);
  EXPECT_EQ(json_of(back->version, to_source(*back)),
            R"({
  "version": 2,
  "rules": [
    {
      "domain": [
        "a.example",
        "b.example"
      ],
      "domain_suffix": [
        ".sub.example",
        "suffix.example"
      ],
      "domain_keyword": "kw",
      "domain_regex": "^x[0-9]+\\.",
      "port": [
        443,
        8443
      ],
      "port_range": "1000:2000"
    },
    {
      "network": "udp",
      "source_ip_cidr": "::ffff:1.2.3.4/128",
      "ip_cidr": [
        "1.2.3.4/32",
        "10.0.0.0/8",
        "192.168.1.0/24",
        "2001:db8::/32"
      ],
      "invert": true
    },
    {
      "type": "logical",
      "mode": "or",
      "rules": [
        {
          "process_name": "curl"
        },
        {
          "source_port": 53
        }
      ],
      "invert": true
    }
  ]
}
)");
}

TEST(SrsWriter, MatchersOfAWrittenSetMatchTheSame) {
  const std::string file = read_bytes(data_file("sample.srs"));
  std::string error;
  auto set = decode(file, error);
  ASSERT_TRUE(set) << error;
  auto written = srs::encode(*set, error);
  ASSERT_TRUE(written) << error;
  auto again = decode(*written, error);
  ASSERT_TRUE(again) << error;
  const auto before = matchers(*set), after = matchers(*again);
  for (const char* host : {"exact.example", "x.exact.example", "suffix.example", "a.suffix.example", "sub.example",
                           "a.sub.example", "akwb.org", "re12.example", "10.1.2.3", "192.168.1.9", "192.168.2.9",
                           "2001:db8::1", "2001:db9::1", "other.org"}) {
    SCOPED_TRACE(host);
    ASSERT_EQ(after.size(), before.size());
    for (std::size_t i = 0; i < after.size(); ++i)
      for (std::uint16_t port : {0, 443, 1500})
        EXPECT_EQ(after[i].matches(to(host, port)), before[i].matches(to(host, port))) << i << " " << port;
  }
  // Rule 0 (names, ports) and rule 1 (IP ranges) as the fixture says.
  EXPECT_TRUE(after[0].matches(to("a.sub.example", 443)));
  EXPECT_FALSE(after[0].matches(to("sub.example", 443)));
  EXPECT_TRUE(after[0].matches(to("suffix.example", 1500)));
  EXPECT_FALSE(after[0].matches(to("suffix.example", 80)));
  EXPECT_TRUE(after[1].matches(to("2001:db8::1", 80)));
  EXPECT_FALSE(after[1].matches(to("2001:db9::1", 80)));
}

TEST(SrsWriter, VersionOneWritesSuffixesAsNameAndSubdomains) {
  auto set = compile(R"({"version": 1, "rules": [{"domain_suffix": ["a.com", ".b.com"], "domain": ["c.com"]}]})", 1);
  std::string error;
  auto bytes = srs::encode(set, error);
  ASSERT_TRUE(bytes) << error;
  auto back = decode(*bytes, error);
  ASSERT_TRUE(back) << error;
  EXPECT_EQ(back->version, 1);
  // As the trie holds it: "a.com" and ".a.com" ...
  EXPECT_EQ(back->rules.at(0).domain, (std::vector<std::string>{"a.com", "c.com"}));
  // ... and as decompile gives it back.
  auto source = to_source(*back);
  EXPECT_EQ(source.at(0).domain, std::vector<std::string>{"c.com"});
  EXPECT_EQ(source.at(0).domain_suffix, (std::vector<std::string>{".b.com", "a.com"}));
  const auto m = matchers(*back);
  EXPECT_TRUE(any_match(m, "a.com"));
  EXPECT_TRUE(any_match(m, "x.a.com"));
  EXPECT_FALSE(any_match(m, "xa.com"));
  EXPECT_FALSE(any_match(m, "b.com"));
}

TEST(SrsWriter, NamesAreReversedByCharacter) {
  EXPECT_EQ(srs::reverse_name("a.com"), "moc.a");
  EXPECT_EQ(srs::reverse_name("b\xc3\xbc" "cher.de"), "ed.rehc\xc3\xbc" "b");
  auto set = compile(R"({"version": 2, "rules": [{"domain": ["b\u00fccher.de"]}]})", 2);
  std::string error;
  auto body = srs::encode_body(set, error);
  ASSERT_TRUE(body) << error;
  EXPECT_NE(body->find("ed.rehc\xc3\xbc" "b"), std::string::npos);  // sing-box's key
  auto back = srs::decode_body(2, *body, error);
  ASSERT_TRUE(back) << error;
  EXPECT_EQ(back->rules.at(0).domain, std::vector<std::string>{"b\xc3\xbc" "cher.de"});
}

TEST(SrsWriter, RefusesWhatCannotBeReadBack) {
  std::string error;
  srs::RuleSet set;
  set.version = 2;
  set.rules.resize(2);
  set.rules[1].logical = true;
  set.rules[1].rules.resize(1);
  set.rules[1].rules[0].domain_suffix = {"ok.example", ""};
  EXPECT_FALSE(srs::encode(set, error));
  EXPECT_EQ(error, "rules[1].rules[0].domain_suffix[1]: empty name");
  set.rules[1].rules[0].domain_suffix = {std::string(254, 'a')};
  EXPECT_FALSE(srs::encode(set, error));
  EXPECT_EQ(error, "rules[1].rules[0].domain_suffix[0]: a name longer than 253 bytes");
  // The longest keys the reader takes are written: a 254-byte name, a
  // 253-byte suffix; at version 1 a suffix is also written as ".name".
  set.rules[1].rules[0].domain = {std::string(254, 'a')};
  set.rules[1].rules[0].domain_suffix = {std::string(253, 'b')};
  auto body = srs::encode_body(set, error);
  ASSERT_TRUE(body) << error;
  auto back = srs::decode_body(2, *body, error);
  ASSERT_TRUE(back) << error;
  EXPECT_TRUE(back->rules == set.rules);
  set.version = 1;
  EXPECT_FALSE(srs::encode(set, error));
  EXPECT_EQ(error, "rules[1].rules[0].domain_suffix[0]: a name longer than 252 bytes");
  set.rules[1].rules[0].domain.clear();
  set.version = 2;
  set.rules[1].rules[0].domain_suffix = {"a\nb"};
  EXPECT_FALSE(srs::encode(set, error));
  EXPECT_EQ(error, "rules[1].rules[0].domain_suffix[0]: a name with a line break");
  set.rules[1].rules[0].domain_suffix.clear();
  set.version = 4;
  EXPECT_FALSE(srs::encode(set, error));
  EXPECT_EQ(error, "unsupported rule-set version 4 (1 2 3)");
}

TEST(SrsWriter, SourceErrorsNameTheRule) {
  try {
    compile(R"({"version": 2, "rules": [{"domain": "a"}, {"clash_mode": "Rule"}]})", 2);
    FAIL() << "clash_mode compiled";
  } catch (const std::invalid_argument& e) {
    EXPECT_STREQ(e.what(), "rules[1].clash_mode: not a rule-set field");
  }
}

TEST(SrsWriter, RangesAsPrefixes) {
  std::vector<std::string> out;
  auto collect = [&out](const std::string& s) { out.push_back(s); };
  range_prefixes(config::IpRange{0x0a000001u, 0x0a000006u, true}, collect);
  EXPECT_EQ(out, (std::vector<std::string>{"10.0.0.1/32", "10.0.0.2/31", "10.0.0.4/31", "10.0.0.6/32"}));
  out.clear();
  range_prefixes(config::IpRange{0, ~static_cast<unsigned __int128>(0), false}, collect);
  EXPECT_EQ(out, std::vector<std::string>{"::/0"});
  out.clear();
  range_prefixes(config::IpRange{0, 0xffffffffu, true}, collect);
  EXPECT_EQ(out, std::vector<std::string>{"0.0.0.0/0"});
  const auto u = static_cast<unsigned __int128>(1);
  EXPECT_EQ(prefix_text((u << 112) | (u << 64), 64, false), "1:0:0:1::/64");
  EXPECT_EQ(prefix_text(u, 128, false), "::1/128");
  EXPECT_EQ(prefix_text((u << 112) | 1, 128, false), "1::1/128");
  EXPECT_EQ(prefix_text((static_cast<unsigned __int128>(0xffff) << 32) | 0x01020304, 128, false), "::ffff:1.2.3.4/128");
}

TEST(SrsWriter, DescribesRulesAsSingBoxPrints) {
  auto rules = config::parse_rule_set_source(R"({"version": 2, "rules": [
    {"domain": ["a", "b", "c", "d"], "domain_suffix": "s", "port": [1, 2], "invert": true},
    {"type": "logical", "mode": "and", "rules": [{"domain_regex": ["1", "2", "3", "4"]}, {"ip_cidr": "10.0.0.0/8"}]}
  ]})", "t.json");
  EXPECT_EQ(describe(rules[0], false), "!(domain=[a b c...] domain_suffix=s port=[1 2])");
  EXPECT_EQ(describe(rules[1], false), "domain_regex=[1 2 3] && ip_cidr=10.0.0.0/8");
  auto binary = to_source(compile(R"({"version": 2, "rules": [{"domain": "a", "ip_cidr": "1.0.0.0/8"}]})", 2));
  EXPECT_EQ(describe(binary[0], true), "domain/domain_suffix=<binary> ip_cidr=<binary>");
}

}  // namespace
}  // namespace anytls::route
