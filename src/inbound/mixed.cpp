#include "inbound/mixed.hpp"

#include <exception>
#include <vector>

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/error.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/steady_timer.hpp>
#include <asio/use_awaitable.hpp>
#include <spdlog/spdlog.h>

#include "inbound/http.hpp"
#include "inbound/socks.hpp"

namespace anytls::inbound {

namespace {

constexpr auto use_tuple = asio::experimental::as_tuple(asio::use_awaitable);

// Completion of a detached task: an exception escaping it is a bug; say so.
struct ReportException {
  std::string tag;
  void operator()(std::exception_ptr e) const {
    if (!e) return;
    try {
      std::rethrow_exception(e);
    } catch (const std::exception& x) {
      spdlog::error("[{}] connection task failed: {}", tag, x.what());
    }
  }
};

bool allows(Protocols set, Protocols p) {
  return (static_cast<unsigned>(set) & static_cast<unsigned>(p)) != 0;
}

// Closes the session when serve_connection() leaves, however it leaves.
struct CloseOnExit {
  Session& s;
  ~CloseOnExit() { s.close(); }
};

asio::awaitable<void> accept_loop(std::shared_ptr<InboundContext> ctx) {
  for (;;) {
    auto [ec, socket] = co_await ctx->listener.accept();
    if (ctx->stopped) break;
    if (ec) {
      if (ec == asio::error::operation_aborted || ec == asio::error::bad_descriptor) break;
      // EMFILE and friends: back off instead of spinning.
      spdlog::warn("[{}] accept: {}", ctx->tag(), ec.message());
      asio::steady_timer pause(ctx->io, std::chrono::milliseconds(100));
      co_await pause.async_wait(use_tuple);
      continue;
    }
    auto session = std::make_shared<Session>(ctx, std::move(socket));
    asio::co_spawn(ctx->io, serve_connection(std::move(session)), ReportException{ctx->tag()});
  }
}

}  // namespace

asio::awaitable<void> serve_connection(std::shared_ptr<Session> s) {
  CloseOnExit closer{*s};
  asio::co_spawn(s->ctx().io, Session::watchdog(s), asio::detached);
  s->set_deadline(kHandshakeTimeout);
  std::uint8_t first = 0;
  auto [ec, n] = co_await s->client().socket().async_receive(asio::buffer(&first, 1),
                                                             asio::socket_base::message_peek, use_tuple);
  if (ec || n != 1) co_return;
  Protocols protocols = s->ctx().protocols;
  if ((first == socks::kVersion4 || first == socks::kVersion5) && allows(protocols, Protocols::socks)) {
    co_await serve_socks(s);
  } else if (allows(protocols, Protocols::http)) {
    co_await serve_http(s);
  } else {
    spdlog::debug("[{}] connection from {}: not a socks request (first byte {:#04x})", s->ctx().tag(),
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
  if (auto ec = ctx_->listener.open(ctx_->options.listen)) {
    spdlog::error("[{}] listen {}: {}", ctx_->tag(),
                  net::Address{ctx_->options.listen.listen, ctx_->options.listen.listen_port}.to_string(),
                  ec.message());
    return ec;
  }
  spdlog::info("[{}] tcp server started at {}", ctx_->tag(), endpoint_string(ctx_->listener.local_endpoint()));
  asio::co_spawn(ctx_->io, accept_loop(ctx_), ReportException{ctx_->tag()});
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
}

}  // namespace anytls::inbound
