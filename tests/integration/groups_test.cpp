// Issue 15: selector and urltest outbounds over two real anytls servers on
// 127.0.0.1, built the way `run` builds them (app::Components from options),
// the cache file across a restart, and the config errors of the new fields.
#include <gtest/gtest.h>
#include <gmock/gmock.h>

#include <filesystem>
#include <fstream>

#include "app/cache_file.hpp"
#include "app/reload.hpp"
#include "http/websocket.hpp"
#include "config/load.hpp"
#include "inbound/dispatch.hpp"
#include "integration/harness.hpp"
#include "outbound/block.hpp"
#include "outbound/selector.hpp"
#include "route/clash_mode.hpp"
#include "outbound/urltest.hpp"
#include "outbound/url_probe.hpp"
#include "net/task_group.hpp"
#include "support/config_error.hpp"
#include "support/run.hpp"
#include "tls/tls_conn.hpp"

namespace anytls::integ {
namespace {

using ::testing::HasSubstr;
using test::expect_config_error;
using Steady = std::chrono::steady_clock;

// a, b (anytls to two servers), "auto" (urltest of a and b, probing the
// local HTTP server), "select" (selector of auto, a, b); final: select.
config::Options group_options(std::uint16_t port_a, std::uint16_t port_b, std::uint16_t http_port) {
  config::Options opts;
  opts.outbounds.push_back(anytls_outbound("a", port_a));
  opts.outbounds.push_back(anytls_outbound("b", port_b));
  config::OutboundOptions u;
  u.type = "urltest";
  u.tag = "auto";
  config::UrlTestOutboundOptions uo;
  uo.outbounds = {"a", "b"};
  uo.url = "http://127.0.0.1:" + std::to_string(http_port) + "/generate_204";
  u.options = uo;
  opts.outbounds.push_back(u);
  config::OutboundOptions s;
  s.type = "selector";
  s.tag = "select";
  config::SelectorOutboundOptions so;
  so.outbounds = {"auto", "a", "b"};
  s.options = so;
  opts.outbounds.push_back(s);
  opts.route.final = "select";
  return opts;
}

std::unique_ptr<inbound::AnyTlsServer> second_server(Env& env) {
  auto s = std::make_unique<inbound::AnyTlsServer>(env.io, "anytls-in-b", server_options(), env.server_router,
                                                   env.resolver, &env.clock);
  if (s->start()) throw std::runtime_error("server b: " + s->start_error());
  return s;
}

// ---- config ---------------------------------------------------------------------

TEST(GroupConfig, Decodes) {
  auto o = config::load_string(R"({"outbounds": [
    {"type": "selector", "tag": "s", "outbounds": ["u", "d"], "default": "d", "interrupt_exist_connections": true},
    {"type": "urltest", "tag": "u", "outbounds": ["d"], "url": "http://127.0.0.1/x", "interval": "1m",
     "tolerance": 80, "idle_timeout": "10m"},
    {"type": "direct", "tag": "d"}],
    "route": {"rules": [{"clash_mode": "global", "outbound": "s"}], "final": "u"},
    "experimental": {"cache_file": {"enabled": true, "path": "x.json", "cache_id": "me"},
                     "clash_api": {"external_controller": "127.0.0.1:9091", "secret": "k", "default_mode": "Global",
                                   "external_ui": "ui", "access_control_allow_origin": ["http://a"]}}})");
  const auto& s = std::get<config::SelectorOutboundOptions>(o.outbounds[0].options);
  EXPECT_EQ(s.default_, "d");
  EXPECT_TRUE(s.interrupt_exist_connections);
  const auto& u = std::get<config::UrlTestOutboundOptions>(o.outbounds[1].options);
  EXPECT_EQ(u.tolerance_ms, 80);
  EXPECT_EQ(u.interval, std::chrono::minutes(1));
  EXPECT_EQ(o.route.rules[0].clash_mode, "global");
  EXPECT_TRUE(o.cache_file.enabled);
  EXPECT_EQ(o.cache_file.cache_id, "me");
  ASSERT_TRUE(o.clash_api);
  EXPECT_EQ(o.clash_api->listen, "127.0.0.1");
  EXPECT_EQ(o.clash_api->default_mode, "Global");
  // Defaults: sing-box's.
  auto d = config::load_string(R"({"outbounds": [{"type": "urltest", "outbounds": ["d"]}, {"type": "direct", "tag": "d"}],
                                   "experimental": {"clash_api": {}}})");
  const auto& du = std::get<config::UrlTestOutboundOptions>(d.outbounds[0].options);
  EXPECT_EQ(du.url, "https://www.gstatic.com/generate_204");
  EXPECT_EQ(du.interval, std::chrono::minutes(3));
  EXPECT_EQ(du.tolerance_ms, 50);
  EXPECT_EQ(d.clash_api->listen, "127.0.0.1");
  EXPECT_EQ(d.clash_api->listen_port, 9090);
}

