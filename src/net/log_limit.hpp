// Rate-limited logging for lines a peer can trigger at will (a refused SYN,
// a failed fallback dial, an accept error): the first one in a window is
// written, the rest are counted, and the next one written after the window
// says how many were left out ("... (8976 more in the last 10s)"). A flood
// of bad frames then costs a few lines, not a disk.
//
// One LogLimit per call site; per thread (workers share nothing):
//   thread_local net::LogLimit limit;
//   if (auto more = limit.admit()) spdlog::warn("refused stream{}", *more);
#pragma once
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

#include "net/clock.hpp"

namespace anytls::net {

class LogLimit {
 public:
  explicit LogLimit(std::chrono::seconds window = std::chrono::seconds(10), Clock* clock = nullptr)
      : window_(window), clock_(&clock_or_system(clock)) {}

  // nullopt: leave this one out. Otherwise write the line with the returned
  // suffix appended: "" or " (N more in the last 10s)".
  std::optional<std::string> admit() {
    auto now = clock_->now();
    if (started_ && now - window_start_ < window_) {
      ++suppressed_;
      return std::nullopt;
    }
    std::string suffix;
    if (suppressed_ > 0)
      suffix = " (" + std::to_string(suppressed_) + " more in the last " + std::to_string(window_.count()) + "s)";
    started_ = true;
    window_start_ = now;
    suppressed_ = 0;
    return suffix;
  }

 private:
  std::chrono::seconds window_;
  Clock* clock_;
  bool started_ = false;
  Clock::time_point window_start_{};
  std::uint64_t suppressed_ = 0;
};

}  // namespace anytls::net
