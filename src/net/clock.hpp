// Time for everything that waits: one injectable clock. Production uses the
// real steady clock; tests inject a VirtualClock and move time forward by
// hand, so watchdogs, heartbeats and idle limits are tested in milliseconds
// and never depend on how busy the machine is. net::Timer (net/timer.hpp)
// is the asio timer that follows a Clock. No asio here: the pure pool policy
// takes its time from this header.
#pragma once
#include <chrono>
#include <cstdint>
#include <mutex>
#include <set>

namespace anytls::net {

class Clock;

// What a virtual clock fires: implemented by net::Timer.
class ClockTimer {
 public:
  virtual std::chrono::steady_clock::time_point deadline() const = 0;
  virtual void fire() = 0;

 protected:
  ~ClockTimer() = default;
};

class Clock {
 public:
  using time_point = std::chrono::steady_clock::time_point;
  using duration = std::chrono::steady_clock::duration;

  virtual ~Clock() = default;
  // Monotonic time: every decision is made with this.
  virtual time_point now() const = 0;
  // Wall time, only for human-readable log fields.
  virtual std::chrono::system_clock::time_point wall_now() const = 0;

  // A virtual clock fires its timers itself (arm/disarm register them); a
  // real one leaves it to asio.
  virtual bool drives_timers() const { return false; }
  virtual void arm(ClockTimer&) {}
  virtual void disarm(ClockTimer&) {}
};

class SystemClock final : public Clock {
 public:
  time_point now() const override { return std::chrono::steady_clock::now(); }
  std::chrono::system_clock::time_point wall_now() const override { return std::chrono::system_clock::now(); }
};

// The process's real clock (what a null Clock* means everywhere).
Clock& system_clock();
inline Clock& clock_or_system(Clock* c) { return c ? *c : system_clock(); }

// Time that moves only when advance() is called. Timers of this clock fire,
// earliest first, during advance(). advance() must run on the thread of the
// timers' executor (tests drive one io_context per clock).
class VirtualClock final : public Clock {
 public:
  VirtualClock();
  time_point now() const override;
  std::chrono::system_clock::time_point wall_now() const override;
  // Moves time forward and fires every timer that is due.
  void advance(duration d);
  // Timers waiting for this clock.
  std::size_t armed() const;

  bool drives_timers() const override { return true; }
  void arm(ClockTimer& t) override;
  void disarm(ClockTimer& t) override;

 private:
  mutable std::mutex mu_;
  time_point now_;
  time_point start_;
  std::chrono::system_clock::time_point wall_start_;
  std::set<ClockTimer*> timers_;
};

}  // namespace anytls::net
