// The experimental.metrics endpoint, on the HTTP server core
// (http/server.hpp): answers GET <path> with the Prometheus text rendered at
// that moment. Keep-alive as Prometheus uses it; at most kMaxConnections at
// once (when full, a new connection evicts the oldest one that has not
// shown the token, then the oldest idle one), a request head within
// kRequestTimeout of its first byte, a deadline on every write, request
// heads of at most 8 KiB, no request body; a 401 closes the connection.
#pragma once
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <system_error>
#include <vector>

#include <asio/awaitable.hpp>
#include <asio/io_context.hpp>

#include "config/options.hpp"
#include "http/request_head.hpp"

namespace anytls::app {

struct MetricsResponse {
  int status = 200;
  std::string reason = "OK";
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
};

// What the endpoint answers to one request head (pure: no sockets).
// render is only called for an authorised GET/HEAD of the metrics path.
MetricsResponse metrics_response(const http::RequestHead& req, const config::MetricsOptions& opts,
                                 const std::function<std::string()>& render);

// Whether `authorization` (the header's value) is "Bearer <secret>"; the
// token is compared in constant time (SHA-256 digests, CRYPTO_memcmp).
bool bearer_matches(std::string_view authorization, std::string_view secret);

// The bytes of a response; HEAD leaves the body out.
std::string serialize_response(const MetricsResponse& r, bool head, bool close);

class MetricsServer {
 public:
  static constexpr std::size_t kMaxConnections = 8;
  static constexpr std::size_t kMaxHead = 8 * 1024;
  static constexpr std::chrono::seconds kRequestTimeout{10};

  // The exposition text, gathered when a scrape asks.
  using Render = std::function<asio::awaitable<std::string>()>;
  MetricsServer(asio::io_context& io, config::MetricsOptions opts, Render render);
  // A render that needs no other worker (tests, one worker).
  MetricsServer(asio::io_context& io, config::MetricsOptions opts, std::function<std::string()> render);
  ~MetricsServer();
  MetricsServer(const MetricsServer&) = delete;
  MetricsServer& operator=(const MetricsServer&) = delete;

  // Listens and starts accepting; on failure start_error() says why.
  std::error_code start();
  // Stops accepting and closes every connection. Idempotent.
  void stop();
  // Completes when the accept loop and every connection have finished.
  asio::awaitable<void> join();
  std::uint16_t port() const;
  // Tests: a shorter kRequestTimeout (before start()).
  void set_request_timeout(std::chrono::steady_clock::duration d);
  // Connections closed to make room for a new one.
  std::size_t evictions() const;
  const std::string& start_error() const;
  std::uint64_t scrapes() const;  // metrics bodies served

  struct State;

 private:
  std::shared_ptr<State> st_;
};

}  // namespace anytls::app
