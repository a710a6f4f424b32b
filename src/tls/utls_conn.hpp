// tls.utls: a client TLS connection that sends Chrome's ClientHello, driven
// through the BoringSSL module (utls_module.hpp) the same way TlsConn drives
// OpenSSL: the module reads and writes the nonblocking fd, asio only waits
// for readiness. BoringSSL frees its record buffers whenever they are empty,
// so an idle connection holds none without being asked.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include <asio/ip/tcp.hpp>

#include "net/conn.hpp"
#include "net/result.hpp"
#include "tls/utls/module_api.h"

namespace anytls::tls {

class ClientContext;

// Error category for module failures; the words are in last_error_text().
const std::error_category& utls_category();

// One per outbound: Chrome's configuration, ALPN, and the newest resumable
// session (pool refills resume it, as OpenSSL's client does).
class UtlsContext {
 public:
  // alpn: as configured; empty gives Chrome's "h2,http/1.1", and a lone
  // "h2" gets "http/1.1" added (both as sing-box does).
  static net::Result<std::shared_ptr<UtlsContext>> create(const std::vector<std::string>& alpn);
  ~UtlsContext();
  UtlsContext(const UtlsContext&) = delete;
  UtlsContext& operator=(const UtlsContext&) = delete;

  const anytls_utls_api* api() const { return api_; }
  anytls_utls_ctx* native() const { return ctx_; }
  const std::vector<std::string>& alpn() const { return alpn_; }

 private:
  UtlsContext() = default;
  const anytls_utls_api* api_ = nullptr;
  anytls_utls_ctx* ctx_ = nullptr;
  std::vector<std::string> alpn_;
};

class UtlsConn final : public net::Conn {
 public:
  // ctx supplies SNI, the certificate check (CA store, host name, pins) and
  // the utls context; it is kept alive by the connection.
  UtlsConn(asio::ip::tcp::socket socket, std::shared_ptr<ClientContext> ctx);
  ~UtlsConn() override;

  asio::awaitable<std::error_code> handshake();

  // One SSL_write per call: at most 16 KiB leaves as one TLS record.
  asio::awaitable<std::error_code> write(asio::const_buffer buf) override;
  asio::awaitable<net::ReadResult> read_some(asio::mutable_buffer buf) override;
  asio::awaitable<std::error_code> wait_readable() override;
  void shutdown_write() override;
  void close() override;

  asio::ip::tcp::socket& socket() { return socket_; }
  const std::string& last_error_text() const { return last_error_; }
  bool session_reused() const;
  std::string alpn_selected() const;

 private:
  asio::awaitable<std::error_code> await_result(int r);
  static int verify_trampoline(void* arg, const std::uint8_t* const* certs, const std::size_t* lens, std::size_t n,
                               char* err, std::size_t errlen);

  asio::ip::tcp::socket socket_;
  std::shared_ptr<ClientContext> ctx_;
  const anytls_utls_api* api_ = nullptr;
  anytls_utls_conn* conn_ = nullptr;
  std::string last_error_;
  bool closed_ = false;
};

}  // namespace anytls::tls
