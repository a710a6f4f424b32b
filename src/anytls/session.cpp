#include "anytls/session.hpp"

#include <algorithm>
#include <charconv>
#include <optional>
#include <random>

#include <asio/experimental/as_tuple.hpp>
#include <asio/steady_timer.hpp>
#include <asio/this_coro.hpp>
#include <asio/use_awaitable.hpp>
#include <spdlog/spdlog.h>

#include "anytls/settings.hpp"
#include "anytls/stream.hpp"
#include "net/coro.hpp"
#include "net/heap_trim.hpp"
#include "net/log_limit.hpp"

namespace anytls::proto {

namespace {

constexpr std::size_t kRecordFrameData = 16 * 1024 - kFrameHeaderSize;
// Write buffer capacity a quiet session may keep (control frames, small
// exchanges); larger ones are given back once nothing has been written for
// kQuietRelease.
constexpr std::size_t kKeptWriteBuffer = 4 * 1024;
constexpr auto kQuietRelease = std::chrono::milliseconds(250);
// About what the TLS layer's record buffers take (OpenSSL's write buffer).
constexpr std::size_t kTlsRecordBuffers = 17 * 1024;

std::span<const std::uint8_t> as_bytes(std::string_view s) {
  return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()};
}

int parse_int(const std::string& s, int fallback) {
  int v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  return ec == std::errc{} && p == s.data() + s.size() ? v : fallback;
}

}  // namespace

Session::Session(asio::any_io_executor ex, std::unique_ptr<net::Conn> conn, SessionOptions opts,
                 std::vector<std::uint8_t> initial)
    : ex_(std::move(ex)),
      conn_(std::move(conn)),
      opts_(std::move(opts)),
      clock_(net::clock_or_system(opts_.clock)),
      initial_(std::move(initial)),
      tasks_(ex_, opts_.log_prefix.empty() ? "session" : opts_.log_prefix),
      out_ready_(ex_),
      out_drained_(ex_),
      budget_(ex_, opts_.session_buffer, opts_.shared_budget.get()),
      last_frame_at_(clock_.now()),
      srtt_(opts_.rtt_hint),
      watch_timer_(ex_, opts_.clock) {}

Session::~Session() = default;

void Session::start() {
  if (started_) return;
  started_ = true;
  if (opts_.role == Role::client && opts_.heartbeat.interval > net::Duration::zero())
    beat_next_ = clock_.now() + opts_.heartbeat.first_delay;
  tasks_.spawn(reader(shared_from_this()), "reader");
  tasks_.spawn(writer(shared_from_this()), "writer");
  tasks_.spawn(watchdog(shared_from_this()), "watchdog");
}

void Session::watch(net::Clock::time_point due) {
  // Timer::cancel() leaves the expiry at max: a second call before the
  // watchdog has run again wakes nothing more.
  if (!closed_ && due < watch_timer_.expiry()) watch_timer_.cancel();
}

asio::awaitable<void> Session::watchdog(std::shared_ptr<Session> self) {
  while (!closed_) {
    auto next = check_deadlines(clock_.now());
    if (closed_) break;
    // No deadline: a timer at max is not armed (a virtual clock does not
    // count it), and watch() wakes it when one is set.
    watch_timer_.expires_at(next.value_or(net::Clock::time_point::max()));
    co_await watch_timer_.wait();  // reached, or cancelled: look again
  }
  (void)self;
}

