#include "inbound/tun.hpp"

#include <linux/rtnetlink.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <deque>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include <asio/experimental/awaitable_operators.hpp>
#include <asio/ip/address.hpp>
#include <spdlog/spdlog.h>

#include "inbound/dispatch.hpp"
#include "net/coro.hpp"
#include "net/listener.hpp"
#include "net/log_limit.hpp"
#include "net/task_group.hpp"
#include "net/tcp_conn.hpp"
#include "net/transparent.hpp"
#include "tun/auto_route.hpp"
#include "tun/device.hpp"
#include "tun/nat.hpp"
#include "tun/offload.hpp"
#include "tun/packet.hpp"
#include "tun/redirect_rules.hpp"

namespace anytls::inbound {

namespace {

using Clock = std::chrono::steady_clock;

// A NAT entry outlives its last packet this long: the FIN exchange and the
// listener's TIME_WAIT after the connection closed. Entries of open
// connections are kept fresh by the sweep.
constexpr auto kTcpNatTimeout = std::chrono::minutes(2);
// Idle limit of a UDP flow sniffed as DNS.
constexpr auto kDnsTimeout = std::chrono::seconds(10);
// First bytes read for the sniff action (a ClientHello fits).
constexpr std::size_t kPeekSize = 16 * 1024;

tun::Prefix parse_prefix(const std::string& text) {
  const auto slash = text.find('/');
  return {tun::from_asio(asio::ip::make_address(text.substr(0, slash))), static_cast<unsigned>(std::stoul(text.substr(slash + 1)))};
}

net::Address address_of(const tun::Endpoint& e) { return net::Address{tun::to_string(e.ip), e.port}; }

// A listener on `ip` (the tun's own address, or auto_redirect's wildcard
// address, IPv6 alone on an IPv6 one), on a port the kernel picks. An IPv6
// address is tentative for a moment after it is added (duplicate address
// detection runs in the background, even where it is skipped), so the bind
// is a free bind: it takes the address before it is usable.
std::error_code listen_on(net::Listener& listener, const asio::ip::address& ip) {
  auto& acceptor = listener.acceptor();
  const asio::ip::tcp::endpoint ep(ip, 0);
  std::error_code ec;
  acceptor.open(ep.protocol(), ec);
  if (ec) return ec;
  if (ip.is_v6()) acceptor.set_option(asio::ip::v6_only(true), ec);
  if (ec) return ec;
  const int one = 1;
  if (::setsockopt(acceptor.native_handle(), SOL_IP, IP_FREEBIND, &one, sizeof one) != 0)
    return {errno, std::generic_category()};
  acceptor.bind(ep, ec);
  if (!ec) acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) acceptor.close();
  return ec;
}

}  // namespace

// One UDP flow: (client, destination as the client wrote it).
struct TunUdpFlow {
  explicit TunUdpFlow(asio::io_context& io, tun::FlowKey k) : key(std::move(k)), wake(io) {
    wake.expires_at(asio::steady_timer::time_point::max());
  }
  tun::FlowKey key;
  std::deque<std::vector<std::uint8_t>> pending;  // client -> remote, bounded
  asio::steady_timer wake;
  net::PacketConn* remote = nullptr;
  Clock::time_point last = Clock::now();
  Clock::duration timeout{};  // idle limit: udp_timeout, shorter for DNS
  std::uint64_t up = 0, down = 0;
  bool closed = false;

  void close() {
    closed = true;
    if (remote) remote->close();
    wake.cancel();
  }
};

// One accepted TCP connection, for stop() and the NAT refresh.
struct TunTcp {
  net::TcpConn* client;
  std::uint16_t nat_port;  // 0: redirected by auto_redirect (no NAT entry)
};

struct TunState {
  TunState(asio::io_context& io_, std::string tag_, config::TunInboundOptions options_, route::Router& router_)
      : io(io_), tag(std::move(tag_)), options(std::move(options_)), router(router_),
        nat(65536 - tun::TcpNat::kFirstPort, kTcpNatTimeout), tasks(io_.get_executor(), "inbound/tun[" + tag + "]") {}

