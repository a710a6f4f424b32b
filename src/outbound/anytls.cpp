#include "outbound/anytls.hpp"

#include <malloc.h>

#include <atomic>
#include <mutex>
#include <optional>

#include <asio/post.hpp>

#include <asio/experimental/awaitable_operators.hpp>
#include <spdlog/spdlog.h>

#include "anytls/preamble.hpp"
#include "anytls/stream.hpp"
#include "anytls/uot.hpp"
#include "net/coro.hpp"
#include "net/cross_worker_conn.hpp"
#include "net/on_worker.hpp"
#include "net/signal.hpp"
#include "net/socks_address.hpp"
#include "net/workers.hpp"
#include "outbound/uot_client.hpp"
#include "tls/client_connect.hpp"
#include "tls/conn_tls.hpp"
#include "tls/tls_conn.hpp"

namespace anytls::outbound {

using namespace asio::experimental::awaitable_operators;

namespace {
constexpr auto kTlsHandshakeTimeout = std::chrono::seconds(15);

PoolOptions pool_options(const config::AnyTlsOutboundOptions& o) {
  PoolOptions p;
  p.check_interval = o.idle_session_check_interval;
  p.idle_timeout = o.idle_session_timeout;
  p.min_idle = static_cast<std::size_t>(std::max(0, o.min_idle_session));
  p.min_idle_for_age = static_cast<std::size_t>(std::max(0, o.min_idle_session_for_age));
  p.ensure_idle = static_cast<std::size_t>(std::max(0, o.ensure_idle_session));
  p.heartbeat = o.heartbeat;
  p.max_lifetime = o.max_connection_lifetime;
  p.lifetime_jitter = o.connection_lifetime_jitter;
  return p;
}

// Real seconds of a handshake on the pool's clock (virtual in tests).
double seconds_since(net::Clock& clock, net::Clock::time_point t) {
  return std::chrono::duration<double>(clock.now() - t).count();
}
}  // namespace

std::string_view session_end_name(SessionEnd e) {
  switch (e) {
    case SessionEnd::idle_timeout: return "idle_timeout";
    case SessionEnd::age: return "age";
    case SessionEnd::heartbeat_dead: return "heartbeat_dead";
    case SessionEnd::peer_closed: return "peer_closed";
    case SessionEnd::error: return "error";
    case SessionEnd::shutdown: return "shutdown";
  }
  return "error";
}

std::string_view stream_error_name(StreamError e) {
  switch (e) {
    case StreamError::dial: return "dial";
    case StreamError::open: return "open";
    case StreamError::refused: return "refused";
    case StreamError::retry_failed: return "retry_failed";
  }
  return "open";
}

// The pool is global (one per outbound, whatever the number of workers: the
// seed's numbers mean the process) while each session lives on one worker.
// What the pool decides (policy, registry, counters) is guarded by `mu`, taken
// once per stream and per session event, never per byte. A session is only
// touched on its own worker: the registry remembers which, and whoever holds
// the lock elsewhere posts to it (on_worker()).
struct AnyTlsOutbound::Pool : std::enable_shared_from_this<Pool> {
  Pool(asio::io_context& io_, net::Workers* workers_, std::string tag_, config::AnyTlsOutboundOptions opts_,
       net::Dialer dialer_, std::shared_ptr<tls::ClientContext> tls_, Clock& clock, Random* random)
      : io(io_),
        workers(workers_ && workers_->size() > 1 ? workers_ : nullptr),
        clock(clock),
        tag(std::move(tag_)),
        opts(std::move(opts_)),
        dialer(std::move(dialer_)),
        tls(std::move(tls_)),
        own_random(random ? nullptr : std::make_unique<Mt19937Random>()),
        policy(pool_options(opts), clock, random ? *random : *own_random),
        seeds(std::random_device{}()),
        padding(std::make_shared<proto::PaddingState>(
            std::make_shared<const proto::PaddingScheme>(proto::PaddingScheme::default_scheme()))),
        hash(proto::hash_password(opts.password)),
        tick_timer(io.get_executor(), &clock),
        retry_timer(io.get_executor(), &clock) {
    // Pool dials run on the worker their session will live on, in that
    // worker's task group (stop() cancels each on its own thread).
    const std::size_t n = workers ? workers->size() : 1;
    for (std::size_t k = 0; k < n; ++k) {
      auto& ctx = k == 0 ? io : workers->at(k);
      tasks.push_back(std::make_unique<net::TaskGroup>(ctx.get_executor(), "outbound/anytls[" + tag + "]"));
    }
  }

  struct Entry {
    std::shared_ptr<proto::Session> session;
    asio::io_context* worker = nullptr;
    // Set when the pool itself closes the session, so its close handler
    // counts it under that reason.
    std::optional<SessionEnd> end;
  };

  asio::io_context& io;    // worker 0: the tick, the retry timer
  net::Workers* workers;   // null: one worker (io)
  Clock& clock;
  std::string tag;
  config::AnyTlsOutboundOptions opts;
  net::Dialer dialer;
  std::shared_ptr<tls::ClientContext> tls;
  Outbound* detour = nullptr;  // dial: TLS runs over this outbound's stream
  std::unique_ptr<Random> own_random;  // when none was injected