std::optional<net::Clock::time_point> Session::check_deadlines(net::Clock::time_point now) {
  std::optional<net::Clock::time_point> next;
  auto ahead = [&](net::Clock::time_point due) { next = next ? std::min(*next, due) : due; };

  if (write_since_ && opts_.write_stall_timeout > net::Duration::zero()) {
    const auto due = *write_since_ + opts_.write_stall_timeout;
    if (now >= due) {
      thread_local net::LogLimit limit;
      if (auto more = limit.admit())
        spdlog::warn("{} a write made no progress for {}, closing the session{}", opts_.log_prefix,
                     net::format_duration(opts_.write_stall_timeout), *more);
      close("write stalled");
      return std::nullopt;
    }
    ahead(due);
  }

  if (opts_.role == Role::server) {
    if (opts_.idle_timeout > net::Duration::zero()) {
      const auto due = last_frame_at_ + opts_.idle_timeout;
      if (now >= due) {
        spdlog::debug("{} no frame from the client for {}, closing", opts_.log_prefix,
                      net::format_duration(opts_.idle_timeout));
        close("idle timeout");
        return std::nullopt;
      }
      ahead(due);
    }
    return next;
  }

  // Client: silence after expect_frame_within().
  if (hear_by_ && frames_in_ > hear_mark_) hear_by_.reset();
  if (hear_by_) {
    if (now >= *hear_by_) {
      stats_.liveness_failed = true;
      spdlog::warn("{} no frame from the server within {}, closing the session", opts_.log_prefix,
                   net::format_duration(hear_bound_));
      close(fmt::format("no frame from the server within {}", net::format_duration(hear_bound_)));
      return std::nullopt;
    }
    ahead(*hear_by_);
  }

  // Client: the oldest stream still waiting for its SYNACK. Entries whose
  // stream got it, or is gone, need no watching.
  auto answered = std::find_if(synack_due_.begin(), synack_due_.end(), [&](const auto& e) {
    auto it = streams_.find(e.first);
    return it != streams_.end() && !it->second->synack_received();
  });
  synack_due_.erase(synack_due_.begin(), answered);
  if (!synack_due_.empty()) {
    auto [sid, due] = synack_due_.front();
    if (now >= due) {
      spdlog::warn("{} no SYNACK for stream {} within {}ms, closing the session", opts_.log_prefix, sid,
                   opts_.synack_timeout.count());
      close("synack timeout");
      return std::nullopt;
    }
    ahead(due);
  }

  // Client heartbeat. A v2 server answers every request; silence this long
  // after one means dead. Against a v1 server requests are sent but not
  // awaited.
  if (opts_.heartbeat.interval > net::Duration::zero() && started_) {
    const auto liveness = std::max(opts_.heartbeat.interval, opts_.heartbeat.liveness_floor);
    if (beat_awaiting_ && last_frame_at_ >= *beat_awaiting_) beat_awaiting_.reset();
    if (beat_awaiting_ && now >= *beat_awaiting_ + liveness) {
      stats_.liveness_failed = true;
      spdlog::warn("[Heartbeat] No response from server within {}, closing session {}",
                   net::format_duration(liveness), opts_.log_prefix);
      close("heartbeat timeout");
      return std::nullopt;
    }
    if (now >= beat_next_) {
      spdlog::debug("[Heartbeat] Sending heartbeat request");
      send_heart_request();
      spdlog::debug("[Heartbeat] Heartbeat sent successfully");
      if (peer_version_ >= 2 && !beat_awaiting_) beat_awaiting_ = now;
      beat_next_ = now + jittered(opts_.heartbeat.interval);
    }
    ahead(beat_next_);
    if (beat_awaiting_) ahead(*beat_awaiting_ + liveness);
  }
  return next;
}

void Session::close(const std::string& reason) {
  if (closed_) return;
  closed_ = true;
  spdlog::debug("{} session closed: {}", opts_.log_prefix, reason);
  conn_->close();
  out_ready_.notify_all();
  out_drained_.notify_all();
  budget_.wake();
  auto streams = std::move(streams_);
  streams_.clear();
  for (auto& [sid, s] : streams) s->on_session_closed(reason);
  cur_stream_.reset();
  if (on_close_) {
    auto h = std::move(on_close_);
    h(*this, reason);
  }
  on_stream_ = nullptr;
  on_frame_ = nullptr;
  // Whatever still waits (a timer, a full stream ring) stops now.
  tasks_.cancel();
}

void Session::close_when_flushed(const std::string& reason) {
  if (closed_) return;
  tasks_.spawn(close_after_flush(shared_from_this(), reason), "close after flush");
}

asio::awaitable<void> Session::close_after_flush(std::shared_ptr<Session> self, std::string reason) {
  while (!closed_ && (!out_.empty() || !writing_.empty() || conn_busy_)) co_await out_drained_.wait();
  close(reason);
  (void)self;
}

void Session::queue_frame(Command cmd, std::uint32_t sid, std::span<const std::uint8_t> data) {
  if (closed_) return;
  append_frame(out_, cmd, sid, data);
  out_ready_.notify_all();
}

