// The anytls outbound: streams over pooled AnyTLS sessions to one server.
// The pool's decisions come from PoolPolicy (pure); this class carries them
// out on real sessions: dials, TLS, preamble, heartbeats, the tick timer.
#pragma once
#include <map>
#include <memory>
#include <random>
#include <string>

#include <asio/io_context.hpp>

#include "anytls/session.hpp"
#include "config/options.hpp"
#include "net/dialer.hpp"
#include "outbound/outbound.hpp"
#include "outbound/pool_policy.hpp"
#include "tls/context.hpp"

namespace anytls::outbound {

struct AnyTlsStats {
  std::uint64_t sessions_created = 0;
  std::uint64_t session_dial_failures = 0;
  std::uint64_t streams = 0;
  std::uint64_t retries = 0;           // streams retried on a fresh session
  std::uint64_t heartbeats_sent = 0;
  std::uint64_t heartbeat_responses = 0;
  std::uint64_t heartbeat_misses = 0;  // sessions declared dead
};

class AnyTlsOutbound final : public Outbound {
 public:
  // clock/random: injectable for tests (a net::VirtualClock drives the tick,
  // the heartbeats and every timeout); null = real ones.
  AnyTlsOutbound(asio::io_context& io, std::string tag, config::AnyTlsOutboundOptions opts, net::Dialer dialer,
                 std::shared_ptr<tls::ClientContext> tls, Clock* clock = nullptr, Random* random = nullptr);
  ~AnyTlsOutbound() override;

  // Builds the TLS context from the options; errors name the problem.
  static net::Result<std::unique_ptr<AnyTlsOutbound>> create(asio::io_context& io, std::string tag,
                                                             const config::AnyTlsOutboundOptions& opts,
                                                             net::Dialer dialer, Clock* clock = nullptr);

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
  // A snapshot: the pool's counters plus those of its live sessions.
  AnyTlsStats stats() const;
  const PoolPolicy& policy() const;

 private:
  std::shared_ptr<Pool> pool_;
};

}  // namespace anytls::outbound
