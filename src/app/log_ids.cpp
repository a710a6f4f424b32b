#include "app/log_ids.hpp"

#include <random>

#include <fmt/format.h>

#include "app/logging.hpp"

namespace anytls::app {

std::string format_elapsed(std::chrono::steady_clock::duration d) {
  using namespace std::chrono;
  auto ms = duration_cast<milliseconds>(d).count();
  if (ms < 0) ms = 0;
  if (ms < 1000) return fmt::format("{}ms", ms);
  if (ms < 60'000) return fmt::format("{}.{:02}s", ms / 1000, (ms % 1000) / 10);
  auto s = ms / 1000;
  return fmt::format("{}m{}s", s / 60, s % 60);
}

std::uint8_t id_color(std::uint32_t id) {
  // A cell of the 6x6x6 colour cube chosen by the id's low byte; dark cells
  // are mirrored to their light counterpart.
  unsigned color = static_cast<std::uint8_t>(id) % 215u;
  unsigned row = color / 36, column = color % 36;
  float r = static_cast<float>(row * 51), g = static_cast<float>(column / 6 * 51),
        b = static_cast<float>((column % 6) * 51);
  if (0.2126f * r + 0.7152f * g + 0.0722f * b < 60.0f) {
    row = 5 - row;
    column = 35 - column;
    color = row * 36 + column;
  }
  return static_cast<std::uint8_t>(color + 16);
}

ConnLog::ConnLog() : created_(std::chrono::steady_clock::now()) {
  // Ids only tell log lines apart; they need not be unpredictable.
  thread_local std::mt19937 rng{std::random_device{}()};
  id_ = static_cast<std::uint32_t>(rng());
}

std::string ConnLog::prefix() const { return prefix(std::chrono::steady_clock::now(), log_color()); }

std::string ConnLog::prefix(std::chrono::steady_clock::time_point now, bool color) const {
  std::string elapsed = format_elapsed(now - created_);
  if (color) return fmt::format("[\x1b[38;5;{}m{}\x1b[0m {}] ", id_color(id_), id_, elapsed);
  return fmt::format("[{} {}] ", id_, elapsed);
}

}  // namespace anytls::app
