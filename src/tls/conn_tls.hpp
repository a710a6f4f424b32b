// A client TLS connection over another connection (net::Conn) instead of a
// socket: what an anytls outbound with `detour` runs its TLS on (the detour
// outbound's stream, e.g. another anytls tunnel). OpenSSL reads and writes
// memory BIOs; this class moves their bytes to and from the inner
// connection.
//
// Contract as net::Conn's, with the session's pattern in mind: one reader
// and one writer at a time. Output that a read produces (TLS 1.3 KeyUpdate
// answers) leaves with the next write. Handshake output and every write are
// sent before the call returns.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include <openssl/ssl.h>

#include "net/clock.hpp"
#include "net/conn.hpp"
#include "net/result.hpp"
#include "tls/tls_conn.hpp"

namespace anytls::tls {

class ClientContext;

class ConnTls final : public net::Conn {
 public:
  // Holds ctx for as long as the connection lives: its SSL points at it
  // (ex_data), and a TLS 1.3 session ticket read after the handshake is
  // stored there.
  ConnTls(std::unique_ptr<net::Conn> inner, std::shared_ptr<ClientContext> ctx);
  ~ConnTls() override;

  asio::awaitable<std::error_code> handshake();
  asio::awaitable<net::ReadResult> read_some(asio::mutable_buffer buf) override;
  asio::awaitable<std::error_code> write(asio::const_buffer buf) override;
  void shutdown_write() override;
  void close() override;
  net::WireBytes wire_bytes() const override { return wire_; }

  SSL* native() { return ssl_.get(); }
  const std::string& last_error_text() const { return last_error_; }

 private:
  // Sends what OpenSSL wrote into its output BIO.
  asio::awaitable<std::error_code> flush();
  // Reads once from the inner connection into OpenSSL's input BIO.
  asio::awaitable<std::error_code> fill();
  std::error_code ssl_error(int ret);

  std::shared_ptr<ClientContext> ctx_;  // before ssl_: freed after it
  std::unique_ptr<net::Conn> inner_;
  SslPtr ssl_;
  BIO* in_ = nullptr;   // owned by ssl_
  BIO* out_ = nullptr;  // owned by ssl_
  std::vector<std::uint8_t> buf_;
  net::WireBytes wire_;
  std::string last_error_;
  bool closed_ = false;
};

// The client handshake of `ctx` over `inner` (OpenSSL only: the Chrome
// ClientHello module needs a socket), verified and pinned like
// client_handshake()'s. The timeout runs on `clock` (null: real time).
asio::awaitable<net::Result<std::unique_ptr<net::Conn>>> client_handshake_over(std::shared_ptr<ClientContext> ctx,
                                                                               std::unique_ptr<net::Conn> inner,
                                                                               std::string peer,
                                                                               net::Clock::duration timeout,
                                                                               net::Clock* clock);

}  // namespace anytls::tls