void Session::queue_frame(Command cmd, std::uint32_t sid, std::string_view data) {
  queue_frame(cmd, sid, as_bytes(data));
}

void Session::send_settings() {
  if (settings_sent_ || opts_.role != Role::client) return;
  settings_sent_ = true;
  if (!rtt_probe_at_) rtt_probe_at_ = clock_.now();
  auto scheme = opts_.padding->get();
  queue_frame(Command::settings, 0, client_settings(opts_.client_name, scheme->md5_hex));
}

void Session::send_heart_request() {
  if (closed_) return;
  static constexpr std::uint8_t kZeros[kHeartbeatRecordSize - 2 * kFrameHeaderSize] = {};
  queue_frame(Command::heart_request, 0);
  queue_frame(Command::waste, 0, std::span<const std::uint8_t>(kZeros));
  ++stats_.heartbeats_sent;
  if (!rtt_probe_at_) rtt_probe_at_ = clock_.now();
}

void Session::rtt_sample() {
  if (!rtt_probe_at_) return;
  auto sample = clock_.now() - *rtt_probe_at_;
  rtt_probe_at_.reset();
  // RFC 6298's smoothing (7/8 old, 1/8 new); the first sample replaces the
  // connect-time hint outright.
  if (!srtt_ || !heard_rtt_)
    srtt_ = std::chrono::duration_cast<net::Duration>(sample);
  else
    srtt_ = std::chrono::duration_cast<net::Duration>((7 * *srtt_ + sample) / 8);
  heard_rtt_ = true;
}

void Session::expect_frame_within(net::Duration bound, bool probe) {
  if (closed_ || opts_.role != Role::client) return;
  if (probe && peer_version_ >= 2) send_heart_request();
  auto due = clock_.now() + bound;
  if (hear_by_ && frames_in_ == hear_mark_) {
    // An earlier wait is still open: the earlier deadline stands.
    if (due < *hear_by_) {
      hear_by_ = due;
      hear_bound_ = bound;
    }
  } else {
    hear_by_ = due;
    hear_mark_ = frames_in_;
    hear_bound_ = bound;
    hear_since_ = clock_.now();
  }
  watch(*hear_by_);
}

net::Result<std::shared_ptr<Stream>> Session::open_stream(std::span<const std::uint8_t> first_data) {
  if (closed_) return net::Error{asio::error::connection_aborted, "session closed"};
  send_settings();
  first_stream_opened_ = true;
  std::uint32_t sid = ++next_sid_;
  auto stream = std::make_shared<Stream>(shared_from_this(), sid, opts_.stream_buffer);
  streams_.emplace(sid, stream);
  ++stats_.streams_opened;
  // SYN and the first data go into out_ before the writer can run, so they
  // leave in one packet (with Settings on a fresh session).
  queue_frame(Command::syn, sid);
  if (!first_data.empty()) queue_frame(Command::push, sid, first_data);
  // Nothing heard yet (a fresh session, or a pre-warmed one whose server
  // never spoke): the stream must not wait on it forever.
  if (!heard_from_peer()) expect_frame_within(opts_.synack_timeout, false);
  // The watchdog needs the peer to be known as v2: stream 1 of a fresh
  // session is not watched (ServerSettings has not arrived yet), a
  // pre-warmed session's stream 1 is.
  if (peer_version_ >= 2) {
    synack_due_.emplace_back(sid, clock_.now() + opts_.synack_timeout);
    watch(synack_due_.back().second);
  }
  return stream;
}

net::Duration Session::jittered(net::Duration d) {
  // +-kHeartbeatJitterPercent, in thousandths. Its own generator: the
  // padding draws (opts_.rand) stay exactly those of the padding algorithm.
  thread_local std::minstd_rand rng{std::random_device{}()};
  std::uniform_int_distribution<int> permille(1000 - 10 * kHeartbeatJitterPercent, 1000 + 10 * kHeartbeatJitterPercent);
  return std::chrono::duration_cast<net::Duration>(d * permille(rng) / 1000);
}

void Session::forget_stream(std::uint32_t sid) {
  streams_.erase(sid);
  if (cur_stream_ && cur_stream_->id() == sid) cur_stream_.reset();
}

