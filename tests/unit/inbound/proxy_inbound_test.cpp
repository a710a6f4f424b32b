// Loopback tests of the mixed / socks / http inbounds against local echo,
// UDP echo and HTTP servers through a test Router and Outbound.
#include <gtest/gtest.h>

#include "inbound/http.hpp"
#include "inbound/mixed.hpp"
#include "inbound/socks.hpp"
#include "unit/inbound/loopback.hpp"

namespace anytls::inbound {
namespace {

using namespace anytls::test;
namespace proxy = anytls::http::proxy;
using Bytes = std::vector<std::uint8_t>;

#define CO_REQUIRE(cond)                        \
  if (!(cond)) {                                \
    ADD_FAILURE() << "required: " << #cond;     \
    co_return;                                  \
  }

struct Env {
  asio::io_context io;
  TestRouter router;
  test::TcpEchoServer echo{io};
  std::shared_ptr<ServerState> http = start_http(io);
  test::UdpEchoServer udp_echo{io};
  std::unique_ptr<ProxyInbound> inbound;

  explicit Env(Protocols p, std::vector<config::ProxyUser> users = {}) {
    auto opts = proxy_options(std::move(users));
    switch (p) {
      case Protocols::socks: inbound = std::make_unique<SocksInbound>(io, "socks-in", opts, router); break;
      case Protocols::http: inbound = std::make_unique<HttpInbound>(io, "http-in", opts, router); break;
      case Protocols::mixed: inbound = std::make_unique<MixedInbound>(io, "mixed-in", opts, router); break;
    }
    EXPECT_FALSE(inbound->start());
  }
  std::uint16_t port() const { return inbound->port(); }
  std::uint16_t echo_port() const { return echo.port(); }
  std::uint16_t http_port() const { return http->acceptor.local_endpoint().port(); }