  mutable std::mutex mu;  // everything from here to `stats`
  PoolPolicy policy;
  std::map<std::uint64_t, Entry> sessions;  // every session of the pool, from its dial to its close
  std::mt19937_64 seeds;  // each session's own random generator is seeded from here
  AnyTlsStats stats;      // the sessions' own counters are added when read

  std::shared_ptr<proto::PaddingState> padding;  // locked inside
  proto::PasswordHash hash;
  std::vector<std::unique_ptr<net::TaskGroup>> tasks;  // per worker; [0] also runs the tick
  net::Timer tick_timer;
  net::Timer retry_timer;
  bool started = false;  // worker 0 only
  std::atomic<bool> stopped{false};
  std::atomic<bool> draining{false};  // replaced by a reload: no pooling, streams in use carry on

  // The worker the calling coroutine runs on.
  asio::io_context& here() {
    auto* c = net::Workers::current_context();
    return workers && c ? *c : io;
  }
  std::size_t index_of(const asio::io_context* w) const {
    if (!workers) return 0;
    for (std::size_t k = 0; k < workers->size(); ++k)
      if (&workers->at(k) == w) return k;
    return 0;
  }
  net::TaskGroup& tasks_here() { return *tasks[index_of(&here())]; }


  // Closes a session of the registry under `why` (on its worker).
  void close_session(std::uint64_t seq, SessionEnd why, std::string text) {
    Entry e;
    {
      std::lock_guard lock(mu);
      auto it = sessions.find(seq);
      if (it == sessions.end()) return;
      it->second.end = why;
      e = it->second;
    }
    net::on_worker(e.worker, [s = e.session, text = std::move(text)] { s->close(text); });
  }

  // The session's close handler (on its worker).
  void on_session_closed(std::uint64_t seq, const proto::Session& s, const std::string& reason,
                         net::Clock::time_point born) {
    std::lock_guard lock(mu);
    std::optional<SessionEnd> end;
    if (auto it = sessions.find(seq); it != sessions.end()) {
      end = it->second.end;
      sessions.erase(it);
    }
    count_close(s, reason, born, end);
    policy.remove(seq);
    stats.heartbeats_sent += s.stats().heartbeats_sent;
    stats.heartbeat_responses += s.stats().heartbeat_responses;
    if (s.stats().liveness_failed) ++stats.heartbeat_misses;
  }

  // Pool counters plus the heartbeat counters of every live session (a
  // session leaves the registry when its close handler folds them in).
  AnyTlsStats current_stats() {
    std::lock_guard lock(mu);
    AnyTlsStats st = stats;
    for (const auto& [seq, e] : sessions) {
      st.heartbeats_sent += e.session->stats().heartbeats_sent;
      st.heartbeat_responses += e.session->stats().heartbeat_responses;
    }
    return st;
  }

  Traffic current_traffic(bool with_pool) {
    auto& w = here();
    std::lock_guard lock(mu);
    Traffic t;
    if (with_pool) t = {stats.closed_bytes_up, stats.closed_bytes_down, stats.closed_wire_up, stats.closed_wire_down};
    for (const auto& [seq, e] : sessions) {
      const auto& s = e.session;
      if (e.worker != &w || s->closed()) continue;  // closed ones are counted by their close handler
      t.bytes_up += s->stats().bytes_out;
      t.bytes_down += s->stats().bytes_in;
      auto wire = s->wire_bytes();
      t.wire_up += wire.out;
      t.wire_down += wire.in;
    }
    return t;
  }

  // A stream handle is done with its session (called on the session's worker).
  void release(std::uint64_t seq) {
    std::shared_ptr<proto::Session> s;
    {
      std::lock_guard lock(mu);
      auto it = sessions.find(seq);
      if (it == sessions.end() || it->second.session->closed()) return;
      if (!stopped && !draining) {
        policy.release(seq);
        return;
      }
      s = it->second.session;
    }
    // A session is not reused once its stream ends.
    s->close_when_flushed("outbound replaced");
  }

  // born: when the session was ready (pool clock). Sessions a tick closes
  // have already left the policy, so their age is not asked from it.
  // Under `mu`.
  void count_close(const proto::Session& s, const std::string& reason, net::Clock::time_point born,
                   std::optional<SessionEnd> end) {
    // The pool's own decisions are marked (end); the session's own:
    // its liveness rule, or the peer's close; anything else is an error.
    SessionEnd why = end                           ? *end
                     : s.stats().liveness_failed   ? SessionEnd::heartbeat_dead
                     : reason == "closed by peer"  ? SessionEnd::peer_closed
                                                   : SessionEnd::error;
    ++stats.closed[static_cast<std::size_t>(why)];
    stats.session_age_seconds.observe(std::chrono::duration<double>(clock.now() - born).count());
    stats.closed_bytes_up += s.stats().bytes_out;
    stats.closed_bytes_down += s.stats().bytes_in;
    auto wire = s.wire_bytes();
    stats.closed_wire_up += wire.out;
    stats.closed_wire_down += wire.in;
  }

