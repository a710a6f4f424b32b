// Loopback fixtures for the inbound tests: a test Router/Outbound that dials
// local servers over net::TcpConn, a UDP PacketConn, a small HTTP/1.1 origin
// server that describes each request, and a runner that drives one
// io_context. The TCP and UDP echo servers are support/services.hpp's.
#pragma once
#include <chrono>
#include <exception>
#include <functional>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include <asio.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <gtest/gtest.h>

#include "config/options.hpp"
#include "http/proxy_codec.hpp"
#include "net/coro.hpp"
#include "net/listener.hpp"
#include "net/tcp_conn.hpp"
#include "outbound/outbound.hpp"
#include "route/router.hpp"
#include "support/services.hpp"

namespace anytls::test {

using asio::ip::tcp;
using asio::ip::udp;
using net::use_tuple;

// ---- outbound / router -------------------------------------------------------

class TestPacketConn final : public net::PacketConn {
 public:
  explicit TestPacketConn(udp::socket s) : socket_(std::move(s)) {}
  ~TestPacketConn() override { close(); }
  asio::awaitable<net::ReadResult> read_packet(asio::mutable_buffer buf, net::Address& from) override {
    udp::endpoint ep;
    auto [ec, n] = co_await socket_.async_receive_from(buf, ep, use_tuple);
    from = net::Address{net::unmap(ep.address()).to_string(), ep.port()};
    co_return net::ReadResult{ec, n};
  }
  asio::awaitable<std::error_code> write_packet(asio::const_buffer buf, const net::Address& to) override {
    auto ip = to.ip().value_or(asio::ip::make_address("127.0.0.1"));
    auto [ec, n] = co_await socket_.async_send_to(buf, udp::endpoint(ip, to.port), use_tuple);
    (void)n;
    co_return ec;
  }
  void close() override {
    std::error_code ec;
    socket_.close(ec);
  }

 private:
  udp::socket socket_;
};

// Dials IP literals as given and any domain name as 127.0.0.1.
class TestOutbound final : public outbound::Outbound {
 public:
  const std::string& tag() const override { return tag_; }
  std::string_view type() const override { return "test"; }
  asio::awaitable<net::Result<std::unique_ptr<net::Conn>>> dial(const outbound::Metadata& md) override {
    dialed.push_back(md);
    auto ip = md.destination.ip().value_or(asio::ip::make_address("127.0.0.1"));
    tcp::socket s(co_await asio::this_coro::executor);
    auto [ec] = co_await s.async_connect(tcp::endpoint(ip, md.destination.port), use_tuple);
    if (ec) co_return net::Error{ec, "dial tcp " + md.destination.to_string() + ": " + ec.message()};
    s.set_option(tcp::no_delay(true));
    co_return std::unique_ptr<net::Conn>(std::make_unique<net::TcpConn>(std::move(s)));
  }
  asio::awaitable<net::Result<std::unique_ptr<net::PacketConn>>> listen_packet(const outbound::Metadata& md) override {
    dialed.push_back(md);
    udp::socket s(co_await asio::this_coro::executor);
    std::error_code ec;
    s.open(udp::v4(), ec);
    if (!ec) s.bind(udp::endpoint(asio::ip::make_address("127.0.0.1"), 0), ec);
    if (ec) co_return net::Error{ec, {}};
    co_return std::unique_ptr<net::PacketConn>(std::make_unique<TestPacketConn>(std::move(s)));
  }

  std::vector<outbound::Metadata> dialed;

