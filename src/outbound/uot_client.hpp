// The client end of UDP-over-TCP v2: a PacketConn over an AnyTLS stream to
// sp.v2.udp-over-tcp.arpa, in non-connect mode so that one flow can reach
// several destinations (SOCKS5 UDP ASSOCIATE allows that).
#pragma once
#include <memory>

#include <asio/awaitable.hpp>

#include "net/conn.hpp"
#include "net/result.hpp"

namespace anytls::outbound {

// Writes the UoT request (isConnect=0, destination) and returns the flow.
asio::awaitable<net::Result<std::unique_ptr<net::PacketConn>>> make_uot_client(std::unique_ptr<net::Conn> stream,
                                                                               net::Address destination);

}  // namespace anytls::outbound
