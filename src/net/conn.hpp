// The two connection shapes every layer above net/ speaks: a byte stream
// (TCP socket, TLS connection, AnyTLS stream) and a datagram flow (UDP socket,
// UDP-over-TCP stream). Inbounds hand them to outbounds through relay().
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <system_error>
#include <utility>

#include <asio/awaitable.hpp>
#include <asio/buffer.hpp>

#include "net/address.hpp"
#include "net/lease.hpp"

namespace anytls::net {

using ReadResult = std::pair<std::error_code, std::size_t>;

// Bytes a connection moved below its own framing (a TLS connection: whole
// TLS records, handshake included), for metrics.
struct WireBytes {
  std::uint64_t in = 0, out = 0;
};

class Conn {
 public:
  virtual ~Conn() = default;
  // Reads at least one byte. A clean end of stream is asio::error::eof.
  virtual asio::awaitable<ReadResult> read_some(asio::mutable_buffer buf) = 0;
  // Writes all of buf (or fails).
  virtual asio::awaitable<std::error_code> write(asio::const_buffer buf) = 0;
  // Ends our sending direction: TCP shutdown(SHUT_WR); on an AnyTLS stream,
  // which has no half-close, a FIN (full close).
  virtual void shutdown_write() = 0;
  // Closes both directions; pending operations complete with an error.
  // Idempotent.
  virtual void close() = 0;
  // Completes when a read would find data. Lets a reader that is usually idle
  // (a pooled session) hold no read buffer while it waits. The default says
  // "readable now".
  virtual asio::awaitable<std::error_code> wait_readable() { co_return std::error_code{}; }
  // Reads at least one byte into a buffer lent by this thread (net/lease.hpp),
  // taken only when there is something to read and given back before
  // waiting, so a quiet connection holds none: what relay() uses. Between
  // calls the lease holds the bytes read last. The default waits for
  // readability first; connections that can try a read without waiting do
  // that instead (a wait after data would cost a wakeup per read).
  virtual asio::awaitable<ReadResult> read_leased(Lease& lease) {
    lease.reset();
    const std::error_code ec = co_await wait_readable();
    if (ec) co_return ReadResult{ec, 0};
    lease.acquire();
    const asio::mutable_buffer buf = lease.buffer();
    co_return co_await read_some(buf);
  }
  // Writes lease.data()[0, n) like write(), but may use those bytes and the
  // lease's headroom as scratch: they are spent afterwards. What relay()
  // uses, so that an AnyTLS stream can put its frame headers in place in
  // front of the data instead of copying the data behind them.
  virtual asio::awaitable<std::error_code> write_spent(Lease& lease, std::size_t n) {
    return write(asio::buffer(lease.data(), n));
  }
  // Connections that keep record boundaries (TLS) can write data in pieces
  // with a header in front of each, one record per header + piece, without
  // copying: write_pieces() writes the header of each piece into the
  // `header` bytes just before it (the caller's headroom for the first, the
  // end of the piece before, already written, for the others). `fill` gets
  // where the header goes and the piece's length.
  using PieceHeader = void (*)(void* ctx, std::uint8_t* at, std::size_t piece_len);
  virtual bool writes_pieces() const { return false; }
  virtual asio::awaitable<std::error_code> write_pieces(std::uint8_t* data, std::size_t n, std::size_t piece,
                                                        std::size_t header, PieceHeader fill, void* ctx) {
    for (std::size_t off = 0; off < n;) {
      const std::size_t len = n - off < piece ? n - off : piece;
      fill(ctx, data + off - header, len);
      const std::error_code ec = co_await write(asio::buffer(data + off - header, header + len));
      if (ec) co_return ec;
      off += len;
    }
    co_return std::error_code{};
  }
  // Hint that the connection is idle and may drop its buffers.
  virtual void release_buffers() {}
  // Why the connection failed, in words, when a read or write error has a
  // story beyond its code (an AnyTLS stream: "remote: dial tcp ...: connection
  // refused"). Empty otherwise.
  virtual std::string failure() const { return {}; }
  // Counted by the layer below at no cost to the byte path (OpenSSL's BIO
  // counters); zero where nothing counts them.
  virtual WireBytes wire_bytes() const { return {}; }
};

class PacketConn {
 public:
  virtual ~PacketConn() = default;
  // One datagram into buf; `from` gets its source. A datagram larger than
  // buf is truncated.
  virtual asio::awaitable<ReadResult> read_packet(asio::mutable_buffer buf, Address& from) = 0;
  virtual asio::awaitable<std::error_code> write_packet(asio::const_buffer buf, const Address& to) = 0;
  virtual void close() = 0;
};

}  // namespace anytls::net
