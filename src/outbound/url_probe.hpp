// The urltest latency probe, as sing-box measures it: through one outbound,
// open a connection to the URL's host, (for https) do a TLS handshake over
// it, send GET and wait for the response's head (outbound/http_get's
// client). The time from the dial to the response's first bytes is the
// delay. Any HTTP status counts (a captive portal answering 200 instead of
// 204 is still a working path).
//
// Probing an anytls outbound goes through its pool like any connection, so
// a warm idle session is reused rather than a new one dialled.
#pragma once
#include <chrono>
#include <cstdint>

#include <asio/awaitable.hpp>

#include "http/client_url.hpp"
#include "net/clock.hpp"
#include "net/result.hpp"
#include "outbound/outbound.hpp"

namespace anytls::outbound {

// "https://www.gstatic.com/generate_204" as the probe uses it.
using ProbeUrl = http::ClientUrl;

// Default limit of one probe (sing-box's: C.TCPTimeout).
inline constexpr std::chrono::seconds kProbeTimeout{5};

// The delay in milliseconds (at least 1), or why the probe failed.
// Response heads over 64 KiB are an error. clock: null = the real one.
asio::awaitable<net::Result<std::uint16_t>> probe_url(Outbound& via, ProbeUrl url,
                                                      std::chrono::milliseconds timeout, net::Clock* clock);

}  // namespace anytls::outbound
