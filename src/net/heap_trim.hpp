// When freed memory goes back to the system. tune_allocator() stops glibc
// from doing it inside free() (see there); instead HeapTrim gives back the
// memory a burst of TLS handshakes leaves behind as soon as the burst is
// over. A handshake allocates and frees far
// more than the connection keeps; after a thousand of them the freed memory
// lies scattered through the heap and still counts as resident until
// malloc_trim(3) returns it. The anytls inbound and outbound also trim on
// their periodic ticks; this closes the gap right after a burst.
#pragma once
#include <chrono>
#include <cstddef>

#include <asio/any_io_executor.hpp>

namespace anytls::net {

class HeapTrim {
 public:
  // A trim follows once at least kBurstBytes were given back (a handshake
  // counts kHandshakeBytes: what it allocates and frees), then kQuiet
  // passed without more, and at most one trim per kMinInterval (a trim
  // walks the whole heap).
  static constexpr std::size_t kHandshakeBytes = 64 * 1024;
  static constexpr std::size_t kBurstBytes = 32 * kHandshakeBytes;
  static constexpr auto kQuiet = std::chrono::milliseconds(200);
  static constexpr auto kMinInterval = std::chrono::seconds(1);

  // Trims on ex, from now until destroyed (one per process: the app's).
  explicit HeapTrim(asio::any_io_executor ex);
  ~HeapTrim();
  HeapTrim(const HeapTrim&) = delete;
  HeapTrim& operator=(const HeapTrim&) = delete;

  // After each completed handshake, on any thread; nothing without a
  // HeapTrim (tests, tools).
  static void note_handshake() { note_freed(kHandshakeBytes); }
  // After giving back buffers that may leave holes in the heap (a session
  // that went quiet), on any thread.
  static void note_freed(std::size_t bytes);
  // Trims done so far (tests and logs).
  static unsigned trims();

  // Called once at process start, before any thread: glibc's free() hands
  // the top of a heap back (madvise) whenever more than 128 KiB is free
  // there, and the next malloc faults the pages in again. Connections take
  // and give back 64 KiB record and write buffers all the time, so that was
  // a system call and sixteen page faults per buffer: at 16 streams the
  // server spent 4.0 CPU s/GB instead of 1.4. free() now keeps up to
  // kTrimThreshold at the top (the trims here and on the anytls ticks give
  // it back when quiet), and allocations below kMmapThreshold come from the
  // heap rather than a fresh mmap each time. The number of arenas stays
  // glibc's default (8 per core): one per worker thread is what it uses.
  static constexpr std::size_t kTrimThreshold = 16 * 1024 * 1024;
  static constexpr std::size_t kMmapThreshold = 1024 * 1024;
  static void tune_allocator();
};

}  // namespace anytls::net
