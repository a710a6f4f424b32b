#include "outbound/ntp_query.hpp"

#include <array>
#include <memory>
#include <optional>
#include <string_view>

#include <asio/experimental/awaitable_operators.hpp>

#include "net/coro.hpp"

namespace anytls::outbound {

namespace {

// What a datagram from the server's port is: the reply (into `reply`), one
// to skip (another request's: kSkip), or why the exchange failed.
constexpr std::string_view kSkip = "skip";
std::string judge(const std::uint8_t* data, std::size_t n, net::sntp::SysTime sent, net::sntp::SysTime received,
                  std::optional<net::sntp::Reply>& reply) {
  auto decoded = net::sntp::decode_reply(data, n, sent, received);
  if (std::holds_alternative<net::sntp::Reply>(decoded)) {
    reply = std::get<net::sntp::Reply>(decoded);
    return {};
  }
  std::string why = std::get<std::string>(decoded);
  return why.rfind("reply to another request", 0) == 0 ? std::string(kSkip) : why;
}

asio::awaitable<net::Result<net::sntp::Reply>> exchange(Outbound* via, net::Address server) {
  const std::string where = "ntp " + server.to_string();
  Metadata md;
  md.inbound = "ntp";
  md.inbound_type = "ntp";
  md.network = Network::udp;
  md.destination = server;
  auto pc = co_await via->listen_packet(md);
  if (!pc) co_return net::Error{pc.error().code, where + ": " + pc.error().text()};
  std::unique_ptr<net::PacketConn> conn = std::move(*pc);
  const auto sent = std::chrono::system_clock::now();
  const net::sntp::Packet request = net::sntp::encode_request(sent);
  const asio::const_buffer out = asio::buffer(request);
  const std::error_code wec = co_await conn->write_packet(out, server);
  std::array<std::uint8_t, 512> buf;
  const asio::mutable_buffer space = asio::buffer(buf);
  net::Address from;
  net::ReadResult got{wec, 0};
  std::optional<net::sntp::Reply> reply;
  std::string why;
  while (!got.first) {
    got = co_await conn->read_packet(space, from);
    if (got.first) break;
    const auto received = std::chrono::system_clock::now();
    if (from.port != server.port) continue;
    why = judge(buf.data(), got.second, sent, received, reply);
    if (why != kSkip) break;
  }
  conn->close();
  if (reply) co_return *reply;
  if (wec) co_return net::Error{wec, where + ": write: " + wec.message()};
  if (got.first) co_return net::Error{got.first, where + ": read: " + got.first.message()};
  co_return net::Error{std::make_error_code(std::errc::protocol_error), where + ": " + why};
}

}  // namespace

asio::awaitable<net::Result<net::sntp::Reply>> ntp_query(Outbound& via, net::Address server,
                                                         std::chrono::milliseconds timeout) {
  using namespace asio::experimental::awaitable_operators;
  const std::string where = "ntp " + server.to_string();
  auto asking = exchange(&via, std::move(server));
  auto expiring = net::sleep_for(timeout);
  auto r = co_await (std::move(asking) || std::move(expiring));
  if (r.index() == 1)
    co_return net::Error{std::make_error_code(std::errc::timed_out),
                         where + ": no reply within " + std::to_string(timeout.count()) + " ms"};
  co_return std::move(std::get<0>(r));
}

}  // namespace anytls::outbound