void Session::end_stream(std::uint32_t sid, bool send_fin) {
  if (send_fin && !closed_) queue_frame(Command::fin, sid);
  forget_stream(sid);
}

void Session::send_synack(std::uint32_t sid, std::string_view error_text) {
  if (peer_version_ >= 2) queue_frame(Command::synack, sid, error_text);
}

asio::awaitable<void> Session::wait_out_room() {
  while (!closed_ && out_.size() >= opts_.write_high_water) co_await out_drained_.wait();
}

// Server: the bytes a stream write holds (its relay's buffer, waiting for
// room in the queue or for the connection) count against the inbound's
// shared budget (max_buffered_bytes) until the write returns, so thousands
// of streams whose client never reads hold no more than that: over it, the
// inbound closes the session holding the most (on_buffers_full).
class Session::OutHold {
 public:
  OutHold(Session& s, std::size_t n) : s_(s), n_(n) {
    s_.held_out_ += n_;
    if (auto* b = s_.opts_.shared_budget.get()) {
      b->take(n_);
      if (b->available() == 0) b->notify_exhausted();
    }
  }
  ~OutHold() {
    s_.held_out_ -= n_;
    if (auto* b = s_.opts_.shared_budget.get()) b->give_back(n_);
  }
  OutHold(const OutHold&) = delete;
  OutHold& operator=(const OutHold&) = delete;

 private:
  Session& s_;
  std::size_t n_;
};

asio::awaitable<std::error_code> Session::write_stream(std::uint32_t sid, const std::uint8_t* p, std::size_t n) {
  OutHold hold(*this, n);
  co_return co_await queue_stream_data(sid, p, n);
}

asio::awaitable<std::error_code> Session::queue_stream_data(std::uint32_t sid, const std::uint8_t* p, std::size_t n) {
  while (n > 0) {
    co_await wait_out_room();
    if (closed_) co_return asio::error::connection_aborted;
    auto it = streams_.find(sid);
    if (it == streams_.end() || it->second->is_closed()) co_return asio::error::broken_pipe;
    // 16377 + 7 = 16384: a long write becomes frames that fill TLS records
    // exactly, instead of full records followed by a 7-byte one.
    std::size_t chunk = std::min(n, kRecordFrameData);
    append_frame(out_, Command::push, sid, {p, chunk});
    out_ready_.notify_all();
    p += chunk;
    n -= chunk;
  }
  co_return std::error_code{};
}

asio::awaitable<std::error_code> Session::write_stream_spent(std::uint32_t sid, std::uint8_t* p, std::size_t n,
                                                              std::size_t headroom) {
  // In place: only when the connection keeps records (TLS), this write
  // needs no shaping (the client's first packets go through the writer's
  // padding), and nothing else is queued (order).
  const bool shaping = opts_.role == Role::client && opts_.padding && !padding_done_;
  OutHold hold(*this, n);
  if (headroom < kFrameHeaderSize || shaping || !conn_->writes_pieces()) co_return co_await queue_stream_data(sid, p, n);
  if (conn_busy_ || !out_.empty()) {
    // The writer has queued bytes to send (often this stream's own last
    // ones, or a bulk stream that once queued would keep queueing): one
    // stream waits for the writer to finish them, for at most two of its
    // rounds, rather than copying. Others copy meanwhile, so streams never
    // line up here.
    if (spent_waiting_) co_return co_await queue_stream_data(sid, p, n);
    spent_waiting_ = true;
    const auto start = writer_rounds_;
    while ((conn_busy_ || !out_.empty()) && !closed_ && writer_rounds_ - start < 2) co_await out_drained_.wait();
    spent_waiting_ = false;
    if (conn_busy_ || !out_.empty()) co_return co_await queue_stream_data(sid, p, n);
  }
  if (closed_) co_return asio::error::connection_aborted;
  auto it = streams_.find(sid);
  if (it == streams_.end() || it->second->is_closed()) co_return asio::error::broken_pipe;
  struct Ctx {
    std::uint32_t sid;
    static void header(void* c, std::uint8_t* at, std::size_t len) {
      encode_header(at, FrameHeader{Command::push, static_cast<Ctx*>(c)->sid, static_cast<std::uint16_t>(len)});
    }
  } ctx{sid};
  conn_busy_ = true;
  write_since_ = clock_.now();
  if (opts_.write_stall_timeout > net::Duration::zero()) watch(*write_since_ + opts_.write_stall_timeout);
  // 16377 + 7 = 16384: each frame fills one TLS record, as in write_stream().
  auto ec = co_await conn_->write_pieces(p, n, kRecordFrameData, kFrameHeaderSize, &Ctx::header, &ctx);
  write_since_.reset();
  conn_busy_ = false;
  ++packet_;
  ++stats_.direct_writes;
  stats_.bytes_out += n + (n + kRecordFrameData - 1) / kRecordFrameData * kFrameHeaderSize;
  out_ready_.notify_all();    // the writer may have frames that waited for the connection
  out_drained_.notify_all();  // close_when_flushed() waits for this write too
  if (ec) {
    close("write: " + ec.message());
    co_return asio::error::connection_aborted;
  }
  after_write();
  co_return std::error_code{};
}

