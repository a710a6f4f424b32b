#include "tls/tls_conn.hpp"

#include <climits>

#include <asio/experimental/as_tuple.hpp>
#include <asio/use_awaitable.hpp>
#include <openssl/err.h>

namespace anytls::tls {

namespace {

constexpr auto use_tuple = asio::experimental::as_tuple(asio::use_awaitable);

class TlsCategory final : public std::error_category {
 public:
  const char* name() const noexcept override { return "tls"; }
  std::string message(int ev) const override {
    char buf[256];
    ERR_error_string_n(static_cast<unsigned long>(ev), buf, sizeof buf);
    // "error:0A000086:SSL routines::certificate verify failed" -> the reason.
    std::string s(buf);
    auto pos = s.rfind(':');
    return pos == std::string::npos ? s : s.substr(pos + 1);
  }
};

}  // namespace

const std::error_category& tls_category() {
  static const TlsCategory cat;
  return cat;
}

TlsConn::TlsConn(asio::ip::tcp::socket socket, SSL_CTX* ctx, Role role)
    : socket_(std::move(socket)), ssl_(SSL_new(ctx)) {
  std::error_code ec;
  socket_.non_blocking(true, ec);
  if (ssl_) {
    SSL_set_fd(ssl_.get(), static_cast<int>(socket_.native_handle()));
    if (role == Role::client)
      SSL_set_connect_state(ssl_.get());
    else
      SSL_set_accept_state(ssl_.get());
  }
}

TlsConn::~TlsConn() { close(); }

void TlsConn::set_server_name(const std::string& name) {
  if (!name.empty() && ssl_) SSL_set_tlsext_host_name(ssl_.get(), name.c_str());
}

asio::awaitable<std::error_code> TlsConn::await_ssl(int ret) {
  int err = SSL_get_error(ssl_.get(), ret);
  switch (err) {
    case SSL_ERROR_WANT_READ: {
      auto [ec] = co_await socket_.async_wait(asio::ip::tcp::socket::wait_read, use_tuple);
      co_return ec;
    }
    case SSL_ERROR_WANT_WRITE: {
      auto [ec] = co_await socket_.async_wait(asio::ip::tcp::socket::wait_write, use_tuple);
      co_return ec;
    }
    case SSL_ERROR_ZERO_RETURN:
      co_return asio::error::eof;
    case SSL_ERROR_SYSCALL: {
      unsigned long e = ERR_get_error();
      if (e != 0) co_return std::error_code(static_cast<int>(e), tls_category());
      if (errno != 0 && errno != EAGAIN) co_return std::error_code(errno, std::generic_category());
      co_return asio::error::eof;  // peer closed without close_notify
    }
    default: {
      unsigned long e = ERR_peek_last_error();
      ERR_clear_error();
      if (e == 0) co_return asio::error::connection_aborted;
      co_return std::error_code(static_cast<int>(e), tls_category());
    }
  }
}

asio::awaitable<std::error_code> TlsConn::handshake() {
  if (!ssl_) co_return asio::error::no_memory;
  for (;;) {
    if (closed_) co_return asio::error::operation_aborted;
    ERR_clear_error();
    errno = 0;
    int r = SSL_do_handshake(ssl_.get());
    if (r == 1) co_return std::error_code{};
    long verify = SSL_get_verify_result(ssl_.get());
    auto ec = co_await await_ssl(r);
    if (ec) {
      if (verify != X509_V_OK)
        last_error_ = std::string("certificate verify failed: ") + X509_verify_cert_error_string(verify);
      else
        last_error_ = ec.message();
      co_return ec;
    }
  }
}

asio::awaitable<net::ReadResult> TlsConn::read_some(asio::mutable_buffer buf) {
  if (buf.size() == 0) co_return net::ReadResult{{}, 0};
  int len = buf.size() > INT_MAX ? INT_MAX : static_cast<int>(buf.size());
  for (;;) {
    if (closed_) co_return net::ReadResult{asio::error::operation_aborted, 0};
    ERR_clear_error();
    errno = 0;
    int n = SSL_read(ssl_.get(), buf.data(), len);
    if (n > 0) co_return net::ReadResult{{}, static_cast<std::size_t>(n)};
    auto ec = co_await await_ssl(n);
    if (ec) co_return net::ReadResult{ec, 0};
  }
}

asio::awaitable<std::error_code> TlsConn::wait_readable() {
  if (closed_) co_return asio::error::operation_aborted;
  if (SSL_has_pending(ssl_.get())) co_return std::error_code{};
  auto [ec] = co_await socket_.async_wait(asio::ip::tcp::socket::wait_read, use_tuple);
  co_return ec;
}

asio::awaitable<std::error_code> TlsConn::write(asio::const_buffer buf) {
  const auto* p = static_cast<const unsigned char*>(buf.data());
  std::size_t left = buf.size();
  while (left > 0) {
    if (closed_) co_return asio::error::operation_aborted;
    int len = left > INT_MAX ? INT_MAX : static_cast<int>(left);
    ERR_clear_error();
    errno = 0;
    // Retried with the same arguments after a want-write, as OpenSSL asks.
    int n = SSL_write(ssl_.get(), p, len);
    if (n > 0) {
      p += n;
      left -= static_cast<std::size_t>(n);
      continue;
    }
    auto ec = co_await await_ssl(n);
    if (ec) co_return ec;
  }
  co_return std::error_code{};
}

void TlsConn::shutdown_write() {
  if (closed_ || !ssl_) return;
  // Best effort close_notify; never blocks.
  ERR_clear_error();
  SSL_shutdown(ssl_.get());
  std::error_code ec;
  socket_.shutdown(asio::ip::tcp::socket::shutdown_send, ec);
}

void TlsConn::close() {
  if (closed_) return;
  closed_ = true;
  std::error_code ec;
  socket_.close(ec);
}

}  // namespace anytls::tls
