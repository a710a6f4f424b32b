// What the server does with one AnyTLS stream: read the destination, route
// and dial it, answer with SYNACK, then relay (TCP) or run UDP-over-TCP.
#pragma once
#include <memory>
#include <string>

#include <asio/awaitable.hpp>

#include "anytls/stream.hpp"
#include "net/duration.hpp"
#include "route/router.hpp"

namespace anytls::inbound {

struct StreamContext {
  route::Router* router = nullptr;
  std::string inbound_tag;
  std::string user;
  std::string log_prefix;  // "[S3/1]"
  asio::ip::tcp::endpoint source;
  net::Duration address_timeout = std::chrono::seconds(10);
  net::Duration udp_timeout = std::chrono::minutes(5);
};

asio::awaitable<void> serve_stream(std::shared_ptr<proto::Stream> stream, StreamContext ctx);

}  // namespace anytls::inbound
