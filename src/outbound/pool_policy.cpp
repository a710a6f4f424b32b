#include "outbound/pool_policy.hpp"

#include <algorithm>
#include <ctime>
#include <utility>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "net/duration.hpp"

namespace anytls::outbound {

namespace {

using namespace std::chrono_literals;

// Logged durations are truncated to milliseconds: "5m3.25s", not
// "5m3.250123456s"; whole-second values print as "55m0s".
std::string fmt_dur(net::Duration d) {
  return net::format_duration(std::chrono::duration_cast<std::chrono::milliseconds>(d));
}

// Local wall time as "2024-01-01 10:00:00".
std::string fmt_wall(std::chrono::system_clock::time_point t) {
  std::time_t tt = std::chrono::system_clock::to_time_t(t);
  std::tm tm{};
  localtime_r(&tt, &tm);
  char buf[32];
  std::size_t n = std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S", &tm);
  return std::string(buf, n);
}

}  // namespace

PoolOptions PoolOptions::normalized() const {
  PoolOptions o = *this;
  auto non_negative = [](net::Duration& d) {
    if (d < net::Duration::zero()) d = net::Duration::zero();
  };
  non_negative(o.check_interval);
  non_negative(o.idle_timeout);
  non_negative(o.heartbeat);
  non_negative(o.max_lifetime);
  non_negative(o.lifetime_jitter);
  if (o.check_interval == net::Duration::zero()) o.check_interval = kDefaultCheckInterval;
  if (o.idle_timeout == net::Duration::zero()) o.idle_timeout = kDefaultIdleTimeout;
  return o;
}

PoolPolicy::PoolPolicy(const PoolOptions& options, Clock& clock, Random& random, PoolLogSink sink)
    : opts_(options.normalized()), clock_(clock), random_(random), sink_(std::move(sink)) {}

void PoolPolicy::log(std::string line) const {
  if (sink_) {
    sink_(line);
  } else {
    spdlog::debug("{}", line);
  }
}

PoolPolicy::Entry PoolPolicy::make_entry() {
  Entry e;
  e.created_at = clock_.now();
  e.created_wall = clock_.wall_now();
  e.idle_since = e.created_at;
  if (opts_.max_lifetime > net::Duration::zero()) {
    net::Duration life = opts_.max_lifetime;
    if (opts_.lifetime_jitter > net::Duration::zero()) {
      std::int64_t j = opts_.lifetime_jitter.count();
      life += net::Duration(random_.uniform(-j, j));
    }
    e.max_life = std::max<net::Duration>(life, 1s);
  }
  return e;
}

bool PoolPolicy::add_busy(std::uint64_t seq) {
  if (seq == 0 || seq > last_seq_ || idle_.count(seq) || busy_.count(seq) || dialing_.count(seq)) {
    return false;
  }
  busy_.emplace(seq, make_entry());
  ++counters_.created_for_stream;
  return true;
}

std::optional<std::uint64_t> PoolPolicy::take() {
  if (idle_.empty()) return std::nullopt;
  auto node = idle_.extract(std::prev(idle_.end()));
  std::uint64_t seq = node.key();
  busy_.insert(std::move(node));
  return seq;
}

std::optional<std::uint64_t> PoolPolicy::take_if(const std::function<bool(std::uint64_t)>& pred) {
  for (auto it = idle_.rbegin(); it != idle_.rend(); ++it) {
    if (!pred(it->first)) continue;
    auto node = idle_.extract(it->first);
    std::uint64_t seq = node.key();
    busy_.insert(std::move(node));
    return seq;
  }
  return std::nullopt;
}

bool PoolPolicy::release(std::uint64_t seq) {
  auto it = busy_.find(seq);
  if (it == busy_.end()) return false;
  auto node = busy_.extract(it);
  node.mapped().idle_since = clock_.now();
  idle_.insert(std::move(node));
  return true;
}

bool PoolPolicy::remove(std::uint64_t seq) {
  if (idle_.erase(seq) || busy_.erase(seq)) {
    ++counters_.removed;
    return true;
  }
  return dialing_.erase(seq) > 0;
}

void PoolPolicy::idle_cleanup(TimePoint now, TickResult& out) {
  std::size_t closed = 0;
  std::size_t expired = 0;
  std::size_t position = 0;  // in the walk, newest first
  for (auto it = idle_.end(); it != idle_.begin();) {
    --it;
    ++position;
    net::Duration idle_for = now - it->second.idle_since;
    if (idle_for <= opts_.idle_timeout) continue;
    ++expired;
    if (position <= opts_.min_idle) {
      it->second.idle_since = now;  // protected: its idle clock restarts
      continue;
    }
    log(fmt::format("[IdleCleanup] Closing session (seq={}, idle={})", it->first, fmt_dur(idle_for)));
    out.close.push_back({it->first, CloseReason::idle_timeout});
    ++counters_.closed_by_idle;
    ++closed;
    it = idle_.erase(it);
  }
  if (expired > 0) {
    log(fmt::format("[IdleCleanup] Closed {} idle sessions, kept {} (min_idle_session={})", closed,
                    idle_.size(), opts_.min_idle));
  }
}

void PoolPolicy::age_cleanup(TimePoint now, TickResult& out) {
  if (opts_.max_lifetime <= net::Duration::zero()) return;
  std::vector<std::map<std::uint64_t, Entry>::iterator> expired;
  for (auto it = idle_.begin(); it != idle_.end(); ++it) {
    if (now - it->second.created_at >= it->second.max_life) expired.push_back(it);
  }
  if (expired.empty()) return;
  // Oldest first: earliest created_at, then lowest seq.
  std::sort(expired.begin(), expired.end(), [](const auto& a, const auto& b) {
    if (a->second.created_at != b->second.created_at) return a->second.created_at < b->second.created_at;
    return a->first < b->first;
  });
  std::size_t may_close = idle_.size() > opts_.min_idle_for_age ? idle_.size() - opts_.min_idle_for_age : 0;
  std::size_t to_close = std::min(expired.size(), may_close);
  std::size_t keeping = expired.size() - to_close;
  if (keeping > 0) {
    log(fmt::format(
        "[AgeCleanup] Found {} expired sessions, closing {} oldest (keeping {} to maintain "
        "min_idle_session_for_age={})",
        expired.size(), to_close, keeping, opts_.min_idle_for_age));
  } else {
    log(fmt::format("[AgeCleanup] Found {} expired sessions, closing {} oldest", expired.size(), to_close));
  }
  for (std::size_t i = 0; i < to_close; ++i) {
    auto it = expired[i];
    const Entry& e = it->second;
    log(fmt::format("[AgeCleanup] Closing session #{} (seq={}, age={}, maxLife={}, created={})", i + 1,
                    it->first, fmt_dur(now - e.created_at), fmt_dur(e.max_life), fmt_wall(e.created_wall)));
    out.close.push_back({it->first, CloseReason::max_lifetime});
    ++counters_.closed_by_age;
    idle_.erase(it);
  }
}

PoolPolicy::TickResult PoolPolicy::tick() {
  TickResult out;
  TimePoint now = clock_.now();
  idle_cleanup(now, out);
  age_cleanup(now, out);
  out.dial = ensure();
  return out;
}

std::vector<std::uint64_t> PoolPolicy::ensure() {
  std::vector<std::uint64_t> dials;
  if (opts_.ensure_idle == 0) return dials;
  if (retry_at_) {
    if (clock_.now() < *retry_at_) return dials;  // backing off
    retry_at_.reset();  // the step count stays until a dial succeeds
  }
  std::size_t have = idle_.size() + dialing_.size();
  if (have >= opts_.ensure_idle) return dials;
  std::size_t n = opts_.ensure_idle - have;
  if (dialing_.empty()) {
    log(fmt::format("[EnsureIdleSession] Current idle sessions: {}, target: {}, creating {} new sessions",
                    idle_.size(), opts_.ensure_idle, n));
  } else {
    log(fmt::format(
        "[EnsureIdleSession] Current idle sessions: {}, target: {}, creating {} new sessions ({} already being "
        "created)",
        idle_.size(), opts_.ensure_idle, n, dialing_.size()));
  }
  std::uint64_t batch = ++last_batch_;
  dials.reserve(n);
  for (std::size_t i = 1; i <= n; ++i) {
    std::uint64_t seq = allocate_seq();
    dialing_.emplace(seq, Dial{batch, i});
    dials.push_back(seq);
  }
  return dials;
}

bool PoolPolicy::pool_dial_succeeded(std::uint64_t seq) {
  auto it = dialing_.find(seq);
  if (it == dialing_.end()) return false;
  std::size_t index = it->second.index;
  dialing_.erase(it);
  idle_.emplace(seq, make_entry());
  ++counters_.created_for_pool;
  backoff_step_ = 0;
  retry_at_.reset();
  log(fmt::format("[EnsureIdleSession] Successfully created and pooled session #{} (seq={})", index, seq));
  return true;
}

std::optional<net::Duration> PoolPolicy::pool_dial_failed(std::uint64_t seq, std::string_view reason) {
  auto it = dialing_.find(seq);
  if (it == dialing_.end()) return std::nullopt;
  std::uint64_t batch = it->second.batch;
  dialing_.erase(it);
  ++counters_.pool_dial_failures;
  log(fmt::format("[EnsureIdleSession] Failed to create session: {}", reason));
  if (batch <= last_failed_batch_) return std::nullopt;  // this batch already stepped
  last_failed_batch_ = batch;
  ++backoff_step_;
  net::Duration delay = 1s;
  for (std::uint32_t i = 1; i < backoff_step_ && delay < opts_.check_interval; ++i) delay *= 2;
  delay = std::min(delay, opts_.check_interval);
  retry_at_ = clock_.now() + delay;
  return delay;
}

net::Duration PoolPolicy::heartbeat_first_delay() {
  if (opts_.heartbeat <= net::Duration::zero()) return net::Duration::zero();
  return net::Duration(random_.uniform(0, opts_.heartbeat.count() / 5));
}

std::optional<PoolPolicy::SessionInfo> PoolPolicy::info(std::uint64_t seq) const {
  if (auto it = idle_.find(seq); it != idle_.end()) {
    return SessionInfo{State::idle, it->second.created_at, it->second.idle_since, it->second.max_life};
  }
  if (auto it = busy_.find(seq); it != busy_.end()) {
    return SessionInfo{State::busy, it->second.created_at, it->second.idle_since, it->second.max_life};
  }
  if (dialing_.count(seq)) return SessionInfo{State::dialing, {}, {}, net::Duration::zero()};
  return std::nullopt;
}

std::vector<std::pair<std::uint64_t, PoolPolicy::SessionInfo>> PoolPolicy::sessions() const {
  std::vector<std::pair<std::uint64_t, SessionInfo>> out;
  out.reserve(idle_.size() + busy_.size() + dialing_.size());
  for (const auto& [seq, e] : idle_) out.emplace_back(seq, SessionInfo{State::idle, e.created_at, e.idle_since, e.max_life});
  for (const auto& [seq, e] : busy_) out.emplace_back(seq, SessionInfo{State::busy, e.created_at, e.idle_since, e.max_life});
  for (const auto& [seq, d] : dialing_) out.emplace_back(seq, SessionInfo{State::dialing, {}, {}, net::Duration::zero()});
  return out;
}

PoolPolicy::Stats PoolPolicy::stats() const {
  Stats s = counters_;
  s.idle = idle_.size();
  s.busy = busy_.size();
  s.dialing = dialing_.size();
  s.backoff_step = backoff_step_;
  return s;
}

}  // namespace anytls::outbound
