#include "app/clash_server.hpp"

#include <filesystem>
#include <fstream>

#include <asio/experimental/awaitable_operators.hpp>
#include <spdlog/spdlog.h>

#include "http/server.hpp"
#include "http/websocket.hpp"
#include "net/coro.hpp"

namespace anytls::app {

using namespace asio::experimental::awaitable_operators;

namespace {

// A keep-alive connection may wait this long for its next request.
constexpr auto kIdleTimeout = std::chrono::seconds(60);
constexpr auto kStreamInterval = std::chrono::seconds(1);
constexpr auto kLogPoll = std::chrono::milliseconds(250);

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
  State(asio::io_context& io, ClashApi& a, http::Server::Handler h, http::Server::Refuse r)
      : api(a), server(io, "clash-api", limits(), std::move(h), std::move(r)) {}
  static http::ServerLimits limits() {
    http::ServerLimits l;
    l.max_connections = ClashServer::kMaxConnections;
    l.max_head = ClashServer::kMaxHead;
    l.max_body = ClashServer::kMaxBody;
    l.request_timeout = ClashServer::kRequestTimeout;
    l.idle_timeout = kIdleTimeout;
    return l;
  }
  ClashApi& api;
  http::Server server;
  std::string start_error;
};

namespace {

using Fields = http::Fields;

// CORS fields for this request's Origin (none when it is not allowed).
Fields cors(const config::ClashApiOptions& o, const http::RequestHead& req) {
  Fields h;
  auto origin = req.field("Origin");
  const auto& allowed = o.access_control_allow_origin;
  bool any = allowed.empty() || std::find(allowed.begin(), allowed.end(), "*") != allowed.end();
  if (any) {
    h.push_back({"Access-Control-Allow-Origin", "*"});
  } else if (origin && std::find(allowed.begin(), allowed.end(), *origin) != allowed.end()) {
    h.push_back({"Access-Control-Allow-Origin", std::string(*origin)});
    h.push_back({"Vary", "Origin"});
  }
  return h;
}

// A whole response: the CORS fields, the API's, a JSON Content-Type unless
// one is given, the length and no caching.
http::Response to_http(ClashResponse r, const Fields& extra) {
  http::Response out;
  out.status = r.status;
  out.fields = extra;
  bool has_type = false;
  for (auto& [k, v] : r.headers) {
    has_type = has_type || http::iequals(k, "Content-Type");
    out.fields.push_back({std::move(k), std::move(v)});
  }
  if (!has_type && r.status != 204) out.fields.push_back({"Content-Type", "application/json"});
  if (r.status != 204) out.fields.push_back({"Content-Length", std::to_string(r.body.size())});
  out.fields.push_back({"Cache-Control", "no-store"});
  out.body = std::move(r.body);
  return out;
}

ClashResponse error_json(int status, std::string_view message) {
  ClashResponse r;
  r.status = status;
  r.body = "{\"message\":\"" + std::string(message) + "\"}";
  return r;
}

http::Response refuse(int status, std::string_view text, const Fields& extra = {}) {
  auto r = to_http(error_json(status, text), extra);
  r.close = true;
  return r;
}

// ---- external_ui ----------------------------------------------------------------

// What GET /ui/... answers, from the external_ui directory: a whole
// response, or a file to send after a head. Every segment was
// percent-decoded; "." and "..", and NUL, '/' or backslash in a name, are
// refused before the file system is asked, and the resolved file must still
// lie inside the directory (symbolic links out of it are refused too).
struct UiPlan {
  http::Response response;    // the whole answer when file is empty
  std::filesystem::path file;
  std::uintmax_t size = 0;
};

UiPlan plan_ui(const ClashApi& api, const Target& t, const Fields& extra) {
  namespace fs = std::filesystem;
  const auto& dir = api.options().external_ui;
  std::error_code fec;
  fs::path root = dir.empty() ? fs::path() : fs::canonical(dir, fec);
  if (dir.empty() || fec) return {to_http(error_json(404, "Resource not found"), extra), {}};
  if (t.segments.size() == 1 && t.path.back() != '/') {
    ClashResponse r;
    r.status = 301;
    r.headers.emplace_back("Location", "/ui/");
    return {to_http(std::move(r), extra), {}};
  }
  fs::path p = root;
  for (std::size_t i = 1; i < t.segments.size(); ++i) {
    const auto& seg = t.segments[i];
    if (seg == "." || seg == ".." || seg.find('\0') != std::string::npos || seg.find('\\') != std::string::npos ||
        seg.find('/') != std::string::npos)
      return {to_http(error_json(403, "Forbidden"), extra), {}};
    p /= seg;
  }
  if (fs::is_directory(p, fec)) p /= "index.html";
  fs::path real = fs::canonical(p, fec);
  auto rel = fec ? fs::path() : real.lexically_relative(root);
  if (fec || rel.empty() || *rel.begin() == ".." || !fs::is_regular_file(real, fec))
    return {to_http(error_json(404, "Resource not found"), extra), {}};
  auto size = fs::file_size(real, fec);
  if (fec) return {to_http(error_json(404, "Resource not found"), extra), {}};
  UiPlan plan;
  plan.response.fields = extra;
  plan.response.fields.push_back({"Content-Type", content_type_of(real)});
  plan.response.fields.push_back({"Content-Length", std::to_string(size)});
  plan.response.fields.push_back({"Cache-Control", "no-store"});
  plan.file = real;
  plan.size = size;
  return plan;
}

asio::awaitable<std::error_code> serve_ui(http::Connection& c, UiPlan& plan, bool head_only) {
  plan.response.close = !c.keep_alive();
  const std::string head = http::serialize_head(plan.response);
  auto ec = co_await c.write(head);
  if (ec || head_only) co_return ec;
  // In 64 KiB pieces: a dashboard's bundle does not sit in memory per client.
  std::ifstream in(plan.file, std::ios::binary);
  std::string piece;
  while (in) {
    piece.resize(64 * 1024);
    in.read(piece.data(), static_cast<std::streamsize>(piece.size()));
    piece.resize(static_cast<std::size_t>(in.gcount()));
    if (piece.empty()) break;
    ec = co_await c.write(piece);
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
  if (ws) return http::ws::encode_frame(http::ws::Opcode::text, json);
  return http::chunk(json + "\n");
}

asio::awaitable<void> produce(ClashApi& api, http::Connection& c, StreamCtx ctx) {
  std::uint64_t last_up = api.total_upload(), last_down = api.total_download();
  std::uint64_t log_after = api.logs() ? api.logs()->last_seq() : 0;
  bool first = true;
  while (!c.stopped()) {
    std::vector<std::string> items;
    switch (ctx.kind) {
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
          for (const auto& l : api.logs()->since(log_after, ctx.level, log_after)) items.push_back(api.log_json(l));
        break;
    }
    first = false;
    for (const auto& item : items) {
      const std::string bytes = stream_item(ctx.ws, item);
      auto ec = co_await c.write(bytes);
      if (ec) co_return;
    }
    const net::Clock::duration pause = ctx.kind == Stream::logs ? kLogPoll : ctx.interval;
    bool slept = co_await net::sleep_for(pause);
    if (!slept) co_return;
  }
}

// Reads from the client while a stream runs: ends on EOF, an error, a
// WebSocket close frame or a frame too large. Ping frames are answered
// by... nothing: browsers do not send them, and a second writer would
// interleave with the stream's; the close ends the stream.
asio::awaitable<void> watch(std::shared_ptr<asio::ip::tcp::socket> s, bool ws) {
  std::string in;
  char buf[1024];
  for (;;) {
    auto [ec, n] = co_await s->async_read_some(asio::buffer(buf), net::use_tuple);
    if (ec || n == 0) co_return;
    if (!ws) continue;  // a plain HTTP client has nothing to say mid-stream
    in.append(buf, n);
    for (;;) {
      http::ws::Frame f;
      std::size_t used = 0;
      auto r = http::ws::parse_frame(in, ClashServer::kMaxFrame, f, used);
      if (r == http::ws::Parse::need_more) {
        if (in.size() > ClashServer::kMaxFrame + 16) co_return;
        break;
      }
      if (r != http::ws::Parse::ok || f.opcode == http::ws::Opcode::close) co_return;
      in.erase(0, used);
    }
  }
}

std::string stream_end(bool ws) {
  return ws ? http::ws::encode_frame(http::ws::Opcode::close, std::string("\x03\xe8", 2)) : http::last_chunk();
}

asio::awaitable<void> stream(ClashApi& api, http::Connection& c, StreamCtx ctx, std::string head) {
  auto ec = co_await c.write(head);
  if (ec) co_return;
  auto producer = produce(api, c, ctx);
  auto watcher = watch(c.socket(), ctx.ws);
  co_await (std::move(producer) || std::move(watcher));
  const std::string end = stream_end(ctx.ws);
  (void)co_await c.write(end);
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

// ---- one request -------------------------------------------------------------------

// What to do with one request, decided without I/O.
struct Action {
  enum Kind { respond, ui, stream, api } kind = respond;
  http::Response response;  // respond: the answer; stream: the 101 / chunked head
  bool authorised = false;  // the secret was shown (the connection is no longer evicted first)
  UiPlan plan;
  StreamCtx ctx{Stream::traffic, false};
  Fields extra;  // CORS
};

Action respond(http::Response r) {
  Action a;
  a.response = std::move(r);
  return a;
}

Action decide(const ClashApi& api, const http::RequestHead& req, const Target& t) {
  Action a;
  a.extra = cors(api.options(), req);
  if (!t.valid) return respond(refuse(400, "bad request target", a.extra));
  if (req.method == "OPTIONS") {
    // CORS preflight: browsers send it without credentials.
    ClashResponse r;
    r.status = 204;
    r.headers.emplace_back("Access-Control-Allow-Methods", "GET, POST, PUT, PATCH, DELETE");
    r.headers.emplace_back("Access-Control-Allow-Headers", "Content-Type, Authorization");
    r.headers.emplace_back("Access-Control-Max-Age", "300");
    if (api.options().access_control_allow_private_network && req.field("Access-Control-Request-Private-Network"))
      r.headers.emplace_back("Access-Control-Allow-Private-Network", "true");
    a.response = to_http(std::move(r), a.extra);
    return a;
  }
  if (!t.segments.empty() && t.segments[0] == "ui" && (req.method == "GET" || req.method == "HEAD")) {
    a.plan = plan_ui(api, t, a.extra);
    if (a.plan.file.empty()) return respond(std::move(a.plan.response));
    a.kind = Action::ui;
    return a;
  }
  if (!api.authorised(req, t)) {
    // Closed after the answer: a client without the secret does not keep
    // a connection.
    auto r = error_json(401, "Unauthorized");
    r.headers.emplace_back("WWW-Authenticate", "Bearer");
    a.response = to_http(std::move(r), a.extra);
    a.response.close = true;
    return a;
  }
  a.authorised = true;
  auto kind = stream_kind(t);
  const bool upgrade = req.upgrade() && req.has_token("Upgrade", "websocket");
  if (!kind || req.method != "GET" || (!upgrade && *kind == Stream::connections)) {
    a.kind = Action::api;
    return a;
  }
  a.kind = Action::stream;
  a.ctx = StreamCtx{*kind, upgrade};
  if (auto it = t.query.find("interval"); it != t.query.end()) {
    unsigned ms = 0;
    for (char ch : it->second)
      if (ch >= '0' && ch <= '9' && ms < 3'600'000) ms = ms * 10 + static_cast<unsigned>(ch - '0');
    a.ctx.interval = std::chrono::milliseconds(std::clamp(ms, 100u, 3'600'000u));
  }
  if (auto it = t.query.find("level"); it != t.query.end()) a.ctx.level = clash_log_level(it->second);
  a.response.fields = a.extra;
  if (upgrade) {
    auto key = req.field("Sec-WebSocket-Key");
    if (!key) {
      a.kind = Action::respond;
      a.response = refuse(400, "Sec-WebSocket-Key missing", a.extra);
      return a;
    }
    a.response.status = 101;
    a.response.fields.push_back({"Upgrade", "websocket"});
    a.response.fields.push_back({"Connection", "Upgrade"});
    a.response.fields.push_back({"Sec-WebSocket-Accept", http::ws::accept_key(*key)});
  } else {
    a.response.fields.push_back({"Content-Type", "application/json"});
    a.response.fields.push_back({"Transfer-Encoding", "chunked"});
    a.response.fields.push_back({"Cache-Control", "no-store"});
    a.response.close = true;  // a stream ends its connection
  }
  return a;
}

asio::awaitable<std::optional<http::Response>> answer(ClashApi* api, http::IncomingRequest& req, http::Connection& c) {
  const Target t = parse_target(req.head.target);
  Action a = decide(*api, req.head, t);
  if (a.authorised) c.authorised();
  std::optional<http::Response> out;
  switch (a.kind) {
    case Action::respond:
      out = std::move(a.response);
      break;
    case Action::ui: {
      const bool head_only = req.head.method == "HEAD";
      auto ec = co_await serve_ui(c, a.plan, head_only);
      if (ec) c.close_after();
      break;
    }
    case Action::stream: {
      c.close_after();  // a stream ends its connection
      const std::string head = http::serialize_head(a.response);
      co_await stream(*api, c, a.ctx, head);
      break;
    }
    case Action::api: {
      auto r = co_await api->handle(req.head, t, req.body);
      out = to_http(std::move(r), a.extra);
      break;
    }
  }
  co_return out;
}

http::Response refusal(http::Refusal why) {
  switch (why) {
    case http::Refusal::head_too_large:
      return refuse(431, "bad request");
    case http::Refusal::bad_framing:
      return refuse(400, "bad request framing");
    case http::Refusal::body_too_large:
      return refuse(413, "body too large");
    case http::Refusal::bad_request:
      break;
  }
  return refuse(400, "bad request");
}

}  // namespace

ClashServer::ClashServer(asio::io_context& io, ClashApi& api) {
  http::Server::Handler handler = [p = &api](http::IncomingRequest& req, http::Connection& c) { return answer(p, req, c); };
  st_ = std::make_shared<State>(io, api, std::move(handler), http::Server::Refuse(refusal));
}

ClashServer::~ClashServer() { stop(); }

std::error_code ClashServer::start() {
  const auto& o = st_->api.options();
  net::ListenConfig lc;
  lc.listen = o.listen;
  lc.listen_port = o.listen_port;
  if (auto ec = st_->server.listen(lc)) {
    st_->start_error = fmt::format("listen {}:{}: {}", o.listen, o.listen_port, ec.message());
    return ec;
  }
  auto ep = st_->server.local_endpoint();
  spdlog::info("clash-api: restful api listening at {}:{}{}", ep.address().to_string(), ep.port(),
               o.secret.empty() ? "" : " (secret required)");
  if (!ep.address().is_loopback() && o.secret.empty())
    spdlog::warn("clash-api: listening on a non-loopback address without a secret: anyone who can reach it can "
                 "switch your proxies and see your connections");
  return {};
}

void ClashServer::stop() { st_->server.stop(); }

asio::awaitable<void> ClashServer::join() {
  auto st = st_;
  co_await st->server.join();
}

void ClashServer::set_request_timeout(std::chrono::steady_clock::duration d) { st_->server.set_request_timeout(d); }
std::size_t ClashServer::evictions() const { return st_->server.evictions(); }

std::uint16_t ClashServer::port() const { return st_->server.port(); }
const std::string& ClashServer::start_error() const { return st_->start_error; }

}  // namespace anytls::app
