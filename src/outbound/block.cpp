#include "outbound/block.hpp"

namespace anytls::outbound {

namespace {

net::Error blocked(const char* network, const Metadata& md, const std::string& tag) {
  return net::Error{std::make_error_code(std::errc::operation_not_permitted),
                    std::string(network) + " " + md.destination.to_string() + ": blocked by outbound \"" +
                        tag + "\""};
}

}  // namespace

asio::awaitable<net::Result<std::unique_ptr<net::Conn>>> BlockOutbound::dial(const Metadata& md) {
  co_return blocked("dial tcp", md, tag_);
}

asio::awaitable<net::Result<std::unique_ptr<net::PacketConn>>> BlockOutbound::listen_packet(const Metadata& md) {
  co_return blocked("listen udp", md, tag_);
}

}  // namespace anytls::outbound