  struct Family {
    bool enabled = false;
    tun::Ip server;  // the tun's own address: our listener
    tun::Ip nat;     // the next address: where NATed connections come from
    std::unique_ptr<net::Listener> listener;
    std::uint16_t port = 0;
  };

  asio::io_context& io;
  std::string tag;
  config::TunInboundOptions options;
  route::Router& router;
  std::unique_ptr<tun::Device> device;
  std::unique_ptr<tun::AutoRoute> auto_route;  // installed while running
  // auto_redirect: the listeners (0.0.0.0, [::]) that nftables sends the
  // tun's TCP to, and the rules, installed while running.
  std::unique_ptr<net::Listener> redirect4, redirect6;
  std::unique_ptr<tun::RedirectRules> redirect;
  std::uint32_t outbound_mark = 0;
  Family v4, v6;
  tun::TcpNat nat;
  std::unordered_map<tun::FlowKey, std::shared_ptr<TunUdpFlow>, tun::FlowKeyHash> udp;
  std::unordered_set<TunTcp*> tcp;
  net::TaskGroup tasks;
  bool stopped = false;
  // What the device handed over: packets, GSO super-packets among them,
  // and those refused for an offload header the stack cannot follow.
  std::uint64_t packets_in = 0, gso_in = 0, offload_refused = 0;
  std::size_t largest_in = 0;

  std::string log_name() const { return "inbound/tun[" + tag + "]"; }
  Family& family(bool v6_) { return v6_ ? v6 : v4; }
  outbound::Metadata metadata(outbound::Network network, const tun::FlowKey& k) const {
    outbound::Metadata md;
    md.inbound = tag;
    md.inbound_type = "tun";
    md.network = network;
    md.source = asio::ip::tcp::endpoint(tun::to_asio(k.source.ip), k.source.port);
    md.destination = address_of(k.destination);
    return md;
  }
};

