// Issue "session pool", end to end: the anytls outbound's pool against the
// real server on 127.0.0.1, sessions counted from the server's side. The
// client runs on virtual time (env.clock): ticks, lifetimes, heartbeats and
// liveness happen when the test moves time forward, while the network and
// TLS are real.
#include <gtest/gtest.h>

#include "integration/harness.hpp"
#include "support/run.hpp"

namespace anytls::integ {
namespace {

Ms virtual_since(net::VirtualClock& clock, net::Clock::time_point t) {
  return std::chrono::duration_cast<Ms>(clock.now() - t);
}

config::AnyTlsOutboundOptions pool_options(std::uint16_t port) {
  auto o = client_options(port);
  o.ensure_idle_session = 3;
  o.idle_session_check_interval = 200ms;
  return o;
}

asio::awaitable<bool> warm(Env* env, outbound::AnyTlsOutbound* client, std::size_t n) {
  // Real time only: the start-up ensure needs no tick.
  co_return co_await eventually(
      [env, client, n] {
        return env->server->stats().authenticated == n && env->server->live_sessions() == n &&
               client->idle_count() == n;
      },
      5000ms, 10ms);
}

// One maintenance tick (interval 200ms) on virtual time.
asio::awaitable<void> tick(Env* env) {
  co_await advance_settle(env, 200ms);
}

asio::awaitable<void> ensure_body(Env* env) {
  auto& client = env->start_client(pool_options(env->server->port()), &env->clock);
  bool ok = co_await warm(env, &client, 3);
  CO_ASSERT_TRUE(ok);
  EXPECT_EQ(env->server->stats().streams, 0u) << "no request was made";
  EXPECT_EQ(client.stats().streams, 0u);
  // A full pool creates nothing more.
  co_await tick(env);
  EXPECT_EQ(client.dialing_count(), 0u);
  EXPECT_EQ(client.stats().sessions_created, 3u);
}

ENV_TEST(SessionPoolInteg, EnsureIdleSessionPrewarmsBeforeAnyRequest, ensure_body, 15s)

asio::awaitable<void> restore_body(Env* env) {
  auto& client = env->start_client(pool_options(env->server->port()), &env->clock);
  bool ok = co_await warm(env, &client, 3);
  CO_ASSERT_TRUE(ok);
  env->server->close_sessions();
  bool restored = co_await advance_until(
      env->clock,
      [&] {
        return env->server->stats().authenticated == 6 && env->server->live_sessions() == 3 &&
               client.idle_count() == 3;
      },
      200ms, 5000ms);
  EXPECT_TRUE(restored) << "authenticated " << env->server->stats().authenticated << ", live "
                        << env->server->live_sessions() << ", idle " << client.idle_count();
  co_await tick(env);
  EXPECT_EQ(client.dialing_count(), 0u) << "no overshoot";
}

ENV_TEST(SessionPoolInteg, PoolIsRestoredAfterServerClosesSessions, restore_body, 15s)

asio::awaitable<void> rotation_body(Env* env) {
  auto opts = pool_options(env->server->port());
  opts.max_connection_lifetime = 600ms;  // clamped to the 1 s minimum lifetime
  opts.min_idle_session_for_age = 2;
  auto& client = env->start_client(opts, &env->clock);
  bool ok = co_await warm(env, &client, 3);
  CO_ASSERT_TRUE(ok);
  // Sessions rotate (the server keeps seeing new ones) while at least two
  // stay idle and alive at every moment we look.
  std::size_t min_idle = 3, min_live = 3;
  std::string why = "timeout";
  for (int step = 0; step < 200; ++step) {
    min_idle = std::min(min_idle, client.idle_count());
    min_live = std::min(min_live, env->server->live_sessions());
    if (client.idle_count() < 2 || env->server->live_sessions() < 2) {
      why = "invariant broken";
      break;
    }
    if (env->server->stats().authenticated >= 9) {
      why = "";
      break;
    }
    co_await advance_settle(env, 100ms);
    // Let the dials the tick started finish before time moves on.
    co_await eventually([&] { return client.dialing_count() == 0; }, 2000ms, 1ms);
  }
  EXPECT_EQ(why, "") << "authenticated " << env->server->stats().authenticated << ", idle "
                     << client.idle_count() << ", live " << env->server->live_sessions();
  EXPECT_GE(min_idle, 2u);
  EXPECT_GE(min_live, 2u);
  EXPECT_GE(client.policy_stats().closed_by_age, 5u);
  EXPECT_EQ(client.policy_stats().closed_by_idle, 0u);
}

ENV_TEST(SessionPoolInteg, MaxLifetimeRotatesSessionsKeepingMinIdleForAge, rotation_body, 20s)

asio::awaitable<void> heartbeat_body(Env* env) {
  auto& client = env->start_client(heartbeat_options(env->server->port()), &env->clock);
  bool beats = co_await advance_until(
      env->clock,
      [&] { return env->server->stats().heart_requests >= 3 && client.stats().heartbeat_responses >= 3; }, 50ms,
      5000ms);
  EXPECT_TRUE(beats) << "server got " << env->server->stats().heart_requests << " requests, client "
                     << client.stats().heartbeat_responses << " responses";
  // All on the pre-warmed session, which never carried a stream.
  EXPECT_EQ(env->server->stats().authenticated, 1u);
  EXPECT_EQ(env->server->stats().streams, 0u);
  EXPECT_EQ(client.stats().heartbeat_misses, 0u);
}

ENV_TEST(SessionPoolInteg, HeartbeatOnIdlePrewarmedSession, heartbeat_body, 15s)

asio::awaitable<void> mute_body(Env* env) {
  // The client reaches the server through a proxy that can freeze.
  auto& proxy = env->make_proxy(env->server->port());
  auto opts = heartbeat_options(proxy.port());
  opts.idle_session_check_interval = 200ms;
  auto& client = env->start_client(opts, &env->clock);
  bool answered = co_await first_heartbeat(env, &client);
  CO_ASSERT_TRUE(answered);

  // The path goes silent: bytes dropped both ways, TCP kept open.
  proxy.freeze_existing();
  auto t0 = env->clock.now();
  bool declared =
      co_await advance_until(env->clock, [&] { return client.stats().heartbeat_misses >= 1; }, 100ms, 9000ms);
  auto took = virtual_since(env->clock, t0);
  CO_ASSERT_TRUE(declared);
  // Liveness waits max(heartbeat, 5 s) after an unanswered request; that
  // request left at most one jittered interval (220ms) before or after the
  // freeze. Virtual time: exact up to the 100ms step.
  EXPECT_GE(took, 5000ms - 220ms);
  EXPECT_LE(took, 5000ms + 220ms + 100ms);
  // Replaced by the next ensure; the dead session is gone on both sides of
  // the client.
  bool replaced = co_await advance_until(
      env->clock,
      [&] {
        return env->server->stats().authenticated == 2 && client.idle_count() == 1 &&
               client.stats().heartbeat_responses >= 2;
      },
      50ms, 3000ms);
  EXPECT_TRUE(replaced) << "authenticated " << env->server->stats().authenticated << ", idle "
                        << client.idle_count();
  EXPECT_EQ(client.stats().heartbeat_misses, 1u);
}

ENV_TEST(SessionPoolInteg, SilentServerSessionIsReplacedAfterHeartbeatLiveness, mute_body, 15s)

asio::awaitable<void> first_request_body(Env* env) {
  auto opts = client_options(env->server->port());
  opts.ensure_idle_session = 2;  // check interval stays 30 s: only the start-up ensure runs
  auto& client = env->start_client(opts);
  bool ok = co_await warm(env, &client, 2);
  CO_ASSERT_TRUE(ok);
  auto handshakes = env->server->stats().handshakes;
  EXPECT_EQ(handshakes, 2u);
  auto problem = co_await dial_echo(&client, env->echo.port(), "first request");
  EXPECT_EQ(problem, "");
  EXPECT_EQ(env->server->stats().handshakes, handshakes) << "the first request did a TLS handshake";
  EXPECT_EQ(client.stats().sessions_created, 2u);
  EXPECT_EQ(env->server->stats().streams, 1u);
}

ENV_TEST(SessionPoolInteg, FirstRequestAfterStartIsWarm, first_request_body, 15s)

}  // namespace
}  // namespace anytls::integ
