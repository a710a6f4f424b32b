// Issue "anytls server": the AnyTLS server with real TLS on 127.0.0.1,
// driven by the real anytls client (or raw TLS / TCP clients), streams routed
// by a RuleRouter to the direct outbound and on to local services.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <functional>
#include <optional>

#include <asio/co_spawn.hpp>
#include <asio/experimental/awaitable_operators.hpp>
#include <asio/ip/tcp.hpp>
#include <openssl/sha.h>

#include <spdlog/sinks/ringbuffer_sink.h>
#include <spdlog/spdlog.h>

#include "anytls/uot.hpp"
#include "route/rule_router.hpp"
#include "config/load.hpp"
#include "integration/harness.hpp"
#include "support/run.hpp"

namespace anytls::integ {
namespace {


bool contains(const std::string& s, std::string_view part) { return s.find(part) != std::string::npos; }

// Writes `data` while reading the echo back concurrently.
asio::awaitable<std::string> transfer(net::Conn* c, std::string data) {
  using namespace asio::experimental::awaitable_operators;
  std::string back;
  auto w = write_all(*c, data);
  auto r = read_exact(*c, back, data.size());
  auto [wec, rec] = co_await (std::move(w) && std::move(r));
  if (wec) co_return "error: write: " + wec.message();
  if (rec) co_return "error: read: " + rec.message() + " after " + std::to_string(back.size()) + " bytes";
  co_return back;
}

// ------------------------------------------------------------------ TCP streams

asio::awaitable<void> tcp_echo_body(Env* env) {
  auto& client = env->start_client();
  auto conn = co_await dial_tcp(client, env->echo.port());
  CO_ASSERT_TRUE(conn.ok());
  // 1 MiB: many PSH frames (<= 65535 bytes each) and TLS records each way.
  auto data = pattern(1 << 20, 1);
  auto back = co_await transfer(conn->get(), data);
  EXPECT_EQ(back.size(), data.size()) << back.substr(0, 200);
  EXPECT_TRUE(back == data) << "echoed bytes differ";
  // A small second exchange on the same stream.
  auto got1 = co_await echo_once(**conn, "ping");
  EXPECT_EQ(got1, "ping");
  (*conn)->close();
  EXPECT_EQ(env->server->stats().handshakes, 1u);
  EXPECT_EQ(env->server->stats().authenticated, 1u);
  EXPECT_EQ(env->server->stats().streams, 1u);
  EXPECT_EQ(env->echo.accepted(), 1u);
}

ENV_TEST(AnyTlsServerInteg, TcpEchoThroughServer, tcp_echo_body, 20s)

asio::awaitable<void> http_body(Env* env) {
  auto& client = env->start_client();
  auto conn = co_await dial_tcp(client, env->http.port());
  CO_ASSERT_TRUE(conn.ok());
  auto ec6 = co_await write_all(**conn, "GET /index.html HTTP/1.1\r\nHost: test.local\r\n\r\n");
  CO_ASSERT_TRUE(!ec6);
  auto [resp, ec] = co_await read_to_end(**conn, 1 << 20);
  // The HTTP server closes after its response: the stream ends with FIN.
  EXPECT_EQ(ec, asio::error::eof) << ec.message();
  EXPECT_EQ(resp.rfind("HTTP/1.1 200 OK\r\n", 0), 0u) << resp;
  EXPECT_TRUE(contains(resp, "\r\n\r\nhello from the http server")) << resp;
  CO_ASSERT_TRUE(env->http.requests().size() == 1);
  EXPECT_EQ(env->http.requests()[0].rfind("GET /index.html HTTP/1.1\r\nHost: test.local\r\n", 0), 0u)
      << env->http.requests()[0];
}

// A bug in one stream's handler (here: the router throws) is logged with
// what the task was doing, ends that stream, and leaves the session and the
// server serving.
asio::awaitable<void> throwing_handler_body(Env* env, spdlog::sinks::ringbuffer_sink_mt* sink) {
  static constexpr std::uint16_t bad_port = 7;
  env->server_router.before_route = [](const outbound::Metadata& md) {
    if (md.destination.port == bad_port) throw std::runtime_error("router exploded");
  };
  auto& client = env->start_client();
  auto bad = co_await client.dial(tcp_to(bad_port));
  CO_ASSERT_TRUE(bad.ok());
  std::string out;
  auto ec = co_await read_exact(**bad, out, 1);
  EXPECT_TRUE(ec) << "the failed stream did not end";
  (*bad)->close();
  // The same session carries the next stream.
  auto problem = co_await dial_echo(&client, env->echo.port(), "still alive");
  EXPECT_EQ(problem, "");
  EXPECT_EQ(env->server->stats().authenticated, 1u);
  EXPECT_EQ(env->server->live_sessions(), 1u);
  bool logged = false;
  for (const auto& line : sink->last_formatted())
    if (contains(line, "task failed: router exploded") && contains(line, "stream [")) logged = true;
  EXPECT_TRUE(logged) << "no log line for the exception";
}

TEST(AnyTlsServerInteg, ExceptionInStreamHandlerIsLoggedAndContained) {
  auto sink = std::make_shared<spdlog::sinks::ringbuffer_sink_mt>(64);
  auto previous = spdlog::default_logger();
  spdlog::set_default_logger(std::make_shared<spdlog::logger>("test", sink));
  {
    Env env;
    run(env, throwing_handler_body(&env, sink.get()), 20s);
  }
  spdlog::set_default_logger(previous);
}

ENV_TEST(AnyTlsServerInteg, HttpRequestThroughServer, http_body, 20s)

// A port nobody listens on: a bound, non-listening socket holds it, so a
// connect gets a reset (refused) for as long as the test runs.
struct ClosedPort {
  explicit ClosedPort(asio::io_context& io) : s(io) {
    s.open(asio::ip::tcp::v4());
    s.bind({asio::ip::make_address_v4("127.0.0.1"), 0});
  }
  std::uint16_t port() const { return s.local_endpoint().port(); }
  asio::ip::tcp::socket s;
};

// Reads from a stream the server refused: expects the read to fail with
// connection_refused; closes the stream and returns its failure() text.
asio::awaitable<std::string> refused_failure(net::Conn& conn) {
  std::string out;
  auto op = read_exact(conn, out, 1);
  auto ec = co_await std::move(op);
  EXPECT_EQ(ec, asio::error::connection_refused) << ec.message();
  auto text = conn.failure();
  conn.close();
  co_return text;
}

asio::awaitable<void> closed_port_body(Env* env, std::uint16_t closed) {
  auto& client = env->start_client();
  // Warm the session: after one stream the client knows the server speaks v2
  // (and watches the SYNACK of later streams).
  auto got2 = co_await dial_echo(&client, env->echo.port(), "warm");
  EXPECT_EQ(got2, "");

  // dial() returns at once, like the reference client (the destination
  // travels with the SYN); the SYNACK's error ends the stream: the first
  // read fails with connection_refused and failure() has the server's text.
  auto conn = co_await dial_tcp(client, closed);
  CO_ASSERT_TRUE(conn.ok());
  auto text = co_await refused_failure(**conn);
  EXPECT_TRUE(contains(text, "remote:")) << text;
  EXPECT_TRUE(contains(text, "refused")) << text;

  // A destination the route rejects: also a SYNACK with text.
  auto md2 = tcp_to(Env::kRejectPort);
  auto rejected = co_await client.dial(md2);
  CO_ASSERT_TRUE(rejected.ok());
  auto rejected_text = co_await refused_failure(**rejected);
  EXPECT_TRUE(contains(rejected_text, "remote: rejected by route")) << rejected_text;

  // The session survives failed streams: the next request reuses it.
  auto got3 = co_await dial_echo(&client, env->echo.port(), "after");
  EXPECT_EQ(got3, "");
  EXPECT_EQ(env->server->stats().handshakes, 1u);
  EXPECT_EQ(client.stats().sessions_created, 1u);
  EXPECT_EQ(client.stats().retries, 0u);
}

TEST(AnyTlsServerInteg, DialToClosedPortGetsSynackError) {
  Env env;
  ClosedPort closed(env.io);
  run(env, closed_port_body(&env, closed.port()), 20s);
}

asio::awaitable<void> closed_port_fresh_body(Env* env, std::uint16_t closed) {
  // Stream 1 of a brand-new session: the client cannot know yet that the
  // server speaks v2, so (like the reference client) dial() may succeed; the
  // error must then come from the first read.
  auto& client = env->start_client();
  auto conn = co_await dial_tcp(client, closed);
  if (!conn.ok()) {
    EXPECT_TRUE(contains(conn.error().text(), "remote:")) << conn.error().text();
    EXPECT_TRUE(contains(conn.error().text(), "refused")) << conn.error().text();
  } else {
    // The session goes back to the pool when the user lets go of the stream.
    (void)co_await refused_failure(**conn);
  }
  auto got4 = co_await dial_echo(&client, env->echo.port(), "still fine");
  EXPECT_EQ(got4, "");
  EXPECT_EQ(env->server->stats().handshakes, 1u);
}

TEST(AnyTlsServerInteg, DialToClosedPortOnFreshSessionFailsTheStream) {
  Env env;
  ClosedPort closed(env.io);
  run(env, closed_port_fresh_body(&env, closed.port()), 20s);
}

// ------------------------------------------------------------------ authentication

// A well-formed preamble with the wrong password: sha256 + u16 30 + 30 zeros.
std::string bad_preamble() {
  std::string wrong = "not the password";
  std::string p(32, '\0');
  SHA256(reinterpret_cast<const unsigned char*>(wrong.data()), wrong.size(),
         reinterpret_cast<unsigned char*>(p.data()));
  p += std::string("\x00\x1e", 2);
  p += std::string(30, '\0');
  return p;
}

asio::awaitable<void> fallback_body(Env* env) {
  auto conn = co_await tls_connect(env->raw_tls, env->server->port());
  std::string request = "GET / HTTP/1.1\r\nHost: prober.example\r\n\r\n";
  auto sent = bad_preamble() + request;
  CO_ASSERT_TRUE(sent.size() == 64 + request.size());
  auto ec7 = co_await write_all(*conn, sent);
  CO_ASSERT_TRUE(!ec7);
  auto [resp, ec] = co_await read_to_end(*conn, 1 << 20);
  EXPECT_EQ(resp.rfind("HTTP/1.1 200 OK\r\n", 0), 0u) << resp;
  EXPECT_TRUE(contains(resp, "\r\n\r\nfallback page")) << resp;
  conn->close();
  // The fallback got every byte the prober sent, the failed preamble first.
  CO_ASSERT_TRUE(env->fallback.requests().size() == 1);
  EXPECT_EQ(env->fallback.requests()[0], sent);
  EXPECT_EQ(env->server->stats().auth_failures, 1u);
  EXPECT_EQ(env->server->stats().fallbacks, 1u);
  EXPECT_EQ(env->server->stats().authenticated, 0u);
}

// A server with a fallback: port 0 is the Env's fallback HTTP server.
config::AnyTlsInboundOptions with_fallback() {
  auto opts = server_options();
  opts.fallback = config::Fallback{"127.0.0.1", 0};
  return opts;
}

ENV_TEST_WITH(AnyTlsServerInteg, WrongPasswordGoesToFallback, with_fallback, fallback_body, 20s)

asio::awaitable<void> no_fallback_body(Env* env) {
  auto conn = co_await tls_connect(env->raw_tls, env->server->port());
  auto probe = bad_preamble() + "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
  auto ec8 = co_await write_all(*conn, probe);
  CO_ASSERT_TRUE(!ec8);
  auto [resp, ec] = co_await read_to_end(*conn, 1 << 20);
  EXPECT_TRUE(ec) << "connection still open";
  EXPECT_EQ(resp, "") << "the server answered a failed authentication";
  // Decided at once on the wrong hash: the server's clock is virtual and
  // never moves here, so waiting for the handshake timeout would hang.
  EXPECT_EQ(env->server->stats().auth_failures, 1u);
  EXPECT_EQ(env->server->stats().fallbacks, 0u);
  EXPECT_EQ(env->server->live_sessions(), 0u);
}

ENV_TEST(AnyTlsServerInteg, WrongPasswordWithoutFallbackCloses, no_fallback_body, 20s)

// What a raw TLS connection read to its end: the bytes and how it ended.
struct ReadToEnd {
  std::string data;
  std::error_code end;
};

// Sends `bytes` (shorter than the 32-byte hash) on a new raw TLS connection,
// waits until the server has armed its short preamble wait, moves its
// virtual clock 49 ms (`at_49ms` checks what has not happened yet), then
// 1 ms more, and reads the connection to its end. Null when the bytes did
// not get there.
asio::awaitable<std::optional<ReadToEnd>> across_short_wait(Env* env, std::string bytes,
                                                            std::function<void()> at_49ms) {
  auto conn = co_await tls_connect(env->raw_tls, env->server->port());
  auto ec1 = co_await write_all(*conn, bytes);
  EXPECT_FALSE(ec1) << ec1.message();
  // The bytes have reached the server when its short wait is armed.
  bool read = co_await eventually([&] { return env->clock.next_deadline() <= env->clock.now() + 50ms; }, 5000ms, 1ms);
  EXPECT_TRUE(read);
  if (ec1 || !read) co_return std::nullopt;
  co_await advance_settle(env, 49ms);
  at_49ms();
  env->clock.advance(1ms);
  auto [resp, ec] = co_await read_to_end(*conn, 1 << 20);
  co_return ReadToEnd{std::move(resp), ec};
}

// A prober's short request (18 bytes, less than the 32-byte hash) goes to
// the fallback with its bytes, once kShortPreambleWait (50 ms) has passed
// without more: not at the handshake timeout (5 s here). On the server's
// virtual clock: nothing at 49 ms, the fallback's answer at 50 ms.
asio::awaitable<void> short_probe_body(Env* env) {
  std::string probe = "GET / HTTP/1.0\r\n\r\n";
  auto got = co_await across_short_wait(
      env, probe, [env] { EXPECT_EQ(env->server->stats().fallbacks, 0u) << "decided before the short wait"; });
  CO_ASSERT_TRUE(got.has_value());
  const std::string& resp = got->data;
  EXPECT_EQ(resp.rfind("HTTP/1.1 200 OK\r\n", 0), 0u) << resp;
  EXPECT_TRUE(contains(resp, "fallback page")) << resp;
  CO_ASSERT_TRUE(env->fallback.requests().size() == 1);
  EXPECT_EQ(env->fallback.requests()[0], probe) << "the fallback did not get the probe's bytes";
  EXPECT_EQ(env->server->stats().auth_failures, 1u);
  EXPECT_EQ(env->server->stats().fallbacks, 1u);
}

ENV_TEST_WITH(AnyTlsServerInteg, ShortProbeGoesToFallbackAfterShortWait, with_fallback, short_probe_body, 20s)

// Without a fallback a short wrong preamble (31 bytes) is closed at the
// short wait, as a long one (64 bytes) is closed at once: never at the
// handshake timeout.
asio::awaitable<void> short_no_fallback_body(Env* env) {
  auto got = co_await across_short_wait(env, bad_preamble().substr(0, 31), [env] {
    EXPECT_EQ(env->server->stats().auth_failures, 0u) << "decided before the short wait";
  });
  CO_ASSERT_TRUE(got.has_value());
  EXPECT_TRUE(got->end);
  EXPECT_EQ(got->data, "");
  EXPECT_EQ(env->server->stats().auth_failures, 1u);
}

ENV_TEST(AnyTlsServerInteg, ShortWrongPreambleWithoutFallbackClosesAtShortWait, short_no_fallback_body, 20s)

// A preamble split over two TLS records sent back to back (first one
// shorter than the hash) still authenticates.
asio::awaitable<void> split_preamble_body(Env* env) {
  auto conn = co_await tls_connect(env->raw_tls, env->server->port());
  std::string p(32, '\0');
  std::string pw(kPassword);
  SHA256(reinterpret_cast<const unsigned char*>(pw.data()), pw.size(), reinterpret_cast<unsigned char*>(p.data()));
  p += std::string("\x00\x04", 2) + std::string(4, '\0');
  auto first = p.substr(0, 10), second = p.substr(10);
  auto ec1 = co_await write_all(*conn, first);
  auto ec2 = co_await write_all(*conn, second);
  CO_ASSERT_TRUE(!ec1 && !ec2);
  bool ok = co_await eventually([&] { return env->server->stats().authenticated == 1; }, 5000ms, 1ms);
  EXPECT_TRUE(ok);
  EXPECT_EQ(env->server->stats().auth_failures, 0u);
}

ENV_TEST(AnyTlsServerInteg, PreambleSplitOverRecordsAuthenticates, split_preamble_body, 20s)

// Per-user limits: a user at max_sessions_per_user gets its next session
// closed, one at max_streams_per_user gets its next stream refused; another
// user is served all the while.
asio::awaitable<void> user_limits_body(Env* env) {
  auto& a1 = env->start_client();
  auto held = co_await a1.dial(tcp_to(env->echo.port()));  // alice: session 1, stream 1 (kept open)
  CO_ASSERT_TRUE(held.ok());
  auto first = co_await echo_once(**held, "one");
  EXPECT_EQ(first, "one");
  // Alice's second stream needs a second session (the first is busy):
  // allowed (2 sessions), but over her stream limit (1): refused.
  auto second = co_await a1.dial(tcp_to(env->echo.port()));
  if (second.ok()) {
    auto back = co_await echo_once(**second, "two");
    EXPECT_NE(back, "two") << "a stream over the per-user limit was served";
    EXPECT_THAT((*second)->failure(), ::testing::HasSubstr("too many streams for this user"));
  }
  EXPECT_EQ(env->server->stats().user_limit_refusals, 1u);
  // A third session of alice's (another client) is closed after auth.
  auto& a2 = env->start_client();
  auto third = co_await a2.dial(tcp_to(env->echo.port()));
  if (third.ok()) {
    auto back = co_await echo_once(**third, "three");
    EXPECT_NE(back, "three") << "a session over the per-user limit was served";
  }
  EXPECT_EQ(env->server->stats().user_limit_refusals, 2u);
  // Bob is not affected.
  auto bob_opts = client_options(env->server->port());
  bob_opts.password = "bob's password";
  auto& bob = env->start_client(bob_opts);
  auto problem = co_await dial_echo(&bob, env->echo.port(), "bob");
  EXPECT_EQ(problem, "");
  (*held)->close();
}

TEST(AnyTlsServerInteg, PerUserSessionAndStreamLimits) {
  auto opts = server_options();
  opts.users.push_back(config::AnyTlsUser{"bob", "bob's password"});
  opts.max_sessions_per_user = 2;
  opts.max_streams_per_user = 1;
  Env env(opts);
  run(env, user_limits_body(&env), 20s);
}

// A connection that is still open has nothing to read yet (would_block);
// a closed one reads EOF or an error.
bool still_open(asio::ip::tcp::socket& sock) {
  sock.non_blocking(true);
  char b[1];
  std::error_code ec;
  sock.read_some(asio::buffer(b), ec);
  sock.non_blocking(false);
  return ec == asio::error::would_block;
}

asio::awaitable<void> silent_after_tls_body(Env* env) {
  auto conn = co_await tls_connect(env->raw_tls, env->server->port());
  // handshake_timeout (300 ms of the server's virtual time) counts from the
  // accept: nothing happens a millisecond before it, the close at it.
  co_await advance_settle(env, 299ms);
  EXPECT_EQ(env->server->stats().auth_failures, 0u) << "closed before the handshake timeout";
  env->clock.advance(1ms);
  auto [resp, ec] = co_await read_to_end(*conn, 1 << 20);
  EXPECT_TRUE(ec);
  EXPECT_EQ(resp, "");
  EXPECT_EQ(env->server->stats().handshakes, 1u);
  EXPECT_EQ(env->server->stats().auth_failures, 1u);
}

config::AnyTlsInboundOptions with_300ms_handshake_timeout() {
  auto opts = server_options();
  opts.handshake_timeout = 300ms;
  return opts;
}

ENV_TEST_WITH(AnyTlsServerInteg, SilentClientAfterTlsIsClosedAtHandshakeTimeout, with_300ms_handshake_timeout,
              silent_after_tls_body, 20s)

asio::awaitable<void> no_tls_body(Env* env) {
  auto sock = co_await tcp_connect(env->server->port());
  bool accepted = co_await eventually([&] { return env->server->stats().connections == 1; }, 5000ms, 1ms);
  CO_ASSERT_TRUE(accepted);
  co_await advance_settle(env, 299ms);
  EXPECT_TRUE(still_open(sock)) << "closed before the handshake timeout";
  env->clock.advance(1ms);
  char b[64];
  auto [ec, n] = co_await sock.async_read_some(asio::buffer(b), use_tuple);
  EXPECT_TRUE(ec);
  EXPECT_EQ(n, 0u);
  EXPECT_EQ(env->server->stats().connections, 1u);
  EXPECT_EQ(env->server->stats().handshakes, 0u);
}

ENV_TEST_WITH(AnyTlsServerInteg, ClientThatNeverStartsTlsIsClosedAtHandshakeTimeout, with_300ms_handshake_timeout,
              no_tls_body, 20s)

// Handshakes are capped (max_handshakes), and a connection holds no TLS
// state before its first byte: silent ones do not use up a slot. Over the
// cap a client waits for a slot, then completes.
asio::awaitable<void> handshake_cap_body(Env* env) {
  auto silent = co_await tcp_connect(env->server->port());
  bool seen = co_await eventually([&] { return env->server->stats().connections == 1; }, 5000ms, 1ms);
  CO_ASSERT_TRUE(seen);
  co_await test::settle();
  EXPECT_EQ(env->server->handshakes_in_progress(), 0u) << "a silent connection holds a handshake";

  // a: TLS done, no preamble yet: it holds the one slot.
  auto a = co_await tls_connect(env->raw_tls, env->server->port());
  EXPECT_EQ(env->server->handshakes_in_progress(), 1u);
  // b: waits for the slot (no ServerHello yet).
  auto b_done = std::make_shared<bool>(false);
  auto ex = co_await asio::this_coro::executor;
  asio::co_spawn(ex, tls_connect(env->raw_tls, env->server->port()),
                 [b_done](std::exception_ptr e, std::unique_ptr<tls::TlsConn> c) {
                   if (!e && c) *b_done = true;
                 });
  bool waited = co_await eventually([&] { return env->server->stats().handshakes_waited == 1; }, 5000ms, 1ms);
  EXPECT_TRUE(waited);
  co_await test::settle();
  EXPECT_FALSE(*b_done) << "handshake over the cap went ahead";
  // a authenticates: its slot frees, b's handshake proceeds.
  std::string p(32, '\0');
  std::string pw(kPassword);
  SHA256(reinterpret_cast<const unsigned char*>(pw.data()), pw.size(), reinterpret_cast<unsigned char*>(p.data()));
  p += std::string("\x00\x00", 2);
  auto ec = co_await write_all(*a, p);
  EXPECT_FALSE(ec);
  bool b_ok = co_await eventually([&] { return *b_done; }, 5000ms, 1ms);
  EXPECT_TRUE(b_ok);
  EXPECT_EQ(env->server->stats().authenticated, 1u);
  // The client is done with TLS 1.3 before the server has read its Finished.
  bool both = co_await eventually([&] { return env->server->stats().handshakes == 2; }, 5000ms, 1ms);
  EXPECT_TRUE(both);
}

TEST(AnyTlsServerInteg, HandshakesAreCappedAndSilentConnectionsHoldNoTls) {
  auto opts = server_options();
  opts.max_handshakes = 1;
  Env env(opts);
  run(env, handshake_cap_body(&env), 20s);
}

// ------------------------------------------------------------------ UDP over TCP

asio::awaitable<void> uot_non_connect_body(Env* env) {
  auto& client = env->start_client();
  auto md = udp_to(env->udp_echo.port());
  auto pc = co_await client.listen_packet(md);
  CO_ASSERT_TRUE(pc.ok());
  net::Address to{"127.0.0.1", env->udp_echo.port()};
  for (int i = 0; i < 5; ++i) {
    auto payload = pattern(100 + 700 * static_cast<std::size_t>(i), 10 + static_cast<unsigned>(i));
    auto out_buf = asio::buffer(payload);
    auto ec9 = co_await (*pc)->write_packet(out_buf, to);
    CO_ASSERT_TRUE(!ec9);
    std::vector<char> buf(65536);
    net::Address from;
    auto in_buf = asio::buffer(buf);
    auto [ec, n] = co_await (*pc)->read_packet(in_buf, from);
    CO_ASSERT_TRUE(!ec);
    EXPECT_EQ(std::string(buf.data(), n), payload) << "datagram " << i;
    EXPECT_EQ(from.host, "127.0.0.1");
    EXPECT_EQ(from.port, env->udp_echo.port());
  }
  (*pc)->close();
  EXPECT_EQ(env->udp_echo.datagrams(), 5u);
}

ENV_TEST(AnyTlsServerInteg, UdpOverTcpNonConnectModeEchoes, uot_non_connect_body, 20s)

// Issue 24: the server routes each new destination of a UoT flow. The flow
// starts at an allowed UDP echo; a datagram to an address a rule rejects
// (127.0.0.2 here) never leaves the server, and the flow goes on.
// (Built outside the coroutine: GCC 12 and initializer lists, see docs/architecture.md.)
std::unique_ptr<route::RuleRouter> reject_127_0_0_2(outbound::Outbound* direct) {
  config::RouteOptions route;
  route.final = "direct";
  config::RouteRule reject;
  reject.ip_cidr = {"127.0.0.2/32"};
  reject.action = config::RuleAction::reject;
  route.rules.push_back(reject);
  return std::make_unique<route::RuleRouter>(route, "direct", [direct](std::string_view tag) -> outbound::Outbound* {
    return tag == "direct" ? direct : nullptr;
  });
}

std::vector<net::Address> three(const net::Address& a, const net::Address& b, const net::Address& c) {
  return {a, b, c};
}

asio::awaitable<void> uot_reroute_body(Env* env) {
  auto rules = reject_127_0_0_2(env->direct.get());
  env->server_router.inner = rules.get();
  asio::ip::udp::socket forbidden(env->io, asio::ip::udp::endpoint(asio::ip::make_address("127.0.0.2"), 0));
  net::Address rejected{"127.0.0.2", forbidden.local_endpoint().port()};
  net::Address echo{"127.0.0.1", env->udp_echo.port()};

  auto& client = env->start_client();
  auto md = udp_to(env->udp_echo.port());
  auto pc = co_await client.listen_packet(md);
  CO_ASSERT_TRUE(pc.ok());
  const auto order = three(echo, rejected, echo);
  for (const auto& to : order) {
    const std::string payload = "to " + to.to_string();
    auto out_buf = asio::buffer(payload);
    auto wec = co_await (*pc)->write_packet(out_buf, to);
    CO_ASSERT_TRUE(!wec);
    if (to == rejected) continue;
    std::vector<char> buf(2048);
    net::Address from;
    auto in_buf = asio::buffer(buf);
    auto [ec, n] = co_await (*pc)->read_packet(in_buf, from);
    CO_ASSERT_TRUE(!ec);
    EXPECT_EQ(std::string(buf.data(), n), payload);
    EXPECT_EQ(from, echo);
  }
  (*pc)->close();
  EXPECT_EQ(env->udp_echo.datagrams(), 2u);
  // The rejected datagram would have arrived before the echo's second answer.
  EXPECT_EQ(forbidden.available(), 0u) << "a datagram reached an address the server's rules reject";
  env->server_router.inner = env->router.get();
}

ENV_TEST(AnyTlsServerInteg, UdpOverTcpRoutesEachNewDestination, uot_reroute_body, 20s)

std::string u16be(std::size_t v) {
  return std::string{static_cast<char>((v >> 8) & 0xff), static_cast<char>(v & 0xff)};
}

asio::awaitable<void> uot_connect_body(Env* env) {
  auto& client = env->start_client();
  outbound::Metadata md = tcp_to(0);
  md.destination = net::Address{std::string(proto::kUotMagicAddress), 0};
  auto conn = co_await client.dial(md);
  CO_ASSERT_TRUE(conn.ok());
  // Request: isConnect=1, SOCKS address 01 + 127.0.0.1, port; then
  // u16-length-prefixed datagrams (the first glued to the request).
  std::string req = std::string("\x01\x01\x7f\x00\x00\x01", 6) + u16be(env->udp_echo.port());
  std::string first = "first datagram";
  auto first_msg = req + u16be(first.size()) + first;
  auto ec10 = co_await write_all(**conn, first_msg);
  CO_ASSERT_TRUE(!ec10);
  std::string back;
  auto ec11 = co_await read_exact(**conn, back, 2 + first.size());
  CO_ASSERT_TRUE(!ec11);
  EXPECT_EQ(back, u16be(first.size()) + first);
  for (int i = 0; i < 4; ++i) {
    auto payload = pattern(1 + 1000 * static_cast<std::size_t>(i), 20 + static_cast<unsigned>(i));
    auto msg = u16be(payload.size()) + payload;
    auto ec12 = co_await write_all(**conn, msg);
    CO_ASSERT_TRUE(!ec12);
    std::string got;
    auto ec13 = co_await read_exact(**conn, got, 2 + payload.size());
    CO_ASSERT_TRUE(!ec13);
    EXPECT_EQ(got, u16be(payload.size()) + payload) << "datagram " << i;
  }
  (*conn)->close();
  EXPECT_EQ(env->udp_echo.datagrams(), 5u);
}

ENV_TEST(AnyTlsServerInteg, UdpOverTcpConnectModeEchoes, uot_connect_body, 20s)

// ------------------------------------------------------------------ stop

asio::awaitable<void> stop_body(Env* env) {
  auto opts = client_options(env->server->port());
  opts.ensure_idle_session = 2;
  auto& client = env->start_client(opts);
  auto conn = co_await dial_tcp(client, env->echo.port());
  CO_ASSERT_TRUE(conn.ok());
  auto got5 = co_await echo_once(**conn, "live");
  EXPECT_EQ(got5, "live");
  bool up = co_await eventually([&] { return env->server->live_sessions() == 3 && client.idle_count() == 2; },
                                5000ms, 10ms);
  CO_ASSERT_TRUE(up);

  env->server->stop();
  EXPECT_EQ(env->server->live_sessions(), 0u);
  // The stream in use ends, the idle sessions die: the client sees the
  // server go away everywhere.
  std::string out;
  auto ec = co_await read_exact(**conn, out, 1);
  EXPECT_TRUE(ec);
  bool gone = co_await eventually([&] { return client.idle_count() == 0; }, 5000ms, 10ms);
  EXPECT_TRUE(gone) << "idle sessions still pooled: " << client.idle_count();
  (*conn)->close();
  // New connections are refused.
  auto again = co_await dial_tcp(client, env->echo.port());
  EXPECT_FALSE(again.ok());
}

TEST(AnyTlsServerInteg, StopWithLiveSessionsLeavesNothingBehind) {
  Env env;
  run(env, stop_body(&env), 20s);
  EXPECT_EQ(env.server->live_sessions(), 0u);
}

// ------------------------------------------------------------------ sniffing on streams

// The route sniffs each stream's first bytes (an HTTP request here) and
// rejects by the Host it found; the sniffed bytes still reach the server.
asio::awaitable<void> sniff_body(Env* env) {
  auto& client = env->start_client();
  for (int i = 0; i < 2; ++i) {
    const char* host = i == 0 ? "ok.example" : "blocked.example";
    auto conn = co_await dial_tcp(client, env->echo.port());
    CO_ASSERT_TRUE(conn.ok());
    const std::string request = std::string("GET / HTTP/1.1\r\nHost: ") + host + "\r\n\r\n";
    auto wrote = co_await (*conn)->write(asio::buffer(request));
    CO_ASSERT_TRUE(!wrote);
    std::string out;
    auto op = read_exact(**conn, out, request.size());
    auto ec = co_await std::move(op);
    if (std::string(host) == "ok.example") {
      EXPECT_FALSE(ec) << ec.message();
      EXPECT_EQ(out, request);  // echoed: no byte lost to the sniffer
    } else {
      EXPECT_EQ(ec, asio::error::connection_refused) << ec.message();
      EXPECT_TRUE(contains((*conn)->failure(), "rejected by route")) << (*conn)->failure();
    }
    (*conn)->close();
  }
}

TEST(AnyTlsServerInteg, StreamsAreSniffedAndRoutedByHost) {
  Env env;
  auto opts = config::load_string(R"({"outbounds":[{"type":"direct","tag":"direct"}],"route":{"rules":[
      {"action":"sniff","timeout":"5s"},{"domain":["blocked.example"],"protocol":"http","action":"reject"}]}})");
  auto* d = env.direct.get();
  env.router = std::make_unique<route::RuleRouter>(opts.route, "direct",
                                                   [d](std::string_view) -> outbound::Outbound* { return d; });
  env.server_router.inner = env.router.get();
  run(env, sniff_body(&env), 20s);
}

}  // namespace
}  // namespace anytls::integ
