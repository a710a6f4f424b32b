#include "inbound/tracker.hpp"

#include <random>

#include <fmt/format.h>

#include "outbound/group.hpp"

namespace anytls::inbound {

struct ConnectionTracker::State {
  std::list<TrackedConnection> live;
  std::uint64_t closed_up = 0, closed_down = 0;
};

namespace {

using StatePtr = std::shared_ptr<ConnectionTracker::State>;
using Iter = std::list<TrackedConnection>::iterator;

thread_local ConnectionTracker* g_tracker = nullptr;

std::string new_uuid() {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  std::uint64_t a = rng(), b = rng();
  a = (a & 0xffffffffffff0fffULL) | 0x0000000000004000ULL;  // version 4
  b = (b & 0x3fffffffffffffffULL) | 0x8000000000000000ULL;  // variant 1
  return fmt::format("{:08x}-{:04x}-{:04x}-{:04x}-{:012x}", a >> 32, (a >> 16) & 0xffff, a & 0xffff, b >> 48,
                     b & 0xffffffffffffULL);
}

Iter add(const StatePtr& st, const outbound::Metadata& md, const outbound::Outbound* out) {
  TrackedConnection t;
  t.id = new_uuid();
  t.metadata = md;
  t.chains = outbound::chain_of(out);
  t.start = std::chrono::system_clock::now();
  st->live.push_back(std::move(t));
  return std::prev(st->live.end());
}

void remove(const StatePtr& st, Iter it) {
  st->closed_up += it->upload;
  st->closed_down += it->download;
  st->live.erase(it);
}

class CountingConn final : public net::Conn {
 public:
  CountingConn(std::unique_ptr<net::Conn> inner, StatePtr st, Iter it)
      : inner_(std::move(inner)), st_(std::move(st)), it_(it) {
    it_->conn = inner_.get();
  }
  ~CountingConn() override { remove(st_, it_); }

  asio::awaitable<net::ReadResult> read_some(asio::mutable_buffer buf) override {
    auto r = co_await inner_->read_some(buf);
    it_->download += r.second;
    co_return r;
  }
  asio::awaitable<std::error_code> write(asio::const_buffer buf) override {
    auto ec = co_await inner_->write(buf);
    if (!ec) it_->upload += buf.size();
    co_return ec;
  }
  void shutdown_write() override { inner_->shutdown_write(); }
  void close() override { inner_->close(); }
  asio::awaitable<std::error_code> wait_readable() override { return inner_->wait_readable(); }
  void release_buffers() override { inner_->release_buffers(); }
  std::string failure() const override { return inner_->failure(); }
  net::WireBytes wire_bytes() const override { return inner_->wire_bytes(); }

 private:
  std::unique_ptr<net::Conn> inner_;
  StatePtr st_;
  Iter it_;
};

class CountingPacketConn final : public net::PacketConn {
 public:
  CountingPacketConn(std::unique_ptr<net::PacketConn> inner, StatePtr st, Iter it)
      : inner_(std::move(inner)), st_(std::move(st)), it_(it) {
    it_->packet = inner_.get();
  }
  ~CountingPacketConn() override { remove(st_, it_); }

  asio::awaitable<net::ReadResult> read_packet(asio::mutable_buffer buf, net::Address& from) override {
    auto r = co_await inner_->read_packet(buf, from);
    it_->download += r.second;
    co_return r;
  }
  asio::awaitable<std::error_code> write_packet(asio::const_buffer buf, const net::Address& to) override {
    auto ec = co_await inner_->write_packet(buf, to);
    if (!ec) it_->upload += buf.size();
    co_return ec;
  }
  void close() override { inner_->close(); }

 private:
  std::unique_ptr<net::PacketConn> inner_;
  StatePtr st_;
  Iter it_;
};

}  // namespace

ConnectionTracker::ConnectionTracker() : st_(std::make_shared<State>()) {}

std::unique_ptr<net::Conn> ConnectionTracker::track(std::unique_ptr<net::Conn> c, const outbound::Metadata& md,
                                                    const outbound::Outbound* out) {
  auto it = add(st_, md, out);
  return std::make_unique<CountingConn>(std::move(c), st_, it);
}

std::unique_ptr<net::PacketConn> ConnectionTracker::track(std::unique_ptr<net::PacketConn> c,
                                                          const outbound::Metadata& md,
                                                          const outbound::Outbound* out) {
  auto it = add(st_, md, out);
  return std::make_unique<CountingPacketConn>(std::move(c), st_, it);
}

const std::list<TrackedConnection>& ConnectionTracker::connections() const { return st_->live; }

bool ConnectionTracker::close(std::string_view id) {
  for (auto& t : st_->live) {
    if (t.id != id) continue;
    if (t.conn) t.conn->close();
    if (t.packet) t.packet->close();
    return true;
  }
  return false;
}

std::size_t ConnectionTracker::close_all() {
  // close() leaves the entries in place (their relays remove them later).
  for (auto& t : st_->live) {
    if (t.conn) t.conn->close();
    if (t.packet) t.packet->close();
  }
  return st_->live.size();
}

std::uint64_t ConnectionTracker::total_upload() const {
  std::uint64_t n = st_->closed_up;
  for (const auto& t : st_->live) n += t.upload;
  return n;
}

std::uint64_t ConnectionTracker::total_download() const {
  std::uint64_t n = st_->closed_down;
  for (const auto& t : st_->live) n += t.download;
  return n;
}

void set_connection_tracker(ConnectionTracker* t) { g_tracker = t; }
ConnectionTracker* connection_tracker() { return g_tracker; }

}  // namespace anytls::inbound
