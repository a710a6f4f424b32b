#include "inbound/anytls_stream.hpp"

#include <asio/experimental/awaitable_operators.hpp>
#include <spdlog/spdlog.h>

#include "anytls/uot.hpp"
#include "inbound/dispatch.hpp"
#include "net/coro.hpp"
#include "net/relay.hpp"
#include "net/socks_address.hpp"

namespace anytls::inbound {

using namespace asio::experimental::awaitable_operators;

namespace {

// Bytes read from the stream that a parser has not consumed yet.
struct Pending {
  std::vector<std::uint8_t> bytes;
  std::span<const std::uint8_t> view() const { return bytes; }
  void consume(std::size_t n) { bytes.erase(bytes.begin(), bytes.begin() + static_cast<std::ptrdiff_t>(n)); }
};

// Reads more from the stream into p. Returns false at end/error.
asio::awaitable<bool> read_more(proto::Stream& s, Pending& p, std::size_t max_pending) {
  if (p.bytes.size() >= max_pending) co_return false;
  std::size_t old = p.bytes.size();
  p.bytes.resize(std::min(max_pending, old + 4096));
  auto [ec, n] = co_await s.read_some(asio::buffer(p.bytes.data() + old, p.bytes.size() - old));
  p.bytes.resize(old + n);
  co_return !ec;
}

// Reads until the SOCKS address is complete.
asio::awaitable<std::optional<net::Address>> read_address(proto::Stream& s, Pending& p) {
  for (;;) {
    auto r = net::parse_socks_address(p.view());
    if (r.status == net::SocksAddressParse::ok) {
      p.consume(r.consumed);
      co_return r.address;
    }
    if (r.status == net::SocksAddressParse::invalid) co_return std::nullopt;
    if (!co_await read_more(s, p, 1024)) co_return std::nullopt;
  }
}

// The sniff action's view of a stream: the client's bytes after the
// address, kept in `p` for the upstream. Nothing to answer first: an anytls
// client sends its data without waiting for the SYNACK.
class StreamPeek final : public ClientPeek {
 public:
  StreamPeek(proto::Stream& s, Pending& p) : s_(s), p_(p) {}
  asio::awaitable<std::error_code> start() override {
    started_ = true;
    co_return std::error_code{};
  }
  bool started() const override { return started_; }
  std::span<const std::uint8_t> data() const override { return p_.view(); }
  asio::awaitable<std::error_code> read_more() override {
    // A browser's ClientHello is about 2 kB; 8 kB bounds what a client can make us hold.
    bool more = co_await inbound::read_more(s_, p_, 8192);
    co_return more ? std::error_code{} : std::error_code(asio::error::eof);
  }

