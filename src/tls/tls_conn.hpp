// A TLS connection straight over the socket's file descriptor: OpenSSL does
// the reads and writes itself and asio only waits for readiness. Compared
// with asio::ssl::stream this saves two 17 KiB buffers per connection and a
// copy per record, and with SSL_MODE_RELEASE_BUFFERS an idle connection
// holds almost nothing (what makes a large idle session pool cheap).
#pragma once
#include <memory>
#include <string>

#include <asio/ip/tcp.hpp>
#include <openssl/ssl.h>

#include "net/conn.hpp"

namespace anytls::tls {

// Error category for OpenSSL failures; messages are OpenSSL's reason strings.
const std::error_category& tls_category();

struct SslDeleter {
  void operator()(SSL* s) const { SSL_free(s); }
};
using SslPtr = std::unique_ptr<SSL, SslDeleter>;

class TlsConn final : public net::Conn {
 public:
  enum class Role { client, server };
  // ctx must outlive nothing: SSL_new takes its own reference.
  TlsConn(asio::ip::tcp::socket socket, SSL_CTX* ctx, Role role);
  ~TlsConn() override;
  TlsConn(const TlsConn&) = delete;  // the BIO points at outbox_
  TlsConn& operator=(const TlsConn&) = delete;

  // Records written but not yet sent, shared with the BIO (tls_conn.cpp).
  // While write() runs, OpenSSL's records collect here instead of going
  // out one send(2) each; the buffer is a lease held only until they are
  // sent. Records OpenSSL writes on its own (handshake, alerts, a key
  // update answered by a read) queue behind them while some are waiting.
  struct Outbox {
    int fd = -1;
    bool corked = false;
    net::Lease buf;
    std::size_t len = 0;
    // Sends what is queued; false with errno set when not all of it left.
    bool send_all();
  };

  // Sets SNI (client) before the handshake; empty = none.
  void set_server_name(const std::string& name);
  asio::awaitable<std::error_code> handshake();

  // One SSL_write per call: a buffer of at most 16 KiB leaves as exactly one
  // TLS record, which the padding writer relies on. The records of one call
  // leave together, in one send(2) per 64 KiB (see Outbox), and the call
  // returns only when they have all been handed to the kernel.
  asio::awaitable<std::error_code> write(asio::const_buffer buf) override;
  // One record per header + piece, written in place (net::Conn); the
  // records of one call leave together like write()'s.
  bool writes_pieces() const override { return true; }
  asio::awaitable<std::error_code> write_pieces(std::uint8_t* data, std::size_t n, std::size_t piece,
                                                std::size_t header, PieceHeader fill, void* ctx) override;
  asio::awaitable<net::ReadResult> read_some(asio::mutable_buffer buf) override;
  // SSL_read first; waits holding no lease and no OpenSSL record buffers.
  asio::awaitable<net::ReadResult> read_leased(net::Lease& lease) override;
  // Waits until application data can be read. TLS records that carry none
  // (session tickets, key updates) are consumed here, so an idle reader is
  // not woken up for them.
  asio::awaitable<std::error_code> wait_readable() override;
  // Gives OpenSSL's record buffers back while the connection is idle.
  void release_buffers() override;
  void shutdown_write() override;
  void close() override;
  // TLS records read and written on the socket so far (OpenSSL's BIO
  // counters; still valid after close()).
  net::WireBytes wire_bytes() const override;

  SSL* native() { return ssl_.get(); }
  asio::ip::tcp::socket& socket() { return socket_; }
  // Detailed text of the last handshake failure (e.g. certificate verify
  // failed: self-signed certificate), for error messages.
  const std::string& last_error_text() const { return last_error_; }

 private:
  // SSL_writes until [p, p + left) is all taken (into the outbox while
  // corked), advancing p and left; 1 then, else the SSL_write result that
  // stopped it (OpenSSL must wait). No coroutine: the usual case per record.
  int ssl_write_some(const unsigned char*& p, std::size_t& left);
  // The rest, after ssl_write_some() stopped with `n`: waits as asked and
  // retries with the same arguments.
  asio::awaitable<std::error_code> ssl_write_rest(const unsigned char* p, std::size_t left, int n);
  // Waits for what SSL_get_error asked for; returns an error for anything
  // that is not a want-read/want-write.
  asio::awaitable<std::error_code> await_ssl(int ret);
  // Sends the outbox, waiting for room as needed.
  asio::awaitable<std::error_code> flush_outbox();

  asio::ip::tcp::socket socket_;
  Outbox outbox_;
  SslPtr ssl_;
  std::string last_error_;
  bool closed_ = false;
};

}  // namespace anytls::tls
