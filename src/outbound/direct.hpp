// Outbound "direct": connects to the destination itself, through the Dial
// fields (net::Dialer). With `detour` set, everything goes through that
// outbound instead, as in sing-box (the other Dial fields are then unused).
#pragma once
#include <memory>
#include <string>

#include "config/options.hpp"
#include "net/dialer.hpp"
#include "net/resolver.hpp"
#include "outbound/outbound.hpp"

namespace anytls::outbound {

class DirectOutbound final : public Outbound {
 public:
  DirectOutbound(std::string tag, net::Dialer dialer);
  // From config (throws std::invalid_argument on bad bind addresses). The
  // detour tag, if any, is in detour_tag(); wire it with set_detour().
  DirectOutbound(std::string tag, const config::DirectOutboundOptions& options,
                 std::shared_ptr<net::Resolver> resolver);

  const std::string& tag() const override { return tag_; }
  std::string_view type() const override { return "direct"; }

  // TCP to md.destination: a net::TcpConn.
  asio::awaitable<net::Result<std::unique_ptr<net::Conn>>> dial(const Metadata& md) override;
  // An unconnected UDP socket (net::UdpPacketConn) that sends anywhere.
  asio::awaitable<net::Result<std::unique_ptr<net::PacketConn>>> listen_packet(const Metadata& md) override;

  const std::string& detour_tag() const { return detour_tag_; }
  // The outbound named by detour; must outlive this one. nullptr = none.
  void set_detour(Outbound* detour) { detour_ = detour; }
  const net::Dialer& dialer() const { return dialer_; }

 private:
  std::string tag_;
  net::Dialer dialer_;
  std::string detour_tag_;
  Outbound* detour_ = nullptr;
};

}  // namespace anytls::outbound
