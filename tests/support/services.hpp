// Local services for loopback tests, shared by every test stack: a TCP
// echo, a minimal HTTP server, a UDP echo and a TCP proxy that can make its
// existing connections go silent. All on 127.0.0.1, port 0, one io_context.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <asio/io_context.hpp>

namespace anytls::test {

// TCP echo on 127.0.0.1:0.
class TcpEchoServer {
 public:
  explicit TcpEchoServer(asio::io_context& io);
  std::uint16_t port() const;
  std::size_t accepted() const;
  void stop();
  struct State;

 private:
  std::shared_ptr<State> st_;
};

// Minimal HTTP/1.1 server: reads until the end of the request head, answers
// 200 with `body` and Connection: close, then half-closes and waits for EOF.
// Records everything each connection sent before its request head ended.
class HttpServer {
 public:
  HttpServer(asio::io_context& io, std::string body);
  std::uint16_t port() const;
  const std::vector<std::string>& requests() const;
  void stop();
  struct State;

 private:
  std::shared_ptr<State> st_;
};

// UDP echo on 127.0.0.1:0: every datagram goes back to its sender.
class UdpEchoServer {
 public:
  explicit UdpEchoServer(asio::io_context& io);
  std::uint16_t port() const;
  std::size_t datagrams() const;
  void stop();
  struct State;

 private:
  std::shared_ptr<State> st_;
};

// TCP forwarder 127.0.0.1:0 -> 127.0.0.1:target. freeze_existing() makes
// every connection open now silent in both directions (bytes are read and
// dropped, TCP stays open): a peer that died without telling anyone. Later
// connections are forwarded normally.
class FreezeProxy {
 public:
  FreezeProxy(asio::io_context& io, std::uint16_t target);
  std::uint16_t port() const;
  std::size_t accepted() const;
  void freeze_existing();
  void stop();
  struct State;

 private:
  std::shared_ptr<State> st_;
};

}  // namespace anytls::test