  template <class F>
  auto locked(F f) {
    std::lock_guard lock(mu);
    return f();
  }

  void apply(const PoolPolicy::TickResult& r);
  void spawn_dial(std::uint64_t seq);
};

// ------------------------------------------------------------------ sessions

namespace {

using PoolPtr = std::shared_ptr<AnyTlsOutbound::Pool>;

// TCP to the server, then TLS: OpenSSL, or Chrome's ClientHello
// (tls.utls); verified and pinned.
asio::awaitable<net::Result<std::unique_ptr<net::Conn>>> connect_direct(PoolPtr p, net::Address server) {
  auto sock = co_await p->dialer.dial_tcp(server);
  if (!sock) co_return sock.error();
  co_return co_await tls::client_handshake(p->tls, std::move(*sock), server.to_string(), kTlsHandshakeTimeout,
                                           &p->clock);
}

// `detour`: a stream to the server through that outbound, TLS over it.
asio::awaitable<net::Result<std::unique_ptr<net::Conn>>> connect_via_detour(PoolPtr p, net::Address server) {
  Metadata md;
  md.inbound = p->tag;
  md.inbound_type = "anytls";
  md.network = Network::tcp;
  md.destination = server;
  auto inner = co_await p->detour->dial(md);
  if (!inner) co_return inner.error();
  co_return co_await tls::client_handshake_over(p->tls, std::move(*inner), server.to_string(), kTlsHandshakeTimeout,
                                                &p->clock);
}

// Dials, authenticates and starts session `seq` on the calling worker, and
// enters it in the registry (it lives on this worker until it closes).
asio::awaitable<net::Result<std::shared_ptr<proto::Session>>> connect_session(PoolPtr p, std::uint64_t seq) {
  net::Address server{p->opts.server, p->opts.server_port};
  const auto started = p->clock.now();
  // The call outside any branch (GCC 12: no co_await in a branch).
  auto op = p->detour ? connect_via_detour(p, server) : connect_direct(p, server);
  auto tls_conn = co_await std::move(op);
  // TCP + TLS 1.3: about two round trips, a first estimate of one.
  const auto connect_time = (p->clock.now() - started) / 2;
  if (!tls_conn) co_return tls_conn.error();
  auto conn = std::move(*tls_conn);
  // The whole preamble in one TLS write: reference servers parse it from the
  // first record.
  auto preamble = proto::encode_preamble(p->hash, p->padding->get()->preamble_padding_length());
  if (auto ec = co_await conn->write(asio::buffer(preamble)))
    co_return net::Error{ec, "write to " + server.to_string() + ": " + ec.message()};

  proto::SessionOptions so;
  so.role = proto::Role::client;
  so.log_prefix = fmt::format("[{}][S{}]", p->tag, seq);
  so.padding = p->padding;
  // Its own generator: sessions of other workers draw at the same time. A
  // small one (about 100 bytes of state; a mt19937_64 holds 2.5 KB, which
  // every idle pooled session would carry) for padding lengths.
  so.rand = [rng = std::ranlux48_base(p->locked([&] { return p->seeds(); }))](std::uint32_t lo,
                                                                              std::uint32_t hi) mutable {
    return std::uniform_int_distribution<std::uint32_t>(lo, hi - 1)(rng);
  };
  so.clock = &p->clock;
  so.rtt_hint = std::chrono::duration_cast<net::Duration>(connect_time);
  so.heartbeat.interval = p->policy.options().heartbeat;  // fixed at construction
  if (so.heartbeat.interval > net::Duration::zero())
    so.heartbeat.first_delay = p->locked([&] { return p->policy.heartbeat_first_delay(); });
  auto& worker = p->here();
  auto session = std::make_shared<proto::Session>(worker.get_executor(), std::move(conn), std::move(so));
  std::weak_ptr<AnyTlsOutbound::Pool> weak = p;
  const auto born = p->clock.now();
  session->set_close_handler([weak, seq, born](proto::Session& s, const std::string& reason) {
    if (auto pool = weak.lock()) pool->on_session_closed(seq, s, reason, born);
  });
  {
    std::lock_guard lock(p->mu);
    p->stats.handshake_seconds.observe(seconds_since(p->clock, started));
    ++p->stats.sessions_created;
    p->sessions[seq] = AnyTlsOutbound::Pool::Entry{session, &worker, std::nullopt};
  }
  session->start();
  co_return session;
}

asio::awaitable<void> retry_after(PoolPtr p, net::Duration delay);

// A pool dial (ensure_idle_session), on the worker its session will live on.
asio::awaitable<void> pool_dial(PoolPtr p, std::uint64_t seq) {
  auto r = co_await connect_session(p, seq);
  if (p->stopped || p->draining) {
    if (r) p->close_session(seq, SessionEnd::shutdown, "outbound stopped");
    co_return;
  }
  if (!r) {
    std::optional<net::Duration> delay;
    {
      std::lock_guard lock(p->mu);
      ++p->stats.session_dial_failures;
      delay = p->policy.pool_dial_failed(seq, r.error().text());
    }
    if (delay) asio::post(p->io, [p, d = *delay] { p->tasks[0]->spawn(retry_after(p, d), "dial retry"); });
    co_return;
  }
  auto s = *r;
  const bool wanted = !s->closed() && p->locked([&] { return p->policy.pool_dial_succeeded(seq); });
  if (!wanted) {
    s->close("not needed by the pool");
    p->locked([&] { p->policy.remove(seq); });
    co_return;
  }
  // A pre-warmed session speaks at once: Settings now, so version
  // negotiation and heartbeats need no stream.
  s->send_settings();
}

asio::awaitable<void> retry_after(PoolPtr p, net::Duration delay) {
  p->retry_timer.expires_after(delay);
  auto ec = co_await p->retry_timer.wait();
  if (ec || p->stopped || p->draining) co_return;
  auto seqs = p->locked([&] { return p->policy.ensure(); });
  for (auto seq : seqs) p->spawn_dial(seq);
}

asio::awaitable<void> tick_loop(PoolPtr p) {
  while (!p->stopped && !p->draining) {
    p->tick_timer.expires_after(p->policy.options().check_interval);
    auto ec = co_await p->tick_timer.wait();
    if (ec || p->stopped || p->draining) co_return;
    auto r = p->locked([&] { return p->policy.tick(); });
    p->apply(r);
    // Handshakes leave freed memory behind; give it back to the system so a
    // large idle pool stays small in RSS.
    malloc_trim(0);
  }
}

}  // namespace

void AnyTlsOutbound::Pool::apply(const PoolPolicy::TickResult& r) {
  for (const auto& c : r.close) {
    if (c.reason == CloseReason::idle_timeout)
      close_session(c.seq, SessionEnd::idle_timeout, "idle timeout");
    else
      close_session(c.seq, SessionEnd::age, "max lifetime");
  }
  for (auto seq : r.dial) spawn_dial(seq);
}

// Pre-warmed sessions are spread over the workers in turn.
void AnyTlsOutbound::Pool::spawn_dial(std::uint64_t seq) {
  const std::size_t k = workers ? workers->next() : 0;
  auto self = shared_from_this();
  auto& ctx = k == 0 ? io : workers->at(k);
  net::on_worker(&ctx, [self, k, seq] { self->tasks[k]->spawn(pool_dial(self, seq), fmt::format("pool dial #{}", seq)); });
}

// ------------------------------------------------------------------ streams

namespace {

struct Opened {
  bool pooled = false;  // taken from the pool (not dialled for this stream)
  std::uint64_t seq = 0;
  std::shared_ptr<proto::Session> session;
  std::shared_ptr<proto::Stream> stream;
};

// Which session a stream goes on.
enum class Pick {
  newest_idle,     // the newest idle session (this worker's first), else a new one
  live_or_fresh,   // an idle session of this worker heard from since the failure, else a new one (a retry)
};

// An idle session is known to be alive when the server spoke on it after
// `since` (when the dead session went silent): a session heard only before
// may sit behind the same frozen path.
bool heard_since(const proto::Session& s, net::Clock::time_point since) {
  return !s.closed() && s.peer_version() >= 2 && s.last_frame_at() > since;
}

// An idle session taken from the pool.
struct Taken {
  std::uint64_t seq = 0;
  std::shared_ptr<proto::Session> session;
  asio::io_context* worker = nullptr;
};

// Takes an idle session (the policy marks it busy). Only sessions of the
// calling worker are looked into: others may be busy on their own thread.
std::optional<Taken> take(const PoolPtr& p, Pick pick, net::Clock::time_point since) {
  auto* here = &p->here();
  std::lock_guard lock(p->mu);
  auto* pool = p.get();
  auto mine = [pool, here](std::uint64_t seq) {
    auto it = pool->sessions.find(seq);
    return it != pool->sessions.end() && it->second.worker == here;
  };
  std::optional<std::uint64_t> seq;
  if (pick == Pick::newest_idle) {
    seq = p->policy.take_if(mine);
    if (!seq) seq = p->policy.take();
  } else {
    seq = p->policy.take_if([&](std::uint64_t s) {
      return mine(s) && heard_since(*pool->sessions.find(s)->second.session, since);
    });
  }
  if (!seq) return std::nullopt;
  auto it = p->sessions.find(*seq);
  if (it == p->sessions.end()) {
    p->policy.remove(*seq);
    return Taken{*seq, nullptr, nullptr};  // gone: the caller takes another
  }
  return Taken{*seq, it->second.session, it->second.worker};
}

// SYN + destination on a taken session, on its worker. nullopt: it turned
// out dead (dropped; never the user's problem: take another).
std::optional<Opened> open_taken(const PoolPtr& p, const Taken& t, const std::vector<std::uint8_t>& addr) {
  if (!t.session) return std::nullopt;
  if (t.session->closed()) {
    p->locked([&] { p->policy.remove(t.seq); });
    return std::nullopt;
  }
  auto stream = t.session->open_stream(addr);
  if (!stream) {
    // Dead without anyone noticing yet.
    t.session->close("dead");
    return std::nullopt;
  }
  return Opened{true, t.seq, t.session, std::move(*stream)};
}

// SYN + destination on a new session of the calling worker.
asio::awaitable<net::Result<Opened>> open_fresh(PoolPtr p, std::vector<std::uint8_t> addr) {
  auto count = [&p](StreamError e) { p->locked([&] { ++p->stats.stream_errors[static_cast<std::size_t>(e)]; }); };
  Opened o;
  o.seq = p->locked([&] {
    ++p->stats.stream_dials;
    return p->policy.allocate_seq();
  });
  auto r = co_await connect_session(p, o.seq);
  p->locked([&] { --p->stats.stream_dials; });
  if (!r) {
    p->locked([&] {
      ++p->stats.session_dial_failures;
      ++p->stats.stream_errors[static_cast<std::size_t>(StreamError::dial)];
    });
    spdlog::debug("[{}] create session: {}", p->tag, r.error().text());
    co_return r.error();
  }
  o.session = *r;
  if (p->stopped) {
    p->close_session(o.seq, SessionEnd::shutdown, "outbound stopped");
    co_return net::Error{asio::error::operation_aborted, "outbound stopped"};
  }
  if (o.session->closed()) {
    count(StreamError::open);
    co_return net::Error{asio::error::connection_aborted, "session closed during set-up"};
  }
  p->locked([&] { p->policy.add_busy(o.seq); });
  auto stream = o.session->open_stream(addr);
  if (!stream) {
    o.session->close("dead");
    count(StreamError::open);
    co_return stream.error();
  }
  o.stream = std::move(*stream);
  co_return o;
}

// SYN + destination on a session of this worker: an idle one (pick) or a
// new one. A pooled session that is already known dead is dropped and the
// next one tried; a failing new session is an error. Used for retries,
// which stay on the worker of the stream that failed.
asio::awaitable<net::Result<Opened>> open_here(PoolPtr p, std::vector<std::uint8_t> addr, Pick pick,
                                               net::Clock::time_point since) {
  for (;;) {
    if (p->stopped) co_return net::Error{asio::error::operation_aborted, "outbound stopped"};
    auto t = take(p, pick, since);
    if (!t) break;
    if (auto o = open_taken(p, *t, addr)) co_return std::move(*o);
  }
  co_return co_await open_fresh(p, std::move(addr));
}

// Hedging a pooled stream: a live v2 server answers a HeartRequest within a
// round trip, whatever the stream's destination is doing, so silence for
// kHedgeRtts round trips (never less than kHedgeFloor) after one means the
// session is dead, long before the 3 s SYNACK watchdog would say so.
constexpr int kHedgeRtts = 6;
constexpr net::Duration kHedgeFloor = std::chrono::milliseconds(200);

net::Duration hedge_bound(const proto::Session& s, net::Duration cap) {
  auto rtt = s.rtt();
  if (!rtt) return cap;
  return std::clamp<net::Duration>(*rtt * kHedgeRtts, kHedgeFloor, cap);
}

// The user's end of a pooled stream. Returned at once, like the reference
// client: the destination travels with the SYN and the user's first bytes
// follow without waiting for the SYNACK. Until the stream is confirmed, what
// the user writes is also kept (up to kReplayLimit), so that if the session
// turns out dead the stream is reopened once and replayed: the user never
// sees a dead pooled session. Dead means: a write error, no SYNACK within
// 3 s (v2), silence after a probe (hedge_bound), or a server that never
// said anything at all. When done, the session goes back to the pool.
class PooledConn final : public net::Conn {
 public:
  static constexpr std::size_t kReplayLimit = 64 * 1024;

