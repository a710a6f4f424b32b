// Buffers for bytes in flight, lent per thread. A relay direction holds one
// only while bytes are moving, a TLS connection only while its records wait
// to be sent, an AnyTLS session reader only while a record is being taken
// apart: a connection that is quiet holds none. Each thread (each worker)
// keeps its own short free list, so taking and giving back cost no lock and
// no malloc in the steady state; a lease may be given back on another thread.
#pragma once
#include <cstddef>

#include <asio/buffer.hpp>

namespace anytls::net {

class Lease {
 public:
  // Four AnyTLS frames of a full TLS record each (4 x 16 KiB), or four TLS
  // records with their headers and tags, with room to spare.
  static constexpr std::size_t kSize = 64 * 1024 + 512;

  // An empty lease whose reads use at most `window` bytes of the buffer
  // (e.g. whole AnyTLS frames' worth), starting `headroom` bytes in: room a
  // writer may use in front of the data (write_spent(), net/conn.hpp).
  explicit Lease(std::size_t window = kSize, std::size_t headroom = 0)
      : headroom_(headroom < kSize ? headroom : 0),
        window_(window < kSize - headroom_ ? window : kSize - headroom_) {}
  Lease(Lease&& o) noexcept : p_(o.p_), headroom_(o.headroom_), window_(o.window_) { o.p_ = nullptr; }
  Lease& operator=(Lease&& o) noexcept {
    if (this != &o) {
      reset();
      p_ = o.p_;
      headroom_ = o.headroom_;
      window_ = o.window_;
      o.p_ = nullptr;
    }
    return *this;
  }
  Lease(const Lease&) = delete;
  Lease& operator=(const Lease&) = delete;
  ~Lease() { reset(); }

  // Takes a buffer from this thread's free list (or a new one), unless the
  // lease holds one already.
  void acquire();
  // Gives the buffer back to this thread's free list (or frees it when the
  // list is full).
  void reset();

  explicit operator bool() const { return p_ != nullptr; }
  // Where reads go: after the headroom (null without a buffer).
  std::byte* data() const { return p_ ? p_ + headroom_ : nullptr; }
  std::size_t size() const { return window_; }
  std::size_t headroom() const { return headroom_; }
  asio::mutable_buffer buffer() const { return {data(), window_}; }

  // Buffers on this thread's free list, and leases holding a buffer in the
  // whole process (tests and the memory figures).
  static std::size_t free_on_this_thread();
  static std::size_t outstanding();

 private:
  std::byte* p_ = nullptr;
  std::size_t headroom_;
  std::size_t window_;
};

}  // namespace anytls::net
