// The `socks` inbound (SOCKS4, SOCKS4a, SOCKS5 with CONNECT and UDP
// ASSOCIATE, RFC 1929 username/password when users are configured) and the
// SOCKS connection handler the mixed inbound shares.
#pragma once
#include <memory>
#include <system_error>

#include <asio/awaitable.hpp>

#include "inbound/dispatch.hpp"
#include "inbound/mixed.hpp"
#include "inbound/socks_codec.hpp"

namespace anytls::inbound {

class SocksInbound final : public ProxyInbound {
 public:
  SocksInbound(asio::io_context& io, std::string tag, config::MixedInboundOptions options, route::Router& router)
      : ProxyInbound(io, std::move(tag), std::move(options), router, Protocols::socks) {}
};

// Runs the SOCKS4/5 exchange on a session whose first byte is 4 or 5 (still
// unread), then the relay. Returns when the connection is done.
asio::awaitable<void> serve_socks(std::shared_ptr<Session> session);

// The SOCKS5 reply code for a dial failure: rejected -> not allowed,
// refused -> 5, host unreachable / name not found -> 4, network
// unreachable -> 3, timed out -> 6, else general failure.
socks::Reply5 socks5_reply_for(const std::error_code& ec);

}  // namespace anytls::inbound
