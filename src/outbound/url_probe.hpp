// The urltest latency probe, as sing-box measures it: through one outbound,
// open a connection to the URL's host, (for https) do a TLS handshake over
// it, send GET and wait for the response's status line. The time from the
// dial to the status line is the delay. Any HTTP status counts (a captive
// portal answering 200 instead of 204 is still a working path).
//
// Probing an anytls outbound goes through its pool like any connection, so
// a warm idle session is reused rather than a new one dialled.
#pragma once
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <asio/awaitable.hpp>

#include "net/clock.hpp"
#include "net/result.hpp"
#include "outbound/outbound.hpp"

namespace anytls::outbound {

struct ProbeUrl {
  bool tls = false;
  std::string host;  // no brackets
  std::uint16_t port = 0;
  std::string target;  // "/generate_204", with the query
  std::string host_header;  // as written in the URL (port included when given)

  // http:// or https:// URLs only; nullopt otherwise.
  static std::optional<ProbeUrl> parse(std::string_view url);
};

// Default limit of one probe (sing-box's: C.TCPTimeout).
inline constexpr std::chrono::seconds kProbeTimeout{5};

// The delay in milliseconds (at least 1), or why the probe failed.
// Status lines longer than 4 KiB are an error. clock: null = the real one.
asio::awaitable<net::Result<std::uint16_t>> probe_url(Outbound& via, ProbeUrl url,
                                                      std::chrono::milliseconds timeout, net::Clock* clock);

}  // namespace anytls::outbound
