// Client session pool policy: every rule of spec/session-pool.md, driven by a
// fake clock and scripted/seeded randomness. No sockets, no sleeping.
#include "outbound/pool_policy.hpp"

#include <cstdlib>
#include <ctime>
#include <deque>
#include <memory>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <spdlog/sinks/ringbuffer_sink.h>
#include <spdlog/spdlog.h>

namespace anytls::outbound {
namespace {

using namespace std::chrono_literals;
using ::testing::ElementsAre;
using ::testing::IsEmpty;

using TimePoint = std::chrono::steady_clock::time_point;

// Wall time starts at 2024-01-01 10:00:00 UTC and moves with the steady time.
class FakeClock final : public Clock {
 public:
  TimePoint now() const override { return t_; }
  std::chrono::system_clock::time_point wall_now() const override {
    return std::chrono::system_clock::time_point(std::chrono::seconds(1704103200)) +
           std::chrono::duration_cast<std::chrono::system_clock::duration>(t_ - start_);
  }
  void advance(net::Duration d) { t_ += d; }
  TimePoint start() const { return start_; }

 private:
  TimePoint start_{std::chrono::hours(1000)};
  TimePoint t_ = start_;
};

// Returns scripted values (checked against the requested range) and records
// each call. With no script left it returns lo.
class ScriptedRandom final : public Random {
 public:
  std::int64_t uniform(std::int64_t lo, std::int64_t hi) override {
    calls.emplace_back(lo, hi);
    if (values.empty()) return lo;
    std::int64_t v = values.front();
    values.pop_front();
    EXPECT_LE(lo, v);
    EXPECT_LE(v, hi);
    return v;
  }
  std::deque<std::int64_t> values;
  std::vector<std::pair<std::int64_t, std::int64_t>> calls;
};

std::vector<std::uint64_t> seqs(const std::vector<PoolPolicy::Closing>& cs) {
  std::vector<std::uint64_t> out;
  for (const auto& c : cs) out.push_back(c.seq);
  return out;
}

class PoolPolicyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    // The "created=" field prints local time; pin it.
    setenv("TZ", "UTC", 1);
    tzset();
  }

  PoolPolicy& make(PoolOptions o) {
    policy_ = std::make_unique<PoolPolicy>(o, clock_, random_,
                                           [this](std::string_view line) { logs_.emplace_back(line); });
    return *policy_;
  }

  // A session dialled for a stream, whose stream then ended: idle from now.
  std::uint64_t add_idle() {
    std::uint64_t seq = policy_->allocate_seq();
    EXPECT_TRUE(policy_->add_busy(seq));
    EXPECT_TRUE(policy_->release(seq));
    return seq;
  }

  std::vector<std::string> take_logs() { return std::exchange(logs_, {}); }

  FakeClock clock_;
  ScriptedRandom random_;
  std::vector<std::string> logs_;
  std::unique_ptr<PoolPolicy> policy_;
};

// ---------------------------------------------------------------------------
// Options
// ---------------------------------------------------------------------------

TEST_F(PoolPolicyTest, ZeroIntervalAndTimeoutMeanTheDefault) {
  auto& p = make(PoolOptions{});
  EXPECT_EQ(p.options().check_interval, 30s);
  EXPECT_EQ(p.options().idle_timeout, 30s);
  EXPECT_EQ(p.options().min_idle, 0u);
  EXPECT_EQ(p.options().min_idle_for_age, 0u);
  EXPECT_EQ(p.options().ensure_idle, 0u);
  EXPECT_EQ(p.options().heartbeat, 0s);
  EXPECT_EQ(p.options().max_lifetime, 0s);
  EXPECT_EQ(p.options().lifetime_jitter, 0s);
}

TEST_F(PoolPolicyTest, ShortPositiveValuesAreHonouredAsWritten) {
  PoolOptions o;
  o.check_interval = 300ms;
  o.idle_timeout = 2s;
  auto& p = make(o);
  EXPECT_EQ(p.options().check_interval, 300ms);
  EXPECT_EQ(p.options().idle_timeout, 2s);
}

TEST_F(PoolPolicyTest, NegativeDurationsAreClampedToZeroThenDefaulted) {
  PoolOptions o;
  o.check_interval = -1s;
  o.idle_timeout = -1s;
  o.heartbeat = -1s;
  o.max_lifetime = -1s;
  o.lifetime_jitter = -1s;
  PoolOptions n = o.normalized();
  EXPECT_EQ(n.check_interval, 30s);
  EXPECT_EQ(n.idle_timeout, 30s);
  EXPECT_EQ(n.heartbeat, 0s);
  EXPECT_EQ(n.max_lifetime, 0s);
  EXPECT_EQ(n.lifetime_jitter, 0s);
}

TEST_F(PoolPolicyTest, DefaultIdleTimeoutClosesAfterThirtySeconds) {
  auto& p = make(PoolOptions{});
  add_idle();
  clock_.advance(30s);
  EXPECT_THAT(p.tick().close, IsEmpty());
  clock_.advance(1ms);
  EXPECT_THAT(seqs(p.tick().close), ElementsAre(1u));
}

// ---------------------------------------------------------------------------
// Seqs, take, release, remove
// ---------------------------------------------------------------------------

