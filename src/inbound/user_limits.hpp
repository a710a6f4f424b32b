// The per-user limits of an anytls inbound (max_sessions_per_user,
// max_streams_per_user) counted for the whole inbound: its shards on every
// worker (inbound/sharded.hpp) share one UserLimits. Taken once per session
// and per stream, never per byte.
#pragma once
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

namespace anytls::inbound {

class UserLimits {
 public:
  explicit UserLimits(std::size_t users)
      : sessions_(std::make_unique<std::atomic<std::uint32_t>[]>(users)),
        streams_(std::make_unique<std::atomic<std::uint32_t>[]>(users)) {}

  // One more session / stream for user i unless `limit` are open already.
  bool try_open_session(std::size_t i, std::uint32_t limit) { return try_take(sessions_[i], limit); }
  void close_session(std::size_t i) { sessions_[i].fetch_sub(1, std::memory_order_relaxed); }
  bool try_open_stream(std::size_t i, std::uint32_t limit) { return try_take(streams_[i], limit); }
  void close_stream(std::size_t i) { streams_[i].fetch_sub(1, std::memory_order_relaxed); }

 private:
  static bool try_take(std::atomic<std::uint32_t>& n, std::uint32_t limit) {
    auto cur = n.load(std::memory_order_relaxed);
    do {
      if (cur >= limit) return false;
    } while (!n.compare_exchange_weak(cur, cur + 1, std::memory_order_relaxed));
    return true;
  }
  std::unique_ptr<std::atomic<std::uint32_t>[]> sessions_;
  std::unique_ptr<std::atomic<std::uint32_t>[]> streams_;
};

}  // namespace anytls::inbound
