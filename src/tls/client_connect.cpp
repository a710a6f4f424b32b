#include "tls/client_connect.hpp"

#include <asio/experimental/awaitable_operators.hpp>

#include "net/coro.hpp"
#include "tls/context.hpp"
#include "tls/tls_conn.hpp"
#include "tls/utls_conn.hpp"

namespace anytls::tls {

namespace {

using namespace asio::experimental::awaitable_operators;

net::Error failed(std::error_code ec, const std::string& peer, const std::string& why) {
  return net::Error{ec, "tls handshake with " + peer + ": " + why};
}

}  // namespace

asio::awaitable<net::Result<std::unique_ptr<net::Conn>>> client_handshake(std::shared_ptr<ClientContext> ctx,
                                                                          asio::ip::tcp::socket socket,
                                                                          std::string peer,
                                                                          net::Clock::duration timeout,
                                                                          net::Clock* clock) {
  // One path for both stacks, with no co_await in a branch (GCC 12).
  std::unique_ptr<TlsConn> openssl;
  std::unique_ptr<UtlsConn> chrome;
  if (ctx->utls()) {
    // The certificate checks (CA, name, pins) run inside this handshake,
    // through ctx->verify_der_chain.
    chrome = std::make_unique<UtlsConn>(std::move(socket), ctx);
  } else {
    openssl = std::make_unique<TlsConn>(std::move(socket), ctx->native(), TlsConn::Role::client);
    ctx->prepare(openssl->native());
  }
  asio::awaitable<std::error_code> handshake = chrome ? chrome->handshake() : openssl->handshake();
  auto hs = co_await (std::move(handshake) || net::sleep_for(timeout, clock));
  if (hs.index() != 0) co_return failed(asio::error::timed_out, peer, "timeout");
  if (auto ec = std::get<0>(hs))
    co_return failed(ec, peer, chrome ? chrome->last_error_text() : openssl->last_error_text());
  if (chrome) co_return std::unique_ptr<net::Conn>(std::move(chrome));
  if (auto bad = ctx->check_peer(openssl->native()); !bad.empty())
    co_return failed(asio::error::access_denied, peer, bad);
  co_return std::unique_ptr<net::Conn>(std::move(openssl));
}

}  // namespace anytls::tls
