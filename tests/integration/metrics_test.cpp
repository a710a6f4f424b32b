// Issue 16, end to end: the anytls client with ensure_idle_session: 3 and the
// real server on 127.0.0.1, the /metrics endpoint scraped over a real socket
// (HTTP/1.1), the values read from the text, and the text checked by a real
// Prometheus parser (promtool, Debian package `prometheus`).
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <asio/write.hpp>

#include "app/metrics.hpp"
#include "app/metrics_server.hpp"
#include "integration/harness.hpp"
#include "support/control_options.hpp"
#include "support/run.hpp"

namespace anytls::integ {
namespace {

using Clock = std::chrono::steady_clock;

// GET target from 127.0.0.1:port, Connection: close, read to EOF; throws
// unless the answer is an HTTP/1.1 response.
asio::awaitable<HttpReply> http_get(std::uint16_t port, std::string target, std::string extra_headers) {
  auto r = co_await http_request(
      port, "GET " + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\n" + extra_headers + "Connection: close\r\n\r\n");
  if (r.head.rfind("HTTP/1.1 ", 0) != 0) throw std::runtime_error("bad response: " + r.head + "\r\n\r\n" + r.body);
  co_return r;
}

// The value of one series (`name{labels}` exactly as rendered), NaN if absent.
double value(const std::string& text, const std::string& series) {
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.size() > series.size() && line.compare(0, series.size(), series) == 0 && line[series.size()] == ' ')
      return std::strtod(line.c_str() + series.size() + 1, nullptr);
  }
  return std::nan("");
}

const std::string kOut = "outbound=\"anytls-out\"";

std::string pool(const std::string& state) { return "anytls_pool_sessions{" + kOut + ",state=\"" + state + "\"}"; }
std::string closed(const std::string& reason) {
  return "anytls_pool_sessions_closed_total{" + kOut + ",reason=\"" + reason + "\"}";
}
std::string out(const std::string& name) { return name + "{" + kOut + "}"; }

// promtool's path, or "" when the prometheus package is not installed.
std::string find_promtool() {
  for (const char* dir : {"/usr/bin", "/usr/local/bin", "/bin"}) {
    auto p = std::filesystem::path(dir) / "promtool";
    if (std::filesystem::exists(p)) return p.string();
  }
  return {};
}

// Runs `promtool check metrics` on text; returns its exit status and output.
std::pair<int, std::string> promtool_check(const std::string& promtool, const std::string& text) {
  auto dir = std::filesystem::temp_directory_path();
  auto in = dir / ("anytls-metrics-" + std::to_string(::getpid()) + ".prom");
  auto outp = dir / ("anytls-metrics-" + std::to_string(::getpid()) + ".out");
  std::ofstream(in) << text;
  std::string cmd = promtool + " check metrics < " + in.string() + " > " + outp.string() + " 2>&1";
  int rc = std::system(cmd.c_str());
  std::ifstream f(outp);
  std::stringstream ss;
  ss << f.rdbuf();
  std::filesystem::remove(in);
  std::filesystem::remove(outp);
  return {WIFEXITED(rc) ? WEXITSTATUS(rc) : -1, ss.str()};
}

struct StopOnExit {
  app::MetricsServer& m;
  ~StopOnExit() { m.stop(); }
};

// Scrapes /metrics on port every 20ms until done(text) holds (true) or
// `timeout` passes (false); the last text in *last. check_status: every
// scrape must answer 200 (fatal).
asio::awaitable<bool> scrape_until(std::uint16_t port, std::function<bool(const std::string&)> done,
                                   std::chrono::milliseconds timeout, bool check_status, std::string* last) {
  for (auto until = Clock::now() + timeout; Clock::now() < until;) {
    auto r = co_await http_get(port, "/metrics", "");
    if (check_status) CO_ASSERT_TRUE(r.status == 200);
    *last = r.body;
    if (done(*last)) co_return true;
    asio::steady_timer t(co_await asio::this_coro::executor, 20ms);
    (void)co_await t.async_wait(use_tuple);
  }
  co_return false;
}

// The whole story; every scrape's text is appended to `texts`.
asio::awaitable<void> story(Env* env, app::MetricsServer* metrics, outbound::AnyTlsOutbound* client,
                            std::vector<std::string>* texts) {
  StopOnExit guard{*metrics};
  const auto port = metrics->port();
  std::string last;

  // 1. Pre-warmed: 3 idle sessions, as /metrics says.
  const std::string alice_sessions = "anytls_server_sessions{inbound=\"anytls-in\",user=\"alice\"}";
  const bool warm = co_await scrape_until(
      port, [&](const std::string& t) { return value(t, pool("idle")) == 3 && value(t, alice_sessions) == 3; }, 5s,
      true, &last);
  texts->push_back(last);
  EXPECT_TRUE(warm) << last;
  EXPECT_EQ(value(last, "anytls_dns_cache_entries"), 3);
  EXPECT_EQ(value(last, "anytls_dns_cache_bytes"), 4096);
  CO_ASSERT_TRUE(warm);
  EXPECT_EQ(value(last, pool("busy")), 0);
  EXPECT_EQ(value(last, pool("dialing")), 0);
  EXPECT_EQ(value(last, out("anytls_pool_sessions_created_total")), 3);
  EXPECT_EQ(value(last, out("anytls_handshake_seconds_count")), 3);
  EXPECT_EQ(value(last, "anytls_handshake_seconds_bucket{" + kOut + ",le=\"+Inf\"}"), 3);
  EXPECT_GT(value(last, out("anytls_handshake_seconds_sum")), 0);
  EXPECT_EQ(value(last, out("anytls_streams_total")), 0);
  EXPECT_EQ(value(last, out("anytls_pool_dial_failures_total")), 0);
  for (auto r : {"idle_timeout", "age", "heartbeat_dead", "peer_closed", "error", "shutdown"})
    EXPECT_EQ(value(last, closed(r)), 0) << r;
  const double wire_up0 = value(last, "anytls_wire_bytes_total{direction=\"up\"," + kOut + "}");
  const double bytes_up0 = value(last, "anytls_bytes_total{direction=\"up\"," + kOut + "}");
  EXPECT_GT(wire_up0, 3 * 500.0) << "three TLS handshakes";
  EXPECT_GT(value(last, "process_resident_memory_bytes"), 0);
  EXPECT_GT(value(last, "process_open_fds"), 0);
  EXPECT_GE(value(last, "process_cpu_seconds_total"), 0);

  // 2. A request: the counters move.
  const std::string payload = pattern(100000, 7);
  auto problem = co_await dial_echo(client, env->echo.port(), payload);
  EXPECT_EQ(problem, "");
  auto after = co_await http_get(port, "/metrics", "");
  last = after.body;
  texts->push_back(last);
  EXPECT_EQ(value(last, out("anytls_streams_total")), 1);
  EXPECT_EQ(value(last, "anytls_streams_total{inbound=\"anytls-in\"}"), 1);
  EXPECT_EQ(value(last, out("anytls_pool_sessions_created_total")), 3) << "the request took a pooled session";
  EXPECT_GE(value(last, "anytls_bytes_total{direction=\"up\"," + kOut + "}"), bytes_up0 + payload.size());
  EXPECT_GE(value(last, "anytls_bytes_total{direction=\"down\"," + kOut + "}"), double(payload.size()));
  EXPECT_GE(value(last, "anytls_wire_bytes_total{direction=\"up\"," + kOut + "}"), wire_up0 + payload.size());
  EXPECT_GE(value(last, "anytls_bytes_total{direction=\"up\",inbound=\"anytls-in\",user=\"alice\"}"),
            double(payload.size()));
  EXPECT_GE(value(last, "anytls_bytes_total{direction=\"down\",inbound=\"anytls-in\",user=\"alice\"}"),
            double(payload.size()));
  // Both ends count the same TLS records.
  EXPECT_EQ(value(last, "anytls_wire_bytes_total{direction=\"down\",inbound=\"anytls-in\",user=\"alice\"}"),
            value(last, "anytls_wire_bytes_total{direction=\"down\"," + kOut + "}"));

  // 3. The server goes away: its sessions close under the client (peer
  // closed) and the pool's refills fail (dial failures).
  env->server->stop();
  const std::string dial_failures = out("anytls_pool_dial_failures_total");
  const bool seen = co_await scrape_until(
      port,
      [&](const std::string& t) {
        const double ended = value(t, closed("peer_closed")) + value(t, closed("error"));
        return ended == 3 && value(t, dial_failures) >= 1;
      },
      8s, false, &last);
  texts->push_back(last);
  EXPECT_TRUE(seen) << last;
  // Quiet sessions end with the server's FIN: a clean close, not an error.
  EXPECT_EQ(value(last, closed("peer_closed")), 3) << "error: " << value(last, closed("error"));
  EXPECT_EQ(value(last, pool("idle")), 0);
  EXPECT_EQ(value(last, out("anytls_session_age_seconds_count")), 3);
  EXPECT_EQ(value(last, "anytls_server_sessions{inbound=\"anytls-in\",user=\"alice\"}"), 0);

  // 4. A request now fails at its own dial.
  auto failed = co_await dial_echo(client, env->echo.port(), "x");
  EXPECT_NE(failed, "");
  auto end = co_await http_get(port, "/metrics", "");
  texts->push_back(end.body);
  EXPECT_EQ(value(end.body, "anytls_stream_errors_total{" + kOut + ",kind=\"dial\"}"), 1);
}

struct Rig {
  Env env;
  outbound::AnyTlsOutbound* client = nullptr;
  std::unique_ptr<app::MetricsServer> metrics;

