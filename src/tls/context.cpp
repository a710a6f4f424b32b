#include "tls/context.hpp"

#include <algorithm>
#include <fstream>
#include <mutex>
#include <sstream>
#include <vector>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <spdlog/spdlog.h>

#include "tls/utls_conn.hpp"
#include "tls/verify_time.hpp"

namespace anytls::tls {

namespace {

using Error = net::Error;

std::string ssl_error_text() {
  unsigned long e = ERR_get_error();
  ERR_clear_error();
  if (e == 0) return "unknown error";
  char buf[256];
  ERR_error_string_n(e, buf, sizeof buf);
  return buf;
}

Error fail(const std::string& what) { return Error{std::make_error_code(std::errc::invalid_argument), what}; }

// The client's TLS 1.3 offer in Chrome's and Go's order: AES-128-GCM first
// (OpenSSL's default puts AES-256-GCM first). A TLS 1.3 server takes the
// client's preference, so this is also what a session runs on: the cipher
// a browser would get, and the cheaper one per record.
constexpr const char* kClientTls13Suites = "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256";

bool is_tls13_suite(const std::string& name) {
  return name.rfind("TLS_AES_", 0) == 0 || name.rfind("TLS_CHACHA20_", 0) == 0;
}

bool names_tls13_suite(const std::vector<std::string>& ciphers) {
  return std::any_of(ciphers.begin(), ciphers.end(), is_tls13_suite);
}

std::optional<std::string> read_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) return std::nullopt;
  std::ostringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

int version_of(const std::string& v) {
  if (v == "1.0") return TLS1_VERSION;
  if (v == "1.1") return TLS1_1_VERSION;
  if (v == "1.2") return TLS1_2_VERSION;
  if (v == "1.3") return TLS1_3_VERSION;
  return 0;
}

// Common settings of both sides: versions, cipher suites (Go/IANA names),
// buffers.
std::optional<Error> apply_common(SSL_CTX* ctx, const std::string& min_v, const std::string& max_v,
                                  const std::vector<std::string>& ciphers) {
  // Buffers stay while a connection is busy (SSL_MODE_RELEASE_BUFFERS would
  // allocate and free them on every SSL_write); an idle session gives them
  // back with TlsConn::release_buffers(). Read-ahead takes several records
  // per read(2) instead of a header and a body read for each (TlsConn
  // enlarges the buffer once the handshake is done).
  SSL_CTX_set_read_ahead(ctx, 1);
  // A peer closing without close_notify is an ordinary end of stream.
  SSL_CTX_set_options(ctx, SSL_OP_IGNORE_UNEXPECTED_EOF);
  SSL_CTX_set_min_proto_version(ctx, min_v.empty() ? TLS1_2_VERSION : version_of(min_v));
  if (!max_v.empty()) SSL_CTX_set_max_proto_version(ctx, version_of(max_v));
  if (!ciphers.empty()) {
    // Names are the IANA ones Go uses; TLS 1.3 suites go to the ciphersuites
    // list, the others are mapped to OpenSSL's names.
    std::string tls13, tls12;
    STACK_OF(SSL_CIPHER)* all = SSL_CTX_get_ciphers(ctx);
    for (const auto& name : ciphers) {
      if (is_tls13_suite(name)) {
        tls13 += (tls13.empty() ? "" : ":") + name;
        continue;
      }
      bool found = false;
      for (int i = 0; all && i < sk_SSL_CIPHER_num(all); ++i) {
        const SSL_CIPHER* c = sk_SSL_CIPHER_value(all, i);
        const char* std_name = SSL_CIPHER_standard_name(c);
        if (std_name && name == std_name) {
          tls12 += (tls12.empty() ? "" : ":") + std::string(SSL_CIPHER_get_name(c));
          found = true;
          break;
        }
      }
      if (!found) return fail("unknown or unsupported cipher suite: " + name);
    }
    if (!tls12.empty() && SSL_CTX_set_cipher_list(ctx, tls12.c_str()) != 1)
      return fail("cipher_suites: " + ssl_error_text());
    if (!tls13.empty() && SSL_CTX_set_ciphersuites(ctx, tls13.c_str()) != 1)
      return fail("cipher_suites: " + ssl_error_text());
  }
  return std::nullopt;
}

std::string alpn_wire(const std::vector<std::string>& protos) {
  std::string out;
  for (const auto& p : protos) {
    if (p.empty() || p.size() > 255) continue;
    out.push_back(static_cast<char>(p.size()));
    out += p;
  }
  return out;
}

// OpenSSL fills a certificate's extension cache (key ids, flags) on first
// use, in whichever thread verifies or signs with it first, and reads it
// later without a lock that ThreadSanitizer sees. Handshakes run on every
// worker, so every shared certificate gets its cache filled here, while the
// context is still built on one thread.
void settle(X509* cert) { (void)X509_check_purpose(cert, -1, 0); }

void settle_store(X509_STORE* store) {
  STACK_OF(X509_OBJECT)* objects = X509_STORE_get0_objects(store);
  for (int i = 0; i < sk_X509_OBJECT_num(objects); ++i)
    if (X509* cert = X509_OBJECT_get0_X509(sk_X509_OBJECT_value(objects, i))) settle(cert);
}

void settle_chain(SSL_CTX* ctx) {
  if (X509* leaf = SSL_CTX_get0_certificate(ctx)) settle(leaf);
  STACK_OF(X509)* chain = nullptr;
  if (SSL_CTX_get0_chain_certs(ctx, &chain) == 1)
    for (int i = 0; i < sk_X509_num(chain); ++i) settle(sk_X509_value(chain, i));
}

// Certificate chain + key from PEM text.
std::optional<Error> use_pem(SSL_CTX* ctx, const std::string& cert_pem, const std::string& key_pem,
                             const std::string& what) {
  std::unique_ptr<BIO, decltype(&BIO_free)> cb(BIO_new_mem_buf(cert_pem.data(), static_cast<int>(cert_pem.size())),
                                               BIO_free);
  X509* leaf = PEM_read_bio_X509(cb.get(), nullptr, nullptr, nullptr);
  if (!leaf) return fail(what + "certificate: no PEM certificate found");
  int ok = SSL_CTX_use_certificate(ctx, leaf);
  X509_free(leaf);
  if (ok != 1) return fail(what + "certificate: " + ssl_error_text());
  while (X509* extra = PEM_read_bio_X509(cb.get(), nullptr, nullptr, nullptr)) {
    if (SSL_CTX_add0_chain_cert(ctx, extra) != 1) {
      X509_free(extra);
      return fail(what + "certificate chain: " + ssl_error_text());
    }
  }
  ERR_clear_error();
  std::unique_ptr<BIO, decltype(&BIO_free)> kb(BIO_new_mem_buf(key_pem.data(), static_cast<int>(key_pem.size())),
                                               BIO_free);
  EVP_PKEY* key = PEM_read_bio_PrivateKey(kb.get(), nullptr, nullptr, nullptr);
  if (!key) return fail(what + "key: no PEM private key found");
  ok = SSL_CTX_use_PrivateKey(ctx, key);
  EVP_PKEY_free(key);
  if (ok != 1) return fail(what + "key: " + ssl_error_text());
  if (SSL_CTX_check_private_key(ctx) != 1) return fail(what + "key does not match the certificate");
  settle_chain(ctx);
  return std::nullopt;
}

int select_alpn(SSL*, const unsigned char** out, unsigned char* outlen, const unsigned char* in, unsigned int inlen,
                void* arg) {
  auto* ours = static_cast<std::string*>(arg);
  unsigned char* sel = nullptr;
  if (SSL_select_next_proto(&sel, outlen, reinterpret_cast<const unsigned char*>(ours->data()),
                            static_cast<unsigned>(ours->size()), in, inlen) == OPENSSL_NPN_NEGOTIATED) {
    *out = sel;
    return SSL_TLSEXT_ERR_OK;
  }
  return SSL_TLSEXT_ERR_NOACK;
}

}  // namespace

