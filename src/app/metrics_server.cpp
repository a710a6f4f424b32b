#include "app/metrics_server.hpp"

#include <openssl/crypto.h>
#include <openssl/sha.h>
#include <spdlog/spdlog.h>

#include "http/server.hpp"
#include "metrics/exposition.hpp"

namespace anytls::app {

namespace {

// A keep-alive connection waiting for the next scrape (Prometheus scrapes
// every 15-60 s) may wait this long for its first byte.
constexpr auto kIdleTimeout = std::chrono::seconds(120);

MetricsResponse plain(int status, std::string reason, std::string body) {
  MetricsResponse r;
  r.status = status;
  r.reason = std::move(reason);
  r.headers.emplace_back("Content-Type", "text/plain; charset=utf-8");
  r.body = std::move(body);
  return r;
}

http::Response to_http(const MetricsResponse& r, bool close) {
  http::Response out;
  out.status = r.status;
  out.reason = r.reason;
  for (const auto& [k, v] : r.headers) out.fields.push_back({k, v});
  out.fields.push_back({"Content-Length", std::to_string(r.body.size())});
  out.fields.push_back({"Cache-Control", "no-store"});
  out.body = r.body;
  out.close = close;
  return out;
}

}  // namespace

bool bearer_matches(std::string_view authorization, std::string_view secret) {
  constexpr std::string_view scheme = "bearer ";
  if (authorization.size() < scheme.size() || !http::iequals(authorization.substr(0, scheme.size()), scheme))
    return false;
  auto token = authorization.substr(scheme.size());
  while (!token.empty() && token.front() == ' ') token.remove_prefix(1);
  while (!token.empty() && (token.back() == ' ' || token.back() == '\t')) token.remove_suffix(1);
  // Digests of equal length, compared without an early exit: the time says
  // nothing about the secret, not even its length.
  unsigned char a[SHA256_DIGEST_LENGTH], b[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(token.data()), token.size(), a);
  SHA256(reinterpret_cast<const unsigned char*>(secret.data()), secret.size(), b);
  return CRYPTO_memcmp(a, b, sizeof a) == 0;
}

MetricsResponse metrics_response(const http::RequestHead& req, const config::MetricsOptions& opts,
                                 const std::function<std::string()>& render) {
  std::string_view path = req.target;
  if (auto q = path.find('?'); q != std::string_view::npos) path = path.substr(0, q);
  if (path != opts.path) return plain(404, "Not Found", "not found; metrics are at " + opts.path + "\n");
  if (req.method != "GET" && req.method != "HEAD") {
    auto r = plain(405, "Method Not Allowed", "use GET\n");
    r.headers.emplace_back("Allow", "GET, HEAD");
    return r;
  }
  if (!opts.secret.empty()) {
    auto auth = req.field("Authorization");
    if (!auth || !bearer_matches(*auth, opts.secret)) {
      auto r = plain(401, "Unauthorized", "a bearer token is required\n");
      r.headers.emplace_back("WWW-Authenticate", "Bearer realm=\"anytls metrics\"");
      return r;
    }
  }
  MetricsResponse r;
  r.headers.emplace_back("Content-Type", std::string(metrics::kContentType));
  r.body = render();
  return r;
}

std::string serialize_response(const MetricsResponse& r, bool head, bool close) {
  return http::serialize(to_http(r, close), head);
}

// What a scrape needs, shared with the server's handler.
struct Scrapes {
  config::MetricsOptions opts;
  MetricsServer::Render render;
  std::uint64_t served = 0;
};

struct MetricsServer::State {
  State(asio::io_context& io, std::shared_ptr<Scrapes> s, http::Server::Handler h, http::Server::Refuse r)
      : scrapes(std::move(s)), server(io, "metrics", limits(), std::move(h), std::move(r)) {}
  static http::ServerLimits limits() {
    http::ServerLimits l;
    l.max_connections = MetricsServer::kMaxConnections;
    l.max_head = MetricsServer::kMaxHead;
    l.max_body = 0;  // a scrape carries none
    l.request_timeout = MetricsServer::kRequestTimeout;
    l.idle_timeout = kIdleTimeout;
    return l;
  }
  std::shared_ptr<Scrapes> scrapes;
  http::Server server;
  std::string start_error;
};

namespace {

asio::awaitable<std::optional<http::Response>> answer(std::shared_ptr<Scrapes> sc, http::IncomingRequest& req,
                                                      http::Connection& c) {
  // The body is gathered only for an authorised scrape, from every worker
  // in turn (asynchronous).
  bool wanted = false;
  MetricsResponse resp = metrics_response(req.head, sc->opts, [&wanted] {
    wanted = true;
    return std::string();
  });
  if (wanted) {
    c.authorised();
    resp.body = co_await sc->render();
  }
  if (resp.status == 200) ++sc->served;
  // A client without the token does not keep a connection.
  co_return to_http(resp, resp.status == 401);
}

http::Response refusal(http::Refusal why) {
  switch (why) {
    case http::Refusal::head_too_large:
      return to_http(plain(431, "Request Header Fields Too Large", "bad request\n"), true);
    case http::Refusal::bad_request:
      return to_http(plain(400, "Bad Request", "bad request\n"), true);
    case http::Refusal::bad_framing:
    case http::Refusal::body_too_large:
      break;
  }
  return to_http(plain(400, "Bad Request", "a request body is not expected\n"), true);
}

asio::awaitable<std::string> render_now(std::function<std::string()> f) { co_return f(); }

}  // namespace

MetricsServer::MetricsServer(asio::io_context& io, config::MetricsOptions opts, std::function<std::string()> render)
    : MetricsServer(io, std::move(opts), Render([f = std::move(render)] { return render_now(f); })) {}

MetricsServer::MetricsServer(asio::io_context& io, config::MetricsOptions opts, Render render) {
  auto sc = std::make_shared<Scrapes>(Scrapes{std::move(opts), std::move(render)});
  http::Server::Handler handler = [sc](http::IncomingRequest& req, http::Connection& c) { return answer(sc, req, c); };
  st_ = std::make_shared<State>(io, sc, std::move(handler), http::Server::Refuse(refusal));
}

MetricsServer::~MetricsServer() { stop(); }

std::error_code MetricsServer::start() {
  const auto& o = st_->scrapes->opts;
  net::ListenConfig lc;
  lc.listen = o.listen;
  lc.listen_port = o.listen_port;
  if (auto ec = st_->server.listen(lc)) {
    st_->start_error = fmt::format("listen {}:{}: {}", o.listen, o.listen_port, ec.message());
    return ec;
  }
  auto ep = st_->server.local_endpoint();
  const bool v6 = ep.address().is_v6();
  spdlog::info("metrics: serving http://{}{}{}:{}{}{}", v6 ? "[" : "", ep.address().to_string(), v6 ? "]" : "",
               ep.port(), o.path, o.secret.empty() ? "" : " (bearer token required)");
  if (!ep.address().is_loopback() && o.secret.empty())
    spdlog::warn("metrics: listening on a non-loopback address without a secret: anyone who can reach it sees "
                 "user names and traffic");
  return {};
}

asio::awaitable<void> MetricsServer::join() {
  auto st = st_;
  co_await st->server.join();
}

void MetricsServer::stop() { st_->server.stop(); }

void MetricsServer::set_request_timeout(std::chrono::steady_clock::duration d) { st_->server.set_request_timeout(d); }
std::size_t MetricsServer::evictions() const { return st_->server.evictions(); }

std::uint16_t MetricsServer::port() const { return st_->server.port(); }
const std::string& MetricsServer::start_error() const { return st_->start_error; }
std::uint64_t MetricsServer::scrapes() const { return st_->scrapes->served; }

}  // namespace anytls::app