  PooledConn(PoolPtr p, Opened o, std::vector<std::uint8_t> addr)
      : pool_(std::move(p)), o_(std::move(o)), addr_(std::move(addr)) {
    watch();
  }
  ~PooledConn() override { close(); }

  asio::awaitable<net::ReadResult> read_some(asio::mutable_buffer buf) override { return read(buf, nullptr); }
  asio::awaitable<net::ReadResult> read_leased(net::Lease& lease) override { return read({}, &lease); }

  // Into buf, or into the lease when there is one.
  asio::awaitable<net::ReadResult> read(asio::mutable_buffer buf, net::Lease* lease) {
    for (;;) {
      net::ReadResult r;
      if (lease)
        r = co_await o_.stream->read_leased(*lease);
      else
        r = co_await o_.stream->read_some(buf);
      auto [ec, n] = r;
      if (!ec) {
        if (n > 0) confirm();
        co_return net::ReadResult{ec, n};
      }
      if (!retryable()) {
        if (ec == asio::error::connection_refused && !refused_counted_) {
          refused_counted_ = true;
          pool_->locked([&] { ++pool_->stats.stream_errors[static_cast<std::size_t>(StreamError::refused)]; });
        }
        co_return net::ReadResult{ec, n};
      }
      const bool ok = co_await reopen();
      if (!ok) co_return net::ReadResult{ec, n};
    }
  }

