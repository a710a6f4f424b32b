// An AnyTLS session: the frame layer over one TLS connection, for either
// role. One reader coroutine decodes frames and dispatches them; one writer
// coroutine drains the outgoing buffer, so frames never interleave and the
// padding packet counter lives in one place. The session owns its
// deadlines (write stall, the server's idle limit, the client's SYNACK,
// silence and heartbeat rules), all kept by one watchdog coroutine on one
// timer. Owners (the pool, the server) only observe it: frames seen and
// closed(reason).
#pragma once
#include "net/counter.hpp"
#include <mutex>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

#include <asio/any_io_executor.hpp>
#include <asio/awaitable.hpp>

#include "anytls/frame.hpp"
#include "anytls/padding.hpp"
#include "anytls/stream.hpp"
#include "net/clock.hpp"
#include "net/conn.hpp"
#include "net/duration.hpp"
#include "net/result.hpp"
#include "net/signal.hpp"
#include "net/task_group.hpp"
#include "net/timer.hpp"

namespace anytls::proto {

// The padding scheme of one outbound (client) or inbound (server). An
// UpdatePaddingScheme from a server replaces it for every session of that
// outbound, never process-wide.
// Shared by sessions on every worker: read once per session and per
// padded write burst, replaced rarely, so a mutex.
class PaddingState {
 public:
  explicit PaddingState(std::shared_ptr<const PaddingScheme> s) : scheme_(std::move(s)) {}
  std::shared_ptr<const PaddingScheme> get() const {
    std::lock_guard lock(mu_);
    return scheme_;
  }
  void set(std::shared_ptr<const PaddingScheme> s) {
    std::lock_guard lock(mu_);
    scheme_.swap(s);
  }

 private:
  mutable std::mutex mu_;
  std::shared_ptr<const PaddingScheme> scheme_;
};

enum class Role { client, server };

// Client keepalive (session-pool.md, "Heartbeat"). interval 0 = off.
struct HeartbeatOptions {
  net::Duration interval{0};
  // Delay before the first request (the pool draws 0-20 % of interval so
  // sessions don't beat in step); every later interval is jittered by
  // +-kHeartbeatJitterPercent.
  net::Duration first_delay{0};
  // Against a v2 server, silence this long after a request (at least
  // interval) means the session is dead.
  net::Duration liveness_floor = std::chrono::seconds(5);
};
inline constexpr int kHeartbeatJitterPercent = 10;
// A heartbeat record is sized like an HTTP/2 PING of a real HTTPS client:
// 17 bytes of plaintext = HeartRequest (7) + a Waste frame of 3 zero bytes.
inline constexpr std::size_t kHeartbeatRecordSize = 17;

struct SessionOptions {
  Role role = Role::client;
  std::string log_prefix;  // "[S12]"
  std::string client_name = std::string("anytls-cpp/") + ANYTLS_VERSION;
  // Client: the scheme it pads with and announces. Server: the scheme whose
  // md5 it compares and sends on mismatch.
  std::shared_ptr<PaddingState> padding;
  RandomInt rand;                         // padding size and jitter draws (client)
  std::size_t stream_buffer = 64 * 1024;  // receive buffer per stream
  // All receive buffers of the session together: a peer that opens many
  // streams whose readers stall cannot make the session hold more.
  std::size_t session_buffer = 4 * 1024 * 1024;
  // Server: the inbound's budget for all its sessions together (null: none).
  std::shared_ptr<ReceiveBudget> shared_budget;
  std::size_t write_high_water = 256 * 1024;
  std::size_t max_streams = 1024;         // server: open streams per session
  std::chrono::milliseconds synack_timeout{3000};
  HeartbeatOptions heartbeat;             // client
  // Server: a client that sends no frame at all for this long (heartbeats
  // count) is gone: frozen, or vanished without a FIN. 0 = never.
  net::Duration idle_timeout{0};
  // A write to the connection that makes no progress this long (the peer
  // stopped reading) ends the session. 0 = never.
  net::Duration write_stall_timeout{0};
  net::Clock* clock = nullptr;            // null: the real clock
  // Client: the TCP connect time, a first estimate of the round trip until
  // the session measures its own (Settings -> ServerSettings, heartbeats).
  std::optional<net::Duration> rtt_hint;
};

struct SessionStats {
  std::uint64_t bytes_in = 0, bytes_out = 0;  // plaintext frame bytes
  std::uint64_t streams_opened = 0;
  std::uint64_t direct_writes = 0;  // stream writes framed in place, without a copy (write_stream_spent)
  // Read by the pool from any worker (stats()).
  net::RelaxedCounter heartbeats_sent;
  net::RelaxedCounter heartbeat_responses;
  bool liveness_failed = false;  // closed because the server fell silent (heartbeat, probe)
};

class Session final : public StreamTransport, public std::enable_shared_from_this<Session> {
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

