// An AnyTLS session: the frame layer over one TLS connection, for either
// role. One reader coroutine decodes frames and dispatches them; one writer
// coroutine drains the outgoing buffer, so frames never interleave and the
// padding packet counter lives in one place.
#pragma once
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

#include <asio/any_io_executor.hpp>
#include <asio/awaitable.hpp>

#include "anytls/frame.hpp"
#include "anytls/padding.hpp"
#include "net/conn.hpp"
#include "net/result.hpp"
#include "net/signal.hpp"

namespace anytls::proto {

class Stream;

// The padding scheme of one outbound (client) or inbound (server). An
// UpdatePaddingScheme from a server replaces it for every session of that
// outbound, never process-wide.
class PaddingState {
 public:
  explicit PaddingState(std::shared_ptr<const PaddingScheme> s) : scheme_(std::move(s)) {}
  std::shared_ptr<const PaddingScheme> get() const { return scheme_; }
  void set(std::shared_ptr<const PaddingScheme> s) { scheme_ = std::move(s); }

 private:
  std::shared_ptr<const PaddingScheme> scheme_;
};

enum class Role { client, server };

struct SessionOptions {
  Role role = Role::client;
  std::string log_prefix;  // "[S12]"
  std::string client_name = std::string("anytls-cpp/") + ANYTLS_VERSION;
  // Client: the scheme it pads with and announces. Server: the scheme whose
  // md5 it compares and sends on mismatch.
  std::shared_ptr<PaddingState> padding;
  RandomInt rand;                         // padding size draws (client)
  std::size_t stream_buffer = 64 * 1024;  // receive buffer per stream
  // All receive buffers of the session together: a peer that opens many
  // streams whose readers stall cannot make the session hold more.
  std::size_t session_buffer = 4 * 1024 * 1024;
  std::size_t write_high_water = 256 * 1024;
  std::size_t max_streams = 1024;         // server: open streams per session
  std::chrono::milliseconds synack_timeout{3000};
};

struct SessionStats {
  std::uint64_t bytes_in = 0, bytes_out = 0;  // plaintext frame bytes
  std::uint64_t streams_opened = 0;
};

class Session : public std::enable_shared_from_this<Session> {
 public:
  using StreamHandler = std::function<void(std::shared_ptr<Stream>)>;
  using CloseHandler = std::function<void(Session&, const std::string& reason)>;
  using FrameObserver = std::function<void(Command)>;

  // initial: bytes already read after the auth preamble (server).
  Session(asio::any_io_executor ex, std::unique_ptr<net::Conn> conn, SessionOptions opts,
          std::vector<std::uint8_t> initial = {});
  ~Session();
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  void set_stream_handler(StreamHandler h) { on_stream_ = std::move(h); }
  void set_close_handler(CloseHandler h) { on_close_ = std::move(h); }
  // Called for every frame received (after it is handled).
  void set_frame_observer(FrameObserver h) { on_frame_ = std::move(h); }

  // Spawns the reader and writer coroutines.
  void start();
  // Closes the connection; every stream ends. Idempotent.
  void close(const std::string& reason);

  // Client: queues the Settings frame if not sent yet (a pre-warmed session
  // sends it at once so that heartbeats and version negotiation need no
  // stream).
  void send_settings();
  // Client: SYN (+ Settings before the first) and first_data as PSH, all in
  // the same packet.
  net::Result<std::shared_ptr<Stream>> open_stream(std::span<const std::uint8_t> first_data);
  // Queues a HeartRequest (cmd 8, sid 0, no data).
  void send_heart_request();
  // Tests: read and drop everything, answer nothing (a peer that went
  // silent while its TCP connection stays open).
  void set_muted(bool muted) { muted_ = muted; }

  int peer_version() const { return peer_version_; }
  bool closed() const { return closed_; }
  std::size_t stream_count() const { return streams_.size(); }
  std::chrono::steady_clock::time_point last_frame_at() const { return last_frame_at_; }
  const std::string& log_prefix() const { return opts_.log_prefix; }
  const SessionStats& stats() const { return stats_; }
  // TLS records on the wire so far (metrics); valid after close too.
  net::WireBytes wire_bytes() const { return conn_->wire_bytes(); }
  const asio::any_io_executor& executor() const { return ex_; }

 private:
  friend class Stream;

  asio::awaitable<void> reader(std::shared_ptr<Session> self);
  asio::awaitable<void> writer(std::shared_ptr<Session> self);
  asio::awaitable<void> synack_watchdog(std::shared_ptr<Session> self, std::shared_ptr<Stream> stream);
  asio::awaitable<std::error_code> flush(std::vector<std::uint8_t>& bytes);
  asio::awaitable<void> handle_frame(const FrameHeader& h, std::string_view data);
  asio::awaitable<void> process(std::span<const std::uint8_t> in);
  asio::awaitable<void> wait_out_room();

  void queue_frame(Command cmd, std::uint32_t sid, std::span<const std::uint8_t> data = {});
  void queue_frame(Command cmd, std::uint32_t sid, std::string_view data);
  asio::awaitable<std::error_code> write_stream_data(std::uint32_t sid, const std::uint8_t* p, std::size_t n);
  void forget_stream(std::uint32_t sid);

  asio::any_io_executor ex_;
  std::unique_ptr<net::Conn> conn_;
  SessionOptions opts_;
  std::vector<std::uint8_t> initial_;

  std::unordered_map<std::uint32_t, std::shared_ptr<Stream>> streams_;
  std::uint32_t next_sid_ = 0;

  std::vector<std::uint8_t> out_;      // queued complete frames
  std::vector<std::uint8_t> writing_;  // being written
  net::Signal out_ready_;              // writer: out_ has bytes, or closing
  net::Signal out_drained_;            // producers: out_ has room again
  std::size_t buffered_ = 0;           // bytes in all stream receive rings
  net::Signal buffer_room_;            // a ring drained or went away
  std::uint32_t packet_ = 1;           // next packet number (client padding)

  FrameDecoder decoder_;
  FrameHeader cur_{};
  std::string control_;                // payload of the control frame being read
  std::shared_ptr<Stream> cur_stream_; // target of the PSH frame being read

  StreamHandler on_stream_;
  CloseHandler on_close_;
  FrameObserver on_frame_;

  int peer_version_ = 1;
  bool settings_sent_ = false;
  bool settings_received_ = false;  // server
  bool closed_ = false;
  bool started_ = false;
  bool muted_ = false;
  std::chrono::steady_clock::time_point last_frame_at_;
  SessionStats stats_;
};

}  // namespace anytls::proto
