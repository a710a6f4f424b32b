#include "support/tls_fixture.hpp"

#include <stdexcept>

#include <asio/experimental/as_tuple.hpp>
#include <asio/experimental/awaitable_operators.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/this_coro.hpp>
#include <asio/use_awaitable.hpp>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

namespace anytls::test {

namespace {

[[noreturn]] void fail(const char* what) {
  char buf[256] = {};
  ERR_error_string_n(ERR_get_error(), buf, sizeof buf);
  throw std::runtime_error(std::string(what) + ": " + buf);
}

void add_ext(X509* cert, int nid, const char* value) {
  X509V3_CTX v3;
  X509V3_set_ctx_nodb(&v3);
  X509V3_set_ctx(&v3, cert, cert, nullptr, nullptr, 0);
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &v3, nid, value);
  if (!ext) fail("X509V3_EXT_conf_nid");
  int ok = X509_add_ext(cert, ext, -1);
  X509_EXTENSION_free(ext);
  if (!ok) fail("X509_add_ext");
}

}  // namespace

TestCert TestCert::generate(long not_before, long not_after) {
  TestCert tc;
  tc.key.reset(EVP_EC_gen("P-256"));
  if (!tc.key) fail("EVP_EC_gen");
  tc.cert.reset(X509_new());
  X509* x = tc.cert.get();
  if (!x) fail("X509_new");
  if (!X509_set_version(x, X509_VERSION_3)) fail("X509_set_version");
  ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
  X509_gmtime_adj(X509_getm_notBefore(x), not_before);
  X509_gmtime_adj(X509_getm_notAfter(x), not_after);
  if (!X509_set_pubkey(x, tc.key.get())) fail("X509_set_pubkey");
  X509_NAME* name = X509_get_subject_name(x);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, reinterpret_cast<const unsigned char*>("localhost"), -1, -1,
                             0);
  if (!X509_set_issuer_name(x, name)) fail("X509_set_issuer_name");
  add_ext(x, NID_subject_alt_name, "DNS:localhost,IP:127.0.0.1");
  add_ext(x, NID_basic_constraints, "critical,CA:TRUE");
  add_ext(x, NID_key_usage, "critical,digitalSignature,keyCertSign");
  if (!X509_sign(x, tc.key.get(), EVP_sha256())) fail("X509_sign");
  return tc;
}

namespace {
std::string bio_text(BIO* bio) {
  char* data = nullptr;
  long n = BIO_get_mem_data(bio, &data);
  std::string s(data, static_cast<std::size_t>(n));
  BIO_free(bio);
  return s;
}
}  // namespace

std::string TestCert::cert_pem() const {
  BIO* bio = BIO_new(BIO_s_mem());
  PEM_write_bio_X509(bio, cert.get());
  return bio_text(bio);
}

std::string TestCert::key_pem() const {
  BIO* bio = BIO_new(BIO_s_mem());
  PEM_write_bio_PrivateKey(bio, key.get(), nullptr, nullptr, 0, nullptr, nullptr);
  return bio_text(bio);
}

TlsContexts TlsContexts::make(Verify verify, bool tls13_only) {
  TlsContexts c{TestCert::generate(), SslCtxPtr(SSL_CTX_new(TLS_server_method())),
                SslCtxPtr(SSL_CTX_new(TLS_client_method()))};
  if (!c.server || !c.client) fail("SSL_CTX_new");
  if (SSL_CTX_use_certificate(c.server.get(), c.cert.cert.get()) != 1) fail("SSL_CTX_use_certificate");
  if (SSL_CTX_use_PrivateKey(c.server.get(), c.cert.key.get()) != 1) fail("SSL_CTX_use_PrivateKey");
  if (SSL_CTX_check_private_key(c.server.get()) != 1) fail("SSL_CTX_check_private_key");
  // As tls/context.cpp sets them for real contexts: read-ahead (several
  // records per read(2)), a FIN without close_notify is an ordinary end, one
  // session ticket.
  for (SSL_CTX* ctx : {c.server.get(), c.client.get()}) {
    SSL_CTX_set_read_ahead(ctx, 1);
    SSL_CTX_set_default_read_buffer_len(ctx, 64 * 1024);
    SSL_CTX_set_options(ctx, SSL_OP_IGNORE_UNEXPECTED_EOF);
  }
  SSL_CTX_set_num_tickets(c.server.get(), 1);
  if (tls13_only) {
    SSL_CTX_set_min_proto_version(c.server.get(), TLS1_3_VERSION);
    SSL_CTX_set_min_proto_version(c.client.get(), TLS1_3_VERSION);
  }
  if (verify == Verify::cert) {
    if (X509_STORE_add_cert(SSL_CTX_get_cert_store(c.client.get()), c.cert.cert.get()) != 1)
      fail("X509_STORE_add_cert");
    SSL_CTX_set_verify(c.client.get(), SSL_VERIFY_PEER, nullptr);
  } else {
    SSL_CTX_set_verify(c.client.get(), SSL_VERIFY_NONE, nullptr);
  }
  return c;
}

TlsContexts& shared_contexts() {
  static TlsContexts c = TlsContexts::make();
  return c;
}

asio::awaitable<TlsPair> make_tls_pair(const TlsContexts& ctx, PairOptions opts) {
  using asio::ip::tcp;
  using namespace asio::experimental::awaitable_operators;
  constexpr auto tuple = asio::experimental::as_tuple(asio::use_awaitable);
  auto ex = co_await asio::this_coro::executor;

  tcp::acceptor acceptor(ex);
  tcp::endpoint ep(asio::ip::make_address("127.0.0.1"), 0);
  acceptor.open(ep.protocol());
  if (opts.socket_buffer > 0) {
    acceptor.set_option(asio::socket_base::receive_buffer_size(opts.socket_buffer));
    acceptor.set_option(asio::socket_base::send_buffer_size(opts.socket_buffer));
  }
  acceptor.bind(ep);
  acceptor.listen();

  tcp::socket client(ex);
  client.open(tcp::v4());
  if (opts.socket_buffer > 0) {
    client.set_option(asio::socket_base::receive_buffer_size(opts.socket_buffer));
    client.set_option(asio::socket_base::send_buffer_size(opts.socket_buffer));
  }
  client.set_option(tcp::no_delay(true));
  // The kernel completes the connection into the backlog: no need to accept
  // concurrently.
  auto [cec] = co_await client.async_connect(acceptor.local_endpoint(), tuple);
  if (cec) throw std::runtime_error("connect: " + cec.message());
  auto [aec, server] = co_await acceptor.async_accept(tuple);
  if (aec) throw std::runtime_error("accept: " + aec.message());
  server.set_option(tcp::no_delay(true));

  TlsPair p;
  p.client = std::make_unique<tls::TlsConn>(std::move(client), ctx.client.get(), tls::TlsConn::Role::client);
  p.server = std::make_unique<tls::TlsConn>(std::move(server), ctx.server.get(), tls::TlsConn::Role::server);
  p.client->set_server_name(opts.server_name);
  auto [hc, hs] = co_await (p.client->handshake() && p.server->handshake());
  if (hc) throw std::runtime_error("client handshake: " + p.client->last_error_text());
  if (hs) throw std::runtime_error("server handshake: " + p.server->last_error_text());
  co_return p;
}

}  // namespace anytls::test
