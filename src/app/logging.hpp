// Logging set-up from the "log" options. Every layer just calls
// spdlog::info(...) etc. on the default logger.
//
// Lines are laid out as sing-box lays them out:
//   stderr, timestamp on:   "+0000 2026-11-29 14:50:26 INFO message"
//   stderr, timestamp off:  "INFO[0012] message"   (seconds since start-up)
//   file,   timestamp off:  "INFO message"
//   file,   timestamp on:   as on stderr
// Levels are TRACE DEBUG INFO WARN ERROR FATAL (critical prints FATAL). The
// level (and connection ids, see log_ids.hpp) are coloured only when writing
// to a terminal and colour is not disabled (--disable-color); files never.
#pragma once
#include <cstdint>
#include <string>

#include <spdlog/common.h>

#include "config/options.hpp"

namespace anytls::app {

// "trace" "debug" "info" "warn" "error" "fatal" "panic" (fatal and panic map
// to critical). Unknown names give info (the config layer already rejects them).
spdlog::level::level_enum parse_level(const std::string& name);

struct LogSetup {
  bool disable_color = false;   // --disable-color
  bool force_color = false;     // tests: colour even when stderr is no TTY
};

// Replaces the default logger: output file (append) or stderr, the layout
// above, level off when disabled. Throws std::runtime_error when the output
// file cannot be opened.
void setup_logging(const config::LogOptions& options, LogSetup setup = {});

// Whether the current default logger writes colour (log_ids.hpp asks).
bool log_color();

// "[S12]" and "[S12/3]": the protocol session / stream a line is about.
std::string conn_prefix(std::uint64_t session_seq);
std::string conn_prefix(std::uint64_t session_seq, std::uint32_t stream_id);

}  // namespace anytls::app
