#include "route/clash_mode.hpp"

#include <algorithm>
#include <cctype>
#include <mutex>

#include "config/defaults.hpp"

namespace anytls::route {

namespace {

// Set by the Clash API on worker 0, read by every worker's routing.
std::mutex g_mu;

std::string& mode() {
  static std::string m{config::defaults::kClashDefaultMode};
  return m;
}

}  // namespace

std::string clash_mode() {
  std::lock_guard lock(g_mu);
  return mode();
}

void set_clash_mode(std::string m) {
  std::lock_guard lock(g_mu);
  mode() = std::move(m);
}

bool clash_mode_is(std::string_view m) {
  std::lock_guard lock(g_mu);
  const auto& cur = mode();
  return cur.size() == m.size() && std::equal(cur.begin(), cur.end(), m.begin(), [](char a, char b) {
           return std::tolower(static_cast<unsigned char>(a)) == std::tolower(static_cast<unsigned char>(b));
         });
}

}  // namespace anytls::route
