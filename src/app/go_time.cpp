#include "app/go_time.hpp"

#include <array>
#include <cstdio>
#include <ctime>

namespace anytls::app {

namespace {

std::string pad(long v, int width, char fill = '0') {
  std::string s = std::to_string(v);
  while (static_cast<int>(s.size()) < width) s.insert(s.begin(), fill);
  return s;
}

std::string zone(long gmtoff, bool colon, bool z, bool hours_only) {
  if (z && gmtoff == 0) return "Z";
  const char sign = gmtoff < 0 ? '-' : '+';
  const long a = gmtoff < 0 ? -gmtoff : gmtoff;
  std::string s(1, sign);
  s += pad(a / 3600, 2);
  if (hours_only) return s;
  if (colon) s += ':';
  return s + pad(a / 60 % 60, 2);
}

}  // namespace

std::string format_go_time(std::chrono::system_clock::time_point t, std::string_view layout) {
  static constexpr std::array<const char*, 12> kMonths = {"January", "February", "March",     "April",
                                                          "May",     "June",     "July",      "August",
                                                          "September", "October", "November", "December"};
  static constexpr std::array<const char*, 7> kDays = {"Sunday",   "Monday", "Tuesday", "Wednesday",
                                                       "Thursday", "Friday", "Saturday"};
  const std::time_t secs = std::chrono::system_clock::to_time_t(t);
  std::tm tm{};
  localtime_r(&secs, &tm);
  const auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count() % 1000000000;
  const int hour12 = tm.tm_hour % 12 == 0 ? 12 : tm.tm_hour % 12;
  std::string out;
  std::size_t i = 0;
  auto take = [&](std::string_view token) {
    if (layout.substr(i, token.size()) != token) return false;
    i += token.size();
    return true;
  };
  while (i < layout.size()) {
    if (take("2006")) out += pad(tm.tm_year + 1900, 4);
    else if (take("January")) out += kMonths[tm.tm_mon];
    else if (take("Jan")) out += std::string(kMonths[tm.tm_mon]).substr(0, 3);
    else if (take("Monday")) out += kDays[tm.tm_wday];
    else if (take("Mon")) out += std::string(kDays[tm.tm_wday]).substr(0, 3);
    else if (take("MST")) out += tm.tm_zone ? tm.tm_zone : "";
    else if (take("Z07:00")) out += zone(tm.tm_gmtoff, true, true, false);
    else if (take("Z0700")) out += zone(tm.tm_gmtoff, false, true, false);
    else if (take("-07:00")) out += zone(tm.tm_gmtoff, true, false, false);
    else if (take("-0700")) out += zone(tm.tm_gmtoff, false, false, false);
    else if (take("-07")) out += zone(tm.tm_gmtoff, false, false, true);
    else if (take(".000000000")) out += "." + pad(ns, 9);
    else if (take(".000000")) out += "." + pad(ns / 1000, 6);
    else if (take(".000")) out += "." + pad(ns / 1000000, 3);
    else if (take("06")) out += pad(tm.tm_year % 100, 2);
    else if (take("01")) out += pad(tm.tm_mon + 1, 2);
    else if (take("02")) out += pad(tm.tm_mday, 2);
    else if (take("_2")) out += pad(tm.tm_mday, 2, ' ');
    else if (take("15")) out += pad(tm.tm_hour, 2);
    else if (take("03")) out += pad(hour12, 2);
    else if (take("04")) out += pad(tm.tm_min, 2);
    else if (take("05")) out += pad(tm.tm_sec, 2);
    else if (take("PM")) out += tm.tm_hour < 12 ? "AM" : "PM";
    else if (take("pm")) out += tm.tm_hour < 12 ? "am" : "pm";
    else if (take("1")) out += std::to_string(tm.tm_mon + 1);
    else if (take("2")) out += std::to_string(tm.tm_mday);
    else if (take("3")) out += std::to_string(hour12);
    else if (take("4")) out += std::to_string(tm.tm_min);
    else if (take("5")) out += std::to_string(tm.tm_sec);
    else out += layout[i++];
  }
  return out;
}

}  // namespace anytls::app
