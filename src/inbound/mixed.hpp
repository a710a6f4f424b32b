// The local proxy inbounds: `mixed` (SOCKS4/4a, SOCKS5 and HTTP on one
// port, told apart by the first byte), and the shared server behind `socks`
// and `http` (socks.hpp, http.hpp).
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <system_error>

#include <asio/awaitable.hpp>
#include <asio/io_context.hpp>

#include "config/options.hpp"
#include "inbound/dispatch.hpp"
#include "inbound/inbound.hpp"
#include "route/router.hpp"

namespace anytls::inbound {

// Accept loop, connection registry and protocol sniffing for the
// socks / http / mixed inbounds. Use from the io_context's thread.
class ProxyInbound : public Inbound {
 public:
  ProxyInbound(asio::io_context& io, std::string tag, config::MixedInboundOptions options,
               route::Router& router, Protocols protocols);
  ~ProxyInbound() override;

  const std::string& tag() const override { return ctx_->tag(); }
  // Opens the listener (errors: bad address, address in use, ...) and
  // spawns the accept loop.
  std::error_code start() override;
  // Closes the listener and every live connection. Idempotent.
  void stop() override;
  asio::awaitable<void> join() override;
  // Closes the listener only.
  void drain() override;

  // After start(): the bound port (listen_port 0 picks one).
  std::uint16_t port() const { return ctx_->listener.port(); }
  asio::ip::tcp::endpoint local_endpoint() const { return ctx_->listener.local_endpoint(); }
  std::size_t live_connections() const { return ctx_->sessions.size(); }

 private:
  std::shared_ptr<InboundContext> ctx_;
};

class MixedInbound final : public ProxyInbound {
 public:
  MixedInbound(asio::io_context& io, std::string tag, config::MixedInboundOptions options, route::Router& router)
      : ProxyInbound(io, std::move(tag), std::move(options), router, Protocols::mixed) {}
};

// Serves one accepted connection: sniffs the protocol, runs it, closes.
asio::awaitable<void> serve_connection(std::shared_ptr<Session> session);

}  // namespace anytls::inbound