namespace {

// ---- TCP ---------------------------------------------------------------------------

asio::awaitable<void> serve_tcp(std::shared_ptr<TunState> st, asio::ip::tcp::socket socket, tun::FlowKey flow,
                                std::uint16_t nat_port) {
  net::TcpConn client(std::move(socket));
  TunTcp entry{&client, nat_port};
  st->tcp.insert(&entry);
  struct Unregister {
    TunState& st;
    TunTcp* e;
    ~Unregister() { st.tcp.erase(e); }
  } unregister{*st, &entry};
  auto md = st->metadata(outbound::Network::tcp, flow);
  StreamBuffer in(kPeekSize);
  in.release();  // allocated by the first read (FirstBytesPeek::read_more)
  FirstBytesPeek peek(client, in);
  auto dialed = co_await connect(st->router, md, &peek);
  if (!dialed || st->stopped) co_return;
  std::unique_ptr<net::Conn> upstream = std::move(dialed.value());
  // The sniffed bytes first (GCC 12: the buffer is a named local, not a
  // temporary in a branch's co_await).
  const asio::const_buffer peeked(in.data().data(), in.size());
  std::error_code peek_ec;
  if (peeked.size() != 0) peek_ec = co_await upstream->write(peeked);
  if (peek_ec) co_return;
  in.release();
  co_await relay_logged(md, client, *upstream);
}

void accept_one(std::shared_ptr<TunState> st, net::Listener&, bool v6, asio::ip::tcp::socket socket) {
  std::error_code ec;
  const auto peer = socket.remote_endpoint(ec);
  if (ec || st->stopped) return;
  const auto& fam = st->family(v6);
  const tun::FlowKey* flow = nullptr;
  if (tun::from_asio(net::unmap(peer.address())) == fam.nat) flow = st->nat.flow_of(peer.port(), Clock::now());
  if (!flow) {
    // Not one of ours (someone connected to the tun's address directly).
    spdlog::debug("{}: connection from {}: no NAT entry, closed", st->log_name(), endpoint_string(peer));
    return;
  }
  auto* self = st.get();
  self->tasks.spawn(serve_tcp(std::move(st), std::move(socket), *flow, peer.port()), "tcp connection");
}

// A packet from the tun: toward the client (from our listener) or from it.
// frame: the packet behind the device's header (head bytes, kept as it is:
// the rewrite changes no length or offset it holds).
void on_tcp(TunState& st, std::span<std::uint8_t> frame, std::size_t head, tun::Packet& p, tun::L4Checksum sum) {
  const auto bytes = frame.subspan(head);
  auto& fam = st.family(p.v6());
  if (!fam.enabled) return;
  const auto now = Clock::now();
  if (p.source.ip == fam.server && p.source.port == fam.port && p.destination.ip == fam.nat) {
    const tun::FlowKey* flow = st.nat.flow_of(p.destination.port, now);
    if (!flow) return;
    const tun::FlowKey back = *flow;
    tun::rewrite(bytes, p, back.destination, back.source, sum);
  } else {
    const bool syn = (p.tcp_flags & (tun::kSyn | tun::kAck)) == tun::kSyn;
    auto port = st.nat.port_for({p.source, p.destination}, syn, now);
    if (!port) {
      if (syn && st.nat.size() >= st.nat.capacity()) {
        thread_local net::LogLimit limit;
        if (auto more = limit.admit()) spdlog::warn("{}: TCP NAT table full, connection from {} dropped{}", st.log_name(), address_of(p.source).to_string(), *more);
      }
      return;  // no entry: not a connection we know (the client times out)
    }
    tun::rewrite(bytes, p, {fam.nat, *port}, {fam.server, fam.port}, sum);
  }
  if (auto ec = st.device->write(frame.first(head + p.size)))
    spdlog::debug("{}: write to {}: {}", st.log_name(), st.device->name(), ec.message());
}

// ---- UDP ---------------------------------------------------------------------------

// A flow that ended leaves the table (unless a new one took its key).
void forget(TunState& st, const std::shared_ptr<TunUdpFlow>& flow) {
  flow->close();
  auto it = st.udp.find(flow->key);
  if (it != st.udp.end() && it->second == flow) st.udp.erase(it);
}

asio::awaitable<void> flow_up(std::shared_ptr<TunUdpFlow> flow, net::PacketConn& remote, net::Address to) {
  while (!flow->closed) {
    if (flow->pending.empty()) {
      flow->wake.expires_at(asio::steady_timer::time_point::max());
      auto [ec] = co_await flow->wake.async_wait(net::use_tuple);
      (void)ec;
      continue;
    }
    std::vector<std::uint8_t> datagram = std::move(flow->pending.front());
    flow->pending.pop_front();
    const asio::const_buffer bytes(datagram.data(), datagram.size());
    auto ec = co_await remote.write_packet(bytes, to);
    if (ec && ec != asio::error::no_buffer_space && ec != asio::error::connection_refused) break;
    flow->up += datagram.size();
  }
  flow->close();
}

asio::awaitable<void> flow_down(std::shared_ptr<TunState> st, std::shared_ptr<TunUdpFlow> flow, net::PacketConn& remote) {
  const bool v6 = flow->key.source.ip.v6;
  // The device's header (no offload asked of it: the checksum is ours) in front.
  const std::size_t head = st->device ? st->device->header_size() : 0;
  const std::size_t header = head + tun::udp_header_size(v6);
  // One MTU: a larger answer could not cross the tun unfragmented either.
  std::vector<std::uint8_t> buf(head + std::max<std::size_t>(st->options.mtu, 1280));
  if (head != 0) tun::put_vnet(buf, tun::VnetHeader{});
  const std::span<std::uint8_t> packet_room(buf.data() + head, buf.size() - head);
  net::Address from;
  const asio::mutable_buffer room(buf.data() + header, buf.size() - header);
  while (!flow->closed) {
    auto [ec, n] = co_await remote.read_packet(room, from);
    if (ec || flow->closed) break;
    flow->last = Clock::now();
    flow->down += n;
    // From the address the client sent to (a fake address answers as itself).
    const std::size_t size = tun::build_udp(packet_room, flow->key.destination, flow->key.source, n);
    if (size == 0 || !st->device) continue;
    if (auto wec = st->device->write(std::span<const std::uint8_t>(buf.data(), head + size)))
      spdlog::debug("{}: write to {}: {}", st->log_name(), st->device->name(), wec.message());
  }
  flow->close();
}

asio::awaitable<void> run_flow(std::shared_ptr<TunState> st, std::shared_ptr<TunUdpFlow> flow) {
  using namespace asio::experimental::awaitable_operators;
  auto md = st->metadata(outbound::Network::udp, flow->key);
  const std::vector<std::uint8_t> first_copy = flow->pending.front();
  const std::span<const std::uint8_t> first(first_copy);  // for the sniff action
  auto opened = co_await connect_packet(st->router, md, first);
  std::unique_ptr<net::PacketConn> remote;
  if (opened && !flow->closed && !st->stopped) remote = std::move(opened.value());
  // A DNS flow is one question and its answer: like sing-box, it does not
  // wait out udp_timeout (each query of a resolver comes from a new port).
  if (md.protocol == "dns" || md.destination.port == 53) flow->timeout = std::min(flow->timeout, std::chrono::duration_cast<Clock::duration>(kDnsTimeout));
  if (remote) {
    flow->remote = remote.get();
    auto both = flow_up(flow, *remote, md.destination) && flow_down(st, flow, *remote);
    co_await std::move(both);
    flow->remote = nullptr;
    log_closed(md, flow->up, flow->down);
  }
  forget(*st, flow);
}

void on_udp(std::shared_ptr<TunState>& st, std::span<const std::uint8_t> bytes, const tun::Packet& p) {
  if (!st->family(p.v6()).enabled) return;
  tun::FlowKey key{p.source, p.destination};
  auto payload = bytes.subspan(p.payload, p.payload_size());
  auto it = st->udp.find(key);
  std::shared_ptr<TunUdpFlow> flow;
  if (it != st->udp.end()) {
    flow = it->second;
  } else {
    if (st->udp.size() >= TunInbound::kMaxUdpFlows) {
      // Full: the flow quiet the longest makes room (a rare scan).
      auto oldest = std::min_element(st->udp.begin(), st->udp.end(),
                                     [](const auto& a, const auto& b) { return a.second->last < b.second->last; });
      thread_local net::LogLimit limit;
      if (auto more = limit.admit())
        spdlog::warn("{}: {} UDP flows open, the one idle longest ({} -> {}) closed{}", st->log_name(), st->udp.size(),
                     address_of(oldest->second->key.source).to_string(),
                     address_of(oldest->second->key.destination).to_string(), *more);
      forget(*st, std::shared_ptr<TunUdpFlow>(oldest->second));
    }
    flow = std::make_shared<TunUdpFlow>(st->io, key);
    flow->timeout = std::chrono::duration_cast<Clock::duration>(st->options.listen.udp_timeout);
    st->udp.emplace(key, flow);
    flow->pending.emplace_back(payload.begin(), payload.end());
    st->tasks.spawn(run_flow(st, flow), "udp flow");
    return;
  }
  flow->last = Clock::now();
  if (flow->pending.size() >= TunInbound::kMaxPendingDatagrams) return;  // the remote is slower: lose it, as IP would
  flow->pending.emplace_back(payload.begin(), payload.end());
  flow->wake.cancel();
}

// ---- the device ----------------------------------------------------------------------

asio::awaitable<void> packet_loop(std::shared_ptr<TunState> st) {
  // One packet at a time: MTU sized (a packet past it is cut by the read),
  // or with offload a super-packet and its header (64 KiB, one per inbound).
  std::vector<std::uint8_t> buf(st->device->frame_size());
  const std::span<std::uint8_t> whole(buf);
  const std::size_t head = st->device->header_size();
  while (!st->stopped && st->device) {
    auto [ec, n] = co_await st->device->read(whole);
    if (ec) {
      if (ec != asio::error::operation_aborted && !st->stopped)
        spdlog::error("{}: read {}: {}", st->log_name(), st->device->name(), ec.message());
      break;
    }
    if (n < head) continue;
    const auto frame = std::span<std::uint8_t>(buf.data(), n);
    const auto bytes = frame.subspan(head);
    auto p = tun::parse(bytes);
    if (!p) continue;  // ICMP, fragments, other protocols, malformed
    ++st->packets_in;
    st->largest_in = std::max(st->largest_in, p->size);
    auto sum = tun::L4Checksum::full;
    if (head != 0) {
      auto vnet = tun::parse_vnet(frame);
      auto how = tun::checksum_of(*vnet, *p);
      // A checksum left to the device where the rewrite can't update it is
      // finished here, as a device without the offload would.
      if (!how && !vnet->gso() && tun::finish_checksum(bytes.first(p->size), *vnet)) {
        tun::put_vnet(frame, *vnet);
        how = tun::checksum_of(*vnet, *p);
      }
      if (!how) {
        // A super-packet the stack can't take (never seen: the kernel is
        // only offered TCP of each family): its connection would stall.
        if (st->offload_refused++ == 0)
          spdlog::warn("{}: {} dropped a packet it can't take apart (gso type {}, checksum at {}+{}); later ones are counted at stop",
                       st->log_name(), st->device->name(), vnet->gso_type, vnet->csum_start, vnet->csum_offset);
        continue;
      }
      sum = *how;
      if (vnet->gso()) ++st->gso_in;
    }
    // A UDP payload is taken as it is: its checksum, partial or not, stays behind.
    if (p->protocol == tun::kTcp) on_tcp(*st, frame, head, *p, sum);
    else on_udp(st, bytes, *p);
  }
}

// auto_redirect's table kept current: forwarded traffic to this host's
// subnets stays direct when an address comes or goes (DHCP, a PPPoE link),
// and a firewall reload that flushed the ruleset does not leave the tun's
// TCP on the slow path.
void keep_redirect(TunState& st) {
  auto kept = st.redirect->keep(tun::local_subnets());
  using Kept = tun::RedirectRules::Kept;
  if (!kept) {
    thread_local net::LogLimit limit;
    if (auto more = limit.admit()) spdlog::warn("{}: {}{}", st.log_name(), kept.error().text(), *more);
  } else if (*kept == Kept::restored) {
    spdlog::info("{}: auto_redirect: the nftables table was gone (a firewall reload?), written again", st.log_name());
  } else if (*kept == Kept::subnets_changed) {
    spdlog::debug("{}: auto_redirect: this host's addresses changed, rules written again", st.log_name());
  }
}

// Ends idle UDP flows, keeps the NAT entries of open connections and
// forgets the others past their timeout.
asio::awaitable<void> sweep(std::shared_ptr<TunState> st) {
  const auto shortest = std::min(std::chrono::duration_cast<Clock::duration>(st->options.listen.udp_timeout),
                                 std::chrono::duration_cast<Clock::duration>(kDnsTimeout));
  const auto period = std::clamp<Clock::duration>(shortest / 4, std::chrono::seconds(1), std::chrono::seconds(30));
  while (!st->stopped) {
    const bool woke = co_await net::sleep_for(period);
    if (!woke || st->stopped) break;
    const auto now = Clock::now();
    std::vector<std::shared_ptr<TunUdpFlow>> idle;
    for (auto& [key, flow] : st->udp)
      if (now - flow->last > flow->timeout) idle.push_back(flow);
    for (auto& flow : idle) flow->close();
    for (auto* c : st->tcp)
      if (c->nat_port != 0) st->nat.flow_of(c->nat_port, now);  // 0: redirected, no NAT entry
    st->nat.expire(now);
    if (st->redirect) keep_redirect(*st);
  }
}

// A connection nftables redirected (auto_redirect): its destination from
// conntrack. One that reached the port without the rule (its destination
// is where it arrived) would dial itself.
void accept_redirected(std::shared_ptr<TunState> st, net::Listener&, bool, asio::ip::tcp::socket socket) {
  std::error_code ec;
  const auto peer = socket.remote_endpoint(ec);
  const auto here = ec ? asio::ip::tcp::endpoint{} : socket.local_endpoint(ec);
  if (ec || st->stopped) return;
  asio::ip::tcp::endpoint dst;
  ec = net::original_destination(socket, dst);
  if (ec || (dst.port() == here.port() && net::unmap(dst.address()) == net::unmap(here.address()))) {
    spdlog::debug("{}: redirected connection from {}: {}; closed", st->log_name(), endpoint_string(peer),
                  ec ? "no original destination: " + ec.message() : std::string("not sent by the redirect rule"));
    return;
  }
  const tun::FlowKey flow{{tun::from_asio(net::unmap(peer.address())), peer.port()},
                          {tun::from_asio(net::unmap(dst.address())), dst.port()}};
  auto* self = st.get();
  self->tasks.spawn(serve_tcp(std::move(st), std::move(socket), flow, 0), "redirected tcp connection");
}

// What takes an accepted connection: accept_one (the tun's listener, by the
// NAT) or accept_redirected (auto_redirect's, by conntrack).
using Take = void (*)(std::shared_ptr<TunState>, net::Listener&, bool v6, asio::ip::tcp::socket);

asio::awaitable<void> accept_loop(std::shared_ptr<TunState> st, net::Listener& listener, bool v6, Take take) {
  while (!st->stopped) {
    auto [ec, socket] = co_await listener.accept();
    if (ec) {
      if (ec == asio::error::operation_aborted || st->stopped) break;
      spdlog::warn("{}: accept on port {}: {}", st->log_name(), listener.port(), ec.message());
      const auto pause = std::chrono::milliseconds(100);
      co_await net::sleep_for(pause);
      continue;
    }
    take(st, listener, v6, std::move(socket));
  }
}

}  // namespace

