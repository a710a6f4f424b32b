// Go-style durations: "300ms", "1h30m", "1.5h", "0". Parsing follows Go's
// time.ParseDuration, printing follows Go's time.Duration.String(), so logs
// and configs read exactly like sing-box's ("1h5m30s", "55m0s", "300ms").
#pragma once
#include <chrono>
#include <optional>
#include <string>
#include <string_view>

namespace anytls::net {

using Duration = std::chrono::nanoseconds;

struct DurationParseOptions {
  // Also accept "d" (24h), as sing-box's config decoder does. Go's
  // time.ParseDuration does not.
  bool allow_days = false;
};

// nullopt on a malformed string or on overflow of int64 nanoseconds.
// Grammar: [-+]? ( digits? ( "." digits? )? unit )+ , or exactly "0"
// (with optional sign); units ns us µs μs ms s m h (and d when allowed).
std::optional<Duration> parse_duration(std::string_view s, DurationParseOptions opts = {});

// Exactly Go's Duration.String(): "0s", "1.5s", "2m3.5s", "1h5m30s",
// "55m0s", "300ms", "1.2µs", "15ns", "-5s".
std::string format_duration(Duration d);

}  // namespace anytls::net
