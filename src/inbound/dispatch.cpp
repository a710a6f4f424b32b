#include "inbound/dispatch.hpp"
#include "inbound/packet_route.hpp"

#include <array>
#include <cstring>
#include <random>

#include <asio/error.hpp>
#include <spdlog/spdlog.h>

#include <algorithm>

#include <asio/experimental/awaitable_operators.hpp>

#include "inbound/sniff.hpp"
#include "inbound/dns_hijack.hpp"
#include "net/coro.hpp"
#include "net/duration.hpp"
#include "route/process.hpp"
#include "route/rule_text.hpp"
#include "inbound/tracker.hpp"

namespace anytls::inbound {

namespace {

class DispatchCategory final : public std::error_category {
 public:
  const char* name() const noexcept override { return "anytls.dispatch"; }
  std::string message(int ev) const override {
    switch (static_cast<DispatchError>(ev)) {
      case DispatchError::rejected:
        return "rejected by route";
      case DispatchError::no_outbound:
        return "no outbound";
      case DispatchError::dropped:
        return "dropped by route";
      case DispatchError::hijack_unavailable:
        return "hijack-dns: no DNS module to answer";
      case DispatchError::fakeip_missing:
        return "missing fakeip record";
    }
    return "unknown dispatch error";
  }
};

bool same_secret(std::string_view a, std::string_view b) {
  // Length may leak, content does not.
  if (a.size() != b.size()) return false;
  unsigned char diff = 0;
  for (std::size_t i = 0; i < a.size(); ++i) {
    diff |= static_cast<unsigned char>(a[i] ^ b[i]);
  }
  return diff == 0;
}

asio::ip::tcp::endpoint unmapped(const asio::ip::tcp::endpoint& ep) {
  return {net::unmap(ep.address()), ep.port()};
}

}  // namespace

const std::error_category& dispatch_category() {
  static const DispatchCategory category;
  return category;
}

std::error_code make_error_code(DispatchError e) { return {static_cast<int>(e), dispatch_category()}; }

namespace {

std::uint32_t new_connection_id() {
  // Random like sing-box's ids: they identify a connection in logs, and
  // sequential ones would tell a reader how busy the server is.
  thread_local std::mt19937 rng{std::random_device{}()};
  std::uint32_t id = 0;
  while (id == 0) id = rng();
  return id;
}

void begin(outbound::Metadata& md) {
  if (md.id == 0) md.id = new_connection_id();
  if (md.start == std::chrono::steady_clock::time_point{}) md.start = std::chrono::steady_clock::now();
}

std::string elapsed(const outbound::Metadata& md) {
  return net::format_duration(
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - md.start));
}

const char* packet_word(const outbound::Metadata& md) { return md.network == outbound::Network::udp ? "packet " : ""; }

std::string user_part(const outbound::Metadata& md) { return md.user.empty() ? std::string() : "[" + md.user + "] "; }

void log_inbound(const outbound::Metadata& md) {
  if (!spdlog::should_log(spdlog::level::info)) return;
  auto prefix = log_prefix(md);
  spdlog::info("{} {}inbound {}connection from {}", prefix, user_part(md), packet_word(md), endpoint_string(md.source));
  spdlog::info("{} {}inbound {}connection to {}", prefix, user_part(md), packet_word(md), md.destination.to_string());
}

bool wants(const config::RouteRule& rule, std::string_view sniffer) {
  return rule.sniffer.empty() || std::find(rule.sniffer.begin(), rule.sniffer.end(), sniffer) != rule.sniffer.end();
}

void sniffed(outbound::Metadata& md, const char* protocol, const sniff::Result& r, const config::RouteRule& rule) {
  md.protocol = protocol;
  md.domain = r.domain;
  if (rule.override_destination && !md.domain.empty()) md.destination.host = md.domain;
  spdlog::debug("{} sniffed {}protocol: {}{}{}", log_prefix(md), packet_word(md), md.protocol,
                md.domain.empty() ? "" : ", domain: ", md.domain);
}

// sniff of a UDP flow: its first datagram. NTP only to its port: its
// header alone is a weak sign.
void sniff_datagram(std::span<const std::uint8_t> datagram, outbound::Metadata& md, const config::RouteRule& rule) {
  if (datagram.empty() || !md.protocol.empty()) return;
  struct Sniffer {
    const char* name;
    sniff::Result (*fn)(std::span<const std::uint8_t>);
  };
  static constexpr Sniffer kSniffers[] = {{"dns", sniff::dns_query},         {"quic", sniff::quic_initial},
                                          {"stun", sniff::stun_message},     {"dtls", sniff::dtls_client_hello},
                                          {"ntp", sniff::ntp_client},        {"bittorrent", sniff::bittorrent_datagram}};
  for (const auto& s : kSniffers) {
    if (!wants(rule, s.name)) continue;
    if (std::string_view(s.name) == "ntp" && md.destination.port != 123) continue;
    const auto r = s.fn(datagram);
    if (r.status == sniff::Status::found) {
      sniffed(md, s.name, r, rule);
      return;
    }
  }
}

// sniff: the client's first bytes, until a sniffer decides or the timeout.
asio::awaitable<void> sniff_client(ClientPeek* peek_ptr, outbound::Metadata& md, const config::RouteRule& rule) {
  using namespace asio::experimental::awaitable_operators;
  // Only a connection whose client bytes we hold can be sniffed (not an
  // HTTP proxy's forwarded request); sing-box sniffs once.
  if (peek_ptr == nullptr || md.network != outbound::Network::tcp || !md.protocol.empty()) co_return;
  ClientPeek& peek = *peek_ptr;
  // DNS over TCP only on its port: a length prefix is too weak a sign elsewhere.
  struct Sniffer {
    const char* name;
    sniff::Result (*fn)(std::span<const std::uint8_t>);
    bool wanted;
  };
  const Sniffer sniffers[] = {{"tls", sniff::tls_client_hello, wants(rule, "tls")},
                              {"http", sniff::http_host, wants(rule, "http")},
                              {"dns", sniff::dns_stream_query, wants(rule, "dns") && md.destination.port == 53},
                              {"ssh", sniff::ssh_banner, wants(rule, "ssh")},
                              {"rdp", sniff::rdp_request, wants(rule, "rdp")},
                              {"bittorrent", sniff::bittorrent_handshake, wants(rule, "bittorrent")}};
  std::error_code start_ec;
  if (!peek.started()) {
    auto starting = peek.start();
    start_ec = co_await std::move(starting);
  }
  if (start_ec) co_return;
  const auto deadline = std::chrono::steady_clock::now() + rule.sniff_timeout;
  while (true) {
    bool undecided = false;
    auto data = peek.data();
    if (!data.empty()) {
      for (const auto& s : sniffers) {
        if (!s.wanted) continue;
        auto r = s.fn(data);
        if (r.status == sniff::Status::found) {
          sniffed(md, s.name, r, rule);
          co_return;
        }
        if (r.status == sniff::Status::need_more) undecided = true;
      }
      if (!undecided) co_return;
    }
    auto now = std::chrono::steady_clock::now();
    if (now >= deadline) co_return;
    auto left = std::chrono::duration_cast<net::Clock::duration>(deadline - now);
    auto reading = peek.read_more();
    auto waiting = net::sleep_for(left);
    auto got = co_await (std::move(reading) || std::move(waiting));
    if (got.index() != 0 || std::get<0>(got)) co_return;  // timeout, eof, full
  }
}

// resolve: the destination name's addresses for ip_cidr / ip_is_private.
// The one place names are resolved for routing (the DNS module replaces the
// lookup).
asio::awaitable<void> resolve_destination(route::Router& router, outbound::Metadata& md,
                                          const config::RouteRule& rule) {
  if (md.destination.ip()) co_return;
  const std::string host = !md.domain.empty() ? md.domain : md.destination.host;
  if (host.empty()) co_return;
  net::Resolver* resolver = router.resolver();
  if (resolver == nullptr) {
    spdlog::warn("{} resolve: no resolver here, skipped", log_prefix(md));
    co_return;
  }
  auto found = co_await resolver->lookup(host);
  if (!found) {
    spdlog::debug("{} resolve {}: {}", log_prefix(md), host, found.error().text());
    co_return;
  }
  std::vector<asio::ip::address> v4, v6;
  for (const auto& a : *found) (net::unmap(a).is_v4() ? v4 : v6).push_back(net::unmap(a));
  using config::DomainStrategy;
  std::vector<asio::ip::address> out;
  switch (rule.resolve_strategy) {
    case DomainStrategy::ipv4_only: out = v4; break;
    case DomainStrategy::ipv6_only: out = v6; break;
    case DomainStrategy::prefer_ipv6: out = v6; out.insert(out.end(), v4.begin(), v4.end()); break;
    case DomainStrategy::prefer_ipv4: out = v4; out.insert(out.end(), v6.begin(), v6.end()); break;
    case DomainStrategy::as_is: out = *found; break;
  }
  md.destination_addresses = std::move(out);
}

void apply_route_options(outbound::Metadata& md, const config::RouteRule& rule) {
  if (!rule.override_address.empty()) md.destination.host = rule.override_address;
  if (rule.override_port != 0) md.destination.port = rule.override_port;
}

// Runs the rule actions for md until a final one; logs the outbound line or
// the refusal. nullptr with the error when there is nothing to dial.
asio::awaitable<net::Result<route::Decision>> choose(route::Router& router, outbound::Metadata& md,
                                                    ClientPeek* peek, std::span<const std::uint8_t> datagram) {
  begin(md);
  log_inbound(md);
  if (auto real = real_destination(router, md.destination)) {
    md.destination = std::move(*real);
  } else {
    spdlog::error("{} {}connection to {}: missing fakeip record (the fake address is not in the table: handed out "
                  "before a restart or a flush, or never)",
                  log_prefix(md), packet_word(md), md.destination.to_string());
    co_return net::Error{make_error_code(DispatchError::fakeip_missing), {}};
  }
  if (router.needs_process() && !md.process) md.process = route::find_process(md.network, md.source);
  route::Decision decision;
  while (true) {
    decision = router.decide(md);
    if (decision.reject) break;
    const auto* rule = decision.rule;
    const bool sniffing = decision.action == route::Action::sniff && rule != nullptr;
    const bool resolving = decision.action == route::Action::resolve && rule != nullptr;
    const bool options = decision.action == route::Action::route_options && rule != nullptr;
    if (!sniffing && !resolving && !options) break;
    if (options) apply_route_options(md, *rule);
    if (sniffing && md.network == outbound::Network::udp) sniff_datagram(datagram, md, *rule);
    if ((sniffing && md.network == outbound::Network::tcp) || resolving) {
      // One co_await on a named awaitable (GCC 12: no temporaries in a branch's co_await).
      asio::awaitable<void> step =
          sniffing ? sniff_client(peek, md, *rule) : resolve_destination(router, md, *rule);
      co_await std::move(step);
    }
    if (decision.next <= md.rule_index) break;  // never loops
    md.rule_index = decision.next;
  }
  if (decision.reject) {
    spdlog::info("{} {}connection to {} {} by route", log_prefix(md), packet_word(md), md.destination.to_string(),
                 decision.drop ? "dropped" : "rejected");
    co_return net::Error{make_error_code(decision.drop ? DispatchError::dropped : DispatchError::rejected), {}};
  }
  if (decision.action == route::Action::hijack_dns) {
    if (decision.hijack_dns == nullptr) {
      spdlog::warn("{} {}connection to {}: hijack-dns: no DNS module to answer", log_prefix(md), packet_word(md),
                   md.destination.to_string());
      co_return net::Error{make_error_code(DispatchError::hijack_unavailable), {}};
    }
    spdlog::info("{} {}connection to {} hijacked by the DNS module", log_prefix(md), packet_word(md),
                 md.destination.to_string());
    co_return decision;
  }
  if (decision.rule != nullptr) apply_route_options(md, *decision.rule);
  if (connection_tracker()) {
    if (decision.rule) md.rule = route::connection_rule(*decision.rule);
    else md.rule = "final";
  }
  if (decision.outbound == nullptr) {
    spdlog::error("{} no outbound for {}", log_prefix(md), md.destination.to_string());
    co_return net::Error{make_error_code(DispatchError::no_outbound), {}};
  }
  auto* out = decision.outbound;
  spdlog::info("[{} {}] outbound/{}[{}]: outbound {}connection to {}", md.id, elapsed(md), out->type(), out->tag(),
               packet_word(md), md.destination.to_string());
  co_return decision;
}

// In sing-box's words, which dashboards and users grep for:
//   [id elapsed] inbound/mixed[in]: process connection from 127.0.0.1:5555:
//   dial tcp 127.0.0.1:1: connect: connection refused
void log_failure(const outbound::Metadata& md, const net::Error& e) {
  spdlog::error("{} process {}connection from {}: {}", log_prefix(md), packet_word(md), endpoint_string(md.source),
                e.text());
}

}  // namespace

