// The connections open now, for the Clash API's /connections and /traffic:
// every connection the dispatch (dispatch.hpp) opens is wrapped so that its
// bytes are counted and it can be closed from outside. One tracker for all
// workers: its list is locked once per connection; each connection's byte
// counts are written by its own worker only; close() runs on that worker.
#pragma once
#include <chrono>
#include <cstdint>
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

// The tracker the dispatch reports to (null: none), for every worker. The box
// installs one when the Clash API is on.
void set_connection_tracker(ConnectionTracker* t);
ConnectionTracker* connection_tracker();

}  // namespace anytls::inbound
