#include "support/services.hpp"

#include <list>

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/ip/udp.hpp>
#include <asio/write.hpp>

#include "net/coro.hpp"

// The services' own coroutines are fire-and-forget test fixtures: each is
// stopped through its State (stop() closes the sockets it waits on), so
// `detached` is fine here.

namespace anytls::test {

namespace {

using asio::ip::tcp;
using asio::ip::udp;
using net::use_tuple;

tcp::endpoint loopback(std::uint16_t port) { return {asio::ip::make_address_v4("127.0.0.1"), port}; }

void close_socket(tcp::socket& s) {
  std::error_code ec;
  s.close(ec);
}

}  // namespace

// ------------------------------------------------------------------ TCP echo

struct TcpEchoServer::State {
  explicit State(asio::io_context& io) : acceptor(io, loopback(0)) {}
  tcp::acceptor acceptor;
  std::list<std::weak_ptr<tcp::socket>> conns;
  std::size_t accepted = 0;
  bool stopped = false;
};

namespace {

asio::awaitable<void> echo_conn(std::shared_ptr<TcpEchoServer::State> st, std::shared_ptr<tcp::socket> s) {
  std::vector<char> buf(16 * 1024);
  for (;;) {
    auto [ec, n] = co_await s->async_read_some(asio::buffer(buf), use_tuple);
    if (ec) break;
    auto [wec, wn] = co_await asio::async_write(*s, asio::buffer(buf.data(), n), use_tuple);
    if (wec) break;
  }
  close_socket(*s);
  (void)st;
}

asio::awaitable<void> echo_accept(std::shared_ptr<TcpEchoServer::State> st) {
  while (!st->stopped) {
    auto [ec, sock] = co_await st->acceptor.async_accept(use_tuple);
    if (ec) break;
    ++st->accepted;
    auto s = std::make_shared<tcp::socket>(std::move(sock));
    st->conns.remove_if([](const std::weak_ptr<tcp::socket>& w) { return w.expired(); });
    st->conns.push_back(s);
    asio::co_spawn(st->acceptor.get_executor(), echo_conn(st, s), asio::detached);
  }
}

}  // namespace

TcpEchoServer::TcpEchoServer(asio::io_context& io) : st_(std::make_shared<State>(io)) {
  asio::co_spawn(io, echo_accept(st_), asio::detached);
}
std::uint16_t TcpEchoServer::port() const { return st_->acceptor.local_endpoint().port(); }
std::size_t TcpEchoServer::accepted() const { return st_->accepted; }
void TcpEchoServer::stop() {
  st_->stopped = true;
  std::error_code ec;
  st_->acceptor.close(ec);
  for (auto& w : st_->conns)
    if (auto s = w.lock()) close_socket(*s);
}

// ------------------------------------------------------------------ HTTP

struct HttpServer::State {
  State(asio::io_context& io, std::string b) : acceptor(io, loopback(0)), body(std::move(b)) {}
  tcp::acceptor acceptor;
  std::string body;
  std::list<std::weak_ptr<tcp::socket>> conns;
  std::vector<std::string> requests;
  bool stopped = false;
};

namespace {

asio::awaitable<void> http_conn(std::shared_ptr<HttpServer::State> st, std::shared_ptr<tcp::socket> s) {
  std::string in;
  std::vector<char> buf(4096);
  bool complete = false;
  while (!complete && in.size() < 64 * 1024) {
    auto [ec, n] = co_await s->async_read_some(asio::buffer(buf), use_tuple);
    if (ec) break;
    in.append(buf.data(), n);
    complete = in.find("\r\n\r\n") != std::string::npos;
  }
  if (complete) {
    st->requests.push_back(in);
    std::string resp = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: " +
                       std::to_string(st->body.size()) + "\r\nConnection: close\r\n\r\n" + st->body;
    auto [wec, wn] = co_await asio::async_write(*s, asio::buffer(resp), use_tuple);
    if (!wec) {
      // Half-close, then wait for the client to finish: closing with unread
      // bytes would turn our FIN into a reset that can eat the response.
      std::error_code ig;
      s->shutdown(tcp::socket::shutdown_send, ig);
      for (;;) {
        auto [rec, rn] = co_await s->async_read_some(asio::buffer(buf), use_tuple);
        if (rec) break;
      }
    }
  }
  close_socket(*s);
}

asio::awaitable<void> http_accept(std::shared_ptr<HttpServer::State> st) {
  while (!st->stopped) {
    auto [ec, sock] = co_await st->acceptor.async_accept(use_tuple);
    if (ec) break;
    auto s = std::make_shared<tcp::socket>(std::move(sock));
    st->conns.remove_if([](const std::weak_ptr<tcp::socket>& w) { return w.expired(); });
    st->conns.push_back(s);
    asio::co_spawn(st->acceptor.get_executor(), http_conn(st, s), asio::detached);
  }
}

}  // namespace

HttpServer::HttpServer(asio::io_context& io, std::string body)
    : st_(std::make_shared<State>(io, std::move(body))) {
  asio::co_spawn(io, http_accept(st_), asio::detached);
}
std::uint16_t HttpServer::port() const { return st_->acceptor.local_endpoint().port(); }
const std::vector<std::string>& HttpServer::requests() const { return st_->requests; }
void HttpServer::stop() {
  st_->stopped = true;
  std::error_code ec;
  st_->acceptor.close(ec);
  for (auto& w : st_->conns)
    if (auto s = w.lock()) close_socket(*s);
}

// ------------------------------------------------------------------ UDP echo

struct UdpEchoServer::State {
  explicit State(asio::io_context& io) : socket(io, udp::endpoint(asio::ip::make_address_v4("127.0.0.1"), 0)) {}
  udp::socket socket;
  std::size_t datagrams = 0;
};

namespace {

asio::awaitable<void> udp_echo_loop(std::shared_ptr<UdpEchoServer::State> st) {
  std::vector<char> buf(65536);
  for (;;) {
    udp::endpoint from;
    auto [ec, n] = co_await st->socket.async_receive_from(asio::buffer(buf), from, use_tuple);
    if (ec) {
      if (!st->socket.is_open() || ec == asio::error::operation_aborted) break;
      continue;  // e.g. ICMP unreachable from an earlier reply
    }
    ++st->datagrams;
    (void)co_await st->socket.async_send_to(asio::buffer(buf.data(), n), from, use_tuple);
  }
}

}  // namespace

UdpEchoServer::UdpEchoServer(asio::io_context& io) : st_(std::make_shared<State>(io)) {
  asio::co_spawn(io, udp_echo_loop(st_), asio::detached);
}
std::uint16_t UdpEchoServer::port() const { return st_->socket.local_endpoint().port(); }
std::size_t UdpEchoServer::datagrams() const { return st_->datagrams; }
void UdpEchoServer::stop() {
  std::error_code ec;
  st_->socket.close(ec);
}

// ------------------------------------------------------------------ freeze proxy

namespace {
struct ProxyPair {
  explicit ProxyPair(tcp::socket d) : down(std::move(d)), up(down.get_executor()) {}
  tcp::socket down;  // from the client
  tcp::socket up;    // to the target
  bool frozen = false;
  void close() {
    close_socket(down);
    close_socket(up);
  }
};
}  // namespace

struct FreezeProxy::State {
  State(asio::io_context& io, std::uint16_t t) : acceptor(io, loopback(0)), target(t) {}
  tcp::acceptor acceptor;
  std::uint16_t target;
  std::list<std::weak_ptr<ProxyPair>> pairs;
  std::size_t accepted = 0;
  bool stopped = false;
};

namespace {

asio::awaitable<void> proxy_pump(std::shared_ptr<ProxyPair> p, bool downstream) {
  tcp::socket& from = downstream ? p->up : p->down;
  tcp::socket& to = downstream ? p->down : p->up;
  std::vector<char> buf(16 * 1024);
  for (;;) {
    auto [ec, n] = co_await from.async_read_some(asio::buffer(buf), use_tuple);
    if (ec) break;
    if (p->frozen) continue;  // silent: read and drop
    auto [wec, wn] = co_await asio::async_write(to, asio::buffer(buf.data(), n), use_tuple);
    if (wec) break;
  }
  p->close();
}

asio::awaitable<void> proxy_conn(std::shared_ptr<FreezeProxy::State> st, std::shared_ptr<ProxyPair> p) {
  auto [ec] = co_await p->up.async_connect(loopback(st->target), use_tuple);
  if (ec || st->stopped) {
    p->close();
    co_return;
  }
  auto ex = st->acceptor.get_executor();
  asio::co_spawn(ex, proxy_pump(p, false), asio::detached);
  asio::co_spawn(ex, proxy_pump(p, true), asio::detached);
}

asio::awaitable<void> proxy_accept(std::shared_ptr<FreezeProxy::State> st) {
  while (!st->stopped) {
    auto [ec, sock] = co_await st->acceptor.async_accept(use_tuple);
    if (ec) break;
    ++st->accepted;
    auto p = std::make_shared<ProxyPair>(std::move(sock));
    st->pairs.remove_if([](const std::weak_ptr<ProxyPair>& w) { return w.expired(); });
    st->pairs.push_back(p);
    asio::co_spawn(st->acceptor.get_executor(), proxy_conn(st, p), asio::detached);
  }
}

}  // namespace

FreezeProxy::FreezeProxy(asio::io_context& io, std::uint16_t target) : st_(std::make_shared<State>(io, target)) {
  asio::co_spawn(io, proxy_accept(st_), asio::detached);
}
std::uint16_t FreezeProxy::port() const { return st_->acceptor.local_endpoint().port(); }
std::size_t FreezeProxy::accepted() const { return st_->accepted; }
void FreezeProxy::freeze_existing() {
  for (auto& w : st_->pairs)
    if (auto p = w.lock()) p->frozen = true;
}
void FreezeProxy::stop() {
  st_->stopped = true;
  std::error_code ec;
  st_->acceptor.close(ec);
  for (auto& w : st_->pairs)
    if (auto p = w.lock()) p->close();
}

}  // namespace anytls::test
