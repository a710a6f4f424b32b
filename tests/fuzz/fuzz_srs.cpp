// .srs rule-set decoding over arbitrary bytes: never crashes, stays within
// its bounds, and what decodes is self-consistent. Seeded with
// tests/unit/route/data/sample.srs (written by make_srs.py).
#include "fuzz_check.hpp"
#include "route/srs.hpp"

using namespace anytls;

namespace {

void check(const srs::Rule& r, int depth) {
  FUZZ_CHECK(depth <= srs::kMaxDepth + 1);
  if (r.logical) {
    for (const auto& sub : r.rules) check(sub, depth + 1);
    return;
  }
  FUZZ_CHECK(r.rules.empty());
  for (const auto& c : r.ip_cidr) FUZZ_CHECK(c.find('/') != std::string::npos);
  for (const auto& c : r.source_ip_cidr) FUZZ_CHECK(c.find('/') != std::string::npos);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string error;
  auto set = srs::decode(std::span<const std::uint8_t>(data, size), error);
  if (!set) {
    FUZZ_CHECK(!error.empty());
    return 0;
  }
  FUZZ_CHECK(set->version >= 1 && set->version <= 3);
  for (const auto& r : set->rules) check(r, 0);
  return 0;
}
