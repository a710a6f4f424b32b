// Rate-limited logging on virtual time: one line per window, then a count.
#include "net/log_limit.hpp"

#include <gtest/gtest.h>

namespace anytls::net {
namespace {

TEST(LogLimit, FirstWrittenRestCountedThenSummarised) {
  VirtualClock clock;
  LogLimit limit(std::chrono::seconds(10), &clock);
  auto first = limit.admit();
  ASSERT_TRUE(first);
  EXPECT_EQ(*first, "");
  for (int i = 0; i < 8976; ++i) EXPECT_FALSE(limit.admit());
  clock.advance(std::chrono::milliseconds(9999));
  EXPECT_FALSE(limit.admit());
  clock.advance(std::chrono::milliseconds(1));
  auto next = limit.admit();
  ASSERT_TRUE(next);
  EXPECT_EQ(*next, " (8977 more in the last 10s)");
  // A quiet period resets: the next line has no count.
  clock.advance(std::chrono::seconds(60));
  auto quiet = limit.admit();
  ASSERT_TRUE(quiet);
  EXPECT_EQ(*quiet, "");
}

}  // namespace
}  // namespace anytls::net
