// Process metrics as the Prometheus client libraries name them, read from
// /proc at scrape time: resident memory, open file descriptors, CPU time.
#pragma once
#include <cstdint>
#include <optional>
#include <string_view>

#include "metrics/exposition.hpp"

namespace anytls::metrics {

struct ProcessStats {
  std::optional<double> resident_memory_bytes;  // VmRSS
  std::optional<double> open_fds;               // entries of /proc/self/fd
  std::optional<double> max_fds;                // RLIMIT_NOFILE soft limit
  std::optional<double> cpu_seconds;            // utime + stime
  std::optional<double> start_time_seconds;     // since the Unix epoch
};

// What /proc says about this process; a field stays empty when its file
// cannot be read (no /proc).
ProcessStats read_process_stats();

// Parses the text of /proc/<pid>/stat: utime + stime in clock ticks and the
// start time in ticks since boot (fields 14, 15 and 22; the command name in
// parentheses may contain spaces and parentheses). nullopt when malformed.
struct StatFields {
  std::uint64_t utime = 0, stime = 0, starttime = 0;
};
std::optional<StatFields> parse_proc_stat(std::string_view text);

// Adds the process_* families.
void add_process_metrics(Exposition& e, const ProcessStats& p);

}  // namespace anytls::metrics