TEST_F(PoolPolicyTest, SeqsStartAtOneAndAreSharedWithPoolDials) {
  PoolOptions o;
  o.ensure_idle = 2;
  auto& p = make(o);
  EXPECT_EQ(p.allocate_seq(), 1u);
  EXPECT_THAT(p.ensure(), ElementsAre(2u, 3u));
  EXPECT_EQ(p.allocate_seq(), 4u);
}

TEST_F(PoolPolicyTest, AddBusyRejectsUnallocatedAndDuplicateSeqs) {
  auto& p = make(PoolOptions{});
  EXPECT_FALSE(p.add_busy(0));
  EXPECT_FALSE(p.add_busy(1));  // not allocated yet
  std::uint64_t s = p.allocate_seq();
  EXPECT_TRUE(p.add_busy(s));
  EXPECT_FALSE(p.add_busy(s));
  EXPECT_EQ(p.busy_count(), 1u);
  EXPECT_EQ(p.stats().created_for_stream, 1u);
}

TEST_F(PoolPolicyTest, TakeIfReturnsTheNewestIdleSessionThatQualifies) {
  auto& p = make(PoolOptions{});
  add_idle();
  add_idle();
  add_idle();
  EXPECT_EQ(p.take_if([](std::uint64_t seq) { return seq != 3; }), 2u);
  EXPECT_EQ(p.take_if([](std::uint64_t) { return false; }), std::nullopt);
  EXPECT_EQ(p.busy_count(), 1u);
  EXPECT_EQ(p.idle_count(), 2u);
  EXPECT_EQ(p.take(), 3u);
}

TEST_F(PoolPolicyTest, TakeReturnsTheNewestIdleSession) {
  auto& p = make(PoolOptions{});
  EXPECT_EQ(p.take(), std::nullopt);
  add_idle();
  add_idle();
  add_idle();
  EXPECT_EQ(p.take(), 3u);
  EXPECT_EQ(p.take(), 2u);
  EXPECT_EQ(p.idle_count(), 1u);
  EXPECT_EQ(p.busy_count(), 2u);
  EXPECT_EQ(p.info(3)->state, PoolPolicy::State::busy);
  EXPECT_EQ(p.take(), 1u);
  EXPECT_EQ(p.take(), std::nullopt);
}

TEST_F(PoolPolicyTest, ReleaseMakesIdleWithIdleSinceNowThenTakeFindsIt) {
  auto& p = make(PoolOptions{});
  add_idle();
  add_idle();
  EXPECT_EQ(p.take(), 2u);
  clock_.advance(7s);
  EXPECT_TRUE(p.release(2));
  auto info = p.info(2);
  ASSERT_TRUE(info);
  EXPECT_EQ(info->state, PoolPolicy::State::idle);
  EXPECT_EQ(info->idle_since, clock_.now());
  EXPECT_EQ(info->created_at, clock_.start());
  EXPECT_FALSE(p.release(2));  // already idle
  EXPECT_EQ(p.take(), 2u);
}

TEST_F(PoolPolicyTest, RemoveIdleBusyDialingAndUnknown) {
  PoolOptions o;
  o.ensure_idle = 1;
  auto& p = make(o);
  std::uint64_t dial = p.ensure().at(0);  // seq 1
  std::uint64_t a = add_idle();           // seq 2
  std::uint64_t b = add_idle();           // seq 3
  ASSERT_EQ(p.take(), b);

  EXPECT_TRUE(p.remove(a));
  EXPECT_EQ(p.idle_count(), 0u);
  EXPECT_TRUE(p.remove(b));
  EXPECT_EQ(p.busy_count(), 0u);
  EXPECT_FALSE(p.release(b));  // a removed session never comes back
  EXPECT_EQ(p.take(), std::nullopt);

  // A pool dial cancelled by remove: no failure log, no backoff, and its late
  // success is refused so the caller closes that session.
  take_logs();
  EXPECT_TRUE(p.remove(dial));
  EXPECT_EQ(p.dialing_count(), 0u);
  EXPECT_FALSE(p.pool_dial_succeeded(dial));
  EXPECT_EQ(p.pool_dial_failed(dial, "late"), std::nullopt);
  EXPECT_THAT(take_logs(), IsEmpty());
  EXPECT_EQ(p.retry_at(), std::nullopt);

  EXPECT_FALSE(p.remove(99));
  EXPECT_EQ(p.stats().removed, 2u);
}

// ---------------------------------------------------------------------------
// Phase 1: idle cleanup
// ---------------------------------------------------------------------------

TEST_F(PoolPolicyTest, IdleCleanupClosesExpiredBeyondMinIdleNewestFirstWalk) {
  PoolOptions o;
  o.idle_timeout = 5min;
  o.min_idle = 2;
  auto& p = make(o);
  for (int i = 0; i < 5; ++i) add_idle();
  clock_.advance(5min + 3s);
  auto r = p.tick();
  EXPECT_THAT(seqs(r.close), ElementsAre(3u, 2u, 1u));
  for (const auto& c : r.close) EXPECT_EQ(c.reason, CloseReason::idle_timeout);
  EXPECT_THAT(take_logs(), ElementsAre("[IdleCleanup] Closing session (seq=3, idle=5m3s)",
                                       "[IdleCleanup] Closing session (seq=2, idle=5m3s)",
                                       "[IdleCleanup] Closing session (seq=1, idle=5m3s)",
                                       "[IdleCleanup] Closed 3 idle sessions, kept 2 (min_idle_session=2)"));
  EXPECT_EQ(p.idle_count(), 2u);
  EXPECT_TRUE(p.info(5));
  EXPECT_TRUE(p.info(4));
  EXPECT_FALSE(p.info(1));  // closed sessions have left the policy
  EXPECT_EQ(p.stats().closed_by_idle, 3u);
}

