// net::HeapTrim: one trim after a burst of handshakes (or of freed buffers)
// has gone quiet, none for a handful, none without a HeapTrim.
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
  for (int i = 0; i < 40; ++i) HeapTrim::note_handshake();  // 40 x 64 KiB >= kBurstBytes
  io.run();  // returns when the quiet wait has ended
  EXPECT_EQ(HeapTrim::trims(), before + 1);
  io.restart();
  for (int i = 0; i < 3; ++i) HeapTrim::note_handshake();
  io.run();
  EXPECT_EQ(HeapTrim::trims(), before + 1);
  // Buffers given back count as well.
  io.restart();
  HeapTrim::note_freed(HeapTrim::kBurstBytes);
  io.run();
  EXPECT_EQ(HeapTrim::trims(), before + 2);
}

}  // namespace
}  // namespace anytls::net
