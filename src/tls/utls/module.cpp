// libanytls_utls.so: a TLS client that sends the ClientHello of Chrome
// 117-132, built on BoringSSL (the stack Chrome uses) from Debian's
// android-libboringssl. Compiled against /usr/include/android only; it never
// sees OpenSSL. The host reaches it through module_api.h alone.
//
// What makes the hello Chrome's is configuration, the same calls Chrome's
// net/socket code makes: GREASE, extension permutation, ECH GREASE, brotli
// certificate compression, ALPS for h2, OCSP and SCT requests, Chrome's
// cipher, group and signature-algorithm lists, TLS 1.2-1.3.
#include <errno.h>
#include <string.h>
#include <sys/socket.h>

#include <mutex>
#include <new>
#include <string>
#include <vector>

#include <brotli/decode.h>
#include <openssl/base.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pool.h>
#include <openssl/ssl.h>

#include "tls/utls/module_api.h"

#if !defined(BORINGSSL_API_VERSION)
#error "libanytls_utls must be compiled against BoringSSL (-I/usr/include/android)"
#endif

struct anytls_utls_ctx {
  SSL_CTX* ctx = nullptr;
  std::vector<uint8_t> alpn;
  bool h2 = false;  // ALPS is offered for h2, as Chrome does
  std::mutex mu;
  SSL_SESSION* session = nullptr;  // newest resumable session, owned
};

struct anytls_utls_conn {
  anytls_utls_ctx* owner = nullptr;
  SSL* ssl = nullptr;
  anytls_utls_verify_fn verify = nullptr;
  void* verify_arg = nullptr;
  std::string error;
  int sys_errno = 0;
};

namespace {

void put(char* err, size_t errlen, const std::string& s) {
  if (!err || errlen == 0) return;
  size_t n = s.size() < errlen - 1 ? s.size() : errlen - 1;
  memcpy(err, s.data(), n);
  err[n] = '\0';
}

std::string boring_error() {
  uint32_t e = ERR_get_error();
  ERR_clear_error();
  if (e == 0) return "unknown error";
  const char* reason = ERR_reason_error_string(e);
  std::string s = reason ? reason : "error";
  for (auto& c : s) c = c == '_' ? ' ' : static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
  return s;
}

int conn_index() {
  static int idx = SSL_get_ex_new_index(0, nullptr, nullptr, nullptr, nullptr);
  return idx;
}

// Socket BIO that sends with MSG_NOSIGNAL (a vanished peer gives EPIPE, not
// SIGPIPE), on the caller's fd.
int nosig_write(BIO* b, const char* data, int len) {
  int fd = static_cast<int>(reinterpret_cast<intptr_t>(BIO_get_data(b)));
  BIO_clear_retry_flags(b);
  ssize_t n = ::send(fd, data, static_cast<size_t>(len), MSG_NOSIGNAL);
  if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) BIO_set_retry_write(b);
  return static_cast<int>(n);
}

int nosig_read(BIO* b, char* data, int len) {
  int fd = static_cast<int>(reinterpret_cast<intptr_t>(BIO_get_data(b)));
  BIO_clear_retry_flags(b);
  ssize_t n = ::recv(fd, data, static_cast<size_t>(len), 0);
  if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) BIO_set_retry_read(b);
  return static_cast<int>(n);
}

long nosig_ctrl(BIO*, int cmd, long, void*) { return cmd == BIO_CTRL_FLUSH ? 1 : 0; }

int nosig_create(BIO* b) {
  BIO_set_init(b, 1);
  return 1;
}

const BIO_METHOD* nosig_method() {
  static BIO_METHOD* m = [] {
    BIO_METHOD* bm = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "anytls utls socket");
    BIO_meth_set_write(bm, nosig_write);
    BIO_meth_set_read(bm, nosig_read);
    BIO_meth_set_ctrl(bm, nosig_ctrl);
    BIO_meth_set_create(bm, nosig_create);
    return bm;
  }();
  return m;
}

