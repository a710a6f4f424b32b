// The client exchange (src/http/client_exchange.hpp) against scripted
// servers on loopback: Content-Length bodies cut short or followed by bytes
// that are not theirs, chunked bodies good and malformed, heads and bodies
// over their caps, a body up to the close, and a server that trickles past
// the deadline (on a VirtualClock).
#include <array>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <asio.hpp>
#include <asio/experimental/awaitable_operators.hpp>
#include <gtest/gtest.h>

#include "http/client_error.hpp"
#include "http/client_exchange.hpp"
#include "net/clock.hpp"
#include "net/coro.hpp"
#include "net/tcp_conn.hpp"
#include "support/run.hpp"

namespace anytls::http {
namespace {

using asio::ip::tcp;
using net::use_tuple;
using namespace asio::experimental::awaitable_operators;

// What the server does with its one connection: reads the request (head
// and Content-Length bytes of body), writes `pieces` with `gap` between
// them, then half-closes (close) or holds the connection until the client
// goes.
struct Script {
  std::vector<std::string> pieces;
  bool close = true;
  std::chrono::milliseconds gap{0};
};

struct Seen {
  std::string request;
  std::size_t sent = 0;  // bytes of the pieces written so far
};

std::size_t request_length(const std::string& in) {
  const auto end = in.find("\r\n\r\n");
  if (end == std::string::npos) return std::string::npos;
  const auto cl = in.find("Content-Length: ");
  const std::size_t body = cl == std::string::npos || cl > end ? 0 : std::stoul(in.substr(cl + 16));
  return end + 4 + body;
}

asio::awaitable<void> serve_once(tcp::acceptor* acceptor, const Script* script, Seen* seen) {
  auto [aec, s] = co_await acceptor->async_accept(use_tuple);
  if (aec) co_return;
  std::array<char, 4096> buf;
  while (request_length(seen->request) == std::string::npos || seen->request.size() < request_length(seen->request)) {
    auto [ec, n] = co_await s.async_read_some(asio::buffer(buf), use_tuple);
    if (ec) co_return;
    seen->request.append(buf.data(), n);
  }
  asio::steady_timer pause(s.get_executor());
  for (const auto& piece : script->pieces) {
    auto [wec, wn] = co_await asio::async_write(s, asio::buffer(piece), use_tuple);
    if (wec) co_return;
    seen->sent += wn;
    if (script->gap.count() > 0) {
      pause.expires_after(script->gap);
      auto [tec] = co_await pause.async_wait(use_tuple);
      (void)tec;
    }
  }
  std::error_code ig;
  if (script->close) s.shutdown(tcp::socket::shutdown_send, ig);
  while (true) {  // until the client closes
    auto [ec, n] = co_await s.async_read_some(asio::buffer(buf), use_tuple);
    if (ec) break;
  }
}

struct Outcome {
  bool done = false;
  std::optional<Response> response;
  net::Error error;
  int first_bytes = 0;
};

Request get_request() {
  Request r;
  r.target = "/set.json";
  r.host = "example.test";
  return r;
}

asio::awaitable<void> client(std::uint16_t port, Request request, ExchangeOptions options, Outcome* out) {
  tcp::socket s(co_await asio::this_coro::executor);
  const tcp::endpoint server(asio::ip::make_address("127.0.0.1"), port);
  auto [ec] = co_await s.async_connect(server, use_tuple);
  if (ec) {
    out->done = true;
    out->error = net::Error{ec, "connect"};
    co_return;
  }
  net::TcpConn conn(std::move(s));
  options.limits.on_first_byte = [out] { ++out->first_bytes; };
  auto exchanging = exchange(conn, std::move(request), std::move(options));
  auto r = co_await std::move(exchanging);
  conn.close();
  out->done = true;
  if (r) out->response = std::move(*r);
  else out->error = r.error();
}

struct Trace {
  Outcome out;
  Seen seen;
};

// One exchange on the real clock (the runner's 30 s guard bounds a hang).
Trace exchange_with(Script script, ExchangeOptions options = {}, Request request = get_request()) {
  asio::io_context io;
  tcp::acceptor acceptor(io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
  Trace run;
  const auto port = acceptor.local_endpoint().port();
  asio::co_spawn(io, serve_once(&acceptor, &script, &run.seen), asio::detached);
  test::run_test(io, client(port, std::move(request), std::move(options), &run.out));
  EXPECT_TRUE(run.out.done);
  return run;
}

ExchangeOptions capped(std::size_t max_head, std::size_t max_body) {
  ExchangeOptions o;
  o.limits.max_head = max_head;
  o.limits.max_body = max_body;
  return o;
}

std::string ok_head(std::size_t length) {
  return "HTTP/1.1 200 OK\r\nContent-Length: " + std::to_string(length) + "\r\n\r\n";
}

const std::string kChunkedHead = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";

bool failed_with(const Trace& r, ClientError e) { return !r.out.response && r.out.error.code == e; }

// ---- requests ----------------------------------------------------------------------

TEST(HttpClientExchange, WritesTheRequestWithHostHeadersAndBody) {
  Request post;
  post.method = "POST";
  post.target = "/dns-query?x=1";
  post.host = "[::1]:8443";
  post.headers.push_back(Field{"Content-Type", "application/dns-message"});
  post.body = std::string("\0\1\2", 3);
  auto r = exchange_with({{ok_head(2) + "ok"}}, {}, post);
  ASSERT_TRUE(r.out.response) << r.out.error.text();
  const std::string head =
      "POST /dns-query?x=1 HTTP/1.1\r\nHost: [::1]:8443\r\nContent-Type: application/dns-message\r\n"
      "Content-Length: 3\r\n\r\n";
  EXPECT_EQ(r.seen.request, head + post.body);
  EXPECT_EQ(r.out.response->body, "ok");
}

TEST(HttpClientExchange, RefusesLineBreaksInRequestFields) {
  Request bad = get_request();
  bad.headers.push_back(Field{"X-A", "1\r\nX-Injected: 2"});
  auto s = serialize(bad);
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().code, ClientError::bad_request);
  bad = get_request();
  bad.target = "/a HTTP/1.1\r\nX: y";
  EXPECT_FALSE(serialize(bad));
  bad = get_request();
  bad.host = "h\nX: y";
  EXPECT_FALSE(serialize(bad));
}

// ---- Content-Length ------------------------------------------------------------------

TEST(HttpClientExchange, ContentLengthBodyThenTheConnectionHeld) {
  auto r = exchange_with({{ok_head(5) + "hello"}, false});
  ASSERT_TRUE(r.out.response) << r.out.error.text();
  EXPECT_EQ(r.out.response->status, 200u);
  EXPECT_EQ(r.out.response->reason, "OK");
  EXPECT_EQ(r.out.response->field("content-length"), "5");
  EXPECT_EQ(r.out.response->body, "hello");
  EXPECT_EQ(r.out.first_bytes, 1);
}

TEST(HttpClientExchange, ContentLengthShortIsAnError) {
  auto r = exchange_with({{ok_head(10) + "abc"}});
  EXPECT_TRUE(failed_with(r, ClientError::short_body)) << r.out.error.text();
  EXPECT_EQ(r.out.error.text(), "body shorter than its Content-Length");
}

TEST(HttpClientExchange, NothingPastContentLengthIsTaken) {
  // 3 bytes of body, then 256 KiB the response does not own: over the
  // 1 KiB body cap and the head cap if they were parsed.
  auto r = exchange_with({{ok_head(3) + "abc" + std::string(256 * 1024, 'X')}}, capped(1024, 1024));
  ASSERT_TRUE(r.out.response) << r.out.error.text();
  EXPECT_EQ(r.out.response->body, "abc");
}

TEST(HttpClientExchange, ContentLengthOverTheCapIsRefusedBeforeTheBody) {
  auto r = exchange_with({{ok_head(5000) + "abc"}, false}, capped(65536, 1024));
  EXPECT_TRUE(failed_with(r, ClientError::body_too_large));
  EXPECT_EQ(r.out.error.text(), "response over 1024 bytes (Content-Length 5000)");
}

TEST(HttpClientExchange, BadContentLengthIsNotHttp) {
  auto r = exchange_with({{"HTTP/1.1 200 OK\r\nContent-Length: 12x\r\n\r\nabc"}});
  EXPECT_TRUE(failed_with(r, ClientError::not_http)) << r.out.error.text();
  r = exchange_with({{"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd"}});
  EXPECT_TRUE(failed_with(r, ClientError::not_http)) << r.out.error.text();
}

// ---- chunked -------------------------------------------------------------------------

TEST(HttpClientExchange, ChunkedInPiecesWithExtensionsAndTrailer) {
  auto r = exchange_with({{kChunkedHead + "3\r\nab", "c\r\n2;x=y\r\nde\r", "\n0\r\nX-Trailer: 1\r\n\r\n"}, false});
  ASSERT_TRUE(r.out.response) << r.out.error.text();
  EXPECT_EQ(r.out.response->body, "abcde");
}

TEST(HttpClientExchange, MalformedChunkSizesAreErrors) {
  for (const std::string bad : {"zz\r\nab\r\n0\r\n\r\n", "-1\r\nab\r\n0\r\n\r\n", "ffffffffffffffffffffff\r\nab\r\n0\r\n\r\n",
                                "3\r\nabcXY0\r\n\r\n", "\r\n\r\n"}) {
    auto r = exchange_with({{kChunkedHead + bad}});
    EXPECT_TRUE(failed_with(r, ClientError::bad_chunk)) << bad << ": " << r.out.error.text();
  }
}

TEST(HttpClientExchange, AChunkLineWithoutEndIsCut) {
  // A chunk extension that never ends: held bytes stay under the head cap.
  auto r = exchange_with({{kChunkedHead + "3;" + std::string(8192, 'x')}, false}, capped(4096, 1 << 20));
  EXPECT_TRUE(failed_with(r, ClientError::bad_chunk)) << r.out.error.text();
}

TEST(HttpClientExchange, ChunkedClosedBeforeTheLastChunk) {
  auto r = exchange_with({{kChunkedHead + "3\r\nabc\r\n"}});
  EXPECT_TRUE(failed_with(r, ClientError::bad_chunk));
  EXPECT_EQ(r.out.error.text(), "bad chunked body (closed before the last chunk)");
}

TEST(HttpClientExchange, ChunkedOverTheCap) {
  std::string chunks;
  for (int i = 0; i < 20; ++i) chunks += "64\r\n" + std::string(100, 'a') + "\r\n";
  auto r = exchange_with({{kChunkedHead + chunks + "0\r\n\r\n"}}, capped(65536, 1024));
  EXPECT_TRUE(failed_with(r, ClientError::body_too_large)) << r.out.error.text();
  EXPECT_EQ(r.out.error.text(), "response over 1024 bytes");
}

// ---- heads -----------------------------------------------------------------------------

TEST(HttpClientExchange, OversizedHeadIsAnError) {
  std::string head = "HTTP/1.1 200 OK\r\n";
  for (int i = 0; i < 200; ++i) head += "X-Filler-" + std::to_string(i) + ": " + std::string(40, 'f') + "\r\n";
  auto r = exchange_with({{head + "\r\n"}, false}, capped(4096, 1024));
  EXPECT_TRUE(failed_with(r, ClientError::head_too_large)) << r.out.error.text();
  EXPECT_EQ(r.out.error.text(), "response head over 4 KiB");
  // A head without its end, held open: refused once over the cap too.
  r = exchange_with({{"HTTP/1.1 200 OK\r\nX: " + std::string(10000, 'y')}, false}, capped(4096, 1024));
  EXPECT_TRUE(failed_with(r, ClientError::head_too_large)) << r.out.error.text();
}

TEST(HttpClientExchange, NotHttpAndNoResponse) {
  auto r = exchange_with({{"SSH-2.0-OpenSSH_9.2\r\n\r\n"}});
  EXPECT_TRUE(failed_with(r, ClientError::not_http)) << r.out.error.text();
  r = exchange_with({{}});
  EXPECT_TRUE(failed_with(r, ClientError::no_response)) << r.out.error.text();
  EXPECT_EQ(r.out.first_bytes, 0);
  r = exchange_with({{"HTTP/1.1 200 OK\r\nContent-Le"}});
  EXPECT_TRUE(failed_with(r, ClientError::no_response)) << r.out.error.text();
}

TEST(HttpClientExchange, InterimResponsesAreSkipped) {
  auto r = exchange_with({{"HTTP/1.1 100 Continue\r\n\r\n", "HTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nok"}});
  ASSERT_TRUE(r.out.response) << r.out.error.text();
  EXPECT_EQ(r.out.response->status, 201u);
  EXPECT_EQ(r.out.response->body, "ok");
}

TEST(HttpClientExchange, HeadOnlyWhenTheCallerSaysSo) {
  ExchangeOptions o = capped(65536, 16);
  o.wants_body = [](const Response& head) { return head.status == 200; };
  // A redirect's body is not read (it is over the cap, and never arrives).
  auto r = exchange_with({{"HTTP/1.1 302 Found\r\nLocation: /b\r\nContent-Length: 100000\r\n\r\n"}, false}, o);
  ASSERT_TRUE(r.out.response) << r.out.error.text();
  EXPECT_EQ(r.out.response->status, 302u);
  EXPECT_EQ(r.out.response->field("location"), "/b");
  EXPECT_EQ(r.out.response->body, "");
}

TEST(HttpClientExchange, NoBodyStatuses) {
  auto r = exchange_with({{"HTTP/1.1 204 No Content\r\n\r\n"}, false});
  ASSERT_TRUE(r.out.response) << r.out.error.text();
  EXPECT_EQ(r.out.response->status, 204u);
  EXPECT_EQ(r.out.response->body, "");
}

// ---- up to the close -------------------------------------------------------------------

TEST(HttpClientExchange, BodyUntilTheClose) {
  auto r = exchange_with({{"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nuntil ", "the close"}});
  ASSERT_TRUE(r.out.response) << r.out.error.text();
  EXPECT_EQ(r.out.response->body, "until the close");
  r = exchange_with({{"HTTP/1.0 200 OK\r\n\r\n" + std::string(2000, 'z')}}, capped(65536, 1024));
  EXPECT_TRUE(failed_with(r, ClientError::body_too_large)) << r.out.error.text();
}

// ---- the deadline ------------------------------------------------------------------------

asio::awaitable<void> until_sent(const Seen* seen, std::size_t n) {
  asio::steady_timer t(co_await asio::this_coro::executor);
  while (seen->sent < n) {
    t.expires_after(std::chrono::milliseconds(1));
    co_await t.async_wait(use_tuple);
  }
}

// The server trickles a byte every 2 ms (real time): progress does not
// extend the deadline, 60 s on the virtual clock from the start.
asio::awaitable<void> trickle_past_deadline(net::VirtualClock* clock, const Seen* seen, const Outcome* out) {
  co_await until_sent(seen, 30);
  EXPECT_FALSE(out->done);
  clock->advance(std::chrono::seconds(59));
  co_await test::settle();
  EXPECT_FALSE(out->done) << "still waiting at 59 s";
  co_await until_sent(seen, 40);
  clock->advance(std::chrono::seconds(1));
  co_await test::settle();
  EXPECT_TRUE(out->done);
}

asio::awaitable<void> trickled(std::uint16_t port, net::VirtualClock* clock, Trace* run) {
  ExchangeOptions o;
  o.timeout = std::chrono::seconds(60);
  o.clock = clock;
  Request request = get_request();
  auto exchanging = client(port, std::move(request), std::move(o), &run->out);
  auto driving = trickle_past_deadline(clock, &run->seen, &run->out);
  co_await (std::move(exchanging) && std::move(driving));
}

TEST(HttpClientExchange, DeadlineWithATricklingServer) {
  asio::io_context io;
  net::VirtualClock clock;
  tcp::acceptor acceptor(io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
  Script script;
  script.pieces.push_back(ok_head(100000));
  for (int i = 0; i < 5000; ++i) script.pieces.push_back("x");
  script.gap = std::chrono::milliseconds(2);
  script.close = false;
  Trace run;
  const auto port = acceptor.local_endpoint().port();
  asio::co_spawn(io, serve_once(&acceptor, &script, &run.seen), asio::detached);
  test::run_test(io, trickled(port, &clock, &run));
  EXPECT_TRUE(failed_with(run, ClientError::timed_out)) << run.out.error.text();
  EXPECT_EQ(run.out.error.text(), "no complete response within 60 s");
}

}  // namespace
}  // namespace anytls::http
