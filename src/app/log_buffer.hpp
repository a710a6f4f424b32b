// The last log lines, for the Clash API's /logs: a spdlog sink keeping at
// most kCapacity lines, each numbered, so a streaming reader can ask for
// "everything after n". A reader that falls behind by more than the
// capacity misses lines (memory stays bounded, whatever it does).
#pragma once
#include <cstdint>
#include <deque>
#include <mutex>
#include <string>
#include <vector>

#include <spdlog/sinks/base_sink.h>

namespace anytls::app {

struct LogLine {
  std::uint64_t seq = 0;
  spdlog::level::level_enum level = spdlog::level::info;
  std::string text;  // the message, without time or level
};

class LogBuffer final : public spdlog::sinks::base_sink<std::mutex> {
 public:
  static constexpr std::size_t kCapacity = 512;
  // Lines with seq > after and level >= min, oldest first; `next` gets the
  // seq to pass next time.
  std::vector<LogLine> since(std::uint64_t after, spdlog::level::level_enum min, std::uint64_t& next);
  std::uint64_t last_seq();

 protected:
  void sink_it_(const spdlog::details::log_msg& msg) override;
  void flush_() override {}

 private:
  std::deque<LogLine> lines_;
  std::uint64_t seq_ = 0;
};

// "debug" "info" "warning" "error" "silent" (Clash's names; "warn" too).
spdlog::level::level_enum clash_log_level(std::string_view name);
// Clash's name of a level: "debug" "info" "warning" "error".
std::string_view clash_level_name(spdlog::level::level_enum l);

}  // namespace anytls::app