  explicit Rig(std::string secret = {}) {
    auto opts = client_options(env.server->port());
    opts.ensure_idle_session = 3;
    opts.idle_session_check_interval = 200ms;
    client = &env.make_client(opts);
    const auto mo = test::on_loopback<config::MetricsOptions>(secret);
    app::MetricsSources sources;
    sources.outbounds = {client};
    sources.inbounds = {env.server.get()};
    sources.dns_cache = app::DnsCacheSize{3, 4096};  // the gauges, parsed by promtool too
    metrics = std::make_unique<app::MetricsServer>(env.io, mo, [sources] { return app::render_metrics(sources); });
    if (metrics->start()) throw std::runtime_error(metrics->start_error());
    client->start();
  }
};

TEST(MetricsInteg, PoolServerAndFailuresShowInMetrics) {
  Rig s;
  std::vector<std::string> texts;
  run(s.env, story(&s.env, s.metrics.get(), s.client, &texts), 30s);
  EXPECT_GE(s.metrics->scrapes(), 4u);
}

TEST(MetricsInteg, OutputParsesWithPromtool) {
  auto promtool = find_promtool();
  if (promtool.empty())
    GTEST_SKIP() << "promtool not found: install Debian's `prometheus` package (scripts/deps.sh does) to check the "
                    "output with a real Prometheus parser";
  Rig s;
  std::vector<std::string> texts;
  run(s.env, story(&s.env, s.metrics.get(), s.client, &texts), 30s);
  ASSERT_GE(texts.size(), 4u);
  for (const auto& t : texts) {
    auto [rc, said] = promtool_check(promtool, t);
    EXPECT_EQ(rc, 0) << said << "\n--- input:\n" << t;
  }
}

asio::awaitable<void> secret_body(app::MetricsServer* metrics) {
  StopOnExit guard{*metrics};
  auto none = co_await http_get(metrics->port(), "/metrics", "");
  EXPECT_EQ(none.status, 401);
  EXPECT_NE(none.head.find("WWW-Authenticate: Bearer"), std::string::npos);
  EXPECT_EQ(none.body.find("anytls_"), std::string::npos);
  auto wrong = co_await http_get(metrics->port(), "/metrics", "Authorization: Bearer nope\r\n");
  EXPECT_EQ(wrong.status, 401);
  auto ok = co_await http_get(metrics->port(), "/metrics", "Authorization: Bearer t0ken\r\n");
  EXPECT_EQ(ok.status, 200);
  EXPECT_NE(ok.body.find("anytls_pool_sessions{"), std::string::npos);
  auto other = co_await http_get(metrics->port(), "/other", "Authorization: Bearer t0ken\r\n");
  EXPECT_EQ(other.status, 404);
}

TEST(MetricsInteg, BearerSecretOverARealSocket) {
  Rig s("t0ken");
  run(s.env, secret_body(s.metrics.get()), 15s);
}

// Each closing reason is counted where the pool decides it (the counters
// read directly; the text rendering of them is covered above).
std::uint64_t closed_by(const outbound::AnyTlsOutbound& c, outbound::SessionEnd e) {
  return c.stats().closed[static_cast<std::size_t>(e)];
}

asio::awaitable<void> reasons_body(Env* env) {
  using outbound::SessionEnd;
  // age: 2 pre-warmed sessions with a 1 s lifetime rotate.
  auto rot = client_options(env->server->port());
  rot.ensure_idle_session = 2;
  rot.idle_session_check_interval = 100ms;
  rot.max_connection_lifetime = 1s;
  auto& rotating = env->make_client(rot);
  // idle_timeout: a session dialled for one request, idle 200 ms afterwards.
  auto idle = client_options(env->server->port());
  idle.idle_session_check_interval = 100ms;
  idle.idle_session_timeout = 200ms;
  auto& idling = env->make_client(idle);
  rotating.start();
  idling.start();
  auto problem = co_await dial_echo(&idling, env->echo.port(), "one request");
  EXPECT_EQ(problem, "");
  bool both = co_await eventually(
      [&] { return closed_by(rotating, SessionEnd::age) >= 2 && closed_by(idling, SessionEnd::idle_timeout) == 1; },
      8000ms, 10ms);
  EXPECT_TRUE(both) << "age " << closed_by(rotating, SessionEnd::age) << ", idle_timeout "
                    << closed_by(idling, SessionEnd::idle_timeout);
  EXPECT_EQ(rotating.stats().session_age_seconds.count(), closed_by(rotating, SessionEnd::age));
  EXPECT_GE(rotating.stats().session_age_seconds.sum(), 1.0 * closed_by(rotating, SessionEnd::age))
      << "each lived at least its 1 s lifetime";
  EXPECT_EQ(closed_by(idling, SessionEnd::error) + closed_by(rotating, SessionEnd::error), 0u);
  // shutdown: what is left when the outbound stops.
  bool warm = co_await eventually([&] { return rotating.idle_count() == 2; }, 5000ms, 5ms);
  CO_ASSERT_TRUE(warm);
  auto before = rotating.stats().sessions_created;
  std::uint64_t ended = 0;
  rotating.stop();
  for (std::size_t i = 0; i < outbound::kSessionEnds; ++i) ended += rotating.stats().closed[i];
  EXPECT_GE(closed_by(rotating, SessionEnd::shutdown), 2u);
  EXPECT_EQ(ended, before) << "every session created has ended under one reason";
}

ENV_TEST(MetricsInteg, CloseReasonsAgeIdleTimeoutShutdown, reasons_body, 20s)

asio::awaitable<void> dead_body(Env* env) {
  // Through a proxy that freezes: the server goes silent, TCP stays open.
  auto& proxy = env->make_proxy(env->server->port());
  auto& client = env->start_client(heartbeat_options(proxy.port()), &env->clock);
  bool answered = co_await first_heartbeat(env, &client);
  CO_ASSERT_TRUE(answered);
  proxy.freeze_existing();
  bool dead = co_await advance_until(
      env->clock, [&] { return closed_by(client, outbound::SessionEnd::heartbeat_dead) == 1; }, 100ms, 9000ms);
  EXPECT_TRUE(dead);
  EXPECT_EQ(client.stats().heartbeat_misses, 1u);
  EXPECT_EQ(closed_by(client, outbound::SessionEnd::error), 0u);
}

ENV_TEST(MetricsInteg, CloseReasonHeartbeatDead, dead_body, 15s)

}  // namespace
}  // namespace anytls::integ
