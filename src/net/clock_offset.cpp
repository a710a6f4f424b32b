#include "net/clock_offset.hpp"

#include <atomic>
#include <cstdint>
#include <limits>

namespace anytls::net {

namespace {
// INT64_MIN stands for "not measured": no real offset is 292 years.
constexpr std::int64_t kNone = std::numeric_limits<std::int64_t>::min();
std::atomic<std::int64_t> g_offset_ns{kNone};
}  // namespace

void set_clock_offset(std::chrono::nanoseconds offset) {
  std::int64_t v = offset.count();
  if (v == kNone) ++v;
  g_offset_ns.store(v, std::memory_order_relaxed);
}

void clear_clock_offset() { g_offset_ns.store(kNone, std::memory_order_relaxed); }

std::optional<std::chrono::nanoseconds> clock_offset() {
  std::int64_t v = g_offset_ns.load(std::memory_order_relaxed);
  if (v == kNone) return std::nullopt;
  return std::chrono::nanoseconds(v);
}

std::chrono::system_clock::time_point corrected_now() {
  auto now = std::chrono::system_clock::now();
  if (auto off = clock_offset()) now += std::chrono::duration_cast<std::chrono::system_clock::duration>(*off);
  return now;
}

}  // namespace anytls::net
