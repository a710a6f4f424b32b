// Client session pool POLICY of the anytls outbound: which idle session a new
// stream takes, which idle sessions a maintenance tick closes, how many
// sessions the pool dials ahead, and when it retries after a failed dial.
//
// Pure and single-threaded: no sockets, no asio, no timers. Time comes from an
// injected Clock, randomness from an injected Random, debug lines go to an
// injectable sink. The owner (the anytls outbound) holds the real sessions in a
// map keyed by `seq`, calls into this object from ONE strand, and carries out
// what it is told (close these seqs, dial these seqs). Every call computes and
// applies its decision at once, so a tick works on a consistent snapshot: a
// session taken by a stream is busy, and busy sessions are never closed here.
//
// Rules: /work/shared/spec/session-pool.md ("the contract").
//
// ---------------------------------------------------------------------------
// How the outbound drives it
// ---------------------------------------------------------------------------
//   start():     for (seq : policy.ensure()) spawn pool_dial(seq);
//                arm a repeating timer every policy.options().check_interval.
//   timer:       auto r = policy.tick();
//                for (c : r.close) sessions[c.seq]->close();   // already out of the policy
//                for (seq : r.dial) spawn pool_dial(seq);
//   pool_dial(seq) succeeded: policy.pool_dial_succeeded(seq);   // session is idle now
//                             start its heartbeat after policy.heartbeat_first_delay()
//   pool_dial(seq) failed:    if (auto d = policy.pool_dial_failed(seq, err.message()))
//                               arm a one-shot timer of *d that runs
//                               `for (seq : policy.ensure()) spawn pool_dial(seq);`
//                             (nullopt: a backoff of the same batch is already armed).
//   new stream:  if (auto seq = policy.take()) use sessions[*seq];
//                else { seq = policy.allocate_seq(); dial it; on success
//                       policy.add_busy(seq); on failure nothing to undo. }
//   stream ends: policy.release(seq)  (or policy.remove(seq) if the session is closing)
//   session dies (any reason, idle or busy): policy.remove(seq)
//   stop():      cancel timers; close every session the outbound owns; drop the policy.
//
// ---------------------------------------------------------------------------
// Debug lines (durations Go-style via net::format_duration, truncated to ms)
// ---------------------------------------------------------------------------
//   [IdleCleanup] Closing session (seq=42, idle=5m3s)            one per close
//   [IdleCleanup] Closed 2 idle sessions, kept 3 (min_idle_session=3)
//       summary, whenever the walk found an expired session (closed or
//       protected); "kept" = idle sessions left after the phase.
//   [AgeCleanup] Found 5 expired sessions, closing 3 oldest (keeping 2 to maintain min_idle_session_for_age=2)
//       the parenthesis only when min_idle_session_for_age keeps some expired
//       ones; otherwise "[AgeCleanup] Found 2 expired sessions, closing 2 oldest".
//   [AgeCleanup] Closing session #1 (seq=42, age=1h5m30s, maxLife=55m0s, created=2024-01-01 10:00:00)
//       #k = position in this cleanup, oldest first; created = local wall time.
//   [EnsureIdleSession] Current idle sessions: 3, target: 5, creating 2 new sessions
//       with " (1 already being created)" appended when pool dials are in flight.
//   [EnsureIdleSession] Successfully created and pooled session #1 (seq=42)
//   [EnsureIdleSession] Failed to create session: <reason>
//
// Heartbeats belong to the session; the policy only draws the first delay
// (heartbeat_first_delay(), uniform 0..20 % of the interval) so sessions do
// not beat in step. Each session then beats every options().heartbeat.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "net/clock.hpp"
#include "net/duration.hpp"

namespace anytls::outbound {

// The pool-related fields of the anytls outbound, as configured. A zero
// check_interval / idle_timeout means "the default" (30s); the policy
// normalizes them in its constructor (see options()). Any positive value is
// honoured as written, also below 5s. Zero counts/durations elsewhere mean
// "off" / "keep none". Negative durations are rejected by config; the policy
// treats them as zero.
struct PoolOptions {
  static constexpr net::Duration kDefaultCheckInterval = std::chrono::seconds(30);
  static constexpr net::Duration kDefaultIdleTimeout = std::chrono::seconds(30);

