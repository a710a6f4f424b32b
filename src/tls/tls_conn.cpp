#include "tls/tls_conn.hpp"

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstring>

#include <sys/socket.h>

#include <asio/experimental/as_tuple.hpp>
#include <asio/use_awaitable.hpp>
#include <openssl/err.h>

#include "net/heap_trim.hpp"
#include "tls/verify_time.hpp"

namespace anytls::tls {

namespace {

constexpr auto use_tuple = asio::experimental::as_tuple(asio::use_awaitable);
constexpr std::size_t kDataReadBuffer = 4 * (16 * 1024 + 256);

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

bool would_block() { return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR; }

// A socket BIO. It sends with MSG_NOSIGNAL: a peer that vanished must give
// us EPIPE, not kill the process with SIGPIPE (OpenSSL's own socket BIO uses
// write(2)). And it queues records in the connection's outbox while a
// write() is under way, or while earlier records still wait there (order).
int nosig_write(BIO* b, const char* data, int len) {
  auto* o = static_cast<TlsConn::Outbox*>(BIO_get_data(b));
  BIO_clear_retry_flags(b);
  auto n = static_cast<std::size_t>(len);
  if (o->corked || o->len > 0) {
    if (o->len + n > net::Lease::kSize && !o->send_all()) {
      if (would_block()) BIO_set_retry_write(b);
      return -1;
    }
    if (o->len + n <= net::Lease::kSize) {
      o->buf.acquire();
      std::memcpy(o->buf.data() + o->len, data, n);
      o->len += n;
      return len;
    }
    // Larger than the whole outbox (OpenSSL never writes that much at
    // once): the outbox is empty now, so it may go straight out.
  }
  ssize_t sent = ::send(o->fd, data, n, MSG_NOSIGNAL);
  if (sent < 0 && would_block()) BIO_set_retry_write(b);
  return static_cast<int>(sent);
}

int nosig_read(BIO* b, char* data, int len) {
  auto* o = static_cast<TlsConn::Outbox*>(BIO_get_data(b));
  BIO_clear_retry_flags(b);
  ssize_t n = ::recv(o->fd, data, static_cast<std::size_t>(len), 0);
  if (n < 0 && would_block()) BIO_set_retry_read(b);
  return static_cast<int>(n);
}

long nosig_ctrl(BIO* b, int cmd, long, void* ptr) {
  auto* o = static_cast<TlsConn::Outbox*>(BIO_get_data(b));
  if (cmd == BIO_CTRL_FLUSH) {
    BIO_clear_retry_flags(b);
    if (o->send_all()) return 1;
    if (would_block()) BIO_set_retry_write(b);
    return 0;
  }
  if (cmd == BIO_C_GET_FD) {
    if (ptr) *static_cast<int*>(ptr) = o->fd;
    return o->fd;
  }
  return 0;
}

int nosig_create(BIO* b) {
  BIO_set_init(b, 1);
  return 1;
}

const BIO_METHOD* nosig_method() {
  static BIO_METHOD* m = [] {
    BIO_METHOD* bm = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "anytls socket");
    BIO_meth_set_write(bm, nosig_write);
    BIO_meth_set_read(bm, nosig_read);
    BIO_meth_set_ctrl(bm, nosig_ctrl);
    BIO_meth_set_create(bm, nosig_create);
    return bm;
  }();
  return m;
}

}  // namespace

bool TlsConn::Outbox::send_all() {
  std::size_t off = 0;
  while (off < len) {
    ssize_t n = ::send(fd, buf.data() + off, len - off, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (off > 0) {
        std::memmove(buf.data(), buf.data() + off, len - off);
        len -= off;
      }
      return false;
    }
    off += static_cast<std::size_t>(n);
  }
  len = 0;
  if (!corked) buf.reset();
  return true;
}

const std::error_category& tls_category() {
  static const TlsCategory cat;
  return cat;
}