TEST_F(PoolPolicyTest, IdleTimeoutIsStrictlyLongerThan) {
  PoolOptions o;
  o.idle_timeout = 10s;
  auto& p = make(o);
  add_idle();
  clock_.advance(10s);
  EXPECT_THAT(p.tick().close, IsEmpty());
  EXPECT_THAT(take_logs(), IsEmpty());
}

TEST_F(PoolPolicyTest, MinIdleCountsTheNewestWhetherExpiredOrNot) {
  PoolOptions o;
  o.idle_timeout = 30s;
  o.min_idle = 2;
  auto& p = make(o);
  add_idle();  // 1
  add_idle();  // 2
  add_idle();  // 3
  add_idle();  // 4
  clock_.advance(20s);
  // 3 and 4 carry a stream and come back: fresh.
  ASSERT_EQ(p.take(), 4u);
  ASSERT_EQ(p.take(), 3u);
  p.release(3);
  p.release(4);
  clock_.advance(15s);  // 1,2 idle 35s; 3,4 idle 15s
  auto r = p.tick();
  // The protected places go to 4 and 3 (not expired); 2 and 1 are closed.
  EXPECT_THAT(seqs(r.close), ElementsAre(2u, 1u));
  EXPECT_THAT(take_logs(), ElementsAre("[IdleCleanup] Closing session (seq=2, idle=35s)",
                                       "[IdleCleanup] Closing session (seq=1, idle=35s)",
                                       "[IdleCleanup] Closed 2 idle sessions, kept 2 (min_idle_session=2)"));
}

TEST_F(PoolPolicyTest, KeptExpiredSessionGetsIdleSinceRefreshed) {
  PoolOptions o;
  o.idle_timeout = 30s;
  o.min_idle = 1;
  auto& p = make(o);
  add_idle();  // 1
  add_idle();  // 2
  clock_.advance(31s);
  auto r = p.tick();
  EXPECT_THAT(seqs(r.close), ElementsAre(1u));
  EXPECT_EQ(p.info(2)->idle_since, clock_.now());
  EXPECT_THAT(take_logs(), ElementsAre("[IdleCleanup] Closing session (seq=1, idle=31s)",
                                       "[IdleCleanup] Closed 1 idle sessions, kept 1 (min_idle_session=1)"));

  // A newer session takes the protected place; 2 is judged by its refreshed
  // idle_since (20s), not by its real 51s.
  add_idle();  // 3
  clock_.advance(20s);
  EXPECT_THAT(p.tick().close, IsEmpty());
  EXPECT_THAT(take_logs(), IsEmpty());
  clock_.advance(11s);  // 2: 31s since refresh; 3: 31s, protected and refreshed
  EXPECT_THAT(seqs(p.tick().close), ElementsAre(2u));
  EXPECT_EQ(p.info(3)->idle_since, clock_.now());
}

TEST_F(PoolPolicyTest, ProtectedExpiredSessionsAloneStillLogTheSummary) {
  PoolOptions o;
  o.idle_timeout = 30s;
  o.min_idle = 3;
  auto& p = make(o);
  add_idle();
  add_idle();
  clock_.advance(45s);
  EXPECT_THAT(p.tick().close, IsEmpty());
  EXPECT_THAT(take_logs(), ElementsAre("[IdleCleanup] Closed 0 idle sessions, kept 2 (min_idle_session=3)"));
}

TEST_F(PoolPolicyTest, IdleDurationsPrintGoStyleToTheMillisecond) {
  PoolOptions o;
  o.idle_timeout = 1s;
  auto& p = make(o);
  add_idle();
  add_idle();
  p.take();  // 2 is busy ...
  clock_.advance(1h + 2min);
  p.release(2);  // ... and comes back now
  clock_.advance(1501ms + 999us);  // truncated, not rounded
  p.tick();
  EXPECT_THAT(take_logs(), ElementsAre("[IdleCleanup] Closing session (seq=2, idle=1.501s)",
                                       "[IdleCleanup] Closing session (seq=1, idle=1h2m1.501s)",
                                       "[IdleCleanup] Closed 2 idle sessions, kept 0 (min_idle_session=0)"));
}

// ---------------------------------------------------------------------------
// Phase 2: age cleanup
// ---------------------------------------------------------------------------

