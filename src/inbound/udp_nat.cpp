#include "inbound/udp_nat.hpp"

#include <deque>
#include <vector>

#include <asio/error.hpp>
#include <asio/experimental/awaitable_operators.hpp>
#include <spdlog/spdlog.h>

#include "inbound/dispatch.hpp"
#include "inbound/packet_route.hpp"
#include "inbound/tracker.hpp"
#include "net/coro.hpp"
#include "net/log_limit.hpp"
#include "net/signal.hpp"
#include "net/transparent.hpp"
#include "net/udp_conn.hpp"

namespace anytls::inbound {

struct UdpNat::Flow {
  Flow(const asio::any_io_executor& ex, net::Duration timeout)
      : reply(ex), wake(ex), idle(net::IdleTimer::create(ex, timeout)) {}

  void close() {
    if (closed) return;
    closed = true;
    if (remote) remote->close();
    std::error_code ignored;
    reply.close(ignored);
    wake.notify_all();
  }
  void touch() {
    idle->touch();
    last = std::chrono::steady_clock::now();
  }

  Key key;
  net::Address to;  // where its datagrams go
  outbound::Metadata md;
  std::unique_ptr<net::PacketConn> remote;  // once opened
  asio::ip::udp::socket reply;              // tproxy: bound to the original destination
  std::deque<std::vector<std::uint8_t>> queue;
  net::Signal wake;
  std::shared_ptr<net::IdleTimer> idle;
  std::chrono::steady_clock::time_point last;
  std::uint64_t up = 0, down = 0, dropped = 0;
  bool refused = false;  // the dispatch refused it: datagrams are dropped
  bool closed = false;
};

namespace {

// A client endpoint as the listening socket addresses it: an IPv6 socket
// (dual-stack "::") reaches IPv4 clients at their mapped address.
asio::ip::udp::endpoint client_for_socket(const asio::ip::udp::endpoint& ep, bool v6_socket) {
  if (!v6_socket || !ep.address().is_v4()) return ep;
  return {asio::ip::make_address_v6(asio::ip::v4_mapped, ep.address().to_v4()), ep.port()};
}

}  // namespace

UdpNat::UdpNat(asio::ip::udp::socket socket, route::Router& router, UdpNatConfig config)
    : socket_(std::move(socket)),
      router_(router),
      config_(std::move(config)),
      tasks_(socket_.get_executor(), "inbound/" + config_.type + "[" + config_.tag + "] udp") {}

UdpNat::~UdpNat() { close(); }

asio::ip::udp::endpoint UdpNat::local_endpoint() const {
  std::error_code ec;
  return socket_.local_endpoint(ec);
}

void UdpNat::start() { tasks_.spawn(receive_loop(shared_from_this()), "udp receive loop"); }

void UdpNat::close() {
  if (closed_) return;
  closed_ = true;
  std::error_code ignored;
  socket_.close(ignored);
  auto flows = std::move(flows_);
  flows_.clear();
  for (auto& [key, flow] : flows) flow->close();
  tasks_.cancel();
}

void UdpNat::forget(const Flow& flow) {
  auto it = flows_.find(flow.key);
  if (it != flows_.end() && it->second.get() == &flow) flows_.erase(it);
}

void UdpNat::evict_oldest() {
  auto oldest = flows_.begin();
  for (auto it = flows_.begin(); it != flows_.end(); ++it)
    if (it->second->last < oldest->second->last) oldest = it;
  if (oldest == flows_.end()) return;
  thread_local net::LogLimit limit;
  if (auto more = limit.admit())
    spdlog::warn("{}: {} UDP flows open, closing the least recently used one ({} -> {}){}", log_name(),
                 config_.max_flows, endpoint_string({oldest->first.first.address(), oldest->first.first.port()}),
                 oldest->second->to.to_string(), *more);
  auto flow = std::move(oldest->second);
  flows_.erase(oldest);
  flow->close();
}

std::shared_ptr<UdpNat::Flow> UdpNat::flow_for(const Key& key, const net::Address& to) {
  if (auto it = flows_.find(key); it != flows_.end()) return it->second;
  if (flows_.size() >= config_.max_flows) evict_oldest();
  auto flow = std::make_shared<Flow>(socket_.get_executor(), config_.timeout);
  flow->key = key;
  flow->to = to;
  flow->last = std::chrono::steady_clock::now();
  auto& md = flow->md;
  md.inbound = config_.tag;
  md.inbound_type = config_.type;
  md.network = outbound::Network::udp;
  md.destination = to;
  md.source = {key.first.address(), key.first.port()};
  flows_.emplace(key, flow);
  auto what = "packet connection from " + endpoint_string(md.source);
  tasks_.spawn(run_flow(shared_from_this(), flow), std::move(what));
  return flow;
}

asio::awaitable<void> UdpNat::receive_loop(std::shared_ptr<UdpNat> self) {
  auto buf = std::make_unique_for_overwrite<std::uint8_t[]>(kMaxDatagram);
  const asio::ip::udp::endpoint local = self->local_endpoint();
  for (;;) {
    auto r = co_await net::receive_with_destination(self->socket_, asio::buffer(buf.get(), kMaxDatagram));
    if (self->closed_) break;
    if (r.ec) {
      if (transient_udp_error(r.ec)) continue;
      spdlog::error("{}: udp receive: {}", self->log_name(), r.ec.message());
      break;
    }
    Key key{r.from, {}};
    net::Address to;
    if (self->config_.destination) {
      to = *self->config_.destination;  // direct: one flow per client
    } else {
      // tproxy: a datagram sent to the listener itself (no tproxy rule
      // before it) would come back here through the outbound.
      const bool to_listener = r.to.port() == local.port() && net::is_local_address(r.to.address());
      const bool intercepted = r.to.port() != 0 && !to_listener;
      if (!intercepted) {
        thread_local net::LogLimit limit;
        if (auto more = limit.admit())
          spdlog::warn("{}: packet from {} to {}: not intercepted by a tproxy rule, dropped{}", self->log_name(),
                       endpoint_string({r.from.address(), r.from.port()}),
                       endpoint_string({r.to.address(), r.to.port()}), *more);
        continue;
      }
      key.second = r.to;
      to = net::Address{r.to.address().to_string(), r.to.port()};
    }
    auto flow = self->flow_for(key, to);
    if (flow->refused) {
      ++flow->dropped;
      flow->touch();
      continue;
    }
    if (flow->queue.size() >= kMaxQueued) {
      ++flow->dropped;
      continue;
    }
    flow->queue.emplace_back(buf.get(), buf.get() + r.size);
    flow->touch();
    flow->wake.notify_all();
  }
  self->close();
}

asio::awaitable<void> UdpNat::upstream(std::shared_ptr<UdpNat> self, std::shared_ptr<Flow> flow) {
  (void)self;
  for (;;) {
    while (flow->queue.empty() && !flow->closed) co_await flow->wake.wait();
    if (flow->closed) co_return;
    std::vector<std::uint8_t> datagram = std::move(flow->queue.front());
    flow->queue.pop_front();
    const auto ec = co_await flow->remote->write_packet(asio::buffer(datagram), flow->to);
    if (flow->closed) co_return;
    if (ec && !transient_udp_error(ec)) co_return;
    if (!ec) flow->up += datagram.size();
  }
}

asio::awaitable<void> UdpNat::downstream(std::shared_ptr<UdpNat> self, std::shared_ptr<Flow> flow) {
  auto buf = std::make_unique_for_overwrite<std::uint8_t[]>(kMaxDatagram);
  const bool tproxy = !self->config_.destination;
  const bool v6_listener = self->local_endpoint().address().is_v6();
  // tproxy: from the original destination, whatever address the outbound
  // saw the reply come from (the client only accepts that one).
  asio::ip::udp::socket& out = tproxy ? flow->reply : self->socket_;
  const auto client = tproxy ? flow->key.first : client_for_socket(flow->key.first, v6_listener);
  for (;;) {
    net::Address from;
    auto [ec, n] = co_await flow->remote->read_packet(asio::buffer(buf.get(), kMaxDatagram), from);
    if (flow->closed) co_return;
    if (ec) {
      if (transient_udp_error(ec)) continue;
      co_return;
    }
    flow->touch();
    auto [sec, sent] = co_await out.async_send_to(asio::buffer(buf.get(), n), client, net::use_tuple);
    (void)sent;
    if (flow->closed) co_return;
    if (sec && !transient_udp_error(sec)) co_return;
    if (!sec) flow->down += n;
  }
}

namespace {

// Refused (a reject rule, a failed dial): the flow stays, dropping what the
// client sends, until udp_timeout of silence or its close (eviction, stop),
// so that a client retrying is not routed and logged once per datagram.
asio::awaitable<void> hold_refused(std::shared_ptr<UdpNat::Flow> flow, bool refused) {
  using namespace asio::experimental::awaitable_operators;
  if (!refused) co_return;
  flow->refused = true;
  flow->queue.clear();
  co_await (flow->idle->wait() || flow->wake.wait());
}

}  // namespace

asio::awaitable<void> UdpNat::run_flow(std::shared_ptr<UdpNat> self, std::shared_ptr<Flow> flow) {
  using namespace asio::experimental::awaitable_operators;
  if (!self->config_.destination) {
    const asio::ip::udp::endpoint& dst = flow->key.second;
    if (auto ec = net::open_transparent_udp(flow->reply, dst, self->config_.routing_mark)) {
      thread_local net::LogLimit limit;
      if (auto more = limit.admit())
        spdlog::error("{}: packet connection from {}: reply socket at {}: {}{}", self->log_name(),
                      endpoint_string(flow->md.source), flow->to.to_string(), ec.message(), *more);
      self->forget(*flow);
      flow->close();
      co_return;
    }
  }
  auto opened = co_await connect_packet(self->router_, flow->md);
  // One co_await on a named awaitable (GCC 12: none with temporaries in a branch).
  asio::awaitable<void> held = hold_refused(flow, !opened && !flow->closed);
  co_await std::move(held);
  if (!opened || flow->closed) {
    self->forget(*flow);
    flow->close();
    co_return;
  }
  flow->remote = std::move(opened.value());
  Flow* raw = flow.get();
  CloseLink link(*flow->remote, [raw] { raw->close(); });  // a close from the Clash API
  co_await (upstream(self, flow) || downstream(self, flow) || flow->idle->wait());
  self->forget(*flow);
  flow->close();
  log_closed(flow->md, flow->up, flow->down);
  if (flow->dropped > 0)
    spdlog::debug("{} {} datagrams dropped (the flow's queue was full)", log_prefix(flow->md), flow->dropped);
}

}  // namespace anytls::inbound
