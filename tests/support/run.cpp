#include "support/run.hpp"

#include <asio/post.hpp>

#include <csignal>
#include <exception>

#include <asio/co_spawn.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/steady_timer.hpp>
#include <asio/this_coro.hpp>
#include <asio/use_awaitable.hpp>

namespace anytls::test {

namespace {

struct BodyResult {
  bool done = false;
  std::exception_ptr error;
};

}  // namespace

void run_test(asio::io_context& io, asio::awaitable<void> body, std::chrono::milliseconds deadline,
              std::chrono::milliseconds drain) {
  BodyResult result;
  asio::co_spawn(io, std::move(body), [&result](std::exception_ptr e) {
    result.done = true;
    result.error = e;
  });
  const auto until = std::chrono::steady_clock::now() + deadline;
  while (!result.done && std::chrono::steady_clock::now() < until) io.run_one_until(until);
  if (!result.done) {
    ADD_FAILURE() << "test body did not finish within " << deadline.count() << " ms (hang)";
    io.stop();
    return;
  }
  if (result.error) {
    try {
      std::rethrow_exception(result.error);
    } catch (const std::exception& e) {
      ADD_FAILURE() << "test body threw: " << e.what();
    } catch (...) {
      ADD_FAILURE() << "test body threw a non-standard exception";
    }
  }
  const auto drain_until = std::chrono::steady_clock::now() + drain;
  while (!io.stopped() && std::chrono::steady_clock::now() < drain_until) io.run_one_until(drain_until);
  if (!io.stopped()) {
    ADD_FAILURE() << "coroutines still running " << drain.count() << " ms after the test body finished";
    io.stop();
  }
}

asio::awaitable<void> delay(std::chrono::milliseconds d) {
  asio::steady_timer t(co_await asio::this_coro::executor, d);
  (void)co_await t.async_wait(asio::experimental::as_tuple(asio::use_awaitable));
}

asio::awaitable<void> settle(int rounds) {
  auto ex = co_await asio::this_coro::executor;
  for (int i = 0; i < rounds; ++i) co_await asio::post(ex, asio::use_awaitable);
}

void fill_pattern(std::uint64_t seed, std::uint64_t offset, std::span<std::uint8_t> out) {
  for (std::size_t i = 0; i < out.size(); ++i) out[i] = pattern_byte(seed, offset + i);
}

std::int64_t check_pattern(std::uint64_t seed, std::uint64_t offset, std::span<const std::uint8_t> in) {
  for (std::size_t i = 0; i < in.size(); ++i)
    if (in[i] != pattern_byte(seed, offset + i)) return static_cast<std::int64_t>(i);
  return -1;
}

}  // namespace anytls::test