std::optional<net::Address> real_destination(const route::Router& router, const net::Address& to) {
  auto ip = to.ip();
  if (!ip) return to;
  auto dns = router.dns();
  if (!dns) return to;
  auto name = dns->fake_name(net::unmap(*ip));
  if (!name) return to;
  if (name->empty()) return std::nullopt;
  return net::Address{std::move(*name), to.port};
}

std::string log_prefix(const outbound::Metadata& md) {
  return fmt::format("[{} {}] inbound/{}[{}]:", md.id, elapsed(md), md.inbound_type.empty() ? "?" : md.inbound_type,
                     md.inbound);
}

asio::awaitable<net::Result<std::unique_ptr<net::Conn>>> connect(route::Router& router, outbound::Metadata& md,
                                                                 ClientPeek* peek) {
  std::span<const std::uint8_t> no_datagram;
  auto out = co_await choose(router, md, peek, no_datagram);
  if (!out) co_return out.error();
  if (out->hijack_dns) co_return std::unique_ptr<net::Conn>(std::make_unique<DnsStreamConn>(out->hijack_dns, md));
  auto conn = co_await out->outbound->dial(md);
  if (!conn) {
    log_failure(md, conn.error());
    co_return conn;
  }
  auto* tracker = connection_tracker();
  if (!tracker) co_return conn;
  co_return tracker->track(std::move(*conn), md, out->outbound);
}

