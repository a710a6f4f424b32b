// One HTTP/1.1 GET through any outbound: what rule-set downloads, the
// dashboard download and `tools fetch` share (a body in memory, bounded).
#pragma once
#include <chrono>
#include <cstddef>
#include <string>

#include <asio/awaitable.hpp>

#include "net/clock.hpp"
#include "net/result.hpp"
#include "outbound/outbound.hpp"

namespace anytls::outbound {

struct HttpLimits {
  // How long one download may take in all: dial, TLS, request and every
  // byte of the response. Time on `clock` (null: the real one).
  net::Clock::duration timeout = std::chrono::seconds(60);
  net::Clock* clock = nullptr;
  // The connection's inbound name in logs and the connection list.
  std::string who = "rule-set";
  // false: anything but 200 is an error; true: any status's body is
  // returned (`tools fetch`, as curl does).
  bool any_status = false;
  // Redirects (301, 302, 303, 307, 308) followed, as Go's client follows
  // them (GitHub's archive links, for one, redirect); beyond, a redirect
  // is an error unless any_status.
  int redirects = 10;
};

// GET url (http:// or https://) through `via`; the body, at most max_bytes:
// Content-Length bytes (nothing after them is read; fewer is an error),
// chunked up to the last chunk, or up to the close when the response has
// neither, after at most limits.redirects redirects. All within
// limits.timeout. https is verified against the system
// store for the URL's host. Errors name the URL.
asio::awaitable<net::Result<std::string>> http_get(Outbound& via, std::string url, std::size_t max_bytes,
                                                  HttpLimits limits);
asio::awaitable<net::Result<std::string>> http_get(Outbound& via, std::string url, std::size_t max_bytes);

}  // namespace anytls::outbound