// ------------------------------------------------------------------ server

net::Result<std::shared_ptr<ServerContext>> ServerContext::create(const config::InboundTlsOptions& opts) {
  std::shared_ptr<ServerContext> sc(new ServerContext(opts));
  auto ctx = sc->build();
  if (!ctx) return ctx.error();
  sc->ctx_ = *ctx;
  sc->stamp_ = sc->stamp();
  sc->last_check_ = std::chrono::steady_clock::now();
  return sc;
}

net::Result<std::shared_ptr<ServerContext>> ServerContext::shared(const config::InboundTlsOptions& opts) {
  // The shards of one inbound (one per worker) ask with equal options: one
  // SSL_CTX for all, so a client resumes its TLS session whichever shard
  // accepts it (the ticket keys are the context's).
  static std::mutex mu;
  static std::vector<std::pair<config::InboundTlsOptions, std::weak_ptr<ServerContext>>> live;
  std::lock_guard lock(mu);
  std::erase_if(live, [](const auto& e) { return e.second.expired(); });
  for (const auto& [o, weak] : live)
    if (o == opts)
      if (auto sc = weak.lock()) return sc;
  auto sc = create(opts);
  if (sc) live.emplace_back(opts, *sc);
  return sc;
}

std::filesystem::file_time_type ServerContext::stamp() const {
  std::filesystem::file_time_type t{};
  std::error_code ec;
  for (const auto* p : {&opts_.certificate_path, &opts_.key_path}) {
    if (p->empty()) continue;
    auto m = std::filesystem::last_write_time(*p, ec);
    if (!ec && m > t) t = m;
  }
  return t;
}