TEST_F(PoolPolicyTest, AgeCleanupClosesOldestFirstKeepingMinIdleForAge) {
  PoolOptions o;
  o.idle_timeout = 24h;  // keep idle cleanup out of the way
  o.max_lifetime = 55min;
  o.min_idle_for_age = 2;
  auto& p = make(o);
  for (int i = 0; i < 5; ++i) {  // created 10:00:00, 10:01:00, ... 10:04:00
    add_idle();
    clock_.advance(1min);
  }
  clock_.advance(1h + 30s);  // now 11:05:30
  auto r = p.tick();
  EXPECT_THAT(seqs(r.close), ElementsAre(1u, 2u, 3u));
  for (const auto& c : r.close) EXPECT_EQ(c.reason, CloseReason::max_lifetime);
  EXPECT_THAT(
      take_logs(),
      ElementsAre(
          "[AgeCleanup] Found 5 expired sessions, closing 3 oldest (keeping 2 to maintain min_idle_session_for_age=2)",
          "[AgeCleanup] Closing session #1 (seq=1, age=1h5m30s, maxLife=55m0s, created=2024-01-01 10:00:00)",
          "[AgeCleanup] Closing session #2 (seq=2, age=1h4m30s, maxLife=55m0s, created=2024-01-01 10:01:00)",
          "[AgeCleanup] Closing session #3 (seq=3, age=1h3m30s, maxLife=55m0s, created=2024-01-01 10:02:00)"));
  EXPECT_EQ(p.idle_count(), 2u);
  EXPECT_EQ(p.stats().closed_by_age, 3u);
  // The survivors stay (protected) at the next tick too.
  clock_.advance(30s);
  EXPECT_THAT(p.tick().close, IsEmpty());
  EXPECT_THAT(take_logs(),
              ElementsAre("[AgeCleanup] Found 2 expired sessions, closing 0 oldest (keeping 2 to maintain "
                          "min_idle_session_for_age=2)"));
}

TEST_F(PoolPolicyTest, AgeCleanupClosesAllExpiredWhenEnoughFreshRemain) {
  PoolOptions o;
  o.idle_timeout = 24h;
  o.max_lifetime = 1h;
  o.min_idle_for_age = 1;
  auto& p = make(o);
  add_idle();  // 1, 10:00:00
  add_idle();  // 2, 10:00:00
  clock_.advance(50min);
  add_idle();  // 3, 10:50:00
  clock_.advance(10min);  // 1,2 exactly 1h old: ">=" expires them
  EXPECT_THAT(seqs(p.tick().close), ElementsAre(1u, 2u));
  EXPECT_THAT(take_logs(),
              ElementsAre("[AgeCleanup] Found 2 expired sessions, closing 2 oldest",
                          "[AgeCleanup] Closing session #1 (seq=1, age=1h0m0s, maxLife=1h0m0s, created=2024-01-01 "
                          "10:00:00)",
                          "[AgeCleanup] Closing session #2 (seq=2, age=1h0m0s, maxLife=1h0m0s, created=2024-01-01 "
                          "10:00:00)"));
}

TEST_F(PoolPolicyTest, AgeCleanupOrdersByCreationTimeNotSeq) {
  PoolOptions o;
  o.idle_timeout = 24h;
  o.max_lifetime = 10min;
  o.min_idle_for_age = 1;
  auto& p = make(o);
  std::uint64_t first = p.allocate_seq();   // 1: its dial is slow
  std::uint64_t second = p.allocate_seq();  // 2: ready first
  ASSERT_TRUE(p.add_busy(second));
  clock_.advance(1min);
  ASSERT_TRUE(p.add_busy(first));
  p.release(first);
  p.release(second);
  clock_.advance(20min);
  EXPECT_THAT(seqs(p.tick().close), ElementsAre(second));
}

TEST_F(PoolPolicyTest, AgeCleanupOffWhenMaxLifetimeIsZero) {
  PoolOptions o;
  o.idle_timeout = 24h * 365;
  auto& p = make(o);
  add_idle();
  clock_.advance(24h * 300);
  EXPECT_THAT(p.tick().close, IsEmpty());
  EXPECT_EQ(p.info(1)->max_life, 0s);
  EXPECT_THAT(take_logs(), IsEmpty());
  EXPECT_THAT(random_.calls, IsEmpty());
}

TEST_F(PoolPolicyTest, BusySessionsAreNeverClosedAndDoNotCountAsIdle) {
  PoolOptions o;
  o.idle_timeout = 30s;
  o.max_lifetime = 1min;
  o.min_idle_for_age = 1;
  auto& p = make(o);
  add_idle();  // 1
  add_idle();  // 2
  add_idle();  // 3
  ASSERT_EQ(p.take(), 3u);
  ASSERT_EQ(p.take(), 2u);
  clock_.advance(2h);
  // Idle cleanup closes 1; 2 and 3 are busy: neither cleanup touches them.
  EXPECT_THAT(seqs(p.tick().close), ElementsAre(1u));
  EXPECT_EQ(p.busy_count(), 2u);
  // An expired session that becomes idle is handled at the next tick; the
  // busy one still doesn't count towards min_idle_session_for_age.
  p.release(2);
  take_logs();
  auto r = p.tick();
  EXPECT_THAT(r.close, IsEmpty());  // 2 is the only idle one: kept for age
  EXPECT_THAT(take_logs(), ElementsAre("[AgeCleanup] Found 1 expired sessions, closing 0 oldest (keeping 1 to "
                                       "maintain min_idle_session_for_age=1)"));
  p.release(3);
  r = p.tick();
  EXPECT_THAT(seqs(r.close), ElementsAre(2u));
  EXPECT_EQ(r.close[0].reason, CloseReason::max_lifetime);
}

