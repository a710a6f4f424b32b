// Gives the memory a burst of TLS handshakes leaves behind back to the
// system as soon as the burst is over. A handshake allocates and frees far
// more than the connection keeps; after a thousand of them the freed memory
// lies scattered through the heap and still counts as resident until
// malloc_trim(3) returns it. The anytls inbound and outbound also trim on
// their periodic ticks; this closes the gap right after a burst.
#pragma once
#include <chrono>

#include <asio/any_io_executor.hpp>

namespace anytls::net {

class HeapTrim {
 public:
  // At least this many handshakes, then this much quiet, and at most one
  // trim per kMinInterval (a trim walks the whole heap).
  static constexpr int kBurst = 32;
  static constexpr auto kQuiet = std::chrono::milliseconds(200);
  static constexpr auto kMinInterval = std::chrono::seconds(1);

  // Trims on ex, from now until destroyed (one per process: the app's).
  explicit HeapTrim(asio::any_io_executor ex);
  ~HeapTrim();
  HeapTrim(const HeapTrim&) = delete;
  HeapTrim& operator=(const HeapTrim&) = delete;

  // After each completed handshake, on any thread; nothing without a
  // HeapTrim (tests, tools).
  static void note_handshake();
  // Trims done so far (tests and logs).
  static unsigned trims();
};

}  // namespace anytls::net
