// The one server core of the control endpoints (metrics, Clash API): HTTP/1.1
// on the box's own event loop, one coroutine per connection, requests read
// with RequestHeadParser and answered by a handler.
//
// Bounded: at most max_connections at once (when full, a new connection
// evicts the oldest one that has not shown the secret, then the oldest idle
// one: net/socket_set.hpp); heads of max_head bytes; bodies (by
// Content-Length only: no control client chunks one) of max_body; a
// request's head and body within request_timeout of its first byte (of the
// accept, for a connection's first request); the next request of a
// keep-alive connection within idle_timeout; every write within
// write_timeout. What the core refuses closes the connection.
#pragma once
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <system_error>

#include <asio/awaitable.hpp>
#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>

#include "http/request_head.hpp"
#include "http/response.hpp"
#include "net/clock.hpp"
#include "net/listener.hpp"

namespace anytls::http {

struct ServerLimits {
  std::size_t max_connections = 8;
  std::size_t max_head = 8 * 1024;
  std::size_t max_body = 0;
  net::Clock::duration request_timeout = std::chrono::seconds(10);
  net::Clock::duration idle_timeout = std::chrono::seconds(60);
  net::Clock::duration write_timeout = std::chrono::seconds(30);
};

// A request as the server received it: its head and its whole body.
struct IncomingRequest {
  RequestHead head;
  std::string body;
};

// Why the core answered a request itself, before any handler.
enum class Refusal {
  bad_request,     // 400: not a request head we take
  head_too_large,  // 431
  bad_framing,     // 400: a chunked body
  body_too_large,  // 413: Content-Length over max_body
};

struct ServerState;

// The connection a handler answers on, for what it writes itself.
class Connection {
 public:
  Connection(std::shared_ptr<ServerState> st, std::shared_ptr<asio::ip::tcp::socket> s, bool keep_alive)
      : st_(std::move(st)), socket_(std::move(s)), keep_alive_(keep_alive) {}

  // The request showed the secret: the connection is not evicted while it
  // is served, and after the unauthenticated ones when it waits.
  void authorised();
  bool is_authorised() const { return authorised_; }
  // Whether the client asked to keep the connection.
  bool keep_alive() const { return keep_alive_; }
  // For a handler that wrote its own answer: end the connection after it.
  void close_after() { keep_alive_ = false; }

  // Writes all of bytes within the write timeout (timed_out otherwise).
  // bytes must live until it completes.
  asio::awaitable<std::error_code> write(const std::string& bytes);
  const std::shared_ptr<asio::ip::tcp::socket>& socket() const { return socket_; }
  bool stopped() const;

 private:
  std::shared_ptr<ServerState> st_;
  std::shared_ptr<asio::ip::tcp::socket> socket_;
  bool keep_alive_;
  bool authorised_ = false;
};

class Server {
 public:
  // A response to send (HEAD: its head only), or nullopt when the handler
  // wrote its answer itself (a file, a chunked stream, WebSocket). The
  // connection is kept when the client asked and the answer allows it.
  using Handler = std::function<asio::awaitable<std::optional<Response>>(IncomingRequest&, Connection&)>;
  // The answer to what the core refuses (each endpoint has its own body).
  using Refuse = std::function<Response(Refusal)>;

  // name: for logs and the task group ("metrics", "clash-api").
  Server(asio::io_context& io, std::string name, ServerLimits limits, Handler handler, Refuse refuse);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  std::error_code listen(const net::ListenConfig& config);
  asio::ip::tcp::endpoint local_endpoint() const;
  std::uint16_t port() const;
  // Stops accepting and closes every connection. Idempotent.
  void stop();
  // Completes when the accept loop and every connection have finished.
  asio::awaitable<void> join();
  // Tests: a shorter request timeout (before listen()).
  void set_request_timeout(net::Clock::duration d);
  // Connections closed to make room for a new one.
  std::size_t evictions() const;

 private:
  std::shared_ptr<ServerState> st_;
};

}  // namespace anytls::http
