// .srs rule-set decoding over arbitrary bytes: never crashes, stays within
// its bounds, and what decodes is self-consistent and is written back by
// the .srs writer into a stream that decodes again. Seeded with
// tests/unit/route/data/sample.srs (written by make_srs.py) and the hostile
// chain.srs and ipv6.srs (make_hostile_srs.py). Each decode gets a 32 MiB
// budget, and the ctest run limits memory (-rss_limit_mb, -malloc_limit_mb):
// an input that makes the decoder allocate past its budget fails the run.
#include "fuzz_check.hpp"
#include "route/srs.hpp"
#include "route/srs_writer.hpp"

using namespace anytls;

namespace {

constexpr std::size_t kBudget = 32u << 20;

void check(const srs::Rule& r, int depth) {
  FUZZ_CHECK(depth <= srs::kMaxDepth + 1);
  if (r.logical) {
    for (const auto& sub : r.rules) check(sub, depth + 1);
    return;
  }
  FUZZ_CHECK(r.rules.empty());
  for (const auto* list : {&r.ip_cidr, &r.source_ip_cidr})
    for (const auto& c : *list) FUZZ_CHECK(c.first <= c.last && (!c.v4 || c.last <= 0xffffffffu));
  for (const auto& d : r.domain) FUZZ_CHECK(!d.empty() && d.size() <= srs::kMaxKey);
  for (const auto& d : r.domain_suffix) FUZZ_CHECK(!d.empty() && d.size() < srs::kMaxKey);
}

bool has_line_break(const srs::Rule& r) {
  for (const auto& sub : r.rules)
    if (has_line_break(sub)) return true;
  for (const auto* list : {&r.domain, &r.domain_suffix})
    for (const auto& d : *list)
      if (d.find_first_of("\r\n") != std::string::npos) return true;
  return false;
}

void check_set(const std::optional<srs::RuleSet>& set, const std::string& error) {
  if (!set) {
    FUZZ_CHECK(!error.empty());
    return;
  }
  FUZZ_CHECK(set->decoded_bytes <= kBudget);
  for (const auto& r : set->rules) check(r, 0);
  // What decodes writes back (srs_writer.hpp), unless a name holds one of
  // the trie's markers or, at version 1, a suffix is too long to be written
  // also as ".name"; and what is written decodes again (version 1 may write
  // a suffix twice).
  bool marker = false;
  for (const auto& r : set->rules) marker = marker || has_line_break(r);
  std::string write_error;
  auto body = srs::encode_body(*set, write_error);
  if (!body) {
    FUZZ_CHECK(marker || set->version == 1);
    return;
  }
  std::string again_error;
  auto again = srs::decode_body(set->version, *body, again_error, 4 * kBudget);
  FUZZ_CHECK(again.has_value());
  FUZZ_CHECK(again->rules.size() == set->rules.size());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  // The whole file (magic, version, zlib)...
  std::string error;
  auto set = srs::decode(std::span<const std::uint8_t>(data, size), error, kBudget);
  if (set) FUZZ_CHECK(set->version >= 1 && set->version <= 3);
  check_set(set, error);
  // ...and the bytes as an inflated rule stream (seed: sample.body).
  std::string body_error;
  auto body = srs::decode_body(2, std::string_view(reinterpret_cast<const char*>(data), size), body_error, kBudget);
  check_set(body, body_error);
  return 0;
}