// Brotli (RFC 8879 algorithm 2), the one Chrome offers.
int decompress_brotli(SSL*, CRYPTO_BUFFER** out, size_t uncompressed_len, const uint8_t* in, size_t in_len) {
  uint8_t* data = nullptr;
  CRYPTO_BUFFER* buf = CRYPTO_BUFFER_alloc(&data, uncompressed_len);
  if (!buf) return 0;
  size_t len = uncompressed_len;
  if (BrotliDecoderDecompress(in_len, in, &len, data) != BROTLI_DECODER_RESULT_SUCCESS || len != uncompressed_len) {
    CRYPTO_BUFFER_free(buf);
    return 0;
  }
  *out = buf;
  return 1;
}

int on_new_session(SSL* ssl, SSL_SESSION* sess) {
  auto* c = static_cast<anytls_utls_conn*>(SSL_get_ex_data(ssl, conn_index()));
  if (!c) return 0;
  std::lock_guard<std::mutex> lock(c->owner->mu);
  if (c->owner->session) SSL_SESSION_free(c->owner->session);
  c->owner->session = sess;
  return 1;  // we took the reference
}

enum ssl_verify_result_t verify_peer(SSL* ssl, uint8_t* out_alert) {
  auto* c = static_cast<anytls_utls_conn*>(SSL_get_ex_data(ssl, conn_index()));
  if (!c || !c->verify) return ssl_verify_ok;
  const STACK_OF(CRYPTO_BUFFER)* chain = SSL_get0_peer_certificates(ssl);
  size_t n = chain ? sk_CRYPTO_BUFFER_num(chain) : 0;
  std::vector<const uint8_t*> certs(n);
  std::vector<size_t> lens(n);
  for (size_t i = 0; i < n; ++i) {
    const CRYPTO_BUFFER* b = sk_CRYPTO_BUFFER_value(chain, i);
    certs[i] = CRYPTO_BUFFER_data(b);
    lens[i] = CRYPTO_BUFFER_len(b);
  }
  char err[512] = {0};
  if (c->verify(c->verify_arg, certs.data(), lens.data(), n, err, sizeof err) == 1) return ssl_verify_ok;
  c->error = err[0] ? err : "certificate rejected";
  *out_alert = SSL_AD_BAD_CERTIFICATE;
  return ssl_verify_invalid;
}

// HTTP/2 SETTINGS Chrome sends in ALPS: HEADER_TABLE_SIZE 65536,
// ENABLE_PUSH 0, INITIAL_WINDOW_SIZE 6291456, MAX_HEADER_LIST_SIZE 262144.
const uint8_t kChromeH2Settings[] = {0x00, 0x01, 0x00, 0x01, 0x00, 0x00, 0x00, 0x02, 0x00,
                                     0x00, 0x00, 0x00, 0x00, 0x04, 0x00, 0x60, 0x00, 0x00,
                                     0x00, 0x06, 0x00, 0x04, 0x00, 0x00};

const uint16_t kChromeSigalgs[] = {
    SSL_SIGN_ECDSA_SECP256R1_SHA256, SSL_SIGN_RSA_PSS_RSAE_SHA256, SSL_SIGN_RSA_PKCS1_SHA256,
    SSL_SIGN_ECDSA_SECP384R1_SHA384, SSL_SIGN_RSA_PSS_RSAE_SHA384, SSL_SIGN_RSA_PKCS1_SHA384,
    SSL_SIGN_RSA_PSS_RSAE_SHA512,    SSL_SIGN_RSA_PKCS1_SHA512,
};

// Chrome's TLS 1.2 suites in its order (TLS 1.3 suites are BoringSSL's fixed
// three).
const char kChromeCiphers[] =
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305:"
    "ECDHE-RSA-AES128-SHA:ECDHE-RSA-AES256-SHA:"
    "AES128-GCM-SHA256:AES256-GCM-SHA384:AES128-SHA:AES256-SHA";

const char* library() {
  static const std::string s = "BoringSSL (API " + std::to_string(BORINGSSL_API_VERSION) + ")";
  return s.c_str();
}

