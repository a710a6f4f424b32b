// Issue 17, tls.utls: the ClientHello our client sends with utls on is
// captured on loopback and fingerprinted with JA4 (parser below, written from
// the public JA4 description: FoxIO's JA4 spec). Every JA4 must be one of
// Chrome 117-132's published values, the extension order must vary between
// connections, pool refills must resume, and traffic must flow end to end
// through our (OpenSSL) server with the certificate checks of the OpenSSL
// client.
#include <gtest/gtest.h>

#include <openssl/evp.h>

#include <algorithm>
#include <map>
#include <optional>
#include <set>

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/experimental/awaitable_operators.hpp>
#include <asio/read.hpp>
#include <asio/write.hpp>

#include "app/generate.hpp"
#include "integration/harness.hpp"
#include "tls/client_connect.hpp"
#include "tls/utls_conn.hpp"
#include "tls/utls_module.hpp"

namespace anytls::integ {
namespace {

using asio::ip::tcp;

// Chrome 117-132 (JA4 database): fresh, fresh with the padding extension
// (the ECH GREASE payload size decides whether the hello needs padding), and
// resumed (pre_shared_key).
constexpr std::string_view kChromeFresh = "t13d1516h2_8daaf6152771_02713d6af862";
constexpr std::string_view kChromePadded = "t13d1517h2_8daaf6152771_b1ff8ab2d16f";
constexpr std::string_view kChromeResumed = "t13d1517h2_8daaf6152771_b0da82dd1658";

// Skips (with the reason) when the module is not part of this build: the
// sanitizer build leaves it out. A module that is built but does not load
// is a failure.
#define REQUIRE_UTLS_MODULE()                                                                     \
  do {                                                                                            \
    if (!tls::utls_built()) GTEST_SKIP() << "utls module not built (sanitizer build, or "         \
                                            "android-libboringssl-dev missing): nothing to test"; \
    auto api_ = tls::utls_module();                                                               \
    ASSERT_TRUE(api_.ok()) << api_.error().text();                                                \
  } while (0)

// ------------------------------------------------------------------ JA4

struct Hello {
  std::vector<std::uint16_t> ciphers;     // as sent, GREASE included
  std::vector<std::uint16_t> extensions;  // as sent, GREASE included
  std::vector<std::uint16_t> sigalgs;
  std::vector<std::uint16_t> versions;    // supported_versions
  std::vector<std::string> alpn;
  std::vector<std::uint16_t> cert_compression;
  std::string sni;
};

bool is_grease(std::uint16_t v) { return (v & 0x0f0f) == 0x0a0a && (v >> 8) == (v & 0xff); }

struct Reader {
  std::string_view s;
  bool ok = true;
  std::uint32_t num(std::size_t n) {
    if (s.size() < n) {
      ok = false;
      return 0;
    }
    std::uint32_t v = 0;
    for (std::size_t i = 0; i < n; ++i) v = (v << 8) | static_cast<unsigned char>(s[i]);
    s.remove_prefix(n);
    return v;
  }
  std::string_view bytes(std::size_t n) {
    if (s.size() < n) {
      ok = false;
      return {};
    }
    auto out = s.substr(0, n);
    s.remove_prefix(n);
    return out;
  }
  std::vector<std::uint16_t> u16s(std::string_view body) {
    Reader r{body};
    std::vector<std::uint16_t> out;
    while (r.ok && !r.s.empty()) out.push_back(static_cast<std::uint16_t>(r.num(2)));
    ok = ok && r.ok;
    return out;
  }
};

// msg: the handshake message (type, 24-bit length, ClientHello body).
std::optional<Hello> parse_hello(std::string_view msg) {
  Reader r{msg};
  if (r.num(1) != 1) return std::nullopt;
  Reader b{r.bytes(r.num(3))};
  Hello h;
  b.num(2);        // legacy_version
  b.bytes(32);     // random
  b.bytes(b.num(1));  // legacy_session_id
  h.ciphers = b.u16s(b.bytes(b.num(2)));
  b.bytes(b.num(1));  // compression methods
  Reader exts{b.bytes(b.num(2))};
  while (exts.ok && !exts.s.empty()) {
    auto type = static_cast<std::uint16_t>(exts.num(2));
    std::string_view data = exts.bytes(exts.num(2));
    h.extensions.push_back(type);
    Reader e{data};
    if (type == 0x0000) {  // server_name: list, type 0, name
      Reader list{e.bytes(e.num(2))};
      list.num(1);
      h.sni = std::string(list.bytes(list.num(2)));
    } else if (type == 0x0010) {  // ALPN
      Reader list{e.bytes(e.num(2))};
      while (list.ok && !list.s.empty()) h.alpn.emplace_back(list.bytes(list.num(1)));
    } else if (type == 0x000d) {  // signature_algorithms
      h.sigalgs = e.u16s(e.bytes(e.num(2)));
    } else if (type == 0x002b) {  // supported_versions
      h.versions = e.u16s(e.bytes(e.num(1)));
    } else if (type == 0x001b) {  // compress_certificate
      std::string_view algs = e.bytes(e.num(1));
      h.cert_compression = e.u16s(algs);
    }
    if (!e.ok) return std::nullopt;
  }
  if (!r.ok || !b.ok || !exts.ok) return std::nullopt;
  return h;
}

std::string hex4(std::uint16_t v) { return fmt::format("{:04x}", v); }

std::string sha256_12(const std::string& s) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(s.data(), s.size(), md, &len, EVP_sha256(), nullptr);
  std::string out;
  for (unsigned i = 0; i < 6; ++i) out += fmt::format("{:02x}", md[i]);
  return out;
}

std::string join(const std::vector<std::string>& v) {
  std::string out;
  for (const auto& s : v) out += (out.empty() ? "" : ",") + s;
  return out;
}

// JA4 (TCP): t<version><d|i><#ciphers><#extensions><alpn first+last>_
// sha256(sorted ciphers)[:12]_sha256(sorted extensions w/o SNI and ALPN "_"
// signature algorithms in order)[:12]; GREASE ignored throughout.
std::string ja4(const Hello& h) {
  std::uint16_t top = 0;
  for (auto v : h.versions)
    if (!is_grease(v)) top = std::max(top, v);
  std::string version = top == 0x0304 ? "13" : top == 0x0303 ? "12" : "00";
  std::vector<std::string> ciphers, exts, sigs;
  for (auto c : h.ciphers)
    if (!is_grease(c)) ciphers.push_back(hex4(c));
  std::size_t ext_count = 0;
  bool has_sni = false;
  for (auto e : h.extensions) {
    if (is_grease(e)) continue;
    ++ext_count;
    if (e == 0x0000) has_sni = true;
    if (e != 0x0000 && e != 0x0010) exts.push_back(hex4(e));
  }
  for (auto s : h.sigalgs)
    if (!is_grease(s)) sigs.push_back(hex4(s));
  std::sort(ciphers.begin(), ciphers.end());
  std::sort(exts.begin(), exts.end());
  std::string alpn = "00";
  if (!h.alpn.empty() && !h.alpn[0].empty()) alpn = std::string{h.alpn[0].front(), h.alpn[0].back()};
  std::string a = fmt::format("t{}{}{:02}{:02}{}", version, has_sni ? 'd' : 'i', std::min<std::size_t>(ciphers.size(), 99),
                              std::min<std::size_t>(ext_count, 99), alpn);
  std::string c = join(exts);
  if (!sigs.empty()) c += "_" + join(sigs);
  return a + "_" + sha256_12(join(ciphers)) + "_" + sha256_12(c);
}

TEST(Ja4, KnownChromeHelloComputesItsPublishedValue) {
  // Chrome's lists, in a wire order of our choosing (JA4 sorts them).
  Hello h;
  h.ciphers = {0x2a2a, 0x1301, 0x1302, 0x1303, 0xc02b, 0xc02f, 0xc02c, 0xc030, 0xcca9,
               0xcca8, 0xc013, 0xc014, 0x009c, 0x009d, 0x002f, 0x0035};
  h.extensions = {0x3a3a, 0x0000, 0x0017, 0xff01, 0x000a, 0x000b, 0x0023, 0x0010, 0x0005, 0x000d,
                  0x0012, 0x0033, 0x002d, 0x002b, 0x001b, 0x4469, 0xfe0d, 0x1a1a};
  h.sigalgs = {0x0403, 0x0804, 0x0401, 0x0503, 0x0805, 0x0501, 0x0806, 0x0601};
  h.versions = {0x7a7a, 0x0304, 0x0303};
  h.alpn = {"h2", "http/1.1"};
  EXPECT_EQ(ja4(h), kChromeFresh);
  h.extensions.push_back(0x0015);  // padding
  EXPECT_EQ(ja4(h), kChromePadded);
}

// ------------------------------------------------------------------ a recording listener

// Listens on 127.0.0.1:0 and records the ClientHello of every connection
// (the first handshake message, reassembled across records). With a target
// port it then forwards the connection there both ways; without one it
// closes it (the client's handshake fails, which is fine for a capture).
struct Recorder {
  Recorder(asio::io_context& io, std::uint16_t target_port) : acceptor(io, {asio::ip::make_address_v4("127.0.0.1"), 0}), target(target_port) {}
  tcp::acceptor acceptor;
  std::uint16_t target;
  std::vector<std::string> hellos;
  // Forwarding mode: what each client sent after its hello (first 4 MiB).
  std::vector<std::shared_ptr<std::string>> uploads;
  std::list<std::weak_ptr<tcp::socket>> sockets;
  bool stopped = false;