TEST(GroupConfig, Errors) {
  expect_config_error(R"({"outbounds": [{"type": "selector", "tag": "s"}]})", "outbounds[0].outbounds", "missing");
  expect_config_error(R"({"outbounds": [{"type": "selector", "tag": "s", "outbounds": ["x"]}]})", "outbounds[0].outbounds[0]",
               "unknown outbound \"x\"");
  expect_config_error(R"({"outbounds": [{"type": "selector", "tag": "s", "outbounds": ["d"], "default": "e"},
                  {"type": "direct", "tag": "d"}]})", "outbounds[0].default", "not one of outbounds");
  expect_config_error(R"({"outbounds": [{"type": "selector", "tag": "s", "outbounds": ["t"]},
                  {"type": "selector", "tag": "t", "outbounds": ["s"]}]})", "outbounds[1].outbounds",
               "cannot contain itself");
  expect_config_error(R"({"outbounds": [{"type": "urltest", "tag": "u", "outbounds": ["d"], "url": "ftp://x"},
                  {"type": "direct", "tag": "d"}]})", "outbounds[0].url", "http://");
  expect_config_error(R"({"outbounds": [{"type": "urltest", "tag": "u", "outbounds": ["d"], "interval": "1h",
                  "idle_timeout": "10m"}, {"type": "direct", "tag": "d"}]})", "outbounds[0].interval", "idle_timeout");
  expect_config_error(R"({"outbounds": [{"type": "selector", "tag": "s", "outbounds": ["d"], "extra": 1},
                  {"type": "direct", "tag": "d"}]})", "outbounds[0].extra", "unknown field");
  expect_config_error(R"({"experimental": {"clash_api": {"store_selected": true}}})", "experimental.clash_api.store_selected",
               "experimental.cache_file");
  expect_config_error(R"({"experimental": {"clash_api": {"external_controller": "localhost:9090"}}})",
               "experimental.clash_api.external_controller", "IP address");
  expect_config_error(R"({"experimental": {"clash_api": {"external_ui_download_url": "ftp://x"}}})",
               "experimental.clash_api.external_ui_download_url", "http:// or https://");
  expect_config_error(R"({"experimental": {"clash_api": {"external_ui_download_detour": "nope"}}})",
               "experimental.clash_api.external_ui_download_detour", "unknown outbound");
}

TEST(ClashMode, RulesFollowTheMode) {
  outbound::BlockOutbound direct("direct"), proxy("proxy");
  config::RouteOptions route;
  config::RouteRule r;
  r.clash_mode = "Direct";
  r.outbound = "direct";
  route.rules.push_back(r);
  route.final = "proxy";
  route::RuleRouter router(route, "proxy", [&](std::string_view tag) -> outbound::Outbound* {
    return tag == "direct" ? &direct : tag == "proxy" ? &proxy : nullptr;
  });
  auto md = tcp_to(80);
  route::set_clash_mode("Rule");
  EXPECT_EQ(router.decide(md).outbound, &proxy);
  route::set_clash_mode("direct");  // case-insensitive, as sing-box
  EXPECT_EQ(router.decide(md).outbound, &direct);
  route::set_clash_mode("Rule");
}

// ---- codecs ------------------------------------------------------------------------