asio::awaitable<void> Session::writer(std::shared_ptr<Session> self) {
  while (!closed_) {
    // conn_busy_: a stream is writing in place (write_stream_spent).
    if (out_.empty() || conn_busy_) {
      co_await out_ready_.wait();
      continue;
    }
    std::swap(out_, writing_);
    out_drained_.notify_all();
    conn_busy_ = true;
    write_since_ = clock_.now();
    if (opts_.write_stall_timeout > net::Duration::zero()) watch(*write_since_ + opts_.write_stall_timeout);
    auto ec = co_await flush(writing_);
    write_since_.reset();
    conn_busy_ = false;
    ++writer_rounds_;
    stats_.bytes_out += writing_.size();
    writing_.clear();
    out_drained_.notify_all();
    if (ec) {
      close("write: " + ec.message());
      break;
    }
    after_write();
  }
  (void)self;
}

void Session::after_write() {
  holding_write_buffers_ = true;
  last_write_at_ = std::chrono::steady_clock::now();
  if (out_.empty() && streams_.empty()) {
    release_write_buffers(0);  // an idle session gives them back at once, all of them
  } else if (!quiet_watch_armed_) {
    quiet_watch_armed_ = true;
    tasks_.spawn(quiet_watch(shared_from_this()), "quiet release");
  }
}

// Gives the write buffers back (ours and the TLS layer's) once nothing has
// been written for kQuietRelease. Not after every write: a stream that
// trickles would free and allocate them for each piece; and not by a
// deadline per write either (a timer update, a system call, per write). One
// watch per quiet period, which moves its own deadline. Real time, not the
// session's clock: this is about memory, and a test's virtual clock would
// otherwise keep the buffers until it is advanced.
asio::awaitable<void> Session::quiet_watch(std::shared_ptr<Session> self) {
  asio::steady_timer timer(co_await asio::this_coro::executor);
  for (;;) {
    if (closed_) co_return;
    auto due = last_write_at_ + kQuietRelease;
    if (write_since_) due = std::chrono::steady_clock::now() + kQuietRelease;  // a write under way
    if (std::chrono::steady_clock::now() >= due) break;
    timer.expires_at(due);
    auto [ec] = co_await timer.async_wait(asio::experimental::as_tuple(asio::use_awaitable));
    if (ec) co_return;  // cancelled: the session is closing
  }
  quiet_watch_armed_ = false;
  if (out_.empty() && holding_write_buffers_) release_write_buffers(kKeptWriteBuffer);
  (void)self;
}

void Session::release_write_buffers(std::size_t keep) {
  // Swapped out: `v = {}` would assign an empty initializer list and keep
  // the capacity.
  std::size_t freed = 0;
  if (writing_.capacity() > keep) {
    freed += writing_.capacity();
    std::vector<std::uint8_t>().swap(writing_);
  }
  if (out_.capacity() > keep) {
    freed += out_.capacity();
    std::vector<std::uint8_t>().swap(out_);
  }
  conn_->release_buffers();  // OpenSSL's record buffers, unless a record is half done
  holding_write_buffers_ = false;
  // Many sessions going quiet together leave holes all over the heap (an
  // idle session's heartbeat frees nothing worth noting).
  if (freed > kKeptWriteBuffer) net::HeapTrim::note_freed(freed + kTlsRecordBuffers);
}

