// OpenSSL contexts built from the TLS options of an inbound (server) or an
// outbound (client).
#pragma once
#include <mutex>
#include <chrono>
#include <filesystem>
#include <memory>
#include <string>

#include <openssl/ssl.h>

#include "config/options.hpp"
#include "net/result.hpp"

namespace anytls::tls {

class UtlsContext;

struct SslCtxDeleter {
  void operator()(SSL_CTX* c) const { SSL_CTX_free(c); }
};
using SslCtxPtr = std::shared_ptr<SSL_CTX>;

// Server side. Certificate and key come from inline PEM or files; files are
// re-read when their modification time changes (checked at most once a
// second, on new connections), so a renewed certificate needs no restart. A
// reload that fails keeps the previous context and logs a warning.
class ServerContext {
 public:
  static net::Result<std::shared_ptr<ServerContext>> create(const config::InboundTlsOptions& opts);
  // The live context built from equal options if there is one, else a new
  // one (the shards of an inbound share it; any thread).
  static net::Result<std::shared_ptr<ServerContext>> shared(const config::InboundTlsOptions& opts);
  // The context for a new connection (reloads changed certificate files;
  // any thread).
  SslCtxPtr current();

 private:
  explicit ServerContext(config::InboundTlsOptions opts) : opts_(std::move(opts)) {}
  net::Result<SslCtxPtr> build();
  std::filesystem::file_time_type stamp() const;

  config::InboundTlsOptions opts_;
  std::mutex mu_;  // ctx_, stamp_, last_check_
  SslCtxPtr ctx_;
  std::filesystem::file_time_type stamp_{};
  std::chrono::steady_clock::time_point last_check_{};
};

// Client side: verification (CA, insecure, public key pins), SNI, ALPN,
// versions, ciphers, curves, client certificate, and TLS session resumption
// so that pool refills skip the full handshake.
class ClientContext {
 public:
  // server: the outbound's server address, used for SNI and verification
  // unless tls.server_name is set.
  static net::Result<std::shared_ptr<ClientContext>> create(const config::OutboundTlsOptions& opts,
                                                            const std::string& server);
  SSL_CTX* native() { return ctx_.get(); }
  // Per connection: SNI, host name check, resumption session.
  void prepare(SSL* ssl);
  // After the handshake: the public key pins, when configured. Returns the
  // error text, empty when fine.
  std::string check_peer(SSL* ssl) const;

  // tls.utls: the Chrome ClientHello context (BoringSSL module), or null
  // for OpenSSL's own hello.
  const std::shared_ptr<UtlsContext>& utls() const { return utls_; }
  // The SNI to send, empty for none (disabled, or an IP literal).
  std::string sni() const { return send_sni_ ? server_name_ : std::string(); }
  // This client's certificate check applied to a chain in DER, leaf first
  // (what the utls connection hands over): the pins when configured,
  // otherwise the CA store and the server name unless insecure. Returns the
  // error text, empty when fine.
  std::string verify_der_chain(const unsigned char* const* certs, const std::size_t* lens, std::size_t n) const;

 private:
  static int on_new_session(SSL* ssl, SSL_SESSION* sess);

  SslCtxPtr ctx_;
  std::string server_name_;  // SNI and verification name; empty = none
  bool send_sni_ = true;
  bool verify_ = true;
  std::vector<std::string> pins_;  // base64 sha256 of SubjectPublicKeyInfo
  std::mutex session_mu_;  // session_: handshakes on every worker
  std::shared_ptr<SSL_SESSION> session_;
  std::shared_ptr<UtlsContext> utls_;
};

// base64(sha256(DER SubjectPublicKeyInfo)) of a certificate, the form of
// certificate_public_key_sha256.
std::string public_key_sha256_base64(X509* cert);

}  // namespace anytls::tls
