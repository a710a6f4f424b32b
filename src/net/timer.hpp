// A one-shot timer on an injectable net::Clock: steady_timer's interface,
// awaitable, with error codes instead of exceptions. On the real clock it is
// exactly an asio::steady_timer; on a VirtualClock it fires when the test
// moves time past its expiry (on the timer's own thread: a clock advanced
// elsewhere posts the firing to the timer's executor).
#pragma once
#include <memory>
#include <system_error>

#include <asio/any_io_executor.hpp>
#include <asio/awaitable.hpp>
#include <asio/steady_timer.hpp>

#include "net/clock.hpp"

namespace anytls::net {

class Timer final : private ClockTimer {
 public:
  explicit Timer(const asio::any_io_executor& ex, Clock* clock = nullptr);
  ~Timer();
  Timer(const Timer&) = delete;
  Timer& operator=(const Timer&) = delete;

  void expires_at(Clock::time_point t);
  void expires_after(Clock::duration d);
  Clock::time_point expiry() const { return expiry_; }
  // Completes a pending wait with operation_aborted.
  void cancel();
  // {} once the expiry is reached; operation_aborted when cancelled (by
  // cancel() or by cancellation of the awaiting coroutine).
  asio::awaitable<std::error_code> wait();
  Clock& clock() const { return *clock_; }

 private:
  Clock::time_point deadline() const override { return expiry_; }
  void fire() override;

  asio::steady_timer timer_;
  Clock* clock_;
  Clock::time_point expiry_;
  bool fired_ = false;
  // A VirtualClock advanced on another thread posts the firing here; the
  // post finds out whether the timer still exists (both run on its thread).
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace anytls::net