TEST_F(PoolPolicyTest, TakenBetweenTicksIsNeverClosed) {
  PoolOptions o;
  o.idle_timeout = 30s;
  o.max_lifetime = 1min;
  auto& p = make(o);
  add_idle();
  add_idle();
  clock_.advance(10min);
  ASSERT_EQ(p.take(), 2u);  // a stream grabs it right before the tick
  auto r = p.tick();
  EXPECT_THAT(seqs(r.close), ElementsAre(1u));
  EXPECT_EQ(p.info(2)->state, PoolPolicy::State::busy);
}

// ---------------------------------------------------------------------------
// Phase order
// ---------------------------------------------------------------------------

TEST_F(PoolPolicyTest, PhasesRunIdleThenAgeThenEnsureAndEnsureCountsTheClosures) {
  PoolOptions o;
  o.idle_timeout = 30s;
  o.max_lifetime = 1h;
  o.ensure_idle = 3;
  auto& p = make(o);
  add_idle();  // 1: created 10:00:00, idle ever since: idle- AND age-expired
  add_idle();  // 2: created 10:00:00, carries a stream until 11:00:05
  clock_.advance(50min);
  add_idle();  // 3: created 10:50:00, carries a stream until 11:00:05
  ASSERT_EQ(p.take(), 3u);
  ASSERT_EQ(p.take(), 2u);
  clock_.advance(10min + 5s);
  p.release(2);
  p.release(3);
  clock_.advance(5s);  // 11:00:10
  auto r = p.tick();
  ASSERT_EQ(r.close.size(), 2u);
  // 1 goes in the FIRST phase (idle), so age cleanup only finds 2.
  EXPECT_EQ(r.close[0].seq, 1u);
  EXPECT_EQ(r.close[0].reason, CloseReason::idle_timeout);
  EXPECT_EQ(r.close[1].seq, 2u);
  EXPECT_EQ(r.close[1].reason, CloseReason::max_lifetime);
  // Ensure runs last and sees the one idle session left.
  EXPECT_THAT(r.dial, ElementsAre(4u, 5u));
  EXPECT_THAT(take_logs(),
              ElementsAre("[IdleCleanup] Closing session (seq=1, idle=1h0m10s)",
                          "[IdleCleanup] Closed 1 idle sessions, kept 2 (min_idle_session=0)",
                          "[AgeCleanup] Found 1 expired sessions, closing 1 oldest",
                          "[AgeCleanup] Closing session #1 (seq=2, age=1h0m10s, maxLife=1h0m0s, created=2024-01-01 "
                          "10:00:00)",
                          "[EnsureIdleSession] Current idle sessions: 1, target: 3, creating 2 new sessions"));
  EXPECT_EQ(p.idle_count(), 1u);
  EXPECT_EQ(p.dialing_count(), 2u);
}

TEST_F(PoolPolicyTest, AgeCleanupSeesTheIdleCountLeftByIdleCleanup) {
  PoolOptions o;
  o.idle_timeout = 30s;
  o.max_lifetime = 1h;
  o.min_idle_for_age = 2;
  o.ensure_idle = 4;
  auto& p = make(o);
  for (int i = 0; i < 4; ++i) add_idle();  // 1..4 created 10:00:00
  clock_.advance(2h);
  p.take();  // 4
  p.take();  // 3
  p.release(3);
  p.release(4);  // 3,4: idle 0s, age 2h
  auto r = p.tick();
  // Idle cleanup closes 2 and 1; 2 idle remain = min_idle_session_for_age, so
  // age cleanup closes none; ensure tops up by 2.
  EXPECT_THAT(seqs(r.close), ElementsAre(2u, 1u));
  EXPECT_THAT(r.dial, ElementsAre(5u, 6u));
  EXPECT_THAT(take_logs(),
              ElementsAre("[IdleCleanup] Closing session (seq=2, idle=2h0m0s)",
                          "[IdleCleanup] Closing session (seq=1, idle=2h0m0s)",
                          "[IdleCleanup] Closed 2 idle sessions, kept 2 (min_idle_session=0)",
                          "[AgeCleanup] Found 2 expired sessions, closing 0 oldest (keeping 2 to maintain "
                          "min_idle_session_for_age=2)",
                          "[EnsureIdleSession] Current idle sessions: 2, target: 4, creating 2 new sessions"));
}

// ---------------------------------------------------------------------------
// Phase 3: ensure
// ---------------------------------------------------------------------------

TEST_F(PoolPolicyTest, EnsureAtStartUpCreatesTheTargetAndLogsEachSuccess) {
  PoolOptions o;
  o.ensure_idle = 3;
  auto& p = make(o);
  auto dials = p.ensure();
  EXPECT_THAT(dials, ElementsAre(1u, 2u, 3u));
  EXPECT_EQ(p.dialing_count(), 3u);
  EXPECT_EQ(p.info(2)->state, PoolPolicy::State::dialing);
  // Completions come in any order; #k is the index within the batch.
  EXPECT_TRUE(p.pool_dial_succeeded(2));
  EXPECT_TRUE(p.pool_dial_succeeded(1));
  EXPECT_TRUE(p.pool_dial_succeeded(3));
  EXPECT_FALSE(p.pool_dial_succeeded(3));
  EXPECT_THAT(take_logs(),
              ElementsAre("[EnsureIdleSession] Current idle sessions: 0, target: 3, creating 3 new sessions",
                          "[EnsureIdleSession] Successfully created and pooled session #2 (seq=2)",
                          "[EnsureIdleSession] Successfully created and pooled session #1 (seq=1)",
                          "[EnsureIdleSession] Successfully created and pooled session #3 (seq=3)"));
  EXPECT_EQ(p.idle_count(), 3u);
  EXPECT_EQ(p.info(3)->idle_since, clock_.now());
  EXPECT_EQ(p.stats().created_for_pool, 3u);
  // Full: nothing to do, nothing logged.
  EXPECT_THAT(p.ensure(), IsEmpty());
  EXPECT_THAT(p.tick().dial, IsEmpty());
  EXPECT_THAT(take_logs(), IsEmpty());
}

