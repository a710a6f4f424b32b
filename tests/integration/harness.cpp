#include "integration/harness.hpp"

#include <csignal>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <stdexcept>

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/experimental/awaitable_operators.hpp>
#include <asio/steady_timer.hpp>
#include <asio/this_coro.hpp>
#include <asio/read.hpp>
#include <asio/write.hpp>
#include <gtest/gtest.h>
#include <openssl/pem.h>
#include <spdlog/spdlog.h>

#include "app/generate.hpp"
#include "inbound/socks_codec.hpp"
#include "net/lease.hpp"
#include "net/relay.hpp"
#include "support/run.hpp"

namespace anytls::integ {

namespace {

using asio::ip::tcp;
using asio::ip::udp;

// ANYTLS_TEST_LOG=debug (or trace/info...) shows the library's logs.
const bool kLogLevelSet = [] {
  // As the anytls binary does (src/app/main.cpp): OpenSSL writes with
  // write(2), so a peer that went away must give EPIPE, not kill us.
  std::signal(SIGPIPE, SIG_IGN);
  const char* lvl = std::getenv("ANYTLS_TEST_LOG");
  spdlog::set_level(lvl ? spdlog::level::from_str(lvl) : spdlog::level::warn);
  return true;
}();

tcp::endpoint loopback(std::uint16_t port) { return {asio::ip::make_address_v4("127.0.0.1"), port}; }

asio::awaitable<void> sleep_for(Ms d) {
  asio::steady_timer t(co_await asio::this_coro::executor, d);
  (void)co_await t.async_wait(use_tuple);
}

}  // namespace

// ------------------------------------------------------------------ certificates

Pem generate_pem(const std::string& name) {
  auto kp = app::generate_tls_keypair(name, 1);
  return Pem{kp.certificate_pem, kp.private_key_pem};
}

const Pem& test_pem() {
  static const Pem pem = generate_pem("127.0.0.1");
  return pem;
}

const Pem& other_pem() {
  static const Pem pem = generate_pem("127.0.0.1");
  return pem;
}

std::string pem_pin(const std::string& cert_pem) {
  BIO* bio = BIO_new_mem_buf(cert_pem.data(), static_cast<int>(cert_pem.size()));
  if (!bio) throw std::runtime_error("BIO_new_mem_buf");
  X509* x = PEM_read_bio_X509(bio, nullptr, nullptr, nullptr);
  BIO_free(bio);
  if (!x) throw std::runtime_error("PEM_read_bio_X509");
  auto pin = tls::public_key_sha256_base64(x);
  X509_free(x);
  return pin;
}

config::AnyTlsInboundOptions server_options() {
  config::AnyTlsInboundOptions o;
  o.listen.listen = "127.0.0.1";
  o.listen.listen_port = 0;
  o.users = {config::AnyTlsUser{"alice", std::string(kPassword)}};
  o.tls.enabled = true;
  o.tls.certificate = test_pem().cert;
  o.tls.key = test_pem().key;
  o.handshake_timeout = 5s;
  return o;
}

config::AnyTlsOutboundOptions client_options(std::uint16_t server_port) {
  config::AnyTlsOutboundOptions o;
  o.server = "127.0.0.1";
  o.server_port = server_port;
  o.password = std::string(kPassword);
  o.tls.enabled = true;
  o.tls.certificate = test_pem().cert;  // trust the test certificate, verify it
  return o;
}

config::InboundOptions mixed_inbound(std::string tag) {
  config::InboundOptions in;
  in.type = "mixed";
  in.tag = std::move(tag);
  config::MixedInboundOptions m;
  m.listen.listen = "127.0.0.1";
  m.listen.listen_port = 0;
  in.options = m;
  return in;
}

config::OutboundOptions direct_outbound(std::string tag) {
  config::OutboundOptions out;
  out.type = "direct";
  out.tag = std::move(tag);
  out.options = config::DirectOutboundOptions{};
  return out;
}

config::OutboundOptions anytls_outbound(std::string tag, std::uint16_t server_port) {
  config::OutboundOptions out;
  out.type = "anytls";
  out.tag = std::move(tag);
  out.options = client_options(server_port);
  return out;
}

config::AnyTlsOutboundOptions heartbeat_options(std::uint16_t server_port) {
  auto o = client_options(server_port);
  o.ensure_idle_session = 1;
  o.heartbeat = Ms(200);
  return o;
}

// ------------------------------------------------------------------ Env

Env::Env(config::AnyTlsInboundOptions server_opts) {
  if (const char* w = std::getenv("ANYTLS_TEST_WORKERS"); w && std::atoi(w) >= 2) {
    workers = std::make_unique<net::Workers>(io, static_cast<std::size_t>(std::atoi(w)));
    workers->start();
  }
  resolver = std::make_shared<net::Resolver>();
  direct = std::make_unique<outbound::DirectOutbound>("direct", config::DirectOutboundOptions{}, resolver);
  config::RouteOptions route;
  route.final = "direct";
  config::RouteRule reject;
  reject.port = {kRejectPort};
  reject.action = config::RuleAction::reject;
  route.rules.push_back(reject);
  auto* d = direct.get();
  router = std::make_unique<route::RuleRouter>(route, "direct", [d](std::string_view tag) -> outbound::Outbound* {
    return tag == "direct" ? d : nullptr;
  });
  if (server_opts.fallback && server_opts.fallback->server_port == 0) {
    // Tests ask for "the fallback HTTP server" with port 0.
    server_opts.fallback->server_port = fallback.port();
  }
  // The server's deadlines run on the Env's virtual clock: a test that
  // depends on one moves time forward (a server that waited for a deadline
  // it should not need would hang the test instead of passing slowly).
  server_router.inner = router.get();
  server = std::make_unique<inbound::AnyTlsServer>(io, "anytls-in", std::move(server_opts), server_router, resolver,
                                                   &clock);
  if (auto ec = server->start()) throw std::runtime_error("server start: " + server->start_error());
  config::OutboundTlsOptions raw;
  raw.enabled = true;
  raw.insecure = true;
  auto ctx = tls::ClientContext::create(raw, "127.0.0.1");
  if (!ctx) throw std::runtime_error("raw tls context: " + ctx.error().text());
  raw_tls = *ctx;
}

Env::~Env() {
  stop_all();
  if (workers) workers->stop();  // before the clients and the server go
}

outbound::AnyTlsOutbound& Env::make_client(const config::AnyTlsOutboundOptions& opts, net::Clock* clock) {
  net::Dialer dialer(net::DialerOptions{}, resolver);
  auto r = outbound::AnyTlsOutbound::create(io, "anytls-out", opts, dialer, clock, workers.get());
  if (!r) throw std::runtime_error("anytls outbound: " + r.error().text());
  clients.push_back(std::move(*r));
  return *clients.back();
}

outbound::AnyTlsOutbound& Env::start_client(const config::AnyTlsOutboundOptions& opts, net::Clock* clock) {
  auto& c = make_client(opts, clock);
  c.start();
  return c;
}

outbound::AnyTlsOutbound& Env::start_client() { return start_client(client_options(server->port())); }

FreezeProxy& Env::make_proxy(std::uint16_t target) { return proxies.emplace_back(io, target); }

void Env::stop_all() {
  if (stopped_) return;
  stopped_ = true;
  for (auto& c : clients) c->stop();
  if (server) server->stop();
  for (auto& p : proxies) p.stop();
  echo.stop();
  http.stop();
  fallback.stop();
  udp_echo.stop();
  if (resolver) resolver->stop();
}

namespace {
asio::awaitable<void> guarded(Env* env, asio::awaitable<void> body) {
  std::exception_ptr error;
  try {
    co_await std::move(body);
  } catch (...) {
    error = std::current_exception();
  }
  env->stop_all();
  if (error) std::rethrow_exception(error);
}
}  // namespace

void run(Env& env, asio::awaitable<void> body, Ms deadline) {
  test::run_test(env.io, guarded(&env, std::move(body)), deadline, 5s);
  env.stop_all();
}

// ------------------------------------------------------------------ helpers

asio::awaitable<bool> eventually(std::function<bool()> cond, Ms timeout, Ms step) {
  auto until = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    if (cond()) co_return true;
    if (std::chrono::steady_clock::now() >= until) co_return false;
    co_await sleep_for(step);
  }
}

