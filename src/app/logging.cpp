#include "app/logging.hpp"

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <ctime>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <vector>

#include <spdlog/formatter.h>
#include <spdlog/sinks/basic_file_sink.h>
#include <spdlog/sinks/dist_sink.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include "app/log_text.hpp"

namespace anytls::app {
namespace {

std::atomic<bool> g_color{false};

enum class Stamp { none, relative, full };

// sing-box's line layout (see logging.hpp); spdlog's pattern language has no
// "seconds since start" field, so the prefix is written by hand.
class SingBoxFormatter final : public spdlog::formatter {
 public:
  SingBoxFormatter(Stamp stamp, bool color, std::chrono::system_clock::time_point base)
      : stamp_(stamp), color_(color), base_(base) {}

  void format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) override {
    std::string_view level = label(msg.level);
    std::string_view on, off;
    if (color_) {
      on = ansi(msg.level);
      off = "\x1b[0m";
    }
    if (stamp_ == Stamp::full) {
      std::time_t t = std::chrono::system_clock::to_time_t(msg.time);
      std::tm tm{};
      localtime_r(&t, &tm);
      char buf[64];
      std::size_t n = std::strftime(buf, sizeof buf, "%z %Y-%m-%d %H:%M:%S ", &tm);
      dest.append(buf, buf + n);
    }
    dest.append(on.data(), on.data() + on.size());
    dest.append(level.data(), level.data() + level.size());
    dest.append(off.data(), off.data() + off.size());
    if (stamp_ == Stamp::relative) {
      auto secs = std::chrono::duration_cast<std::chrono::seconds>(msg.time - base_).count();
      fmt::format_to(std::back_inserter(dest), "[{:04}]", secs < 0 ? 0 : secs);
    }
    dest.push_back(' ');
    // Names from peers are in many lines: none may forge a line of its own
    // or send a terminal escape (app/log_text.hpp).
    const std::string_view payload(msg.payload.data(), msg.payload.size());
    const Colours colours = color_ ? Colours::keep : Colours::escape;
    if (log_safe(payload, colours)) {
      dest.append(payload.data(), payload.data() + payload.size());
    } else {
      const std::string safe = log_safe_text(payload, colours);
      dest.append(safe.data(), safe.data() + safe.size());
    }
    dest.push_back('\n');
  }

  std::unique_ptr<spdlog::formatter> clone() const override {
    return std::make_unique<SingBoxFormatter>(stamp_, color_, base_);
  }

 private:
  static std::string_view label(spdlog::level::level_enum l) {
    switch (l) {
      case spdlog::level::trace: return "TRACE";
      case spdlog::level::debug: return "DEBUG";
      case spdlog::level::info: return "INFO";
      case spdlog::level::warn: return "WARN";
      case spdlog::level::err: return "ERROR";
      case spdlog::level::critical: return "FATAL";
      default: return "LOG";
    }
  }
  // sing-box's colours: white debug/trace, cyan info, yellow warn, red above.
  static std::string_view ansi(spdlog::level::level_enum l) {
    switch (l) {
      case spdlog::level::trace:
      case spdlog::level::debug: return "\x1b[37m";
      case spdlog::level::info: return "\x1b[36m";
      case spdlog::level::warn: return "\x1b[33m";
      default: return "\x1b[31m";
    }
  }

  Stamp stamp_;
  bool color_;
  std::chrono::system_clock::time_point base_;
};

// When the process started logging: the base of "INFO[0012]".
std::chrono::system_clock::time_point start_time() {
  static const auto t = std::chrono::system_clock::now();
  return t;
}

}  // namespace

spdlog::level::level_enum parse_level(const std::string& name) {
  if (name == "trace") return spdlog::level::trace;
  if (name == "debug") return spdlog::level::debug;
  if (name == "info") return spdlog::level::info;
  if (name == "warn") return spdlog::level::warn;
  if (name == "error") return spdlog::level::err;
  if (name == "fatal" || name == "panic") return spdlog::level::critical;
  return spdlog::level::info;
}

void setup_logging(const config::LogOptions& options, LogSetup setup) {
  spdlog::sink_ptr sink;
  bool color = false;
  Stamp stamp = options.timestamp ? Stamp::full : Stamp::none;
  if (!options.output.empty()) {
    try {
      sink = std::make_shared<spdlog::sinks::basic_file_sink_mt>(options.output, /*truncate=*/false);
    } catch (const spdlog::spdlog_ex& e) {
      throw std::runtime_error(e.what());
    }
  } else {
    sink = std::make_shared<spdlog::sinks::stderr_sink_mt>();
    color = !setup.disable_color && (setup.force_color || ::isatty(STDERR_FILENO) == 1);
    if (!options.timestamp) stamp = Stamp::relative;
  }
  sink->set_formatter(std::make_unique<SingBoxFormatter>(stamp, color, start_time()));
  g_color = color;

  const auto level = options.disabled ? spdlog::level::off : parse_level(options.level);

  // One logger for the life of the process: workers log through
  // spdlog::default_logger_raw() at any moment, so a reload (SIGHUP) must not
  // replace (and free) it. It writes through a switch whose output is
  // swapped under the switch's lock; its other sinks (the Clash API's log
  // buffer) stay.
  static std::mutex mu;
  static std::shared_ptr<spdlog::sinks::dist_sink_mt> output;
  static std::shared_ptr<spdlog::logger> ours;
  std::lock_guard lock(mu);
  if (ours && spdlog::default_logger_raw() == ours.get()) {
    output->set_sinks(std::vector<spdlog::sink_ptr>{std::move(sink)});
    ours->set_level(level);
    return;
  }
  output = std::make_shared<spdlog::sinks::dist_sink_mt>(std::vector<spdlog::sink_ptr>{std::move(sink)});
  ours = std::make_shared<spdlog::logger>("anytls", output);
  ours->set_level(level);
  ours->flush_on(spdlog::level::trace);  // every line reaches the file at once
  spdlog::set_default_logger(ours);
}

bool log_color() { return g_color; }

std::string conn_prefix(std::uint64_t session_seq) {
  return "[S" + std::to_string(session_seq) + "]";
}

std::string conn_prefix(std::uint64_t session_seq, std::uint32_t stream_id) {
  return "[S" + std::to_string(session_seq) + "/" + std::to_string(stream_id) + "]";
}

}  // namespace anytls::app