  asio::awaitable<std::error_code> write(asio::const_buffer buf) override {
    if (replaying_ && confirmed()) confirm();
    if (replaying_) {
      if (replay_.size() + buf.size() <= kReplayLimit) {
        auto* b = static_cast<const std::uint8_t*>(buf.data());
        replay_.insert(replay_.end(), b, b + buf.size());
      } else {
        replay_overflow_ = true;
      }
    }
    auto ec = co_await o_.stream->write(buf);
    if (!ec || !retryable()) co_return ec;
    // reopen() replays everything written so far, this buffer included.
    const bool ok = co_await reopen();
    co_return ok ? std::error_code{} : ec;
  }

  asio::awaitable<std::error_code> write_spent(net::Lease& lease, std::size_t n) override {
    if (replaying_ && confirmed()) confirm();
    // Unconfirmed bytes are kept for a replay: those go through write().
    // (The buffer bound first: GCC 12 rule 1, docs/architecture.md.)
    const asio::const_buffer bytes(lease.data(), n);
    if (replaying_) co_return co_await write(bytes);
    co_return co_await o_.stream->write_spent(lease, n);
  }

  void shutdown_write() override { o_.stream->close(); }
  std::string failure() const override { return o_.stream->failure(); }

  void close() override {
    o_.stream->close();
    if (!released_) {
      released_ = true;
      pool_->release(o_.seq);
    }
  }