asio::awaitable<std::error_code> Session::flush(std::vector<std::uint8_t>& bytes) {
  // Before the first stream nothing is shaped and no packet is counted: the
  // scheme is for the first stream's packets (session-pool.md).
  if (opts_.role == Role::client && !first_stream_opened_) co_return co_await conn_->write(asio::buffer(bytes));
  std::shared_ptr<const PaddingScheme> scheme;
  if (opts_.role == Role::client && opts_.padding && !padding_done_) {
    // Shared with other workers' sessions (locked): asked only while this
    // session is still shaping its first packets.
    scheme = opts_.padding->get();
    if (packet_ >= scheme->stop) {
      scheme.reset();
      padding_done_ = true;
    }
  }
  if (!scheme) {
    ++packet_;
    if (opts_.write_stall_timeout == net::Duration::zero()) co_return co_await conn_->write(asio::buffer(bytes));
    // Watched for stalls: progress is counted per 64 KiB (four full TLS
    // records), so a slow reader is not taken for one that stopped.
    constexpr std::size_t kChunk = 64 * 1024;
    for (std::size_t off = 0; off < bytes.size(); off += kChunk) {
      auto ec = co_await conn_->write(asio::buffer(bytes.data() + off, std::min(kChunk, bytes.size() - off)));
      if (ec) co_return ec;
      write_since_ = clock_.now();
    }
    co_return std::error_code{};
  }
  auto records = shape_packet(*scheme, packet_++, bytes, opts_.rand);
  for (auto& r : records) {
    if (auto ec = co_await conn_->write(asio::buffer(r))) co_return ec;
  }
  co_return std::error_code{};
}

asio::awaitable<void> Session::reader(std::shared_ptr<Session> self) {
  if (!initial_.empty()) {
    auto initial = std::move(initial_);
    stats_.bytes_in += initial.size();
    co_await process(initial);
  }
  // The read buffer is a lease held only while records arrive: an idle
  // session, or one whose streams are quiet, holds none (and the TLS layer
  // no record buffers) while it waits.
  net::Lease lease;
  while (!closed_) {
    auto [ec, n] = co_await conn_->read_leased(lease);
    if (ec) {
      close(ec == asio::error::eof ? "closed by peer" : "read: " + ec.message());
      break;
    }
    stats_.bytes_in += n;
    co_await process({reinterpret_cast<const std::uint8_t*>(lease.data()), n});
  }
  (void)self;
}

asio::awaitable<void> Session::process(std::span<const std::uint8_t> in) {
  while (!in.empty() && !closed_) {
    auto ev = decoder_.next(in);
    switch (ev.kind) {
      case FrameDecoder::Event::need_more:
        break;
      case FrameDecoder::Event::header:
        cur_ = ev.hdr;
        control_.clear();
        cur_stream_.reset();
        last_frame_at_ = clock_.now();
        ++frames_in_;
        if (hear_by_) {  // heard: the silence rule has nothing to wait for
          hear_by_.reset();
          watch_timer_.cancel();  // the watchdog sets its next deadline
        }
        if (cur_.cmd == Command::push) {
          auto it = streams_.find(cur_.sid);
          if (it != streams_.end()) cur_stream_ = it->second;
        }
        if (ev.last) co_await handle_frame(cur_, {});
        break;
      case FrameDecoder::Event::data:
        if (cur_.cmd == Command::push) {
          if (cur_stream_ && cur_stream_->accepting_data()) {
            auto s = cur_stream_;  // deliver may wait; keep it alive
            co_await s->deliver(ev.bytes.data(), ev.bytes.size());
          }
        } else if (cur_.cmd != Command::waste) {
          control_.append(reinterpret_cast<const char*>(ev.bytes.data()), ev.bytes.size());
        }
        if (ev.last) co_await handle_frame(cur_, control_);
        break;
    }
  }
}