net::Result<SslCtxPtr> ServerContext::build() {
  SslCtxPtr ctx(SSL_CTX_new(TLS_server_method()), SslCtxDeleter{});
  if (!ctx) return fail("SSL_CTX_new: " + ssl_error_text());
  if (auto e = apply_common(ctx.get(), opts_.min_version, opts_.max_version, opts_.cipher_suites)) return *e;
  std::string cert = opts_.certificate, key = opts_.key;
  if (!opts_.certificate_path.empty()) {
    auto c = read_file(opts_.certificate_path);
    if (!c) return fail("cannot read certificate_path " + opts_.certificate_path);
    cert = *c;
  }
  if (!opts_.key_path.empty()) {
    auto k = read_file(opts_.key_path);
    if (!k) return fail("cannot read key_path " + opts_.key_path);
    key = *k;
  }
  if (auto e = use_pem(ctx.get(), cert, key, "")) return *e;
  // Our client keeps one ticket (the newest); the default two cost every
  // pooled session a second one in memory and a wake-up.
  SSL_CTX_set_num_tickets(ctx.get(), 1);
  if (!opts_.alpn.empty()) {
    // The wire form lives as long as the context (ex_data would be overkill).
    auto* wire = new std::string(alpn_wire(opts_.alpn));
    SSL_CTX_set_alpn_select_cb(ctx.get(), select_alpn, wire);
    SslCtxPtr holder(ctx.get(), [wire, keep = ctx](SSL_CTX*) { delete wire; });
    return holder;
  }
  return ctx;
}

SslCtxPtr ServerContext::current() {
  std::lock_guard lock(mu_);  // shards on every worker ask
  auto now = std::chrono::steady_clock::now();
  if (now - last_check_ >= std::chrono::seconds(1) &&
      (!opts_.certificate_path.empty() || !opts_.key_path.empty())) {
    last_check_ = now;
    auto s = stamp();
    if (s != stamp_) {
      auto fresh = build();
      if (fresh) {
        ctx_ = *fresh;
        stamp_ = s;
        spdlog::info("tls: certificate reloaded from {}", opts_.certificate_path);
      } else {
        // Probably caught mid-write; keep the old one and try again later.
        spdlog::warn("tls: certificate reload failed, keeping the previous one: {}", fresh.error().text());
      }
    }
  }
  return ctx_;
}

// ------------------------------------------------------------------ client

std::string public_key_sha256_base64(X509* cert) {
  int len = i2d_X509_PUBKEY(X509_get_X509_PUBKEY(cert), nullptr);
  if (len <= 0) return {};
  std::vector<unsigned char> der(static_cast<std::size_t>(len));
  unsigned char* p = der.data();
  i2d_X509_PUBKEY(X509_get_X509_PUBKEY(cert), &p);
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int mdlen = 0;
  EVP_Digest(der.data(), der.size(), md, &mdlen, EVP_sha256(), nullptr);
  unsigned char b64[64];
  int n = EVP_EncodeBlock(b64, md, static_cast<int>(mdlen));
  return std::string(reinterpret_cast<char*>(b64), static_cast<std::size_t>(n));
}