TunInbound::TunInbound(asio::io_context& io, std::string tag, config::TunInboundOptions options, route::Router& router)
    : st_(std::make_shared<TunState>(io, std::move(tag), std::move(options), router)) {}

TunInbound::~TunInbound() { stop(); }

void TunInbound::set_outbound_mark(std::uint32_t mark) { st_->outbound_mark = mark; }

namespace {

tun::RoutePlan route_plan(const config::TunInboundOptions& o, const std::string& device, std::uint32_t mark) {
  tun::RoutePlan plan;
  plan.tun_name = device;
  plan.tun_index = tun::interface_index(device);
  auto prefixes = [](const std::vector<std::string>& texts) {
    std::vector<tun::IpPrefix> out;
    for (const auto& t : texts)
      if (auto p = tun::parse_prefix(t)) out.push_back(*p);  // the config loader checked each
    return out;
  };
  auto uids = [](const std::vector<config::UidRange>& ranges) {
    std::vector<tun::UidRange> out;
    for (const auto& r : ranges) out.push_back({r.first, r.last});
    return out;
  };
  plan.tun_addresses = prefixes(o.address);
  plan.table_index = o.iproute2_table_index;
  plan.rule_index = o.iproute2_rule_index;
  plan.strict_route = o.strict_route;
  plan.route_address = prefixes(o.route_address);
  plan.route_exclude_address = prefixes(o.route_exclude_address);
  plan.include_uid = uids(o.include_uid);
  plan.exclude_uid = uids(o.exclude_uid);
  plan.include_interface = o.include_interface;
  plan.exclude_interface = o.exclude_interface;
  plan.outbound_mark = mark;
  return plan;
}

}  // namespace

