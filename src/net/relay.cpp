#include "net/relay.hpp"

#include <memory>

#include <asio/error.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/experimental/awaitable_operators.hpp>
#include <asio/steady_timer.hpp>
#include <asio/this_coro.hpp>
#include <asio/use_awaitable.hpp>

namespace anytls::net {

namespace {

constexpr auto use_tuple = asio::experimental::as_tuple(asio::use_awaitable);
using Clock = std::chrono::steady_clock;

// Shared by the two pumps and the watchdog of one relay() call; lives in
// relay()'s frame, which outlives all three.
struct RelayState {
  Conn& a;
  Conn& b;
  RelayStats stats;
  Clock::time_point last_activity = Clock::now();
  int active_pumps = 2;
  asio::steady_timer* watchdog = nullptr;  // null without idle timeout
  bool closed = false;                     // both conns were closed

  void close_both() {
    closed = true;
    a.close();
    b.close();
  }
  void fail(const std::error_code& ec) {
    if (!stats.error && !stats.idle_timeout) stats.error = ec;
    close_both();
  }
  void pump_done() {
    if (--active_pumps == 0 && watchdog != nullptr) watchdog->cancel();
  }
};

// Copies from -> to until EOF (then half-closes `to`) or an error (then
// closes both). Never co_awaits again once the relay is closed, so an idle
// close cannot race a write.
asio::awaitable<void> pump(Conn& from, Conn& to, std::uint64_t& counter, RelayState& st) {
  Lease lease(kRelayBufferSize, kRelayHeadroom);
  for (;;) {
    auto [rec, n] = co_await from.read_leased(lease);
    if (st.closed) break;
    if (n > 0) {
      st.last_activity = Clock::now();
      // The bytes are not needed after the write: `to` may frame them in place.
      auto wec = co_await to.write_spent(lease, n);
      if (st.closed) break;
      if (wec) {
        st.fail(wec);
        break;
      }
      counter += n;
      st.last_activity = Clock::now();
    }
    if (rec) {
      if (rec == asio::error::eof) {
        to.shutdown_write();
      } else {
        st.fail(rec);
      }
      break;
    }
  }
  st.pump_done();
}

asio::awaitable<void> watchdog(RelayState& st, asio::steady_timer& timer, Clock::duration timeout) {
  while (st.active_pumps > 0 && !st.closed) {
    auto deadline = st.last_activity + timeout;
    if (Clock::now() >= deadline) {
      st.stats.idle_timeout = true;
      st.close_both();
      break;
    }
    timer.expires_at(deadline);
    auto [ec] = co_await timer.async_wait(use_tuple);
    (void)ec;  // aborted when both pumps are done (loop condition) or spurious
  }
}

}  // namespace

asio::awaitable<RelayStats> relay(Conn& a, Conn& b, Clock::duration idle_timeout) {
  using namespace asio::experimental::awaitable_operators;
  RelayState st{a, b, {}};
  if (idle_timeout > Clock::duration::zero()) {
    asio::steady_timer timer(co_await asio::this_coro::executor);
    st.watchdog = &timer;
    co_await (pump(a, b, st.stats.a_to_b, st) && pump(b, a, st.stats.b_to_a, st) &&
              watchdog(st, timer, idle_timeout));
    st.watchdog = nullptr;
  } else {
    co_await (pump(a, b, st.stats.a_to_b, st) && pump(b, a, st.stats.b_to_a, st));
  }
  co_return st.stats;
}

}  // namespace anytls::net
