#include "route/clash_mode.hpp"

#include <algorithm>
#include <cctype>

#include "config/defaults.hpp"

namespace anytls::route {

namespace {

std::string& mode() {
  static std::string m{config::defaults::kClashDefaultMode};
  return m;
}

}  // namespace

const std::string& clash_mode() { return mode(); }

void set_clash_mode(std::string m) { mode() = std::move(m); }

bool clash_mode_is(std::string_view m) {
  const auto& cur = mode();
  return cur.size() == m.size() && std::equal(cur.begin(), cur.end(), m.begin(), [](char a, char b) {
           return std::tolower(static_cast<unsigned char>(a)) == std::tolower(static_cast<unsigned char>(b));
         });
}

}  // namespace anytls::route
