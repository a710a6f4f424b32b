// Synchronous runners for tests that drive an io_context by hand: run a
// coroutine to completion with a safety limit, loopback listeners.
#pragma once
#include <chrono>
#include <exception>
#include <optional>
#include <utility>

#include <gtest/gtest.h>

#include <asio/awaitable.hpp>
#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/ip/udp.hpp>
#include <asio/steady_timer.hpp>
#include <asio/this_coro.hpp>
#include <asio/use_awaitable.hpp>

namespace anytls::testing {

// Completion token for awaiting (error_code, ...) as a tuple.
inline constexpr auto use_tuple = asio::experimental::as_tuple(asio::use_awaitable);

template <class T>
asio::awaitable<void> store_result(asio::awaitable<T> a, std::optional<T>* out) {
  out->emplace(co_await std::move(a));
}

// Spawns `a` on ctx and runs ctx until it completes (at most `limit`);
// whether it did.
inline bool run_until_done(asio::io_context& ctx, asio::awaitable<void> a,
                           std::chrono::milliseconds limit = std::chrono::seconds(20)) {
  std::exception_ptr error;
  bool finished = false;
  asio::co_spawn(ctx, std::move(a), [&](std::exception_ptr e) {
    error = e;
    finished = true;
  });
  auto deadline = std::chrono::steady_clock::now() + limit;
  ctx.restart();
  while (!finished && std::chrono::steady_clock::now() < deadline) ctx.run_one_for(std::chrono::milliseconds(50));
  if (error) std::rethrow_exception(error);
  EXPECT_TRUE(finished) << "coroutine did not finish in time";
  return finished;
}

// The same for a coroutine with a result: the result, if it completed.
template <class T>
std::optional<T> run_until_done(asio::io_context& ctx, asio::awaitable<T> a,
                                std::chrono::milliseconds limit = std::chrono::seconds(20)) {
  std::optional<T> out;
  run_until_done(ctx, store_result(std::move(a), &out), limit);
  return out;
}

// Sleeps then returns (for `||` races in tests).
inline asio::awaitable<void> sleep_for(std::chrono::milliseconds d) {
  asio::steady_timer t(co_await asio::this_coro::executor, d);
  co_await t.async_wait(asio::use_awaitable);
}

// Echoes datagrams to their senders until the socket closes.
inline asio::awaitable<void> udp_echo(asio::ip::udp::socket& s) {
  char buf[2048];
  for (;;) {
    asio::ip::udp::endpoint peer;
    auto [ec, n] = co_await s.async_receive_from(asio::buffer(buf), peer, use_tuple);
    if (ec) co_return;
    co_await s.async_send_to(asio::buffer(buf, n), peer, use_tuple);
  }
}

// True when ::1 can be bound (IPv6 loopback present).
inline bool have_ipv6_loopback() {
  asio::io_context ctx;
  std::error_code ec;
  asio::ip::tcp::acceptor a(ctx);
  a.open(asio::ip::tcp::v6(), ec);
  if (ec) return false;
  a.bind({asio::ip::address_v6::loopback(), 0}, ec);
  return !ec;
}

}  // namespace anytls::testing