asio::awaitable<net::Result<std::unique_ptr<net::Conn>>> connect(route::Router& router, outbound::Metadata& md) {
  ClientPeek* none = nullptr;
  co_return co_await connect(router, md, none);
}

asio::awaitable<net::Result<std::unique_ptr<net::PacketConn>>> connect_packet(route::Router& router,
                                                                               outbound::Metadata& md) {
  std::span<const std::uint8_t> none;
  co_return co_await connect_packet(router, md, none);
}

asio::awaitable<net::Result<std::unique_ptr<net::PacketConn>>> connect_packet(route::Router& router,
                                                                               outbound::Metadata& md,
                                                                               std::span<const std::uint8_t> first) {
  ClientPeek* none = nullptr;
  auto out = co_await choose(router, md, none, first);
  if (!out) co_return out.error();
  if (out->hijack_dns)
    co_return std::unique_ptr<net::PacketConn>(std::make_unique<DnsPacketConn>(out->hijack_dns, md));
  auto conn = co_await out->outbound->listen_packet(md);
  if (!conn) {
    log_failure(md, conn.error());
    co_return conn;
  }
  // Every later destination of the flow is checked against the rules too.
  std::unique_ptr<net::PacketConn> routed =
      std::make_unique<RoutedPacketConn>(std::move(*conn), router, md, out->outbound);
  auto* tracker = connection_tracker();
  if (!tracker) co_return std::move(routed);
  co_return tracker->track(std::move(routed), md, out->outbound);
}

