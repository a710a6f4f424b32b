// A counter written by one thread (its object's worker) and read by others
// (a scrape, a test): relaxed atomic loads and stores, no read-modify-write,
// so an increment costs what a plain one does.
#pragma once
#include <atomic>
#include <cstdint>

namespace anytls::net {

class RelaxedCounter {
 public:
  RelaxedCounter() = default;
  RelaxedCounter(std::uint64_t v) : v_(v) {}
  RelaxedCounter(const RelaxedCounter& o) : v_(o.load()) {}
  RelaxedCounter& operator=(const RelaxedCounter& o) {
    store(o.load());
    return *this;
  }
  operator std::uint64_t() const { return load(); }
  // Only by the writing thread.
  RelaxedCounter& operator++() {
    store(load() + 1);
    return *this;
  }
  RelaxedCounter& operator+=(std::uint64_t n) {
    store(load() + n);
    return *this;
  }

 private:
  std::uint64_t load() const { return v_.load(std::memory_order_relaxed); }
  void store(std::uint64_t v) { v_.store(v, std::memory_order_relaxed); }
  std::atomic<std::uint64_t> v_{0};
};

}  // namespace anytls::net
