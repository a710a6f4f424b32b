// net::HeapTrim: one trim after a burst of handshakes has gone quiet, none
// for a handful, none without a HeapTrim.
#include <gtest/gtest.h>

#include <asio/io_context.hpp>

#include "net/heap_trim.hpp"

namespace anytls::net {
namespace {

TEST(HeapTrim, TrimsOnceAfterABurstAndNotForAFew) {
  HeapTrim::note_handshake();  // no HeapTrim yet: nothing scheduled
  asio::io_context io;
  HeapTrim trim(io.get_executor());
  const unsigned before = HeapTrim::trims();
  for (int i = 0; i < HeapTrim::kBurst + 8; ++i) HeapTrim::note_handshake();
  io.run();  // returns when the quiet wait has ended
  EXPECT_EQ(HeapTrim::trims(), before + 1);
  io.restart();
  for (int i = 0; i < 3; ++i) HeapTrim::note_handshake();
  io.run();
  EXPECT_EQ(HeapTrim::trims(), before + 1);
}

}  // namespace
}  // namespace anytls::net