net::Result<std::shared_ptr<ClientContext>> ClientContext::create(const config::OutboundTlsOptions& opts,
                                                                  const std::string& server) {
  auto cc = std::make_shared<ClientContext>();
  cc->ctx_ = SslCtxPtr(SSL_CTX_new(TLS_client_method()), SslCtxDeleter{});
  SSL_CTX* ctx = cc->ctx_.get();
  if (!ctx) return fail("SSL_CTX_new: " + ssl_error_text());
  // Our order unless tls.cipher_suites names TLS 1.3 suites itself (then
  // apply_common() below sets those, in the user's order).
  if (!names_tls13_suite(opts.cipher_suites) && SSL_CTX_set_ciphersuites(ctx, kClientTls13Suites) != 1)
    return fail("TLS 1.3 cipher suites: " + ssl_error_text());
  if (auto e = apply_common(ctx, opts.min_version, opts.max_version, opts.cipher_suites)) return *e;
  if (!opts.curve_preferences.empty()) {
    std::string groups;
    for (const auto& c : opts.curve_preferences) {
      std::string g = c;
      if (c == "P256") g = "P-256";
      else if (c == "P384") g = "P-384";
      else if (c == "P521") g = "P-521";
      groups += (groups.empty() ? "" : ":") + g;
    }
    if (SSL_CTX_set1_groups_list(ctx, groups.c_str()) != 1)
      return fail("curve_preferences: unsupported curve in " + groups);
  }
  if (!opts.alpn.empty()) {
    auto wire = alpn_wire(opts.alpn);
    SSL_CTX_set_alpn_protos(ctx, reinterpret_cast<const unsigned char*>(wire.data()),
                            static_cast<unsigned>(wire.size()));
  }
  std::string client_cert = opts.client_certificate, client_key = opts.client_key;
  if (!opts.client_certificate_path.empty()) {
    auto c = read_file(opts.client_certificate_path);
    if (!c) return fail("cannot read client_certificate_path " + opts.client_certificate_path);
    client_cert = *c;
  }
  if (!opts.client_key_path.empty()) {
    auto k = read_file(opts.client_key_path);
    if (!k) return fail("cannot read client_key_path " + opts.client_key_path);
    client_key = *k;
  }
  if (!client_cert.empty() || !client_key.empty()) {
    if (auto e = use_pem(ctx, client_cert, client_key, "client_")) return *e;
  }

  cc->pins_ = opts.certificate_public_key_sha256;
  cc->verify_ = !opts.insecure && cc->pins_.empty();
  if (cc->verify_) {
    std::string ca = opts.certificate;
    if (!opts.certificate_path.empty()) {
      auto c = read_file(opts.certificate_path);
      if (!c) return fail("cannot read certificate_path " + opts.certificate_path);
      ca = *c;
    }
    if (!ca.empty()) {
      X509_STORE* store = SSL_CTX_get_cert_store(ctx);
      std::unique_ptr<BIO, decltype(&BIO_free)> b(BIO_new_mem_buf(ca.data(), static_cast<int>(ca.size())), BIO_free);
      int added = 0;
      while (X509* x = PEM_read_bio_X509(b.get(), nullptr, nullptr, nullptr)) {
        X509_STORE_add_cert(store, x);
        X509_free(x);
        ++added;
      }
      ERR_clear_error();
      if (added == 0) return fail("certificate: no PEM certificate found");
    } else {
      SSL_CTX_set_default_verify_paths(ctx);
    }
    settle_store(SSL_CTX_get_cert_store(ctx));
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nullptr);
  } else {
    // insecure, or pinned: the pins are checked after the handshake, before
    // a single byte of ours is sent.
    SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, nullptr);
  }

  cc->server_name_ = opts.server_name.empty() ? server : opts.server_name;
  std::error_code ec;
  (void)asio::ip::make_address(cc->server_name_, ec);
  cc->send_sni_ = !opts.disable_sni && ec;  // never an IP literal as SNI

  SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
  SSL_CTX_sess_set_new_cb(ctx, &ClientContext::on_new_session);
  if (opts.utls.enabled) {
    auto u = UtlsContext::create(opts.alpn);
    if (!u) return u.error();
    cc->utls_ = *u;
  }
  return cc;
}

namespace {
int client_context_index() {
  static int idx = SSL_get_ex_new_index(0, nullptr, nullptr, nullptr, nullptr);
  return idx;
}
}  // namespace