 private:
  // Decides how the stream's session can be told dead, and arms that.
  void watch() {
    auto& s = *o_.session;
    // A pooled session of a v2 server: its SYNACK watchdog, and a probe.
    watched_ = o_.pooled && s.peer_version() >= 2;
    // Or a session (pooled or fresh) whose server has said nothing yet: it
    // is dead if that goes on (Session::open_stream armed the bound).
    replaying_ = !retried_ && (watched_ || !s.heard_from_peer());
    if (watched_) s.expect_frame_within(hedge_bound(s, std::chrono::milliseconds(3000)), true);
  }

  // Nothing can tell the session dead any more: the SYNACK came, or a
  // session that was not watched has been heard from.
  bool confirmed() const {
    return o_.stream->synack_received() || (!watched_ && o_.session->heard_from_peer());
  }
  void confirm() {
    replaying_ = false;
    std::vector<std::uint8_t>().swap(replay_);
  }

  // The stream failed because its session died before confirming it: a
  // watched session for any reason, another one only of silence (a server
  // that closes at once, e.g. on a wrong password, is not asked twice).
  bool retryable() const {
    return replaying_ && !retried_ && !replay_overflow_ && !o_.stream->synack_received() && o_.session->closed() &&
           (watched_ || o_.session->stats().liveness_failed) && !pool_->stopped;
  }

  asio::awaitable<bool> reopen() {
    retried_ = true;
    pool_->locked([&] { ++pool_->stats.retries; });
    spdlog::debug("{} session is dead ({}), retrying the stream on another", o_.session->log_prefix(),
                  o_.stream->failure());
    // Silent since the probe (or since the stream opened); a session that
    // died otherwise is dead now.
    auto since = o_.session->silent_since().value_or(pool_->clock.now());
    auto r = co_await open_here(pool_, addr_, Pick::live_or_fresh, since);
    if (!r) {
      pool_->locked([&] { ++pool_->stats.stream_errors[static_cast<std::size_t>(StreamError::retry_failed)]; });
      co_return false;
    }
    o_.stream->close();
    pool_->release(o_.seq);
    o_ = std::move(*r);
    watch();
    if (!replay_.empty()) {
      auto ec = co_await o_.stream->write(asio::buffer(replay_));
      if (ec) co_return false;
    }
    if (!replaying_) std::vector<std::uint8_t>().swap(replay_);
    co_return true;
  }

  PoolPtr pool_;
  Opened o_;
  std::vector<std::uint8_t> addr_;
  std::vector<std::uint8_t> replay_;
  bool replaying_ = false;
  bool watched_ = false;
  bool replay_overflow_ = false;
  bool retried_ = false;
  bool released_ = false;
  bool refused_counted_ = false;
};

// A stream on an idle session of another worker, opened there without the
// caller waiting for it: the caller's SOCKS reply (and so its first bytes)
// need not wait for two thread hand-offs. Built on the caller's worker
// holding plain data only, then used on the session's worker alone: open()
// is posted there first, and every operation is posted after it (a worker
// runs what is posted to it in order), so an operation finds the stream
// already open. Only a taken session that turned out dead makes operations
// wait, while the stream is opened on another session of that worker (or a
// new one), as PooledConn retries a dead session.
class RemoteOpen final : public net::Conn {
 public:
  RemoteOpen(PoolPtr p, std::vector<std::uint8_t> addr) : pool_(std::move(p)), addr_(std::move(addr)) {}

