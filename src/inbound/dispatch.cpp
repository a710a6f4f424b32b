#include "inbound/dispatch.hpp"

#include <cstring>
#include <random>

#include <asio/error.hpp>
#include <spdlog/spdlog.h>

#include "net/coro.hpp"
#include "net/duration.hpp"
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

// Routes md; logs the outbound line or the refusal. nullptr with the error
// when there is nothing to dial.
net::Result<outbound::Outbound*> choose(route::Router& router, outbound::Metadata& md) {
  begin(md);
  log_inbound(md);
  auto decision = router.decide(md);
  if (decision.reject) {
    spdlog::info("{} {}connection to {} rejected by route", log_prefix(md), packet_word(md),
                 md.destination.to_string());
    return net::Error{make_error_code(DispatchError::rejected), {}};
  }
  if (decision.outbound == nullptr) {
    spdlog::error("{} no outbound for {}", log_prefix(md), md.destination.to_string());
    return net::Error{make_error_code(DispatchError::no_outbound), {}};
  }
  auto* out = decision.outbound;
  spdlog::info("[{} {}] outbound/{}[{}]: outbound {}connection to {}", md.id, elapsed(md), out->type(), out->tag(),
               packet_word(md), md.destination.to_string());
  return out;
}

void log_failure(const outbound::Metadata& md, const net::Error& e) {
  spdlog::error("{} open outbound {}connection to {}: {}", log_prefix(md), packet_word(md),
                md.destination.to_string(), e.text());
}

}  // namespace

std::string log_prefix(const outbound::Metadata& md) {
  return fmt::format("[{} {}] inbound/{}[{}]:", md.id, elapsed(md), md.inbound_type.empty() ? "?" : md.inbound_type,
                     md.inbound);
}

asio::awaitable<net::Result<std::unique_ptr<net::Conn>>> connect(route::Router& router, outbound::Metadata& md) {
  auto out = choose(router, md);
  if (!out) co_return out.error();
  auto conn = co_await (*out)->dial(md);
  if (!conn) {
    log_failure(md, conn.error());
    co_return conn;
  }
  auto* tracker = connection_tracker();
  if (!tracker) co_return conn;
  co_return tracker->track(std::move(*conn), md, *out);
}

asio::awaitable<net::Result<std::unique_ptr<net::PacketConn>>> connect_packet(route::Router& router,
                                                                               outbound::Metadata& md) {
  auto out = choose(router, md);
  if (!out) co_return out.error();
  auto conn = co_await (*out)->listen_packet(md);
  if (!conn) {
    log_failure(md, conn.error());
    co_return conn;
  }
  auto* tracker = connection_tracker();
  if (!tracker) co_return conn;
  co_return tracker->track(std::move(*conn), md, *out);
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
    // No early exit: every user is compared.
    bool match = same_secret(u.username, username) & same_secret(u.password, password);
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

void Session::close() {
  if (closed_) return;
  closed_ = true;
  client_.close();
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
      spdlog::debug("[{}] connection from {}: timed out", self->ctx_->tag(), endpoint_string(self->source_));
      self->close();
    }
  }
}

}  // namespace anytls::inbound