  net::Duration check_interval{0};   // idle_session_check_interval (0 = 30s)
  net::Duration idle_timeout{0};     // idle_session_timeout (0 = 30s)
  std::size_t min_idle = 0;          // min_idle_session
  std::size_t min_idle_for_age = 0;  // min_idle_session_for_age
  std::size_t ensure_idle = 0;       // ensure_idle_session (0 = off)
  net::Duration heartbeat{0};        // heartbeat (0 = off)
  net::Duration max_lifetime{0};     // max_connection_lifetime (0 = off)
  net::Duration lifetime_jitter{0};  // connection_lifetime_jitter (0 = off)

  // Defaults filled in, negatives clamped to zero.
  PoolOptions normalized() const;
};

// Time comes from net::Clock (real or virtual, see net/clock.hpp).
using Clock = net::Clock;
using SystemClock = net::SystemClock;

class Random {
 public:
  virtual ~Random() = default;
  // A uniformly distributed integer in the CLOSED range [lo, hi]; lo <= hi.
  virtual std::int64_t uniform(std::int64_t lo, std::int64_t hi) = 0;
};

// std::mt19937_64-backed Random. Default-constructed: seeded from
// std::random_device; give a seed for reproducible tests.
class Mt19937Random final : public Random {
 public:
  Mt19937Random() : engine_(std::random_device{}()) {}
  explicit Mt19937Random(std::uint64_t seed) : engine_(seed) {}
  std::int64_t uniform(std::int64_t lo, std::int64_t hi) override {
    return std::uniform_int_distribution<std::int64_t>(lo, hi)(engine_);
  }

 private:
  std::mt19937_64 engine_;
};

// Receives each debug line, without a trailing newline. The default sink (an
// empty std::function) writes spdlog::debug("{}", line); an outbound that
// wants its tag in front wraps it in its own sink.
using PoolLogSink = std::function<void(std::string_view)>;

enum class CloseReason { idle_timeout, max_lifetime };

class PoolPolicy {
 public:
  using TimePoint = std::chrono::steady_clock::time_point;

  struct Closing {
    std::uint64_t seq;
    CloseReason reason;
  };

  struct TickResult {
    // Sessions to close, in the order decided (idle cleanup first, then age
    // cleanup oldest first). They have already left the policy: do not call
    // remove() for them (it would be a harmless no-op returning false).
    std::vector<Closing> close;
    // Seqs of new pool sessions to dial now. They already count as being
    // created; report each with pool_dial_succeeded / pool_dial_failed.
    std::vector<std::uint64_t> dial;
  };

  enum class State { idle, busy, dialing };

  struct SessionInfo {
    State state;
    TimePoint created_at{};      // when the session became ready (zero while dialing)
    TimePoint idle_since{};      // meaningful while idle
    net::Duration max_life{0};   // 0 = no age limit (max_lifetime off)
  };

  struct Stats {
    std::size_t idle = 0;
    std::size_t busy = 0;
    std::size_t dialing = 0;                 // pool dials in flight
    std::uint64_t created_for_pool = 0;      // pool dials that succeeded
    std::uint64_t created_for_stream = 0;    // add_busy() calls
    std::uint64_t closed_by_idle = 0;
    std::uint64_t closed_by_age = 0;
    std::uint64_t removed = 0;               // remove() of a live session (died/closed)
    std::uint64_t pool_dial_failures = 0;
    std::uint32_t backoff_step = 0;          // failed ensure batches since the last pool dial success
  };

  // clock and random must outlive the policy. An empty sink logs via spdlog.
  PoolPolicy(const PoolOptions& options, Clock& clock, Random& random, PoolLogSink sink = {});

  // The normalized options (defaults filled in); use check_interval and
  // heartbeat from here.
  const PoolOptions& options() const { return opts_; }

  // --- sessions a stream dials for itself -----------------------------------
  // Next seq (1, 2, 3, ...; never reused; shared with pool dials).
  std::uint64_t allocate_seq() { return ++last_seq_; }
  // The session dialled for a waiting stream is ready and carries that stream:
  // records created_at, draws max_life, state busy. Returns false (and does
  // nothing) if seq is already known or was never allocated.
  bool add_busy(std::uint64_t seq);