TEST_F(PoolPolicyTest, EnsureOffCreatesNothing) {
  auto& p = make(PoolOptions{});
  EXPECT_THAT(p.ensure(), IsEmpty());
  EXPECT_THAT(p.tick().dial, IsEmpty());
  EXPECT_THAT(take_logs(), IsEmpty());
}

TEST_F(PoolPolicyTest, EnsureNeverOvershootsWhileDialsAreSlow) {
  PoolOptions o;
  o.ensure_idle = 5;
  o.check_interval = 1s;
  o.idle_timeout = 1h;
  auto& p = make(o);
  ASSERT_EQ(p.ensure().size(), 5u);
  take_logs();
  for (int i = 0; i < 4; ++i) {  // the dials take several intervals
    clock_.advance(1s);
    EXPECT_THAT(p.tick().dial, IsEmpty());
  }
  EXPECT_THAT(take_logs(), IsEmpty());
  p.pool_dial_succeeded(1);
  p.pool_dial_succeeded(2);
  clock_.advance(1s);
  EXPECT_THAT(p.tick().dial, IsEmpty());  // 2 idle + 3 in flight
  take_logs();
  ASSERT_EQ(p.take(), 2u);  // a stream takes one: 1 idle + 3 in flight
  clock_.advance(1s);
  EXPECT_THAT(p.tick().dial, ElementsAre(6u));
  EXPECT_THAT(take_logs(), ElementsAre("[EnsureIdleSession] Current idle sessions: 1, target: 5, creating 1 new "
                                       "sessions (3 already being created)"));
  clock_.advance(1s);
  EXPECT_THAT(p.tick().dial, IsEmpty());
  EXPECT_EQ(p.idle_count() + p.dialing_count(), 5u);
  // All complete: exactly the target, never more.
  for (std::uint64_t s : {3u, 4u, 5u, 6u}) EXPECT_TRUE(p.pool_dial_succeeded(s));
  EXPECT_EQ(p.idle_count(), 5u);
}

TEST_F(PoolPolicyTest, EnsureReplacesADeadSessionAtTheNextTick) {
  PoolOptions o;
  o.ensure_idle = 2;
  auto& p = make(o);
  for (auto s : p.ensure()) p.pool_dial_succeeded(s);
  take_logs();
  EXPECT_TRUE(p.remove(1));  // died (e.g. heartbeat liveness)
  clock_.advance(30s);
  EXPECT_THAT(p.tick().dial, ElementsAre(3u));
  EXPECT_THAT(take_logs(),
              ElementsAre("[EnsureIdleSession] Current idle sessions: 1, target: 2, creating 1 new sessions"));
}

// ---------------------------------------------------------------------------
// Failed pool dials: backoff
// ---------------------------------------------------------------------------

TEST_F(PoolPolicyTest, FailedDialsBackOffExponentiallyCappedAtCheckIntervalAndResetOnSuccess) {
  PoolOptions o;
  o.ensure_idle = 1;
  o.check_interval = 30s;
  auto& p = make(o);
  std::vector<net::Duration> delays;
  auto dials = p.ensure();
  for (int i = 0; i < 8; ++i) {
    ASSERT_EQ(dials.size(), 1u);
    auto d = p.pool_dial_failed(dials[0], "connection refused");
    ASSERT_TRUE(d);
    delays.push_back(*d);
    EXPECT_EQ(p.retry_at(), clock_.now() + *d);
    // While backing off, neither ensure() nor a tick creates anything.
    clock_.advance(*d - 1ms);
    EXPECT_THAT(p.ensure(), IsEmpty());
    EXPECT_THAT(p.tick().dial, IsEmpty());
    clock_.advance(1ms);
    dials = p.ensure();
    EXPECT_EQ(p.retry_at(), std::nullopt);
  }
  EXPECT_THAT(delays, ElementsAre(1s, 2s, 4s, 8s, 16s, 30s, 30s, 30s));
  EXPECT_EQ(p.stats().backoff_step, 8u);
  EXPECT_EQ(p.stats().pool_dial_failures, 8u);

  ASSERT_EQ(dials.size(), 1u);
  EXPECT_TRUE(p.pool_dial_succeeded(dials[0]));
  EXPECT_EQ(p.stats().backoff_step, 0u);
  p.remove(dials[0]);
  dials = p.ensure();
  ASSERT_EQ(dials.size(), 1u);
  EXPECT_EQ(p.pool_dial_failed(dials[0], "timeout"), net::Duration(1s));
}