asio::awaitable<bool> advance_until(net::VirtualClock& clock, std::function<bool()> cond, Ms step, Ms limit,
                                    Ms settle) {
  for (Ms passed{0};; passed += step) {
    if (co_await eventually(cond, settle, Ms(1))) co_return true;
    if (passed >= limit) co_return false;
    clock.advance(step);
  }
}

namespace {
asio::awaitable<void> drive_clock(net::VirtualClock* clock, Ms step, Ms every) {
  for (;;) {
    co_await sleep_for(every);
    clock->advance(step);
  }
}
}  // namespace

asio::awaitable<std::string> with_virtual_time(net::VirtualClock& clock, asio::awaitable<std::string> task, Ms step,
                                               Ms every) {
  using namespace asio::experimental::awaitable_operators;
  auto r = co_await (std::move(task) || drive_clock(&clock, step, every));
  co_return std::get<0>(std::move(r));
}

asio::awaitable<std::string> eventually_while(std::function<bool()> cond, std::function<bool()> invariant,
                                              Ms timeout, Ms step) {
  auto until = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    if (!invariant()) co_return "invariant broken";
    if (cond()) co_return "";
    if (std::chrono::steady_clock::now() >= until) co_return "timeout";
    co_await sleep_for(step);
  }
}

outbound::Metadata tcp_to(std::uint16_t port) {
  outbound::Metadata md;
  md.inbound = "test";
  md.network = outbound::Network::tcp;
  md.destination = net::Address{"127.0.0.1", port};
  return md;
}

