#include "net/coro.hpp"

namespace anytls::net {

asio::awaitable<bool> sleep_until(Clock::time_point t, Clock* clock) {
  Timer timer(co_await asio::this_coro::executor, clock);
  timer.expires_at(t);
  auto ec = co_await timer.wait();
  co_return !ec;
}

asio::awaitable<bool> sleep_for(Clock::duration d, Clock* clock) {
  Timer timer(co_await asio::this_coro::executor, clock);
  timer.expires_after(d);
  auto ec = co_await timer.wait();
  co_return !ec;
}

asio::awaitable<bool> cancelled() {
  auto cs = co_await asio::this_coro::cancellation_state;
  co_return cs.cancelled() != asio::cancellation_type::none;
}

}  // namespace anytls::net
