// Issue "anytls client": the anytls outbound against the real server on
// 127.0.0.1 with real TLS: session reuse, public key pinning, a wrong
// password, and the transparent retry of a dead pooled session.
#include <gtest/gtest.h>

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>

#include "integration/harness.hpp"
#include "support/run.hpp"

namespace anytls::integ {
namespace {


bool contains(const std::string& s, std::string_view part) { return s.find(part) != std::string::npos; }

asio::awaitable<void> reuse_body(Env* env) {
  auto& client = env->start_client();
  for (int i = 0; i < 5; ++i) {
    auto data = pattern(1000 + 5000 * static_cast<std::size_t>(i), static_cast<unsigned>(i));
    auto problem = co_await dial_echo(&client, env->echo.port(), data);
    EXPECT_EQ(problem, "") << "request " << i;
  }
  EXPECT_EQ(env->server->stats().handshakes, 1u);
  EXPECT_EQ(env->server->stats().authenticated, 1u);
  EXPECT_EQ(env->server->stats().streams, 5u);
  EXPECT_EQ(env->echo.accepted(), 5u);
  EXPECT_EQ(client.stats().sessions_created, 1u);
  EXPECT_EQ(client.stats().streams, 5u);
  EXPECT_EQ(client.stats().retries, 0u);
  EXPECT_EQ(client.idle_count(), 1u);
}

ENV_TEST(AnyTlsClientInteg, SequentialRequestsReuseOneSession, reuse_body, 20s)

// The client's TLS 1.3 offer puts AES-128-GCM first, as Chrome and Go do, and
// the server (OpenSSL, which follows the client's order in TLS 1.3) takes
// it; tls.cipher_suites naming TLS 1.3 suites still decides.
std::string negotiated_cipher(tls::TlsConn& c) { return SSL_CIPHER_get_name(SSL_get_current_cipher(c.native())); }

// (A plain function: no initializer lists in coroutine bodies, GCC 12.)
config::OutboundTlsOptions chacha_first_options() {
  config::OutboundTlsOptions opts;
  opts.enabled = true;
  opts.insecure = true;
  opts.cipher_suites = {"TLS_CHACHA20_POLY1305_SHA256", "TLS_AES_128_GCM_SHA256"};
  return opts;
}

asio::awaitable<void> cipher_order_body(Env* env) {
  auto ours = co_await tls_connect(env->raw_tls, env->server->port());
  EXPECT_EQ(negotiated_cipher(*ours), "TLS_AES_128_GCM_SHA256");
  auto ctx = tls::ClientContext::create(chacha_first_options(), "127.0.0.1");
  CO_ASSERT_TRUE(ctx.ok());
  auto theirs = co_await tls_connect(*ctx, env->server->port());
  EXPECT_EQ(negotiated_cipher(*theirs), "TLS_CHACHA20_POLY1305_SHA256");
}

ENV_TEST(AnyTlsClientInteg, Tls13OfferPrefersAes128GcmUnlessConfigured, cipher_order_body, 20s)

asio::awaitable<void> pin_ok_body(Env* env) {
  auto opts = client_options(env->server->port());
  opts.tls.certificate.clear();  // the pin alone authenticates the server
  opts.tls.certificate_public_key_sha256 = {pem_pin(other_pem().cert), pem_pin(test_pem().cert)};
  auto& client = env->start_client(opts);
  auto problem = co_await dial_echo(&client, env->echo.port(), "pinned");
  EXPECT_EQ(problem, "");
  EXPECT_EQ(env->server->stats().authenticated, 1u);
}

ENV_TEST(AnyTlsClientInteg, RightPublicKeyPinWorks, pin_ok_body, 20s)

asio::awaitable<void> pin_wrong_body(Env* env) {
  auto opts = client_options(env->server->port());
  opts.tls.certificate.clear();
  opts.tls.certificate_public_key_sha256 = {pem_pin(other_pem().cert)};
  auto& client = env->start_client(opts);
  auto conn = co_await dial_tcp(client, env->echo.port());
  CO_ASSERT_TRUE(!conn.ok());
  auto text = conn.error().text();
  EXPECT_TRUE(contains(text, "pin")) << text;
  EXPECT_TRUE(contains(text, pem_pin(test_pem().cert))) << "names the server's key: " << text;
  // Not a byte of ours was sent: the server saw a TLS handshake and then no
  // preamble.
  bool seen = co_await eventually([&] { return env->server->stats().auth_failures == 1; }, 5000ms, 10ms);
  EXPECT_TRUE(seen);
  EXPECT_EQ(env->server->stats().authenticated, 0u);
  EXPECT_EQ(env->echo.accepted(), 0u);
}

ENV_TEST(AnyTlsClientInteg, WrongPublicKeyPinFailsWithClearError, pin_wrong_body, 20s)

asio::awaitable<void> wrong_password_body(Env* env) {
  auto opts = client_options(env->server->port());
  opts.password = "wrong password";
  auto& client = env->start_client(opts);
  auto conn = co_await dial_tcp(client, env->echo.port());
  if (conn.ok()) {
    // Stream 1 of a fresh session is not confirmed by a SYNACK: the failure
    // shows on the first read.
    auto w = write_all(**conn, "hello");
    (void)co_await std::move(w);
    std::string out;
    auto r = read_exact(**conn, out, 1);
    auto ec = co_await std::move(r);
    EXPECT_TRUE(ec);
    EXPECT_EQ(out, "");
  }
  // The server decides at once on the hash: its clock is virtual and never
  // moves here, so waiting for its handshake timeout would hang the test.
  EXPECT_EQ(env->server->stats().auth_failures, 1u);
  EXPECT_EQ(env->server->stats().authenticated, 0u);
  EXPECT_EQ(env->echo.accepted(), 0u);
}

ENV_TEST(AnyTlsClientInteg, WrongPasswordFailsTheStreamWithoutHanging, wrong_password_body, 20s)

asio::awaitable<void> dead_pooled_body(Env* env) {
  // Client -> proxy -> server, so that the pooled session can die silently:
  // the proxy stops forwarding its bytes but keeps both TCP connections.
  auto& proxy = env->make_proxy(env->server->port());
  auto& client = env->start_client(client_options(proxy.port()), &env->clock);
  auto warm = co_await dial_echo(&client, env->echo.port(), "warm");
  CO_ASSERT_TRUE(warm.empty());
  CO_ASSERT_TRUE(client.idle_count() == 1);

  proxy.freeze_existing();
  auto t0 = env->clock.now();
  auto data = pattern(3000, 7);
  // Virtual time moves 10ms per 5ms of real time while the request waits.
  auto problem = co_await with_virtual_time(env->clock, dial_echo(&client, env->echo.port(), data), 10ms, 5ms);
  auto took = std::chrono::duration_cast<Ms>(env->clock.now() - t0);
  EXPECT_EQ(problem, "") << "the user saw the dead session";
  EXPECT_EQ(client.stats().retries, 1u);
  EXPECT_EQ(client.stats().sessions_created, 2u);
  EXPECT_EQ(client.stats().closed[static_cast<std::size_t>(outbound::SessionEnd::heartbeat_dead)], 1u);
  EXPECT_EQ(env->server->stats().authenticated, 2u);
  EXPECT_EQ(proxy.accepted(), 2u);
  // Dead = silent for 6 round trips after the probe sent with the SYN, at
  // least 200 ms (loopback: the floor); then the retry's handshake and echo
  // take real time, during which virtual time keeps moving. The 3 s SYNACK
  // watchdog is never reached.
  EXPECT_GE(took, 200ms);
  EXPECT_LT(took, 1000ms);
  // The new session is pooled, the dead one is gone.
  EXPECT_EQ(client.idle_count(), 1u);
  auto again = co_await dial_echo(&client, env->echo.port(), "again");
  EXPECT_EQ(again, "");
  EXPECT_EQ(client.stats().retries, 1u);
  EXPECT_EQ(client.stats().sessions_created, 2u);
}

ENV_TEST(AnyTlsClientInteg, DeadPooledSessionIsRetriedTransparently, dead_pooled_body, 15s)

// A TLS server that completes the handshake, reads whatever comes and never
// sends a byte: a request must not hang on it (heartbeat or not).
struct SilentTlsServer {
  explicit SilentTlsServer(asio::io_context& io)
      : acceptor(io, asio::ip::tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0)),
        ctx(tls::ServerContext::create(server_options().tls).value()) {}
  std::uint16_t port() const { return acceptor.local_endpoint().port(); }
  asio::ip::tcp::acceptor acceptor;
  std::shared_ptr<tls::ServerContext> ctx;
  std::size_t accepted = 0;
  std::vector<std::shared_ptr<tls::TlsConn>> conns;
};

asio::awaitable<void> serve_silently(SilentTlsServer* srv) {
  for (;;) {
    auto [ec, sock] = co_await srv->acceptor.async_accept(use_tuple);
    if (ec) co_return;
    auto ssl = srv->ctx->current();
    auto conn = std::make_shared<tls::TlsConn>(std::move(sock), ssl.get(), tls::TlsConn::Role::server);
    auto hec = co_await conn->handshake();
    if (hec) continue;
    ++srv->accepted;
    srv->conns.push_back(conn);  // kept open, never written to
  }
}

asio::awaitable<void> silent_server_body(Env* env) {
  SilentTlsServer silent(env->io);
  // A test fixture's accept loop; it ends when the acceptor closes below.
  asio::co_spawn(env->io, serve_silently(&silent), asio::detached);
  auto opts = client_options(silent.port());
  opts.heartbeat = 1s;
  auto& client = env->start_client(opts, &env->clock);
  auto t0 = env->clock.now();
  auto problem = co_await with_virtual_time(env->clock, dial_echo(&client, env->echo.port(), "hello"), 100ms, 5ms);
  auto took = std::chrono::duration_cast<Ms>(env->clock.now() - t0);
  EXPECT_TRUE(contains(problem, "error:")) << problem;
  // Its session heard nothing within 3 s of the stream, so the stream was
  // retried once on a fresh session, which was just as silent.
  EXPECT_EQ(client.stats().retries, 1u);
  EXPECT_EQ(client.stats().closed[static_cast<std::size_t>(outbound::SessionEnd::heartbeat_dead)], 2u);
  EXPECT_EQ(silent.accepted, 2u);
  EXPECT_GE(took, 6000ms);
  EXPECT_LT(took, 9000ms);
  silent.acceptor.close();
  for (auto& c : silent.conns) c->close();
}

ENV_TEST(AnyTlsClientInteg, SilentServerFailsTheRequestAfterOneRetry, silent_server_body, 15s)

asio::awaitable<void> server_closed_body(Env* env) {
  auto& client = env->start_client();
  auto warm = co_await dial_echo(&client, env->echo.port(), "warm");
  CO_ASSERT_TRUE(warm.empty());
  // The server closes its sessions: the client notices and drops the idle
  // session at once, so the next request needs no retry.
  env->server->close_sessions();
  bool dropped = co_await eventually([&] { return client.idle_count() == 0; }, 5000ms, 10ms);
  EXPECT_TRUE(dropped);
  auto again = co_await dial_echo(&client, env->echo.port(), "again");
  EXPECT_EQ(again, "");
  EXPECT_EQ(client.stats().retries, 0u);
  EXPECT_EQ(client.stats().sessions_created, 2u);
  EXPECT_EQ(env->server->stats().authenticated, 2u);
}

ENV_TEST(AnyTlsClientInteg, SessionClosedByServerLeavesThePool, server_closed_body, 20s)

}  // namespace
}  // namespace anytls::integ