outbound::Metadata udp_to(std::uint16_t port) {
  auto md = tcp_to(port);
  md.network = outbound::Network::udp;
  return md;
}

asio::awaitable<std::error_code> write_all(net::Conn& c, std::string data) {
  co_return co_await c.write(asio::buffer(data));
}

asio::awaitable<std::error_code> read_exact(net::Conn& c, std::string& out, std::size_t n) {
  std::size_t start = out.size();
  out.resize(start + n);
  std::size_t got = 0;
  while (got < n) {
    auto b = asio::buffer(out.data() + start + got, n - got);
    auto [ec, k] = co_await c.read_some(b);
    got += k;
    if (ec) {
      out.resize(start + got);
      co_return ec;
    }
  }
  co_return std::error_code{};
}

asio::awaitable<std::pair<std::string, std::error_code>> read_to_end(net::Conn& c, std::size_t max) {
  std::string out;
  std::vector<char> buf(16 * 1024);
  for (;;) {
    auto [ec, n] = co_await c.read_some(asio::buffer(buf));
    out.append(buf.data(), n);
    if (ec) co_return std::pair{std::move(out), ec};
    if (out.size() >= max) co_return std::pair{std::move(out), std::error_code{}};
  }
}

asio::awaitable<std::string> echo_once(net::Conn& c, std::string data) {
  auto wec = co_await c.write(asio::buffer(data));
  if (wec) co_return "error: write: " + wec.message();
  std::string back;
  auto rec = co_await read_exact(c, back, data.size());
  if (rec) co_return "error: read after " + std::to_string(back.size()) + " bytes: " + rec.message();
  co_return back;
}

asio::awaitable<std::string> echo_spent(net::Conn& c, std::string data) {
  net::Lease lease(net::kRelayBufferSize, net::kRelayHeadroom);
  for (std::size_t off = 0; off < data.size();) {
    lease.acquire();
    const std::size_t n = std::min(lease.size(), data.size() - off);
    std::memcpy(lease.data(), data.data() + off, n);
    auto wec = co_await c.write_spent(lease, n);
    if (wec) co_return "error: write: " + wec.message();
    off += n;
  }
  std::string back;
  auto rec = co_await read_exact(c, back, data.size());
  if (rec) co_return "error: read after " + std::to_string(back.size()) + " bytes: " + rec.message();
  co_return back;
}

