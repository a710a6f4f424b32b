#include "net/tcp_conn.hpp"

#include <cerrno>

#include <sys/socket.h>

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

asio::awaitable<ReadResult> TcpConn::read_leased(Lease& lease) {
  for (;;) {
    if (!socket_.is_open()) co_return ReadResult{asio::error::bad_descriptor, 0};
    lease.acquire();
    // A read first, never a wait first: epoll is edge-triggered, so bytes
    // that were already there when the wait starts would not wake it.
    ssize_t n = ::recv(socket_.native_handle(), lease.data(), lease.size(), MSG_DONTWAIT);
    if (n > 0) co_return ReadResult{{}, static_cast<std::size_t>(n)};
    if (n == 0) co_return ReadResult{asio::error::eof, 0};
    if (errno == EINTR) continue;
    if (errno != EAGAIN && errno != EWOULDBLOCK) co_return ReadResult{std::error_code(errno, asio::error::get_system_category()), 0};
    lease.reset();  // quiet: wait holding nothing
    auto [ec] = co_await socket_.async_wait(asio::ip::tcp::socket::wait_read, use_tuple);
    if (ec) co_return ReadResult{ec, 0};
  }
}

asio::awaitable<std::error_code> TcpConn::wait_readable() {
  // Only after a read found nothing (see read_leased); a peek keeps the
  // rule for callers that did not read first.
  char probe;
  ssize_t n = ::recv(socket_.native_handle(), &probe, 1, MSG_DONTWAIT | MSG_PEEK);
  if (n >= 0 || (errno != EAGAIN && errno != EWOULDBLOCK)) co_return std::error_code{};
  auto [ec] = co_await socket_.async_wait(asio::ip::tcp::socket::wait_read, use_tuple);
  co_return ec;
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
