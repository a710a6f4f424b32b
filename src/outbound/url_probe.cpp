#include "outbound/url_probe.hpp"

#include <algorithm>

#include "http/client_error.hpp"
#include "outbound/http_get.hpp"

namespace anytls::outbound {

namespace {

HttpRequest probe_request(const ProbeUrl& url) {
  HttpRequest request;
  request.url = url.text();
  request.headers.push_back(http::Field{"Accept", "*/*"});
  return request;
}

}  // namespace

asio::awaitable<net::Result<std::uint16_t>> probe_url(Outbound& via, ProbeUrl url, std::chrono::milliseconds timeout,
                                                      net::Clock* clock) {
  auto& clk = net::clock_or_system(clock);
  const auto start = clk.now();
  net::Clock::time_point answered = start;
  HttpLimits limits;
  limits.timeout = timeout;
  limits.clock = clock;
  limits.who = "urltest";
  limits.any_status = true;
  limits.redirects = 0;
  limits.head_only = true;
  limits.on_first_byte = [&clk, &answered] { answered = clk.now(); };
  HttpRequest request = probe_request(url);
  auto probing = http_request(via, std::move(request), 0, std::move(limits));
  auto r = co_await std::move(probing);
  if (!r && r.error().code == http::ClientError::timed_out)
    co_return net::Error{std::make_error_code(std::errc::timed_out), "probe timed out"};
  if (!r) co_return r.error();
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(answered - start).count();
  co_return static_cast<std::uint16_t>(std::clamp<long long>(ms, 1, 65535));
}

}  // namespace anytls::outbound
