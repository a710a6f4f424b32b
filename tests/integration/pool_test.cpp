// Issue "session pool", end to end: the anytls outbound's pool against the
// real server on 127.0.0.1 with intervals of a few hundred milliseconds,
// sessions counted from the server's side.
#include <gtest/gtest.h>

#include "integration/harness.hpp"
#include "support/run.hpp"

namespace anytls::integ {
namespace {

using Clock = std::chrono::steady_clock;

Ms since(Clock::time_point t) { return std::chrono::duration_cast<Ms>(Clock::now() - t); }

config::AnyTlsOutboundOptions pool_options(std::uint16_t port) {
  auto o = client_options(port);
  o.ensure_idle_session = 3;
  o.idle_session_check_interval = 200ms;
  return o;
}

asio::awaitable<bool> warm(Env* env, outbound::AnyTlsOutbound* client, std::size_t n) {
  co_return co_await eventually(
      [env, client, n] {
        return env->server->stats().authenticated == n && env->server->live_sessions() == n &&
               client->policy().idle_count() == n;
      },
      5000ms, 10ms);
}

asio::awaitable<void> ensure_body(Env* env) {
  auto& client = env->make_client(pool_options(env->server->port()));
  client.start();
  bool ok = co_await warm(env, &client, 3);
  CO_ASSERT_TRUE(ok);
  EXPECT_EQ(env->server->stats().streams, 0u) << "no request was made";
  EXPECT_EQ(client.stats().streams, 0u);
  // A full pool creates nothing more.
  client.tick_now();
  EXPECT_EQ(client.policy().dialing_count(), 0u);
  EXPECT_EQ(client.stats().sessions_created, 3u);
}

TEST(SessionPoolInteg, EnsureIdleSessionPrewarmsBeforeAnyRequest) {
  Env env;
  run(env, ensure_body(&env), 15s);
}

asio::awaitable<void> restore_body(Env* env) {
  auto& client = env->make_client(pool_options(env->server->port()));
  client.start();
  bool ok = co_await warm(env, &client, 3);
  CO_ASSERT_TRUE(ok);
  env->server->close_sessions();
  bool restored = co_await eventually(
      [&] {
        return env->server->stats().authenticated == 6 && env->server->live_sessions() == 3 &&
               client.policy().idle_count() == 3;
      },
      5000ms, 10ms);
  EXPECT_TRUE(restored) << "authenticated " << env->server->stats().authenticated << ", live "
                        << env->server->live_sessions() << ", idle " << client.policy().idle_count();
  client.tick_now();
  EXPECT_EQ(client.policy().dialing_count(), 0u) << "no overshoot";
}

TEST(SessionPoolInteg, PoolIsRestoredAfterServerClosesSessions) {
  Env env;
  run(env, restore_body(&env), 15s);
}

asio::awaitable<void> rotation_body(Env* env) {
  auto opts = pool_options(env->server->port());
  opts.max_connection_lifetime = 600ms;  // clamped to the 1 s minimum lifetime
  opts.min_idle_session_for_age = 2;
  auto& client = env->make_client(opts);
  client.start();
  bool ok = co_await warm(env, &client, 3);
  CO_ASSERT_TRUE(ok);
  // Sessions rotate (the server keeps seeing new ones) while at least two
  // stay idle and alive at every moment we look.
  std::size_t min_idle = 3, min_live = 3;
  auto why = co_await eventually_while([&] { return env->server->stats().authenticated >= 9; },
                                       [&] {
                                         min_idle = std::min(min_idle, client.policy().idle_count());
                                         min_live = std::min(min_live, env->server->live_sessions());
                                         return client.policy().idle_count() >= 2 &&
                                                env->server->live_sessions() >= 2;
                                       },
                                       10000ms, 5ms);
  EXPECT_EQ(why, "") << "authenticated " << env->server->stats().authenticated << ", idle "
                     << client.policy().idle_count() << ", live " << env->server->live_sessions();
  EXPECT_GE(min_idle, 2u);
  EXPECT_GE(min_live, 2u);
  EXPECT_GE(client.policy().stats().closed_by_age, 5u);
  EXPECT_EQ(client.policy().stats().closed_by_idle, 0u);
}

TEST(SessionPoolInteg, MaxLifetimeRotatesSessionsKeepingMinIdleForAge) {
  Env env;
  run(env, rotation_body(&env), 20s);
}

asio::awaitable<void> heartbeat_body(Env* env) {
  auto opts = client_options(env->server->port());
  opts.ensure_idle_session = 1;
  opts.heartbeat = 200ms;
  auto& client = env->make_client(opts);
  client.start();
  bool beats = co_await eventually(
      [&] { return env->server->stats().heart_requests >= 3 && client.stats().heartbeat_responses >= 3; }, 5000ms,
      10ms);
  EXPECT_TRUE(beats) << "server got " << env->server->stats().heart_requests << " requests, client "
                     << client.stats().heartbeat_responses << " responses";
  // All on the pre-warmed session, which never carried a stream.
  EXPECT_EQ(env->server->stats().authenticated, 1u);
  EXPECT_EQ(env->server->stats().streams, 0u);
  EXPECT_EQ(client.stats().heartbeat_misses, 0u);
}

TEST(SessionPoolInteg, HeartbeatOnIdlePrewarmedSession) {
  Env env;
  run(env, heartbeat_body(&env), 15s);
}

asio::awaitable<void> mute_body(Env* env) {
  auto opts = client_options(env->server->port());
  opts.ensure_idle_session = 1;
  opts.heartbeat = 200ms;
  opts.idle_session_check_interval = 200ms;
  auto& client = env->make_client(opts);
  client.start();
  bool answered = co_await eventually([&] { return client.stats().heartbeat_responses >= 1; }, 5000ms, 10ms);
  CO_ASSERT_TRUE(answered);

  // The server goes silent: frames dropped, TCP kept open.
  env->server->set_mute(true);
  auto t0 = Clock::now();
  bool declared = co_await eventually([&] { return client.stats().heartbeat_misses >= 1; }, 9000ms, 10ms);
  auto took = since(t0);
  CO_ASSERT_TRUE(declared);
  // Liveness waits max(heartbeat, 5 s) after an unanswered request, and the
  // first unanswered one leaves within one heartbeat interval.
  EXPECT_GE(took, 4500ms);
  EXPECT_LE(took, 5000ms + 2 * 200ms + 1000ms);
  // Replaced by the next ensure; the dead session is gone on both sides.
  bool replaced = co_await eventually(
      [&] {
        return env->server->stats().authenticated == 2 && client.policy().idle_count() == 1 &&
               env->server->live_sessions() == 1;
      },
      3000ms, 10ms);
  EXPECT_TRUE(replaced) << "authenticated " << env->server->stats().authenticated << ", idle "
                        << client.policy().idle_count() << ", live " << env->server->live_sessions();
  EXPECT_EQ(client.stats().heartbeat_misses, 1u);
}

TEST(SessionPoolInteg, SilentServerSessionIsReplacedAfterHeartbeatLiveness) {
  Env env;
  run(env, mute_body(&env), 15s);
}

asio::awaitable<void> first_request_body(Env* env) {
  auto opts = client_options(env->server->port());
  opts.ensure_idle_session = 2;  // check interval stays 30 s: only the start-up ensure runs
  auto& client = env->make_client(opts);
  client.start();
  bool ok = co_await warm(env, &client, 2);
  CO_ASSERT_TRUE(ok);
  auto handshakes = env->server->stats().handshakes;
  EXPECT_EQ(handshakes, 2u);
  auto t0 = Clock::now();
  auto problem = co_await dial_echo(&client, env->echo.port(), "first request");
  EXPECT_EQ(problem, "");
  EXPECT_EQ(env->server->stats().handshakes, handshakes) << "the first request did a TLS handshake";
  EXPECT_EQ(client.stats().sessions_created, 2u);
  EXPECT_EQ(env->server->stats().streams, 1u);
  EXPECT_LT(since(t0), 2000ms);
}

TEST(SessionPoolInteg, FirstRequestAfterStartIsWarm) {
  Env env;
  run(env, first_request_body(&env), 15s);
}

}  // namespace
}  // namespace anytls::integ
