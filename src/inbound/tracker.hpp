// The connections open now, for the Clash API's /connections and /traffic:
// every connection the dispatch (dispatch.hpp) opens is wrapped so that its
// bytes are counted and it can be closed from outside. One tracker for all
// workers: its list is locked once per connection; each connection's byte
// counts are written by its own worker only; close() runs on that worker.
#pragma once
#include <chrono>
#include <cstdint>
#include <functional>
#include <list>
#include <memory>
#include <string>
#include <vector>

#include "net/conn.hpp"
#include "outbound/outbound.hpp"

namespace anytls::inbound {

struct TrackedConnection {
  std::string id;  // a UUID, as Clash shows them
  outbound::Metadata metadata;
  std::vector<std::string> chains;  // ["server-a", "auto", "select"]
  std::chrono::system_clock::time_point start;
  std::uint64_t upload = 0;    // client -> destination
  std::uint64_t download = 0;  // destination -> client
};

class ConnectionTracker {
 public:
  ConnectionTracker();
  // Wraps an outbound connection; it is listed until destroyed.
  std::unique_ptr<net::Conn> track(std::unique_ptr<net::Conn> c, const outbound::Metadata& md,
                                   const outbound::Outbound* out);
  std::unique_ptr<net::PacketConn> track(std::unique_ptr<net::PacketConn> c, const outbound::Metadata& md,
                                         const outbound::Outbound* out);
  // A snapshot of the live connections.
  std::vector<TrackedConnection> connections() const;
  // Closes one connection (false: no such id) or all of them.
  bool close(std::string_view id);
  std::size_t close_all();
  // Bytes of every connection so far, closed ones included.
  std::uint64_t total_upload() const;
  std::uint64_t total_download() const;

  struct State;

 private:
  std::shared_ptr<State> st_;
};

// Ties the other side of a relay to a tracked connection for the relay's
// duration: a close from the tracker (the Clash API's DELETE /connections)
// closes the tracked outbound connection and then runs close_client, so
// both directions of the relay end at once (one blocked writing to a client
// that does not read, one blocked reading an idle client) and the client
// sees the end, as Clash and mihomo do. Built and destroyed on the
// connection's worker, where the tracker's close runs too; destroy it
// before either side. Does nothing when `upstream` is not tracked (no
// tracker, hijack-dns).
class CloseLink {
 public:
  CloseLink(net::Conn& upstream, std::function<void()> close_client);
  CloseLink(net::PacketConn& upstream, std::function<void()> close_client);
  ~CloseLink();
  CloseLink(const CloseLink&) = delete;
  CloseLink& operator=(const CloseLink&) = delete;

 private:
  void link(std::function<void()>* slot, std::function<void()> close_client);

  std::shared_ptr<ConnectionTracker::State> st_;
  std::function<void()>* slot_ = nullptr;  // in the tracker's entry
};

// The tracker the dispatch reports to (null: none), for every worker. The box
// installs one when the Clash API is on.
void set_connection_tracker(ConnectionTracker* t);
ConnectionTracker* connection_tracker();

}  // namespace anytls::inbound