void ClientContext::prepare(SSL* ssl) {
  if (send_sni_) SSL_set_tlsext_host_name(ssl, server_name_.c_str());
  if (verify_ && !server_name_.empty()) {
    std::error_code ec;
    asio::ip::make_address(server_name_, ec);
    if (ec)
      SSL_set1_host(ssl, server_name_.c_str());
    else
      X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), server_name_.c_str());
  }
  std::shared_ptr<SSL_SESSION> resume;
  {
    std::lock_guard lock(session_mu_);  // sessions of every worker store theirs
    resume = session_;
  }
  if (resume) SSL_set_session(ssl, resume.get());
  SSL_set_ex_data(ssl, client_context_index(), this);
}

int ClientContext::on_new_session(SSL* ssl, SSL_SESSION* sess) {
  auto* self = static_cast<ClientContext*>(SSL_get_ex_data(ssl, client_context_index()));
  if (!self) return 0;
  // Keep the newest resumable session for the next pool refill.
  std::shared_ptr<SSL_SESSION> next(sess, SSL_SESSION_free);
  std::lock_guard lock(self->session_mu_);
  self->session_.swap(next);
  return 1;  // we took the reference
}

std::string ClientContext::check_peer(SSL* ssl) const {
  if (pins_.empty()) return {};
  STACK_OF(X509)* chain = SSL_get_peer_cert_chain(ssl);
  for (int i = 0; chain && i < sk_X509_num(chain); ++i) {
    auto h = public_key_sha256_base64(sk_X509_value(chain, i));
    for (const auto& pin : pins_)
      if (pin == h) return {};
  }
  X509* leaf = SSL_get0_peer_certificate(ssl);
  return "certificate public key pin mismatch" +
         (leaf ? " (server key sha256 " + public_key_sha256_base64(leaf) + ")" : std::string());
}

std::string ClientContext::verify_der_chain(const unsigned char* const* certs, const std::size_t* lens,
                                            std::size_t n) const {
  if (!verify_ && pins_.empty()) return {};  // insecure
  if (n == 0) return "the server sent no certificate";
  using X509Ptr = std::unique_ptr<X509, decltype(&X509_free)>;
  std::vector<X509Ptr> chain;
  for (std::size_t i = 0; i < n; ++i) {
    const unsigned char* p = certs[i];
    X509* x = d2i_X509(nullptr, &p, static_cast<long>(lens[i]));
    if (!x) {
      ERR_clear_error();
      return "certificate " + std::to_string(i) + " of the server's chain does not parse";
    }
    chain.emplace_back(x, X509_free);
  }
  if (!pins_.empty()) {
    for (const auto& x : chain) {
      auto h = public_key_sha256_base64(x.get());
      for (const auto& pin : pins_)
        if (pin == h) return {};
    }
    return "certificate public key pin mismatch (server key sha256 " + public_key_sha256_base64(chain[0].get()) + ")";
  }
  struct StackFree {
    void operator()(STACK_OF(X509) * s) const { sk_X509_free(s); }  // the certificates stay in `chain`
  };
  std::unique_ptr<STACK_OF(X509), StackFree> untrusted(sk_X509_new_null());
  for (std::size_t i = 1; i < chain.size(); ++i) sk_X509_push(untrusted.get(), chain[i].get());
  std::unique_ptr<X509_STORE_CTX, decltype(&X509_STORE_CTX_free)> sc(X509_STORE_CTX_new(), X509_STORE_CTX_free);
  if (!sc || X509_STORE_CTX_init(sc.get(), SSL_CTX_get_cert_store(ctx_.get()), chain[0].get(), untrusted.get()) != 1) {
    ERR_clear_error();
    return "certificate verify failed: out of memory";
  }
  X509_STORE_CTX_set_default(sc.get(), "ssl_server");
  apply_verify_time(sc.get());
  X509_VERIFY_PARAM* param = X509_STORE_CTX_get0_param(sc.get());
  if (!server_name_.empty()) {
    std::error_code ec;
    (void)asio::ip::make_address(server_name_, ec);
    if (ec)
      X509_VERIFY_PARAM_set1_host(param, server_name_.c_str(), 0);
    else
      X509_VERIFY_PARAM_set1_ip_asc(param, server_name_.c_str());
  }
  int ok = X509_verify_cert(sc.get());
  ERR_clear_error();
  if (ok == 1) return {};
  return std::string("certificate verify failed: ") + X509_verify_cert_error_string(X509_STORE_CTX_get_error(sc.get()));
}

}  // namespace anytls::tls
