// Conn over a plain TCP socket.
#pragma once
#include <asio/ip/tcp.hpp>

#include "net/conn.hpp"

namespace anytls::net {

class TcpConn final : public Conn {
 public:
  explicit TcpConn(asio::ip::tcp::socket socket) : socket_(std::move(socket)) {}
  ~TcpConn() override { close(); }

  asio::awaitable<ReadResult> read_some(asio::mutable_buffer buf) override;
  // Tries recv(2) first and waits (holding no lease) only when it would block.
  asio::awaitable<ReadResult> read_leased(Lease& lease) override;
  asio::awaitable<std::error_code> wait_readable() override;
  asio::awaitable<std::error_code> write(asio::const_buffer buf) override;
  void shutdown_write() override;
  void close() override;

  asio::ip::tcp::socket& socket() { return socket_; }

 private:
  asio::ip::tcp::socket socket_;
};

}  // namespace anytls::net
