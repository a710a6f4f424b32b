#include "inbound/tracker.hpp"

#include <atomic>
#include <mutex>
#include <random>

#include <asio/post.hpp>

#include <fmt/format.h>

#include "net/on_worker.hpp"
#include "net/wrapped_conn.hpp"
#include "net/workers.hpp"

namespace anytls::inbound {

// Connections of every worker: the list under a mutex (an entry is added
// and removed once per connection), the byte counts in the entry, each
// written only by its connection's worker and read by the API's.
struct Entry {
  TrackedConnection info;  // upload/download unused here: see below
  std::atomic<std::uint64_t> upload{0}, download{0};
  net::Conn* conn = nullptr;  // one of these two
  net::PacketConn* packet = nullptr;
  asio::io_context* worker = nullptr;  // where conn lives (null: no workers)
  // Set by a CloseLink while a relay runs: closes the client's side.
  std::function<void()> close_client;
};

struct ConnectionTracker::State {
  mutable std::mutex mu;
  std::list<Entry> live;
  std::uint64_t closed_up = 0, closed_down = 0;
};

namespace {

using StatePtr = std::shared_ptr<ConnectionTracker::State>;
using Iter = std::list<Entry>::iterator;

std::atomic<ConnectionTracker*> g_tracker{nullptr};

// A counter with one writer: no read-modify-write needed.
void bump(std::atomic<std::uint64_t>& c, std::uint64_t n) {
  c.store(c.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
}

std::string new_uuid() {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  std::uint64_t a = rng(), b = rng();
  a = (a & 0xffffffffffff0fffULL) | 0x0000000000004000ULL;  // version 4
  b = (b & 0x3fffffffffffffffULL) | 0x8000000000000000ULL;  // variant 1
  return fmt::format("{:08x}-{:04x}-{:04x}-{:04x}-{:012x}", a >> 32, (a >> 16) & 0xffff, a & 0xffff, b >> 48,
                     b & 0xffffffffffffULL);
}

Iter add(const StatePtr& st, const outbound::Metadata& md, const outbound::Outbound* out, net::Conn* conn,
         net::PacketConn* packet) {
  TrackedConnection t;
  t.id = new_uuid();
  t.metadata = md;
  t.chains = outbound::chain_of(out);
  t.start = std::chrono::system_clock::now();
  std::lock_guard lock(st->mu);
  auto& e = st->live.emplace_back();
  e.info = std::move(t);
  e.conn = conn;
  e.packet = packet;
  e.worker = net::Workers::current_context();
  return std::prev(st->live.end());
}

void remove(const StatePtr& st, Iter it) {
  std::lock_guard lock(st->mu);
  st->closed_up += it->upload.load(std::memory_order_relaxed);
  st->closed_down += it->download.load(std::memory_order_relaxed);
  st->live.erase(it);
}

// Closes the connection with this id; runs on its own worker, where it may
// be gone by then, so it is looked up again (only that worker destroys it).
void close_by_id(const StatePtr& st, const std::string& id) {
  net::Conn* conn = nullptr;
  net::PacketConn* packet = nullptr;
  std::function<void()> close_client;
  {
    std::lock_guard lock(st->mu);
    for (auto& e : st->live)
      if (e.info.id == id) {
        conn = e.conn;
        packet = e.packet;
        close_client = e.close_client;
      }
  }
  if (conn) conn->close();
  if (packet) packet->close();
  // The client's side too: the relay's directions blocked on it wake now,
  // and the whole relay ends (then its entry goes).
  if (close_client) close_client();
}

// Closes the listed connections (id, worker), each on its own worker.
void close_all_of(const StatePtr& st, std::vector<std::pair<std::string, asio::io_context*>> which) {
  for (auto& [id, worker] : which) net::on_worker(worker, [st, id = std::move(id)] { close_by_id(st, id); });
}

class CountingConn final : public net::WrappedConn {
 public:
  CountingConn(std::unique_ptr<net::Conn> inner, StatePtr st, const outbound::Metadata& md,
               const outbound::Outbound* out)
      : WrappedConn(std::move(inner)), st_(std::move(st)), it_(add(st_, md, out, inner_ptr(), nullptr)) {}
  ~CountingConn() override { remove(st_, it_); }

  asio::awaitable<net::ReadResult> read_some(asio::mutable_buffer buf) override {
    auto r = co_await inner().read_some(buf);
    bump(it_->download, r.second);
    co_return r;
  }
  asio::awaitable<net::ReadResult> read_leased(net::Lease& lease) override {
    auto r = co_await inner().read_leased(lease);
    bump(it_->download, r.second);
    co_return r;
  }
  asio::awaitable<std::error_code> write(asio::const_buffer buf) override {
    auto ec = co_await inner().write(buf);
    if (!ec) bump(it_->upload, buf.size());
    co_return ec;
  }
  asio::awaitable<std::error_code> write_spent(net::Lease& lease, std::size_t n) override {
    auto ec = co_await inner().write_spent(lease, n);
    if (!ec) bump(it_->upload, n);
    co_return ec;
  }

  const StatePtr& state() const { return st_; }
  Entry& entry() const { return *it_; }

 private:
  StatePtr st_;
  Iter it_;
};

class CountingPacketConn final : public net::PacketConn {
 public:
  CountingPacketConn(std::unique_ptr<net::PacketConn> inner, StatePtr st, const outbound::Metadata& md,
                     const outbound::Outbound* out)
      : inner_(std::move(inner)), st_(std::move(st)), it_(add(st_, md, out, nullptr, inner_.get())) {}
  ~CountingPacketConn() override { remove(st_, it_); }

  asio::awaitable<net::ReadResult> read_packet(asio::mutable_buffer buf, net::Address& from) override {
    auto r = co_await inner_->read_packet(buf, from);
    bump(it_->download, r.second);
    co_return r;
  }
  asio::awaitable<std::error_code> write_packet(asio::const_buffer buf, const net::Address& to) override {
    auto ec = co_await inner_->write_packet(buf, to);
    if (!ec) bump(it_->upload, buf.size());
    co_return ec;
  }
  void close() override { inner_->close(); }

  const StatePtr& state() const { return st_; }
  Entry& entry() const { return *it_; }

 private:
  std::unique_ptr<net::PacketConn> inner_;
  StatePtr st_;
  Iter it_;
};

}  // namespace

CloseLink::CloseLink(net::Conn& upstream, std::function<void()> close_client) {
  if (auto* c = dynamic_cast<CountingConn*>(&upstream)) {
    st_ = c->state();
    link(&c->entry().close_client, std::move(close_client));
  }
}

CloseLink::CloseLink(net::PacketConn& upstream, std::function<void()> close_client) {
  if (auto* c = dynamic_cast<CountingPacketConn*>(&upstream)) {
    st_ = c->state();
    link(&c->entry().close_client, std::move(close_client));
  }
}

void CloseLink::link(std::function<void()>* slot, std::function<void()> close_client) {
  std::lock_guard lock(st_->mu);
  slot_ = slot;
  *slot_ = std::move(close_client);
}

CloseLink::~CloseLink() {
  if (!slot_) return;
  std::lock_guard lock(st_->mu);
  *slot_ = nullptr;
}

ConnectionTracker::ConnectionTracker() : st_(std::make_shared<State>()) {}

std::unique_ptr<net::Conn> ConnectionTracker::track(std::unique_ptr<net::Conn> c, const outbound::Metadata& md,
                                                    const outbound::Outbound* out) {
  return std::make_unique<CountingConn>(std::move(c), st_, md, out);
}

std::unique_ptr<net::PacketConn> ConnectionTracker::track(std::unique_ptr<net::PacketConn> c,
                                                          const outbound::Metadata& md,
                                                          const outbound::Outbound* out) {
  return std::make_unique<CountingPacketConn>(std::move(c), st_, md, out);
}

std::vector<TrackedConnection> ConnectionTracker::connections() const {
  std::vector<TrackedConnection> out;
  std::lock_guard lock(st_->mu);
  out.reserve(st_->live.size());
  for (const auto& e : st_->live) {
    out.push_back(e.info);
    out.back().upload = e.upload.load(std::memory_order_relaxed);
    out.back().download = e.download.load(std::memory_order_relaxed);
  }
  return out;
}

bool ConnectionTracker::close(std::string_view id) {
  std::vector<std::pair<std::string, asio::io_context*>> which;
  {
    std::lock_guard lock(st_->mu);
    for (auto& e : st_->live)
      if (e.info.id == id) which.emplace_back(e.info.id, e.worker);
  }
  const bool found = !which.empty();
  close_all_of(st_, std::move(which));
  return found;
}

std::size_t ConnectionTracker::close_all() {
  // close() leaves the entries in place (their relays remove them later).
  std::vector<std::pair<std::string, asio::io_context*>> which;
  {
    std::lock_guard lock(st_->mu);
    for (auto& e : st_->live) which.emplace_back(e.info.id, e.worker);
  }
  const std::size_t n = which.size();
  close_all_of(st_, std::move(which));
  return n;
}

std::uint64_t ConnectionTracker::total_upload() const {
  std::lock_guard lock(st_->mu);
  std::uint64_t n = st_->closed_up;
  for (const auto& e : st_->live) n += e.upload.load(std::memory_order_relaxed);
  return n;
}

std::uint64_t ConnectionTracker::total_download() const {
  std::lock_guard lock(st_->mu);
  std::uint64_t n = st_->closed_down;
  for (const auto& e : st_->live) n += e.download.load(std::memory_order_relaxed);
  return n;
}

void set_connection_tracker(ConnectionTracker* t) { g_tracker = t; }
ConnectionTracker* connection_tracker() { return g_tracker; }

}  // namespace anytls::inbound