  void run(asio::awaitable<void> body) {
    test::run(io, std::move(body), [this] {
      inbound->stop();
      echo.stop();
      http->stop();
      udp_echo.stop();
    });
    EXPECT_EQ(inbound->live_connections(), 0u);
  }
};

std::uint16_t closed_port(asio::io_context& io) {
  tcp::acceptor a(io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
  return a.local_endpoint().port();  // closed when a goes away
}

Bytes socks5_request(std::uint8_t cmd, const net::Address& dest) {
  Bytes b{5, cmd, 0};
  socks::append_address(b, dest);
  return b;
}

// Greeting (+ auth) + CONNECT; returns the REP code, or -1 when the
// handshake failed before a reply.
asio::awaitable<int> socks5_connect(tcp::socket& s, const char* host, std::uint16_t port,
                                    const std::string* user = nullptr, const std::string* pass = nullptr) {
  net::Address dest{host, port};
  if (user != nullptr) {
    { Bytes msg_{5, 1, 2}; co_await send_bytes(s, std::move(msg_)); }
  } else {
    { Bytes msg_{5, 1, 0}; co_await send_bytes(s, std::move(msg_)); }
  }
  auto method = co_await read_n(s, 2);
  if (method.size() != 2 || method[0] != 5) co_return -1;
  if (user != nullptr) {
    if (method[1] != 2) co_return -1;
    Bytes a{1, static_cast<std::uint8_t>(user->size())};
    a.insert(a.end(), user->begin(), user->end());
    a.push_back(static_cast<std::uint8_t>(pass->size()));
    a.insert(a.end(), pass->begin(), pass->end());
    co_await send_bytes(s, a);
    auto status = co_await read_n(s, 2);
    if (status.size() != 2 || status[1] != 0) co_return -1;
  } else if (method[1] != 0) {
    co_return -1;
  }
  auto request = socks5_request(1, dest);
  co_await send_bytes(s, std::move(request));
  auto head = co_await read_n(s, 4);
  if (head.size() != 4) co_return -1;
  std::size_t rest = head[3] == 1 ? 6 : head[3] == 4 ? 18 : 0;
  if (head[3] == 3) {
    auto len = co_await read_n(s, 1);
    rest = static_cast<unsigned char>(len[0]) + 2;
  }
  auto skip_ = co_await read_n(s, rest);
  (void)skip_;
  co_return static_cast<unsigned char>(head[1]);
}

// The data of a chunked body (test input is well-formed).
std::string dechunk(std::string_view raw) {
  std::string out;
  for (;;) {
    auto eol = raw.find("\r\n");
    std::size_t size = std::stoul(std::string(raw.substr(0, eol)), nullptr, 16);
    raw.remove_prefix(eol + 2);
    if (size == 0) return out;
    out.append(raw.substr(0, size));
    raw.remove_prefix(size + 2);
  }
}

// Sends "hello", half-closes, expects "hello" back then EOF.
asio::awaitable<void> expect_echo(tcp::socket& s) {
  co_await send_all(s, "hello");
  s.shutdown(tcp::socket::shutdown_send);
  {
    auto got_ = co_await read_until_eof(s);
    EXPECT_EQ(got_, "hello");
  }
}

// ---- SOCKS5 -----------------------------------------------------------------------

asio::awaitable<void> socks5_connect_body(Env& e) {
  auto s = co_await connect_to(e.port());
  {
    auto got_ = co_await socks5_connect(s, "127.0.0.1", e.echo_port());
    EXPECT_EQ(got_, 0);
  }
  co_await expect_echo(s);
  CO_REQUIRE(e.router.outbound.dialed.size() == 1);
  auto& md = e.router.outbound.dialed[0];
  EXPECT_EQ(md.inbound, "socks-in");
  EXPECT_EQ(md.destination, (net::Address{"127.0.0.1", e.echo_port()}));
  EXPECT_EQ(md.source.address(), asio::ip::make_address("127.0.0.1"));
  EXPECT_EQ(md.network, outbound::Network::tcp);
}

TEST(SocksInbound, Socks5ConnectNoAuthHalfClose) {
  Env e(Protocols::socks);
  e.run(socks5_connect_body(e));
}

asio::awaitable<void> socks5_domain_body(Env& e) {
  auto s = co_await connect_to(e.port());
  {
    auto got_ = co_await socks5_connect(s, "echo.test", e.echo_port());
    EXPECT_EQ(got_, 0);
  }
  co_await expect_echo(s);
  CO_REQUIRE(e.router.outbound.dialed.size() == 1);
  EXPECT_EQ(e.router.outbound.dialed[0].destination, (net::Address{"echo.test", e.echo_port()}));
}

TEST(SocksInbound, Socks5ConnectDomain) {
  Env e(Protocols::socks);
  e.run(socks5_domain_body(e));
}

asio::awaitable<void> socks5_pipelined_body(Env& e) {
  // Greeting, request and first payload in one write (optimistic clients).
  auto s = co_await connect_to(e.port());
  Bytes all{5, 1, 0};
  auto req = socks5_request(1, {"127.0.0.1", e.echo_port()});
  all.insert(all.end(), req.begin(), req.end());
  for (char c : std::string("early")) all.push_back(static_cast<std::uint8_t>(c));
  co_await send_bytes(s, all);
  s.shutdown(tcp::socket::shutdown_send);
  auto got = co_await read_until_eof(s);
  EXPECT_EQ(got.size(), 2u + 10u + 5u);
  EXPECT_EQ(got.substr(12), "early");
}

TEST(SocksInbound, Socks5PipelinedData) {
  Env e(Protocols::socks);
  e.run(socks5_pipelined_body(e));
}

asio::awaitable<void> socks5_auth_body(Env& e) {
  std::string user = "alice", good = "secret", bad = "wrong";
  {
    auto s = co_await connect_to(e.port());
    {
      auto got_ = co_await socks5_connect(s, "127.0.0.1", e.echo_port(), &user, &good);
      EXPECT_EQ(got_, 0);
    }
    co_await expect_echo(s);
    CO_REQUIRE(e.router.outbound.dialed.size() == 1);
    EXPECT_EQ(e.router.outbound.dialed[0].user, "alice");
  }
  {
    // Wrong password: status 1, then the connection closes.
    auto s = co_await connect_to(e.port());
    { Bytes msg_{5, 1, 2}; co_await send_bytes(s, std::move(msg_)); }
    {
      auto got_ = co_await read_n(s, 2);
      EXPECT_EQ(got_, std::string("\x05\x02", 2));
    }
    Bytes a{1, 5, 'a', 'l', 'i', 'c', 'e', 5, 'w', 'r', 'o', 'n', 'g'};
    co_await send_bytes(s, a);
    {
      auto got_ = co_await read_until_eof(s);
      EXPECT_EQ(got_, std::string("\x01\x01", 2));
    }
  }
  {
    // No-auth only offered while users are configured: no acceptable method.
    auto s = co_await connect_to(e.port());
    { Bytes msg_{5, 1, 0}; co_await send_bytes(s, std::move(msg_)); }
    {
      auto got_ = co_await read_until_eof(s);
      EXPECT_EQ(got_, std::string("\x05\xff", 2));
    }
  }
  {
    // SOCKS4 cannot authenticate with a password.
    auto s = co_await connect_to(e.port());
    { Bytes msg_{4, 1, 0, 80, 127, 0, 0, 1, 'a', 0}; co_await send_bytes(s, std::move(msg_)); }
    {
      auto got_ = co_await read_until_eof(s);
      EXPECT_EQ(got_.substr(0, 2), std::string("\x00\x5b", 2));
    }
  }
  EXPECT_EQ(e.router.outbound.dialed.size(), 1u);
  (void)bad;
}

TEST(SocksInbound, Socks5UsernamePassword) {
  Env e(Protocols::socks, {{"bob", "x"}, {"alice", "secret"}});
  e.run(socks5_auth_body(e));
}

asio::awaitable<void> socks5_errors_body(Env& e) {
  {
    auto s = co_await connect_to(e.port());
    {
      auto got_ = co_await socks5_connect(s, "127.0.0.1", closed_port(e.io));
      EXPECT_EQ(got_, 5);
    }  // connection refused
    {
      auto got_ = co_await read_until_eof(s);
      EXPECT_EQ(got_, "");
    }
  }
  {
    e.router.reject_ports.insert(e.echo_port());
    auto s = co_await connect_to(e.port());
    {
      auto got_ = co_await socks5_connect(s, "127.0.0.1", e.echo_port());
      EXPECT_EQ(got_, 2);
    }  // not allowed by ruleset
  }
  {
    auto s = co_await connect_to(e.port());
    { Bytes msg_{5, 1, 0}; co_await send_bytes(s, std::move(msg_)); }
    auto skip_ = co_await read_n(s, 2);
    (void)skip_;
    net::Address target{"127.0.0.1", 1};
    auto bind = socks5_request(2, target);  // BIND
    co_await send_bytes(s, std::move(bind));
    auto r = co_await read_until_eof(s);
    CO_REQUIRE(r.size() == 10);
    EXPECT_EQ(r[1], 7);
  }
  {
    auto s = co_await connect_to(e.port());
    { Bytes msg_{5, 1, 0}; co_await send_bytes(s, std::move(msg_)); }
    auto skip_ = co_await read_n(s, 2);
    (void)skip_;
    { Bytes msg_{5, 1, 0, 7, 0, 0}; co_await send_bytes(s, std::move(msg_)); }  // unknown ATYP
    auto r = co_await read_until_eof(s);
    CO_REQUIRE(r.size() == 10);
    EXPECT_EQ(r[1], 8);
  }
}

TEST(SocksInbound, Socks5ErrorReplies) {
  Env e(Protocols::socks);
  e.run(socks5_errors_body(e));
}

TEST(SocksInbound, ReplyCodeMapping) {
  EXPECT_EQ(socks5_reply_for(make_error_code(DispatchError::rejected)), socks::Reply5::not_allowed);
  EXPECT_EQ(socks5_reply_for(asio::error::connection_refused), socks::Reply5::connection_refused);
  EXPECT_EQ(socks5_reply_for(asio::error::host_unreachable), socks::Reply5::host_unreachable);
  EXPECT_EQ(socks5_reply_for(asio::error::host_not_found), socks::Reply5::host_unreachable);
  EXPECT_EQ(socks5_reply_for(asio::error::network_unreachable), socks::Reply5::network_unreachable);
  EXPECT_EQ(socks5_reply_for(asio::error::timed_out), socks::Reply5::ttl_expired);
  EXPECT_EQ(socks5_reply_for(asio::error::broken_pipe), socks::Reply5::general_failure);
  EXPECT_EQ(http_status_for(make_error_code(DispatchError::rejected)), 403);
  EXPECT_EQ(http_status_for(asio::error::timed_out), 504);
  EXPECT_EQ(http_status_for(asio::error::connection_refused), 502);
}

// ---- SOCKS4 / 4a --------------------------------------------------------------------

asio::awaitable<void> socks4_body(Env& e) {
  std::uint8_t hi = static_cast<std::uint8_t>(e.echo_port() >> 8), lo = static_cast<std::uint8_t>(e.echo_port());
  {
    auto s = co_await connect_to(e.port());
    { Bytes msg_{4, 1, hi, lo, 127, 0, 0, 1, 'u', 0}; co_await send_bytes(s, std::move(msg_)); }
    {
      auto got_ = co_await read_n(s, 8);
      EXPECT_EQ(got_, std::string("\x00\x5a\x00\x00\x00\x00\x00\x00", 8));
    }
    co_await expect_echo(s);
  }
  {
    auto s = co_await connect_to(e.port());
    { Bytes msg_{4, 1, hi, lo, 0, 0, 0, 1, 0, 'e', 'c', 'h', 'o', '.', 't', 'e', 's', 't', 0}; co_await send_bytes(s, std::move(msg_)); }
    {
      auto got_ = co_await read_n(s, 8);
      EXPECT_EQ(got_.substr(0, 2), std::string("\x00\x5a", 2));
    }
    co_await expect_echo(s);
  }
  {
    auto s = co_await connect_to(e.port());
    std::uint16_t p = closed_port(e.io);
    { Bytes msg_{4, 1, static_cast<std::uint8_t>(p >> 8), static_cast<std::uint8_t>(p), 127, 0, 0, 1, 0}; co_await send_bytes(s, std::move(msg_)); }
    {
      auto got_ = co_await read_until_eof(s);
      EXPECT_EQ(got_, std::string("\x00\x5b\x00\x00\x00\x00\x00\x00", 8));
    }
  }
  CO_REQUIRE(e.router.outbound.dialed.size() == 3);
  EXPECT_EQ(e.router.outbound.dialed[0].destination, (net::Address{"127.0.0.1", e.echo_port()}));
  EXPECT_EQ(e.router.outbound.dialed[1].destination, (net::Address{"echo.test", e.echo_port()}));
}

TEST(SocksInbound, Socks4And4aConnect) {
  Env e(Protocols::socks);
  e.run(socks4_body(e));
}

// ---- SOCKS5 UDP ASSOCIATE -------------------------------------------------------------

// Greeting + UDP ASSOCIATE on s; the relay's endpoint (port 0 on failure).
asio::awaitable<udp::endpoint> socks5_associate(tcp::socket& s) {
  { Bytes msg_{5, 1, 0}; co_await send_bytes(s, std::move(msg_)); }
  {
    auto got_ = co_await read_n(s, 2);
    EXPECT_EQ(got_, std::string("\x05\x00", 2));
  }
  net::Address any{"0.0.0.0", 0};
  auto assoc = socks5_request(3, any);
  co_await send_bytes(s, std::move(assoc));
  auto reply = co_await read_n(s, 10);
  if (reply.size() != 10 || reply[1] != 0 || reply[3] != 1) co_return udp::endpoint{};
  auto parsed = socks::parse_address(socks::Bytes(reinterpret_cast<const std::uint8_t*>(reply.data()) + 3, 7));
  if (parsed.status != socks::Status::ok) co_return udp::endpoint{};
  EXPECT_EQ(parsed.value.host, "127.0.0.1");
  co_return udp::endpoint(asio::ip::make_address(parsed.value.host), parsed.value.port);
}

asio::awaitable<void> udp_body(Env& e) {
  auto s = co_await connect_to(e.port());
  const udp::endpoint relay_ep = co_await socks5_associate(s);
  CO_REQUIRE(relay_ep.port() != 0);

  udp::socket u(e.io, udp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
  net::Address echo{"127.0.0.1", e.udp_echo.port()};
  std::vector<std::string> msgs{"ping-1", "ping-2", std::string(1400, 'x')};
  for (const std::string& msg : msgs) {
    Bytes d{0, 0, 0};
    socks::append_address(d, echo);
    d.insert(d.end(), msg.begin(), msg.end());
    co_await u.async_send_to(asio::buffer(d), relay_ep, asio::use_awaitable);
    std::array<std::uint8_t, 2048> buf;
    udp::endpoint from;
    std::size_t n = co_await u.async_receive_from(asio::buffer(buf), from, asio::use_awaitable);
    EXPECT_EQ(from, relay_ep);
    auto h = socks::parse_socks5_udp_header(socks::Bytes(buf.data(), n));
    CO_REQUIRE(h.status == socks::Status::ok);
    EXPECT_EQ(h.value.destination, echo);
    EXPECT_EQ(std::string(reinterpret_cast<char*>(buf.data()) + h.consumed, n - h.consumed), msg);
  }
  CO_REQUIRE(e.router.outbound.dialed.size() == 1);
  EXPECT_EQ(e.router.outbound.dialed[0].network, outbound::Network::udp);
  EXPECT_EQ(e.router.outbound.dialed[0].destination, echo);
  // The association ends with its TCP connection.
  EXPECT_EQ(e.inbound->live_connections(), 1u);
  s.close();
  co_await until([&] { return e.inbound->live_connections() == 0; });
}

TEST(SocksInbound, Socks5UdpAssociateEcho) {
  Env e(Protocols::socks);
  e.run(udp_body(e));
}

// Issue 24: each new destination of a UDP flow is routed again. The flow
// starts at an allowed address; a datagram to an address the rules reject
// never leaves, and the flow goes on.
// (Outside the coroutine: GCC 12 and initializer lists, docs/architecture.md.)
// A SOCKS5 UDP datagram to `to` carrying msg.
Bytes socks5_datagram(const net::Address& to, const std::string& msg) {
  Bytes d{0, 0, 0};
  socks::append_address(d, to);
  d.insert(d.end(), msg.begin(), msg.end());
  return d;
}

std::vector<net::Address> reroute_order(const net::Address& allowed, const net::Address& rejected) {
  return {allowed, rejected, rejected, allowed};
}

asio::awaitable<void> udp_reroute_body(Env& e, test::UdpEchoServer& forbidden) {
  auto s = co_await connect_to(e.port());
  const udp::endpoint relay_ep = co_await socks5_associate(s);
  CO_REQUIRE(relay_ep.port() != 0);
  udp::socket u(e.io, udp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
  net::Address allowed{"127.0.0.1", e.udp_echo.port()};
  net::Address rejected{"127.0.0.1", forbidden.port()};
  e.router.reject_ports.insert(forbidden.port());
  // allowed, rejected (twice: the verdict is cached), allowed again.
  const auto order = reroute_order(allowed, rejected);
  for (const auto& to : order) {
    const std::string msg = "to " + to.to_string();
    const Bytes d = socks5_datagram(to, msg);
    co_await u.async_send_to(asio::buffer(d), relay_ep, asio::use_awaitable);
    if (to == rejected) continue;
    std::array<std::uint8_t, 2048> buf;
    udp::endpoint from;
    std::size_t n = co_await u.async_receive_from(asio::buffer(buf), from, asio::use_awaitable);
    auto h = socks::parse_socks5_udp_header(socks::Bytes(buf.data(), n));
    CO_REQUIRE(h.status == socks::Status::ok);
    EXPECT_EQ(h.value.destination, allowed);
    EXPECT_EQ(std::string(reinterpret_cast<char*>(buf.data()) + h.consumed, n - h.consumed), msg);
  }
  EXPECT_EQ(e.udp_echo.datagrams(), 2u);
  EXPECT_EQ(forbidden.datagrams(), 0u) << "a datagram reached a destination the rules reject";
  // The rules were asked once for the flow and once for the new destination.
  std::size_t asked_rejected = 0;
  for (const auto& md : e.router.decided) asked_rejected += md.destination == rejected;
  EXPECT_EQ(asked_rejected, 1u);
  s.close();
  forbidden.stop();
  co_await until([&] { return e.inbound->live_connections() == 0; });
}

TEST(SocksInbound, Socks5UdpEachNewDestinationIsRouted) {
  Env e(Protocols::socks);
  test::UdpEchoServer forbidden{e.io};
  e.run(udp_reroute_body(e, forbidden));
}

// fakeip over UDP: a datagram to a fake address goes on as the name the
// table holds for it (here the echo server's address); one to a fake address
// the table does not hold is dropped, never sent.
class FakeTable final : public route::DnsHandler {
 public:
  asio::awaitable<net::Result<std::optional<std::vector<std::uint8_t>>>> answer(std::span<const std::uint8_t>,
                                                                               const outbound::Metadata&) override {
    co_return net::Error{std::make_error_code(std::errc::not_supported), "no DNS here"};
  }
  std::optional<std::string> fake_name(const asio::ip::address& a) const override {
    if (a == asio::ip::make_address("198.18.0.2")) return std::string("127.0.0.1");
    if (a.is_v4() && (a.to_v4().to_uint() >> 17) == (asio::ip::make_address_v4("198.18.0.0").to_uint() >> 17))
      return std::string();  // in the range, not held
    return std::nullopt;
  }
};

std::vector<net::Address> fake_order(std::uint16_t port) {
  return {{"127.0.0.1", port}, {"198.18.0.2", port}, {"198.18.0.9", port}, {"198.18.0.2", port}};
}

asio::awaitable<void> udp_fakeip_body(Env& e) {
  auto s = co_await connect_to(e.port());
  const udp::endpoint relay_ep = co_await socks5_associate(s);
  CO_REQUIRE(relay_ep.port() != 0);
  udp::socket u(e.io, udp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
  const auto order = fake_order(e.udp_echo.port());
  for (const auto& to : order) {
    const std::string msg = "to " + to.to_string();
    const Bytes d = socks5_datagram(to, msg);
    co_await u.async_send_to(asio::buffer(d), relay_ep, asio::use_awaitable);
    if (to.host == "198.18.0.9") continue;
    std::array<std::uint8_t, 2048> buf;
    udp::endpoint from;
    std::size_t n = co_await u.async_receive_from(asio::buffer(buf), from, asio::use_awaitable);
    auto h = socks::parse_socks5_udp_header(socks::Bytes(buf.data(), n));
    CO_REQUIRE(h.status == socks::Status::ok);
    EXPECT_EQ(std::string(reinterpret_cast<char*>(buf.data()) + h.consumed, n - h.consumed), msg);
  }
  EXPECT_EQ(e.udp_echo.datagrams(), 3u) << "the unknown fake address was sent on";
  // The rules saw the name, never the fake address.
  for (const auto& md : e.router.decided) EXPECT_NE(md.destination.host.rfind("198.18.", 0), 0u);
  s.close();
  co_await until([&] { return e.inbound->live_connections() == 0; });
}

TEST(SocksInbound, Socks5UdpToAFakeAddressGoesByItsName) {
  Env e(Protocols::socks);
  e.router.dns_handler = std::make_shared<FakeTable>();
  e.run(udp_fakeip_body(e));
}

// ---- HTTP --------------------------------------------------------------------------

asio::awaitable<void> http_connect_body(Env& e) {
  auto s = co_await connect_to(e.port());
  {
    std::string out_ = "CONNECT 127.0.0.1:" + std::to_string(e.echo_port()) + " HTTP/1.1\r\nHost: x\r\n\r\n";
    co_await send_all(s, out_);
  }
  std::string established = "HTTP/1.1 200 Connection established\r\n\r\n";
  {
    auto got_ = co_await read_n(s, established.size());
    EXPECT_EQ(got_, established);
  }
  co_await expect_echo(s);
}

TEST(HttpInbound, Connect) {
  Env e(Protocols::http);
  e.run(http_connect_body(e));
}

asio::awaitable<void> http_keep_alive_body(Env& e) {
  auto s = co_await connect_to(e.port());
  std::string base = "http://origin.test:" + std::to_string(e.http_port());
  std::string pending;
  // 1: GET, Content-Length response.
  {
    std::string out_ = "GET " + base + "/one?x=1 HTTP/1.1\r\nHost: origin.test\r\nProxy-Connection: keep-alive\r\n"
                       "Proxy-Authorization: Basic eDp5\r\nUser-Agent: t\r\n\r\n";
    co_await send_all(s, out_);
  }
  auto [h1, b1] = co_await read_response(s, pending);
  EXPECT_EQ(h1.status, 200);
  EXPECT_EQ(b1, "GET /one?x=1 host=origin.test:" + std::to_string(e.http_port()) +
                    " body= hdrs=Host,User-Agent,Connection,");
  EXPECT_FALSE(proxy::find_header(h1.headers, "Connection"));
  // 2: POST with a body, chunked response, pipelined with 3.
  {
    std::string out_ = "POST " + base + "/chunked HTTP/1.1\r\nContent-Length: 4\r\n\r\nabcd"
                       "GET " + base + "/three HTTP/1.1\r\n\r\n";
    co_await send_all(s, out_);
  }
  // The chunked response, raw: read it with the tracker.
  std::string raw;
  proxy::Parsed<proxy::ResponseHead> p2;
  std::array<char, 4096> buf;
  for (;;) {
    p2 = proxy::parse_response_head(pending);
    if (p2.status != proxy::Status::need_more) break;
    std::size_t n = co_await s.async_read_some(asio::buffer(buf), asio::use_awaitable);
    pending.append(buf.data(), n);
  }
  CO_REQUIRE(p2.status == proxy::Status::ok);
  EXPECT_EQ(proxy::find_header(p2.value.headers, "Transfer-Encoding").value_or(""), "chunked");
  pending.erase(0, p2.consumed);
  proxy::ChunkedTracker tracker;
  std::size_t used = 0;
  for (;;) {
    used += tracker.feed(std::string_view(pending).substr(used));
    if (tracker.done()) break;
    std::size_t n = co_await s.async_read_some(asio::buffer(buf), asio::use_awaitable);
    pending.append(buf.data(), n);
  }
  std::string chunked = pending.substr(0, used);
  pending.erase(0, used);
  EXPECT_NE(chunked.find("X-Trailer: t"), std::string::npos);
  std::string decoded = dechunk(chunked);
  EXPECT_EQ(decoded.substr(0, 13), "POST /chunked");
  EXPECT_NE(decoded.find("body=abcd hdrs="), std::string::npos);
  EXPECT_NE(decoded.find("Content-Length"), std::string::npos);
  auto [h3, b3] = co_await read_response(s, pending);
  EXPECT_EQ(h3.status, 200);
  EXPECT_EQ(b3.substr(0, 10), "GET /three");
  // 4: a close-delimited response ends the client connection too.
  {
    std::string out_ = "GET " + base + "/close HTTP/1.1\r\n\r\n";
    co_await send_all(s, out_);
  }
  auto tail = co_await read_until_eof(s);
  auto rest = pending + tail;
  EXPECT_EQ(rest.substr(0, 15), "HTTP/1.1 200 OK");
  EXPECT_NE(rest.find("Connection: close"), std::string::npos);
  EXPECT_NE(rest.find("GET /close"), std::string::npos);
  EXPECT_EQ(e.router.outbound.dialed.size(), 4u);
}

TEST(HttpInbound, PlainRequestsKeepAlive) {
  Env e(Protocols::http);
  e.run(http_keep_alive_body(e));
}

asio::awaitable<void> http_auth_body(Env& e) {
  auto s = co_await connect_to(e.port());
  std::string url = "http://127.0.0.1:" + std::to_string(e.http_port()) + "/a";
  std::string pending;
  {
    std::string out_ = "GET " + url + " HTTP/1.1\r\n\r\n";
    co_await send_all(s, out_);
  }
  auto [h1, b1] = co_await read_response(s, pending);
  EXPECT_EQ(h1.status, 407);
  EXPECT_TRUE(proxy::find_header(h1.headers, "Proxy-Authenticate"));
  // Same connection, wrong then right credentials ("u:p" = dTpw).
  {
    std::string out_ = "GET " + url + " HTTP/1.1\r\nProxy-Authorization: Basic dTp4\r\n\r\n";
    co_await send_all(s, out_);
  }
  auto [h2, b2] = co_await read_response(s, pending);
  EXPECT_EQ(h2.status, 407);
  {
    std::string out_ = "GET " + url + " HTTP/1.1\r\nProxy-Authorization: Basic dTpw\r\n\r\n";
    co_await send_all(s, out_);
  }
  auto [h3, b3] = co_await read_response(s, pending);
  EXPECT_EQ(h3.status, 200);
  EXPECT_EQ(b3.substr(0, 6), "GET /a");
  CO_REQUIRE(e.router.outbound.dialed.size() == 1);
  EXPECT_EQ(e.router.outbound.dialed[0].user, "u");
  // CONNECT without credentials: 407 and close.
  auto c = co_await connect_to(e.port());
  co_await send_all(c, "CONNECT 127.0.0.1:1 HTTP/1.1\r\n\r\n");
  {
    auto got_ = co_await read_until_eof(c);
    EXPECT_EQ(got_.substr(0, 12), "HTTP/1.1 407");
  }
}

TEST(HttpInbound, ProxyAuthorization) {
  Env e(Protocols::http, {{"u", "p"}});
  e.run(http_auth_body(e));
}

asio::awaitable<void> http_errors_body(Env& e) {
  {
    e.router.reject_all = true;
    auto s = co_await connect_to(e.port());
    co_await send_all(s, "CONNECT 127.0.0.1:443 HTTP/1.1\r\n\r\n");
    {
      auto got_ = co_await read_until_eof(s);
      EXPECT_EQ(got_.substr(0, 12), "HTTP/1.1 403");
    }
    // Plain request rejected: 403, and the connection stays usable.
    auto p = co_await connect_to(e.port());
    std::string pending;
    co_await send_all(p, "GET http://blocked.test/ HTTP/1.1\r\n\r\n");
    auto [h, b] = co_await read_response(p, pending);
    EXPECT_EQ(h.status, 403);
    e.router.reject_all = false;
    {
      std::string out_ = "GET http://127.0.0.1:" + std::to_string(e.http_port()) + "/ok HTTP/1.1\r\n\r\n";
      co_await send_all(p, out_);
    }
    auto [h2, b2] = co_await read_response(p, pending);
    EXPECT_EQ(h2.status, 200);
  }
  {
    auto s = co_await connect_to(e.port());
    {
      std::string out_ = "CONNECT 127.0.0.1:" + std::to_string(closed_port(e.io)) + " HTTP/1.1\r\n\r\n";
      co_await send_all(s, out_);
    }
    {
      auto got_ = co_await read_until_eof(s);
      EXPECT_EQ(got_.substr(0, 12), "HTTP/1.1 502");
    }
  }
  {
    auto s = co_await connect_to(e.port());
    co_await send_all(s, "GET /not-a-proxy-request HTTP/1.1\r\nHost: x\r\n\r\n");
    {
      auto got_ = co_await read_until_eof(s);
      EXPECT_EQ(got_.substr(0, 12), "HTTP/1.1 400");
    }
  }
  {
    auto s = co_await connect_to(e.port());
    {
      std::string out_ = "GET http://x/ HTTP/1.1\r\nX-Big: " + std::string(70 * 1024, 'a');
      co_await send_all(s, out_);
    }
    {
      auto got_ = co_await read_until_eof(s);
      EXPECT_EQ(got_.substr(0, 12), "HTTP/1.1 431");
    }
  }
  {
    auto s = co_await connect_to(e.port());
    co_await send_all(s, "garbage\r\n\r\n");
    {
      auto got_ = co_await read_until_eof(s);
      EXPECT_EQ(got_.substr(0, 12), "HTTP/1.1 400");
    }
  }
}

TEST(HttpInbound, ErrorResponses) {
  Env e(Protocols::http);
  e.run(http_errors_body(e));
}

// ---- mixed ---------------------------------------------------------------------------

asio::awaitable<void> mixed_body(Env& e) {
  {
    auto s = co_await connect_to(e.port());
    {
      auto got_ = co_await socks5_connect(s, "127.0.0.1", e.echo_port());
      EXPECT_EQ(got_, 0);
    }
    co_await expect_echo(s);
  }
  {
    auto s = co_await connect_to(e.port());
    std::uint8_t hi = static_cast<std::uint8_t>(e.echo_port() >> 8), lo = static_cast<std::uint8_t>(e.echo_port());
    { Bytes msg_{4, 1, hi, lo, 0, 0, 0, 9, 0, 'e', '.', 't', 0}; co_await send_bytes(s, std::move(msg_)); }
    {
      auto got_ = co_await read_n(s, 8);
      EXPECT_EQ(got_.substr(0, 2), std::string("\x00\x5a", 2));
    }
    co_await expect_echo(s);
  }
  {
    auto s = co_await connect_to(e.port());
    std::string pending;
    {
      std::string out_ = "GET http://127.0.0.1:" + std::to_string(e.http_port()) + "/m HTTP/1.1\r\n\r\n";
      co_await send_all(s, out_);
    }
    auto [h, b] = co_await read_response(s, pending);
    EXPECT_EQ(h.status, 200);
    EXPECT_EQ(b.substr(0, 6), "GET /m");
  }
  {
    auto s = co_await connect_to(e.port());
    {
      std::string out_ = "CONNECT 127.0.0.1:" + std::to_string(e.echo_port()) + " HTTP/1.1\r\n\r\n";
      co_await send_all(s, out_);
    }
    auto skip_ = co_await read_n(s, 39);
    (void)skip_;
    co_await expect_echo(s);
  }
  EXPECT_EQ(e.router.outbound.dialed.size(), 4u);
}

TEST(MixedInbound, DispatchesSocks4Socks5Http) {
  Env e(Protocols::mixed);
  e.run(mixed_body(e));
}

asio::awaitable<void> socks_only_body(Env& e) {
  auto s = co_await connect_to(e.port());
  co_await send_all(s, "GET http://x/ HTTP/1.1\r\n\r\n");
  {
    auto got_ = co_await read_until_eof(s);
    EXPECT_EQ(got_, "");
  }
}

TEST(SocksInbound, RefusesHttp) {
  Env e(Protocols::socks);
  e.run(socks_only_body(e));
}

// ---- lifecycle -------------------------------------------------------------------------

asio::awaitable<void> stop_body(Env& e) {
  auto a = co_await connect_to(e.port());
  {
    auto got_ = co_await socks5_connect(a, "127.0.0.1", e.echo_port());
    EXPECT_EQ(got_, 0);
  }
  co_await send_all(a, "x");
  {
    auto got_ = co_await read_n(a, 1);
    EXPECT_EQ(got_, "x");
  }
  auto b = co_await connect_to(e.port());  // mid-handshake
  { Bytes msg_{5}; co_await send_bytes(b, std::move(msg_)); }
  co_await until([&] { return e.inbound->live_connections() == 2; });
  e.inbound->stop();
  {
    auto got_ = co_await read_until_eof(a);
    EXPECT_EQ(got_, "");
  }
  {
    auto got_ = co_await read_until_eof(b);
    EXPECT_EQ(got_, "");
  }
  co_await until([&] { return e.inbound->live_connections() == 0; });
  // The listener is closed too.
  tcp::socket c(e.io);
  auto [ec] = co_await c.async_connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), e.port()), use_tuple);
  EXPECT_TRUE(ec);
}

TEST(ProxyInbound, StopClosesEverything) {
  Env e(Protocols::mixed);
  std::uint16_t port = e.port();
  e.run(stop_body(e));
  EXPECT_NE(port, 0);
}

TEST(ProxyInbound, StartErrors) {
  asio::io_context io;
  TestRouter router;
  auto bad = proxy_options();
  bad.listen.listen = "not-an-ip";
  MixedInbound a(io, "a", bad, router);
  EXPECT_EQ(a.start(), asio::error::invalid_argument);
  MixedInbound b(io, "b", proxy_options(), router);
  ASSERT_FALSE(b.start());
  auto same = proxy_options();
  same.listen.listen_port = b.port();
  MixedInbound c(io, "c", same, router);
  EXPECT_EQ(c.start(), asio::error::address_in_use);
  b.stop();
  io.run();
}

}  // namespace
}  // namespace anytls::inbound