TlsConn::TlsConn(asio::ip::tcp::socket socket, SSL_CTX* ctx, Role role)
    : socket_(std::move(socket)), ssl_(SSL_new(ctx)) {
  std::error_code ec;
  socket_.non_blocking(true, ec);
  outbox_.fd = socket_.native_handle();
  if (ssl_) {
    BIO* bio = BIO_new(nosig_method());
    BIO_set_data(bio, &outbox_);
    SSL_set_bio(ssl_.get(), bio, bio);
    apply_verify_time(ssl_.get());
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
      // A peer that closed without close_notify: an ordinary end here.
      if (ERR_GET_REASON(e) == SSL_R_UNEXPECTED_EOF_WHILE_READING) co_return asio::error::eof;
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
    if (r == 1) {
      // From now on read up to four full records per read(2). Not during
      // the handshake: a burst of a thousand handshakes would hold a
      // thousand such buffers at once. The buffer is held only while
      // bytes arrive (freed whenever the connection waits for the socket),
      // and the next one allocated gets this size.
      SSL_set_default_read_buffer_len(ssl_.get(), kDataReadBuffer);
      net::HeapTrim::note_handshake();
      co_return std::error_code{};
    }
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

asio::awaitable<net::ReadResult> TlsConn::read_leased(net::Lease& lease) {
  for (;;) {
    if (closed_) co_return net::ReadResult{asio::error::operation_aborted, 0};
    lease.acquire();
    ERR_clear_error();
    errno = 0;
    int n = SSL_read(ssl_.get(), lease.data(), static_cast<int>(lease.size()));
    if (n > 0) co_return net::ReadResult{{}, static_cast<std::size_t>(n)};
    if (SSL_get_error(ssl_.get(), n) == SSL_ERROR_WANT_READ) {
      // Nothing buffered: wait holding nothing (as wait_readable does).
      lease.reset();
      SSL_free_buffers(ssl_.get());
      auto [ec] = co_await socket_.async_wait(asio::ip::tcp::socket::wait_read, use_tuple);
      if (ec) co_return net::ReadResult{ec, 0};
      continue;
    }
    auto ec = co_await await_ssl(n);
    if (ec) co_return net::ReadResult{ec, 0};
  }
}

asio::awaitable<std::error_code> TlsConn::wait_readable() {
  for (;;) {
    if (closed_) co_return asio::error::operation_aborted;
    // SSL_peek processes whatever arrived without taking application data:
    // records without any (session tickets, key updates) are consumed here.
    ERR_clear_error();
    errno = 0;
    unsigned char probe;
    int n = SSL_peek(ssl_.get(), &probe, 1);
    if (n > 0) co_return std::error_code{};
    int err = SSL_get_error(ssl_.get(), n);
    if (err == SSL_ERROR_WANT_READ) {
      SSL_free_buffers(ssl_.get());  // nothing buffered: wait holding nothing
      auto [ec] = co_await socket_.async_wait(asio::ip::tcp::socket::wait_read, use_tuple);
      if (ec) co_return ec;
      continue;
    }
    if (err == SSL_ERROR_WANT_WRITE) {
      if (auto ec = co_await await_ssl(n)) co_return ec;
      continue;
    }
    // An end or an error: report it now, while OpenSSL still knows which.
    auto ec = co_await await_ssl(n);
    co_return ec ? ec : asio::error::connection_aborted;
  }
}

void TlsConn::release_buffers() {
  if (!closed_ && ssl_) SSL_free_buffers(ssl_.get());
}

asio::awaitable<std::error_code> TlsConn::flush_outbox() {
  while (!outbox_.send_all()) {
    if (!would_block()) co_return std::error_code(errno, std::generic_category());
    auto [ec] = co_await socket_.async_wait(asio::ip::tcp::socket::wait_write, use_tuple);
    if (ec) co_return ec;
    if (closed_) co_return asio::error::operation_aborted;
  }
  co_return std::error_code{};
}

namespace {

// Records of one write() or write_pieces() call collect in the outbox;
// uncorked however the call ends (an error, or the coroutine destroyed).
struct Cork {
  TlsConn::Outbox& o;
  explicit Cork(TlsConn::Outbox& box) : o(box) { o.corked = true; }
  ~Cork() {
    o.corked = false;
    if (o.len == 0) o.buf.reset();
  }
  Cork(const Cork&) = delete;
  Cork& operator=(const Cork&) = delete;
};

}  // namespace

int TlsConn::ssl_write_some(const unsigned char*& p, std::size_t& left) {
  while (left > 0) {
    int len = left > INT_MAX ? INT_MAX : static_cast<int>(left);
    ERR_clear_error();
    errno = 0;
    int n = SSL_write(ssl_.get(), p, len);
    if (n <= 0) return n;
    p += n;
    left -= static_cast<std::size_t>(n);
  }
  return 1;
}

asio::awaitable<std::error_code> TlsConn::ssl_write_rest(const unsigned char* p, std::size_t left, int n) {
  for (;;) {
    auto ec = co_await await_ssl(n);
    if (ec) co_return ec;
    if (closed_) co_return asio::error::operation_aborted;
    // Retried with the same arguments, as OpenSSL asks.
    n = ssl_write_some(p, left);
    if (n > 0) co_return std::error_code{};
  }
}

asio::awaitable<std::error_code> TlsConn::write(asio::const_buffer buf) {
  Cork cork(outbox_);
  if (closed_) co_return asio::error::operation_aborted;
  const auto* p = static_cast<const unsigned char*>(buf.data());
  std::size_t left = buf.size();
  const int n = ssl_write_some(p, left);
  if (n <= 0) {
    auto ec = co_await ssl_write_rest(p, left, n);
    if (ec) co_return ec;
  }
  if (closed_) co_return asio::error::operation_aborted;
  co_return co_await flush_outbox();
}

asio::awaitable<std::error_code> TlsConn::write_pieces(std::uint8_t* data, std::size_t n, std::size_t piece,
                                                       std::size_t header, PieceHeader fill, void* ctx) {
  Cork cork(outbox_);
  for (std::size_t off = 0; off < n;) {
    const std::size_t len = std::min(piece, n - off);
    // The header overwrites the end of the piece before: SSL_write has
    // taken that one whole (a want-write retry only re-sends a record
    // already sealed), so its bytes are no longer read.
    fill(ctx, data + off - header, len);
    const unsigned char* rec = data + off - header;
    if (closed_) co_return asio::error::operation_aborted;
    std::size_t left = header + len;
    // Usually taken at once; a coroutine (a frame) only when OpenSSL must wait.
    const int r = ssl_write_some(rec, left);
    if (r <= 0) {
      auto ec = co_await ssl_write_rest(rec, left, r);
      if (ec) co_return ec;
    }
    off += len;
  }
  if (closed_) co_return asio::error::operation_aborted;
  co_return co_await flush_outbox();
}

void TlsConn::shutdown_write() {
  if (closed_ || !ssl_) return;
  // Best effort close_notify; never blocks.
  ERR_clear_error();
  SSL_shutdown(ssl_.get());
  outbox_.send_all();  // close_notify queues behind records still waiting
  std::error_code ec;
  socket_.shutdown(asio::ip::tcp::socket::shutdown_send, ec);
}

net::WireBytes TlsConn::wire_bytes() const {
  if (!ssl_) return {};
  BIO* r = SSL_get_rbio(ssl_.get());
  BIO* w = SSL_get_wbio(ssl_.get());
  return {r ? BIO_number_read(r) : 0, w ? BIO_number_written(w) : 0};
}

void TlsConn::close() {
  if (closed_) return;
  closed_ = true;
  std::error_code ec;
  socket_.close(ec);
}

}  // namespace anytls::tls
