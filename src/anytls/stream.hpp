// One AnyTLS stream (SYN..FIN) inside a session. Reads come from a bounded
// receive buffer that the session reader fills; when it is full the session
// reader waits, which is the protocol's only backpressure (AnyTLS has no
// flow control), so a stream never buffers more than its limit.
#pragma once
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include <asio/steady_timer.hpp>

#include "net/conn.hpp"
#include "net/result.hpp"
#include "net/signal.hpp"

namespace anytls::proto {

class Session;

class Stream : public std::enable_shared_from_this<Stream> {
 public:
  Stream(std::shared_ptr<Session> session, std::uint32_t sid, std::size_t buffer_limit);
  ~Stream();

  std::uint32_t id() const { return sid_; }
  const std::shared_ptr<Session>& session() const { return session_; }

  // Like a socket. After the peer's FIN, buffered data is still returned,
  // then asio::error::eof. A SYNACK error gives asio::error::connection_refused
  // (text in failure()); a dead session gives asio::error::connection_aborted.
  asio::awaitable<net::ReadResult> read_some(asio::mutable_buffer buf);
  asio::awaitable<std::error_code> write(asio::const_buffer buf);
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

 private:
  friend class Session;
  // Session reader side.
  asio::awaitable<void> deliver(const std::uint8_t* data, std::size_t n);
  void on_remote_fin();
  void on_synack(std::string_view error_text);
  void on_session_closed(const std::string& reason);
  bool accepting_data() const { return !local_closed_ && !failed_; }
  // n bytes left this stream's ring: they no longer count for the session.
  void unbuffer(std::size_t n);
  // True when the calling coroutine was cancelled (e.g. it lost an `||`).
  static asio::awaitable<bool> cancelled();

  std::shared_ptr<Session> session_;
  std::uint32_t sid_;
  std::size_t limit_;
  // Receive ring, allocated on first data.
  std::unique_ptr<std::uint8_t[]> ring_;
  std::size_t head_ = 0, size_ = 0;
  // A reader parked in read_some: its buffer and how much was put there.
  std::uint8_t* waiting_buf_ = nullptr;
  std::size_t waiting_cap_ = 0, waiting_got_ = 0;
  net::Signal readable_;  // data, FIN, SYNACK, failure
  net::Signal space_;     // the reader consumed data, or the stream closed
  std::optional<asio::steady_timer> synack_watchdog_;
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
  asio::awaitable<std::error_code> write(asio::const_buffer buf) override { return s_->write(buf); }
  void shutdown_write() override { s_->close(); }
  void close() override { s_->close(); }
  std::string failure() const override { return s_->failure(); }
  Stream& stream() { return *s_; }

 private:
  std::shared_ptr<Stream> s_;
};

}  // namespace anytls::proto
