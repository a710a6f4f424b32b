// http::Server over real loopback sockets: the head deadline against a
// slowloris client, an oversized head, bodies, eviction order, keep-alive
// and pipelined requests.
#include "http/server.hpp"

#include <gtest/gtest.h>

#include <asio/experimental/awaitable_operators.hpp>

#include "support/run.hpp"
#include "unit/inbound/loopback.hpp"

namespace anytls::test {
namespace {

using namespace asio::experimental::awaitable_operators;
using namespace std::chrono_literals;

// Echoes the request; "/auth" shows the secret, "/bye" closes.
asio::awaitable<std::optional<http::Response>> echo(http::IncomingRequest& req, http::Connection& c) {
  if (req.head.target == "/auth") c.authorised();
  http::Response r;
  r.body = req.head.method + " " + req.head.target + " " + req.body;
  r.close = req.head.target == "/bye";
  co_return r;
}

http::Response refusal(http::Refusal why) {
  http::Response r;
  r.status = why == http::Refusal::head_too_large ? 431 : why == http::Refusal::body_too_large ? 413 : 400;
  return r;
}

std::unique_ptr<http::Server> start(asio::io_context& io, http::ServerLimits limits) {
  http::Server::Handler handler = [](http::IncomingRequest& req, http::Connection& c) { return echo(req, c); };
  auto s = std::make_unique<http::Server>(io, "test-http", limits, std::move(handler), http::Server::Refuse(refusal));
  net::ListenConfig lc;
  lc.listen = "127.0.0.1";
  lc.listen_port = 0;
  EXPECT_FALSE(s->listen(lc));
  return s;
}

// Whether the server closed s: EOF within `wait` (true), or still open.
asio::awaitable<bool> closed_within(tcp::socket& s, std::chrono::milliseconds wait) {
  std::array<char, 64> buf;
  auto r = co_await (s.async_read_some(asio::buffer(buf), use_tuple) || delay(wait));
  if (r.index() != 0) co_return false;
  auto [ec, n] = std::get<0>(r);
  co_return static_cast<bool>(ec);
}

asio::awaitable<void> delay_ms(std::chrono::milliseconds d) { co_await delay(d); }

asio::awaitable<void> slowloris_body(asio::io_context& io) {
  http::ServerLimits l;
  l.request_timeout = 300ms;
  auto server = start(io, l);
  auto s = co_await connect_to(server->port());
  const auto t0 = std::chrono::steady_clock::now();
  co_await send_all(s, "GET / HT");
  co_await delay_ms(100ms);
  co_await send_all(s, "TP/1.1\r\nX");  // still trickling: the deadline counts from the accept
  const std::string got = co_await read_until_eof(s);
  const auto took = std::chrono::steady_clock::now() - t0;
  EXPECT_EQ(got, "");  // no answer: just closed
  EXPECT_GE(took, 250ms);
  EXPECT_LT(took, 3s);
  server->stop();
  co_await server->join();
}

TEST(HttpServer, SlowlorisHeadIsClosedAtItsDeadline) {
  asio::io_context io;
  run_test(io, slowloris_body(io));
}

// Sends one request on a new connection: the answer's status, and whether
// the server closed the connection after it.
struct Refused {
  int status = 0;
  bool closed = false;
};

asio::awaitable<Refused> ask_once(std::uint16_t port, std::string request) {
  auto s = co_await connect_to(port);
  co_await send_all(s, request);
  std::string pending;
  auto [head, body] = co_await read_response(s, pending);
  Refused r;
  r.status = head.status;
  r.closed = co_await closed_within(s, 2000ms);
  co_return r;
}

asio::awaitable<void> limits_body(asio::io_context& io) {
  http::ServerLimits l;
  l.max_head = 1024;
  l.max_body = 8;
  auto server = start(io, l);
  const std::string big = "GET / HTTP/1.1\r\nX: " + std::string(2000, 'a') + "\r\n\r\n";
  const std::string body = "POST / HTTP/1.1\r\nContent-Length: 9\r\n\r\n123456789";
  const std::string chunked = "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n1\r\na\r\n0\r\n\r\n";
  const std::string version = "GET / HTTP/9.9\r\n\r\n";
  auto r = co_await ask_once(server->port(), big);
  EXPECT_EQ(r.status, 431);
  EXPECT_TRUE(r.closed);
  r = co_await ask_once(server->port(), body);
  EXPECT_EQ(r.status, 413);
  EXPECT_TRUE(r.closed);
  r = co_await ask_once(server->port(), chunked);
  EXPECT_EQ(r.status, 400);
  EXPECT_TRUE(r.closed);
  r = co_await ask_once(server->port(), version);
  EXPECT_EQ(r.status, 400);
  EXPECT_TRUE(r.closed);
  server->stop();
  co_await server->join();
}

TEST(HttpServer, OversizedHeadBodyAndBadFramingAreRefused) {
  asio::io_context io;
  run_test(io, limits_body(io));
}

asio::awaitable<void> keep_alive_body(asio::io_context& io) {
  auto server = start(io, http::ServerLimits{});
  {
    // HTTP/1.1: kept for the next request, closed when the client says so.
    auto s = co_await connect_to(server->port());
    std::string pending;
    co_await send_all(s, "GET /one HTTP/1.1\r\n\r\n");
    auto [h1, b1] = co_await read_response(s, pending);
    EXPECT_EQ(b1, "GET /one ");
    EXPECT_FALSE(co_await closed_within(s, 100ms));
    // HEAD: the head a GET would get (its length), no body; the next
    // answer follows at once.
    co_await send_all(s, "HEAD /two HTTP/1.1\r\n\r\nGET /three HTTP/1.1\r\nConnection: close\r\n\r\n");
    const std::string rest = co_await read_until_eof(s);
    const auto second = rest.find("HTTP/1.1 200 OK", 1);
    CO_ASSERT_TRUE(second != std::string::npos && second >= 4);
    EXPECT_NE(rest.substr(0, second).find("Content-Length: 10\r\n"), std::string::npos) << rest;
    EXPECT_EQ(rest.substr(second - 4, 4), "\r\n\r\n") << rest;
    EXPECT_NE(rest.find("Connection: close", second), std::string::npos) << rest;
    EXPECT_NE(rest.find("GET /three ", second), std::string::npos) << rest;
  }
  {
    // HTTP/1.0 without keep-alive: closed after the answer; a handler's
    // close too.
    auto s = co_await connect_to(server->port());
    co_await send_all(s, "GET /old HTTP/1.0\r\n\r\n");
    const std::string all = co_await read_until_eof(s);
    EXPECT_NE(all.find("GET /old "), std::string::npos) << all;
    auto s2 = co_await connect_to(server->port());
    co_await send_all(s2, "GET /bye HTTP/1.1\r\n\r\n");
    const std::string bye = co_await read_until_eof(s2);
    EXPECT_NE(bye.find("GET /bye "), std::string::npos) << bye;
  }
  server->stop();
  co_await server->join();
}

TEST(HttpServer, KeepAlive) {
  asio::io_context io;
  run_test(io, keep_alive_body(io));
}

asio::awaitable<void> pipelined_body(asio::io_context& io) {
  http::ServerLimits l;
  l.max_body = 64;
  auto server = start(io, l);
  auto s = co_await connect_to(server->port());
  // Three requests in one write, one with a body: answered in order, each
  // body kept apart from the next head.
  co_await send_all(s,
                    "POST /a HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello"
                    "GET /b HTTP/1.1\r\n\r\n"
                    "\r\nGET /c HTTP/1.1\r\nConnection: close\r\n\r\n");
  std::string pending;
  auto [h1, b1] = co_await read_response(s, pending);
  auto [h2, b2] = co_await read_response(s, pending);
  auto [h3, b3] = co_await read_response(s, pending);
  EXPECT_EQ(b1, "POST /a hello");
  EXPECT_EQ(b2, "GET /b ");
  EXPECT_EQ(b3, "GET /c ");
  EXPECT_TRUE(co_await closed_within(s, 2000ms));
  server->stop();
  co_await server->join();
}

TEST(HttpServer, PipelinedRequestsAreAnsweredInOrder) {
  asio::io_context io;
  run_test(io, pipelined_body(io));
}

asio::awaitable<void> eviction_body(asio::io_context& io) {
  http::ServerLimits l;
  l.max_connections = 2;
  auto server = start(io, l);
  // One connection showed the secret and waits (idle), one trickles (pending).
  auto authorised = co_await connect_to(server->port());
  std::string pending;
  co_await send_all(authorised, "GET /auth HTTP/1.1\r\n\r\n");
  auto [h, b] = co_await read_response(authorised, pending);
  EXPECT_EQ(b, "GET /auth ");
  auto trickler = co_await connect_to(server->port());
  co_await send_all(trickler, "GET /a");
  co_await delay_ms(50ms);
  // Full: the newcomer takes the trickler's place first ...
  auto second = co_await connect_to(server->port());
  EXPECT_TRUE(co_await closed_within(trickler, 2000ms));
  EXPECT_FALSE(co_await closed_within(authorised, 100ms));
  EXPECT_EQ(server->evictions(), 1u);
  // ... and only then the idle authorised one's.
  co_await send_all(second, "GET /auth HTTP/1.1\r\n\r\n");
  std::string pending2;
  auto [h2, b2] = co_await read_response(second, pending2);
  EXPECT_EQ(b2, "GET /auth ");
  auto third = co_await connect_to(server->port());
  EXPECT_TRUE(co_await closed_within(authorised, 2000ms));
  EXPECT_EQ(server->evictions(), 2u);
  server->stop();
  co_await server->join();
}

TEST(HttpServer, EvictsUnauthenticatedThenIdleConnections) {
  asio::io_context io;
  run_test(io, eviction_body(io));
}

}  // namespace
}  // namespace anytls::test
