#include "outbound/group.hpp"

#include <asio/post.hpp>
#include <spdlog/spdlog.h>

#include "net/on_worker.hpp"
#include "net/wrapped_conn.hpp"
#include "net/workers.hpp"

namespace anytls::outbound {

namespace {

using StatePtr = std::shared_ptr<GroupConnections::State>;
using Iter = std::list<GroupConnections::Entry>::iterator;

// Connections of every worker in one list: locked once per connection.
Iter add(const StatePtr& st, GroupConnections::Entry e) {
  std::lock_guard lock(st->mu);
  st->entries.push_back(e);
  return std::prev(st->entries.end());
}

void erase(const StatePtr& st, Iter it) {
  std::lock_guard lock(st->mu);
  st->entries.erase(it);
}

// Closes a connection; runs on its own worker, where it may be gone by
// then: it is looked up again there (only that worker destroys it).
void close_on_worker(const StatePtr& st, const void* key) {
  net::Conn* conn = nullptr;
  net::PacketConn* packet = nullptr;
  {
    std::lock_guard lock(st->mu);
    for (auto& e : st->entries)
      if (e.conn == key || e.packet == key) {
        conn = e.conn;
        packet = e.packet;
      }
  }
  if (conn) conn->close();
  if (packet) packet->close();
}

// A connection handed out by a group: passes everything through and leaves
// the registry when destroyed. One indirect call per operation; the
// registry is locked only when a connection comes and goes.
class TrackedConn final : public net::WrappedConn {
 public:
  TrackedConn(std::unique_ptr<net::Conn> inner, StatePtr st, const Outbound* member)
      : WrappedConn(std::move(inner)), st_(std::move(st)) {
    it_ = add(st_, {member, inner_ptr(), nullptr, net::Workers::current_context()});
  }
  ~TrackedConn() override { erase(st_, it_); }

 private:
  StatePtr st_;
  std::list<GroupConnections::Entry>::iterator it_;
};

class TrackedPacketConn final : public net::PacketConn {
 public:
  TrackedPacketConn(std::unique_ptr<net::PacketConn> inner, StatePtr st, const Outbound* member)
      : inner_(std::move(inner)), st_(std::move(st)) {
    it_ = add(st_, {member, nullptr, inner_.get(), net::Workers::current_context()});
  }
  ~TrackedPacketConn() override { erase(st_, it_); }

  asio::awaitable<net::ReadResult> read_packet(asio::mutable_buffer buf, net::Address& from) override {
    return inner_->read_packet(buf, from);
  }
  asio::awaitable<std::error_code> write_packet(asio::const_buffer buf, const net::Address& to) override {
    return inner_->write_packet(buf, to);
  }
  void close() override { inner_->close(); }

 private:
  std::unique_ptr<net::PacketConn> inner_;
  StatePtr st_;
  std::list<GroupConnections::Entry>::iterator it_;
};

}  // namespace

GroupConnections::GroupConnections() : st_(std::make_shared<State>()) {}

std::unique_ptr<net::Conn> GroupConnections::track(std::unique_ptr<net::Conn> c, const Outbound* member) {
  return std::make_unique<TrackedConn>(std::move(c), st_, member);
}

std::unique_ptr<net::PacketConn> GroupConnections::track(std::unique_ptr<net::PacketConn> c,
                                                         const Outbound* member) {
  return std::make_unique<TrackedPacketConn>(std::move(c), st_, member);
}

std::size_t GroupConnections::close_through(const Outbound* member) {
  // Collected under the lock, closed outside it, each on its own worker.
  std::vector<std::pair<const void*, asio::io_context*>> which;
  {
    std::lock_guard lock(st_->mu);
    for (auto& e : st_->entries) {
      if (member && e.member != member) continue;
      const void* key = e.conn ? static_cast<const void*>(e.conn) : static_cast<const void*>(e.packet);
      which.emplace_back(key, e.worker);
    }
  }
  for (auto& [key, worker] : which) net::on_worker(worker, [st = st_, key = key] { close_on_worker(st, key); });
  return which.size();
}

std::size_t GroupConnections::size() const {
  std::lock_guard lock(st_->mu);
  return st_->entries.size();
}

Group::Group(std::string tag, std::vector<std::string> member_tags, bool interrupt_exist_connections)
    : tag_(std::move(tag)), member_tags_(std::move(member_tags)), interrupt_(interrupt_exist_connections) {}

void Group::set_members(std::vector<Outbound*> members) { members_ = std::move(members); }

Outbound* Group::member(std::string_view tag) const {
  for (auto* m : members_)
    if (m->tag() == tag) return m;
  return nullptr;
}

void Group::changed_from(const Outbound* old) {
  if (!interrupt_ || old == nullptr) return;
  auto n = conns_.close_through(old);
  if (n > 0) spdlog::info("outbound/{}[{}]: closed {} connections through {}", type(), tag_, n, old->tag());
}

}  // namespace anytls::outbound
