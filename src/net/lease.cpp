#include "net/lease.hpp"

#include <atomic>

namespace anytls::net {

namespace {

// Enough for the connections of one worker that move bytes in the same
// instant; more are freed, so a burst does not pin memory for good.
constexpr std::size_t kKeep = 8;

// Taken and given back once per wait, not per byte: a relaxed counter.
std::atomic<std::size_t> g_outstanding{0};

// Trivially destructible, so it is still usable while the thread's other
// thread_locals are destroyed (a lease given back then is freed).
struct FreeList {
  std::byte* bufs[kKeep];
  std::size_t n;
  bool exiting;
};
thread_local FreeList t_free{};

// Frees the list when the thread ends; registered on first use.
struct Drain {
  Drain() = default;
  ~Drain() {
    while (t_free.n > 0) delete[] t_free.bufs[--t_free.n];
    t_free.exiting = true;
  }
};

void ensure_drained_at_exit() {
  thread_local Drain drain;
  (void)drain;
}

}  // namespace

void Lease::acquire() {
  if (p_) return;
  g_outstanding.fetch_add(1, std::memory_order_relaxed);
  if (t_free.n > 0) {
    p_ = t_free.bufs[--t_free.n];
    return;
  }
  ensure_drained_at_exit();
  // Not value-initialised: only the pages that bytes are written to count.
  p_ = new std::byte[kSize];
}

void Lease::reset() {
  if (!p_) return;
  g_outstanding.fetch_sub(1, std::memory_order_relaxed);
  if (t_free.n < kKeep && !t_free.exiting) {
    ensure_drained_at_exit();  // a thread that only gives back
    t_free.bufs[t_free.n++] = p_;
  } else
    delete[] p_;
  p_ = nullptr;
}

std::size_t Lease::free_on_this_thread() { return t_free.n; }
std::size_t Lease::outstanding() { return g_outstanding.load(std::memory_order_relaxed); }

}  // namespace anytls::net