  std::uint16_t port() const { return acceptor.local_endpoint().port(); }
  void stop() {
    stopped = true;
    std::error_code ec;
    acceptor.close(ec);
    for (auto& w : sockets)
      if (auto s = w.lock()) s->close(ec);
  }
};

asio::awaitable<void> pump(std::shared_ptr<tcp::socket> from, std::shared_ptr<tcp::socket> to,
                           std::shared_ptr<std::string> copy) {
  std::vector<char> buf(16384);
  for (;;) {
    auto [ec, n] = co_await from->async_read_some(asio::buffer(buf), use_tuple);
    if (ec) break;
    if (copy && copy->size() < (4u << 20)) copy->append(buf.data(), n);
    auto [wec, wn] = co_await asio::async_write(*to, asio::buffer(buf.data(), n), use_tuple);
    if (wec) break;
  }
  std::error_code ec;
  to->shutdown(tcp::socket::shutdown_send, ec);
}

asio::awaitable<void> record_one(std::shared_ptr<Recorder> rec, std::shared_ptr<tcp::socket> client) {
  // Read whole records until the handshake message is complete.
  std::string raw, handshake;
  for (;;) {
    if (handshake.size() >= 4) {
      std::size_t want = 4 + ((static_cast<unsigned char>(handshake[1]) << 16) |
                              (static_cast<unsigned char>(handshake[2]) << 8) | static_cast<unsigned char>(handshake[3]));
      if (handshake.size() >= want) {
        handshake.resize(want);
        break;
      }
    }
    std::string header(5, '\0');
    auto [ec, n] = co_await asio::async_read(*client, asio::buffer(header), use_tuple);
    if (ec || header[0] != 0x16) co_return;
    std::size_t len = (static_cast<unsigned char>(header[3]) << 8) | static_cast<unsigned char>(header[4]);
    std::string body(len, '\0');
    auto [bec, bn] = co_await asio::async_read(*client, asio::buffer(body), use_tuple);
    if (bec) co_return;
    raw += header + body;
    handshake += body;
  }
  rec->hellos.push_back(handshake);
  std::error_code ec;
  if (rec->target == 0 || rec->stopped) {
    client->close(ec);
    co_return;
  }
  auto server = std::make_shared<tcp::socket>(client->get_executor());
  rec->sockets.push_back(server);
  auto [cec] = co_await server->async_connect({asio::ip::make_address_v4("127.0.0.1"), rec->target}, use_tuple);
  if (cec) co_return;
  auto [wec, wn] = co_await asio::async_write(*server, asio::buffer(raw), use_tuple);
  if (wec) co_return;
  using namespace asio::experimental::awaitable_operators;
  auto upload = std::make_shared<std::string>();
  rec->uploads.push_back(upload);
  co_await (pump(client, server, upload) && pump(server, client, nullptr));
  client->close(ec);
  server->close(ec);
}

asio::awaitable<void> record_loop(std::shared_ptr<Recorder> rec) {
  for (;;) {
    auto s = std::make_shared<tcp::socket>(rec->acceptor.get_executor());
    auto [ec] = co_await rec->acceptor.async_accept(*s, use_tuple);
    if (ec || rec->stopped) co_return;
    rec->sockets.push_back(s);
    asio::co_spawn(rec->acceptor.get_executor(), record_one(rec, s), asio::detached);
  }
}

std::shared_ptr<Recorder> start_recorder(asio::io_context& io, std::uint16_t target) {
  auto rec = std::make_shared<Recorder>(io, target);
  asio::co_spawn(io, record_loop(rec), asio::detached);
  return rec;
}

// ------------------------------------------------------------------ helpers

config::OutboundTlsOptions chrome_tls() {
  config::OutboundTlsOptions t;
  t.enabled = true;
  t.utls = config::UtlsOptions{true, "chrome"};
  return t;
}

const Pem& example_pem() {
  static const Pem pem = generate_pem("example.com");
  return pem;
}

std::vector<std::uint16_t> no_grease(const std::vector<std::uint16_t>& v) {
  std::vector<std::uint16_t> out;
  for (auto x : v)
    if (!is_grease(x)) out.push_back(x);
  return out;
}

bool has(const std::vector<std::uint16_t>& v, std::uint16_t x) { return std::find(v.begin(), v.end(), x) != v.end(); }

// One handshake attempt through the factory the outbound uses; returns the
// error text ("" when the handshake completed).
asio::awaitable<std::string> try_handshake(std::shared_ptr<tls::ClientContext> ctx, std::uint16_t port) {
  auto sock = co_await tcp_connect(port);
  auto r = co_await tls::client_handshake(ctx, std::move(sock), "127.0.0.1:" + std::to_string(port),
                                         std::chrono::seconds(5), nullptr);
  if (!r) co_return r.error().text();
  (*r)->close();
  co_return "";
}

// ------------------------------------------------------------------ tests

// What a recorder saw: the ClientHellos, and each handshake's problem.
struct Recorded {
  std::vector<std::string> hellos;
  std::vector<std::string> problems;
};

asio::awaitable<void> handshakes_body(std::shared_ptr<Recorder> rec, std::vector<config::OutboundTlsOptions> configs,
                                      int rounds, std::vector<std::string>* problems) {
  for (const auto& t : configs) {
    auto ctx = tls::ClientContext::create(t, "127.0.0.1");
    EXPECT_TRUE(ctx.ok()) << (ctx.ok() ? "" : ctx.error().text());
    if (!ctx) co_return;
    for (int i = 0; i < rounds; ++i) {
      auto problem = co_await try_handshake(*ctx, rec->port());
      problems->push_back(problem);
    }
  }
  rec->stop();
}

// Handshakes `rounds` times with each of `configs` (one client context
// each) against a recorder on a fresh Env.
Recorded record_hellos(std::vector<config::OutboundTlsOptions> configs, int rounds) {
  Env env;
  auto rec = start_recorder(env.io, 0);
  Recorded r;
  run(env, handshakes_body(rec, std::move(configs), rounds, &r.problems), 30s);
  r.hellos = rec->hellos;
  return r;
}

TEST(Utls, FreshClientHelloIsChromes) {
  REQUIRE_UTLS_MODULE();
  auto opts = chrome_tls();
  opts.server_name = "example.com";
  opts.insecure = true;
  auto rec = record_hellos({opts}, 20);
  for (const auto& problem : rec.problems) EXPECT_NE(problem, "") << "the recorder closes every connection";
  ASSERT_EQ(rec.hellos.size(), 20u);
  std::map<std::string, int> seen;
  std::set<std::vector<std::uint16_t>> orders;
  for (const auto& raw : rec.hellos) {
    auto h = parse_hello(raw);
    ASSERT_TRUE(h) << "unparsable ClientHello";
    auto fp = ja4(*h);
    ++seen[fp];
    EXPECT_TRUE(fp == kChromeFresh || fp == kChromePadded) << fp;
    orders.insert(no_grease(h->extensions));
    // What JA4 does not show: GREASE, SNI, ALPN, brotli, ECH GREASE.
    EXPECT_TRUE(is_grease(h->ciphers.front()));
    EXPECT_TRUE(is_grease(h->extensions.front()));
    EXPECT_EQ(std::count_if(h->extensions.begin(), h->extensions.end(), is_grease), 2);
    EXPECT_EQ(h->sni, "example.com");
    EXPECT_EQ(h->alpn, (std::vector<std::string>{"h2", "http/1.1"}));
    EXPECT_EQ(h->cert_compression, std::vector<std::uint16_t>{0x0002});
    EXPECT_TRUE(has(h->extensions, 0xfe0d)) << "ECH GREASE";
    EXPECT_TRUE(has(h->extensions, 0x4469)) << "ALPS";
    EXPECT_FALSE(has(h->extensions, 0x0029)) << "nothing to resume from";
  }
  // Permuted extensions: 20 identical orders would be a fixed order.
  EXPECT_GT(orders.size(), 1u);
  for (const auto& [fp, n] : seen) std::printf("  JA4 %s x%d\n", fp.c_str(), n);
  std::printf("  %zu distinct extension orders in 20 hellos\n", orders.size());
}

asio::awaitable<void> resumed_body(Env* env, std::shared_ptr<Recorder> rec) {
  auto opts = client_options(rec->port());
  opts.tls = chrome_tls();
  opts.tls.server_name = "example.com";
  opts.tls.certificate = example_pem().cert;  // verified: CA and name
  auto& client = env->start_client(opts);
  // A first session, with a bulk transfer (full 16 KiB records both ways).
  auto big = pattern(300000, 7);
  auto problem = co_await dial_echo(&client, env->echo.port(), big);
  EXPECT_EQ(problem, "");
  // 20 streams at once: the idle session plus 19 new ones, which resume
  // the first session's ticket.
  std::vector<std::unique_ptr<net::Conn>> conns;
  for (int i = 0; i < 20; ++i) {
    auto c = co_await client.dial(tcp_to(env->echo.port()));
    EXPECT_TRUE(c.ok()) << (c.ok() ? "" : c.error().text());
    if (!c) break;
    conns.push_back(std::move(*c));
  }
  for (std::size_t i = 0; i < conns.size(); ++i) {
    auto data = pattern(1000 + i * 100, static_cast<unsigned>(i));
    auto back = co_await echo_once(*conns[i], data);
    EXPECT_EQ(back, data) << "stream " << i;
    conns[i]->close();
  }
  EXPECT_EQ(client.stats().sessions_created, 20u);
  EXPECT_EQ(env->server->stats().authenticated, 20u);
  EXPECT_EQ(env->server->stats().streams, 21u);
  rec->stop();
}

TEST(Utls, PoolRefillsResumeAndTrafficFlowsThroughOurServer) {
  REQUIRE_UTLS_MODULE();
  auto sopts = server_options();
  sopts.tls.certificate = example_pem().cert;
  sopts.tls.key = example_pem().key;
  Env env(sopts);
  auto rec = start_recorder(env.io, env.server->port());
  run(env, resumed_body(&env, rec), 60s);
  ASSERT_EQ(rec->hellos.size(), 20u);
  std::map<std::string, int> seen;
  for (std::size_t i = 0; i < rec->hellos.size(); ++i) {
    auto h = parse_hello(rec->hellos[i]);
    ASSERT_TRUE(h);
    auto fp = ja4(*h);
    ++seen[fp];
    if (i == 0) {
      EXPECT_TRUE(fp == kChromeFresh || fp == kChromePadded) << fp;
    } else {
      EXPECT_EQ(fp, kChromeResumed) << "hello " << i;
      // pre_shared_key is the last extension, permutation or not.
      EXPECT_EQ(no_grease(h->extensions).back(), 0x0029) << "hello " << i;
    }
  }
  for (const auto& [fp, n] : seen) std::printf("  JA4 %s x%d\n", fp.c_str(), n);

  // The record layer the session relies on: no record over TLS 1.3's limit,
  // and the bulk upload of the first session leaves in full 16 KiB records
  // (16384 bytes of plaintext + content type + 16-byte tag = 16401).
  ASSERT_FALSE(rec->uploads.empty());
  std::map<std::size_t, int> sizes;
  std::string_view up = *rec->uploads[0];
  while (up.size() >= 5) {
    std::size_t len = (static_cast<unsigned char>(up[3]) << 8) | static_cast<unsigned char>(up[4]);
    EXPECT_LE(len, 16384u + 256u);
    if (up.size() < 5 + len) break;
    ++sizes[len];
    up.remove_prefix(5 + len);
  }
  EXPECT_GE(sizes[16401], 10) << "full 16 KiB records during a 300 kB upload";
}

asio::awaitable<void> verify_body(Env* env, std::string* ok_ca, std::string* wrong_ca, std::string* wrong_name,
                                  std::string* ok_pin, std::string* wrong_pin, std::string* insecure) {
  auto port = env->server->port();
  auto make = [](config::OutboundTlsOptions t) {
    auto c = tls::ClientContext::create(t, "127.0.0.1");
    if (!c) throw std::runtime_error(c.error().text());
    return *c;
  };
  auto t = chrome_tls();
  t.certificate = test_pem().cert;  // a certificate for IP 127.0.0.1
  *ok_ca = co_await try_handshake(make(t), port);
  t.certificate = other_pem().cert;
  *wrong_ca = co_await try_handshake(make(t), port);
  t.certificate = test_pem().cert;
  t.server_name = "example.com";
  *wrong_name = co_await try_handshake(make(t), port);
  t = chrome_tls();
  t.certificate_public_key_sha256 = {pem_pin(other_pem().cert), pem_pin(test_pem().cert)};
  *ok_pin = co_await try_handshake(make(t), port);
  t.certificate_public_key_sha256 = {pem_pin(other_pem().cert)};
  *wrong_pin = co_await try_handshake(make(t), port);
  t = chrome_tls();
  t.insecure = true;
  t.certificate = other_pem().cert;
  *insecure = co_await try_handshake(make(t), port);
}

TEST(Utls, CertificateChecksAreTheOpenSslClients) {
  REQUIRE_UTLS_MODULE();
  Env env;
  std::string ok_ca, wrong_ca, wrong_name, ok_pin, wrong_pin, insecure;
  run(env, verify_body(&env, &ok_ca, &wrong_ca, &wrong_name, &ok_pin, &wrong_pin, &insecure), 30s);
  EXPECT_EQ(ok_ca, "");
  EXPECT_NE(wrong_ca.find("certificate verify failed: "), std::string::npos) << wrong_ca;
  EXPECT_NE(wrong_name.find("certificate verify failed: hostname mismatch"), std::string::npos) << wrong_name;
  EXPECT_EQ(ok_pin, "");
  EXPECT_NE(wrong_pin.find("certificate public key pin mismatch"), std::string::npos) << wrong_pin;
  EXPECT_EQ(insecure, "");
}

TEST(Utls, ConfiguredAlpnIsSentAsSingBoxDoes) {
  REQUIRE_UTLS_MODULE();
  std::vector<config::OutboundTlsOptions> configs;
  for (const char* alpn : {"h2", "http/1.1"}) {
    auto t = chrome_tls();
    t.insecure = true;
    t.alpn = {alpn};
    configs.push_back(t);
  }
  auto rec = record_hellos(configs, 1);
  ASSERT_EQ(rec.hellos.size(), 2u);
  auto h2 = parse_hello(rec.hellos[0]);
  auto h1 = parse_hello(rec.hellos[1]);
  ASSERT_TRUE(h2 && h1);
  EXPECT_EQ(h2->alpn, (std::vector<std::string>{"h2", "http/1.1"}));  // a lone h2 gets http/1.1
  EXPECT_EQ(h1->alpn, std::vector<std::string>{"http/1.1"});
  EXPECT_FALSE(has(h1->extensions, 0x4469)) << "ALPS only with h2";
  EXPECT_EQ(h1->sni, "") << "no SNI for an IP literal";
  EXPECT_EQ(ja4(*h1).substr(0, 4), "t13i");
}

}  // namespace
}  // namespace anytls::integ
