#include "inbound/gateway.hpp"

#include <cerrno>
#include <unordered_set>
#include <vector>

#include <asio/error.hpp>
#include <spdlog/spdlog.h>

#include "inbound/dispatch.hpp"
#include "inbound/tracker.hpp"
#include "inbound/udp_nat.hpp"
#include "net/coro.hpp"
#include "net/listener.hpp"
#include "net/task_group.hpp"
#include "net/tcp_conn.hpp"
#include "net/transparent.hpp"

namespace anytls::inbound {

namespace {

enum class GatewayKind { redirect, tproxy, direct };

GatewayKind gateway_kind(const std::string& type) {
  if (type == "redirect") return GatewayKind::redirect;
  if (type == "tproxy") return GatewayKind::tproxy;
  return GatewayKind::direct;
}

// Room for the client's first bytes while a sniff rule reads them (a
// browser's TLS ClientHello is about 2 kB).
constexpr std::size_t kGatewaySniffBuffer = 8192;

}  // namespace

// One accepted TCP connection; registered so stop() can close it.
struct GatewayConn {
  explicit GatewayConn(asio::ip::tcp::socket s) : client(std::move(s)) {}
  void close() {
    if (closed) return;
    closed = true;
    client.close();
    if (upstream) upstream->close();
  }
  net::TcpConn client;
  net::Conn* upstream = nullptr;
  bool closed = false;
};

struct GatewayContext {
  GatewayContext(asio::io_context& io_, std::string type_, std::string tag_, config::GatewayInboundOptions options_,
                 route::Router& router_, bool udp_)
      : io(io_),
        type(std::move(type_)),
        tag(std::move(tag_)),
        kind(gateway_kind(type)),
        options(std::move(options_)),
        router(router_),
        udp_here(udp_ && options.udp),
        listener(io_),
        tasks(io_.get_executor(), "inbound/" + type + "[" + tag + "]") {}

  std::string log_name() const { return "inbound/" + type + "[" + tag + "]"; }
  // direct: override_address / override_port over what the socket says.
  net::Address overridden(const asio::ip::address& ip, std::uint16_t port) const {
    return {options.override_address.empty() ? net::unmap(ip).to_string() : options.override_address,
            options.override_port != 0 ? options.override_port : port};
  }

