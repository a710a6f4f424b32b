// Running coroutine tests: a deadline so that a hang fails instead of
// blocking, and a check that every coroutine has finished afterwards (so
// sessions and streams are all gone before the sanitizers look for leaks).
#pragma once
#include <chrono>
#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <vector>

#include <asio/awaitable.hpp>
#include <asio/io_context.hpp>
#include <gtest/gtest.h>

#include "net/signal.hpp"

namespace anytls::test {

// Runs `body` on io until it finishes (an exception is a test failure), or
// fails the test when `deadline` passes. Then runs io until it runs out of
// work, and fails the test if that takes longer than `drain` (a coroutine
// that never ends: a session or timer left behind).
void run_test(asio::io_context& io, asio::awaitable<void> body,
              std::chrono::milliseconds deadline = std::chrono::seconds(30),
              std::chrono::milliseconds drain = std::chrono::seconds(5));

// TEST(suite, name) that runs a coroutine on a fresh io_context with
// run_test: CORO_TEST(Suite, Name, body()) or (..., body(), deadline).
#define CORO_TEST(suite, name, ...) \
  TEST(suite, name) {               \
    ::asio::io_context io;          \
    ::anytls::test::run_test(io, __VA_ARGS__); \
  }
// The same for a body on virtual time: body_fn(&clock), a fresh
// net::VirtualClock.
#define CLOCK_TEST(suite, name, body_fn)                \
  TEST(suite, name) {                                   \
    ::anytls::net::VirtualClock clock;                  \
    ::asio::io_context io;                              \
    ::anytls::test::run_test(io, body_fn(&clock));      \
  }

// Fatal check inside a coroutine: ASSERT_* cannot `return` from one.
#define CO_ASSERT_TRUE(cond)                                    \
  do {                                                          \
    if (!(cond)) {                                              \
      ADD_FAILURE() << "CO_ASSERT_TRUE(" #cond ") failed";      \
      throw std::runtime_error("assertion failed: " #cond);    \
    }                                                           \
  } while (0)

// A level-triggered flag that coroutines on one executor can wait for.
class Flag {
 public:
  explicit Flag(const asio::any_io_executor& ex) : sig_(ex) {}
  void set() {
    set_ = true;
    sig_.notify_all();
  }
  bool is_set() const { return set_; }
  asio::awaitable<void> wait() {
    while (!set_) co_await sig_.wait();
  }

 private:
  bool set_ = false;
  net::Signal sig_;
};

// A counter coroutines can wait on until it reaches a value.
class Counter {
 public:
  explicit Counter(const asio::any_io_executor& ex) : sig_(ex) {}
  void add(std::uint64_t n = 1) {
    value_ += n;
    sig_.notify_all();
  }
  std::uint64_t value() const { return value_; }
  asio::awaitable<void> wait_for(std::uint64_t v) {
    while (value_ < v) co_await sig_.wait();
  }

 private:
  std::uint64_t value_ = 0;
  net::Signal sig_;
};

// Waits for d on the current executor (a timeout, never a synchronisation).
asio::awaitable<void> delay(std::chrono::milliseconds d);

// Lets every handler that is ready now (e.g. timers a VirtualClock has just
// fired, and what they trigger in turn) run before continuing. No real time
// passes; with a virtual clock this is how a test "waits" deterministically.
asio::awaitable<void> settle(int rounds = 16);

// Deterministic data: byte i of stream `seed` (cheap, not periodic at any
// power of two so misplaced chunks are detected).
inline std::uint8_t pattern_byte(std::uint64_t seed, std::uint64_t i) {
  std::uint64_t x = (i + 1) * 0x9E3779B97F4A7C15ull ^ (seed * 0xD1B54A32D192ED03ull);
  x ^= x >> 29;
  return static_cast<std::uint8_t>(x ^ (x >> 17));
}
void fill_pattern(std::uint64_t seed, std::uint64_t offset, std::span<std::uint8_t> out);
// Index of the first byte of `in` that differs from the pattern, or -1.
std::int64_t check_pattern(std::uint64_t seed, std::uint64_t offset, std::span<const std::uint8_t> in);

// FNV-1a 64 over a byte stream, incrementally.
struct Checksum {
  std::uint64_t h = 0xcbf29ce484222325ull;
  void update(std::span<const std::uint8_t> b) {
    for (auto c : b) h = (h ^ c) * 0x100000001b3ull;
  }
};

}  // namespace anytls::test
