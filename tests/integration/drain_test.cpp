// Reload drains (app/reload.hpp) against the real server on 127.0.0.1: a
// drained anytls outbound closes its idle sessions, stops refilling, lets a
// stream in use carry on and closes its session when the stream ends; a
// drained anytls server stops accepting while its sessions carry on.
#include <gtest/gtest.h>

#include "integration/harness.hpp"
#include "support/run.hpp"

namespace anytls::integ {
namespace {

asio::awaitable<void> outbound_drain_body(Env* env) {
  auto opts = client_options(env->server->port());
  opts.ensure_idle_session = 2;
  opts.idle_session_check_interval = 200ms;
  auto& client = env->start_client(opts);
  bool warm = co_await eventually(
      [&] { return client.idle_count() == 2 && env->server->live_sessions() == 2; }, 5000ms, 10ms);
  CO_ASSERT_TRUE(warm);
  auto conn = co_await dial_tcp(client, env->echo.port());
  CO_ASSERT_TRUE(conn.ok());
  std::string data = pattern(100000, 7);
  EXPECT_EQ(co_await echo_once(**conn, data), data);

  client.drain();
  // The idle session goes, the busy one stays and keeps working.
  bool idle_gone = co_await eventually([&] { return env->server->live_sessions() == 1; }, 5000ms, 10ms);
  EXPECT_TRUE(idle_gone) << "live " << env->server->live_sessions();
  EXPECT_EQ(co_await echo_once(**conn, data), data);
  // No refill: three check intervals pass without a new session.
  asio::steady_timer t(env->io, 600ms);
  co_await t.async_wait(use_tuple);
  EXPECT_EQ(client.stats().sessions_created, 2u);
  EXPECT_EQ(env->server->stats().authenticated, 2u);
  EXPECT_EQ(co_await echo_once(**conn, data), data);

  // The stream ends: its session is closed instead of going back to a pool.
  (*conn)->close();
  bool closed = co_await eventually([&] { return env->server->live_sessions() == 0; }, 5000ms, 10ms);
  EXPECT_TRUE(closed) << "live " << env->server->live_sessions();
  EXPECT_EQ(client.idle_count(), 0u);
}

ENV_TEST(DrainInteg, OutboundClosesIdleSessionsAndLetsStreamsInUseFinish, outbound_drain_body, 20s)

asio::awaitable<void> server_drain_body(Env* env) {
  auto& client = env->start_client();
  auto conn = co_await dial_tcp(client, env->echo.port());
  CO_ASSERT_TRUE(conn.ok());
  std::string data = pattern(50000, 3);
  EXPECT_EQ(co_await echo_once(**conn, data), data);

  env->server->drain();
  // The established session keeps working...
  EXPECT_EQ(co_await echo_once(**conn, data), data);
  EXPECT_EQ(env->server->live_sessions(), 1u);
  // ...while nobody new gets in.
  auto& second = env->make_client(client_options(env->server->port()));
  auto refused = co_await dial_tcp(second, env->echo.port());
  EXPECT_FALSE(refused.ok());
  EXPECT_EQ(env->server->stats().authenticated, 1u);
  (*conn)->close();
}

ENV_TEST(DrainInteg, ServerStopsAcceptingAndKeepsItsSessions, server_drain_body, 20s)

}  // namespace
}  // namespace anytls::integ
