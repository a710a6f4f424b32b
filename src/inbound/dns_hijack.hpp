// hijack-dns: what the dispatch hands an inbound instead of an outbound's
// connection when a route rule says hijack-dns. Queries the client sends are
// answered by the DNS module (route::DnsHandler); nothing leaves the process.
//   DnsPacketConn: one query per datagram (SOCKS5 UDP ASSOCIATE to port 53).
//   DnsStreamConn: DNS over TCP framing (2-byte length before each message).
// Both keep at most a few answers waiting for the client (memory bounded: a
// client that sends and never reads loses answers over UDP and is closed
// over TCP).
#pragma once
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <vector>

#include <asio/steady_timer.hpp>

#include "net/conn.hpp"
#include "outbound/outbound.hpp"
#include "route/router.hpp"

namespace anytls::inbound {

class DnsPacketConn final : public net::PacketConn {
 public:
  static constexpr std::size_t kMaxWaiting = 16;
  DnsPacketConn(std::shared_ptr<route::DnsHandler> dns, outbound::Metadata md)
      : dns_(std::move(dns)), md_(std::move(md)) {}
  asio::awaitable<net::ReadResult> read_packet(asio::mutable_buffer buf, net::Address& from) override;
  // Answers the query before it returns (queries of one flow are served in order).
  asio::awaitable<std::error_code> write_packet(asio::const_buffer buf, const net::Address& to) override;
  void close() override;

 private:
  struct Answer {
    std::vector<std::uint8_t> bytes;
    net::Address from;
  };
  std::shared_ptr<route::DnsHandler> dns_;
  outbound::Metadata md_;
  std::deque<Answer> answers_;
  std::optional<asio::steady_timer> wake_;
  bool closed_ = false;
};

class DnsStreamConn final : public net::Conn {
 public:
  static constexpr std::size_t kMaxPending = 2 * (65535 + 2);
  DnsStreamConn(std::shared_ptr<route::DnsHandler> dns, outbound::Metadata md)
      : dns_(std::move(dns)), md_(std::move(md)) {}
  asio::awaitable<net::ReadResult> read_some(asio::mutable_buffer buf) override;
  asio::awaitable<std::error_code> write(asio::const_buffer buf) override;
  void shutdown_write() override;
  void close() override;

 private:
  void wake();
  std::shared_ptr<route::DnsHandler> dns_;
  outbound::Metadata md_;
  std::vector<std::uint8_t> in_;   // queries not yet complete
  std::vector<std::uint8_t> out_;  // framed answers not yet read
  std::optional<asio::steady_timer> wake_;
  bool eof_ = false;
  bool closed_ = false;
};

}  // namespace anytls::inbound
