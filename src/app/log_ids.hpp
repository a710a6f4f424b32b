// Per-connection ids in sing-box's shape, for connection log lines:
//
//   ConnLog id;                                 // at accept: random id, clock starts
//   spdlog::info("{}inbound/mixed[in]: inbound connection from {}", id.prefix(), src);
//   -> "INFO [3456789 12ms] inbound/mixed[in]: inbound connection from ..."
//
// prefix() is "[<id> <elapsed>] " (trailing space included); the id is
// coloured like sing-box colours it when the log writes colour. Elapsed time
// is "12ms" under a second, "1.05s" under a minute, "2m5s" above.
#pragma once
#include <chrono>
#include <cstdint>
#include <string>

namespace anytls::app {

// "12ms", "1.05s", "2m5s".
std::string format_elapsed(std::chrono::steady_clock::duration d);

// sing-box's 256-colour index for an id (readable on a dark terminal).
std::uint8_t id_color(std::uint32_t id);

class ConnLog {
 public:
  ConnLog();  // a random id, created now
  ConnLog(std::uint32_t id, std::chrono::steady_clock::time_point created) : id_(id), created_(created) {}

  std::uint32_t id() const { return id_; }
  std::chrono::steady_clock::time_point created() const { return created_; }
  std::string prefix() const;
  // Testable form: elapsed up to now, colour on request.
  std::string prefix(std::chrono::steady_clock::time_point now, bool color) const;

 private:
  std::uint32_t id_;
  std::chrono::steady_clock::time_point created_;
};

}  // namespace anytls::app
