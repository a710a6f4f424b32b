// The anytls outbound: streams over pooled AnyTLS sessions to one server.
// The pool's decisions come from PoolPolicy (pure); this class carries them
// out on real sessions: dials, TLS, preamble, heartbeats, the tick timer.
#pragma once
#include <functional>
#include <map>
#include <memory>
#include <random>
#include <string>

#include <asio/io_context.hpp>

#include "anytls/session.hpp"
#include "config/options.hpp"
#include "metrics/histogram.hpp"
#include "net/dialer.hpp"
#include "net/workers.hpp"
#include "outbound/outbound.hpp"
#include "outbound/pool_policy.hpp"
#include "tls/context.hpp"

namespace anytls::outbound {

// Why a pool session ended (anytls_pool_sessions_closed_total{reason}).
enum class SessionEnd { idle_timeout, age, heartbeat_dead, peer_closed, error, shutdown };
inline constexpr std::size_t kSessionEnds = 6;
std::string_view session_end_name(SessionEnd e);

// Why a stream failed to reach its destination through the pool
// (anytls_stream_errors_total{kind}).
enum class StreamError {
  dial,          // no session could be dialled for it
  open,          // its fresh session died before the stream was opened
  refused,       // the server answered the SYN with an error (it could not connect)
  retry_failed,  // its pooled session was dead and the retry failed too
};
inline constexpr std::size_t kStreamErrors = 4;
std::string_view stream_error_name(StreamError e);

// Plain integers, kept under the pool's lock; the live sessions' share is
// read on each session's own worker (see worker_stats()).
struct AnyTlsStats {
  std::uint64_t sessions_created = 0;
  std::uint64_t session_dial_failures = 0;
  std::uint64_t streams = 0;
  std::uint64_t retries = 0;           // streams retried on a fresh session
  std::uint64_t cross_worker_streams = 0;  // streams on an idle session of another worker
  std::uint64_t heartbeats_sent = 0;
  std::uint64_t heartbeat_responses = 0;
  std::uint64_t heartbeat_misses = 0;  // sessions declared dead
  // Metrics.
  std::uint64_t stream_dials = 0;      // sessions being dialled for a waiting stream (now)
  std::uint64_t closed[kSessionEnds] = {};
  std::uint64_t stream_errors[kStreamErrors] = {};
  metrics::Histogram handshake_seconds{metrics::handshake_buckets()};  // TCP + TLS + preamble
  metrics::Histogram session_age_seconds{metrics::session_age_buckets()};  // at close
  // Traffic of sessions already closed; live ones are added by traffic().
  std::uint64_t closed_bytes_up = 0, closed_bytes_down = 0;  // AnyTLS frames
  std::uint64_t closed_wire_up = 0, closed_wire_down = 0;    // TLS records
};

// All traffic of an outbound so far, closed and live sessions.
struct Traffic {
  std::uint64_t bytes_up = 0, bytes_down = 0;  // AnyTLS frames (plaintext, headers included)
  std::uint64_t wire_up = 0, wire_down = 0;    // TLS records on TCP (handshakes included)
};

class AnyTlsOutbound final : public Outbound {
 public:
  // clock/random: injectable for tests (a net::VirtualClock drives the tick,
  // the heartbeats and every timeout); null = real ones.
  // io: worker 0 (the tick). workers: sessions are spread over them and a
  // stream prefers an idle session of its own worker (null: all on io).
  AnyTlsOutbound(asio::io_context& io, std::string tag, config::AnyTlsOutboundOptions opts, net::Dialer dialer,
                 std::shared_ptr<tls::ClientContext> tls, Clock* clock = nullptr, Random* random = nullptr,
                 net::Workers* workers = nullptr);
  ~AnyTlsOutbound() override;

  // Builds the TLS context from the options; errors name the problem.
  static net::Result<std::unique_ptr<AnyTlsOutbound>> create(asio::io_context& io, std::string tag,
                                                             const config::AnyTlsOutboundOptions& opts,
                                                             net::Dialer dialer, Clock* clock = nullptr,
                                                             net::Workers* workers = nullptr);

  const std::string& tag() const override;
  std::string_view type() const override { return "anytls"; }
  void start() override;
  void stop() override;
  asio::awaitable<void> join() override;
  // Closes idle sessions now and busy ones when their stream ends.
  void drain() override;
  asio::awaitable<net::Result<std::unique_ptr<net::Conn>>> dial(const Metadata& md) override;
  asio::awaitable<net::Result<std::unique_ptr<net::PacketConn>>> listen_packet(const Metadata& md) override;

  struct Pool;  // shared with live streams and coroutines
  // A snapshot: the pool's counters plus those of its live sessions (any
  // worker may ask).
  AnyTlsStats stats() const;
  // Sums the live sessions' bytes onto the closed ones (scrape time). The
  // byte counters are plain: each worker reads its own sessions', so
  // traffic() is the closed sessions plus the live ones of the calling
  // worker (all without workers), worker_traffic() only the latter; a scrape
  // adds traffic() on worker 0 and worker_traffic() on the others.
  Traffic traffic() const;
  Traffic worker_traffic() const;
  // Unlocked: for a test that runs one worker. Elsewhere inspect_policy().
  const PoolPolicy& policy() const;
  // Calls f with the policy under the pool's lock (any worker).
  void inspect_policy(const std::function<void(const PoolPolicy&)>& f) const;
  // The policy's numbers, under the lock.
  std::size_t idle_count() const;
  std::size_t dialing_count() const;
  PoolPolicy::Stats policy_stats() const;
  // dial.detour: sessions run their TLS over a stream of `detour` (must
  // outlive this outbound). nullptr = a TCP connection of our own.
  void set_detour(Outbound* detour);

 private:
  std::shared_ptr<Pool> pool_;
};

}  // namespace anytls::outbound
