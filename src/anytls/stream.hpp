// One AnyTLS stream (SYN..FIN) inside a session. Reads come from a bounded
// receive buffer that the session reader fills; when it is full the session
// reader waits, which is the protocol's only backpressure (AnyTLS has no
// flow control), so a stream never buffers more than its limit.
//
// A stream sees its session only through StreamTransport (write, FIN,
// SYNACK, receive budget), as proxygen's HTTPTransaction sees its
// HTTPSession; the session drives the stream through the "session side"
// methods below. Neither edits the other's fields.
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include <asio/any_io_executor.hpp>

#include "net/conn.hpp"
#include "net/result.hpp"
#include "net/signal.hpp"

namespace anytls::proto {

// The receive bytes all streams of a session may hold together: a peer that
// opens many streams whose readers stall cannot make the session hold more.
class ReceiveBudget {
 public:
  // parent: a budget shared with other sessions (an inbound's total), taken
  // from and given back to along with this one; it must outlive this one
  // and live on the same thread.
  ReceiveBudget(const asio::any_io_executor& ex, std::size_t limit, ReceiveBudget* parent = nullptr)
      : limit_(limit), room_(ex), parent_(parent) {}
  std::size_t available() const {
    std::size_t own = used_ >= limit_ ? 0 : limit_ - used_;
    return parent_ ? std::min(own, parent_->available()) : own;
  }
  void take(std::size_t n) {
    used_ += n;
    if (parent_) parent_->take(n);
  }
  void give_back(std::size_t n) {
    n = std::min(n, used_);
    if (n == 0) return;
    // Only a spent budget has waiters (wait_room() waits on the one that is
    // spent): waking on every give-back would cost a timer cancel and re-arm
    // per read and per stream write.
    const bool was_spent = used_ >= limit_;
    used_ -= n;
    if (was_spent) room_.notify_all();
    if (parent_) parent_->give_back(n);
  }
  std::size_t used() const { return used_; }
  // Called when a child finds this (shared) budget spent; the owner frees
  // room, e.g. by closing the largest holder.
  void set_exhausted_handler(std::function<void()> h) { on_exhausted_ = std::move(h); }
  // Someone took past the limit without waiting for room (the send side).
  void notify_exhausted() {
    if (on_exhausted_) on_exhausted_();
  }
  // Completes when some stream gave bytes back (or the session closes): to
  // this budget, or to the shared one when that is what ran out.
  asio::awaitable<void> wait_room() {
    if (parent_ && parent_->available() == 0) {
      if (parent_->on_exhausted_) parent_->on_exhausted_();
      return parent_->room_.wait();
    }
    return room_.wait();
  }
  void wake() { room_.notify_all(); }

 private:
  std::size_t limit_;
  std::size_t used_ = 0;
  net::Signal room_;
  ReceiveBudget* parent_;
  std::function<void()> on_exhausted_;
};

// What a stream needs from its session.
class StreamTransport {
 public:
  // Queues data as PSH frames (waiting while the session's write buffer is
  // full). connection_aborted when the session is gone, broken_pipe when the
  // stream is.
  virtual asio::awaitable<std::error_code> write_stream(std::uint32_t sid, const std::uint8_t* p, std::size_t n) = 0;
  // The same for bytes that may be spent: p has `headroom` writable bytes in
  // front, and p[0, n) may be overwritten (net::Conn::write_spent).
  virtual asio::awaitable<std::error_code> write_stream_spent(std::uint32_t sid, std::uint8_t* p, std::size_t n,
                                                              std::size_t headroom) = 0;
  // The stream is done locally: sends FIN (when `send_fin`) and forgets it.
  virtual void end_stream(std::uint32_t sid, bool send_fin) = 0;
  // Server: the SYNACK for sid (empty text = success), sent to v2 clients.
  virtual void send_synack(std::uint32_t sid, std::string_view error_text) = 0;
  virtual ReceiveBudget& receive_budget() = 0;
  virtual bool transport_closed() const = 0;
  virtual const asio::any_io_executor& executor() const = 0;

 protected:
  ~StreamTransport() = default;
};

class Stream : public std::enable_shared_from_this<Stream> {
 public:
  // `transport` keeps the session alive as long as the stream lives.
  Stream(std::shared_ptr<StreamTransport> transport, std::uint32_t sid, std::size_t buffer_limit);
  ~Stream();
  Stream(const Stream&) = delete;
  Stream& operator=(const Stream&) = delete;