asio::awaitable<void> Session::handle_frame(const FrameHeader& h, std::string_view data) {
  const auto& p = opts_.log_prefix;
  // Anything that answers waits for room first, so a peer that never reads
  // cannot make our outgoing buffer grow.
  switch (h.cmd) {
    case Command::waste:
    case Command::push:
      break;
    case Command::syn: {
      if (opts_.role != Role::server) break;
      if (!settings_received_) {
        spdlog::debug("{} SYN before Settings, sending alert", p);
        queue_frame(Command::alert, 0, std::string_view("client did not send its settings"));
        // Let the writer send the alert before the connection goes.
        while (!closed_ && (!out_.empty() || !writing_.empty())) co_await out_drained_.wait();
        close("client did not send its settings");
        break;
      }
      if (streams_.count(h.sid)) break;  // SYN for an existing id: ignored
      if (h.sid == 0) break;
      auto stream = std::make_shared<Stream>(shared_from_this(), h.sid, opts_.stream_buffer);
      if (streams_.size() >= opts_.max_streams) {
        // A client can send SYNs as fast as it likes: rate-limited.
        thread_local net::LogLimit limit;
        if (auto more = limit.admit())
          spdlog::warn("{} too many streams ({}), refusing stream {}{}", p, streams_.size(), h.sid, *more);
        co_await wait_out_room();
        if (peer_version_ >= 2) queue_frame(Command::synack, h.sid, std::string_view("too many streams"));
        queue_frame(Command::fin, h.sid);
        break;
      }
      streams_.emplace(h.sid, stream);
      ++stats_.streams_opened;
      if (on_stream_) on_stream_(stream);
      break;
    }
    case Command::fin: {
      auto it = streams_.find(h.sid);
      if (it == streams_.end()) break;
      auto s = it->second;
      streams_.erase(it);
      s->on_remote_fin();
      break;
    }
    case Command::settings: {
      if (opts_.role != Role::server || data.empty()) break;
      settings_received_ = true;
      auto kv = parse_settings(data);
      co_await wait_out_room();
      auto scheme = opts_.padding->get();
      auto md5 = kv.find("padding-md5");
      if (md5 == kv.end() || md5->second != scheme->md5_hex) {
        queue_frame(Command::update_padding_scheme, 0, scheme->text);
      }
      auto v = kv.find("v");
      int version = v == kv.end() ? 1 : parse_int(v->second, 1);
      if (version >= 2) {
        peer_version_ = version;
        queue_frame(Command::server_settings, 0, std::string_view("v=2"));
      }
      auto client = kv.find("client");
      spdlog::debug("{} client settings: v={} client={}", p, version,
                    client == kv.end() ? std::string("?") : client->second);
      break;
    }
    case Command::alert:
      if (opts_.role != Role::client || data.empty()) break;
      spdlog::error("{} alert from server: {}", p, data);
      close(fmt::format("alert: {}", data));
      break;
    case Command::update_padding_scheme: {
      if (opts_.role != Role::client || data.empty()) break;
      auto parsed = PaddingScheme::parse(data);
      if (parsed) {
        auto md5 = parsed->md5_hex;
        opts_.padding->set(std::make_shared<const PaddingScheme>(std::move(*parsed)));
        spdlog::info("{} padding scheme updated by the server (md5 {})", p, md5);
      } else {
        spdlog::warn("{} server sent an invalid padding scheme, keeping ours", p);
      }
      break;
    }
    case Command::server_settings: {
      if (opts_.role != Role::client || data.empty()) break;
      auto kv = parse_settings(data);
      auto v = kv.find("v");
      if (v != kv.end()) peer_version_ = parse_int(v->second, peer_version_);
      rtt_sample();
      break;
    }
    case Command::synack: {
      if (opts_.role != Role::client) break;
      auto it = streams_.find(h.sid);
      if (it == streams_.end()) break;
      auto s = it->second;
      if (!data.empty()) {
        streams_.erase(it);
        if (cur_stream_ == s) cur_stream_.reset();
      }
      s->on_synack(data);
      if (!data.empty()) queue_frame(Command::fin, h.sid);
      break;
    }
    case Command::heart_request:
      co_await wait_out_room();
      queue_frame(Command::heart_response, h.sid);
      break;
    case Command::heart_response:
      if (opts_.role != Role::client) break;
      ++stats_.heartbeat_responses;
      rtt_sample();
      spdlog::debug("[Heartbeat] Received heartbeat response");
      break;
    default:
      break;  // unknown command: its bytes were skipped
  }
  if (on_frame_ && !closed_) on_frame_(h.cmd);
}

}  // namespace anytls::proto
