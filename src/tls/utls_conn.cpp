#include "tls/utls_conn.hpp"

#include <climits>
#include <cstring>

#include <asio/experimental/as_tuple.hpp>
#include <asio/use_awaitable.hpp>

#include "net/heap_trim.hpp"
#include "tls/context.hpp"
#include "tls/utls_module.hpp"

namespace anytls::tls {

namespace {

constexpr auto use_tuple = asio::experimental::as_tuple(asio::use_awaitable);

class UtlsCategory final : public std::error_category {
 public:
  const char* name() const noexcept override { return "utls"; }
  std::string message(int) const override { return "TLS failure (BoringSSL)"; }
};

std::string alpn_wire(const std::vector<std::string>& protos) {
  std::string out;
  for (const auto& p : protos) {
    if (p.empty() || p.size() > 255) continue;
    out.push_back(static_cast<char>(p.size()));
    out += p;
  }
  return out;
}

}  // namespace

const std::error_category& utls_category() {
  static const UtlsCategory cat;
  return cat;
}

// ------------------------------------------------------------------ context

net::Result<std::shared_ptr<UtlsContext>> UtlsContext::create(const std::vector<std::string>& alpn) {
  auto api = utls_module();
  if (!api) return api.error();
  std::shared_ptr<UtlsContext> u(new UtlsContext());
  u->api_ = *api;
  u->alpn_ = alpn;
  if (u->alpn_.empty()) u->alpn_ = {"h2", "http/1.1"};
  else if (u->alpn_.size() == 1 && u->alpn_[0] == "h2") u->alpn_.push_back("http/1.1");
  auto wire = alpn_wire(u->alpn_);
  anytls_utls_ctx_config cfg{reinterpret_cast<const std::uint8_t*>(wire.data()), wire.size()};
  char err[256] = {0};
  u->ctx_ = u->api_->ctx_new(&cfg, err, sizeof err);
  if (!u->ctx_) return net::Error{std::error_code(1, utls_category()), std::string("utls: ") + err};
  return u;
}

UtlsContext::~UtlsContext() {
  if (ctx_) api_->ctx_free(ctx_);
}

// ------------------------------------------------------------------ connection

UtlsConn::UtlsConn(asio::ip::tcp::socket socket, std::shared_ptr<ClientContext> ctx)
    : socket_(std::move(socket)), ctx_(std::move(ctx)) {
  std::error_code ec;
  socket_.non_blocking(true, ec);
  const auto& u = ctx_->utls();
  if (!u) {
    last_error_ = "utls is not enabled on this TLS context";
    return;
  }
  api_ = u->api();
  char err[256] = {0};
  const std::string sni = ctx_->sni();
  conn_ = api_->conn_new(u->native(), socket_.native_handle(), sni.empty() ? nullptr : sni.c_str(),
                         &UtlsConn::verify_trampoline, ctx_.get(), err, sizeof err);
  if (!conn_) last_error_ = err;
}

UtlsConn::~UtlsConn() {
  close();
  if (conn_) api_->conn_free(conn_);
}

int UtlsConn::verify_trampoline(void* arg, const std::uint8_t* const* certs, const std::size_t* lens, std::size_t n,
                                char* err, std::size_t errlen) {
  auto* ctx = static_cast<ClientContext*>(arg);
  std::string bad = ctx->verify_der_chain(certs, lens, n);
  if (bad.empty()) return 1;
  if (errlen > 0) {
    std::size_t len = std::min(bad.size(), errlen - 1);
    std::memcpy(err, bad.data(), len);
    err[len] = '\0';
  }
  return 0;
}

asio::awaitable<std::error_code> UtlsConn::await_result(int r) {
  switch (r) {
    case ANYTLS_UTLS_WANT_READ: {
      auto [ec] = co_await socket_.async_wait(asio::ip::tcp::socket::wait_read, use_tuple);
      co_return ec;
    }
    case ANYTLS_UTLS_WANT_WRITE: {
      auto [ec] = co_await socket_.async_wait(asio::ip::tcp::socket::wait_write, use_tuple);
      co_return ec;
    }
    case ANYTLS_UTLS_CLOSED:
      co_return asio::error::eof;
    default: {
      last_error_ = api_->last_error(conn_);
      int e = api_->last_errno(conn_);
      if (e != 0) co_return std::error_code(e, std::generic_category());
      co_return std::error_code(1, utls_category());
    }
  }
}

asio::awaitable<std::error_code> UtlsConn::handshake() {
  if (!conn_) co_return std::error_code(1, utls_category());
  for (;;) {
    if (closed_) co_return asio::error::operation_aborted;
    int r = api_->handshake(conn_);
    if (r == 1) {
      net::HeapTrim::note_handshake();
      co_return std::error_code{};
    }
    auto ec = co_await await_result(r);
    if (ec) {
      if (last_error_.empty()) last_error_ = ec.message();
      co_return ec;
    }
  }
}

asio::awaitable<net::ReadResult> UtlsConn::read_some(asio::mutable_buffer buf) {
  if (buf.size() == 0) co_return net::ReadResult{{}, 0};
  int len = buf.size() > INT_MAX ? INT_MAX : static_cast<int>(buf.size());
  for (;;) {
    if (closed_) co_return net::ReadResult{asio::error::operation_aborted, 0};
    int n = api_->read(conn_, buf.data(), len);
    if (n > 0) co_return net::ReadResult{{}, static_cast<std::size_t>(n)};
    auto ec = co_await await_result(n);
    if (ec) co_return net::ReadResult{ec, 0};
  }
}

asio::awaitable<std::error_code> UtlsConn::wait_readable() {
  for (;;) {
    if (closed_) co_return asio::error::operation_aborted;
    // Peeking processes records without application data (tickets, key
    // updates) so an idle reader is not woken up for them.
    unsigned char probe;
    int n = api_->peek(conn_, &probe, 1);
    if (n > 0) co_return std::error_code{};
    auto ec = co_await await_result(n);
    if (ec) co_return ec;
  }
}

asio::awaitable<std::error_code> UtlsConn::write(asio::const_buffer buf) {
  const auto* p = static_cast<const unsigned char*>(buf.data());
  std::size_t left = buf.size();
  while (left > 0) {
    if (closed_) co_return asio::error::operation_aborted;
    int len = left > INT_MAX ? INT_MAX : static_cast<int>(left);
    // Retried with the same arguments after a want-write, as BoringSSL asks.
    int n = api_->write(conn_, p, len);
    if (n > 0) {
      p += n;
      left -= static_cast<std::size_t>(n);
      continue;
    }
    auto ec = co_await await_result(n);
    if (ec) co_return ec;
  }
  co_return std::error_code{};
}

void UtlsConn::shutdown_write() {
  if (closed_ || !conn_) return;
  api_->shutdown(conn_);
  std::error_code ec;
  socket_.shutdown(asio::ip::tcp::socket::shutdown_send, ec);
}

void UtlsConn::close() {
  if (closed_) return;
  closed_ = true;
  std::error_code ec;
  socket_.close(ec);
}

bool UtlsConn::session_reused() const { return conn_ && api_->session_reused(conn_) == 1; }

std::string UtlsConn::alpn_selected() const {
  if (!conn_) return {};
  std::size_t len = 0;
  const char* p = api_->alpn_selected(conn_, &len);
  return std::string(p, len);
}

}  // namespace anytls::tls
