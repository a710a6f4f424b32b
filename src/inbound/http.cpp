#include "inbound/http.hpp"

#include <chrono>

#include <asio/error.hpp>
#include <asio/experimental/awaitable_operators.hpp>
#include <spdlog/spdlog.h>

#include "net/coro.hpp"

#include "http/response.hpp"
#include "http/proxy_codec.hpp"

namespace anytls::inbound {
namespace proxy = anytls::http::proxy;

namespace {


// (Messages are built into named locals before co_await: GCC 12 rule 1 of
// docs/architecture.md.)

// The proxy's own answers, written by http/response (the standard reason
// phrases included).
std::string connect_established() {
  anytls::http::Response r;
  r.reason = "Connection established";
  return anytls::http::serialize_head(r);  // no Content-Length: a tunnel follows
}

asio::awaitable<std::error_code> send(net::Conn& c, std::string_view bytes) {
  co_return co_await c.write(asio::buffer(bytes.data(), bytes.size()));
}

// authenticate: a 407 names the scheme it wants.
asio::awaitable<std::error_code> send_error(Session& s, int status, bool close, bool authenticate = false,
                                            std::string_view body = {}) {
  anytls::http::Response r;
  r.status = status;
  if (authenticate) r.fields.push_back({"Proxy-Authenticate", "Basic realm=\"anytls\""});
  r.body.assign(body);
  r.close = close;
  const std::string text = anytls::http::serialize(r);
  co_return co_await send(s.client(), text);
}

void log_request_error(Session& s, std::string_view why) {
  spdlog::debug("{}: connection from {}: http: {}", s.ctx().log_name(), endpoint_string(s.source()), why);
}

// Copies one message body from `buf`/`src` to `dst` as framed by f. Bytes
// are written straight from the read buffer. until_close ends cleanly at
// EOF; a short body is an error.
asio::awaitable<std::error_code> forward_body(StreamBuffer& buf, net::Conn& src, net::Conn& dst, proxy::Framing f,
                                              std::uint64_t& counter) {
  switch (f.kind) {
    case proxy::Framing::none:
      co_return std::error_code{};
    case proxy::Framing::length: {
      std::uint64_t remaining = f.content_length;
      while (remaining > 0) {
        if (buf.empty()) {
          if (auto ec = co_await buf.fill(src)) co_return ec;
        }
        std::size_t take = static_cast<std::size_t>(std::min<std::uint64_t>(remaining, buf.size()));
        if (auto ec = co_await dst.write(asio::buffer(buf.data().data(), take))) co_return ec;
        buf.consume(take);
        remaining -= take;
        counter += take;
      }
      co_return std::error_code{};
    }
    case proxy::Framing::chunked: {
      proxy::ChunkedTracker tracker;
      while (!tracker.done()) {
        if (buf.empty()) {
          if (auto ec = co_await buf.fill(src)) co_return ec;
        }
        std::size_t take = tracker.feed(buf.view());
        if (tracker.failed()) co_return asio::error::invalid_argument;
        if (auto ec = co_await dst.write(asio::buffer(buf.data().data(), take))) co_return ec;
        buf.consume(take);
        counter += take;
      }
      co_return std::error_code{};
    }
    case proxy::Framing::until_close:
      for (;;) {
        if (buf.empty()) {
          auto ec = co_await buf.fill(src);
          if (ec == asio::error::eof) co_return std::error_code{};
          if (ec) co_return ec;
        }
        if (auto ec = co_await dst.write(asio::buffer(buf.data().data(), buf.size()))) co_return ec;
        counter += buf.size();
        buf.clear();
      }
  }
  co_return std::error_code{};
}

// One plain request in flight: request body up, response down, at once (a
// client may wait for "100 Continue" before sending its body).
struct Exchange {
  Session& session;
  StreamBuffer& client_in;
  StreamBuffer& upstream_in;
  net::Conn& upstream;
  const proxy::RequestHead& request;
  proxy::Framing request_framing;
  bool client_keep_alive = false;

  Exchange(Session& s, StreamBuffer& cin, StreamBuffer& uin, net::Conn& up_conn, const proxy::RequestHead& req,
           proxy::Framing framing, bool keep)
      : session(s), client_in(cin), upstream_in(uin), upstream(up_conn), request(req), request_framing(framing),
        client_keep_alive(keep) {}

  std::uint64_t up = 0;
  std::uint64_t down = 0;
  bool response_started = false;  // bytes of the response reached the client
  bool keep_alive = false;        // the client connection may carry another request
  bool upgraded = false;          // 101: the connection is now a tunnel
  bool failed = false;
  std::error_code error;