anytls_utls_ctx* ctx_new(const anytls_utls_ctx_config* cfg, char* err, size_t errlen) {
  auto* u = new (std::nothrow) anytls_utls_ctx;
  if (!u) return nullptr;
  SSL_CTX* ctx = SSL_CTX_new(TLS_with_buffers_method());
  u->ctx = ctx;
  bool ok = ctx && SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) &&
            SSL_CTX_set_max_proto_version(ctx, TLS1_3_VERSION) &&
            SSL_CTX_set_strict_cipher_list(ctx, kChromeCiphers) && SSL_CTX_set1_curves_list(ctx, "X25519:P-256:P-384") &&
            SSL_CTX_set_verify_algorithm_prefs(ctx, kChromeSigalgs, sizeof kChromeSigalgs / sizeof kChromeSigalgs[0]) &&
            SSL_CTX_add_cert_compression_alg(ctx, TLSEXT_cert_compression_brotli, nullptr, decompress_brotli);
  if (!ok) {
    put(err, errlen, "BoringSSL context: " + boring_error());
    if (ctx) SSL_CTX_free(ctx);
    delete u;
    return nullptr;
  }
  SSL_CTX_set_grease_enabled(ctx, 1);
  SSL_CTX_set_permute_extensions(ctx, 1);
  SSL_CTX_enable_ocsp_stapling(ctx);
  SSL_CTX_enable_signed_cert_timestamps(ctx);
  SSL_CTX_set_custom_verify(ctx, SSL_VERIFY_PEER, verify_peer);
  // As Chrome: a resumed session's certificate is checked again.
  SSL_CTX_set_reverify_on_resume(ctx, 1);
  SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
  SSL_CTX_sess_set_new_cb(ctx, on_new_session);
  if (cfg && cfg->alpn && cfg->alpn_len) {
    u->alpn.assign(cfg->alpn, cfg->alpn + cfg->alpn_len);
    for (size_t i = 0; i < cfg->alpn_len;) {
      size_t n = cfg->alpn[i];
      if (n == 2 && i + 3 <= cfg->alpn_len && memcmp(cfg->alpn + i + 1, "h2", 2) == 0) u->h2 = true;
      i += 1 + n;
    }
  }
  return u;
}

void ctx_free(anytls_utls_ctx* u) {
  if (!u) return;
  if (u->session) SSL_SESSION_free(u->session);
  SSL_CTX_free(u->ctx);
  delete u;
}

anytls_utls_conn* conn_new(anytls_utls_ctx* u, int fd, const char* sni, anytls_utls_verify_fn verify,
                           void* verify_arg, char* err, size_t errlen) {
  auto* c = new (std::nothrow) anytls_utls_conn;
  if (!c) return nullptr;
  c->owner = u;
  c->verify = verify;
  c->verify_arg = verify_arg;
  c->ssl = SSL_new(u->ctx);
  BIO* bio = c->ssl ? BIO_new(nosig_method()) : nullptr;
  bool ok = bio != nullptr;
  if (ok) {
    BIO_set_data(bio, reinterpret_cast<void*>(static_cast<intptr_t>(fd)));
    SSL_set_bio(c->ssl, bio, bio);
    SSL_set_connect_state(c->ssl);
    SSL_set_ex_data(c->ssl, conn_index(), c);
    SSL_set_enable_ech_grease(c->ssl, 1);
    SSL_set_renegotiate_mode(c->ssl, ssl_renegotiate_never);
    if (sni && *sni) ok = SSL_set_tlsext_host_name(c->ssl, sni) == 1;
  }
  if (ok && !u->alpn.empty()) ok = SSL_set_alpn_protos(c->ssl, u->alpn.data(), u->alpn.size()) == 0;
  if (ok && u->h2)
    ok = SSL_add_application_settings(c->ssl, reinterpret_cast<const uint8_t*>("h2"), 2, kChromeH2Settings,
                                      sizeof kChromeH2Settings) == 1;
  if (ok) {
    std::lock_guard<std::mutex> lock(u->mu);
    if (u->session) SSL_set_session(c->ssl, u->session);
  }
  if (!ok) {
    put(err, errlen, "BoringSSL connection: " + boring_error());
    if (c->ssl) SSL_free(c->ssl);
    delete c;
    return nullptr;
  }
  // The handshake configuration is dropped once done (Chrome does this too):
  // less memory per pooled connection.
  SSL_set_shed_handshake_config(c->ssl, 1);
  return c;
}

