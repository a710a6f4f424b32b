#include "net/clock.hpp"

#include <algorithm>
#include <vector>

namespace anytls::net {

Clock& system_clock() {
  static SystemClock clock;
  return clock;
}

VirtualClock::VirtualClock()
    : now_(std::chrono::steady_clock::now()), start_(now_), wall_start_(std::chrono::system_clock::now()) {}

Clock::time_point VirtualClock::now() const {
  std::lock_guard lock(mu_);
  return now_;
}

std::chrono::system_clock::time_point VirtualClock::wall_now() const {
  std::lock_guard lock(mu_);
  return wall_start_ + std::chrono::duration_cast<std::chrono::system_clock::duration>(now_ - start_);
}

std::size_t VirtualClock::armed() const {
  std::lock_guard lock(mu_);
  return timers_.size();
}

Clock::time_point VirtualClock::next_deadline() const {
  std::lock_guard lock(mu_);
  auto next = time_point::max();
  for (auto* t : timers_) next = std::min(next, t->deadline());
  return next;
}

void VirtualClock::arm(ClockTimer& t) {
  std::lock_guard lock(mu_);
  timers_.insert(&t);
}

void VirtualClock::disarm(ClockTimer& t) {
  std::lock_guard lock(mu_);
  timers_.erase(&t);
}

void VirtualClock::advance(duration d) {
  // Fired under the lock: a timer of another thread cannot be destroyed
  // meanwhile (its destructor disarms it, which waits here); its fire()
  // only posts to that thread.
  std::lock_guard lock(mu_);
  now_ += d;
  std::vector<ClockTimer*> due;
  for (auto* t : timers_)
    if (t->deadline() <= now_) due.push_back(t);
  for (auto* t : due) timers_.erase(t);
  // Earliest first, so waiters resume in the order real time would give.
  std::stable_sort(due.begin(), due.end(), [](ClockTimer* a, ClockTimer* b) { return a->deadline() < b->deadline(); });
  for (auto* t : due) t->fire();
}

}  // namespace anytls::net