 private:
  proto::Stream& s_;
  Pending& p_;
  bool started_ = false;
};

outbound::Metadata metadata(const StreamContext& ctx, outbound::Network network, net::Address destination) {
  outbound::Metadata md;
  md.inbound = ctx.inbound_tag;
  md.inbound_type = "anytls";
  md.user = ctx.user;
  md.network = network;
  md.destination = std::move(destination);
  md.source = ctx.source;
  return md;
}

// ------------------------------------------------------------------ UoT

struct UotFlow {
  proto::Stream* stream;
  net::PacketConn* packets;
  bool connect;
  net::Address destination;
  net::Clock* clock;
  net::Clock::time_point last_activity;
  std::uint64_t up = 0, down = 0;
};

asio::awaitable<void> uot_up(UotFlow& f, Pending& p) {
  for (;;) {
    auto parsed = f.connect ? proto::parse_uot_connect_packet(p.view()) : proto::parse_uot_packet(p.view());
    if (parsed.status == proto::Parsed<proto::UotPacket>::invalid) co_return;
    if (parsed.status == proto::Parsed<proto::UotPacket>::need_more) {
      if (!co_await read_more(*f.stream, p, 65535 + 300)) co_return;
      continue;
    }
    const auto& pkt = parsed.value;
    const net::Address& to = f.connect ? f.destination : pkt.address;
    auto ec = co_await f.packets->write_packet(asio::buffer(pkt.payload.data(), pkt.payload.size()), to);
    f.up += pkt.payload.size();
    f.last_activity = net::clock_or_system(f.clock).now();
    p.consume(parsed.consumed);
    if (ec) spdlog::debug("uot: send to {}: {}", to.to_string(), ec.message());
  }
}

asio::awaitable<void> uot_down(UotFlow& f) {
  std::vector<std::uint8_t> buf(65535);
  std::vector<std::uint8_t> frame;
  frame.reserve(65535 + 300);
  for (;;) {
    net::Address from;
    auto [ec, n] = co_await f.packets->read_packet(asio::buffer(buf), from);
    if (ec) co_return;
    frame.clear();
    std::span<const std::uint8_t> payload(buf.data(), n);
    if (f.connect)
      proto::append_uot_connect_packet(frame, payload);
    else
      proto::append_uot_packet(frame, from, payload);
    if (co_await f.stream->write(asio::buffer(frame))) co_return;
    f.down += n;
    f.last_activity = net::clock_or_system(f.clock).now();
  }
}

asio::awaitable<void> uot_idle(UotFlow& f, net::Duration timeout) {
  for (;;) {
    auto deadline = f.last_activity + timeout;
    if (net::clock_or_system(f.clock).now() >= deadline) co_return;
    if (!co_await net::sleep_until(deadline, f.clock)) co_return;
  }
}

asio::awaitable<void> serve_uot(std::shared_ptr<proto::Stream> stream, StreamContext ctx, Pending p, bool legacy) {
  proto::Parsed<proto::UotRequest> req;
  if (legacy) {
    // Version 1 (sp.udp-over-tcp.arpa) has no request: datagrams carry
    // their addresses, as in non-connect mode.
    req.status = proto::Parsed<proto::UotRequest>::ok;
    req.value.destination = net::Address{std::string(proto::kUotLegacyMagicAddress), 0};
  }
  while (!legacy) {
    req = proto::parse_uot_request(p.view());
    if (req.status == proto::Parsed<proto::UotRequest>::ok) {
      p.consume(req.consumed);
      break;
    }
    bool more = false;
    if (req.status != proto::Parsed<proto::UotRequest>::invalid) more = co_await read_more(*stream, p, 1024);
    if (!more) {
      spdlog::debug("{} invalid UDP-over-TCP request", ctx.log_prefix);
      stream->report_dial_result("invalid UDP-over-TCP request");
      co_return;
    }
  }
  auto md = metadata(ctx, outbound::Network::udp, req.value.destination);
  auto pc = co_await connect_packet(*ctx.router, md);
  if (!pc) {
    stream->report_dial_result(pc.error().text());
    co_return;
  }
  stream->report_dial_result("");
  CloseLink link(**pc, [st = stream.get()] { st->close(); });  // a Clash API close ends the stream too
  UotFlow f{stream.get(), pc->get(), req.value.is_connect, req.value.destination, ctx.clock,
            net::clock_or_system(ctx.clock).now()};
  co_await (uot_up(f, p) || uot_down(f) || uot_idle(f, ctx.udp_timeout));
  (*pc)->close();
  stream->close();
  log_closed(md, f.up, f.down);
}

}  // namespace

asio::awaitable<void> serve_stream(std::shared_ptr<proto::Stream> stream, StreamContext ctx) {
  // However this ends (an exception included), the client's stream ends
  // with it instead of waiting forever.
  struct CloseOnExit {
    proto::Stream& s;
    ~CloseOnExit() { s.close(); }
  } closer{*stream};
  Pending p;
  auto addr_or_timeout = co_await (read_address(*stream, p) || net::sleep_for(ctx.address_timeout, ctx.clock));
  if (addr_or_timeout.index() != 0 || !std::get<0>(addr_or_timeout)) {
    spdlog::debug("{} no valid destination address, closing the stream", ctx.log_prefix);
    stream->close();
    co_return;
  }
  net::Address dest = *std::get<0>(addr_or_timeout);
  if (dest.host == proto::kUotMagicAddress || dest.host == proto::kUotLegacyMagicAddress) {
    const bool legacy = dest.host == proto::kUotLegacyMagicAddress;
    co_await serve_uot(stream, std::move(ctx), std::move(p), legacy);
    co_return;
  }

  auto md = metadata(ctx, outbound::Network::tcp, dest);
  StreamPeek peek(*stream, p);
  auto target = co_await connect(*ctx.router, md, &peek);
  if (!target) {
    // A drop closes the stream without the SYNACK's error text.
    if (target.error().code != make_error_code(DispatchError::dropped)) stream->report_dial_result(target.error().text());
    co_return;
  }
  stream->report_dial_result("");
  std::unique_ptr<net::Conn> remote = std::move(*target);
  if (!p.bytes.empty()) {
    if (co_await remote->write(asio::buffer(p.bytes))) {
      stream->close();
      co_return;
    }
  }
  std::uint64_t early = p.bytes.size();
  proto::StreamConn client(stream);
  // A close from the Clash API ends the client's stream too.
  CloseLink link(*remote, [c = &client] { c->close(); });
  auto st = co_await net::relay(client, *remote);
  remote->close();
  log_closed(md, st.a_to_b + early, st.b_to_a, st.error);
}

}  // namespace anytls::inbound
