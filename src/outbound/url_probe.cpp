#include "outbound/url_probe.hpp"

#include <algorithm>
#include <charconv>
#include <memory>
#include <vector>

#include <asio/experimental/awaitable_operators.hpp>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "net/coro.hpp"
#include "tls/verify_time.hpp"

namespace anytls::outbound {

using namespace asio::experimental::awaitable_operators;

std::optional<ProbeUrl> ProbeUrl::parse(std::string_view url) {
  ProbeUrl u;
  if (url.rfind("http://", 0) == 0) {
    url.remove_prefix(7);
    u.port = 80;
  } else if (url.rfind("https://", 0) == 0) {
    url.remove_prefix(8);
    u.tls = true;
    u.port = 443;
  } else {
    return std::nullopt;
  }
  auto slash = url.find_first_of("/?#");
  std::string_view authority = url.substr(0, slash);
  std::string_view rest = slash == std::string_view::npos ? std::string_view() : url.substr(slash);
  if (auto hash = rest.find('#'); hash != std::string_view::npos) rest = rest.substr(0, hash);
  if (auto at = authority.rfind('@'); at != std::string_view::npos) authority.remove_prefix(at + 1);
  if (authority.empty()) return std::nullopt;
  u.host_header = std::string(authority);
  std::string_view host = authority;
  std::string_view port;
  if (authority.front() == '[') {
    auto close = authority.find(']');
    if (close == std::string_view::npos) return std::nullopt;
    host = authority.substr(1, close - 1);
    if (close + 1 < authority.size()) {
      if (authority[close + 1] != ':') return std::nullopt;
      port = authority.substr(close + 2);
    }
  } else if (auto colon = authority.rfind(':'); colon != std::string_view::npos) {
    host = authority.substr(0, colon);
    port = authority.substr(colon + 1);
  }
  if (host.empty()) return std::nullopt;
  if (!port.empty()) {
    unsigned p = 0;
    auto [ptr, ec] = std::from_chars(port.data(), port.data() + port.size(), p);
    if (ec != std::errc() || ptr != port.data() + port.size() || p == 0 || p > 65535) return std::nullopt;
    u.port = static_cast<std::uint16_t>(p);
  }
  u.host = std::string(host);
  u.target = rest.empty() || rest.front() == '?' ? "/" + std::string(rest) : std::string(rest);
  return u;
}

namespace {

net::Error probe_error(std::string text) { return net::Error{std::make_error_code(std::errc::protocol_error), std::move(text)}; }

// TLS client over any net::Conn (memory BIOs), just enough for the probe:
// handshake with certificate and host name verification against the system
// store, write, read.
class ProbeTls {
 public:
  explicit ProbeTls(net::Conn& conn) : conn_(conn) {}
  ~ProbeTls() {
    if (ssl_) SSL_free(ssl_);  // frees the BIOs too
    if (ctx_) SSL_CTX_free(ctx_);
  }

  asio::awaitable<std::optional<net::Error>> handshake(const std::string& host) {
    ctx_ = SSL_CTX_new(TLS_client_method());
    if (!ctx_) co_return probe_error("TLS: SSL_CTX_new failed");
    SSL_CTX_set_default_verify_paths(ctx_);
    SSL_CTX_set_verify(ctx_, SSL_VERIFY_PEER, nullptr);
    ssl_ = SSL_new(ctx_);
    BIO* in = BIO_new(BIO_s_mem());
    BIO* out = BIO_new(BIO_s_mem());
    in_ = in;
    out_ = out;
    SSL_set_bio(ssl_, in, out);
    SSL_set_connect_state(ssl_);
    tls::apply_verify_time(ssl_);
    if (net::Address{host, 0}.is_domain()) {
      SSL_set_tlsext_host_name(ssl_, host.c_str());
      SSL_set1_host(ssl_, host.c_str());
    } else {
      // An IP literal: no SNI (RFC 6066), checked against the IP SANs.
      X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl_), host.c_str());
    }
    for (;;) {
      int r = SSL_do_handshake(ssl_);
      auto ec = co_await flush();
      if (ec) co_return probe_error("TLS handshake: " + ec.message());
      if (r == 1) co_return std::nullopt;
      int err = SSL_get_error(ssl_, r);
      if (err != SSL_ERROR_WANT_READ) {
        long v = SSL_get_verify_result(ssl_);
        if (v != X509_V_OK) co_return probe_error(std::string("TLS: ") + X509_verify_cert_error_string(v));
        co_return probe_error("TLS handshake failed");
      }
      auto rec = co_await fill();
      if (rec) co_return probe_error("TLS handshake: " + rec.message());
    }
  }

  asio::awaitable<std::error_code> write(const std::string& data) {
    if (SSL_write(ssl_, data.data(), static_cast<int>(data.size())) <= 0) co_return asio::error::broken_pipe;
    co_return co_await flush();
  }

