#include "app/logging.hpp"

#include <unistd.h>

#include <memory>
#include <stdexcept>

#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/basic_file_sink.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

namespace anytls::app {
namespace {

// %* : the level in upper case as sing-box writes it (DEBUG, WARN, FATAL).
class UpperLevelFlag : public spdlog::custom_flag_formatter {
 public:
  void format(const spdlog::details::log_msg& msg, const std::tm&, spdlog::memory_buf_t& dest) override {
    std::string_view name;
    switch (msg.level) {
      case spdlog::level::trace: name = "TRACE"; break;
      case spdlog::level::debug: name = "DEBUG"; break;
      case spdlog::level::info: name = "INFO"; break;
      case spdlog::level::warn: name = "WARN"; break;
      case spdlog::level::err: name = "ERROR"; break;
      case spdlog::level::critical: name = "FATAL"; break;
      default: name = "LOG"; break;
    }
    dest.append(name.data(), name.data() + name.size());
  }
  std::unique_ptr<custom_flag_formatter> clone() const override { return std::make_unique<UpperLevelFlag>(); }
};

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

void setup_logging(const config::LogOptions& options) {
  spdlog::sink_ptr sink;
  bool color = false;
  if (!options.output.empty()) {
    try {
      sink = std::make_shared<spdlog::sinks::basic_file_sink_mt>(options.output, /*truncate=*/false);
    } catch (const spdlog::spdlog_ex& e) {
      throw std::runtime_error(e.what());
    }
  } else {
    sink = std::make_shared<spdlog::sinks::stderr_color_sink_mt>();
    color = ::isatty(STDERR_FILENO) == 1;
  }
  std::string level = color ? "[%^%*%$]" : "[%*]";
  std::string pattern = options.timestamp ? "%Y-%m-%d %H:%M:%S.%e " + level + " %v" : level + " %v";
  auto formatter = std::make_unique<spdlog::pattern_formatter>();
  formatter->add_flag<UpperLevelFlag>('*').set_pattern(pattern);
  sink->set_formatter(std::move(formatter));

  auto logger = std::make_shared<spdlog::logger>("anytls", std::move(sink));
  logger->set_level(options.disabled ? spdlog::level::off : parse_level(options.level));
  logger->flush_on(spdlog::level::trace);  // every line reaches the file at once
  spdlog::set_default_logger(std::move(logger));
}

std::string conn_prefix(std::uint64_t session_seq) {
  return "[S" + std::to_string(session_seq) + "]";
}

std::string conn_prefix(std::uint64_t session_seq, std::uint32_t stream_id) {
  return "[S" + std::to_string(session_seq) + "/" + std::to_string(stream_id) + "]";
}

}  // namespace anytls::app
