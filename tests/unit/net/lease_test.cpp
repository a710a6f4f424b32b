// net::Lease: the per-thread free list behind relay and TLS buffers.
#include <gtest/gtest.h>

#include <thread>
#include <vector>

#include "net/lease.hpp"

namespace anytls::net {
namespace {

TEST(Lease, EmptyUntilAcquiredAndReusedAfterReset) {
  const std::size_t out0 = Lease::outstanding();
  Lease a(1000);
  EXPECT_FALSE(a);
  EXPECT_EQ(a.size(), 1000u);
  a.acquire();
  ASSERT_TRUE(a);
  std::byte* p = a.data();
  a.acquire();  // already holds one: unchanged
  EXPECT_EQ(a.data(), p);
  EXPECT_EQ(Lease::outstanding(), out0 + 1);
  a.reset();
  EXPECT_FALSE(a);
  EXPECT_EQ(Lease::outstanding(), out0);
  Lease b;
  EXPECT_EQ(b.size(), Lease::kSize);
  b.acquire();
  EXPECT_EQ(b.data(), p);  // the buffer a gave back
}

TEST(Lease, WindowNeverExceedsTheBuffer) {
  Lease l(10 * Lease::kSize);
  EXPECT_EQ(l.size(), Lease::kSize);
  l.acquire();
  EXPECT_EQ(l.buffer().size(), Lease::kSize);
}

TEST(Lease, FreeListIsBounded) {
  std::vector<Lease> many(20);
  for (auto& l : many) l.acquire();
  many.clear();
  EXPECT_EQ(Lease::free_on_this_thread(), 8u);
}

TEST(Lease, MovesAndGivesBackOnAnotherThread) {
  const std::size_t out0 = Lease::outstanding();
  Lease a;
  a.acquire();
  Lease b(std::move(a));
  EXPECT_FALSE(a);
  EXPECT_TRUE(b);
  std::thread t([l = std::move(b)]() mutable { l.reset(); });
  t.join();
  EXPECT_EQ(Lease::outstanding(), out0);
}

}  // namespace
}  // namespace anytls::net