  asio::awaitable<net::ReadResult> read_some(asio::mutable_buffer buf) {
    for (;;) {
      int n = SSL_read(ssl_, buf.data(), static_cast<int>(std::min<std::size_t>(buf.size(), INT32_MAX)));
      if (n > 0) co_return net::ReadResult{{}, static_cast<std::size_t>(n)};
      int err = SSL_get_error(ssl_, n);
      if (err != SSL_ERROR_WANT_READ) co_return net::ReadResult{asio::error::eof, 0};
      auto ec = co_await flush();  // post-handshake messages
      if (!ec) ec = co_await fill();
      if (ec) co_return net::ReadResult{ec, 0};
    }
  }

 private:
  asio::awaitable<std::error_code> flush() {
    char buf[4096];
    for (;;) {
      int n = BIO_read(out_, buf, sizeof buf);
      if (n <= 0) co_return std::error_code{};
      const asio::const_buffer bytes = asio::buffer(buf, static_cast<std::size_t>(n));
      auto ec = co_await conn_.write(bytes);
      if (ec) co_return ec;
    }
  }
  asio::awaitable<std::error_code> fill() {
    char buf[4096];
    const asio::mutable_buffer space = asio::buffer(buf);
    auto [ec, n] = co_await conn_.read_some(space);
    if (n > 0) BIO_write(in_, buf, static_cast<int>(n));
    co_return n > 0 ? std::error_code{} : (ec ? ec : asio::error::eof);
  }

  net::Conn& conn_;
  SSL_CTX* ctx_ = nullptr;
  SSL* ssl_ = nullptr;
  BIO* in_ = nullptr;
  BIO* out_ = nullptr;
};

// "HTTP/1.1 204 No Content\r\n" -> 204; 0 when not a status line.
int status_of(std::string_view head) {
  auto eol = head.find("\r\n");
  std::string_view line = head.substr(0, eol);
  if (line.rfind("HTTP/1.", 0) != 0 || line.size() < 12 || line[8] != ' ') return 0;
  int code = 0;
  auto [p, ec] = std::from_chars(line.data() + 9, line.data() + 12, code);
  return ec == std::errc() && p == line.data() + 12 ? code : 0;
}

asio::awaitable<net::Result<std::uint16_t>> probe_body(Outbound* via, ProbeUrl url, net::Clock* clock) {
  auto& clk = net::clock_or_system(clock);
  auto start = clk.now();
  Metadata md;
  md.inbound = "urltest";
  md.inbound_type = "urltest";
  md.destination = net::Address{url.host, url.port};
  auto dialed = co_await via->dial(md);
  if (!dialed) co_return dialed.error();
  std::unique_ptr<net::Conn> conn = std::move(*dialed);
  std::string request = "GET " + url.target + " HTTP/1.1\r\nHost: " + url.host_header +
                        "\r\nUser-Agent: anytls-cpp\r\nAccept: */*\r\nConnection: close\r\n\r\n";
  std::string head;
  char buf[1024];
  std::unique_ptr<ProbeTls> tls;
  if (url.tls) {
    tls = std::make_unique<ProbeTls>(*conn);
    auto herr = co_await tls->handshake(url.host);
    if (herr) {
      conn->close();
      co_return *herr;
    }
    auto wec = co_await tls->write(request);
    if (wec) {
      conn->close();
      co_return probe_error("write request: " + wec.message());
    }
  } else {
    const asio::const_buffer bytes = asio::buffer(request);
    auto wec = co_await conn->write(bytes);
    if (wec) {
      conn->close();
      co_return probe_error("write request: " + wec.message());
    }
  }
  const asio::mutable_buffer space = asio::buffer(buf);
  while (head.find("\r\n") == std::string::npos) {
    if (head.size() > 4096) break;
    net::ReadResult r;
    if (tls)
      r = co_await tls->read_some(space);
    else
      r = co_await conn->read_some(space);
    if (r.second == 0) {
      conn->close();
      std::string why = conn->failure();
      co_return probe_error("read response: " + (why.empty() ? r.first.message() : why));
    }
    head.append(buf, r.second);
  }
  conn->close();
  if (status_of(head) == 0) co_return probe_error("not an HTTP response");
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(clk.now() - start).count();
  co_return static_cast<std::uint16_t>(std::clamp<long long>(ms, 1, 65535));
}

}  // namespace

asio::awaitable<net::Result<std::uint16_t>> probe_url(Outbound& via, ProbeUrl url, std::chrono::milliseconds timeout,
                                                      net::Clock* clock) {
  auto body = probe_body(&via, std::move(url), clock);
  auto limit = net::sleep_for(timeout, clock);
  auto r = co_await (std::move(body) || std::move(limit));
  if (r.index() == 1) co_return net::Error{std::make_error_code(std::errc::timed_out), "probe timed out"};
  co_return std::move(std::get<0>(r));
}

}  // namespace anytls::outbound