// ---- logs -------------------------------------------------------------------

std::string endpoint_string(const asio::ip::tcp::endpoint& ep) {
  auto a = net::unmap(ep.address());
  return net::Address{a.to_string(), ep.port()}.to_string();
}

void log_closed(const outbound::Metadata& md, std::uint64_t up, std::uint64_t down, const std::error_code& ec) {
  if (!spdlog::should_log(spdlog::level::debug)) return;
  spdlog::debug("{} {}connection to {} closed: up {}, down {}{}{}", log_prefix(md), packet_word(md),
                md.destination.to_string(), up, down, ec ? ": " : "", ec ? ec.message() : std::string());
}

asio::awaitable<net::RelayStats> relay_logged(const outbound::Metadata& md, net::Conn& client,
                                              net::Conn& upstream) {
  auto stats = co_await net::relay(client, upstream);
  log_closed(md, stats.a_to_b, stats.b_to_a, stats.error);
  co_return stats;
}

// ---- StreamBuffer -------------------------------------------------------------

StreamBuffer::StreamBuffer(std::size_t capacity)
    : buf_(std::make_unique_for_overwrite<std::uint8_t[]>(capacity)), capacity_(capacity) {}

void StreamBuffer::consume(std::size_t n) {
  begin_ += std::min(n, size());
  if (begin_ == end_) begin_ = end_ = 0;
}

asio::awaitable<std::error_code> StreamBuffer::fill(net::Conn& c) {
  if (full()) co_return asio::error::no_buffer_space;
  if (!buf_) buf_ = std::make_unique_for_overwrite<std::uint8_t[]>(capacity_);
  if (end_ == capacity_) {
    std::memmove(buf_.get(), buf_.get() + begin_, size());
    end_ -= begin_;
    begin_ = 0;
  }
  auto [ec, n] = co_await c.read_some(asio::buffer(buf_.get() + end_, capacity_ - end_));
  end_ += n;
  if (n > 0) co_return std::error_code{};
  co_return ec ? ec : asio::error::eof;
}

