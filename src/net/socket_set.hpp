// The connections a small control server (metrics, Clash API) has open: at
// most `limit` at once, so that its clients cannot use up the process's
// descriptors, and all of them closed when the server stops. One thread.
//
// When the set is full, a new connection takes the place of one that has
// not proved itself: first the oldest that has not made an authorised
// request yet (a client trickling a request head, or never sending one),
// then the oldest that sits idle between requests. Connections serving an
// authorised request or stream are never evicted, so a crowd of
// unauthenticated connections cannot lock out the client with the secret.
#pragma once
#include <algorithm>
#include <cstddef>
#include <list>
#include <memory>
#include <system_error>

#include <asio/ip/tcp.hpp>

namespace anytls::net {

class SocketSet {
 public:
  enum class Use {
    pending,  // no authorised request yet: evicted first
    idle,     // authorised before, waiting for its next request
    active,   // serving an authorised request or stream: kept
  };

  explicit SocketSet(std::size_t limit) : limit_(limit) {}

  // The socket, shared with the set, in state `pending`; null (and the
  // socket closed) when `limit` are open and none can be evicted.
  std::shared_ptr<asio::ip::tcp::socket> admit(asio::ip::tcp::socket socket) {
    entries_.remove_if([](const Entry& e) { return e.socket.expired(); });
    if (entries_.size() >= limit_ && !evict(Use::pending) && !evict(Use::idle)) {
      std::error_code ig;
      socket.close(ig);
      return nullptr;
    }
    auto s = std::make_shared<asio::ip::tcp::socket>(std::move(socket));
    entries_.push_back({s, Use::pending});
    return s;
  }

  // What the connection on `s` is doing now (a socket not in the set is
  // ignored).
  void mark(const asio::ip::tcp::socket& s, Use use) {
    for (auto& e : entries_)
      if (auto p = e.socket.lock(); p.get() == &s) {
        e.use = use;
        return;
      }
  }

  void close_all() {
    for (auto& e : entries_)
      if (auto s = e.socket.lock()) {
        std::error_code ig;
        s->close(ig);
      }
  }

  std::size_t limit() const { return limit_; }
  std::size_t evictions() const { return evictions_; }

 private:
  struct Entry {
    std::weak_ptr<asio::ip::tcp::socket> socket;
    Use use;
  };

  // Closes the oldest connection in state `use`; false when there is none.
  bool evict(Use use) {
    auto it = std::find_if(entries_.begin(), entries_.end(), [use](const Entry& e) { return e.use == use; });
    if (it == entries_.end()) return false;
    if (auto s = it->socket.lock()) {
      std::error_code ig;
      s->close(ig);  // its coroutine sees operation_aborted and ends
    }
    entries_.erase(it);
    ++evictions_;
    return true;
  }

  std::size_t limit_;
  std::size_t evictions_ = 0;
  std::list<Entry> entries_;  // oldest first
};

}  // namespace anytls::net