 private:
  std::string tag_ = "test-out";
};

class TestRouter final : public route::Router {
 public:
  route::Decision decide(const outbound::Metadata& md) override {
    decided.push_back(md);
    if (reject_all || reject_ports.count(md.destination.port) != 0) return {nullptr, true};
    return {&outbound, false};
  }
  std::shared_ptr<route::DnsHandler> dns() const override { return dns_handler; }
  TestOutbound outbound;
  bool reject_all = false;
  std::set<std::uint16_t> reject_ports;
  std::vector<outbound::Metadata> decided;
  std::shared_ptr<route::DnsHandler> dns_handler;  // its fakeip table, for the tests that set one
};

inline config::MixedInboundOptions proxy_options(std::vector<config::ProxyUser> users = {}) {
  config::MixedInboundOptions o;
  o.listen.listen = "127.0.0.1";
  o.listen.listen_port = 0;
  o.users = std::move(users);
  return o;
}

// ---- servers -------------------------------------------------------------------

// Closes what it tracks on stop(); shared by the server coroutines.
struct ServerState {
  explicit ServerState(asio::io_context& io) : acceptor(io) {}
  tcp::acceptor acceptor;
  std::set<tcp::socket*> live;
  bool stopped = false;
  void stop() {
    stopped = true;
    std::error_code ec;
    acceptor.close(ec);
    for (auto* s : live) s->close(ec);
  }
};

struct Track {
  std::shared_ptr<ServerState> st;
  tcp::socket* s;
  Track(std::shared_ptr<ServerState> state, tcp::socket* sock) : st(std::move(state)), s(sock) { st->live.insert(s); }
  ~Track() { st->live.erase(s); }
};

using SessionFn = asio::awaitable<void> (*)(std::shared_ptr<ServerState>, tcp::socket);

inline asio::awaitable<void> accept_loop(std::shared_ptr<ServerState> st, SessionFn fn) {
  for (;;) {
    auto [ec, s] = co_await st->acceptor.async_accept(use_tuple);
    if (ec || st->stopped) break;
    asio::co_spawn(st->acceptor.get_executor(), fn(st, std::move(s)), asio::detached);
  }
}

inline std::shared_ptr<ServerState> start_server(asio::io_context& io, SessionFn fn) {
  auto st = std::make_shared<ServerState>(io);
  tcp::endpoint ep(asio::ip::make_address("127.0.0.1"), 0);
  st->acceptor.open(ep.protocol());
  st->acceptor.bind(ep);
  st->acceptor.listen();
  asio::co_spawn(io, accept_loop(st, fn), asio::detached);
  return st;
}


// HTTP/1.1 origin: answers every request with a body describing it:
// "<METHOD> <target> host=<Host> body=<request body> hdrs=<names>"
//   /chunked -> chunked response; /close -> body delimited by close.
// Closes after a response when the request says Connection: close.
inline asio::awaitable<void> http_session(std::shared_ptr<ServerState> st, tcp::socket s) {
  Track t(st, &s);
  std::string in;
  std::array<char, 8192> buf;
  for (;;) {
    http::proxy::Parsed<http::proxy::RequestHead> p;
    for (;;) {
      p = http::proxy::parse_request_head(in);
      if (p.status != http::proxy::Status::need_more) break;
      auto [ec, n] = co_await s.async_read_some(asio::buffer(buf), use_tuple);
      if (ec) co_return;
      in.append(buf.data(), n);
    }
    if (p.status != http::proxy::Status::ok) co_return;
    in.erase(0, p.consumed);
    auto& req = p.value;
    std::uint64_t len = 0;
    if (auto cl = http::proxy::find_header(req.headers, "Content-Length")) len = std::stoull(std::string(*cl));
    while (in.size() < len) {
      auto [ec, n] = co_await s.async_read_some(asio::buffer(buf), use_tuple);
      if (ec) co_return;
      in.append(buf.data(), n);
    }
    std::string body_in = in.substr(0, len);
    in.erase(0, len);
    std::string names;
    for (auto& h : req.headers) names += h.name + ",";
    std::string body = req.method + " " + req.target + " host=" +
                       std::string(http::proxy::find_header(req.headers, "Host").value_or("")) +
                       " body=" + body_in + " hdrs=" + names;
    bool close = http::proxy::has_token(req.headers, "Connection", "close");
    std::string out;
    if (req.target == "/chunked") {
      out = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";
      std::string half = body.substr(0, body.size() / 2);
      std::string rest = body.substr(body.size() / 2);
      char line[32];
      std::snprintf(line, sizeof line, "%zx;ext=1\r\n", half.size());
      out += line + half + "\r\n";
      std::snprintf(line, sizeof line, "%zx\r\n", rest.size());
      out += line + rest + "\r\n0\r\nX-Trailer: t\r\n\r\n";
    } else if (req.target == "/close") {
      out = "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n" + body;
      close = true;
    } else {
      out = "HTTP/1.1 200 OK\r\nContent-Length: " + std::to_string(body.size()) +
            (close ? "\r\nConnection: close" : "") + "\r\nX-Origin: yes\r\n\r\n" + body;
    }
    auto [wec, m] = co_await asio::async_write(s, asio::buffer(out), use_tuple);
    (void)m;
    if (wec || close) break;
  }
  std::error_code ec;
  s.shutdown(tcp::socket::shutdown_send, ec);
}

inline std::shared_ptr<ServerState> start_http(asio::io_context& io) { return start_server(io, http_session); }

// A connected loopback pair: {the connecting end, the accepted end}.
inline asio::awaitable<std::pair<tcp::socket, tcp::socket>> socket_pair() {
  auto ex = co_await asio::this_coro::executor;
  tcp::acceptor a(ex, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
  tcp::socket c(ex);
  co_await c.async_connect(a.local_endpoint(), asio::use_awaitable);
  auto s = co_await a.async_accept(asio::use_awaitable);
  co_return std::pair<tcp::socket, tcp::socket>{std::move(c), std::move(s)};
}

inline asio::awaitable<tcp::socket> connect_to(std::uint16_t port) {
  tcp::socket s(co_await asio::this_coro::executor);
  co_await s.async_connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port), asio::use_awaitable);
  co_return s;
}