void conn_free(anytls_utls_conn* c) {
  if (!c) return;
  SSL_free(c->ssl);
  delete c;
}

// SSL_get_error -> our result codes, keeping the reason.
int result(anytls_utls_conn* c, int ret) {
  int e = SSL_get_error(c->ssl, ret);
  switch (e) {
    case SSL_ERROR_WANT_READ:
      return ANYTLS_UTLS_WANT_READ;
    case SSL_ERROR_WANT_WRITE:
      return ANYTLS_UTLS_WANT_WRITE;
    case SSL_ERROR_ZERO_RETURN:
      return ANYTLS_UTLS_CLOSED;
    case SSL_ERROR_SYSCALL: {
      int saved = errno;
      if (ERR_peek_error() != 0) {
        c->error = boring_error();
        c->sys_errno = 0;
        return ANYTLS_UTLS_ERROR;
      }
      if (ret == 0 || saved == 0) return ANYTLS_UTLS_CLOSED;  // EOF without close_notify: an ordinary end
      c->sys_errno = saved;
      c->error = strerror(saved);
      return ANYTLS_UTLS_ERROR;
    }
    default: {
      // The verify callback already said why when it refused.
      std::string why = boring_error();
      if (c->error.empty()) c->error = why;
      c->sys_errno = 0;
      return ANYTLS_UTLS_ERROR;
    }
  }
}

int conn_handshake(anytls_utls_conn* c) {
  ERR_clear_error();
  errno = 0;
  int r = SSL_do_handshake(c->ssl);
  return r == 1 ? 1 : result(c, r);
}

int conn_read(anytls_utls_conn* c, void* buf, int len) {
  ERR_clear_error();
  errno = 0;
  int r = SSL_read(c->ssl, buf, len);
  return r > 0 ? r : result(c, r);
}

int conn_peek(anytls_utls_conn* c, void* buf, int len) {
  ERR_clear_error();
  errno = 0;
  int r = SSL_peek(c->ssl, buf, len);
  return r > 0 ? r : result(c, r);
}

int conn_write(anytls_utls_conn* c, const void* buf, int len) {
  ERR_clear_error();
  errno = 0;
  int r = SSL_write(c->ssl, buf, len);
  return r > 0 ? r : result(c, r);
}

void conn_shutdown(anytls_utls_conn* c) {
  ERR_clear_error();
  SSL_shutdown(c->ssl);
  ERR_clear_error();
}

const char* last_error(const anytls_utls_conn* c) { return c->error.c_str(); }
int last_errno(const anytls_utls_conn* c) { return c->sys_errno; }
int session_reused(const anytls_utls_conn* c) { return SSL_session_reused(c->ssl); }

const char* alpn_selected(const anytls_utls_conn* c, size_t* len) {
  const uint8_t* p = nullptr;
  unsigned n = 0;
  SSL_get0_alpn_selected(c->ssl, &p, &n);
  if (len) *len = n;
  return p ? reinterpret_cast<const char*>(p) : "";
}

const anytls_utls_api kApi = {
    ANYTLS_UTLS_ABI, library,    ctx_new,   ctx_free,   conn_new,   conn_free,      conn_handshake, conn_read,
    conn_peek,       conn_write, conn_shutdown, last_error, last_errno, session_reused, alpn_selected,
};

}  // namespace

extern "C" __attribute__((visibility("default"))) const anytls_utls_api* anytls_utls_get_api(void) { return &kApi; }
