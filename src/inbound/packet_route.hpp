// A UDP flow (SOCKS5 UDP ASSOCIATE, UDP over an anytls stream) is routed
// when it opens, by its first destination; its datagrams may then go to
// any address. Each new destination is checked against the rules again, so
// a flow that starts at an allowed address cannot reach one that a rule
// rejects (sing-box routes a UDP flow once, by its first destination, and
// sends every later datagram through that outbound unchecked).
//
// A datagram to a destination whose rules end in reject, in hijack-dns or
// in another outbound than the flow's is dropped (logged, rate-limited):
// the flow has one outbound, and sending through it what the rules send
// elsewhere would leak past them. Verdicts are kept per flow for the last
// kCacheSize destinations, so a datagram costs one comparison with the last
// destination, at most one cache scan, and rarely a rule walk. A fakeip
// destination goes on as its name (inbound/dispatch.hpp, real_destination),
// and the verdict keeps that name, so the table is asked once per
// destination too.
#pragma once
#include <array>
#include <cstddef>
#include <memory>

#include "net/conn.hpp"
#include "outbound/outbound.hpp"
#include "route/router.hpp"

namespace anytls::inbound {

// What the rules say of `md` (md.destination the datagram's), walking past
// the non-final actions (sniff, resolve and route-options, which a single
// datagram has no use for) to the final one.
route::Decision decide_datagram(route::Router& router, outbound::Metadata md);

// Errors of one datagram (unreachable, too big, a name that did not
// resolve), not of the flow: the flow goes on.
bool transient_udp_error(const std::error_code& ec);

class RoutedPacketConn final : public net::PacketConn {
 public:
  static constexpr std::size_t kCacheSize = 16;

  // router must outlive this; `flow` is the flow's metadata (its first
  // destination), `out` the outbound the flow goes through.
  RoutedPacketConn(std::unique_ptr<net::PacketConn> inner, route::Router& router, outbound::Metadata flow,
                   const outbound::Outbound* out);

  asio::awaitable<net::ReadResult> read_packet(asio::mutable_buffer buf, net::Address& from) override {
    return inner_->read_packet(buf, from);
  }
  asio::awaitable<std::error_code> write_packet(asio::const_buffer buf, const net::Address& to) override;
  void close() override { inner_->close(); }

  // Datagrams dropped by a rule so far.
  std::uint64_t dropped() const { return dropped_; }

 private:
  // Where a datagram to `to` goes (a fake address's name), null when it is
  // dropped.
  const net::Address* route(const net::Address& to);

  std::unique_ptr<net::PacketConn> inner_;
  route::Router& router_;
  outbound::Metadata flow_;
  const outbound::Outbound* out_;
  struct Verdict {
    net::Address to;
    bool allowed = false;
    net::Address real;  // what `to` is sent on as
  };
  std::array<Verdict, kCacheSize> cache_{};
  std::size_t cached_ = 0, next_slot_ = 0;
  std::size_t last_ = 0;  // index of the last verdict used
  std::uint64_t dropped_ = 0;
};

}  // namespace anytls::inbound
