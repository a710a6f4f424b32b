#include "outbound/direct.hpp"

#include <asio/this_coro.hpp>

#include "net/tcp_conn.hpp"
#include "net/udp_conn.hpp"
#include "outbound/dial_options.hpp"

namespace anytls::outbound {

DirectOutbound::DirectOutbound(std::string tag, net::Dialer dialer)
    : tag_(std::move(tag)), dialer_(std::move(dialer)) {}

DirectOutbound::DirectOutbound(std::string tag, const config::DirectOutboundOptions& options,
                               std::shared_ptr<net::Resolver> resolver)
    : tag_(std::move(tag)),
      dialer_(make_dialer_options(options.dial), std::move(resolver)),
      detour_tag_(options.dial.detour) {}

asio::awaitable<net::Result<std::unique_ptr<net::Conn>>> DirectOutbound::dial(const Metadata& md) {
  if (detour_) co_return co_await detour_->dial(md);
  auto socket = co_await dialer_.dial_tcp(md.destination);
  if (!socket) co_return socket.error();
  co_return std::unique_ptr<net::Conn>(std::make_unique<net::TcpConn>(std::move(*socket)));
}

asio::awaitable<net::Result<std::unique_ptr<net::PacketConn>>> DirectOutbound::listen_packet(const Metadata& md) {
  if (detour_) co_return co_await detour_->listen_packet(md);
  auto ex = co_await asio::this_coro::executor;
  auto socket = dialer_.open_udp(ex);
  if (!socket) co_return socket.error();
  co_return std::unique_ptr<net::PacketConn>(
      std::make_unique<net::UdpPacketConn>(std::move(*socket), dialer_));
}

}  // namespace anytls::outbound
