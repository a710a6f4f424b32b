// Integration test harness: the real AnyTLS server and client on one
// io_context (plus worker threads for the clients' sessions with
// ANYTLS_TEST_WORKERS=2) over 127.0.0.1 (port 0) with real TLS, plus the local services
// streams are proxied to (TCP echo, a minimal HTTP server, UDP echo), a TCP
// proxy that can make existing connections go silent, and helpers to poll a
// condition with a deadline.
//
// Every test builds one Env, runs its body through run(), which stops
// everything after the body (also when it fails) and then runs the
// io_context until it runs out of work: a coroutine left behind fails the
// test (and would be a leak under ASan).
#pragma once
#include <chrono>
#include <cstdint>
#include <functional>
#include <list>
#include <memory>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include <asio/awaitable.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/ip/udp.hpp>
#include <asio/use_awaitable.hpp>

#include "config/options.hpp"
#include "support/services.hpp"
#include "inbound/anytls_server.hpp"
#include "net/conn.hpp"
#include "net/resolver.hpp"
#include "net/workers.hpp"
#include "outbound/anytls.hpp"
#include "outbound/direct.hpp"
#include "route/rule_router.hpp"
#include "tls/context.hpp"
#include "tls/tls_conn.hpp"

namespace anytls::integ {

using namespace std::chrono_literals;
using Ms = std::chrono::milliseconds;
inline constexpr auto use_tuple = asio::experimental::as_tuple(asio::use_awaitable);

inline constexpr std::string_view kPassword = "integration-password";

// PEM certificate + key for 127.0.0.1 (SAN IP), generated once per process.
struct Pem {
  std::string cert;
  std::string key;
};
const Pem& test_pem();
// A second, unrelated key pair (for pin mismatches).
const Pem& other_pem();
// A new self-signed certificate for `name` (a host name or an IP literal).
Pem generate_pem(const std::string& name);
// base64(sha256(SPKI)) of a PEM certificate: a certificate_public_key_sha256 pin.
std::string pem_pin(const std::string& cert_pem);

config::AnyTlsInboundOptions server_options();
config::AnyTlsOutboundOptions client_options(std::uint16_t server_port);
// A mixed inbound on 127.0.0.1, port 0 (the kernel picks); a direct outbound.
config::InboundOptions mixed_inbound(std::string tag);
config::OutboundOptions direct_outbound(std::string tag);
// An anytls outbound to 127.0.0.1:server_port (client_options).
config::OutboundOptions anytls_outbound(std::string tag, std::uint16_t server_port);
// client_options with one pre-warmed idle session and a heartbeat every 200ms.
config::AnyTlsOutboundOptions heartbeat_options(std::uint16_t server_port);

// The local services (TCP echo, HTTP, UDP echo, freeze proxy) live in
// support/services.hpp, shared with the other loopback tests.
using test::FreezeProxy;
using test::HttpServer;
using test::TcpEchoServer;
using test::UdpEchoServer;

// ------------------------------------------------------------------ the environment

struct Env {
  // server: options for the AnyTLS server (listen port 0 is fine). The
  // server starts at once; a rule rejects destination port `kRejectPort`.
  explicit Env(config::AnyTlsInboundOptions server_opts = server_options());
  ~Env();
  Env(const Env&) = delete;
  Env& operator=(const Env&) = delete;

  static constexpr std::uint16_t kRejectPort = 1;

  asio::io_context io;
  // Virtual time: the server's deadlines, and the clients that ask for it
  // (make_client(opts, &clock)).
  net::VirtualClock clock;
  // ANYTLS_TEST_WORKERS=N (N >= 2): the clients' pools spread their sessions
  // over N workers (io is worker 0), as `anytls run --workers N` does.
  std::unique_ptr<net::Workers> workers;
  // (Declared before the objects whose sockets live on the workers' loops.)
  std::shared_ptr<net::Resolver> resolver;
  std::unique_ptr<outbound::DirectOutbound> direct;
  std::unique_ptr<route::RuleRouter> router;
  // What the server routes with: `router`, after `before_route` (tests make
  // it throw to see what a failing stream handler does).
  struct HookedRouter final : route::Router {
    route::Router* inner = nullptr;
    std::function<void(const outbound::Metadata&)> before_route;
    route::Decision decide(const outbound::Metadata& md) override {
      if (before_route) before_route(md);
      return inner->decide(md);
    }
  } server_router;
  std::unique_ptr<inbound::AnyTlsServer> server;
  TcpEchoServer echo{io};
  HttpServer http{io, "hello from the http server"};
  HttpServer fallback{io, "fallback page"};
  UdpEchoServer udp_echo{io};
  std::list<FreezeProxy> proxies;
  std::vector<std::unique_ptr<outbound::AnyTlsOutbound>> clients;
  std::shared_ptr<tls::ClientContext> raw_tls;  // insecure, for raw TLS clients

  // An anytls outbound (not started), owned and stopped by the Env. clock:
  // its pool, heartbeats and timeouts (null: real time).
  outbound::AnyTlsOutbound& make_client(const config::AnyTlsOutboundOptions& opts, net::Clock* clock = nullptr);
  // The same, started; without options: client_options() to this server.
  outbound::AnyTlsOutbound& start_client(const config::AnyTlsOutboundOptions& opts, net::Clock* clock = nullptr);
  outbound::AnyTlsOutbound& start_client();
  FreezeProxy& make_proxy(std::uint16_t target);
  void stop_all();