  void fail(const std::error_code& ec) {
    if (!failed) error = ec;
    failed = true;
    upstream.close();
    session.close();
  }
};

asio::awaitable<void> send_request_body(std::shared_ptr<Session> s, Exchange& x) {
  auto ec = co_await forward_body(x.client_in, s->client(), x.upstream, x.request_framing, x.up);
  if (ec && !x.failed) x.fail(ec);
}

asio::awaitable<void> receive_response(std::shared_ptr<Session> s, Exchange& x) {
  for (;;) {
    proxy::Parsed<proxy::ResponseHead> p;
    for (;;) {
      p = proxy::parse_response_head(x.upstream_in.view());
      if (p.status != proxy::Status::need_more) break;
      auto ec = co_await x.upstream_in.fill(x.upstream);
      if (x.failed) co_return;
      if (ec) {
        if (!x.response_started) co_await send_error(*s, 502, true);
        x.fail(ec);
        co_return;
      }
    }
    if (p.status != proxy::Status::ok) {
      if (!x.response_started) co_await send_error(*s, 502, true);
      x.fail(asio::error::invalid_argument);
      co_return;
    }
    x.upstream_in.consume(p.consumed);
    const proxy::ResponseHead& resp = p.value;
    if (resp.status >= 100 && resp.status < 200 && resp.status != 101) {
      // Interim responses (100 Continue, 103): pass on to HTTP/1.1 clients.
      if (x.request.version_minor >= 1) {
        auto head = proxy::forward_response_head(resp, true, 1);
        x.response_started = true;
        if (auto ec = co_await send(s->client(), head)) {
          x.fail(ec);
          co_return;
        }
      }
      continue;
    }
    if (resp.status == 101) {
      if (!proxy::is_upgrade(x.request)) {
        if (!x.response_started) co_await send_error(*s, 502, true);
        x.fail(asio::error::invalid_argument);
        co_return;
      }
      auto head = proxy::forward_response_head(resp, true, x.request.version_minor);
      x.response_started = true;
      if (auto ec = co_await send(s->client(), head)) {
        x.fail(ec);
        co_return;
      }
      x.upgraded = true;
      co_return;
    }
    auto framing = proxy::response_framing(resp, x.request.method);
    if (!framing) {
      if (!x.response_started) co_await send_error(*s, 502, true);
      x.fail(asio::error::invalid_argument);
      co_return;
    }
    x.keep_alive = x.client_keep_alive && framing->kind != proxy::Framing::until_close;
    auto head = proxy::forward_response_head(resp, x.keep_alive, x.request.version_minor);
    x.response_started = true;
    if (auto ec = co_await send(s->client(), head)) {
      x.fail(ec);
      co_return;
    }
    auto ec = co_await forward_body(x.upstream_in, x.upstream, s->client(), *framing, x.down);
    if (ec && !x.failed) x.fail(ec);
    co_return;
  }
}

asio::awaitable<void> http_connect(std::shared_ptr<Session> s, StreamBuffer& in, const proxy::RequestHead& req) {
  auto destination = proxy::parse_authority(req.target, std::nullopt);
  if (!destination) {
    log_request_error(*s, "bad CONNECT target \"" + req.target + "\"");
    co_await send_error(*s, 400, true);
    co_return;
  }
  auto md = s->metadata(outbound::Network::tcp, std::move(*destination));
  // A sniff rule answers 200 first to read the client's first bytes.
  const std::string established = connect_established();
  std::vector<std::uint8_t> established_bytes(established.begin(), established.end());
  SessionPeek peek(*s, in, std::move(established_bytes));
  auto dialed = co_await connect(s->ctx().router, md, &peek);
  if (s->closed()) co_return;
  if (!dialed) {
    if (dialed.error().code == make_error_code(DispatchError::dropped)) {
      co_await hold_silently(*s);
      co_return;
    }
    if (peek.started()) co_return;
    auto body = dialed.error().text() + "\n";
    co_await send_error(*s, http_status_for(dialed.error().code), true, false, body);
    co_return;
  }
  std::unique_ptr<net::Conn> upstream = std::move(dialed.value());
  auto registered = s->track(upstream.get());
  auto started = co_await peek.start();
  if (started || s->closed()) co_return;
  if (!in.empty()) {
    if (co_await upstream->write(asio::buffer(in.data().data(), in.size()))) co_return;
  }
  in.release();
  co_await relay_logged(md, s->client(), *upstream);
}

// An absolute-form request. Returns whether the client connection may carry
// another request.
asio::awaitable<bool> http_forward(std::shared_ptr<Session> s, StreamBuffer& in,
                                   std::unique_ptr<StreamBuffer>& upstream_in, const proxy::RequestHead& req,
                                   bool keep_alive) {
  using namespace asio::experimental::awaitable_operators;
  auto uri = proxy::parse_absolute_uri(req.target);
  if (!uri) {
    log_request_error(*s, "not an absolute http:// URI: \"" + req.target + "\"");
    co_await send_error(*s, 400, true);
    co_return false;
  }
  auto framing = proxy::request_framing(req);
  if (!framing) {
    log_request_error(*s, "request body framing");
    co_await send_error(*s, 400, true);
    co_return false;
  }
  auto md = s->metadata(outbound::Network::tcp, uri->destination);
  auto dialed = co_await connect(s->ctx().router, md);
  if (s->closed()) co_return false;
  if (!dialed && dialed.error().code == make_error_code(DispatchError::dropped)) {
    co_await hold_silently(*s);
    co_return false;
  }
  if (!dialed) {
    // Without a body to skip, the connection stays usable.
    bool again = keep_alive && framing->kind == proxy::Framing::none;
    auto body = dialed.error().text() + "\n";
    if (co_await send_error(*s, http_status_for(dialed.error().code), !again, false, body)) {
      co_return false;
    }
    co_return again;
  }
  std::unique_ptr<net::Conn> upstream = std::move(dialed.value());
  auto registered = s->track(upstream.get());
  auto head = proxy::forward_request_head(req, *uri);
  if (co_await send(*upstream, head) || s->closed()) co_return false;
  if (!upstream_in) upstream_in = std::make_unique<StreamBuffer>(proxy::kMaxHeadSize);
  upstream_in->clear();
  Exchange x{*s, in, *upstream_in, *upstream, req, *framing, keep_alive};
  co_await (send_request_body(s, x) && receive_response(s, x));
  if (x.upgraded && !x.failed && !s->closed()) {
    if (!in.empty()) {
      if (co_await upstream->write(asio::buffer(in.data().data(), in.size()))) co_return false;
      in.clear();
    }
    if (!upstream_in->empty()) {
      if (co_await s->client().write(asio::buffer(upstream_in->data().data(), upstream_in->size()))) {
        co_return false;
      }
      upstream_in->clear();
    }
    co_await relay_logged(md, s->client(), *upstream);
    co_return false;
  }
  log_closed(md, x.up, x.down, x.error);
  co_return !x.failed && x.keep_alive && !s->closed();
}

}  // namespace

int http_status_for(const std::error_code& ec) {
  if (ec == DispatchError::rejected || ec == DispatchError::no_outbound) return 403;
  if (is_error(ec, asio::error::timed_out, std::errc::timed_out)) return 504;
  return 502;
}

asio::awaitable<void> serve_http(std::shared_ptr<Session> s) {
  StreamBuffer in(proxy::kMaxHeadSize);
  std::unique_ptr<StreamBuffer> upstream_in;  // allocated by the first plain request
  bool first = true;
  for (;;) {
    s->set_deadline(first ? std::chrono::steady_clock::duration(kHandshakeTimeout)
                          : std::chrono::steady_clock::duration(kKeepAliveIdle));
    first = false;
    proxy::Parsed<proxy::RequestHead> p;
    for (;;) {
      p = proxy::parse_request_head(in.view());
      if (p.status != proxy::Status::need_more) break;
      auto ec = co_await in.fill(s->client());
      if (ec == asio::error::no_buffer_space) {
        p.status = proxy::Status::too_large;
        break;
      }
      if (ec) co_return;  // closed between requests, or timed out
    }
    if (p.status == proxy::Status::too_large) {
      log_request_error(*s, "request head too large");
      co_await send_error(*s, 431, true);
      co_return;
    }
    if (p.status != proxy::Status::ok) {
      log_request_error(*s, p.error);
      co_await send_error(*s, 400, true);
      co_return;
    }
    in.consume(p.consumed);
    s->clear_deadline();
    const proxy::RequestHead& req = p.value;
    bool keep_alive = proxy::wants_keep_alive(req);
    if (s->ctx().auth_required()) {
      auto creds = proxy::proxy_credentials(req.headers);
      if (!creds || !s->ctx().check_user(creds->username, creds->password)) {
        if (creds) {
          spdlog::warn("{}: connection from {}: http authentication failed for user \"{}\"", s->ctx().log_name(),
                       endpoint_string(s->source()), creds->username);
        }
        auto framing = proxy::request_framing(req);
        bool again = keep_alive && !proxy::iequals(req.method, "CONNECT") && framing &&
                     framing->kind == proxy::Framing::none;
        if (co_await send_error(*s, 407, !again, true) || !again) co_return;
        continue;
      }
      s->user = creds->username;
    }
    if (proxy::iequals(req.method, "CONNECT")) {
      co_await http_connect(s, in, req);
      co_return;
    }
    if (!co_await http_forward(s, in, upstream_in, req, keep_alive)) co_return;
  }
}

}  // namespace anytls::inbound