  // Spawns the reader and writer coroutines (and the heartbeat).
  void start();
  // Closes the connection; every stream ends. Idempotent.
  void close(const std::string& reason);
  // Completes when every coroutine of the session has finished.
  asio::awaitable<void> join() { return tasks_.join(); }
  // Closes once every queued frame is written, so a FIN just queued still
  // reaches the peer (a drained pool retiring a session). Idempotent.
  void close_when_flushed(const std::string& reason);

  // Client: queues the Settings frame if not sent yet (a pre-warmed session
  // sends it at once so that heartbeats and version negotiation need no
  // stream).
  void send_settings();
  // Client: SYN (+ Settings before the first) and first_data as PSH, all in
  // the same packet.
  net::Result<std::shared_ptr<Stream>> open_stream(std::span<const std::uint8_t> first_data);
  // Client: queues a HeartRequest (cmd 8, sid 0) padded to one
  // kHeartbeatRecordSize record.
  void send_heart_request();

  // Client: the session must hear some frame from the server within bound
  // from now, or it is dead: closed with liveness_failed. With probe (v2
  // peers only) a HeartRequest goes out first, which a live server answers
  // at once whatever its streams are doing. A stream opened before any frame
  // has arrived arms this by itself (synack_timeout): a server that finishes
  // TLS and then says nothing cannot hold a request forever.
  void expect_frame_within(net::Duration bound, bool probe);
  // Client: smoothed round trip (rtt_hint until measured); nullopt if unknown.
  std::optional<net::Duration> rtt() const { return srtt_; }
  bool heard_from_peer() const { return frames_in_ > 0; }
  // Client: when the open wait of expect_frame_within began (the session
  // has been silent since); nullopt when none is open.
  std::optional<net::Clock::time_point> silent_since() const {
    return hear_by_ ? std::optional(hear_since_) : std::nullopt;
  }

  int peer_version() const { return peer_version_; }
  bool closed() const { return closed_; }
  std::size_t stream_count() const { return streams_.size(); }
  // Bytes in this session's stream receive buffers, and (server) the bytes
  // its streams' writes hold while they wait to be queued or sent.
  std::size_t buffered() const { return budget_.used() + held_out_; }
  net::Clock::time_point last_frame_at() const { return last_frame_at_; }
  const std::string& log_prefix() const { return opts_.log_prefix; }
  const SessionStats& stats() const { return stats_; }
  // Bytes of write buffer held (queued or not): small once all is sent.
  std::size_t write_buffer_capacity() const { return out_.capacity() + writing_.capacity(); }
  // TLS records on the wire so far (metrics); valid after close too.
  net::WireBytes wire_bytes() const { return conn_->wire_bytes(); }
  const asio::any_io_executor& executor() const override { return ex_; }

 private:
  // StreamTransport
  asio::awaitable<std::error_code> write_stream(std::uint32_t sid, const std::uint8_t* p, std::size_t n) override;
  asio::awaitable<std::error_code> write_stream_spent(std::uint32_t sid, std::uint8_t* p, std::size_t n,
                                                      std::size_t headroom) override;
  void end_stream(std::uint32_t sid, bool send_fin) override;
  void send_synack(std::uint32_t sid, std::string_view error_text) override;
  ReceiveBudget& receive_budget() override { return budget_; }
  bool transport_closed() const override { return closed_; }