 private:
  bool stopped_ = false;
};

// Runs body on env.io (deadline: a hang fails the test), stops everything,
// then runs io until it has no work left (fails if that takes over 5 s).
void run(Env& env, asio::awaitable<void> body, Ms deadline);

// TEST(suite, name) whose body is body_fn(&env) on a fresh default Env, run
// within `deadline`: the set-up most integration tests share.
#define ENV_TEST(suite, name, body_fn, deadline)        \
  TEST(suite, name) {                                   \
    ::anytls::integ::Env env;                           \
    ::anytls::integ::run(env, body_fn(&env), deadline); \
  }
// The same on an Env whose server has the options server_fn() returns.
#define ENV_TEST_WITH(suite, name, server_fn, body_fn, deadline) \
  TEST(suite, name) {                                            \
    ::anytls::integ::Env env(server_fn());                       \
    ::anytls::integ::run(env, body_fn(&env), deadline);          \
  }

// ------------------------------------------------------------------ helpers

// On env->clock: waits (up to 5 s of virtual time, 50ms steps) until
// `client` has had a heartbeat answered.
asio::awaitable<bool> first_heartbeat(Env* env, outbound::AnyTlsOutbound* client);

// Moves env->clock forward by `by`, then lets what that woke up run
// (test::settle()).
asio::awaitable<void> advance_settle(Env* env, Ms by);

// Polls cond every `step` until it holds (true) or `timeout` passes (false).
asio::awaitable<bool> eventually(std::function<bool()> cond, Ms timeout, Ms step);

// On virtual time: moves `clock` forward by `step` at a time until cond
// holds (true) or `limit` of virtual time has passed (false). Between steps
// it waits for real I/O to happen: until cond holds or `settle` of real time
// passes, so network round trips complete before time moves on.
asio::awaitable<bool> advance_until(net::VirtualClock& clock, std::function<bool()> cond, Ms step, Ms limit,
                                    Ms settle = Ms(20));
// Awaits task while moving `clock` forward by `step` every `every` of real
// time, for tasks that wait on virtual time while talking over the network.
asio::awaitable<std::string> with_virtual_time(net::VirtualClock& clock, asio::awaitable<std::string> task, Ms step,
                                               Ms every);

// Like eventually(), but also checks `invariant` at every poll; returns the
// first poll at which the invariant failed (as a message), or "" / "timeout".
asio::awaitable<std::string> eventually_while(std::function<bool()> cond, std::function<bool()> invariant,
                                              Ms timeout, Ms step);

outbound::Metadata tcp_to(std::uint16_t port);
outbound::Metadata udp_to(std::uint16_t port);
// out.dial(tcp_to(port)).
asio::awaitable<net::Result<std::unique_ptr<net::Conn>>> dial_tcp(outbound::Outbound& out, std::uint16_t port);

asio::awaitable<std::error_code> write_all(net::Conn& c, std::string data);
asio::awaitable<std::error_code> read_exact(net::Conn& c, std::string& out, std::size_t n);
// Reads until EOF/error (or max bytes); returns data and the ending error.
asio::awaitable<std::pair<std::string, std::error_code>> read_to_end(net::Conn& c, std::size_t max);
// Writes data and reads the same number of bytes back; returns them (or
// the error text, prefixed with "error: ").
asio::awaitable<std::string> echo_once(net::Conn& c, std::string data);
// The same, written the way relay() writes: in leases with headroom, spent
// (net::Conn::write_spent).
asio::awaitable<std::string> echo_spent(net::Conn& c, std::string data);
// dial + echo + close through an outbound; returns "" on success, else the problem.
asio::awaitable<std::string> dial_echo(outbound::AnyTlsOutbound* client, std::uint16_t port, std::string data);

// Raw TCP connection to 127.0.0.1:port (throws on failure).
asio::awaitable<asio::ip::tcp::socket> tcp_connect(std::uint16_t port);
// Raw TLS client, handshake done, nothing sent (throws on failure).
asio::awaitable<std::unique_ptr<tls::TlsConn>> tls_connect(std::shared_ptr<tls::ClientContext> ctx,
                                                           std::uint16_t port);

// SOCKS5 CONNECT to host:port through a SOCKS or mixed inbound listening
// on proxy_port: the reply code (0 success), -1 when the proxy closed
// without one.
asio::awaitable<int> socks5_connect_code(std::uint16_t proxy_port, std::string host, std::uint16_t port);
// An HTTP response read to EOF: head (up to the blank line, without it),
// body, status (0 when there is no head).
struct HttpReply {
  int status = 0;
  std::string head;
  std::string body;
};
// Sends `request` (whole, as is) on a fresh connection to 127.0.0.1:port and
// reads the response to EOF (throws when the write fails).
asio::awaitable<HttpReply> http_request(std::uint16_t port, std::string request);

// Whether a connection is waiting on a (takes it, without blocking).
bool accepted_any(asio::ip::tcp::acceptor* a);

// Deterministic test data.
std::string pattern(std::size_t n, unsigned seed);

}  // namespace anytls::integ
