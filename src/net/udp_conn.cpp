#include "net/udp_conn.hpp"

#include <asio/error.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/ip/v6_only.hpp>
#include <asio/this_coro.hpp>
#include <asio/use_awaitable.hpp>

namespace anytls::net {

using asio::ip::udp;

namespace {

constexpr auto use_tuple = asio::experimental::as_tuple(asio::use_awaitable);

asio::ip::address unmap(const asio::ip::address& a) {
  if (a.is_v6() && a.to_v6().is_v4_mapped())
    return asio::ip::make_address_v4(asio::ip::v4_mapped, a.to_v6());
  return a;
}

}  // namespace

UdpPacketConn::UdpPacketConn(udp::socket socket, Dialer dialer)
    : socket_(std::move(socket)), dialer_(std::move(dialer)) {
  std::error_code ec;
  auto local = socket_.local_endpoint(ec);
  v6_ = !ec && local.address().is_v6();
  if (v6_) {
    asio::ip::v6_only opt;
    socket_.get_option(opt, ec);
    v6_only_ = !ec && opt.value();
  }
}

asio::awaitable<ReadResult> UdpPacketConn::read_packet(asio::mutable_buffer buf, Address& from) {
  udp::endpoint peer;
  auto [ec, n] = co_await socket_.async_receive_from(buf, peer, use_tuple);
  if (ec) co_return ReadResult{ec, n};
  udp::endpoint key(unmap(peer.address()), peer.port());
  if (auto it = names_.find(key); it != names_.end())
    from = Address{it->second, key.port()};
  else
    from = Address{key.address().to_string(), key.port()};
  co_return ReadResult{ec, n};
}

asio::awaitable<std::error_code> UdpPacketConn::write_packet(asio::const_buffer buf, const Address& to) {
  auto fits = [this](const asio::ip::address& a) { return v6_ ? (a.is_v6() || !v6_only_) : a.is_v4(); };

  asio::ip::address target;
  if (auto ip = to.ip()) {
    target = unmap(*ip);
  } else if (auto it = resolved_.find(to.host); it != resolved_.end()) {
    target = it->second;
  } else {
    auto res = co_await dialer_.resolve(to.host);
    if (!res) co_return res.error().code;
    bool found = false;
    for (const auto& a : *res) {
      if (fits(a)) {
        target = a;
        found = true;
        break;
      }
    }
    if (!found) co_return make_error_code(asio::error::address_family_not_supported);
    if (resolved_.size() >= kMaxCache) resolved_.clear();
    resolved_.emplace(to.host, target);
  }
  if (!fits(target)) co_return make_error_code(asio::error::address_family_not_supported);
  if (to.is_domain()) {
    udp::endpoint key(target, to.port);
    if (names_.size() >= kMaxCache && !names_.count(key)) names_.clear();
    names_[key] = to.host;
  }
  udp::endpoint dest(target, to.port);
  if (v6_ && target.is_v4())
    dest = udp::endpoint(asio::ip::make_address_v6(asio::ip::v4_mapped, target.to_v4()), to.port);
  auto [sec, n] = co_await socket_.async_send_to(buf, dest, use_tuple);
  (void)n;
  co_return sec;
}

std::error_code UdpPacketConn::connect_peer(const asio::ip::address& ip, std::uint16_t port) {
  const auto target = unmap(ip);
  if (!(v6_ ? (target.is_v6() || !v6_only_) : target.is_v4()))
    return make_error_code(asio::error::address_family_not_supported);
  udp::endpoint peer(target, port);
  if (v6_ && target.is_v4()) peer = udp::endpoint(asio::ip::make_address_v6(asio::ip::v4_mapped, target.to_v4()), port);
  std::error_code ec;
  socket_.connect(peer, ec);
  return ec;
}

void UdpPacketConn::close() {
  std::error_code ec;
  socket_.close(ec);
}

// ---------------------------------------------------------------- IdleTimer

IdleTimer::IdleTimer(asio::any_io_executor ex, Duration timeout, Clock* clock)
    : timer_(ex, clock), timeout_(timeout), last_(timer_.clock().now()) {}

std::shared_ptr<IdleTimer> IdleTimer::create(asio::any_io_executor ex, Duration timeout, Clock* clock) {
  return std::make_shared<IdleTimer>(std::move(ex), timeout, clock);
}

asio::awaitable<void> IdleTimer::wait() { return run(shared_from_this()); }

asio::awaitable<void> IdleTimer::run(std::shared_ptr<IdleTimer> self) {
  if (self->timeout_ <= Duration::zero()) {
    self->timer_.expires_at(Clock::time_point::max());
    (void)co_await self->timer_.wait();
    co_return;
  }
  for (;;) {
    auto due = self->last_ + std::chrono::duration_cast<Clock::duration>(self->timeout_);
    if (self->timer_.clock().now() >= due) co_return;
    self->timer_.expires_at(due);
    auto ec = co_await self->timer_.wait();
    if (ec) co_return;  // cancelled
  }
}

// ---------------------------------------------------------------- IdleTrackingPacketConn

asio::awaitable<ReadResult> IdleTrackingPacketConn::read_packet(asio::mutable_buffer buf, Address& from) {
  auto r = co_await inner_->read_packet(buf, from);
  if (!r.first) idle_->touch();
  co_return r;
}

asio::awaitable<std::error_code> IdleTrackingPacketConn::write_packet(asio::const_buffer buf,
                                                                      const Address& to) {
  auto ec = co_await inner_->write_packet(buf, to);
  if (!ec) idle_->touch();
  co_return ec;
}

}  // namespace anytls::net
