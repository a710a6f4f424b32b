#include "metrics/process.hpp"

#include <dirent.h>
#include <sys/resource.h>
#include <unistd.h>

#include <charconv>
#include <fstream>
#include <sstream>
#include <string>

namespace anytls::metrics {

namespace {

std::optional<std::string> read_file(const char* path) {
  std::ifstream f(path);
  if (!f) return std::nullopt;
  std::ostringstream s;
  s << f.rdbuf();
  return s.str();
}

std::optional<std::uint64_t> to_u64(std::string_view s) {
  std::uint64_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc{} || p != s.data() + s.size()) return std::nullopt;
  return v;
}

}  // namespace

std::optional<StatFields> parse_proc_stat(std::string_view text) {
  // "pid (comm) state ppid ...": comm may hold anything but ends at the LAST ')'.
  auto close = text.rfind(')');
  if (close == std::string_view::npos) return std::nullopt;
  std::string_view rest = text.substr(close + 1);
  // Fields after comm start at field 3 (state).
  std::vector<std::string_view> f;
  std::size_t i = 0;
  while (i < rest.size() && f.size() < 20) {
    while (i < rest.size() && (rest[i] == ' ' || rest[i] == '\n')) ++i;
    std::size_t j = i;
    while (j < rest.size() && rest[j] != ' ' && rest[j] != '\n') ++j;
    if (j > i) f.push_back(rest.substr(i, j - i));
    i = j;
  }
  // field n (1-based) is f[n - 3]
  if (f.size() < 20) return std::nullopt;
  auto ut = to_u64(f[14 - 3]), st = to_u64(f[15 - 3]), start = to_u64(f[22 - 3]);
  if (!ut || !st || !start) return std::nullopt;
  return StatFields{*ut, *st, *start};
}

ProcessStats read_process_stats() {
  ProcessStats p;
  if (auto status = read_file("/proc/self/status")) {
    auto pos = status->find("VmRSS:");
    if (pos != std::string::npos) {
      std::istringstream line(status->substr(pos + 6));
      double kib = 0;
      if (line >> kib) p.resident_memory_bytes = kib * 1024;
    }
  }
  if (DIR* d = opendir("/proc/self/fd")) {
    double n = 0;
    while (dirent* e = readdir(d)) {
      if (e->d_name[0] != '.') ++n;
    }
    closedir(d);
    p.open_fds = n - 1;  // the directory stream's own descriptor
  }
  rlimit rl{};
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY) p.max_fds = static_cast<double>(rl.rlim_cur);
  const double tick = static_cast<double>(sysconf(_SC_CLK_TCK));
  if (auto stat = read_file("/proc/self/stat"); stat && tick > 0) {
    if (auto f = parse_proc_stat(*stat)) {
      p.cpu_seconds = static_cast<double>(f->utime + f->stime) / tick;
      if (auto up = read_file("/proc/stat")) {
        auto pos = up->find("btime ");
        if (pos != std::string::npos) {
          std::istringstream line(up->substr(pos + 6));
          double btime = 0;
          if (line >> btime) p.start_time_seconds = btime + static_cast<double>(f->starttime) / tick;
        }
      }
    }
  }
  return p;
}

void add_process_metrics(Exposition& e, const ProcessStats& p) {
  if (p.resident_memory_bytes)
    e.gauge("process_resident_memory_bytes", "Resident memory size in bytes.", {}, *p.resident_memory_bytes);
  if (p.open_fds) e.gauge("process_open_fds", "Number of open file descriptors.", {}, *p.open_fds);
  if (p.max_fds) e.gauge("process_max_fds", "Maximum number of open file descriptors.", {}, *p.max_fds);
  if (p.cpu_seconds)
    e.counter("process_cpu_seconds_total", "Total user and system CPU time spent in seconds.", {}, *p.cpu_seconds);
  if (p.start_time_seconds)
    e.gauge("process_start_time_seconds", "Start time of the process since unix epoch in seconds.", {},
            *p.start_time_seconds);
}

}  // namespace anytls::metrics
