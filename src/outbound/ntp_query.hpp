// One SNTP exchange (net/sntp) through an outbound's datagram flow: the
// `ntp` service and `tools synctime` ask the server this way, so the query
// takes the detour the user set (a tunnel, an interface).
#pragma once
#include <chrono>

#include <asio/awaitable.hpp>

#include "net/address.hpp"
#include "net/result.hpp"
#include "net/sntp.hpp"
#include "outbound/outbound.hpp"

namespace anytls::outbound {

// Sends one request to `server` through `via` and waits for its reply, at
// most `timeout`. Datagrams that are not the reply (another originate
// timestamp, too short) are skipped.
asio::awaitable<net::Result<net::sntp::Reply>> ntp_query(Outbound& via, net::Address server,
                                                         std::chrono::milliseconds timeout);

}  // namespace anytls::outbound