TEST_F(PoolPolicyTest, BackoffNeverExceedsAShortCheckInterval) {
  PoolOptions o;
  o.ensure_idle = 1;
  o.check_interval = 300ms;
  auto& p = make(o);
  auto dials = p.ensure();
  EXPECT_EQ(p.pool_dial_failed(dials.at(0), "x"), net::Duration(300ms));
  clock_.advance(300ms);
  dials = p.ensure();
  EXPECT_EQ(p.pool_dial_failed(dials.at(0), "x"), net::Duration(300ms));
}

TEST_F(PoolPolicyTest, OneBackoffStepPerFailedBatchAndEachFailureLogged) {
  PoolOptions o;
  o.ensure_idle = 3;
  auto& p = make(o);
  auto dials = p.ensure();
  ASSERT_EQ(dials.size(), 3u);
  take_logs();
  EXPECT_EQ(p.pool_dial_failed(dials[0], "dial tcp 127.0.0.1:443: connection refused"), net::Duration(1s));
  EXPECT_EQ(p.pool_dial_failed(dials[1], "dial tcp 127.0.0.1:443: connection refused"), std::nullopt);
  clock_.advance(500ms);
  EXPECT_EQ(p.pool_dial_failed(dials[2], "tls handshake: timeout"), std::nullopt);
  EXPECT_EQ(p.retry_at(), clock_.now() - 500ms + 1s);
  EXPECT_THAT(take_logs(),
              ElementsAre("[EnsureIdleSession] Failed to create session: dial tcp 127.0.0.1:443: connection refused",
                          "[EnsureIdleSession] Failed to create session: dial tcp 127.0.0.1:443: connection refused",
                          "[EnsureIdleSession] Failed to create session: tls handshake: timeout"));
  clock_.advance(500ms);
  dials = p.ensure();
  ASSERT_EQ(dials.size(), 3u);
  EXPECT_EQ(p.pool_dial_failed(dials[1], "x"), net::Duration(2s));
  EXPECT_EQ(p.pool_dial_failed(dials[0], "x"), std::nullopt);
  EXPECT_EQ(p.stats().dialing, 1u);
  // A success in the batch resets the backoff; the next ensure fills the gap.
  EXPECT_TRUE(p.pool_dial_succeeded(dials[2]));
  EXPECT_EQ(p.retry_at(), std::nullopt);
  EXPECT_THAT(p.ensure().size(), 2u);
}

// ---------------------------------------------------------------------------
// Lifetime jitter
// ---------------------------------------------------------------------------

TEST_F(PoolPolicyTest, JitterIsDrawnOncePerSessionInTheClosedWindow) {
  PoolOptions o;
  o.max_lifetime = 1h;
  o.lifetime_jitter = 10min;
  auto& p = make(o);
  random_.values = {std::chrono::nanoseconds(-5min).count(), std::chrono::nanoseconds(2min + 30s).count()};
  add_idle();
  add_idle();
  std::int64_t j = std::chrono::nanoseconds(10min).count();
  EXPECT_THAT(random_.calls, ElementsAre(std::make_pair(-j, j), std::make_pair(-j, j)));
  EXPECT_EQ(p.info(1)->max_life, 55min);
  EXPECT_EQ(p.info(2)->max_life, 1h + 2min + 30s);
  // Taking and releasing does not redraw.
  p.take();
  p.release(2);
  EXPECT_EQ(random_.calls.size(), 2u);
  EXPECT_EQ(p.info(2)->max_life, 1h + 2min + 30s);
}

TEST_F(PoolPolicyTest, JitteredMaxLifeAppearsInTheAgeLog) {
  PoolOptions o;
  o.idle_timeout = 24h;
  o.max_lifetime = 1h;
  o.lifetime_jitter = 10min;
  auto& p = make(o);
  random_.values = {std::chrono::nanoseconds(-5min).count()};
  add_idle();
  clock_.advance(1h + 5min + 30s);
  p.tick();
  EXPECT_THAT(take_logs(),
              ElementsAre("[AgeCleanup] Found 1 expired sessions, closing 1 oldest",
                          "[AgeCleanup] Closing session #1 (seq=1, age=1h5m30s, maxLife=55m0s, created=2024-01-01 "
                          "10:00:00)"));
}

TEST_F(PoolPolicyTest, JitterSpreadsOverTheWholeWindowWithARealRandomSource) {
  Mt19937Random rng(20240101);
  PoolOptions o;
  o.max_lifetime = 1h;
  o.lifetime_jitter = 10min;
  o.idle_timeout = 24h;
  PoolPolicy p(o, clock_, rng, [](std::string_view) {});
  net::Duration lo = net::Duration::max(), hi = net::Duration::min();
  long double sum = 0;
  std::set<std::int64_t> distinct;
  for (int i = 0; i < 1000; ++i) {
    std::uint64_t s = p.allocate_seq();
    ASSERT_TRUE(p.add_busy(s));
    net::Duration life = p.info(s)->max_life;
    lo = std::min(lo, life);
    hi = std::max(hi, life);
    sum += static_cast<long double>(life.count());
    distinct.insert(life.count());
  }
  EXPECT_GE(lo, 50min);
  EXPECT_LE(hi, 70min);
  EXPECT_LT(lo, 50min + 30s);  // spans nearly the whole window
  EXPECT_GT(hi, 70min - 30s);
  long double mean_min = sum / 1000 / 60e9L;
  EXPECT_NEAR(static_cast<double>(mean_min), 60.0, 1.0);
  EXPECT_GT(distinct.size(), 990u);
}

