// An outbound for route tests: dials like the inbound tests' TestOutbound
// (names go to 127.0.0.1), with a tag, and records what it was asked to dial.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include <asio/ip/tcp.hpp>

#include "net/coro.hpp"
#include "net/tcp_conn.hpp"
#include "outbound/outbound.hpp"

namespace anytls::test {
class TagOutbound final : public outbound::Outbound {
 public:
  explicit TagOutbound(std::string tag) : tag_(std::move(tag)) {}
  const std::string& tag() const override { return tag_; }
  std::string_view type() const override { return "test"; }
  asio::awaitable<net::Result<std::unique_ptr<net::Conn>>> dial(const outbound::Metadata& md) override {
    dialed.push_back(md);
    auto ip = md.destination.ip().value_or(asio::ip::make_address("127.0.0.1"));
    asio::ip::tcp::socket s(co_await asio::this_coro::executor);
    auto [ec] = co_await s.async_connect(asio::ip::tcp::endpoint(ip, md.destination.port), net::use_tuple);
    if (ec) co_return net::Error{ec, "dial: " + ec.message()};
    co_return std::unique_ptr<net::Conn>(std::make_unique<net::TcpConn>(std::move(s)));
  }
  asio::awaitable<net::Result<std::unique_ptr<net::PacketConn>>> listen_packet(const outbound::Metadata&) override {
    co_return net::Error{asio::error::operation_not_supported, {}};
  }
  std::vector<outbound::Metadata> dialed;

 private:
  std::string tag_;
};

}  // namespace anytls::test
