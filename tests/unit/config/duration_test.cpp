#include "net/duration.hpp"

#include <gtest/gtest.h>

#include <chrono>

namespace {

using namespace std::chrono_literals;
using anytls::net::Duration;
using anytls::net::format_duration;
using anytls::net::parse_duration;

TEST(ParseDuration, GoExamples) {
  EXPECT_EQ(parse_duration("300ms"), Duration(300ms));
  EXPECT_EQ(parse_duration("30s"), Duration(30s));
  EXPECT_EQ(parse_duration("5m"), Duration(5min));
  EXPECT_EQ(parse_duration("1h30m"), Duration(90min));
  EXPECT_EQ(parse_duration("1.5h"), Duration(90min));
  EXPECT_EQ(parse_duration("0"), Duration(0));
  EXPECT_EQ(parse_duration("+0"), Duration(0));
  EXPECT_EQ(parse_duration("-0"), Duration(0));
  EXPECT_EQ(parse_duration("0s"), Duration(0));
  EXPECT_EQ(parse_duration("-5s"), Duration(-5s));
  EXPECT_EQ(parse_duration("+5s"), Duration(5s));
  EXPECT_EQ(parse_duration("1ns"), Duration(1ns));
  EXPECT_EQ(parse_duration("1us"), Duration(1us));
  EXPECT_EQ(parse_duration("1\u00b5s"), Duration(1us));
  EXPECT_EQ(parse_duration("1\u03bcs"), Duration(1us));
  EXPECT_EQ(parse_duration("2h45m30.5s"), Duration(2h + 45min + 30500ms));
  EXPECT_EQ(parse_duration(".5s"), Duration(500ms));
  EXPECT_EQ(parse_duration("5.s"), Duration(5s));
  EXPECT_EQ(parse_duration("1.000000001s"), Duration(1000000001ns));
  EXPECT_EQ(parse_duration("100.00100s"), Duration(100001ms));
  EXPECT_EQ(parse_duration("9223372036854775807ns"), Duration(INT64_MAX));
  EXPECT_EQ(parse_duration("-9223372036854775808ns"), Duration(INT64_MIN));
}

TEST(ParseDuration, Rejects) {
  for (const char* bad : {"", "-", "+", "5", "5x", "x", ".", ".s", "s", "1h-5m", "3000000h", "9223372036854775808ns",
                          "1d", " 5s", "5s ", "5 s", "0x", "--5s", "1.5"}) {
    EXPECT_FALSE(parse_duration(bad).has_value()) << bad;
  }
}

TEST(ParseDuration, DaysOnlyWhenAllowed) {
  EXPECT_FALSE(parse_duration("1d").has_value());
  EXPECT_EQ(parse_duration("1d12h", {.allow_days = true}), Duration(36h));
}

TEST(FormatDuration, GoStrings) {
  EXPECT_EQ(format_duration(0s), "0s");
  EXPECT_EQ(format_duration(1ns), "1ns");
  EXPECT_EQ(format_duration(1100ns), "1.1\u00b5s");
  EXPECT_EQ(format_duration(2200us), "2.2ms");
  EXPECT_EQ(format_duration(300ms), "300ms");
  EXPECT_EQ(format_duration(1500ms), "1.5s");
  EXPECT_EQ(format_duration(30s), "30s");
  EXPECT_EQ(format_duration(2min + 3500ms), "2m3.5s");
  EXPECT_EQ(format_duration(55min), "55m0s");
  EXPECT_EQ(format_duration(1h), "1h0m0s");
  EXPECT_EQ(format_duration(1h + 5min + 30s), "1h5m30s");
  EXPECT_EQ(format_duration(67min + 12s), "1h7m12s");
  EXPECT_EQ(format_duration(-5s), "-5s");
  EXPECT_EQ(format_duration(Duration(-1)), "-1ns");
  EXPECT_EQ(format_duration(Duration(1000000001)), "1.000000001s");
  EXPECT_EQ(format_duration(Duration(INT64_MAX)), "2562047h47m16.854775807s");
  EXPECT_EQ(format_duration(Duration(INT64_MIN)), "-2562047h47m16.854775808s");
}

TEST(Duration, RoundTrip) {
  for (Duration d : {Duration(0), Duration(1), Duration(999), Duration(1500), Duration(300ms), Duration(1500ms),
                     Duration(2min + 3500ms), Duration(55min), Duration(1h + 5min + 30s), Duration(-90s),
                     Duration(123456789012345), Duration(INT64_MAX), Duration(INT64_MIN)}) {
    auto parsed = parse_duration(format_duration(d));
    ASSERT_TRUE(parsed.has_value()) << format_duration(d);
    EXPECT_EQ(*parsed, d) << format_duration(d);
  }
  for (const char* s : {"0s", "300ms", "1h5m30s", "55m0s", "2m3.5s", "1.5s", "10m0s"}) {
    EXPECT_EQ(format_duration(*parse_duration(s)), s);
  }
}

}  // namespace
