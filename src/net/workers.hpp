// Worker threads: N event loops, each an io_context run by exactly one
// thread. Worker 0 is the caller's io_context (the main thread: signals,
// reload, metrics, the Clash API, pool ticks); workers 1..N-1 get a thread
// each in start().
//
// The confinement rule (docs/architecture.md, "Workers"):
//   - A connection, its session and all its streams live on ONE worker for
//     their whole life. Objects that carry bytes are never touched by another
//     thread, so the per-byte path has no locks and no atomics.
//   - Shared by every worker, immutable after start: the configuration, the
//     SSL_CTXs, the resolver (thread-safe: it posts back to the caller).
//   - Shared and mutable, each guarded inside its own class (a mutex taken
//     once per connection, never per byte): the router in use, the anytls
//     outbound's pool (global: its numbers mean the process), selector and
//     urltest choices, the connection tracker, the Clash mode.
//   - Everything else is per worker: inbounds run one shard per worker, each
//     with its own SO_REUSEPORT listener on the same port.
//   - To use an object of another worker, hop to it: run_on() below runs a
//     coroutine on that worker and resumes the caller on its own.
#pragma once
#include <cstddef>
#include <atomic>
#include <memory>
#include <optional>
#include <type_traits>
#include <thread>
#include <vector>

#include <asio/any_io_executor.hpp>
#include <asio/awaitable.hpp>
#include <asio/bind_cancellation_slot.hpp>
#include <asio/cancellation_signal.hpp>
#include <asio/co_spawn.hpp>
#include <asio/executor_work_guard.hpp>
#include <asio/io_context.hpp>
#include <asio/use_awaitable.hpp>

namespace anytls::net {

class Workers {
 public:
  // n >= 1; worker 0 is `main`, which the caller runs.
  Workers(asio::io_context& main, std::size_t n);
  ~Workers();
  Workers(const Workers&) = delete;
  Workers& operator=(const Workers&) = delete;

  std::size_t size() const { return contexts_.size(); }
  asio::io_context& at(std::size_t k) { return *contexts_[k]; }
  asio::io_context& main() { return *contexts_[0]; }

  // Starts the threads of workers 1..N-1; each runs until stop().
  void start();
  bool running() const { return !threads_.empty(); }
  // Lets the worker threads finish their queued work (up to 2 s, then
  // their io_contexts are stopped) and joins them.
  void stop();

  // The worker whose thread is running (0 outside any worker thread).
  static std::size_t current();
  // The io_context of the calling thread's worker: set for worker threads
  // and for the thread that built a Workers (its worker 0); null elsewhere.
  static asio::io_context* current_context();
  // The io_context of the calling thread's worker (`main` outside them).
  asio::io_context& here() { return at(current() < size() ? current() : 0); }

  // Round-robin over the workers, for work that has no home yet.
  std::size_t next();

 private:
  std::vector<std::unique_ptr<asio::io_context>> owned_;
  std::vector<asio::io_context*> contexts_;
  std::vector<asio::executor_work_guard<asio::io_context::executor_type>> guards_;
  std::vector<std::thread> threads_;
  std::atomic<std::size_t> next_{0};
};

// The default number of workers: the CPUs this process may run on.
std::size_t default_worker_count();

// Runs `task` on `ex` (another worker) and resumes the caller on its own
// executor with the result. The caller must not touch what the task uses
// until it returns. Cancelling the caller does not reach the task (asio
// 1.22 would run the task's cancellation handlers on the caller's thread):
// tasks that may wait long end when their object is closed instead.
namespace detail {
// co_spawn needs a default-constructible result (net::Result is not).
template <class T>
asio::awaitable<std::optional<T>> as_optional(asio::awaitable<T> task) {
  co_return co_await std::move(task);
}
}  // namespace detail

template <class T>
asio::awaitable<T> run_on(asio::any_io_executor ex, asio::awaitable<T> task) {
  auto token = asio::bind_cancellation_slot(asio::cancellation_slot(), asio::use_awaitable);
  if constexpr (std::is_void_v<T>) {
    co_await asio::co_spawn(ex, std::move(task), token);
  } else {
    auto wrapped = detail::as_optional(std::move(task));
    auto r = co_await asio::co_spawn(ex, std::move(wrapped), token);
    co_return std::move(*r);
  }
}

}  // namespace anytls::net