// ---- SessionPeek / drop ------------------------------------------------------------

asio::awaitable<std::error_code> SessionPeek::start() {
  if (started_) co_return std::error_code{};
  started_ = true;
  co_return co_await session_.client().write(asio::buffer(reply_));
}

asio::awaitable<std::error_code> SessionPeek::read_more() { co_return co_await in_.fill(session_.client()); }

asio::awaitable<void> hold_silently(Session& s) {
  std::array<std::uint8_t, 512> sink;
  while (!s.closed()) {
    auto [ec, n] = co_await s.client().read_some(asio::buffer(sink));
    if (ec) break;
  }
  s.close();
}

// ---- InboundContext / Session -----------------------------------------------------

InboundContext::InboundContext(asio::io_context& io_, std::string tag, config::MixedInboundOptions options_,
                               route::Router& router_, Protocols protocols_)
    : io(io_),
      tag_(std::move(tag)),
      options(std::move(options_)),
      router(router_),
      protocols(protocols_),
      type(protocols_ == Protocols::socks ? "socks" : protocols_ == Protocols::http ? "http" : "mixed"),
      listener(io_),
      tasks(io_.get_executor(), "inbound/" + type + "[" + tag_ + "]") {}

bool InboundContext::check_user(std::string_view username, std::string_view password) const {
  bool ok = false;
  for (const auto& u : options.users) {
    // No early exit: every user is compared, both fields of each.
    bool match = same_secret(u.username, username);
    match &= same_secret(u.password, password);
    ok = ok || match;
  }
  return ok;
}

Session::Session(std::shared_ptr<InboundContext> ctx, asio::ip::tcp::socket socket)
    : ctx_(std::move(ctx)), id_(ctx_->next_id++), client_(std::move(socket)), timer_(ctx_->io) {
  std::error_code ec;
  source_ = unmapped(client_.socket().remote_endpoint(ec));
  local_ = unmapped(client_.socket().local_endpoint(ec));
  timer_.expires_at(std::chrono::steady_clock::time_point::max());
  ctx_->sessions.insert(this);
}

Session::~Session() { ctx_->sessions.erase(this); }

outbound::Metadata Session::metadata(outbound::Network network, net::Address destination) const {
  outbound::Metadata md;
  md.inbound = ctx_->tag();
  md.user = user;
  md.network = network;
  md.destination = std::move(destination);
  md.source = source_;
  md.inbound_type = ctx_->type;
  return md;
}

void Session::start_tls(SSL_CTX* ctx) {
  tls_ = std::make_unique<tls::TlsConn>(std::move(client_.socket()), ctx, tls::TlsConn::Role::server);
}

void Session::close() {
  if (closed_) return;
  closed_ = true;
  client_.close();
  if (tls_) tls_->close();
  if (upstream_ != nullptr) upstream_->close();
  if (packet_ != nullptr) packet_->close();
  if (udp_ != nullptr) {
    std::error_code ec;
    udp_->close(ec);
  }
  timer_.cancel();
}

void Session::set_deadline(std::chrono::steady_clock::duration d) {
  if (!closed_) timer_.expires_after(d);
}

void Session::clear_deadline() {
  if (!closed_) timer_.expires_at(std::chrono::steady_clock::time_point::max());
}

asio::awaitable<void> Session::watchdog(std::shared_ptr<Session> self) {
  while (!self->closed_) {
    auto [ec] = co_await self->timer_.async_wait(net::use_tuple);
    if (self->closed_) break;
    if (!ec && self->timer_.expiry() <= std::chrono::steady_clock::now()) {
      spdlog::debug("{}: connection from {}: timed out", self->ctx_->log_name(), endpoint_string(self->source_));
      self->close();
    }
  }
}

asio::awaitable<std::error_code> FirstBytesPeek::start() {
  started_ = true;
  co_return std::error_code{};
}

asio::awaitable<std::error_code> FirstBytesPeek::read_more() {
  if (in_.empty()) {
    auto ec = co_await conn_.wait_readable();
    if (ec) co_return ec;
  }
  co_return co_await in_.fill(conn_);
}

}  // namespace anytls::inbound
