#include "http/client_exchange.hpp"

#include <asio/experimental/awaitable_operators.hpp>

#include "http/client_error.hpp"
#include "net/coro.hpp"

namespace anytls::http {
namespace {

asio::awaitable<net::Result<Response>> request_response(net::Conn* conn, Request request, ExchangeOptions options) {
  auto wrote = co_await write_request(*conn, request);
  if (!wrote) co_return wrote.error();
  ResponseReader reader(*conn, std::move(options.limits));
  auto head = co_await reader.read_head();
  if (!head) co_return head;
  if (options.wants_body && !options.wants_body(*head)) co_return head;
  auto body = co_await reader.read_body();
  if (!body) co_return body.error();
  head->body = std::move(*body);
  co_return head;
}

}  // namespace

asio::awaitable<net::Result<Response>> exchange(net::Conn& conn, Request request, ExchangeOptions options) {
  using namespace asio::experimental::awaitable_operators;
  const std::optional<net::Clock::duration> timeout = options.timeout;
  net::Clock* clock = options.clock;
  auto exchanging = request_response(&conn, std::move(request), std::move(options));
  if (!timeout) co_return co_await std::move(exchanging);
  auto expiring = net::sleep_for(*timeout, clock);
  auto r = co_await (std::move(exchanging) || std::move(expiring));
  if (r.index() == 1) co_return timed_out(*timeout);
  co_return std::move(std::get<0>(r));
}

}  // namespace anytls::http