const std::string& TunInbound::tag() const { return st_->tag; }

const std::string& TunInbound::interface_name() const {
  static const std::string none;
  return st_->device ? st_->device->name() : none;
}

std::size_t TunInbound::udp_flows() const { return st_->udp.size(); }
std::size_t TunInbound::tcp_connections() const { return st_->tcp.size(); }

std::error_code TunInbound::start() {
  auto& st = *st_;
  if (st.device) return {};
  st.stopped = false;
  tun::DeviceConfig cfg;
  cfg.name = st.options.interface_name;
  cfg.mtu = st.options.mtu;
  // For the tests of the path without offloads, on a kernel that has them.
  const char* no_offload = std::getenv("ANYTLS_TUN_NO_OFFLOAD");
  cfg.offload = no_offload == nullptr || std::string_view(no_offload) == "0";
  for (const auto& text : st.options.address) {
    auto prefix = parse_prefix(text);
    cfg.addresses.push_back(prefix);
    auto& fam = st.family(prefix.address.v6);
    if (fam.enabled) continue;  // the first prefix of each family carries the stack
    fam.enabled = true;
    fam.server = prefix.address;
    fam.nat = prefix.address.next();
  }
  auto device = tun::Device::open(st.io, cfg);
  if (!device) {
    start_error_ = device.error().text();
    return device.error().code ? device.error().code : std::make_error_code(std::errc::operation_not_permitted);
  }
  st.device = std::move(*device);
  for (bool v6 : {false, true}) {
    auto& fam = st.family(v6);
    if (!fam.enabled) continue;
    fam.listener = std::make_unique<net::Listener>(st.io);
    if (auto ec = listen_on(*fam.listener, tun::to_asio(fam.server))) {
      start_error_ = "listen on " + tun::to_string(fam.server) + " (the tun's address): " + ec.message();
      stop();
      return ec;
    }
    fam.port = fam.listener->port();
  }
  if (st.options.auto_route) {
    auto plan = route_plan(st.options, st.device->name(), st.outbound_mark);
    // A process killed before its stop() left its rules (routes go with its
    // device): the same table and priorities are ours to take back.
    auto stale = tun::cleanup_stale(plan.table_index, plan.rule_index, tun::rule_range_end(plan.rule_index));
    if (!stale) {
      start_error_ = "auto_route: " + stale.error().text();
      stop();
      return stale.error().code ? stale.error().code : std::make_error_code(std::errc::operation_not_permitted);
    }
    if (*stale > 0)
      spdlog::info("{}: auto_route: removed {} rules and routes an earlier run left", st.log_name(), *stale);
    auto routes = std::make_unique<tun::AutoRoute>(std::move(plan));
    if (auto err = routes->install()) {
      start_error_ = err->text();
      stop();
      return err->code ? err->code : std::make_error_code(std::errc::operation_not_permitted);
    }
    st.auto_route = std::move(routes);
  }
  if (st.options.auto_redirect) {
    if (auto ec = start_redirect(st)) {
      stop();
      return ec;
    }
  }
  std::string addresses;
  for (const auto& a : st.options.address) addresses += (addresses.empty() ? "" : ", ") + a;
  const std::string offload = st.device->offload() ? "gso" : "off (" + st.device->offload_note() + ")";
  spdlog::info("{}: started at {} ({}), mtu {}, stack system, offload {}", st.log_name(), st.device->name(), addresses,
               st.device->mtu(), offload);
  if (st.options.stack != "system")
    spdlog::info("{}: stack \"{}\" is served by the system stack (TCP through the kernel, UDP as packets)",
                 st.log_name(), st.options.stack);
  if (st.redirect)
    spdlog::info("{}: auto_redirect: TCP to {} redirected to port {} (IPv4) / {} (IPv6) (nftables table inet {})",
                 st.log_name(), st.device->name(), st.redirect4 ? st.redirect4->port() : 0,
                 st.redirect6 ? st.redirect6->port() : 0, tun::kRedirectTable);
  st.tasks.spawn(packet_loop(st_), "packet loop");
  st.tasks.spawn(sweep(st_), "sweep");
  for (bool v6 : {false, true})
    if (st.family(v6).enabled) st.tasks.spawn(accept_loop(st_, *st.family(v6).listener, v6, accept_one), "accept loop");
  if (st.redirect4) st.tasks.spawn(accept_loop(st_, *st.redirect4, false, accept_redirected), "redirect accept loop");
  if (st.redirect6) st.tasks.spawn(accept_loop(st_, *st.redirect6, true, accept_redirected), "redirect accept loop");
  return {};
}

