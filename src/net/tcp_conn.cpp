#include "net/tcp_conn.hpp"

#include <asio/experimental/as_tuple.hpp>
#include <asio/use_awaitable.hpp>
#include <asio/write.hpp>

namespace anytls::net {

namespace {
constexpr auto use_tuple = asio::experimental::as_tuple(asio::use_awaitable);
}

asio::awaitable<ReadResult> TcpConn::read_some(asio::mutable_buffer buf) {
  auto [ec, n] = co_await socket_.async_read_some(buf, use_tuple);
  co_return ReadResult{ec, n};
}

asio::awaitable<std::error_code> TcpConn::write(asio::const_buffer buf) {
  auto [ec, n] = co_await asio::async_write(socket_, buf, use_tuple);
  (void)n;
  co_return ec;
}

void TcpConn::shutdown_write() {
  std::error_code ec;
  socket_.shutdown(asio::ip::tcp::socket::shutdown_send, ec);
}

void TcpConn::close() {
  std::error_code ec;
  socket_.close(ec);
}

}  // namespace anytls::net