  std::uint32_t id() const { return sid_; }
  const asio::any_io_executor& executor() const { return transport_->executor(); }

  // ---- user side: like a socket.
  // After the peer's FIN, buffered data is still returned, then
  // asio::error::eof. A SYNACK error gives asio::error::connection_refused
  // (text in failure()); a dead session gives asio::error::connection_aborted.
  asio::awaitable<net::ReadResult> read_some(asio::mutable_buffer buf);
  // Like read_some, into a lease taken only when data is there: a waiting
  // reader holds none, and the session's reader takes it for the reader
  // when a frame arrives and copies straight into it.
  asio::awaitable<net::ReadResult> read_leased(net::Lease& lease);
  asio::awaitable<std::error_code> write(asio::const_buffer buf);
  // Like write(), for bytes in a lease that may be spent (net::Conn).
  asio::awaitable<std::error_code> write_spent(net::Lease& lease, std::size_t n);
  // Full close: sends FIN unless the peer already ended the stream or the
  // session is gone. Never echoes a FIN. Idempotent.
  void close();
  bool is_closed() const { return local_closed_ || remote_closed_ || failed_; }

  // Server: the dial result for this stream's destination. Sends SYNACK when
  // the client speaks v2 (empty = success, else the text); on failure the
  // stream is then closed.
  void report_dial_result(const std::string& error_text);

  // Client: waits for the SYNACK. Returns the error ("remote: <text>",
  // "session closed: ...") or nullopt on success.
  asio::awaitable<std::optional<net::Error>> wait_synack();
  bool synack_received() const { return synack_received_; }
  const std::string& failure() const { return failure_; }

  // ---- session side: called by the session's reader only.
  // Data of a PSH frame; waits while this stream's ring or the session's
  // budget is full (pausing the session reader: the backpressure).
  asio::awaitable<void> deliver(const std::uint8_t* data, std::size_t n);
  void on_remote_fin();
  void on_synack(std::string_view error_text);
  void on_session_closed(const std::string& reason);
  bool accepting_data() const { return !local_closed_ && !failed_; }

 private:
  asio::awaitable<net::ReadResult> read_into(asio::mutable_buffer buf, net::Lease* lease);
  // n bytes left this stream's ring: they no longer count for the session.
  void unbuffer(std::size_t n);
  void wake_all();

  std::shared_ptr<StreamTransport> transport_;
  std::uint32_t sid_;
  std::size_t limit_;
  // Receive ring, allocated on first data.
  std::unique_ptr<std::uint8_t[]> ring_;
  std::size_t head_ = 0, size_ = 0;
  // A reader parked in read_some: its buffer and how much deliver() put
  // there (both private to this class).
  std::uint8_t* waiting_buf_ = nullptr;
  std::size_t waiting_cap_ = 0, waiting_got_ = 0;
  // A reader parked in read_leased: its (empty) lease, filled on delivery.
  net::Lease* waiting_lease_ = nullptr;
  net::Signal readable_;  // data, FIN, SYNACK, failure
  net::Signal space_;     // the reader consumed data, or the stream closed
  bool local_closed_ = false;
  bool remote_closed_ = false;
  bool failed_ = false;
  bool refused_ = false;  // failed_ by a SYNACK error (not a dead session)
  bool synack_received_ = false;
  bool synack_sent_ = false;
  std::string failure_;
};

// net::Conn handle over a stream; closes the stream when destroyed.
class StreamConn final : public net::Conn {
 public:
  explicit StreamConn(std::shared_ptr<Stream> s) : s_(std::move(s)) {}
  ~StreamConn() override { s_->close(); }
  asio::awaitable<net::ReadResult> read_some(asio::mutable_buffer buf) override { return s_->read_some(buf); }
  asio::awaitable<net::ReadResult> read_leased(net::Lease& lease) override { return s_->read_leased(lease); }
  asio::awaitable<std::error_code> write(asio::const_buffer buf) override { return s_->write(buf); }
  asio::awaitable<std::error_code> write_spent(net::Lease& lease, std::size_t n) override {
    return s_->write_spent(lease, n);
  }
  void shutdown_write() override { s_->close(); }
  void close() override { s_->close(); }
  std::string failure() const override { return s_->failure(); }
  Stream& stream() { return *s_; }

 private:
  std::shared_ptr<Stream> s_;
};

}  // namespace anytls::proto
