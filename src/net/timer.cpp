#include "net/timer.hpp"

#include <asio/io_context.hpp>
#include <asio/post.hpp>

#include <asio/experimental/as_tuple.hpp>
#include <asio/use_awaitable.hpp>

namespace anytls::net {

Timer::Timer(const asio::any_io_executor& ex, Clock* clock)
    : timer_(ex), clock_(&clock_or_system(clock)), expiry_(Clock::time_point::max()) {}

Timer::~Timer() {
  clock_->disarm(*this);
  *alive_ = false;
}

void Timer::expires_at(Clock::time_point t) {
  // Out of the clock's set before expiry_ changes: a clock on another
  // thread reads expiry_ only of armed timers.
  clock_->disarm(*this);
  timer_.cancel();
  expiry_ = t;
  fired_ = false;
  if (!clock_->drives_timers()) {
    timer_.expires_at(t);
    return;
  }
  timer_.expires_at(Clock::time_point::max());
  // A timer that never expires is not armed: tests read armed() as "some
  // deadline is being watched".
  if (t != Clock::time_point::max()) clock_->arm(*this);
}

void Timer::expires_after(Clock::duration d) {
  auto now = clock_->now();
  // Saturate: "after forever" must not overflow into the past.
  expires_at(d >= Clock::time_point::max() - now ? Clock::time_point::max() : now + d);
}

void Timer::cancel() {
  fired_ = false;
  // No longer due: a virtual clock must not count it as armed.
  clock_->disarm(*this);
  expiry_ = Clock::time_point::max();
  timer_.cancel();
}

void Timer::fire() {
  auto ex = timer_.get_executor();
  const auto* io = ex.target<asio::io_context::executor_type>();
  if (!io || io->running_in_this_thread()) {
    fired_ = true;
    timer_.cancel();
    return;
  }
  asio::post(ex, [this, alive = alive_] {
    if (!*alive) return;
    fired_ = true;
    timer_.cancel();
  });
}

asio::awaitable<std::error_code> Timer::wait() {
  if (clock_->drives_timers() && expiry_ <= clock_->now()) co_return std::error_code{};
  auto [ec] = co_await timer_.async_wait(asio::experimental::as_tuple(asio::use_awaitable));
  if (ec == asio::error::operation_aborted && fired_) {
    fired_ = false;
    co_return std::error_code{};
  }
  co_return ec;
}

}  // namespace anytls::net
