#include "inbound/socks.hpp"

#include <array>
#include <chrono>

#include <asio/error.hpp>
#include <asio/experimental/awaitable_operators.hpp>
#include <spdlog/spdlog.h>

#include "inbound/packet_route.hpp"
#include "net/coro.hpp"

namespace anytls::inbound {

namespace {

using net::use_tuple;

// Holds any single SOCKS handshake message (the largest, RFC 1929 auth, is
// 513 bytes; a SOCKS4a request is capped at 8 + 256 + 256), and the client's
// first bytes when a sniff rule reads them (a browser's TLS ClientHello is
// about 2 kB).
constexpr std::size_t kHandshakeBuffer = 8192;
// One UDP datagram.
constexpr std::size_t kMaxDatagram = 65536;

template <class T>
asio::awaitable<socks::Parsed<T>> read_message(StreamBuffer& in, net::Conn& c,
                                               socks::Parsed<T> (*parse)(socks::Bytes)) {
  for (;;) {
    auto r = parse(in.data());
    if (r.status != socks::Status::need_more) co_return r;
    auto ec = co_await in.fill(c);
    if (ec) {
      r.status = socks::Status::invalid;
      r.error = ec == asio::error::eof ? "unexpected end of stream" : ec.message();
      co_return r;
    }
  }
}

template <std::size_t N>
asio::awaitable<std::error_code> send(Session& s, const std::array<std::uint8_t, N>& bytes) {
  co_return co_await s.client().write(asio::buffer(bytes));
}

asio::awaitable<std::error_code> send(Session& s, const std::vector<std::uint8_t>& bytes) {
  co_return co_await s.client().write(asio::buffer(bytes));
}

void log_handshake_error(Session& s, std::string_view what, std::string_view why) {
  spdlog::debug("{}: connection from {}: {}: {}", s.ctx().log_name(), endpoint_string(s.source()), what, why);
}

enum class Version { v4, v5 };

// (Messages are built into named locals before co_await: GCC 12 rule 1 of
// docs/architecture.md.)
const net::Address kNoAddress{"0.0.0.0", 0};

std::vector<std::uint8_t> socks4_reply_bytes(std::uint8_t code) {
  auto r = socks::socks4_reply(code);
  return {r.begin(), r.end()};
}

// CONNECT: dial, then reply (success only once the dial succeeded), then
// relay. `in` may hold bytes the client sent after its request.
// CONNECT: dial, then reply (success only once the dial succeeded), then
// relay. `in` may hold bytes the client sent after its request. A sniff rule
// answers success first, to read the client's first bytes (as sing-box
// does); a failed dial then just closes.
asio::awaitable<void> socks_connect(std::shared_ptr<Session> s, StreamBuffer& in, net::Address destination,
                                    Version version) {
  auto md = s->metadata(outbound::Network::tcp, std::move(destination));
  SessionPeek peek(*s, in,
                   version == Version::v4 ? socks4_reply_bytes(socks::kReply4Granted)
                                          : socks::socks5_reply(socks::Reply5::succeeded, kNoAddress));
  auto dialed = co_await connect(s->ctx().router, md, &peek);
  if (s->closed()) co_return;
  if (!dialed) {
    if (dialed.error().code == make_error_code(DispatchError::dropped)) {
      co_await hold_silently(*s);
      co_return;
    }
    if (peek.started()) co_return;
    auto reply = version == Version::v4 ? socks4_reply_bytes(socks::kReply4Rejected)
                                        : socks::socks5_reply(socks5_reply_for(dialed.error().code), kNoAddress);
    co_await send(*s, reply);
    co_return;
  }
  std::unique_ptr<net::Conn> upstream = std::move(dialed.value());
  auto registered = s->track(upstream.get());
  auto ec = co_await peek.start();
  if (ec || s->closed()) co_return;
  s->clear_deadline();
  if (!in.empty()) {
    if (co_await upstream->write(asio::buffer(in.data().data(), in.size()))) co_return;
  }
  in.release();
  co_await relay_logged(md, s->client(), *upstream);
}

asio::awaitable<void> serve_socks4(std::shared_ptr<Session> s, StreamBuffer& in) {
  auto req = co_await read_message(in, s->client(), socks::parse_socks4_request);
  if (req.status != socks::Status::ok) {
    log_handshake_error(*s, "socks4 request", req.error);
    co_return;
  }
  in.consume(req.consumed);
  if (s->ctx().auth_required()) {
    // SOCKS4 has no password: only a user with an empty one can use it.
    if (!s->ctx().check_user(req.value.user_id, "")) {
      log_handshake_error(*s, "socks4", "authentication required");
      co_await send(*s, socks::socks4_reply(socks::kReply4Rejected));
      co_return;
    }
    s->user = req.value.user_id;
  }
  if (req.value.command != socks::kCommandConnect) {
    log_handshake_error(*s, "socks4", "unsupported command " + std::to_string(req.value.command));
    co_await send(*s, socks::socks4_reply(socks::kReply4Rejected));
    co_return;
  }
  co_await socks_connect(s, in, std::move(req.value.destination), Version::v4);
}

// ---- UDP ASSOCIATE ---------------------------------------------------------------

struct UdpFlow {
  asio::ip::udp::socket& udp;
  net::PacketConn& remote;
  asio::ip::udp::endpoint client;  // where replies go: the latest client source
  std::uint64_t up = 0;
  std::uint64_t down = 0;
};

bool transient(const std::error_code& ec) { return transient_udp_error(ec); }

// A datagram from the client: its header, or nullopt to drop it (not from the
// control connection's peer, malformed, or fragmented).
std::optional<socks::Parsed<socks::Socks5UdpHeader>> client_datagram(Session& s,
                                                                     const asio::ip::udp::endpoint& from,
                                                                     const std::uint8_t* data, std::size_t n) {
  if (net::unmap(from.address()) != s.source().address()) return std::nullopt;
  auto h = socks::parse_socks5_udp_header(socks::Bytes(data, n));
  if (h.status != socks::Status::ok || h.value.frag != 0) return std::nullopt;
  return h;
}

asio::awaitable<void> udp_client_to_remote(std::shared_ptr<Session> s, UdpFlow& flow,
                                           std::unique_ptr<std::uint8_t[]> buf) {
  for (;;) {
    asio::ip::udp::endpoint from;
    auto [ec, n] = co_await flow.udp.async_receive_from(asio::buffer(buf.get(), kMaxDatagram), from, use_tuple);
    if (s->closed()) break;
    if (ec) {
      if (transient(ec)) continue;
      break;
    }
    auto h = client_datagram(*s, from, buf.get(), n);
    if (!h) continue;
    flow.client = from;
    auto wec = co_await flow.remote.write_packet(asio::buffer(buf.get() + h->consumed, n - h->consumed),
                                                 h->value.destination);
    if (s->closed()) break;
    if (wec) {
      if (transient(wec)) continue;
      break;
    }
    flow.up += n - h->consumed;
  }
  s->close();
}

asio::awaitable<void> udp_remote_to_client(std::shared_ptr<Session> s, UdpFlow& flow) {
  constexpr std::size_t room = socks::kMaxUdpHeader;
  auto buf = std::make_unique_for_overwrite<std::uint8_t[]>(room + kMaxDatagram);
  std::uint8_t* payload = buf.get() + room;
  for (;;) {
    net::Address from;
    auto [ec, n] = co_await flow.remote.read_packet(asio::buffer(payload, kMaxDatagram), from);
    if (s->closed() || ec) break;
    std::size_t h = socks::write_socks5_udp_header_before(payload, room, from);
    if (h == 0) continue;  // a source we cannot encode
    auto [sec, sent] = co_await flow.udp.async_send_to(asio::buffer(payload - h, n + h), flow.client, use_tuple);
    (void)sent;
    if (s->closed()) break;
    if (sec) {
      if (transient(sec)) continue;
      break;
    }
    flow.down += n;
  }
  s->close();
}

// The datagram side: waits for the first valid datagram, opens the packet
// flow towards its destination, then relays both ways.
asio::awaitable<void> udp_data(std::shared_ptr<Session> s, asio::ip::udp::socket& udp) {
  using namespace asio::experimental::awaitable_operators;
  auto buf = std::make_unique_for_overwrite<std::uint8_t[]>(kMaxDatagram);
  asio::ip::udp::endpoint client;
  net::Address destination;
  std::size_t header = 0;
  std::size_t size = 0;
  for (;;) {
    auto [ec, n] = co_await udp.async_receive_from(asio::buffer(buf.get(), kMaxDatagram), client, use_tuple);
    if (s->closed()) co_return;
    if (ec) {
      if (transient(ec)) continue;
      s->close();
      co_return;
    }
    auto h = client_datagram(*s, client, buf.get(), n);
    if (!h) continue;
    destination = std::move(h->value.destination);
    header = h->consumed;
    size = n;
    break;
  }
  auto md = s->metadata(outbound::Network::udp, destination);
  const std::span<const std::uint8_t> first(buf.get() + header, size - header);  // for the sniff action
  auto opened = co_await connect_packet(s->ctx().router, md, first);
  if (s->closed()) co_return;
  if (!opened) {
    s->close();
    co_return;
  }
  std::unique_ptr<net::PacketConn> remote = std::move(opened.value());
  auto registered = s->track(remote.get());
  UdpFlow flow{udp, *remote, client};
  auto ec = co_await remote->write_packet(asio::buffer(buf.get() + header, size - header), destination);
  if (s->closed()) co_return;
  if (ec && !transient(ec)) {
    s->close();
    co_return;
  }
  if (!ec) flow.up += size - header;
  co_await (udp_client_to_remote(s, flow, std::move(buf)) && udp_remote_to_client(s, flow));
  log_closed(md, flow.up, flow.down);
}

// The association lives as long as the TCP control connection.
asio::awaitable<void> udp_control(std::shared_ptr<Session> s) {
  std::array<std::uint8_t, 256> sink;
  for (;;) {
    auto [ec, n] = co_await s->client().read_some(asio::buffer(sink));
    (void)n;
    if (ec || s->closed()) break;
  }
  s->close();
}

asio::awaitable<void> udp_associate(std::shared_ptr<Session> s) {
  using namespace asio::experimental::awaitable_operators;
  auto& ctx = s->ctx();
  asio::ip::udp::socket udp(ctx.io);
  auto ip = ctx.listener.local_endpoint().address();
  if (auto ec = net::open_udp(udp, ip, 0, ctx.listener.config())) {
    spdlog::error("{}: udp associate from {}: open udp socket: {}", ctx.log_name(), endpoint_string(s->source()),
                  ec.message());
    auto reply = socks::socks5_reply(socks::Reply5::general_failure, kNoAddress);
    co_await send(*s, reply);
    co_return;
  }
  auto registered = s->track(&udp);
  std::error_code ec;
  // The client reaches us at the address it connected to.
  net::Address bound{s->local().address().to_string(), udp.local_endpoint(ec).port()};
  auto reply = socks::socks5_reply(socks::Reply5::succeeded, bound);
  if (co_await send(*s, reply) || s->closed()) co_return;
  s->clear_deadline();
  co_await (udp_control(s) && udp_data(s, udp));
}

asio::awaitable<void> serve_socks5(std::shared_ptr<Session> s, StreamBuffer& in) {
  auto greeting = co_await read_message(in, s->client(), socks::parse_socks5_greeting);
  if (greeting.status != socks::Status::ok) {
    log_handshake_error(*s, "socks5 greeting", greeting.error);
    co_return;
  }
  in.consume(greeting.consumed);
  bool auth = s->ctx().auth_required();
  std::uint8_t method = socks::kMethodNoAcceptable;
  if (auth && greeting.value.offers(socks::kMethodUserPass)) method = socks::kMethodUserPass;
  if (!auth && greeting.value.offers(socks::kMethodNoAuth)) method = socks::kMethodNoAuth;
  if (co_await send(*s, socks::socks5_method_reply(method))) co_return;
  if (method == socks::kMethodNoAcceptable) {
    log_handshake_error(*s, "socks5", auth ? "client does not offer username/password"
                                           : "client does not offer no-authentication");
    co_return;
  }
  if (method == socks::kMethodUserPass) {
    auto creds = co_await read_message(in, s->client(), socks::parse_socks5_auth);
    if (creds.status != socks::Status::ok) {
      log_handshake_error(*s, "socks5 auth", creds.error);
      co_return;
    }
    in.consume(creds.consumed);
    bool ok = s->ctx().check_user(creds.value.username, creds.value.password);
    if (co_await send(*s, socks::socks5_auth_reply(ok))) co_return;
    if (!ok) {
      spdlog::warn("{}: connection from {}: socks5 authentication failed for user \"{}\"", s->ctx().log_name(),
                   endpoint_string(s->source()), creds.value.username);
      co_return;
    }
    s->user = creds.value.username;
  }
  auto req = co_await read_message(in, s->client(), socks::parse_socks5_request);
  if (req.status != socks::Status::ok) {
    log_handshake_error(*s, "socks5 request", req.error);
    if (req.error == "address type") {
      auto reply = socks::socks5_reply(socks::Reply5::address_type_not_supported, kNoAddress);
      co_await send(*s, reply);
    }
    co_return;
  }
  in.consume(req.consumed);
  switch (req.value.command) {
    case socks::kCommandConnect:
      co_await socks_connect(s, in, std::move(req.value.destination), Version::v5);
      break;
    case socks::kCommandUdpAssociate:
      co_await udp_associate(s);
      break;
    default: {
      log_handshake_error(*s, "socks5", "unsupported command " + std::to_string(req.value.command));
      auto reply = socks::socks5_reply(socks::Reply5::command_not_supported, kNoAddress);
      co_await send(*s, reply);
      break;
    }
  }
}

}  // namespace

socks::Reply5 socks5_reply_for(const std::error_code& ec) {
  using R = socks::Reply5;
  if (ec == DispatchError::rejected || ec == DispatchError::no_outbound) return R::not_allowed;
  if (is_error(ec, asio::error::connection_refused, std::errc::connection_refused)) return R::connection_refused;
  if (is_error(ec, asio::error::host_unreachable, std::errc::host_unreachable) ||
      ec == asio::error::host_not_found || ec == asio::error::host_not_found_try_again ||
      ec == asio::error::no_data) {
    return R::host_unreachable;
  }
  if (is_error(ec, asio::error::network_unreachable, std::errc::network_unreachable)) {
    return R::network_unreachable;
  }
  if (is_error(ec, asio::error::timed_out, std::errc::timed_out)) return R::ttl_expired;
  return R::general_failure;
}

asio::awaitable<void> serve_socks(std::shared_ptr<Session> s) {
  StreamBuffer in(kHandshakeBuffer);
  if (co_await in.fill(s->client())) co_return;
  if (in.data()[0] == socks::kVersion4) {
    co_await serve_socks4(s, in);
  } else {
    co_await serve_socks5(s, in);
  }
}

}  // namespace anytls::inbound
