// The anytls inbound: TLS listener, auth preamble, then an AnyTLS session
// whose streams are routed to outbounds through the one dispatch path
// (inbound/dispatch.hpp). Connections that fail authentication go to the
// fallback server (or are closed), so a prober sees an ordinary TLS web
// server.
#pragma once
#include <list>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <asio/io_context.hpp>

#include "anytls/padding.hpp"
#include "anytls/preamble.hpp"
#include "anytls/session.hpp"
#include "config/options.hpp"
#include "inbound/anytls_stream.hpp"
#include "inbound/inbound.hpp"
#include "inbound/user_limits.hpp"
#include "net/clock.hpp"
#include "net/dialer.hpp"
#include "net/listener.hpp"
#include "net/signal.hpp"
#include "net/task_group.hpp"
#include "net/timer.hpp"
#include "route/router.hpp"
#include "tls/context.hpp"

namespace anytls::inbound {

struct AnyTlsServerStats {
  std::uint64_t connections = 0;
  std::uint64_t handshakes = 0;      // TLS handshakes completed
  std::uint64_t authenticated = 0;   // sessions started
  std::uint64_t auth_failures = 0;
  std::uint64_t fallbacks = 0;
  std::uint64_t streams = 0;
  std::uint64_t heart_requests = 0;  // HeartRequest frames received
  std::uint64_t user_limit_refusals = 0;  // sessions or streams over a per-user limit
  std::uint64_t fd_reserve_refusals = 0;  // streams refused to keep descriptors for new clients
  std::uint64_t handshakes_waited = 0;    // connections that waited for a handshake slot
  // Per user, in the order of the configured users (metrics). Traffic of
  // sessions already closed; live ones are added by user_traffic().
  struct User {
    std::string name;
    std::uint64_t sessions = 0;  // live now
    std::uint64_t closed_bytes_up = 0, closed_bytes_down = 0;  // AnyTLS frames
    std::uint64_t closed_wire_up = 0, closed_wire_down = 0;    // TLS records
  };
  std::vector<User> users;
};

// One user's traffic so far (up = client to server).
struct UserTraffic {
  std::uint64_t bytes_up = 0, bytes_down = 0, wire_up = 0, wire_down = 0;
};

class AnyTlsServer final : public Inbound {
 public:
  // resolver: for the fallback's address (null: one of its own, made when
  // needed). clock: every deadline of the inbound (null: the real clock).
  AnyTlsServer(asio::io_context& io, std::string tag, config::AnyTlsInboundOptions opts, route::Router& router,
               std::shared_ptr<net::Resolver> resolver = nullptr, net::Clock* clock = nullptr);
  ~AnyTlsServer() override;

  const std::string& tag() const override { return tag_; }
  std::error_code start() override;
  void stop() override;
  asio::awaitable<void> join() override;
  // Closes the listener only; sessions and handshakes in progress go on.
  void drain() override;

  // Start-up problem in words (bad certificate, invalid padding scheme...),
  // set when start() fails.
  const std::string& start_error() const { return start_error_; }
  std::uint16_t port() const { return listener_.port(); }
  const AnyTlsServerStats& stats() const { return stats_; }
  // Per user (same order as stats().users): closed plus live sessions.
  std::vector<UserTraffic> user_traffic() const;
  std::size_t live_sessions() const;
  // Connections holding a TLS handshake or auth preamble in progress now.
  std::size_t handshakes_in_progress() const { return handshakes_; }
  // Bytes in the receive buffers of all sessions now.
  std::size_t buffered_bytes() const { return budget_ ? budget_->used() : 0; }
  // Closes every live session (as when the server restarts).
  void close_sessions();
  // Before start(): this server is one of `shards` (one per worker) of an
  // inbound; they count the per-user limits together in `limits`, and each
  // takes its share of max_handshakes and max_buffered_bytes.
  void share(std::shared_ptr<UserLimits> limits, std::size_t shards);

 private:
  asio::awaitable<void> trim_loop();
  std::uint64_t open_descriptors() const;
  void on_buffers_full();
  void on_accept(asio::ip::tcp::socket socket);
  asio::awaitable<void> handle_connection(asio::ip::tcp::socket socket);
  asio::awaitable<void> serve_fallback(std::unique_ptr<net::Conn> conn, std::vector<std::uint8_t> already,
                                       std::string peer);
  void on_stream(const std::shared_ptr<proto::Session>& session, std::size_t user_index,
                 const asio::ip::tcp::endpoint& peer, std::shared_ptr<proto::Stream> stream);
  asio::awaitable<void> serve_counted(std::shared_ptr<proto::Stream> stream, StreamContext ctx, std::size_t user);

  asio::io_context& io_;
  std::string tag_;
  config::AnyTlsInboundOptions opts_;
  route::Router& router_;
  std::shared_ptr<net::Resolver> resolver_;
  net::Clock* clock_;
  net::Listener listener_;
  net::TaskGroup tasks_;  // accept loop, connections, fallbacks, streams
  net::Timer trim_timer_;
  std::shared_ptr<tls::ServerContext> tls_;
  std::shared_ptr<proto::PaddingState> padding_;
  std::vector<proto::PasswordHash> hashes_;
  std::optional<net::Dialer> fallback_dialer_;
  std::uint32_t max_sessions_per_user_ = 0;  // resolved at start()
  std::uint32_t max_streams_per_user_ = 0;
  std::uint32_t max_handshakes_ = 0;
  // Open descriptors the server may use for connections and streams; the
  // rest of RLIMIT_NOFILE is kept for accept() and new handshakes.
  std::uint64_t fd_budget_ = 0;
  std::size_t handshakes_ = 0;               // in progress
  std::unique_ptr<net::Signal> handshake_done_;  // a handshake slot freed
  std::uint32_t streams_open_ = 0;           // all users
  std::shared_ptr<proto::ReceiveBudget> budget_;  // all sessions' receive buffers
  bool shed_pending_ = false;                // a close for buffer room is posted
  std::shared_ptr<UserLimits> limits_;       // open sessions and streams per user (all shards)
  std::size_t shards_ = 1;
  std::string start_error_;
  bool stopped_ = false;
  std::uint64_t next_seq_ = 0;
  // Everything alive, so stop() can close it.
  std::list<std::weak_ptr<proto::Session>> sessions_;
  std::list<net::Conn*> pending_;  // connections before/without a session
  std::list<asio::ip::tcp::socket*> pending_sockets_;  // accepted, no byte yet
  AnyTlsServerStats stats_;
  // Live sessions by user index, for user_traffic().
  std::map<const proto::Session*, std::pair<std::weak_ptr<proto::Session>, std::size_t>> user_sessions_;
};

}  // namespace anytls::inbound