TEST_F(PoolPolicyTest, JitterLargerThanLifetimeIsClampedToOneSecond) {
  Mt19937Random rng(7);
  PoolOptions o;
  o.max_lifetime = 10s;
  o.lifetime_jitter = 1min;
  PoolPolicy p(o, clock_, rng, [](std::string_view) {});
  int clamped = 0;
  net::Duration hi = net::Duration::min();
  for (int i = 0; i < 1000; ++i) {
    std::uint64_t s = p.allocate_seq();
    ASSERT_TRUE(p.add_busy(s));
    net::Duration life = p.info(s)->max_life;
    ASSERT_GE(life, 1s);
    if (life == 1s) ++clamped;
    hi = std::max(hi, life);
  }
  EXPECT_GT(clamped, 300);  // (60-9)/120 of the draws land at or below 1s
  EXPECT_LE(hi, 70s);
  EXPECT_GT(hi, 65s);
}

TEST_F(PoolPolicyTest, ScriptedExtremesOfTheWindowAndTheClamp) {
  PoolOptions o;
  o.max_lifetime = 30s;
  o.lifetime_jitter = 30s;
  auto& p = make(o);
  std::int64_t j = std::chrono::nanoseconds(30s).count();
  random_.values = {-j, j, -j + std::chrono::nanoseconds(500ms).count()};
  add_idle();
  add_idle();
  add_idle();
  EXPECT_EQ(p.info(1)->max_life, 1s);  // 0 -> clamped
  EXPECT_EQ(p.info(2)->max_life, 60s);
  EXPECT_EQ(p.info(3)->max_life, 1s);  // 500ms -> clamped
}

TEST_F(PoolPolicyTest, NoJitterNoRandomDraw) {
  PoolOptions o;
  o.max_lifetime = 1h;
  auto& p = make(o);
  add_idle();
  EXPECT_EQ(p.info(1)->max_life, 1h);
  EXPECT_THAT(random_.calls, IsEmpty());
}

TEST_F(PoolPolicyTest, PoolDialledSessionsDrawMaxLifeWhenReady) {
  PoolOptions o;
  o.max_lifetime = 1h;
  o.lifetime_jitter = 1min;
  o.ensure_idle = 1;
  auto& p = make(o);
  auto dials = p.ensure();
  EXPECT_THAT(random_.calls, IsEmpty());
  random_.values = {std::chrono::nanoseconds(1min).count()};
  clock_.advance(2s);  // the dial took 2s: age counts from readiness
  p.pool_dial_succeeded(dials.at(0));
  EXPECT_EQ(p.info(1)->max_life, 1h + 1min);
  EXPECT_EQ(p.info(1)->created_at, clock_.now());
}

// ---------------------------------------------------------------------------
// Heartbeat first delay
// ---------------------------------------------------------------------------

TEST_F(PoolPolicyTest, HeartbeatFirstDelayIsZeroToTwentyPercent) {
  PoolOptions o;
  o.heartbeat = 30s;
  auto& p = make(o);
  random_.values = {std::chrono::nanoseconds(4s).count()};
  EXPECT_EQ(p.heartbeat_first_delay(), 4s);
  EXPECT_THAT(random_.calls, ElementsAre(std::make_pair(std::int64_t{0}, std::chrono::nanoseconds(6s).count())));

  Mt19937Random rng(1);
  PoolPolicy q(o, clock_, rng, [](std::string_view) {});
  net::Duration hi = net::Duration::zero();
  for (int i = 0; i < 1000; ++i) {
    net::Duration d = q.heartbeat_first_delay();
    ASSERT_GE(d, 0s);
    ASSERT_LE(d, 6s);
    hi = std::max(hi, d);
  }
  EXPECT_GT(hi, 5800ms);
}

TEST_F(PoolPolicyTest, HeartbeatOffGivesZeroWithoutDrawing) {
  auto& p = make(PoolOptions{});
  EXPECT_EQ(p.heartbeat_first_delay(), 0s);
  EXPECT_THAT(random_.calls, IsEmpty());
}

// ---------------------------------------------------------------------------
// Default sink: spdlog at debug
// ---------------------------------------------------------------------------

TEST_F(PoolPolicyTest, DefaultSinkWritesSpdlogDebugLines) {
  auto ring = std::make_shared<spdlog::sinks::ringbuffer_sink_mt>(16);
  auto logger = std::make_shared<spdlog::logger>("pool-test", ring);
  logger->set_level(spdlog::level::debug);
  logger->set_pattern("%l %v");
  auto previous = spdlog::default_logger();
  spdlog::set_default_logger(logger);

  PoolOptions o;
  o.ensure_idle = 1;
  PoolPolicy p(o, clock_, random_);
  p.pool_dial_succeeded(p.ensure().at(0));

  spdlog::set_default_logger(previous);
  EXPECT_THAT(ring->last_formatted(),
              ElementsAre("debug [EnsureIdleSession] Current idle sessions: 0, target: 1, creating 1 new sessions\n",
                          "debug [EnsureIdleSession] Successfully created and pooled session #1 (seq=1)\n"));
}

}  // namespace
}  // namespace anytls::outbound
