// TLS test fixture: a self-signed EC P-256 certificate generated in memory at
// test time (no key is ever written to disk), server and client SSL_CTXs, and
// a coroutine that makes a connected, handshaken pair of tls::TlsConn on
// 127.0.0.1 (port 0).
#pragma once
#include <memory>
#include <string>

#include <asio/awaitable.hpp>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "tls/tls_conn.hpp"

namespace anytls::test {

struct SslCtxDeleter {
  void operator()(SSL_CTX* c) const { SSL_CTX_free(c); }
};
using SslCtxPtr = std::unique_ptr<SSL_CTX, SslCtxDeleter>;
struct PkeyDeleter {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};
struct X509Deleter {
  void operator()(X509* x) const { X509_free(x); }
};

// Self-signed certificate for CN=localhost with SAN DNS:localhost and
// IP:127.0.0.1, valid from an hour ago for a day (or from not_before to
// not_after seconds from now). Throws on failure.
struct TestCert {
  std::unique_ptr<EVP_PKEY, PkeyDeleter> key;
  std::unique_ptr<X509, X509Deleter> cert;
  static TestCert generate(long not_before = -3600, long not_after = 24 * 3600);
  // PEM text of the certificate and of the key.
  std::string cert_pem() const;
  std::string key_pem() const;
};

enum class Verify { none, cert };

struct TlsContexts {
  TestCert cert;
  SslCtxPtr server;
  SslCtxPtr client;
  // TLS 1.3 only when tls13_only (record sizes are then plaintext + 17).
  static TlsContexts make(Verify verify = Verify::cert, bool tls13_only = true);
};

// Process-wide contexts (generating a key per test is cheap, but one is enough).
TlsContexts& shared_contexts();

struct PairOptions {
  // When non-zero, SO_SNDBUF and SO_RCVBUF of both sockets (set before the
  // connection is made, so the TCP window is small from the start).
  int socket_buffer = 0;
  std::string server_name = "localhost";
};

struct TlsPair {
  std::unique_ptr<tls::TlsConn> client;
  std::unique_ptr<tls::TlsConn> server;
};

// Connects and handshakes both ends concurrently on the current executor.
// Throws std::runtime_error on failure. (No default arguments on coroutines:
// GCC 12 destroys a defaulted class-type coroutine parameter twice.)
asio::awaitable<TlsPair> make_tls_pair(const TlsContexts& ctx, PairOptions opts);
inline asio::awaitable<TlsPair> make_tls_pair(const TlsContexts& ctx) { return make_tls_pair(ctx, PairOptions{}); }

}  // namespace anytls::test