inline asio::awaitable<void> send_all(tcp::socket& s, std::string_view bytes) {
  co_await asio::async_write(s, asio::buffer(bytes.data(), bytes.size()), asio::use_awaitable);
}

inline asio::awaitable<void> send_bytes(tcp::socket& s, std::vector<std::uint8_t> bytes) {
  co_await asio::async_write(s, asio::buffer(bytes), asio::use_awaitable);
}

// Reads exactly n bytes; fewer when the peer closes first.
inline asio::awaitable<std::string> read_n(tcp::socket& s, std::size_t n) {
  std::string out(n, '\0');
  auto [ec, got] = co_await asio::async_read(s, asio::buffer(out), use_tuple);
  out.resize(got);
  co_return out;
}

inline asio::awaitable<std::string> read_until_eof(tcp::socket& s) {
  std::string out;
  std::array<char, 4096> buf;
  for (;;) {
    auto [ec, n] = co_await s.async_read_some(asio::buffer(buf), use_tuple);
    out.append(buf.data(), n);
    if (ec) break;
  }
  co_return out;
}

// Reads one HTTP response with Content-Length (head + body) from s, using
// and updating `pending` for bytes read beyond it.
inline asio::awaitable<std::pair<http::proxy::ResponseHead, std::string>> read_response(tcp::socket& s,
                                                                                            std::string& pending) {
  std::array<char, 4096> buf;
  http::proxy::Parsed<http::proxy::ResponseHead> p;
  for (;;) {
    p = http::proxy::parse_response_head(pending);
    if (p.status != http::proxy::Status::need_more) break;
    auto [ec, n] = co_await s.async_read_some(asio::buffer(buf), use_tuple);
    if (ec) co_return std::pair<http::proxy::ResponseHead, std::string>{};
    pending.append(buf.data(), n);
  }
  pending.erase(0, p.consumed);
  std::size_t len = 0;
  bool until_close = false;
  if (auto cl = http::proxy::find_header(p.value.headers, "Content-Length")) {
    len = std::stoul(std::string(*cl));
  } else {
    until_close = true;
  }
  while (until_close || pending.size() < len) {
    auto [ec, n] = co_await s.async_read_some(asio::buffer(buf), use_tuple);
    pending.append(buf.data(), n);
    if (ec) break;
  }
  if (until_close) len = pending.size();
  std::string body = pending.substr(0, len);
  pending.erase(0, len);
  co_return std::pair{std::move(p.value), std::move(body)};
}

// ---- runner ------------------------------------------------------------------------

// Runs `test` on io, then `cleanup` (stop inbounds and servers), then runs io
// until everything has unwound. A 30 s guard turns a hang into a failure.
inline void run(asio::io_context& io, asio::awaitable<void> test, std::function<void()> cleanup) {
  bool done = false;
  std::exception_ptr error;
  asio::steady_timer guard(io, std::chrono::seconds(30));
  guard.async_wait([&](std::error_code ec) {
    if (!ec && !done) {
      ADD_FAILURE() << "test timed out";
      io.stop();
    }
  });
  asio::co_spawn(io, std::move(test), [&](std::exception_ptr e) {
    done = true;
    error = e;
    cleanup();
    guard.cancel();
  });
  io.run();
  if (error) {
    try {
      std::rethrow_exception(error);
    } catch (const std::exception& e) {
      ADD_FAILURE() << "test coroutine threw: " << e.what();
    }
  }
  EXPECT_TRUE(done);
}

// Yields until pred() holds (bounded by the runner's guard); for states that
// settle a few loop turns after a close.
inline asio::awaitable<void> until(std::function<bool()> pred) {
  asio::steady_timer t(co_await asio::this_coro::executor);
  while (!pred()) {
    t.expires_after(std::chrono::milliseconds(1));
    co_await t.async_wait(use_tuple);
  }
}

}  // namespace anytls::test
