// Logging set-up from the "log" options. Every layer just calls
// spdlog::info(...) etc. on the default logger; connection lines start with
// a prefix naming who speaks: "[S12]" (session 12) or "[S12/3]" (stream 3 of
// session 12), see conn_prefix().
#pragma once
#include <cstdint>
#include <string>

#include <spdlog/common.h>

#include "config/options.hpp"

namespace anytls::app {

// "trace" "debug" "info" "warn" "error" "fatal" "panic" (fatal and panic map
// to critical). Unknown names give info (the config layer already rejects them).
spdlog::level::level_enum parse_level(const std::string& name);

// Replaces the default logger: output file (append) or stderr, the pattern
// with or without a timestamp, level off when disabled. Throws
// std::runtime_error when the output file cannot be opened.
//
// Lines look like sing-box's: "[INFO] message" or, with timestamp,
// "2024-01-01 10:00:00.123 [INFO] message".
void setup_logging(const config::LogOptions& options);

// "[S12]" and "[S12/3]".
std::string conn_prefix(std::uint64_t session_seq);
std::string conn_prefix(std::uint64_t session_seq, std::uint32_t stream_id);

}  // namespace anytls::app
