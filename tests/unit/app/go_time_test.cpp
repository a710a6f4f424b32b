// Go's reference-time layouts (tools synctime -f, the ntp log line).
#include "app/go_time.hpp"

#include <cstdlib>
#include <ctime>

#include <gtest/gtest.h>

namespace anytls::app {
namespace {

using namespace std::chrono;

struct GoTime : ::testing::Test {
  void SetUp() override {
    ::setenv("TZ", "UTC", 1);
    ::tzset();
  }
};

// 2026-03-05 07:08:09.123456789 UTC, a Thursday.
const system_clock::time_point kT =
    system_clock::time_point(duration_cast<system_clock::duration>(seconds(1772694489) + nanoseconds(123456789)));

TEST_F(GoTime, SingBoxLayout) {
  EXPECT_EQ(format_go_time(kT, kGoTimeLayout), "2026-03-05 07:08:09 +0000");
}

TEST_F(GoTime, Elements) {
  EXPECT_EQ(format_go_time(kT, "2006-01-02"), "2026-03-05");
  EXPECT_EQ(format_go_time(kT, "Mon Jan _2 3:04:05 PM MST 2006"), "Thu Mar  5 7:08:09 AM UTC 2026");
  EXPECT_EQ(format_go_time(kT, "Monday, January 2, 06"), "Thursday, March 5, 26");
  EXPECT_EQ(format_go_time(kT, "15:04:05.000 Z07:00"), "07:08:09.123 Z");
  EXPECT_EQ(format_go_time(kT, "05.000000|05.000000000|-07:00"), "09.123456|09.123456789|+00:00");
  EXPECT_EQ(format_go_time(kT, "literal text: x"), "literal text: x");
}

TEST_F(GoTime, OtherZone) {
  ::setenv("TZ", "Asia/Kolkata", 1);  // +05:30, no daylight saving
  ::tzset();
  EXPECT_EQ(format_go_time(kT, kGoTimeLayout), "2026-03-05 12:38:09 +0530");
  EXPECT_EQ(format_go_time(kT, "Z0700 -07"), "+0530 +05");
}

}  // namespace
}  // namespace anytls::app
