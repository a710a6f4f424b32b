// The `http` inbound (CONNECT and absolute-URI requests with keep-alive,
// Proxy-Authorization Basic when users are configured) and the HTTP
// connection handler the mixed inbound shares.
#pragma once
#include <memory>
#include <system_error>

#include <asio/awaitable.hpp>

#include "inbound/dispatch.hpp"
#include "inbound/mixed.hpp"

namespace anytls::inbound {

class HttpInbound final : public ProxyInbound {
 public:
  HttpInbound(asio::io_context& io, std::string tag, config::MixedInboundOptions options, route::Router& router)
      : ProxyInbound(io, std::move(tag), std::move(options), router, Protocols::http) {}
};

// Serves HTTP proxy requests on a session until the client or an error ends
// it.
asio::awaitable<void> serve_http(std::shared_ptr<Session> session);

// The status for a dial failure: rejected -> 403, timed out -> 504, else 502.
int http_status_for(const std::error_code& ec);

}  // namespace anytls::inbound
