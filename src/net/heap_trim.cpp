#include "net/heap_trim.hpp"

#include <atomic>
#include <chrono>
#include <mutex>
#include <optional>

#include <malloc.h>

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/steady_timer.hpp>
#include <asio/use_awaitable.hpp>

namespace anytls::net {

namespace {

using Steady = std::chrono::steady_clock;

std::mutex g_mu;  // guards g_ex (set and cleared by the HeapTrim)
std::optional<asio::any_io_executor> g_ex;
std::atomic<std::size_t> g_pending{0};  // bytes noted since the last trim
std::atomic<Steady::rep> g_last{0};    // time of the newest one
std::atomic<bool> g_armed{false};      // a quiet_then_trim is running
Steady::time_point g_last_trim{};      // only quiet_then_trim touches it
std::atomic<unsigned> g_trims{0};

// Runs on the HeapTrim's executor; refers to nothing but the globals, so
// the io_context may drop it unfinished at shutdown.
asio::awaitable<void> quiet_then_trim(asio::any_io_executor ex) {
  asio::steady_timer timer(ex);
  for (;;) {
    const auto last = Steady::time_point(Steady::duration(g_last.load(std::memory_order_relaxed)));
    auto due = std::max(last + HeapTrim::kQuiet, g_last_trim + HeapTrim::kMinInterval);
    if (Steady::now() >= due) break;
    timer.expires_at(due);
    auto [ec] = co_await timer.async_wait(asio::experimental::as_tuple(asio::use_awaitable));
    if (ec) co_return;
  }
  g_armed.store(false);
  if (g_pending.exchange(0) >= HeapTrim::kBurstBytes) {
    malloc_trim(0);
    g_last_trim = Steady::now();
    g_trims.fetch_add(1, std::memory_order_relaxed);
  }
}

}  // namespace

HeapTrim::HeapTrim(asio::any_io_executor ex) {
  std::lock_guard lock(g_mu);
  g_ex = std::move(ex);
}

HeapTrim::~HeapTrim() {
  std::lock_guard lock(g_mu);
  g_ex.reset();
}

void HeapTrim::note_freed(std::size_t bytes) {
  g_pending.fetch_add(bytes, std::memory_order_relaxed);
  g_last.store(Steady::now().time_since_epoch().count(), std::memory_order_relaxed);
  if (g_armed.exchange(true)) return;
  std::lock_guard lock(g_mu);
  if (!g_ex) {
    g_armed.store(false);
    return;
  }
  asio::co_spawn(*g_ex, quiet_then_trim(*g_ex), asio::detached);
}

unsigned HeapTrim::trims() { return g_trims.load(std::memory_order_relaxed); }

void HeapTrim::tune_allocator() {
  mallopt(M_TRIM_THRESHOLD, static_cast<int>(kTrimThreshold));
  mallopt(M_MMAP_THRESHOLD, static_cast<int>(kMmapThreshold));
}

}  // namespace anytls::net
