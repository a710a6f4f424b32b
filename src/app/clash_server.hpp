// The Clash API's transport, on the HTTP server core (http/server.hpp):
// WebSocket (RFC 6455, http/websocket.hpp) and chunked streams for
// /traffic, /memory, /logs and /connections, CORS with preflight, and
// external_ui's static files.
//
// Bounded: at most kMaxConnections at once (streams included; when full, a
// new connection evicts the oldest one that has not shown the secret, then
// the oldest idle one), request heads of kMaxHead bytes, bodies of kMaxBody,
// WebSocket frames from the client of kMaxFrame; a request's head and body
// within kRequestTimeout of its first byte, a deadline on every write; a
// 401 closes the connection.
#pragma once
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <system_error>

#include <asio/awaitable.hpp>
#include <asio/io_context.hpp>

#include "app/clash_api.hpp"

namespace anytls::app {

class ClashServer {
 public:
  static constexpr std::size_t kMaxConnections = 64;
  static constexpr std::size_t kMaxHead = 16 * 1024;
  static constexpr std::size_t kMaxBody = 64 * 1024;
  static constexpr std::size_t kMaxFrame = 4 * 1024;
  static constexpr std::chrono::seconds kRequestTimeout{10};

  // api must outlive the server.
  ClashServer(asio::io_context& io, ClashApi& api);
  ~ClashServer();
  ClashServer(const ClashServer&) = delete;
  ClashServer& operator=(const ClashServer&) = delete;

  std::error_code start();
  void stop();
  asio::awaitable<void> join();
  std::uint16_t port() const;
  // Tests: a shorter kRequestTimeout (before start()).
  void set_request_timeout(std::chrono::steady_clock::duration d);
  // Connections closed to make room for a new one.
  std::size_t evictions() const;
  const std::string& start_error() const;

  struct State;

 private:
  std::shared_ptr<State> st_;
};

}  // namespace anytls::app
