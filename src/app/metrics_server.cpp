#include "app/metrics_server.hpp"

#include "net/task_group.hpp"


#include <asio/experimental/as_tuple.hpp>
#include <asio/experimental/awaitable_operators.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/steady_timer.hpp>
#include <asio/use_awaitable.hpp>
#include <asio/write.hpp>
#include <openssl/crypto.h>
#include <openssl/sha.h>
#include <spdlog/spdlog.h>

#include "metrics/exposition.hpp"
#include "net/conn.hpp"
#include "net/listener.hpp"
#include "net/socket_set.hpp"

namespace anytls::app {

using namespace asio::experimental::awaitable_operators;
using asio::ip::tcp;
using SteadyClock = std::chrono::steady_clock;

namespace {

constexpr auto use_tuple = asio::experimental::as_tuple(asio::use_awaitable);
// A keep-alive connection waiting for the next scrape (Prometheus scrapes
// every 15-60 s) may wait this long for its first byte.
constexpr auto kIdleTimeout = std::chrono::seconds(120);

constexpr auto kWriteTimeout = std::chrono::seconds(30);

MetricsResponse plain(int status, std::string reason, std::string body) {
  MetricsResponse r;
  r.status = status;
  r.reason = std::move(reason);
  r.headers.emplace_back("Content-Type", "text/plain; charset=utf-8");
  r.body = std::move(body);
  return r;
}

asio::awaitable<void> sleep_until(SteadyClock::time_point t) {
  asio::steady_timer timer(co_await asio::this_coro::executor, t);
  (void)co_await timer.async_wait(use_tuple);
}

}  // namespace

bool bearer_matches(std::string_view authorization, std::string_view secret) {
  constexpr std::string_view scheme = "bearer ";
  if (authorization.size() < scheme.size() || !inbound::http::iequals(authorization.substr(0, scheme.size()), scheme))
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

MetricsResponse metrics_response(const inbound::http::RequestHead& req, const config::MetricsOptions& opts,
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
    auto auth = inbound::http::find_header(req.headers, "Authorization");
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
  std::string out = "HTTP/1.1 " + std::to_string(r.status) + " " + r.reason + "\r\n";
  for (const auto& [k, v] : r.headers) out += k + ": " + v + "\r\n";
  out += "Content-Length: " + std::to_string(r.body.size()) + "\r\n";
  out += "Cache-Control: no-store\r\n";
  if (close) out += "Connection: close\r\n";
  out += "\r\n";
  if (!head) out += r.body;
  return out;
}

// ------------------------------------------------------------------ server

struct MetricsServer::State {
  State(asio::io_context& io_, config::MetricsOptions o, MetricsServer::Render r)
      : io(io_), opts(std::move(o)), render(std::move(r)), listener(io_), tasks(io_.get_executor(), "metrics") {}
  asio::io_context& io;
  config::MetricsOptions opts;
  MetricsServer::Render render;
  net::Listener listener;
  net::TaskGroup tasks;  // the accept loop and every connection
  net::SocketSet conns{MetricsServer::kMaxConnections};
  std::string start_error;
  std::uint64_t scrapes = 0;
  // A request head, from its first byte (a new connection: from the
  // accept), must arrive within this, however it trickles.
  SteadyClock::duration request_timeout = MetricsServer::kRequestTimeout;
  bool stopped = false;
};

namespace {

using StatePtr = std::shared_ptr<MetricsServer::State>;

asio::awaitable<net::ReadResult> read_until(tcp::socket& s, asio::mutable_buffer buf, SteadyClock::time_point t) {
  auto r = co_await (s.async_read_some(buf, use_tuple) || sleep_until(t));
  if (r.index() != 0) co_return net::ReadResult{asio::error::timed_out, 0};
  auto [ec, n] = std::get<0>(r);
  co_return net::ReadResult{ec, n};
}

asio::awaitable<std::error_code> write_until(tcp::socket& s, const std::string& bytes, SteadyClock::time_point t) {
  auto r = co_await (asio::async_write(s, asio::buffer(bytes), use_tuple) || sleep_until(t));
  if (r.index() != 0) co_return asio::error::timed_out;
  auto [ec, n] = std::get<0>(r);
  co_return ec;
}

asio::awaitable<void> serve_connection(StatePtr st, std::shared_ptr<tcp::socket> s) {
  std::string in;
  std::vector<char> buf(4096);
  bool first = true, authorised = false;
  while (!st->stopped) {
    bool awaiting_next = in.empty() && !first;
    first = false;
    auto deadline = SteadyClock::now() + (awaiting_next ? SteadyClock::duration(kIdleTimeout) : st->request_timeout);
    auto head = inbound::http::parse_request_head(in, MetricsServer::kMaxHead);
    bool eof = false;
    while (head.status == inbound::http::Status::need_more) {
      auto [ec, n] = co_await read_until(*s, asio::buffer(buf), deadline);
      if (ec || st->stopped) {
        eof = true;
        break;
      }
      if (awaiting_next) {
        awaiting_next = false;
        deadline = SteadyClock::now() + st->request_timeout;
      }
      in.append(buf.data(), n);
      head = inbound::http::parse_request_head(in, MetricsServer::kMaxHead);
    }
    if (eof) break;
    MetricsResponse resp;
    bool close = false;
    bool is_head = false;
    if (head.status != inbound::http::Status::ok) {
      resp = plain(head.status == inbound::http::Status::too_large ? 431 : 400,
                   head.status == inbound::http::Status::too_large ? "Request Header Fields Too Large" : "Bad Request",
                   "bad request\n");
      close = true;
    } else {
      const auto& req = head.value;
      auto length = inbound::http::find_header(req.headers, "Content-Length");
      bool has_body = inbound::http::find_header(req.headers, "Transfer-Encoding").has_value() ||
                      (length && *length != "0");
      if (has_body) {
        // A scrape carries no body; not reading one means the connection
        // cannot go on.
        resp = plain(400, "Bad Request", "a request body is not expected\n");
        close = true;
      } else {
        // The body is gathered only for an authorised scrape, from every
        // worker in turn (asynchronous).
        bool wanted = false;
        resp = metrics_response(req, st->opts, [&wanted] {
          wanted = true;
          return std::string();
        });
        if (wanted) {
          authorised = true;
          st->conns.mark(*s, net::SocketSet::Use::active);
        }
        if (wanted) resp.body = co_await st->render();
        if (resp.status == 200) ++st->scrapes;
        is_head = req.method == "HEAD";
        // A client without the token does not keep a connection.
        close = resp.status == 401 || inbound::http::has_token(req.headers, "Connection", "close") ||
                (req.version_minor == 0 && !inbound::http::has_token(req.headers, "Connection", "keep-alive"));
      }
      in.erase(0, head.consumed);
    }
    auto bytes = serialize_response(resp, is_head, close);
    auto wec = co_await write_until(*s, bytes, SteadyClock::now() + kWriteTimeout);
    if (wec || close) break;
    st->conns.mark(*s, authorised ? net::SocketSet::Use::idle : net::SocketSet::Use::pending);
  }
  std::error_code ig;
  s->shutdown(tcp::socket::shutdown_send, ig);
  s->close(ig);
}

void admit(const StatePtr& st, tcp::socket socket) {
  auto s = st->conns.admit(std::move(socket));
  if (!s) {
    spdlog::debug("metrics: {} connections serving authorised scrapes, refusing another", st->conns.limit());
    return;
  }
  st->tasks.spawn(serve_connection(st, s), "scrape connection");
}

}  // namespace

namespace {
asio::awaitable<std::string> render_now(std::function<std::string()> f) { co_return f(); }
}  // namespace

MetricsServer::MetricsServer(asio::io_context& io, config::MetricsOptions opts, std::function<std::string()> render)
    : MetricsServer(io, std::move(opts), Render([f = std::move(render)] { return render_now(f); })) {}

MetricsServer::MetricsServer(asio::io_context& io, config::MetricsOptions opts, Render render)
    : st_(std::make_shared<State>(io, std::move(opts), std::move(render))) {}

MetricsServer::~MetricsServer() { stop(); }

std::error_code MetricsServer::start() {
  net::ListenConfig lc;
  lc.listen = st_->opts.listen;
  lc.listen_port = st_->opts.listen_port;
  if (auto ec = st_->listener.open(lc)) {
    st_->start_error = fmt::format("listen {}:{}: {}", st_->opts.listen, st_->opts.listen_port, ec.message());
    return ec;
  }
  auto ep = st_->listener.local_endpoint();
  spdlog::info("metrics: serving http://{}:{}{}{}", ep.address().is_v6() ? "[" + ep.address().to_string() + "]"
                                                                          : ep.address().to_string(),
               ep.port(), st_->opts.path, st_->opts.secret.empty() ? "" : " (bearer token required)");
  if (!ep.address().is_loopback() && st_->opts.secret.empty())
    spdlog::warn("metrics: listening on a non-loopback address without a secret: anyone who can reach it sees "
                 "user names and traffic");
  std::function<void(tcp::socket)> on_accept = [st = st_](tcp::socket socket) { admit(st, std::move(socket)); };
  st_->tasks.spawn(net::accept_loop(st_->listener, std::move(on_accept), "metrics"), "accept loop");
  return {};
}

asio::awaitable<void> MetricsServer::join() {
  auto st = st_;
  co_await st->tasks.join();
}

void MetricsServer::stop() {
  if (st_->stopped) return;
  st_->stopped = true;
  st_->listener.close();
  st_->tasks.cancel();
  st_->conns.close_all();
}

void MetricsServer::set_request_timeout(std::chrono::steady_clock::duration d) { st_->request_timeout = d; }
std::size_t MetricsServer::evictions() const { return st_->conns.evictions(); }

std::uint16_t MetricsServer::port() const { return st_->listener.port(); }
const std::string& MetricsServer::start_error() const { return st_->start_error; }
std::uint64_t MetricsServer::scrapes() const { return st_->scrapes; }

}  // namespace anytls::app