  // On the session's worker, before any operation.
  static void open(const std::shared_ptr<RemoteOpen>& self, const Taken& t) {
    if (auto o = open_taken(self->pool_, t, self->addr_)) {
      self->conn_ = std::make_unique<PooledConn>(self->pool_, std::move(*o), self->addr_);
      return;
    }
    self->opened_.emplace(self->pool_->here().get_executor());
    self->pool_->tasks_here().spawn(reopen(self->pool_, self), "open stream");
  }

  asio::awaitable<net::ReadResult> read_some(asio::mutable_buffer buf) override {
    auto ec = co_await opened();
    if (ec) co_return net::ReadResult{ec, 0};
    co_return co_await conn_->read_some(buf);
  }
  asio::awaitable<net::ReadResult> read_leased(net::Lease& lease) override {
    auto ec = co_await opened();
    if (ec) co_return net::ReadResult{ec, 0};
    co_return co_await conn_->read_leased(lease);
  }
  asio::awaitable<std::error_code> write(asio::const_buffer buf) override {
    auto ec = co_await opened();
    if (ec) co_return ec;
    co_return co_await conn_->write(buf);
  }
  asio::awaitable<std::error_code> write_spent(net::Lease& lease, std::size_t n) override {
    auto ec = co_await opened();
    if (ec) co_return ec;
    co_return co_await conn_->write_spent(lease, n);
  }
  void shutdown_write() override {
    if (conn_) conn_->shutdown_write();
    shut_ = true;
  }
  void close() override {
    if (conn_) conn_->close();
    closed_ = true;
    if (opened_) opened_->notify_all();
  }
  std::string failure() const override { return conn_ ? conn_->failure() : failure_; }

 private:
  // The dead session's replacement: another idle session of this worker
  // that is known alive, or a new one.
  static asio::awaitable<void> reopen(PoolPtr p, std::shared_ptr<RemoteOpen> self) {
    // However this ends (a cancelled task too), waiting operations go on.
    struct Done {
      explicit Done(RemoteOpen& r) : r(r) {}
      ~Done() {
        r.pending_ = false;
        r.opened_->notify_all();
      }
      RemoteOpen& r;
    } done(*self);
    const net::Clock::time_point any_time{};
    auto r = co_await open_here(p, self->addr_, Pick::live_or_fresh, any_time);
    if (r && !self->closed_) {
      self->conn_ = std::make_unique<PooledConn>(p, std::move(*r), self->addr_);
      if (self->shut_) self->conn_->shutdown_write();
    } else if (r) {
      r->stream->close();
      p->release(r->seq);
    } else {
      self->failure_ = r.error().text();
    }
  }

  asio::awaitable<std::error_code> opened() {
    while (!conn_ && opened_ && pending_ && !closed_) co_await opened_->wait();
    if (conn_) co_return std::error_code{};
    co_return closed_ ? asio::error::operation_aborted : asio::error::connection_aborted;
  }