  class OutHold;
  // write_stream() without the hold (the spent path holds for itself).
  asio::awaitable<std::error_code> queue_stream_data(std::uint32_t sid, const std::uint8_t* p, std::size_t n);
  asio::awaitable<void> reader(std::shared_ptr<Session> self);
  asio::awaitable<void> writer(std::shared_ptr<Session> self);
  // After a write reached the connection: the write buffers are given back
  // now (idle session) or once quiet.
  void after_write();
  asio::awaitable<void> quiet_watch(std::shared_ptr<Session> self);
  asio::awaitable<void> watchdog(std::shared_ptr<Session> self);
  // Acts on every deadline that has passed (a send, or a close); returns the
  // nearest one still ahead.
  std::optional<net::Clock::time_point> check_deadlines(net::Clock::time_point now);
  // A deadline was set: wakes the watchdog if it waits for a later one.
  void watch(net::Clock::time_point due);
  void rtt_sample();
  asio::awaitable<void> close_after_flush(std::shared_ptr<Session> self, std::string reason);
  asio::awaitable<std::error_code> flush(std::vector<std::uint8_t>& bytes);
  asio::awaitable<void> handle_frame(const FrameHeader& h, std::string_view data);
  asio::awaitable<void> process(std::span<const std::uint8_t> in);
  asio::awaitable<void> wait_out_room();
  // Frees the write queue's memory (vectors larger than keep) and the TLS
  // layer's record buffers.
  void release_write_buffers(std::size_t keep);
  net::Duration jittered(net::Duration d);

  void queue_frame(Command cmd, std::uint32_t sid, std::span<const std::uint8_t> data = {});
  void queue_frame(Command cmd, std::uint32_t sid, std::string_view data);
  void forget_stream(std::uint32_t sid);

  asio::any_io_executor ex_;
  std::unique_ptr<net::Conn> conn_;
  SessionOptions opts_;
  net::Clock& clock_;
  std::vector<std::uint8_t> initial_;
  net::TaskGroup tasks_;

  std::unordered_map<std::uint32_t, std::shared_ptr<Stream>> streams_;
  std::uint32_t next_sid_ = 0;

  std::vector<std::uint8_t> out_;      // queued complete frames
  std::vector<std::uint8_t> writing_;  // being written
  bool holding_write_buffers_ = false;  // written since release_write_buffers()
  bool conn_busy_ = false;              // a write to conn_ is under way (writer, or a stream in place)
  bool spent_waiting_ = false;          // a stream waits for conn_ to write in place
  std::uint64_t writer_rounds_ = 0;     // flushes the writer has finished
  bool quiet_watch_armed_ = false;      // a quiet_watch() is running
  std::chrono::steady_clock::time_point last_write_at_;
  net::Signal out_ready_;              // writer: out_ has bytes, or closing
  net::Signal out_drained_;            // producers: out_ has room again
  ReceiveBudget budget_;               // bytes in all stream receive rings
  std::size_t held_out_ = 0;           // bytes of stream writes in progress (OutHold)
  // Client: packet number of the next shaped write. Counting starts with the
  // first stream, so pre-stream control writes (the early Settings,
  // heartbeats) leave the scheme's packets to the first stream.
  std::uint32_t packet_ = 1;
  bool padding_done_ = false;  // past the scheme's stop: no more shaping
  bool first_stream_opened_ = false;

  // Client: streams waiting for their SYNACK, in open order (their
  // deadlines are in the same order). A vector: an empty std::deque already
  // holds 576 bytes, on every session.
  std::vector<std::pair<std::uint32_t, net::Clock::time_point>> synack_due_;

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
  net::Clock::time_point last_frame_at_;
  std::uint64_t frames_in_ = 0;
  // Client round trip: when the oldest unanswered request (Settings,
  // HeartRequest) went out, and the smoothed estimate.
  std::optional<net::Clock::time_point> rtt_probe_at_;
  std::optional<net::Duration> srtt_;
  bool heard_rtt_ = false;  // srtt_ is measured, not the hint
  // Client silence watchdog: dead unless frames_in_ passes hear_mark_ by
  // hear_by_ (expect_frame_within).
  std::optional<net::Clock::time_point> hear_by_;
  std::uint64_t hear_mark_ = 0;
  net::Duration hear_bound_{0};
  net::Clock::time_point hear_since_{};
  // Write stall: when the write in progress began or last moved.
  std::optional<net::Clock::time_point> write_since_;
  // Client heartbeat: the next request, and the oldest unanswered one (v2).
  net::Clock::time_point beat_next_{};
  std::optional<net::Clock::time_point> beat_awaiting_;
  // The watchdog's one timer (a task and a timer per rule cost about a KiB
  // each per session, which an idle pool of thousands pays).
  net::Timer watch_timer_;
  SessionStats stats_;
};

}  // namespace anytls::proto
