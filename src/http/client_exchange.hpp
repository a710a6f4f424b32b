// One request and its response on a connection the caller has opened (and
// secured): what every HTTP client in the process is built on. No dial, no
// TLS, no redirects here: those are outbound/http_get's.
#pragma once
#include <functional>
#include <optional>

#include <asio/awaitable.hpp>

#include "http/request_writer.hpp"
#include "http/response_reader.hpp"
#include "net/clock.hpp"
#include "net/conn.hpp"
#include "net/result.hpp"

namespace anytls::http {

struct ExchangeOptions {
  ResponseLimits limits;
  // Looks at the head; false: the body is not read (a redirect, a status
  // the caller will refuse, a probe that only times the answer). Null: read.
  std::function<bool(const Response& head)> wants_body{};
  // The whole exchange (write, head, body) ends within this, on `clock`
  // (null: the real one), or fails with ClientError::timed_out. None: the
  // caller bounds it (outbound/http_get bounds its dial and TLS too).
  std::optional<net::Clock::duration> timeout{};
  net::Clock* clock = nullptr;
};

// Writes the request, reads the response. On an error the connection is in
// an unknown state: close it.
asio::awaitable<net::Result<Response>> exchange(net::Conn& conn, Request request, ExchangeOptions options);

}  // namespace anytls::http
