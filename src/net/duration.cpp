#include "net/duration.hpp"

#include <cstdint>

namespace anytls::net {
namespace {

constexpr std::uint64_t kLimit = std::uint64_t{1} << 63;  // |INT64_MIN|

bool is_digit(char c) { return c >= '0' && c <= '9'; }

// Leading decimal integer; false on overflow past 1<<63.
bool leading_int(std::string_view& s, std::uint64_t& x) {
  x = 0;
  std::size_t i = 0;
  for (; i < s.size() && is_digit(s[i]); ++i) {
    if (x > kLimit / 10) return false;
    x = x * 10 + static_cast<std::uint64_t>(s[i] - '0');
    if (x > kLimit) return false;
  }
  s.remove_prefix(i);
  return true;
}

// Leading fraction digits; extra digits beyond precision are dropped.
void leading_fraction(std::string_view& s, std::uint64_t& x, double& scale) {
  x = 0;
  scale = 1;
  bool overflow = false;
  std::size_t i = 0;
  for (; i < s.size() && is_digit(s[i]); ++i) {
    if (overflow) continue;
    if (x > (kLimit - 1) / 10) {
      overflow = true;
      continue;
    }
    std::uint64_t y = x * 10 + static_cast<std::uint64_t>(s[i] - '0');
    if (y > kLimit) {
      overflow = true;
      continue;
    }
    x = y;
    scale *= 10;
  }
  s.remove_prefix(i);
}

std::optional<std::uint64_t> unit_ns(std::string_view u, bool allow_days) {
  if (u == "ns") return 1;
  if (u == "us" || u == "\u00b5s" || u == "\u03bcs") return 1'000;
  if (u == "ms") return 1'000'000;
  if (u == "s") return 1'000'000'000;
  if (u == "m") return 60'000'000'000;
  if (u == "h") return 3'600'000'000'000;
  if (allow_days && u == "d") return 86'400'000'000'000;
  return std::nullopt;
}

// Writes the fraction of v (prec digits) without trailing zeros, before w.
// Returns v / 10^prec.
std::uint64_t fmt_frac(std::string& out, std::uint64_t v, int prec) {
  std::string digits;
  bool print = false;
  for (int i = 0; i < prec; ++i) {
    char digit = static_cast<char>('0' + v % 10);
    print = print || digit != '0';
    if (print) digits.insert(digits.begin(), digit);
    v /= 10;
  }
  if (print) out.insert(0, "." + digits);
  return v;
}

}  // namespace

std::optional<Duration> parse_duration(std::string_view s, DurationParseOptions opts) {
  bool neg = false;
  if (!s.empty() && (s[0] == '-' || s[0] == '+')) {
    neg = s[0] == '-';
    s.remove_prefix(1);
  }
  if (s == "0") return Duration{0};
  if (s.empty()) return std::nullopt;
  std::uint64_t d = 0;
  while (!s.empty()) {
    if (!(s[0] == '.' || is_digit(s[0]))) return std::nullopt;
    std::size_t before = s.size();
    std::uint64_t v = 0;
    if (!leading_int(s, v)) return std::nullopt;
    bool pre = before != s.size();
    bool post = false;
    std::uint64_t f = 0;
    double scale = 1;
    if (!s.empty() && s[0] == '.') {
      s.remove_prefix(1);
      std::size_t b = s.size();
      leading_fraction(s, f, scale);
      post = b != s.size();
    }
    if (!pre && !post) return std::nullopt;
    std::size_t i = 0;
    while (i < s.size() && !(s[i] == '.' || is_digit(s[i]))) ++i;
    if (i == 0) return std::nullopt;  // missing unit
    auto unit = unit_ns(s.substr(0, i), opts.allow_days);
    s.remove_prefix(i);
    if (!unit) return std::nullopt;
    if (v > kLimit / *unit) return std::nullopt;
    v *= *unit;
    if (f > 0) {
      v += static_cast<std::uint64_t>(static_cast<double>(f) * (static_cast<double>(*unit) / scale));
      if (v > kLimit) return std::nullopt;
    }
    d += v;
    if (d > kLimit) return std::nullopt;
  }
  if (neg) return Duration{static_cast<std::int64_t>(0 - d)};
  if (d > kLimit - 1) return std::nullopt;
  return Duration{static_cast<std::int64_t>(d)};
}

std::string format_duration(Duration dur) {
  std::int64_t n = dur.count();
  bool neg = n < 0;
  std::uint64_t u = static_cast<std::uint64_t>(n);
  if (neg) u = 0 - u;
  std::string out;
  if (u < 1'000'000'000) {
    if (u == 0) return "0s";
    int prec;
    const char* unit;
    if (u < 1'000) {
      prec = 0;
      unit = "ns";
    } else if (u < 1'000'000) {
      prec = 3;
      unit = "\u00b5s";
    } else {
      prec = 6;
      unit = "ms";
    }
    u = fmt_frac(out, u, prec);
    out = std::to_string(u) + out + unit;
  } else {
    out = "s";
    u = fmt_frac(out, u, 9);  // out: ".5s" or "s"; u: whole seconds
    // Built front to back (GCC 12 -O3 warns about string::insert(0, ...)).
    std::string head;
    const std::uint64_t hours = u / 3600, minutes = u / 60 % 60;
    if (hours > 0) head = std::to_string(hours) + "h";
    if (u >= 60) head += std::to_string(minutes) + "m";
    head += std::to_string(u % 60);
    out = head + out;
  }
  if (neg) out = "-" + out;
  return out;
}

}  // namespace anytls::net
