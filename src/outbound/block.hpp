// Outbound "block": refuses everything, with EPERM as sing-box does:
// "dial tcp example.com:443: blocked by outbound \"block\"".
#pragma once
#include <string>

#include "outbound/outbound.hpp"

namespace anytls::outbound {

class BlockOutbound final : public Outbound {
 public:
  explicit BlockOutbound(std::string tag) : tag_(std::move(tag)) {}

  const std::string& tag() const override { return tag_; }
  std::string_view type() const override { return "block"; }
  asio::awaitable<net::Result<std::unique_ptr<net::Conn>>> dial(const Metadata& md) override;
  asio::awaitable<net::Result<std::unique_ptr<net::PacketConn>>> listen_packet(const Metadata& md) override;

 private:
  std::string tag_;
};

}  // namespace anytls::outbound
