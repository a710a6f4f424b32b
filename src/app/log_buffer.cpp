#include "app/log_buffer.hpp"

#include "app/log_text.hpp"

namespace anytls::app {

void LogBuffer::sink_it_(const spdlog::details::log_msg& msg) {
  LogLine line;
  line.seq = ++seq_;
  line.level = msg.level;
  const std::string_view payload(msg.payload.data(), msg.payload.size());
  // Dashboards show the text: no control characters, no colour codes.
  line.text = log_safe(payload) ? std::string(payload) : log_safe_text(payload, Colours::strip);
  if (lines_.size() == kCapacity) lines_.pop_front();
  lines_.push_back(std::move(line));
}

std::vector<LogLine> LogBuffer::since(std::uint64_t after, spdlog::level::level_enum min, std::uint64_t& next) {
  std::lock_guard<std::mutex> lock(mutex_);
  std::vector<LogLine> out;
  for (const auto& l : lines_)
    if (l.seq > after && l.level >= min) out.push_back(l);
  next = seq_;
  return out;
}

std::uint64_t LogBuffer::last_seq() {
  std::lock_guard<std::mutex> lock(mutex_);
  return seq_;
}

spdlog::level::level_enum clash_log_level(std::string_view name) {
  if (name == "debug" || name == "trace") return spdlog::level::debug;
  if (name == "warning" || name == "warn") return spdlog::level::warn;
  if (name == "error") return spdlog::level::err;
  if (name == "silent") return spdlog::level::off;
  return spdlog::level::info;
}

std::string_view clash_level_name(spdlog::level::level_enum l) {
  switch (l) {
    case spdlog::level::trace:
    case spdlog::level::debug: return "debug";
    case spdlog::level::warn: return "warning";
    case spdlog::level::err:
    case spdlog::level::critical: return "error";
    default: return "info";
  }
}

}  // namespace anytls::app