asio::awaitable<std::string> dial_echo(outbound::AnyTlsOutbound* client, std::uint16_t port, std::string data) {
  auto md = tcp_to(port);
  auto conn = co_await client->dial(md);
  if (!conn) co_return "dial: " + conn.error().text();
  auto back = co_await echo_once(**conn, data);
  (*conn)->close();
  if (back != data) co_return back.rfind("error:", 0) == 0 ? back : std::string("echo returned different bytes");
  co_return "";
}

asio::awaitable<asio::ip::tcp::socket> tcp_connect(std::uint16_t port) {
  tcp::socket s(co_await asio::this_coro::executor);
  auto [ec] = co_await s.async_connect(loopback(port), use_tuple);
  if (ec) throw std::runtime_error("connect: " + ec.message());
  co_return s;
}

asio::awaitable<std::unique_ptr<tls::TlsConn>> tls_connect(std::shared_ptr<tls::ClientContext> ctx,
                                                           std::uint16_t port) {
  auto sock = co_await tcp_connect(port);
  auto conn = std::make_unique<tls::TlsConn>(std::move(sock), ctx->native(), tls::TlsConn::Role::client);
  ctx->prepare(conn->native());
  auto hec = co_await conn->handshake();
  if (hec) throw std::runtime_error("tls handshake: " + conn->last_error_text());
  co_return conn;
}

std::string pattern(std::size_t n, unsigned seed) {
  std::string s(n, '\0');
  std::uint32_t x = 2463534242u ^ (seed * 2654435761u);
  for (auto& c : s) {
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    c = static_cast<char>(x);
  }
  return s;
}

namespace {
std::vector<std::uint8_t> socks5_connect_request(const std::string& host, std::uint16_t port) {
  std::vector<std::uint8_t> req{5, 1, 0};
  inbound::socks::append_address(req, net::Address{host, port});
  return req;
}
}  // namespace

asio::awaitable<int> socks5_connect_code(std::uint16_t proxy_port, std::string host, std::uint16_t port) {
  auto t = co_await tcp_connect(proxy_port);
  const std::array<std::uint8_t, 3> hello{5, 1, 0};
  co_await asio::async_write(t, asio::buffer(hello), asio::use_awaitable);
  std::array<std::uint8_t, 2> method{};
  co_await asio::async_read(t, asio::buffer(method), asio::use_awaitable);
  const auto req = socks5_connect_request(host, port);
  co_await asio::async_write(t, asio::buffer(req), asio::use_awaitable);
  std::array<std::uint8_t, 4> head{};
  auto [ec, n] = co_await asio::async_read(t, asio::buffer(head), use_tuple);
  (void)n;
  if (ec) co_return -1;
  co_return head[1];
}

asio::awaitable<void> advance_settle(Env* env, Ms by) {
  env->clock.advance(by);
  co_await test::settle();
}

asio::awaitable<bool> first_heartbeat(Env* env, outbound::AnyTlsOutbound* client) {
  return advance_until(env->clock, [client] { return client->stats().heartbeat_responses >= 1; }, Ms(50), Ms(5000));
}

asio::awaitable<HttpReply> http_request(std::uint16_t port, std::string request) {
  auto s = co_await tcp_connect(port);
  auto [wec, wn] = co_await asio::async_write(s, asio::buffer(request), use_tuple);
  if (wec) throw std::runtime_error("write: " + wec.message());
  std::string in;
  std::vector<char> buf(16 * 1024);
  for (;;) {
    auto [ec, n] = co_await s.async_read_some(asio::buffer(buf), use_tuple);
    in.append(buf.data(), n);
    if (ec) break;
  }
  HttpReply r;
  auto end = in.find("\r\n\r\n");
  if (end == std::string::npos) co_return r;
  r.head = in.substr(0, end);
  r.body = in.substr(end + 4);
  if (r.head.size() > 12) r.status = std::stoi(r.head.substr(9, 3));
  co_return r;
}

asio::awaitable<net::Result<std::unique_ptr<net::Conn>>> dial_tcp(outbound::Outbound& out, std::uint16_t port) {
  const auto md = tcp_to(port);
  co_return co_await out.dial(md);
}

bool accepted_any(asio::ip::tcp::acceptor* a) {
  a->non_blocking(true);
  std::error_code ec;
  auto s = a->accept(ec);
  return !ec;
}

}  // namespace anytls::integ
