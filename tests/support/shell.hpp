// Runs a shell command for a test: its exit status and its stdout+stderr.
#pragma once
#include <sys/wait.h>

#include <cstdio>
#include <string>

namespace anytls::test {

struct Shell {
  int status = -1;  // the exit status; -1 when it did not run or exit
  std::string out;  // stdout and stderr
};

inline Shell sh(const std::string& cmd) {
  Shell r;
  FILE* p = ::popen((cmd + " 2>&1").c_str(), "r");
  if (!p) return r;
  char buf[4096];
  std::size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) r.out.append(buf, n);
  int st = ::pclose(p);
  r.status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  return r;
}

}  // namespace anytls::test
