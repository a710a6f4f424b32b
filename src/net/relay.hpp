// Bidirectional copy between two byte streams with half-close.
#pragma once
#include <chrono>
#include <cstdint>
#include <system_error>

#include <asio/awaitable.hpp>

#include "net/conn.hpp"

namespace anytls::net {

struct RelayStats {
  std::uint64_t a_to_b = 0;  // bytes read from a and written to b ("up" for an inbound)
  std::uint64_t b_to_a = 0;  // bytes read from b and written to a ("down")
  std::error_code error;     // first error seen (EOF is not an error); empty on a clean close
  bool idle_timeout = false; // the idle watchdog closed both sides
};

// Copies a->b and b->a until both directions have ended.
//  - EOF on one side: shutdown_write() on the other side; the other direction
//    keeps running (half-close).
//  - An error in either direction (read or write): both conns are closed, so
//    the other direction unblocks and ends too.
//  - idle_timeout > 0: when no byte moved in either direction for that long,
//    both conns are closed.
// Each direction reads into a lease (net/lease.hpp), held only while bytes
// move: a quiet relay holds no buffer. The conns are not closed on a clean
// end; the caller owns them.
// Four AnyTLS frames of 16377 data bytes: a full read leaves as exactly four
// 16 KiB TLS records, in one send(2).
inline constexpr std::size_t kRelayBufferSize = 4 * (16 * 1024 - 7);
// Room in front of what a relay reads, where an AnyTLS stream puts the first
// frame header instead of copying the data (Conn::write_spent); 16 keeps the
// data aligned.
inline constexpr std::size_t kRelayHeadroom = 16;

asio::awaitable<RelayStats> relay(Conn& a, Conn& b,
                                  std::chrono::steady_clock::duration idle_timeout = {});

}  // namespace anytls::net