  // --- taking and returning -------------------------------------------------
  // The idle session with the highest seq (the newest) becomes busy.
  std::optional<std::uint64_t> take();
  // The newest idle session for which pred(seq) holds becomes busy (a retry
  // wants one known to be alive).
  std::optional<std::uint64_t> take_if(const std::function<bool(std::uint64_t)>& pred);
  // A busy session's stream ended: it becomes idle with idle_since = now.
  // Returns false if seq is not busy (unknown, already idle, removed).
  bool release(std::uint64_t seq);
  // The session died or is being closed: it leaves the pool at once, whatever
  // its state. For a pool dial still in flight this cancels it silently (no
  // failure log, no backoff). Returns false if seq is unknown.
  bool remove(std::uint64_t seq);

  // --- maintenance ----------------------------------------------------------
  // Idle cleanup, age cleanup, ensure: in that order, atomically. Logs the
  // [IdleCleanup] / [AgeCleanup] / [EnsureIdleSession] lines.
  TickResult tick();
  // The ensure phase alone: call at start-up (so the first request is warm)
  // and when a backoff delay returned by pool_dial_failed() has elapsed.
  // Creates nothing while backing off (now < retry_at()). Never overshoots:
  // dials in flight count towards ensure_idle.
  std::vector<std::uint64_t> ensure();

  // --- pool dials (seqs returned by tick()/ensure()) ------------------------
  // The pre-warmed session is ready: idle from now, created_at = now, draws
  // max_life, resets the backoff. Logs "Successfully created and pooled
  // session #k (seq=N)", k = its 1-based index in its ensure batch. Returns
  // false if seq is not a pool dial in flight (e.g. it was remove()d): the
  // caller should close that session.
  bool pool_dial_succeeded(std::uint64_t seq);
  // The pool dial failed: logs "Failed to create session: <reason>". The
  // first failure of an ensure batch starts the next backoff step (1s, 2s,
  // 4s, ... capped at check_interval) and returns its delay: the caller arms
  // a timer of that length and then calls ensure(). Later failures of the same
  // batch return nullopt (one step per failed batch, not per dial).
  std::optional<net::Duration> pool_dial_failed(std::uint64_t seq, std::string_view reason);
  // When the current backoff ends; nullopt when not backing off.
  std::optional<TimePoint> retry_at() const { return retry_at_; }

  // --- heartbeat --------------------------------------------------------------
  // Delay before a new session's first heartbeat: uniform in [0, heartbeat/5].
  // Zero when heartbeat is off (the caller should not start one then).
  net::Duration heartbeat_first_delay();

  // --- inspection -----------------------------------------------------------
  std::optional<SessionInfo> info(std::uint64_t seq) const;
  // Every session the pool knows, by seq (the Clash API lists them).
  std::vector<std::pair<std::uint64_t, SessionInfo>> sessions() const;
  Stats stats() const;
  std::size_t idle_count() const { return idle_.size(); }
  std::size_t busy_count() const { return busy_.size(); }
  std::size_t dialing_count() const { return dialing_.size(); }

 private:
  struct Entry {
    TimePoint created_at;
    std::chrono::system_clock::time_point created_wall;
    TimePoint idle_since;
    net::Duration max_life{0};
  };
  struct Dial {
    std::uint64_t batch;
    std::size_t index;  // 1-based within the batch
  };

  Entry make_entry();
  void idle_cleanup(TimePoint now, TickResult& out);
  void age_cleanup(TimePoint now, TickResult& out);
  void log(std::string line) const;

  PoolOptions opts_;
  Clock& clock_;
  Random& random_;
  PoolLogSink sink_;

  std::uint64_t last_seq_ = 0;
  std::map<std::uint64_t, Entry> idle_;    // by seq: rbegin() is the newest
  std::map<std::uint64_t, Entry> busy_;
  std::map<std::uint64_t, Dial> dialing_;  // pool dials in flight

  std::uint64_t last_batch_ = 0;
  std::uint64_t last_failed_batch_ = 0;
  std::uint32_t backoff_step_ = 0;
  std::optional<TimePoint> retry_at_;

  Stats counters_;
};

}  // namespace anytls::outbound