std::error_code TunInbound::start_redirect(TunState& st) {
  tun::RedirectPlan plan;
  plan.tun_name = st.device->name();
  const auto routes = route_plan(st.options, st.device->name(), st.outbound_mark);
  for (const auto& r : tun::plan_routes(routes))
    if (r.ifindex == routes.tun_index && r.type == RTN_UNICAST) plan.routed.push_back(r.dst);
  plan.local = tun::local_subnets();
  plan.include_interface = st.options.include_interface;
  plan.exclude_interface = st.options.exclude_interface;
  for (bool v6 : {false, true}) {
    if (!st.family(v6).enabled) continue;
    auto& listener = v6 ? st.redirect6 : st.redirect4;
    listener = std::make_unique<net::Listener>(st.io);
    // The wildcard address: the output chain redirects to loopback, the
    // prerouting chain to the address a forwarded connection came in on.
    const auto any = v6 ? asio::ip::address(asio::ip::address_v6::any()) : asio::ip::address(asio::ip::address_v4::any());
    if (auto ec = listen_on(*listener, any)) {
      start_error_ = "auto_redirect: listen on " + any.to_string() + ": " + ec.message();
      return ec;
    }
    (v6 ? plan.port6 : plan.port4) = listener->port();
  }
  // A process killed before its stop() left its table: ours to take back.
  auto stale = tun::remove_stale_redirect();
  if (!stale) {
    start_error_ = stale.error().text();
    return std::make_error_code(std::errc::operation_not_permitted);
  }
  if (*stale) spdlog::info("{}: auto_redirect: removed the nftables table an earlier run left", st.log_name());
  auto rules = std::make_unique<tun::RedirectRules>(std::move(plan));
  if (auto err = rules->install()) {
    start_error_ = err->text();
    return err->code ? err->code : std::make_error_code(std::errc::operation_not_permitted);
  }
  st.redirect = std::move(rules);
  return {};
}