  asio::io_context& io;
  std::string type, tag;
  GatewayKind kind;
  config::GatewayInboundOptions options;
  route::Router& router;
  bool udp_here;
  net::Listener listener;
  std::shared_ptr<UdpNat> udp;
  net::TaskGroup tasks;
  std::unordered_set<GatewayConn*> conns;
  std::string start_error;
  bool stopped = false;
};

namespace {

struct GatewayUnregister {
  GatewayUnregister(GatewayContext& context, GatewayConn& conn) : ctx(context), c(conn) {}
  GatewayContext& ctx;
  GatewayConn& c;
  ~GatewayUnregister() {
    c.close();
    ctx.conns.erase(&c);
  }
};

struct GatewayUpstream {
  GatewayUpstream(GatewayConn& conn, net::Conn& upstream) : c(conn) { c.upstream = &upstream; }
  ~GatewayUpstream() { c.upstream = nullptr; }
  GatewayUpstream(const GatewayUpstream&) = delete;
  GatewayUpstream& operator=(const GatewayUpstream&) = delete;
  GatewayConn& c;
};

// Where the client's connection was going; false (logged) when it cannot
// be told, or is the listener itself (a connection that reached the port
// without a firewall rule: dialling it would loop back here).
bool original_destination_of(GatewayContext& ctx, asio::ip::tcp::socket& s, net::Address& out) {
  std::error_code ec;
  const auto local = s.local_endpoint(ec);
  const auto peer = s.remote_endpoint(ec);
  asio::ip::tcp::endpoint dst = local;
  if (ctx.kind == GatewayKind::direct) {
    out = ctx.overridden(local.address(), local.port());
    return true;
  }
  if (ctx.kind == GatewayKind::redirect) ec = net::original_destination(s, dst);
  // redirect: not translated, so the local address; tproxy: the local
  // address is the destination, ours only when nothing intercepted it.
  const auto listening = ctx.listener.local_endpoint();
  const bool itself = dst.port() == listening.port() && net::unmap(dst.address()) == net::unmap(local.address()) &&
                      (ctx.kind == GatewayKind::redirect || net::is_local_address(net::unmap(dst.address())));
  if (ec || itself) {
    spdlog::warn("{}: connection from {}: {}", ctx.log_name(), endpoint_string(peer),
                 ec ? "no original destination: " + ec.message()
                    : std::string("sent to the listener itself, not by a firewall rule (a loop); closed"));
    return false;
  }
  out = {net::unmap(dst.address()).to_string(), dst.port()};
  return true;
}

asio::awaitable<void> serve_gateway(std::shared_ptr<GatewayContext> ctx, std::shared_ptr<GatewayConn> c) {
  GatewayUnregister unregister(*ctx, *c);
  net::Address destination;
  if (!original_destination_of(*ctx, c->client.socket(), destination)) co_return;
  std::error_code ec;
  const auto peer = c->client.socket().remote_endpoint(ec);
  outbound::Metadata md;
  md.inbound = ctx->tag;
  md.inbound_type = ctx->type;
  md.network = outbound::Network::tcp;
  md.destination = std::move(destination);
  md.source = {net::unmap(peer.address()), peer.port()};
  StreamBuffer in(kGatewaySniffBuffer);
  FirstBytesPeek peek(c->client, in);
  auto dialed = co_await connect(ctx->router, md, &peek);
  if (c->closed || !dialed) co_return;  // logged by the dispatch
  std::unique_ptr<net::Conn> upstream = std::move(dialed.value());
  // Registered for stop() while it lives, however this coroutine ends.
  GatewayUpstream registered(*c, *upstream);
  GatewayConn* raw = c.get();
  CloseLink link(*upstream, [raw] { raw->close(); });  // a close from the Clash API
  if (!in.empty()) {
    const auto wec = co_await upstream->write(asio::buffer(in.data().data(), in.size()));
    if (wec) co_return;
  }
  in.release();
  co_await relay_logged(md, c->client, *upstream);
}

void gateway_accept(std::shared_ptr<GatewayContext> ctx, asio::ip::tcp::socket socket) {
  if (ctx->stopped) return;
  auto c = std::make_shared<GatewayConn>(std::move(socket));
  ctx->conns.insert(c.get());
  std::error_code ec;
  auto what = "connection from " + endpoint_string(c->client.socket().remote_endpoint(ec));
  ctx->tasks.spawn(serve_gateway(ctx, std::move(c)), std::move(what));
}

std::string start_reason(const std::error_code& ec, bool transparent) {
  // errno-valued in either category (asio.system maps to no std::errc).
  if (transparent && (ec.value() == EPERM || ec == std::errc::operation_not_permitted))
    return ec.message() + " (IP_TRANSPARENT needs CAP_NET_ADMIN or CAP_NET_RAW: run as root or grant the capability)";
  return ec.message();
}

}  // namespace

GatewayInbound::GatewayInbound(asio::io_context& io, std::string type, std::string tag,
                               config::GatewayInboundOptions options, route::Router& router, bool udp)
    : ctx_(std::make_shared<GatewayContext>(io, std::move(type), std::move(tag), std::move(options), router, udp)) {}

GatewayInbound::~GatewayInbound() { stop(); }

const std::string& GatewayInbound::tag() const { return ctx_->tag; }
const std::string& GatewayInbound::start_error() const { return ctx_->start_error; }

std::error_code GatewayInbound::start() {
  auto& ctx = *ctx_;
  if (ctx.listener.is_open() || ctx.udp) return {};
  ctx.stopped = false;
  net::ListenConfig lc = net::to_listen_config(ctx.options.listen);
  lc.transparent = ctx.kind == GatewayKind::tproxy;
  std::uint16_t port = lc.listen_port;
  if (ctx.options.tcp) {
    if (auto ec = ctx.listener.open(lc)) {
      ctx.start_error = fmt::format("listen tcp {}: {}", net::Address{lc.listen, lc.listen_port}.to_string(),
                                    start_reason(ec, lc.transparent));
      spdlog::error("{}: {}", ctx.log_name(), ctx.start_error);
      return ec;
    }
    port = ctx.listener.port();
    std::weak_ptr<GatewayContext> weak = ctx_;
    auto handler = [weak](asio::ip::tcp::socket socket) {
      if (auto c = weak.lock()) gateway_accept(std::move(c), std::move(socket));
    };
    ctx.tasks.spawn(net::accept_loop(ctx.listener, std::move(handler), ctx.log_name()), "accept loop");
  }
  if (ctx.udp_here) {
    std::error_code ec;
    const auto ip = asio::ip::make_address(lc.listen, ec);
    asio::ip::udp::socket socket(ctx.io);
    if (!ec) ec = net::open_udp(socket, ip, port, lc);
    if (ec) {
      ctx.start_error = fmt::format("listen udp {}: {}", net::Address{lc.listen, port}.to_string(),
                                    start_reason(ec, lc.transparent));
      spdlog::error("{}: {}", ctx.log_name(), ctx.start_error);
      ctx.listener.close();
      return ec;
    }
    UdpNatConfig uc;
    uc.type = ctx.type;
    uc.tag = ctx.tag;
    uc.timeout = ctx.options.listen.udp_timeout;
    uc.routing_mark = lc.routing_mark;
    if (ctx.kind == GatewayKind::direct) uc.destination = ctx.overridden(ip, socket.local_endpoint(ec).port());
    ctx.udp = std::make_shared<UdpNat>(std::move(socket), ctx.router, std::move(uc));
    ctx.udp->start();
  }
  return {};
}

void GatewayInbound::drain() {
  ctx_->listener.close();
  if (ctx_->udp) ctx_->udp->close();
}

void GatewayInbound::stop() {
  auto& ctx = *ctx_;
  if (ctx.stopped) return;
  ctx.stopped = true;
  ctx.listener.close();
  if (ctx.udp) ctx.udp->close();
  std::vector<GatewayConn*> live(ctx.conns.begin(), ctx.conns.end());
  for (GatewayConn* c : live) c->close();
  ctx.tasks.cancel();
}

asio::awaitable<void> GatewayInbound::join() {
  auto ctx = ctx_;
  co_await ctx->tasks.join();
  if (ctx->udp) co_await ctx->udp->join();
}

std::uint16_t GatewayInbound::port() const {
  if (ctx_->listener.is_open()) return ctx_->listener.port();
  return ctx_->udp ? ctx_->udp->local_endpoint().port() : 0;
}

std::size_t GatewayInbound::live_connections() const { return ctx_->conns.size(); }
std::size_t GatewayInbound::udp_flows() const { return ctx_->udp ? ctx_->udp->flows() : 0; }

}  // namespace anytls::inbound
