// Go's reference-time layouts ("2006-01-02 15:04:05 -0700"), which
// sing-box's `tools synctime -f` takes, applied to a time.
#pragma once
#include <chrono>
#include <string>
#include <string_view>

namespace anytls::app {

// sing-box's C.TimeLayout.
inline constexpr std::string_view kGoTimeLayout = "2006-01-02 15:04:05 -0700";

// t in local time, written as `layout` says. Known elements: 2006 06 01 1
// Jan January 02 2 _2 15 03 3 04 4 05 5 PM pm Mon Monday MST -0700 -07:00
// -07 Z0700 Z07:00 and fractions .000 .000000 .000000000; anything else is
// copied as it is.
std::string format_go_time(std::chrono::system_clock::time_point t, std::string_view layout);

}  // namespace anytls::app
