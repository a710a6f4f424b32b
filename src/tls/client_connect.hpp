// The client TLS handshake on a connected socket, with whichever stack the
// outbound's TLS options ask for: OpenSSL (TlsConn), or Chrome's ClientHello
// through the BoringSSL module (UtlsConn) when tls.utls is on. Verification
// and pins are checked before the caller sends a byte.
#pragma once
#include <chrono>
#include <memory>
#include <string>

#include <asio/awaitable.hpp>
#include <asio/ip/tcp.hpp>

#include "net/clock.hpp"
#include "net/conn.hpp"
#include "net/result.hpp"

namespace anytls::tls {

class ClientContext;

// peer names the server in error messages ("tls handshake with <peer>: ...");
// the timeout runs on `clock` (null: the real clock).
asio::awaitable<net::Result<std::unique_ptr<net::Conn>>> client_handshake(std::shared_ptr<ClientContext> ctx,
                                                                          asio::ip::tcp::socket socket,
                                                                          std::string peer,
                                                                          net::Clock::duration timeout,
                                                                          net::Clock* clock);

}  // namespace anytls::tls
