// A connection that lives on another worker (net/workers.hpp), used from
// this one: every operation hops to the owner's thread, runs there on the
// caller's buffer, and resumes the caller on its own thread. Two thread
// hand-offs per operation and no copy: the bytes go straight between the
// caller's buffer and the owner's. The owner's object is destroyed on its
// own thread. The anytls outbound hands these out when a stream takes an
// idle session of another worker.
#pragma once
#include <memory>
#include <mutex>
#include <string>

#include <asio/io_context.hpp>

#include "net/conn.hpp"

namespace anytls::net {

struct CrossWorkerFailure;

class CrossWorkerConn final : public Conn {
 public:
  // inner: used on the owner's thread only (a unique_ptr converts).
  CrossWorkerConn(asio::io_context& owner, std::shared_ptr<Conn> inner);
  ~CrossWorkerConn() override;

  asio::awaitable<ReadResult> read_some(asio::mutable_buffer buf) override;
  // Holds the lease across the wait: a wait and a read would be two round
  // trips to the owner per read.
  asio::awaitable<ReadResult> read_leased(Lease& lease) override;
  asio::awaitable<std::error_code> write(asio::const_buffer buf) override;
  // The lease stays the caller's; the owner's connection may frame it in
  // place while the caller waits.
  asio::awaitable<std::error_code> write_spent(Lease& lease, std::size_t n) override;
  void shutdown_write() override;
  void close() override;
  asio::awaitable<std::error_code> wait_readable() override;
  void release_buffers() override;
  // The owner's story of the last failed operation (taken on its thread).
  std::string failure() const override;

 private:
  asio::io_context& owner_;
  // Shared with the posted close()/shutdown_write() calls, which may run
  // after this wrapper is gone; the last owner drops it on the owner's thread.
  std::shared_ptr<Conn> inner_;
  // Written on the owner's thread by a failing operation while the other
  // direction's caller may read it.
  std::shared_ptr<CrossWorkerFailure> failure_;
};

}  // namespace anytls::net