void TunInbound::stop() {
  auto& st = *st_;
  if (st.stopped) return;
  st.stopped = true;
  if (st.redirect) {
    if (auto err = st.redirect->remove()) spdlog::warn("{}: {}", st.log_name(), err->text());
    st.redirect.reset();
  }
  for (auto* l : {st.redirect4.get(), st.redirect6.get()})
    if (l) l->close();
  if (st.auto_route) {
    // Before the device goes: the rules would outlive it, its routes not.
    if (auto err = st.auto_route->remove()) spdlog::warn("{}: {}", st.log_name(), err->text());
    st.auto_route.reset();
  }
  for (bool v6 : {false, true})
    if (auto& l = st.family(v6).listener) l->close();
  if (st.device) {
    spdlog::debug("{}: {} packets read from {}, {} of them GSO super-packets, largest {} bytes; {} refused for "
                  "their offload header, {} writes dropped",
                  st.log_name(), st.packets_in, st.device->name(), st.gso_in, st.largest_in, st.offload_refused,
                  st.device->dropped_writes());
    st.device->close();
  }
  std::vector<std::shared_ptr<TunUdpFlow>> flows;
  for (auto& [key, flow] : st.udp) flows.push_back(flow);
  for (auto& f : flows) f->close();
  std::vector<TunTcp*> conns(st.tcp.begin(), st.tcp.end());
  for (auto* c : conns) c->client->close();
  st.tasks.cancel();
}

asio::awaitable<void> TunInbound::join() {
  auto st = st_;
  co_await st->tasks.join();
  // The device object goes once no task reads it.
  st->device.reset();
}

}  // namespace anytls::inbound
