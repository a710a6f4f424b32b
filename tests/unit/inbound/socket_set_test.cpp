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

TEST(SocketSet, BoundedAndClosedOnStop) {
  asio::io_context io;
  run(io, socket_set_body(), [] {});
}

}  // namespace
}  // namespace anytls::net
