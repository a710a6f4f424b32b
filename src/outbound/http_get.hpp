// The process's one HTTP client, on the http/ exchange: requests through any
// outbound (dial, TLS for https://, redirects), or on a connection the caller
// opened. Rule-set downloads, the dashboard download and `tools fetch` GET
// with it (a body in memory, bounded), the urltest probe times a GET with
// it, DoH POSTs its queries with it.
#pragma once
#include <chrono>
#include <cstddef>
#include <functional>
#include <string>
#include <vector>

#include <asio/awaitable.hpp>

#include "http/response_reader.hpp"
#include "net/clock.hpp"
#include "net/conn.hpp"
#include "net/result.hpp"
#include "outbound/outbound.hpp"

namespace anytls::outbound {

struct HttpLimits {
  // How long one request may take in all: dial, TLS, request and every
  // byte of the response. Time on `clock` (null: the real one).
  net::Clock::duration timeout = std::chrono::seconds(60);
  net::Clock* clock = nullptr;
  // The connection's inbound name in logs and the connection list.
  std::string who = "rule-set";
  // false: anything but 200 is an error; true: any status's body is
  // returned (`tools fetch`, as curl does).
  bool any_status = false;
  // Redirects (301, 302, 303, 307, 308) of a GET followed, as Go's client
  // follows them (GitHub's archive links, for one, redirect); beyond, a
  // redirect is an error unless any_status.
  int redirects = 10;
  // true: the status and fields only, no body read (the urltest probe).
  bool head_only = false;
  // Called when the first bytes of the response arrive.
  std::function<void()> on_first_byte{};
};

struct HttpRequest {
  std::string method = "GET";
  std::string url;  // http:// or https://
  // Sent besides Host and, unless given here, User-Agent: anytls-cpp,
  // Accept-Encoding: identity and Connection: close.
  http::Fields headers{};
  std::string body;
};

// `request` through `via`; the response with its body, at most max_bytes:
// Content-Length bytes (nothing after them is read; fewer is an error),
// chunked up to the last chunk, or up to the close when the response has
// neither; a GET after at most limits.redirects redirects. All within
// limits.timeout. https is verified against the system store for the URL's
// host. Errors name the method and URL.
asio::awaitable<net::Result<http::Response>> http_request(Outbound& via, HttpRequest request, std::size_t max_bytes,
                                                          HttpLimits limits);

// The same on `conn`, which the caller dialled (and secured) for the URL's
// host: DoH, which has its server's own dial and TLS options. No redirects,
// and no deadline: the caller bounds it.
asio::awaitable<net::Result<http::Response>> http_request_over(net::Conn& conn, HttpRequest request,
                                                               std::size_t max_bytes, HttpLimits limits);

// GET url; the body.
asio::awaitable<net::Result<std::string>> http_get(Outbound& via, std::string url, std::size_t max_bytes,
                                                  HttpLimits limits);
asio::awaitable<net::Result<std::string>> http_get(Outbound& via, std::string url, std::size_t max_bytes);

}  // namespace anytls::outbound
