// What the server does with one AnyTLS stream: read the destination, hand it
// to the one dispatch path (route, dial, log), answer with SYNACK, then relay
// (TCP) or run UDP-over-TCP.
#pragma once
#include <memory>
#include <string>

#include <asio/awaitable.hpp>

#include "anytls/stream.hpp"
#include "net/clock.hpp"
#include "net/duration.hpp"
#include "route/router.hpp"

namespace anytls::inbound {

struct StreamContext {
  route::Router* router = nullptr;
  std::string inbound_tag;
  std::string user;
  std::string log_prefix;  // "[S3/1]"
  asio::ip::tcp::endpoint source;  // the client's address
  net::Duration address_timeout = std::chrono::seconds(10);
  net::Duration udp_timeout = std::chrono::minutes(5);
  net::Clock* clock = nullptr;  // null: the real clock
};

asio::awaitable<void> serve_stream(std::shared_ptr<proto::Stream> stream, StreamContext ctx);

}  // namespace anytls::inbound