  PoolPtr pool_;
  std::vector<std::uint8_t> addr_;
  std::unique_ptr<net::Conn> conn_;   // the PooledConn, once opened
  std::optional<net::Signal> opened_;  // only when the first session was dead
  bool pending_ = true;
  bool closed_ = false;
  bool shut_ = false;
  std::string failure_;
};

asio::awaitable<net::Result<std::unique_ptr<net::Conn>>> open_stream(PoolPtr p, net::Address dest) {
  std::vector<std::uint8_t> addr;
  if (!net::append_socks_address(addr, dest))
    co_return net::Error{asio::error::invalid_argument, "invalid destination " + dest.to_string()};
  auto* here = &p->here();
  std::unique_ptr<net::Conn> conn;
  while (!conn) {
    if (p->stopped) co_return net::Error{asio::error::operation_aborted, "outbound stopped"};
    auto t = take(p, Pick::newest_idle, net::Clock::time_point{});
    if (!t) {
      // Nothing idle anywhere: a new session on this worker.
      auto r = co_await open_fresh(p, addr);
      if (!r) co_return r.error();
      conn = std::make_unique<PooledConn>(p, std::move(*r), std::move(addr));
      break;
    }
    if (!t->worker || t->worker == here) {
      if (auto o = open_taken(p, *t, addr)) conn = std::make_unique<PooledConn>(p, std::move(*o), addr);
      continue;
    }
    // An idle session of another worker: the stream lives there and this
    // worker reaches it through a hop per operation (no copy per byte). Its
    // opening is sent ahead, not awaited (RemoteOpen).
    auto* worker = t->worker;
    auto remote = std::make_shared<RemoteOpen>(p, addr);
    net::on_worker(worker, [remote, taken = std::move(*t)] { RemoteOpen::open(remote, taken); });
    conn = std::make_unique<net::CrossWorkerConn>(*worker, std::move(remote));
    p->locked([&] { ++p->stats.cross_worker_streams; });
  }
  p->locked([&] { ++p->stats.streams; });
  co_return conn;
}

}  // namespace

// ------------------------------------------------------------------ outbound

AnyTlsOutbound::AnyTlsOutbound(asio::io_context& io, std::string tag, config::AnyTlsOutboundOptions opts,
                               net::Dialer dialer, std::shared_ptr<tls::ClientContext> tls, Clock* clock,
                               Random* random, net::Workers* workers) {
  // The pool may outlive this object (coroutines hold it): the clock it
  // uses is the process's, or the caller's, never one owned here.
  if (!clock) clock = &net::system_clock();
  pool_ = std::make_shared<Pool>(io, workers, std::move(tag), std::move(opts), std::move(dialer), std::move(tls),
                                 *clock, random);
}

AnyTlsOutbound::~AnyTlsOutbound() { stop(); }

net::Result<std::unique_ptr<AnyTlsOutbound>> AnyTlsOutbound::create(asio::io_context& io, std::string tag,
                                                                   const config::AnyTlsOutboundOptions& opts,
                                                                   net::Dialer dialer, Clock* clock,
                                                                   net::Workers* workers) {
  auto tls = tls::ClientContext::create(opts.tls, opts.server);
  if (!tls) return tls.error();
  return std::make_unique<AnyTlsOutbound>(io, std::move(tag), opts, std::move(dialer), *tls, clock, nullptr,
                                          workers);
}

const std::string& AnyTlsOutbound::tag() const { return pool_->tag; }
AnyTlsStats AnyTlsOutbound::stats() const { return pool_->current_stats(); }
const PoolPolicy& AnyTlsOutbound::policy() const { return pool_->policy; }
std::size_t AnyTlsOutbound::idle_count() const { return pool_->locked([&] { return pool_->policy.idle_count(); }); }
std::size_t AnyTlsOutbound::dialing_count() const {
  return pool_->locked([&] { return pool_->policy.dialing_count(); });
}
PoolPolicy::Stats AnyTlsOutbound::policy_stats() const {
  return pool_->locked([&] { return pool_->policy.stats(); });
}
void AnyTlsOutbound::inspect_policy(const std::function<void(const PoolPolicy&)>& f) const {
  std::lock_guard lock(pool_->mu);
  f(pool_->policy);
}

void AnyTlsOutbound::set_detour(Outbound* detour) { pool_->detour = detour; }

Traffic AnyTlsOutbound::traffic() const { return pool_->current_traffic(true); }
Traffic AnyTlsOutbound::worker_traffic() const { return pool_->current_traffic(false); }

void AnyTlsOutbound::start() {
  auto& p = *pool_;
  if (p.started || p.stopped) return;
  p.started = true;
  // The first ensure runs now, so the first request after start is warm.
  auto seqs = p.locked([&] { return p.policy.ensure(); });
  for (auto seq : seqs) p.spawn_dial(seq);
  p.tasks[0]->spawn(tick_loop(pool_), "pool tick");
}

namespace {
// Cancels the pool's task group of every worker, each on its own thread.
void cancel_tasks(const PoolPtr& p) {
  for (std::size_t k = 0; k < p->tasks.size(); ++k) {
    auto& ctx = k == 0 ? p->io : p->workers->at(k);
    net::on_worker(&ctx, [p, k] { p->tasks[k]->cancel(); });
  }
}
}  // namespace

void AnyTlsOutbound::stop() {
  auto& p = *pool_;
  if (p.stopped.exchange(true)) return;
  p.tick_timer.cancel();
  p.retry_timer.cancel();
  std::vector<std::uint64_t> seqs;
  p.locked([&] {
    for (auto& [seq, e] : p.sessions) seqs.push_back(seq);
  });
  for (auto seq : seqs) p.close_session(seq, SessionEnd::shutdown, "outbound stopped");
  cancel_tasks(pool_);
}

asio::awaitable<void> AnyTlsOutbound::join() {
  auto pool = pool_;
  co_await pool->tasks[0]->join();
  for (std::size_t k = 1; k < pool->tasks.size(); ++k) {
    auto op = pool->tasks[k]->join();
    co_await net::run_on(pool->workers->at(k).get_executor(), std::move(op));
  }
}

void AnyTlsOutbound::drain() {
  auto& p = *pool_;
  if (p.stopped || p.draining.exchange(true)) return;
  // No ticks, pool dials or re-pooling from now on.
  p.tick_timer.cancel();
  p.retry_timer.cancel();
  std::vector<std::uint64_t> idle;
  p.locked([&] {
    while (auto seq = p.policy.take()) idle.push_back(*seq);
  });
  for (auto seq : idle) p.close_session(seq, SessionEnd::shutdown, "outbound replaced");
}

asio::awaitable<net::Result<std::unique_ptr<net::Conn>>> AnyTlsOutbound::dial(const Metadata& md) {
  co_return co_await open_stream(pool_, md.destination);
}

asio::awaitable<net::Result<std::unique_ptr<net::PacketConn>>> AnyTlsOutbound::listen_packet(const Metadata& md) {
  // Named, not a temporary inside the co_await expression: GCC 12 destroys
  // such a temporary twice (double free of its string).
  net::Address uot_address{std::string(proto::kUotMagicAddress), 0};
  auto conn = co_await open_stream(pool_, uot_address);
  if (!conn) co_return conn.error();
  co_return co_await make_uot_client(std::move(*conn), md.destination);
}

}  // namespace anytls::outbound
