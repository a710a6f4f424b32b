#include "app/clash_server.hpp"

#include <filesystem>
#include <fstream>

#include <asio/experimental/awaitable_operators.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/steady_timer.hpp>
#include <asio/write.hpp>
#include <spdlog/spdlog.h>

#include "app/websocket.hpp"
#include "net/coro.hpp"
#include "net/listener.hpp"
#include "net/socket_set.hpp"
#include "net/task_group.hpp"

namespace anytls::app {

using namespace asio::experimental::awaitable_operators;
using asio::ip::tcp;
namespace http = inbound::http;

namespace {

// A keep-alive connection may wait this long for its next request.
constexpr auto kIdleTimeout = std::chrono::seconds(60);
constexpr auto kWriteTimeout = std::chrono::seconds(30);
constexpr auto kStreamInterval = std::chrono::seconds(1);
constexpr auto kLogPoll = std::chrono::milliseconds(250);

std::string reason_of(int status) {
  switch (status) {
    case 101: return "Switching Protocols";
    case 200: return "OK";
    case 204: return "No Content";
    case 301: return "Moved Permanently";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 413: return "Payload Too Large";
    case 431: return "Request Header Fields Too Large";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    default: return "Status";
  }
}

std::string content_type_of(const std::filesystem::path& p) {
  auto ext = p.extension().string();
  if (ext == ".html" || ext == ".htm") return "text/html; charset=utf-8";
  if (ext == ".js" || ext == ".mjs") return "text/javascript; charset=utf-8";
  if (ext == ".css") return "text/css; charset=utf-8";
  if (ext == ".json" || ext == ".map" || ext == ".webmanifest") return "application/json";
  if (ext == ".svg") return "image/svg+xml";
  if (ext == ".png") return "image/png";
  if (ext == ".ico") return "image/x-icon";
  if (ext == ".woff2") return "font/woff2";
  if (ext == ".txt") return "text/plain; charset=utf-8";
  return "application/octet-stream";
}

}  // namespace

struct ClashServer::State {
  State(asio::io_context& io_, ClashApi& api_) : io(io_), api(api_), listener(io_), tasks(io_.get_executor(), "clash-api") {}
  asio::io_context& io;
  ClashApi& api;
  net::Listener listener;
  net::TaskGroup tasks;
  net::SocketSet conns{ClashServer::kMaxConnections};
  std::string start_error;
  // A request head and body, from its first byte (a new connection: from
  // the accept), must arrive within this, however it trickles.
  std::chrono::steady_clock::duration request_timeout = ClashServer::kRequestTimeout;
  bool stopped = false;
};

namespace {

using StatePtr = std::shared_ptr<ClashServer::State>;
using SocketPtr = std::shared_ptr<tcp::socket>;

asio::awaitable<net::ReadResult> read_until(tcp::socket& s, asio::mutable_buffer buf, net::Clock::time_point due) {
  if (std::chrono::steady_clock::now() >= due) co_return net::ReadResult{asio::error::timed_out, 0};
  auto r = co_await (s.async_read_some(buf, net::use_tuple) || net::sleep_until(due));
  if (r.index() != 0) co_return net::ReadResult{asio::error::timed_out, 0};
  auto [ec, n] = std::get<0>(r);
  co_return net::ReadResult{ec, n};
}

// bytes must stay alive until the write completes (callers pass named
// locals: GCC 12 rule 1 in docs/architecture.md).
asio::awaitable<std::error_code> write_for(tcp::socket& s, const std::string& bytes) {
  auto r = co_await (asio::async_write(s, asio::buffer(bytes), net::use_tuple) || net::sleep_for(kWriteTimeout));
  if (r.index() != 0) co_return asio::error::timed_out;
  auto [ec, n] = std::get<0>(r);
  co_return ec;
}

// CORS headers for this request's Origin (none when it is not allowed).
std::vector<std::pair<std::string, std::string>> cors(const config::ClashApiOptions& o, const http::RequestHead& req) {
  std::vector<std::pair<std::string, std::string>> h;
  auto origin = http::find_header(req.headers, "Origin");
  const auto& allowed = o.access_control_allow_origin;
  bool any = allowed.empty() || std::find(allowed.begin(), allowed.end(), "*") != allowed.end();
  if (any) {
    h.emplace_back("Access-Control-Allow-Origin", "*");
  } else if (origin && std::find(allowed.begin(), allowed.end(), *origin) != allowed.end()) {
    h.emplace_back("Access-Control-Allow-Origin", std::string(*origin));
    h.emplace_back("Vary", "Origin");
  }
  return h;
}

std::string head_bytes(int status, const std::vector<std::pair<std::string, std::string>>& headers,
                       std::optional<std::size_t> length, bool close) {
  std::string out = "HTTP/1.1 " + std::to_string(status) + " " + reason_of(status) + "\r\n";
  for (const auto& [k, v] : headers) out += k + ": " + v + "\r\n";
  if (length) out += "Content-Length: " + std::to_string(*length) + "\r\n";
  out += "Cache-Control: no-store\r\n";
  if (close) out += "Connection: close\r\n";
  out += "\r\n";
  return out;
}

std::string response_bytes(ClashResponse r, const std::vector<std::pair<std::string, std::string>>& extra, bool close,
                           bool head) {
  auto headers = extra;
  for (auto& h : r.headers) headers.push_back(std::move(h));
  bool has_type = false;
  for (const auto& [k, v] : headers) has_type = has_type || http::iequals(k, "Content-Type");
  if (!has_type && r.status != 204 && r.status != 101) headers.emplace_back("Content-Type", "application/json");
  std::string out = head_bytes(r.status, headers, r.status == 204 ? std::nullopt : std::optional(r.body.size()), close);
  if (!head) out += r.body;
  return out;
}

ClashResponse error_json(int status, std::string_view message) {
  ClashResponse r;
  r.status = status;
  r.body = "{\"message\":\"" + std::string(message) + "\"}";
  return r;
}

// ---- external_ui ----------------------------------------------------------------

// What GET /ui/... answers, from the external_ui directory: a whole
// response, or a head and a file to stream. Every segment was
// percent-decoded; "." and "..", and NUL, '/' or backslash in a name, are
// refused before the file system is asked, and the resolved file must still
// lie inside the directory (symbolic links out of it are refused too).
struct UiPlan {
  std::string head;  // or the whole response when file is empty
  std::filesystem::path file;
};

UiPlan plan_ui(const ClashApi& api, const Target& t, const std::vector<std::pair<std::string, std::string>>& extra,
               bool close, bool head) {
  namespace fs = std::filesystem;
  const auto& dir = api.options().external_ui;
  std::error_code fec;
  fs::path root = dir.empty() ? fs::path() : fs::canonical(dir, fec);
  if (dir.empty() || fec) return {response_bytes(error_json(404, "Resource not found"), extra, close, head), {}};
  if (t.segments.size() == 1 && t.path.back() != '/') {
    ClashResponse r;
    r.status = 301;
    r.headers.emplace_back("Location", "/ui/");
    return {response_bytes(r, extra, close, head), {}};
  }
  fs::path p = root;
  for (std::size_t i = 1; i < t.segments.size(); ++i) {
    const auto& seg = t.segments[i];
    if (seg == "." || seg == ".." || seg.find('\0') != std::string::npos || seg.find('\\') != std::string::npos ||
        seg.find('/') != std::string::npos)
      return {response_bytes(error_json(403, "Forbidden"), extra, close, head), {}};
    p /= seg;
  }
  if (fs::is_directory(p, fec)) p /= "index.html";
  fs::path real = fs::canonical(p, fec);
  auto rel = fec ? fs::path() : real.lexically_relative(root);
  if (fec || rel.empty() || *rel.begin() == ".." || !fs::is_regular_file(real, fec))
    return {response_bytes(error_json(404, "Resource not found"), extra, close, head), {}};
  auto size = fs::file_size(real, fec);
  if (fec) return {response_bytes(error_json(404, "Resource not found"), extra, close, head), {}};
  auto headers = extra;
  headers.emplace_back("Content-Type", content_type_of(real));
  return {head_bytes(200, headers, size, close), head ? fs::path() : real};
}

asio::awaitable<std::error_code> serve_ui(tcp::socket& s, const UiPlan& plan) {
  auto ec = co_await write_for(s, plan.head);
  if (ec || plan.file.empty()) co_return ec;
  // In 64 KiB pieces: a dashboard's bundle does not sit in memory per client.
  std::ifstream in(plan.file, std::ios::binary);
  std::string chunk;
  while (in) {
    chunk.resize(64 * 1024);
    in.read(chunk.data(), static_cast<std::streamsize>(chunk.size()));
    chunk.resize(static_cast<std::size_t>(in.gcount()));
    if (chunk.empty()) break;
    ec = co_await write_for(s, chunk);
    if (ec) co_return ec;
  }
  co_return std::error_code{};
}

// ---- streams ----------------------------------------------------------------------

enum class Stream { traffic, memory, logs, connections };

struct StreamCtx {
  Stream kind;
  bool ws;
  std::chrono::milliseconds interval{kStreamInterval};
  spdlog::level::level_enum level = spdlog::level::info;
};

// A WebSocket text frame, or one HTTP chunk (newline-terminated, as Clash
// streams them).
std::string stream_item(bool ws, const std::string& json) {
  if (ws) return ws::encode_frame(ws::Opcode::text, json);
  std::string body = json + "\n";
  return fmt::format("{:x}\r\n{}\r\n", body.size(), body);
}

asio::awaitable<void> produce(StatePtr st, SocketPtr s, StreamCtx c) {
  auto& api = st->api;
  std::uint64_t last_up = api.total_upload(), last_down = api.total_download();
  std::uint64_t log_after = api.logs() ? api.logs()->last_seq() : 0;
  bool first = true;
  while (!st->stopped) {
    std::vector<std::string> items;
    switch (c.kind) {
      case Stream::traffic: {
        auto up = api.total_upload(), down = api.total_download();
        // Bytes per second over the last interval; the first sample is 0, 0.
        items.push_back(api.traffic_sample(first ? 0 : up - last_up, first ? 0 : down - last_down));
        last_up = up;
        last_down = down;
        break;
      }
      case Stream::memory:
        items.push_back(api.memory_sample());
        break;
      case Stream::connections:
        items.push_back(api.connections_json());
        break;
      case Stream::logs:
        if (api.logs())
          for (const auto& l : api.logs()->since(log_after, c.level, log_after)) items.push_back(api.log_json(l));
        break;
    }
    first = false;
    for (const auto& item : items) {
      const std::string bytes = stream_item(c.ws, item);
      auto ec = co_await write_for(*s, bytes);
      if (ec) co_return;
    }
    const net::Clock::duration pause = c.kind == Stream::logs ? kLogPoll : c.interval;
    bool slept = co_await net::sleep_for(pause);
    if (!slept) co_return;
  }
}

// Reads from the client while a stream runs: ends on EOF, an error, a
// WebSocket close frame or a frame too large. Ping frames are answered
// by... nothing: browsers do not send them, and a second writer would
// interleave with the stream's; the close ends the stream.
asio::awaitable<void> watch(SocketPtr s, bool ws) {
  std::string in;
  char buf[1024];
  for (;;) {
    auto [ec, n] = co_await s->async_read_some(asio::buffer(buf), net::use_tuple);
    if (ec || n == 0) co_return;
    if (!ws) continue;  // a plain HTTP client has nothing to say mid-stream
    in.append(buf, n);
    for (;;) {
      ws::Frame f;
      std::size_t used = 0;
      auto r = ws::parse_frame(in, ClashServer::kMaxFrame, f, used);
      if (r == ws::Parse::need_more) {
        if (in.size() > ClashServer::kMaxFrame + 16) co_return;
        break;
      }
      if (r != ws::Parse::ok || f.opcode == ws::Opcode::close) co_return;
      in.erase(0, used);
    }
  }
}

std::string stream_end(bool ws) {
  return ws ? ws::encode_frame(ws::Opcode::close, std::string("\x03\xe8", 2)) : std::string("0\r\n\r\n");
}

asio::awaitable<void> stream(StatePtr st, SocketPtr s, StreamCtx c, std::string head) {
  auto ec = co_await write_for(*s, head);
  if (ec) co_return;
  auto producer = produce(st, s, c);
  auto watcher = watch(s, c.ws);
  co_await (std::move(producer) || std::move(watcher));
  const std::string end = stream_end(c.ws);
  (void)co_await write_for(*s, end);
}

std::optional<Stream> stream_kind(const Target& t) {
  if (t.segments.size() != 1) return std::nullopt;
  const auto& s = t.segments[0];
  if (s == "traffic") return Stream::traffic;
  if (s == "memory") return Stream::memory;
  if (s == "logs") return Stream::logs;
  if (s == "connections") return Stream::connections;
  return std::nullopt;
}

// ---- one connection -------------------------------------------------------------------

// What to do with one request, decided without I/O.
struct Action {
  enum Kind { respond, ui, stream, api } kind = respond;
  std::string bytes;  // respond: the response; stream: the 101 / chunked head
  bool close = false;
  bool head = false;
  bool authorised = false;  // the secret was shown (the connection is no longer evicted first)
  UiPlan plan;
  StreamCtx ctx{Stream::traffic, false};
  std::vector<std::pair<std::string, std::string>> extra;  // CORS
};

Action refuse(int status, std::string_view text, const std::vector<std::pair<std::string, std::string>>& extra = {}) {
  Action a;
  a.bytes = response_bytes(error_json(status, text), extra, true, false);
  a.close = true;
  return a;
}

Action decide(const ClashApi& api, const http::RequestHead& req, const Target& t) {
  Action a;
  a.close = !http::wants_keep_alive(req);
  a.head = req.method == "HEAD";
  a.extra = cors(api.options(), req);
  if (!t.valid) return refuse(400, "bad request target", a.extra);
  if (req.method == "OPTIONS") {
    // CORS preflight: browsers send it without credentials.
    ClashResponse r;
    r.status = 204;
    r.headers.emplace_back("Access-Control-Allow-Methods", "GET, POST, PUT, PATCH, DELETE");
    r.headers.emplace_back("Access-Control-Allow-Headers", "Content-Type, Authorization");
    r.headers.emplace_back("Access-Control-Max-Age", "300");
    if (api.options().access_control_allow_private_network &&
        http::find_header(req.headers, "Access-Control-Request-Private-Network"))
      r.headers.emplace_back("Access-Control-Allow-Private-Network", "true");
    a.bytes = response_bytes(std::move(r), a.extra, a.close, false);
    return a;
  }
  if (!t.segments.empty() && t.segments[0] == "ui" && (req.method == "GET" || a.head)) {
    a.kind = Action::ui;
    a.plan = plan_ui(api, t, a.extra, a.close, a.head);
    return a;
  }
  if (!api.authorised(req, t)) {
    // Closed after the answer: a client without the secret does not keep
    // a connection.
    auto r = error_json(401, "Unauthorized");
    r.headers.emplace_back("WWW-Authenticate", "Bearer");
    a.close = true;
    a.bytes = response_bytes(std::move(r), a.extra, a.close, false);
    return a;
  }
  a.authorised = true;
  auto kind = stream_kind(t);
  const bool upgrade = http::is_upgrade(req) && http::has_token(req.headers, "Upgrade", "websocket");
  if (!kind || req.method != "GET" || (!upgrade && *kind == Stream::connections)) {
    a.kind = Action::api;
    return a;
  }
  a.kind = Action::stream;
  a.close = true;  // a stream ends its connection
  a.ctx = StreamCtx{*kind, upgrade};
  if (auto it = t.query.find("interval"); it != t.query.end()) {
    unsigned ms = 0;
    for (char ch : it->second)
      if (ch >= '0' && ch <= '9' && ms < 3'600'000) ms = ms * 10 + static_cast<unsigned>(ch - '0');
    a.ctx.interval = std::chrono::milliseconds(std::clamp(ms, 100u, 3'600'000u));
  }
  if (auto it = t.query.find("level"); it != t.query.end()) a.ctx.level = clash_log_level(it->second);
  auto headers = a.extra;
  if (upgrade) {
    auto key = http::find_header(req.headers, "Sec-WebSocket-Key");
    if (!key) return refuse(400, "Sec-WebSocket-Key missing", a.extra);
    headers.emplace_back("Upgrade", "websocket");
    headers.emplace_back("Connection", "Upgrade");
    headers.emplace_back("Sec-WebSocket-Accept", ws::accept_key(*key));
    a.bytes = "HTTP/1.1 101 Switching Protocols\r\n";
    for (const auto& [k, v] : headers) a.bytes += k + ": " + v + "\r\n";
    a.bytes += "\r\n";
  } else {
    headers.emplace_back("Content-Type", "application/json");
    headers.emplace_back("Transfer-Encoding", "chunked");
    a.bytes = head_bytes(200, headers, std::nullopt, true);
  }
  return a;
}

// Reads one request (head and Content-Length body) into req/body. An
// Action::respond with close set when the request is refused; nullopt when
// the client went away or stayed silent.
struct Request {
  http::RequestHead head;
  std::string body;
  std::optional<Action> refused;
};

std::optional<Action> check_framing(const http::RequestHead& req, std::uint64_t& length) {
  auto framing = http::request_framing(req);
  // By Content-Length only: no client of this API chunks a body.
  if (!framing || framing->kind == http::Framing::chunked || framing->kind == http::Framing::until_close)
    return refuse(400, "bad request framing");
  length = framing->kind == http::Framing::length ? framing->content_length : 0;
  if (length > ClashServer::kMaxBody) return refuse(413, "body too large");
  return std::nullopt;
}

// first: the connection's first request (its time counts from the accept).
asio::awaitable<std::optional<Request>> read_request(StatePtr st, SocketPtr s, std::string& in, bool first) {
  std::vector<char> buf(4096);
  // Keep-alive: the next request may be a while; its time starts with its
  // first byte.
  bool awaiting_next = in.empty() && !first;
  auto due = std::chrono::steady_clock::now() + (awaiting_next ? net::Clock::duration(kIdleTimeout) : st->request_timeout);
  auto parsed = http::parse_request_head(in, ClashServer::kMaxHead);
  while (parsed.status == http::Status::need_more) {
    auto [ec, n] = co_await read_until(*s, asio::buffer(buf), due);
    if (ec || st->stopped) co_return std::nullopt;
    if (awaiting_next) {
      awaiting_next = false;
      due = std::chrono::steady_clock::now() + st->request_timeout;
    }
    in.append(buf.data(), n);
    parsed = http::parse_request_head(in, ClashServer::kMaxHead);
  }
  Request r;
  if (parsed.status != http::Status::ok) {
    r.refused = refuse(parsed.status == http::Status::too_large ? 431 : 400, "bad request");
    co_return r;
  }
  r.head = std::move(parsed.value);
  in.erase(0, parsed.consumed);
  std::uint64_t length = 0;
  r.refused = check_framing(r.head, length);
  if (r.refused) co_return r;
  while (in.size() < length) {
    auto [ec, n] = co_await read_until(*s, asio::buffer(buf), due);
    if (ec || st->stopped) co_return std::nullopt;
    in.append(buf.data(), n);
  }
  r.body = in.substr(0, length);
  in.erase(0, length);
  co_return r;
}

asio::awaitable<void> serve_connection(StatePtr st, SocketPtr s) {
  std::string in;
  auto& api = st->api;
  bool first = true, authorised = false;
  while (!st->stopped) {
    auto request = co_await read_request(st, s, in, first);
    first = false;
    if (!request) break;
    Target t = parse_target(request->head.target);
    Action a = request->refused ? std::move(*request->refused) : decide(api, request->head, t);
    authorised = authorised || a.authorised;
    if (a.authorised) st->conns.mark(*s, net::SocketSet::Use::active);
    std::error_code ec;
    switch (a.kind) {
      case Action::respond:
        ec = co_await write_for(*s, a.bytes);
        break;
      case Action::ui:
        ec = co_await serve_ui(*s, a.plan);
        break;
      case Action::stream:
        co_await stream(st, s, a.ctx, a.bytes);
        break;
      case Action::api: {
        auto r = co_await api.handle(request->head, t, request->body);
        const std::string bytes = response_bytes(std::move(r), a.extra, a.close, a.head);
        ec = co_await write_for(*s, bytes);
        break;
      }
    }
    if (ec || a.close) break;
    st->conns.mark(*s, authorised ? net::SocketSet::Use::idle : net::SocketSet::Use::pending);
  }
  std::error_code ig;
  s->shutdown(tcp::socket::shutdown_send, ig);
  s->close(ig);
}

void admit(const StatePtr& st, tcp::socket socket) {
  auto s = st->conns.admit(std::move(socket));
  if (!s) {
    spdlog::debug("clash-api: {} connections serving authorised requests, refusing another", st->conns.limit());
    return;
  }
  st->tasks.spawn(serve_connection(st, s), "clash-api connection");
}

}  // namespace

ClashServer::ClashServer(asio::io_context& io, ClashApi& api) : st_(std::make_shared<State>(io, api)) {}

ClashServer::~ClashServer() { stop(); }

std::error_code ClashServer::start() {
  const auto& o = st_->api.options();
  net::ListenConfig lc;
  lc.listen = o.listen;
  lc.listen_port = o.listen_port;
  if (auto ec = st_->listener.open(lc)) {
    st_->start_error = fmt::format("listen {}:{}: {}", o.listen, o.listen_port, ec.message());
    return ec;
  }
  auto ep = st_->listener.local_endpoint();
  spdlog::info("clash-api: restful api listening at {}:{}{}", ep.address().to_string(), ep.port(),
               o.secret.empty() ? "" : " (secret required)");
  if (!ep.address().is_loopback() && o.secret.empty())
    spdlog::warn("clash-api: listening on a non-loopback address without a secret: anyone who can reach it can "
                 "switch your proxies and see your connections");
  std::function<void(tcp::socket)> on_accept = [st = st_](tcp::socket socket) { admit(st, std::move(socket)); };
  st_->tasks.spawn(net::accept_loop(st_->listener, std::move(on_accept), "clash-api"), "accept loop");
  return {};
}

void ClashServer::stop() {
  if (st_->stopped) return;
  st_->stopped = true;
  st_->listener.close();
  st_->tasks.cancel();
  st_->conns.close_all();
}

asio::awaitable<void> ClashServer::join() {
  auto st = st_;
  co_await st->tasks.join();
}

void ClashServer::set_request_timeout(std::chrono::steady_clock::duration d) { st_->request_timeout = d; }
std::size_t ClashServer::evictions() const { return st_->conns.evictions(); }

std::uint16_t ClashServer::port() const { return st_->listener.port(); }
const std::string& ClashServer::start_error() const { return st_->start_error; }

}  // namespace anytls::app
