// A one-shot-per-wait notification for coroutines on one executor: waiters
// park on a timer that never expires, notify_all() cancels it. Cheaper and
// simpler than a channel when the message carries no data.
#pragma once
#include <chrono>

#include <asio/experimental/as_tuple.hpp>
#include <asio/steady_timer.hpp>
#include <asio/use_awaitable.hpp>

namespace anytls::net {

class Signal {
 public:
  explicit Signal(const asio::any_io_executor& ex) : timer_(ex, asio::steady_timer::time_point::max()) {}

  // Completes at the next notify_all() (or when the waiting coroutine is
  // cancelled). Callers re-check their condition in a loop.
  asio::awaitable<void> wait() {
    (void)co_await timer_.async_wait(asio::experimental::as_tuple(asio::use_awaitable));
  }
  void notify_all() {
    timer_.cancel();
    timer_.expires_at(asio::steady_timer::time_point::max());
  }

 private:
  asio::steady_timer timer_;
};

}  // namespace anytls::net
