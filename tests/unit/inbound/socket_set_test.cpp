// net::SocketSet, the bound on the connections of the metrics and Clash API
// servers, on loopback sockets.
#include <gtest/gtest.h>

#include "net/socket_set.hpp"
#include "unit/inbound/loopback.hpp"

namespace anytls::net {
namespace {

using namespace anytls::test;

asio::awaitable<void> socket_set_body() {
  SocketSet set(2);
  auto [c1, s1] = co_await socket_pair();
  auto [c2, s2] = co_await socket_pair();
  auto [c3, s3] = co_await socket_pair();
  auto h1 = set.admit(std::move(s1));
  auto h2 = set.admit(std::move(s2));
  EXPECT_TRUE(h1 && h2);
  if (!h1 || !h2) co_return;
  // Both serve authorised requests (pending ones would make room:
  // EvictsPendingThenIdleNeverActive).
  set.mark(*h1, SocketSet::Use::active);
  set.mark(*h2, SocketSet::Use::active);
  // The third is refused and closed: its peer reads the end at once.
  auto h3 = set.admit(std::move(s3));
  EXPECT_FALSE(h3);
  {
    auto got = co_await read_until_eof(c3);
    EXPECT_EQ(got, "");
  }
  // A connection that ended (its handler let go) frees its place.
  h1.reset();
  auto [c4, s4] = co_await socket_pair();
  auto h4 = set.admit(std::move(s4));
  EXPECT_TRUE(h4);
  if (!h4) co_return;
  // Stop closes every one still open.
  set.close_all();
  EXPECT_FALSE(h2->is_open());
  EXPECT_FALSE(h4->is_open());
  {
    auto got = co_await read_until_eof(c2);
    EXPECT_EQ(got, "");
  }
}

// Full: a new connection takes the place of the oldest pending one, then of
// the oldest idle one; active ones are never closed, and with only active
// ones left the newcomer is refused.
asio::awaitable<void> eviction_body() {
  SocketSet set(3);
  auto [c1, s1] = co_await socket_pair();
  auto [c2, s2] = co_await socket_pair();
  auto [c3, s3] = co_await socket_pair();
  auto h1 = set.admit(std::move(s1));
  auto h2 = set.admit(std::move(s2));
  auto h3 = set.admit(std::move(s3));
  if (!h1 || !h2 || !h3) {
    ADD_FAILURE() << "admit under the limit";
    co_return;
  }
  set.mark(*h1, SocketSet::Use::active);
  set.mark(*h2, SocketSet::Use::idle);
  // h3 pending: the first to go.
  auto [c4, s4] = co_await socket_pair();
  auto h4 = set.admit(std::move(s4));
  EXPECT_TRUE(h4);
  EXPECT_FALSE(h3->is_open());
  {
    auto got = co_await read_until_eof(c3);
    EXPECT_EQ(got, "");
  }
  EXPECT_EQ(set.evictions(), 1u);
  // With no pending one left, the idle one goes.
  set.mark(*h4, SocketSet::Use::active);
  auto [c5, s5] = co_await socket_pair();
  auto h5 = set.admit(std::move(s5));
  EXPECT_TRUE(h5);
  EXPECT_FALSE(h2->is_open());
  EXPECT_TRUE(h1->is_open());
  EXPECT_TRUE(h4->is_open());
  set.mark(*h5, SocketSet::Use::active);
  // Only active ones: refused.
  auto [c6, s6] = co_await socket_pair();
  EXPECT_FALSE(set.admit(std::move(s6)));
  {
    auto got = co_await read_until_eof(c6);
    EXPECT_EQ(got, "");
  }
  EXPECT_TRUE(h1->is_open() && h4->is_open() && h5->is_open());
  set.close_all();
}

TEST(SocketSet, EvictsPendingThenIdleNeverActive) {
  asio::io_context io;
  run(io, eviction_body(), [] {});
}

TEST(SocketSet, BoundedAndClosedOnStop) {
  asio::io_context io;
  run(io, socket_set_body(), [] {});
}

}  // namespace
}  // namespace anytls::net
