#include "tls/conn_tls.hpp"

#include <climits>

#include <asio/error.hpp>
#include <asio/experimental/awaitable_operators.hpp>
#include <openssl/err.h>

#include "net/coro.hpp"
#include "tls/context.hpp"
#include "tls/verify_time.hpp"

namespace anytls::tls {

namespace {
constexpr std::size_t kChunk = 16 * 1024 + 512;  // one TLS record and its overhead
}

ConnTls::ConnTls(std::unique_ptr<net::Conn> inner, std::shared_ptr<ClientContext> ctx)
    : ctx_(std::move(ctx)), inner_(std::move(inner)), ssl_(SSL_new(ctx_->native())) {
  if (!ssl_) return;
  in_ = BIO_new(BIO_s_mem());
  out_ = BIO_new(BIO_s_mem());
  // An empty input BIO means "wait for more", not end of stream.
  BIO_set_mem_eof_return(in_, -1);
  SSL_set_bio(ssl_.get(), in_, out_);
  apply_verify_time(ssl_.get());
  SSL_set_connect_state(ssl_.get());
}

ConnTls::~ConnTls() { close(); }

std::error_code ConnTls::ssl_error(int ret) {
  int err = SSL_get_error(ssl_.get(), ret);
  if (err == SSL_ERROR_ZERO_RETURN) return asio::error::eof;
  unsigned long e = ERR_peek_last_error();
  ERR_clear_error();
  if (e == 0) return asio::error::connection_aborted;
  if (ERR_GET_REASON(e) == SSL_R_UNEXPECTED_EOF_WHILE_READING) return asio::error::eof;
  std::error_code ec(static_cast<int>(e), tls_category());
  last_error_ = ec.message();
  if (long v = SSL_get_verify_result(ssl_.get()); v != X509_V_OK) last_error_ += ": " + std::string(X509_verify_cert_error_string(v));
  return ec;
}

asio::awaitable<std::error_code> ConnTls::flush() {
  while (BIO_ctrl_pending(out_) > 0) {
    buf_.resize(std::min<std::size_t>(BIO_ctrl_pending(out_), 64 * 1024));
    int n = BIO_read(out_, buf_.data(), static_cast<int>(buf_.size()));
    if (n <= 0) break;
    wire_.out += static_cast<std::uint64_t>(n);
    std::error_code ec = co_await inner_->write(asio::buffer(buf_.data(), static_cast<std::size_t>(n)));
    if (ec) co_return ec;
  }
  co_return std::error_code{};
}

asio::awaitable<std::error_code> ConnTls::fill() {
  std::vector<std::uint8_t> chunk(kChunk);
  auto [ec, n] = co_await inner_->read_some(asio::buffer(chunk));
  if (n > 0) {
    wire_.in += n;
    BIO_write(in_, chunk.data(), static_cast<int>(n));
    co_return std::error_code{};
  }
  co_return ec ? ec : asio::error::eof;
}

asio::awaitable<std::error_code> ConnTls::handshake() {
  if (!ssl_) co_return asio::error::no_memory;
  for (;;) {
    if (closed_) co_return asio::error::operation_aborted;
    ERR_clear_error();
    int r = SSL_do_handshake(ssl_.get());
    std::error_code fec = co_await flush();
    if (fec) co_return fec;
    if (r == 1) co_return std::error_code{};
    if (SSL_get_error(ssl_.get(), r) != SSL_ERROR_WANT_READ) co_return ssl_error(r);
    std::error_code rec = co_await fill();
    if (rec) co_return rec;
  }
}

asio::awaitable<net::ReadResult> ConnTls::read_some(asio::mutable_buffer buf) {
  for (;;) {
    if (closed_) co_return net::ReadResult{asio::error::operation_aborted, 0};
    ERR_clear_error();
    int r = SSL_read(ssl_.get(), buf.data(), static_cast<int>(std::min<std::size_t>(buf.size(), INT_MAX)));
    if (r > 0) co_return net::ReadResult{std::error_code{}, static_cast<std::size_t>(r)};
    if (SSL_get_error(ssl_.get(), r) != SSL_ERROR_WANT_READ) co_return net::ReadResult{ssl_error(r), 0};
    std::error_code ec = co_await fill();
    if (ec) co_return net::ReadResult{ec, 0};
  }
}

asio::awaitable<std::error_code> ConnTls::write(asio::const_buffer buf) {
  if (closed_) co_return asio::error::operation_aborted;
  const auto* p = static_cast<const std::uint8_t*>(buf.data());
  std::size_t left = buf.size();
  while (left > 0) {
    ERR_clear_error();
    // Memory BIOs never block: each call takes up to one record.
    int chunk = static_cast<int>(std::min<std::size_t>(left, 16 * 1024));
    int r = SSL_write(ssl_.get(), p, chunk);
    if (r <= 0) co_return ssl_error(r);
    p += r;
    left -= static_cast<std::size_t>(r);
    std::error_code ec = co_await flush();
    if (ec) co_return ec;
  }
  co_return std::error_code{};
}

void ConnTls::shutdown_write() { inner_->shutdown_write(); }

void ConnTls::close() {
  if (closed_) return;
  closed_ = true;
  if (inner_) inner_->close();
}

asio::awaitable<net::Result<std::unique_ptr<net::Conn>>> client_handshake_over(std::shared_ptr<ClientContext> ctx,
                                                                               std::unique_ptr<net::Conn> inner,
                                                                               std::string peer,
                                                                               net::Clock::duration timeout,
                                                                               net::Clock* clock) {
  using namespace asio::experimental::awaitable_operators;
  auto conn = std::make_unique<ConnTls>(std::move(inner), ctx);
  if (!conn->native()) co_return net::Error{asio::error::no_memory, "tls handshake with " + peer + ": SSL_new failed"};
  ctx->prepare(conn->native());
  auto hs = co_await (conn->handshake() || net::sleep_for(timeout, clock));
  if (hs.index() != 0) co_return net::Error{asio::error::timed_out, "tls handshake with " + peer + ": timeout"};
  std::error_code ec = std::get<0>(hs);
  if (ec) {
    std::string why = conn->last_error_text().empty() ? ec.message() : conn->last_error_text();
    co_return net::Error{ec, "tls handshake with " + peer + ": " + why};
  }
  std::string bad = ctx->check_peer(conn->native());
  if (!bad.empty()) co_return net::Error{asio::error::access_denied, "tls handshake with " + peer + ": " + bad};
  co_return std::unique_ptr<net::Conn>(std::move(conn));
}

}  // namespace anytls::tls
