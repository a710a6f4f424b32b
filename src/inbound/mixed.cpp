#include "inbound/mixed.hpp"

#include <exception>
#include <vector>

#include <asio/error.hpp>
#include <spdlog/spdlog.h>

#include "inbound/http.hpp"
#include "inbound/socks.hpp"
#include "net/coro.hpp"

namespace anytls::inbound {

namespace {

using net::use_tuple;

bool allows(Protocols set, Protocols p) {
  return (static_cast<unsigned>(set) & static_cast<unsigned>(p)) != 0;
}

// Closes the session when serve_connection() leaves, however it leaves.
struct CloseOnExit {
  Session& s;
  ~CloseOnExit() { s.close(); }
};

void on_accept(std::shared_ptr<InboundContext> ctx, asio::ip::tcp::socket socket) {
  if (ctx->stopped) return;
  auto session = std::make_shared<Session>(ctx, std::move(socket));
  auto what = "connection from " + endpoint_string(session->source());
  ctx->tasks.spawn(serve_connection(std::move(session)), std::move(what));
}

}  // namespace

asio::awaitable<void> serve_connection(std::shared_ptr<Session> s) {
  CloseOnExit closer{*s};
  s->ctx().tasks.spawn(Session::watchdog(s), "connection watchdog");
  s->set_deadline(kHandshakeTimeout);
  if (s->ctx().tls) {
    // An HTTPS proxy: TLS first (under the handshake deadline), then HTTP
    // proxy requests inside it. SOCKS is not spoken over TLS.
    auto ctx = s->ctx().tls->current();
    s->start_tls(ctx.get());
    std::error_code hs = co_await s->tls()->handshake();
    if (hs) {
      spdlog::debug("{}: connection from {}: TLS handshake failed: {}", s->ctx().log_name(), endpoint_string(s->source()),
                    hs.message());
      co_return;
    }
    co_await serve_http(s);
    co_return;
  }
  std::uint8_t first = 0;
  auto [ec, n] = co_await s->tcp().socket().async_receive(asio::buffer(&first, 1),
                                                             asio::socket_base::message_peek, use_tuple);
  if (ec || n != 1) co_return;
  Protocols protocols = s->ctx().protocols;
  if ((first == socks::kVersion4 || first == socks::kVersion5) && allows(protocols, Protocols::socks)) {
    co_await serve_socks(s);
  } else if (allows(protocols, Protocols::http)) {
    co_await serve_http(s);
  } else {
    spdlog::debug("{}: connection from {}: not a socks request (first byte {:#04x})", s->ctx().log_name(),
                  endpoint_string(s->source()), first);
  }
}

ProxyInbound::ProxyInbound(asio::io_context& io, std::string tag, config::MixedInboundOptions options,
                           route::Router& router, Protocols protocols)
    : ctx_(std::make_shared<InboundContext>(io, std::move(tag), std::move(options), router, protocols)) {}

ProxyInbound::~ProxyInbound() { stop(); }

std::error_code ProxyInbound::start() {
  if (ctx_->listener.is_open()) return {};
  ctx_->stopped = false;
  if (ctx_->options.tls.enabled && !ctx_->tls) {
    auto tls = tls::ServerContext::shared(ctx_->options.tls);
    if (!tls) {
      spdlog::error("{}: tls: {}", ctx_->log_name(), tls.error().text());
      return tls.error().code ? tls.error().code : std::make_error_code(std::errc::invalid_argument);
    }
    ctx_->tls = *tls;
  }
  if (auto ec = ctx_->listener.open(ctx_->options.listen)) {
    spdlog::error("{}: listen {}: {}", ctx_->log_name(),
                  net::Address{ctx_->options.listen.listen, ctx_->options.listen.listen_port}.to_string(),
                  ec.message());
    return ec;
  }
  std::weak_ptr<InboundContext> weak = ctx_;
  auto handler = [weak](asio::ip::tcp::socket socket) {
    if (auto ctx = weak.lock()) on_accept(std::move(ctx), std::move(socket));
  };
  ctx_->tasks.spawn(net::accept_loop(ctx_->listener, std::move(handler), ctx_->log_name()), "accept loop");
  return {};
}

void ProxyInbound::drain() { ctx_->listener.close(); }

void ProxyInbound::stop() {
  if (ctx_->stopped) return;
  ctx_->stopped = true;
  ctx_->listener.close();
  // close() never destroys a session synchronously (coroutines unwind
  // later), but copy anyway so the loop does not depend on that.
  std::vector<Session*> live(ctx_->sessions.begin(), ctx_->sessions.end());
  for (Session* s : live) s->close();
  // Dials in flight stop now instead of at their timeouts.
  ctx_->tasks.cancel();
}

asio::awaitable<void> ProxyInbound::join() {
  auto ctx = ctx_;
  co_await ctx->tasks.join();
}

}  // namespace anytls::inbound
