#include "outbound/http_get.hpp"

#include <asio/experimental/awaitable_operators.hpp>

#include "http/client_error.hpp"
#include "http/client_exchange.hpp"
#include "http/client_url.hpp"
#include "net/coro.hpp"
#include "tls/conn_tls.hpp"
#include "tls/context.hpp"

namespace anytls::outbound {

namespace {

// "GET https://host/path: why", keeping the cause's code.
net::Error request_error(const HttpRequest& request, const net::Error& cause) {
  return net::Error{cause.code ? cause.code : std::make_error_code(std::errc::protocol_error),
                    request.method + " " + request.url + ": " + cause.text()};
}
net::Error request_error(const HttpRequest& request, const std::string& why) {
  return request_error(request, net::Error{std::make_error_code(std::errc::protocol_error), why});
}

bool is_redirect(unsigned status) {
  return status == 301 || status == 302 || status == 303 || status == 307 || status == 308;
}

bool has_header(const HttpRequest& request, std::string_view name) {
  for (const auto& h : request.headers)
    if (http::iequals(h.name, name)) return true;
  return false;
}

// The wire request: the caller's headers, and ours where it gave none.
http::Request wire_request(const HttpRequest& request, const http::ClientUrl& url) {
  http::Request r;
  r.method = request.method;
  r.target = url.target;
  r.host = url.host_header;
  r.headers = request.headers;
  if (!has_header(request, "User-Agent")) r.headers.push_back(http::Field{"User-Agent", "anytls-cpp"});
  if (!has_header(request, "Accept-Encoding")) r.headers.push_back(http::Field{"Accept-Encoding", "identity"});
  if (!has_header(request, "Connection")) r.headers.push_back(http::Field{"Connection", "close"});
  r.body = request.body;
  return r;
}

// One exchange on `conn` and the status rule: 200, a redirect to follow
// (its Location is returned, the body not read), or any status when
// limits.any_status.
asio::awaitable<net::Result<http::Response>> exchange_checked(net::Conn* conn, const HttpRequest* request,
                                                              const http::ClientUrl* url, std::size_t max_bytes,
                                                              const HttpLimits* limits, bool follow) {
  http::ExchangeOptions options;
  options.limits.max_body = max_bytes;
  options.limits.on_first_byte = limits->on_first_byte;
  const bool any_status = limits->any_status;
  const bool head_only = limits->head_only;
  options.wants_body = [any_status, head_only, follow](const http::Response& head) {
    if (head_only || (follow && is_redirect(head.status))) return false;
    return any_status || head.status == 200;
  };
  http::Request wire = wire_request(*request, *url);
  auto exchanging = http::exchange(*conn, std::move(wire), std::move(options));
  auto got = co_await std::move(exchanging);
  if (!got) co_return request_error(*request, got.error());
  const bool redirect = follow && is_redirect(got->status);
  if (redirect && got->field("Location").empty()) co_return request_error(*request, "redirect without a Location");
  if (!any_status && !redirect && got->status != 200)
    co_return request_error(*request, "status " + std::to_string(got->status) + " " + got->reason);
  co_return got;
}

// Dial the URL's host through `via`, TLS for https, one exchange. follow:
// a redirect is returned as it is (the caller follows its Location).
asio::awaitable<net::Result<http::Response>> request_once(Outbound* via, const HttpRequest* request,
                                                          std::size_t max_bytes, const HttpLimits* limits, bool follow) {
  auto url = http::ClientUrl::parse(request->url);
  if (!url) co_return request_error(*request, "only http:// and https:// URLs with a host can be fetched");
  Metadata md;
  md.inbound = limits->who;
  md.inbound_type = limits->who;
  md.destination = net::Address{url->host, url->port};
  auto dialed = co_await via->dial(md);
  if (!dialed) co_return request_error(*request, dialed.error());
  auto conn = std::move(*dialed);
  if (url->tls) {
    // TLS over the outbound's stream, verified against the system store
    // for the URL's host (sing-box has no TLS options for rule sets either).
    config::OutboundTlsOptions tls_opts;
    tls_opts.enabled = true;
    tls_opts.server_name = url->host;
    auto ctx = tls::ClientContext::create(tls_opts, url->host);
    if (!ctx) co_return request_error(*request, ctx.error());
    std::string peer = url->host_header;
    const net::Clock::duration handshake_limit = std::chrono::seconds(10);
    auto handshaking = tls::client_handshake_over(*ctx, std::move(conn), std::move(peer), handshake_limit, nullptr);
    auto secured = co_await std::move(handshaking);
    if (!secured) co_return request_error(*request, secured.error());
    conn = std::move(*secured);
  }
  auto got = co_await exchange_checked(conn.get(), request, &*url, max_bytes, limits, follow);
  conn->close();
  co_return got;
}

// request_once(), following up to limits.redirects redirects of a GET (as
// Go's client, which sing-box downloads with, does).
asio::awaitable<net::Result<http::Response>> request_following(Outbound* via, HttpRequest request,
                                                               std::size_t max_bytes, HttpLimits limits) {
  const bool may_follow = request.method == "GET" || request.method == "HEAD";
  net::Result<http::Response> got = request_error(request, "no request made");
  for (int hop = 0; hop <= limits.redirects; ++hop) {
    const bool follow = may_follow && hop < limits.redirects;
    got = co_await request_once(via, &request, max_bytes, &limits, follow);
    if (!got || !follow || !is_redirect(got->status)) break;
    request.url = http::resolve_location(request.url, std::string(got->field("Location")));
  }
  co_return got;
}

}  // namespace

asio::awaitable<net::Result<http::Response>> http_request(Outbound& via, HttpRequest request, std::size_t max_bytes,
                                                          HttpLimits limits) {
  using namespace asio::experimental::awaitable_operators;
  const net::Clock::duration timeout = limits.timeout;
  net::Clock* clock = limits.clock;
  HttpRequest what;  // for the timeout's message
  what.method = request.method;
  what.url = request.url;
  auto requesting = request_following(&via, std::move(request), max_bytes, std::move(limits));
  auto expiring = net::sleep_for(timeout, clock);
  auto r = co_await (std::move(requesting) || std::move(expiring));
  if (r.index() == 1) co_return request_error(what, http::timed_out(timeout));
  co_return std::move(std::get<0>(r));
}

asio::awaitable<net::Result<http::Response>> http_request_over(net::Conn& conn, HttpRequest request,
                                                               std::size_t max_bytes, HttpLimits limits) {
  auto url = http::ClientUrl::parse(request.url);
  if (!url) co_return request_error(request, "only http:// and https:// URLs with a host can be fetched");
  co_return co_await exchange_checked(&conn, &request, &*url, max_bytes, &limits, false);
}

asio::awaitable<net::Result<std::string>> http_get(Outbound& via, std::string url, std::size_t max_bytes,
                                                  HttpLimits limits) {
  HttpRequest request;
  request.url = std::move(url);
  auto requesting = http_request(via, std::move(request), max_bytes, std::move(limits));
  auto got = co_await std::move(requesting);
  if (!got) co_return got.error();
  co_return std::move(got->body);
}

asio::awaitable<net::Result<std::string>> http_get(Outbound& via, std::string url, std::size_t max_bytes) {
  return http_get(via, std::move(url), max_bytes, HttpLimits{});
}

}  // namespace anytls::outbound