TEST(WebSocket, AcceptKeyAndFrames) {
  // RFC 6455 section 1.3's example.
  EXPECT_EQ(http::ws::accept_key("dGhlIHNhbXBsZSBub25jZQ=="), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
  auto f = http::ws::encode_frame(http::ws::Opcode::text, "hi");
  EXPECT_EQ(f, std::string("\x81\x02hi", 4));
  EXPECT_EQ(http::ws::encode_frame(http::ws::Opcode::text, std::string(300, 'x')).substr(0, 4),
            std::string("\x81\x7e\x01\x2c", 4));
  // A masked client frame "Hello" (RFC 6455 5.7).
  std::string masked("\x81\x85\x37\xfa\x21\x3d\x7f\x9f\x4d\x51\x58", 11);
  http::ws::Frame fr;
  std::size_t used = 0;
  ASSERT_EQ(http::ws::parse_frame(masked, 1024, fr, used), http::ws::Parse::ok);
  EXPECT_EQ(fr.payload, "Hello");
  EXPECT_EQ(used, 11u);
  EXPECT_EQ(http::ws::parse_frame(masked.substr(0, 7), 1024, fr, used), http::ws::Parse::need_more);
  EXPECT_EQ(http::ws::parse_frame(std::string("\x81\x05Hello", 7), 1024, fr, used), http::ws::Parse::invalid);  // unmasked
  EXPECT_EQ(http::ws::parse_frame(masked, 4, fr, used), http::ws::Parse::too_large);
  EXPECT_EQ(http::ws::parse_frame(std::string("\x89\xfe\x00\x80", 4), 1024, fr, used), http::ws::Parse::invalid);  // ping > 125
}

TEST(ProbeUrl, Parses) {
  auto u = outbound::ProbeUrl::parse("https://www.gstatic.com/generate_204");
  ASSERT_TRUE(u);
  EXPECT_TRUE(u->tls);
  EXPECT_EQ(u->host, "www.gstatic.com");
  EXPECT_EQ(u->port, 443);
  EXPECT_EQ(u->target, "/generate_204");
  auto v = outbound::ProbeUrl::parse("http://[::1]:8080?x=1");
  ASSERT_TRUE(v);
  EXPECT_EQ(v->host, "::1");
  EXPECT_EQ(v->port, 8080);
  EXPECT_EQ(v->target, "/?x=1");
  EXPECT_EQ(v->host_header, "[::1]:8080");
  EXPECT_FALSE(outbound::ProbeUrl::parse("http://:80/"));
  EXPECT_FALSE(outbound::ProbeUrl::parse("http://h:99999/"));
  EXPECT_FALSE(outbound::ProbeUrl::parse("socks5://h/"));
}

// ---- urltest: failover --------------------------------------------------------------

struct Failover {
  std::unique_ptr<inbound::AnyTlsServer> server_b;
  std::unique_ptr<app::Components> parts;
  std::string chosen;
  std::string after;
  std::int64_t failover_ms = -1;
  std::error_code live_end;
};

asio::awaitable<void> failover_body(Env* env, Failover* f) {
  auto* autog = dynamic_cast<outbound::UrlTestOutbound*>(f->parts->outbound("auto"));
  CO_ASSERT_TRUE(autog != nullptr);
  auto* a = f->parts->outbound("a");
  auto* b = f->parts->outbound("b");
  // The first probe round (at start) measures both servers through their
  // pools.
  std::function<bool()> both = [&] { return !autog->checking() && autog->delay_of(a) && autog->delay_of(b); };
  bool measured = co_await eventually(both, Ms(10000), Ms(20));
  CO_ASSERT_TRUE(measured);
  auto* chosen = autog->now();
  CO_ASSERT_TRUE(chosen != nullptr);
  f->chosen = chosen->tag();
  // Probes go through the anytls pools: another round reuses the warm
  // session each pool kept from the first, it dials none.
  auto* pa = dynamic_cast<outbound::AnyTlsOutbound*>(a);
  auto* pb = dynamic_cast<outbound::AnyTlsOutbound*>(b);
  const auto made_a = pa->stats().sessions_created, made_b = pb->stats().sessions_created;
  EXPECT_GE(made_a, 1u);
  EXPECT_GE(made_b, 1u);
  const auto checks = autog->checks();
  co_await autog->check_all();
  EXPECT_EQ(autog->checks(), checks + 1);
  EXPECT_EQ(pa->stats().sessions_created, made_a);
  EXPECT_EQ(pb->stats().sessions_created, made_b);
  EXPECT_TRUE(autog->delay_of(a) && autog->delay_of(b));

  // A connection in use through the chosen server, by the dispatch path.
  auto md = tcp_to(env->echo.port());
  auto live = co_await inbound::connect(f->parts->router(), md);
  CO_ASSERT_TRUE(live.ok());
  auto echoed = co_await echo_once(**live, "before");
  EXPECT_EQ(echoed, "before");

  // "kill" it: the server stops, closing its listener and every session.
  if (chosen == a)
    env->server->stop();
  else
    f->server_b->stop();

  // The live connection ends (no hang).
  auto [data, end] = co_await read_to_end(**live, 1024);
  f->live_end = end;

  // New connections: the first one already succeeds, on the other server.
  auto start = Steady::now();
  auto md2 = tcp_to(env->echo.port());
  auto next = co_await inbound::connect(f->parts->router(), md2);
  CO_ASSERT_TRUE(next.ok());
  auto again = co_await echo_once(**next, "after");
  f->failover_ms = std::chrono::duration_cast<std::chrono::milliseconds>(Steady::now() - start).count();
  EXPECT_EQ(again, "after");
  f->after = autog->now()->tag();
  // The failed dial started a re-test; it ends with the survivor measured
  // and the dead one without a delay.
  auto* survivor = chosen == a ? b : a;
  std::function<bool()> only_survivor = [&] { return autog->delay_of(survivor) && !autog->delay_of(chosen); };
  bool retested = co_await eventually(only_survivor, Ms(10000), Ms(20));
  EXPECT_TRUE(retested);
  for (int i = 0; i < 3; ++i) {
    auto mdn = tcp_to(env->echo.port());
    auto c = co_await inbound::connect(f->parts->router(), mdn);
    CO_ASSERT_TRUE(c.ok());
    auto e = co_await echo_once(**c, "more");
    EXPECT_EQ(e, "more");
  }
  (*next)->close();
  (*live)->close();
  f->parts->stop();
  co_await f->parts->join();
  f->server_b->stop();
}

TEST(UrlTest, FailsOverWhenTheChosenServerStops) {
  Env env;
  Failover f;
  f.server_b = second_server(env);
  f.parts = std::make_unique<app::Components>(env.io, env.resolver);
  auto opts = group_options(env.server->port(), f.server_b->port(), env.http.port());
  ASSERT_FALSE(f.parts->start(opts).has_value());
  run(env, failover_body(&env, &f), Ms(30000));
  EXPECT_FALSE(f.chosen.empty());
  EXPECT_NE(f.after, f.chosen);
  EXPECT_TRUE(f.live_end) << "the connection through the stopped server ended with an error or EOF";
  // Stated bound: a failed dial on loopback (connection refused) plus one
  // dial of the other member; well under the 5 s connect timeout.
  EXPECT_GE(f.failover_ms, 0);
  EXPECT_LT(f.failover_ms, 5000);
  // The probes asked the local HTTP server for the URL's path.
  bool probed = false;
  for (const auto& r : env.http.requests()) probed = probed || r.rfind("GET /generate_204 HTTP/1.1", 0) == 0;
  EXPECT_TRUE(probed);
}

// ---- an https:// probe through an anytls member ---------------------------------------

// One-request HTTPS server on 127.0.0.1:0 with the test certificate (SAN
// 127.0.0.1): TLS handshake, read the request head, answer 204.
asio::awaitable<void> https_once(std::shared_ptr<asio::ip::tcp::acceptor> acc, std::shared_ptr<std::string> seen) {
  auto [aec, sock] = co_await acc->async_accept(use_tuple);
  if (aec) co_return;
  config::InboundTlsOptions o;
  o.enabled = true;
  o.certificate = test_pem().cert;
  o.key = test_pem().key;
  auto ctx = tls::ServerContext::create(o);
  if (!ctx) co_return;
  auto sslctx = (*ctx)->current();
  tls::TlsConn conn(std::move(sock), sslctx.get(), tls::TlsConn::Role::server);
  auto hec = co_await conn.handshake();
  if (hec) co_return;
  std::string in;
  char buf[1024];
  const asio::mutable_buffer space = asio::buffer(buf);
  while (in.find("\r\n\r\n") == std::string::npos && in.size() < 8192) {
    auto [ec, n] = co_await conn.read_some(space);
    if (n == 0) co_return;
    in.append(buf, n);
  }
  *seen = in;
  const std::string reply = "HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n";
  (void)co_await conn.write(asio::buffer(reply));
  conn.close();
}

struct HttpsProbe {
  std::string cert_path;
  std::shared_ptr<std::string> seen = std::make_shared<std::string>();
  std::string result;
  std::string untrusted;
};

asio::awaitable<void> https_body(Env* env, HttpsProbe* h) {
  auto acc = std::make_shared<asio::ip::tcp::acceptor>(env->io, asio::ip::tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
  const auto port = acc->local_endpoint().port();
  net::TaskGroup servers(env->io.get_executor(), "https test server");
  auto& client = env->start_client();
  auto url = outbound::ProbeUrl::parse("https://127.0.0.1:" + std::to_string(port) + "/generate_204");
  CO_ASSERT_TRUE(url.has_value());
  // Without the certificate in the trust store the probe fails.
  ::unsetenv("SSL_CERT_FILE");
  servers.spawn(https_once(acc, h->seen), "https once");
  auto bad = co_await outbound::probe_url(client, *url, Ms(5000), nullptr);
  h->untrusted = bad ? std::string("accepted") : bad.error().text();
  // Trusted (SSL_CERT_FILE is what OpenSSL's default store reads).
  ::setenv("SSL_CERT_FILE", h->cert_path.c_str(), 1);
  servers.spawn(https_once(acc, h->seen), "https once");
  auto good = co_await outbound::probe_url(client, *url, Ms(5000), nullptr);
  h->result = good ? "ok" : good.error().text();
  ::unsetenv("SSL_CERT_FILE");
  acc->close();
  co_await servers.join();
}

TEST(UrlTest, HttpsProbeThroughAnAnyTlsMember) {
  Env env;
  HttpsProbe h;
  auto dir = std::filesystem::temp_directory_path() / ("anytls-probe-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  h.cert_path = (dir / "ca.pem").string();
  std::ofstream(h.cert_path) << test_pem().cert;
  run(env, https_body(&env, &h), Ms(30000));
  EXPECT_THAT(h.untrusted, HasSubstr("certificate"));
  EXPECT_EQ(h.result, "ok");
  EXPECT_THAT(*h.seen, HasSubstr("GET /generate_204 HTTP/1.1\r\nHost: 127.0.0.1:"));
  std::filesystem::remove_all(dir);
}

// ---- urltest: probes only while in use (virtual time) ----------------------------------

struct Idle {
  std::vector<std::uint64_t> counts;  // checks() at each step
};

// Moves virtual time by one minute (the interval) and waits (real time) for
// what that step does: a round while the loop runs, which then finishes; or
// the loop ending because the group is idle; or nothing when it does not run.
asio::awaitable<void> minute(Env* env, outbound::UrlTestOutbound* u) {
  const auto before = u->checks();
  env->clock.advance(std::chrono::minutes(1));
  std::function<bool()> started = [u, before] { return u->checks() > before || !u->in_use(); };
  (void)co_await eventually(started, Ms(5000), Ms(2));
  std::function<bool()> idle = [u] { return !u->checking(); };
  (void)co_await eventually(idle, Ms(5000), Ms(5));
}

asio::awaitable<void> idle_body(Env* env, Idle* r) {
  outbound::DirectOutbound d1("d1", config::DirectOutboundOptions{}, env->resolver);
  outbound::DirectOutbound d2("d2", config::DirectOutboundOptions{}, env->resolver);
  config::UrlTestOutboundOptions o;
  o.outbounds = std::vector<std::string>{"d1", "d2"};
  o.url = "http://127.0.0.1:" + std::to_string(env->http.port()) + "/";
  o.interval = std::chrono::minutes(1);
  o.idle_timeout = std::chrono::minutes(5);
  outbound::UrlTestOutbound u(env->io, "auto", o, &env->clock);
  u.set_members(std::vector<outbound::Outbound*>{&d1, &d2});
  u.start();
  std::function<bool()> first = [&u, &d1, &d2] { return !u.checking() && u.delay_of(&d1) && u.delay_of(&d2); };
  bool measured = co_await eventually(first, Ms(5000), Ms(5));
  CO_ASSERT_TRUE(measured);
  r->counts.push_back(u.checks());  // 1: the round at start
  // Unused: no rounds.
  co_await minute(env, &u);
  co_await minute(env, &u);
  r->counts.push_back(u.checks());  // still 1
  // A connection wakes the loop; the last round is 2 minutes old, so one
  // runs at once.
  auto c = co_await dial_tcp(u, env->echo.port());
  CO_ASSERT_TRUE(c.ok());
  (*c)->close();
  std::function<bool()> woke = [&u] { return u.checks() == 2 && !u.checking(); };
  bool again = co_await eventually(woke, Ms(5000), Ms(5));
  CO_ASSERT_TRUE(again);
  r->counts.push_back(u.checks());  // 2
  // Then one per interval until idle_timeout (5 min) has passed since the
  // connection, and none after.
  for (int i = 0; i < 12; ++i) co_await minute(env, &u);
  r->counts.push_back(u.checks());
  for (int i = 0; i < 5; ++i) co_await minute(env, &u);
  r->counts.push_back(u.checks());
  u.stop();
  co_await u.join();
}

TEST(UrlTest, ProbesOnlyWhileInUse) {
  Env env;
  Idle r;
  run(env, idle_body(&env, &r), Ms(30000));
  ASSERT_EQ(r.counts.size(), 5u);
  EXPECT_EQ(r.counts[0], 1u);
  EXPECT_EQ(r.counts[1], 1u);
  EXPECT_EQ(r.counts[2], 2u);
  // Used at t=2m: rounds at 3, 4, 5, 6 and 7 min (idle 1..5 min), the loop
  // ends at 8 min (idle 6 min > 5 min).
  EXPECT_EQ(r.counts[3], 7u);
  EXPECT_EQ(r.counts[4], r.counts[3]);
}

// ---- selector + cache_file across a restart ----------------------------------------------

struct Restart {
  std::unique_ptr<inbound::AnyTlsServer> server_b;
  std::string path;
  std::string first_now, second_now, third_now;
  std::size_t interrupted = 0;
};

// Starts the components of opts with co's cache file as their selection
// store; returns the choice of the selector "select", after stopping them.
asio::awaitable<std::string> selection_at_start(Env* env, const config::Options& opts,
                                                const config::CacheFileOptions& co) {
  app::CacheFile cache(co);
  EXPECT_EQ(cache.open(), "");
  app::Components parts(env->io, env->resolver);
  parts.set_selection_store(&cache);
  CO_ASSERT_TRUE(!parts.start(opts).has_value());
  auto now = dynamic_cast<outbound::SelectorOutbound*>(parts.outbound("select"))->now()->tag();
  parts.stop();
  co_await parts.join();
  co_return now;
}

asio::awaitable<void> restart_body(Env* env, Restart* r) {
  auto opts = group_options(env->server->port(), r->server_b->port(), env->http.port());
  std::get<config::SelectorOutboundOptions>(opts.outbounds[3].options).interrupt_exist_connections = true;
  config::CacheFileOptions co;
  co.enabled = true;
  co.path = r->path;
  {
    app::CacheFile cache(co);
    EXPECT_EQ(cache.open(), "");
    app::Components parts(env->io, env->resolver);
    parts.set_selection_store(&cache);
    CO_ASSERT_TRUE(!parts.start(opts).has_value());
    auto* sel = dynamic_cast<outbound::SelectorOutbound*>(parts.outbound("select"));
    r->first_now = sel->now()->tag();
    // A connection through the current choice (auto), then a switch to b:
    // interrupt_exist_connections closes it.
    auto md = tcp_to(env->echo.port());
    auto live = co_await inbound::connect(parts.router(), md);
    CO_ASSERT_TRUE(live.ok());
    auto echoed = co_await echo_once(**live, "x");
    EXPECT_EQ(echoed, "x");
    EXPECT_TRUE(sel->select("b"));
    EXPECT_FALSE(sel->select("nope"));
    auto [data, end] = co_await read_to_end(**live, 16);
    if (end) ++r->interrupted;
    parts.stop();
    co_await parts.join();
  }
  r->second_now = co_await selection_at_start(env, opts, co);
  // Another cache_id in the same file starts from the default.
  co.cache_id = "other";
  r->third_now = co_await selection_at_start(env, opts, co);
  r->server_b->stop();
}

TEST(Selector, ChoiceSurvivesARestartThroughTheCacheFile) {
  Env env;
  Restart r;
  r.server_b = second_server(env);
  auto dir = std::filesystem::temp_directory_path() / ("anytls-cache-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  r.path = (dir / "cache.db").string();
  std::filesystem::remove(r.path);
  run(env, restart_body(&env, &r), Ms(30000));
  EXPECT_EQ(r.first_now, "auto");
  EXPECT_EQ(r.second_now, "b");
  EXPECT_EQ(r.third_now, "auto");
  EXPECT_EQ(r.interrupted, 1u);
  std::ifstream in(r.path);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_THAT(text, HasSubstr("\"select\": \"b\""));
  EXPECT_FALSE(std::filesystem::exists(r.path + ".tmp"));
  // Someone else's file is not overwritten.
  {
    std::ofstream(r.path, std::ios::trunc) << "bbolt binary";
    config::CacheFileOptions co;
    co.enabled = true;
    co.path = r.path;
    app::CacheFile cache(co);
    EXPECT_THAT(cache.open(), HasSubstr("will not be stored"));
    cache.save_selected("select", "a");
    std::ifstream again(r.path);
    std::string kept((std::istreambuf_iterator<char>(again)), std::istreambuf_iterator<char>());
    EXPECT_EQ(kept, "bbolt binary");
  }
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace anytls::integ
