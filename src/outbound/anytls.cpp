#include "outbound/anytls.hpp"

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/experimental/awaitable_operators.hpp>
#include <asio/use_awaitable.hpp>
#include <spdlog/spdlog.h>

#include "anytls/preamble.hpp"
#include "anytls/stream.hpp"
#include "anytls/uot.hpp"
#include "net/socks_address.hpp"
#include "outbound/uot_client.hpp"
#include "tls/tls_conn.hpp"

namespace anytls::outbound {

using namespace asio::experimental::awaitable_operators;
using Clk = std::chrono::steady_clock;

namespace {
constexpr auto use_tuple = asio::experimental::as_tuple(asio::use_awaitable);
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

asio::awaitable<void> sleep_until(Clk::time_point t) {
  asio::steady_timer timer(co_await asio::this_coro::executor, t);
  (void)co_await timer.async_wait(use_tuple);
}
}  // namespace

struct AnyTlsOutbound::Pool : std::enable_shared_from_this<Pool> {
  Pool(asio::io_context& io_, std::string tag_, config::AnyTlsOutboundOptions opts_, net::Dialer dialer_,
       std::shared_ptr<tls::ClientContext> tls_, Clock& clock, Random& random)
      : io(io_),
        tag(std::move(tag_)),
        opts(std::move(opts_)),
        dialer(std::move(dialer_)),
        tls(std::move(tls_)),
        policy(pool_options(opts), clock, random),
        padding(std::make_shared<proto::PaddingState>(
            std::make_shared<const proto::PaddingScheme>(proto::PaddingScheme::default_scheme()))),
        rng(std::make_shared<std::mt19937_64>(std::random_device{}())),
        hash(proto::hash_password(opts.password)),
        tick_timer(io),
        retry_timer(io) {}

  asio::io_context& io;
  std::string tag;
  config::AnyTlsOutboundOptions opts;
  net::Dialer dialer;
  std::shared_ptr<tls::ClientContext> tls;
  PoolPolicy policy;
  std::shared_ptr<proto::PaddingState> padding;
  std::shared_ptr<std::mt19937_64> rng;
  proto::PasswordHash hash;
  std::map<std::uint64_t, std::shared_ptr<proto::Session>> sessions;
  std::map<std::uint64_t, std::shared_ptr<asio::steady_timer>> heartbeats;
  asio::steady_timer tick_timer;
  asio::steady_timer retry_timer;
  bool started = false;
  bool stopped = false;
  AnyTlsStats stats;

  void on_session_closed(std::uint64_t seq) {
    policy.remove(seq);
    sessions.erase(seq);
    if (auto it = heartbeats.find(seq); it != heartbeats.end()) {
      it->second->cancel();
      heartbeats.erase(it);
    }
  }

  // A stream handle is done with its session.
  void release(std::uint64_t seq) {
    auto it = sessions.find(seq);
    if (it == sessions.end() || it->second->closed() || stopped) return;
    policy.release(seq);
  }

  void apply(const PoolPolicy::TickResult& r);
  void start_heartbeat(std::uint64_t seq, const std::shared_ptr<proto::Session>& s);
};

// ------------------------------------------------------------------ sessions

namespace {

using PoolPtr = std::shared_ptr<AnyTlsOutbound::Pool>;

asio::awaitable<net::Result<std::shared_ptr<proto::Session>>> connect_session(PoolPtr p, std::uint64_t seq) {
  net::Address server{p->opts.server, p->opts.server_port};
  auto sock = co_await p->dialer.dial_tcp(server);
  if (!sock) co_return sock.error();
  auto conn = std::make_unique<tls::TlsConn>(std::move(*sock), p->tls->native(), tls::TlsConn::Role::client);
  p->tls->prepare(conn->native());
  auto hs = co_await (conn->handshake() || sleep_until(Clk::now() + kTlsHandshakeTimeout));
  if (hs.index() != 0)
    co_return net::Error{asio::error::timed_out, "tls handshake with " + server.to_string() + ": timeout"};
  if (auto ec = std::get<0>(hs))
    co_return net::Error{ec, "tls handshake with " + server.to_string() + ": " + conn->last_error_text()};
  if (auto bad = p->tls->check_peer(conn->native()); !bad.empty())
    co_return net::Error{asio::error::access_denied, "tls handshake with " + server.to_string() + ": " + bad};
  // The whole preamble in one TLS write: reference servers parse it from the
  // first record.
  auto preamble = proto::encode_preamble(p->hash, p->padding->get()->preamble_padding_length());
  if (auto ec = co_await conn->write(asio::buffer(preamble)))
    co_return net::Error{ec, "write to " + server.to_string() + ": " + ec.message()};

  proto::SessionOptions so;
  so.role = proto::Role::client;
  so.log_prefix = fmt::format("[{}][S{}]", p->tag, seq);
  so.padding = p->padding;
  auto rng = p->rng;
  so.rand = [rng](std::uint32_t lo, std::uint32_t hi) {
    return std::uniform_int_distribution<std::uint32_t>(lo, hi - 1)(*rng);
  };
  auto session = std::make_shared<proto::Session>(p->io.get_executor(), std::move(conn), std::move(so));
  std::weak_ptr<AnyTlsOutbound::Pool> weak = p;
  session->set_close_handler([weak, seq](proto::Session&, const std::string&) {
    if (auto pool = weak.lock()) pool->on_session_closed(seq);
  });
  session->set_frame_observer([weak](proto::Command cmd) {
    if (cmd != proto::Command::heart_response) return;
    if (auto pool = weak.lock()) ++pool->stats.heartbeat_responses;
    spdlog::debug("[Heartbeat] Received heartbeat response");
  });
  session->start();
  ++p->stats.sessions_created;
  co_return session;
}

asio::awaitable<void> heartbeat_loop(PoolPtr p, std::weak_ptr<proto::Session> weak,
                                     std::shared_ptr<asio::steady_timer> timer) {
  const auto interval = p->policy.options().heartbeat;
  // A v2 server answers every request; silence this long means dead.
  const auto liveness = std::max<net::Duration>(interval, std::chrono::seconds(5));
  auto next = Clk::now() + p->policy.heartbeat_first_delay();
  std::optional<Clk::time_point> awaiting;
  for (;;) {
    auto wake = next;
    if (awaiting) wake = std::min(wake, *awaiting + std::chrono::duration_cast<Clk::duration>(liveness));
    timer->expires_at(wake);
    auto [ec] = co_await timer->async_wait(use_tuple);
    if (ec || p->stopped) co_return;
    auto s = weak.lock();
    if (!s || s->closed()) co_return;
    auto now = Clk::now();
    if (awaiting && s->last_frame_at() >= *awaiting) awaiting.reset();
    if (awaiting && now >= *awaiting + liveness) {
      ++p->stats.heartbeat_misses;
      spdlog::warn("[Heartbeat] No response from server within {}, closing session {}", net::format_duration(liveness),
                   s->log_prefix());
      s->close("heartbeat timeout");
      co_return;
    }
    if (now >= next) {
      spdlog::debug("[Heartbeat] Sending heartbeat request");
      s->send_heart_request();
      ++p->stats.heartbeats_sent;
      spdlog::debug("[Heartbeat] Heartbeat sent successfully");
      // Against a v1 server heartbeats are sent but not awaited.
      if (s->peer_version() >= 2 && !awaiting) awaiting = now;
      next = now + std::chrono::duration_cast<Clk::duration>(interval);
    }
  }
}

asio::awaitable<void> retry_after(PoolPtr p, net::Duration delay);

asio::awaitable<void> pool_dial(PoolPtr p, std::uint64_t seq) {
  auto r = co_await connect_session(p, seq);
  if (p->stopped) {
    if (r) (*r)->close("outbound stopped");
    co_return;
  }
  if (!r) {
    ++p->stats.session_dial_failures;
    if (auto delay = p->policy.pool_dial_failed(seq, r.error().text()))
      asio::co_spawn(p->io, retry_after(p, *delay), asio::detached);
    co_return;
  }
  auto s = *r;
  if (s->closed() || !p->policy.pool_dial_succeeded(seq)) {
    s->close("not needed by the pool");
    p->policy.remove(seq);
    co_return;
  }
  p->sessions[seq] = s;
  // A pre-warmed session speaks at once: Settings now, so version
  // negotiation and heartbeats need no stream.
  s->send_settings();
  p->start_heartbeat(seq, s);
}

asio::awaitable<void> retry_after(PoolPtr p, net::Duration delay) {
  p->retry_timer.expires_after(delay);
  auto [ec] = co_await p->retry_timer.async_wait(use_tuple);
  if (ec || p->stopped) co_return;
  for (auto seq : p->policy.ensure()) asio::co_spawn(p->io, pool_dial(p, seq), asio::detached);
}

asio::awaitable<void> tick_loop(PoolPtr p) {
  while (!p->stopped) {
    p->tick_timer.expires_after(p->policy.options().check_interval);
    auto [ec] = co_await p->tick_timer.async_wait(use_tuple);
    if (ec || p->stopped) co_return;
    p->apply(p->policy.tick());
  }
}

}  // namespace

void AnyTlsOutbound::Pool::apply(const PoolPolicy::TickResult& r) {
  for (const auto& c : r.close) {
    auto it = sessions.find(c.seq);
    if (it == sessions.end()) continue;
    auto s = it->second;
    s->close(c.reason == CloseReason::idle_timeout ? "idle timeout" : "max lifetime");
  }
  for (auto seq : r.dial) asio::co_spawn(io, pool_dial(shared_from_this(), seq), asio::detached);
}

void AnyTlsOutbound::Pool::start_heartbeat(std::uint64_t seq, const std::shared_ptr<proto::Session>& s) {
  if (policy.options().heartbeat <= net::Duration::zero()) return;
  auto timer = std::make_shared<asio::steady_timer>(io);
  heartbeats[seq] = timer;
  asio::co_spawn(io, heartbeat_loop(shared_from_this(), s, timer), asio::detached);
}

// ------------------------------------------------------------------ streams

namespace {

// The user's end of a pooled stream: hands the session back when done.
class PooledConn final : public net::Conn {
 public:
  PooledConn(PoolPtr p, std::uint64_t seq, std::shared_ptr<proto::Stream> s)
      : pool_(std::move(p)), seq_(seq), s_(std::move(s)) {}
  ~PooledConn() override { close(); }
  asio::awaitable<net::ReadResult> read_some(asio::mutable_buffer buf) override { return s_->read_some(buf); }
  asio::awaitable<std::error_code> write(asio::const_buffer buf) override { return s_->write(buf); }
  void shutdown_write() override { s_->close(); }
  void close() override {
    s_->close();
    if (!released_) {
      released_ = true;
      pool_->release(seq_);
    }
  }

 private:
  PoolPtr pool_;
  std::uint64_t seq_;
  std::shared_ptr<proto::Stream> s_;
  bool released_ = false;
};

asio::awaitable<net::Result<std::unique_ptr<net::Conn>>> open_stream(PoolPtr p, net::Address dest) {
  if (p->stopped) co_return net::Error{asio::error::operation_aborted, "outbound stopped"};
  std::vector<std::uint8_t> addr;
  net::append_socks_address(addr, dest);
  bool retried = false;
  for (;;) {
    std::uint64_t seq = 0;
    std::shared_ptr<proto::Session> s;
    bool fresh = false;
    if (auto taken = p->policy.take()) {
      seq = *taken;
      auto it = p->sessions.find(seq);
      if (it == p->sessions.end() || it->second->closed()) {
        p->policy.remove(seq);
        continue;
      }
      s = it->second;
    } else {
      seq = p->policy.allocate_seq();
      auto r = co_await connect_session(p, seq);
      if (!r) {
        ++p->stats.session_dial_failures;
        spdlog::debug("[{}] create session: {}", p->tag, r.error().text());
        co_return r.error();
      }
      s = *r;
      if (p->stopped) {
        s->close("outbound stopped");
        co_return net::Error{asio::error::operation_aborted, "outbound stopped"};
      }
      if (s->closed()) co_return net::Error{asio::error::connection_aborted, "session closed during set-up"};
      p->policy.add_busy(seq);
      p->sessions[seq] = s;
      p->start_heartbeat(seq, s);
      fresh = true;
    }
    auto stream = s->open_stream(addr);
    bool dead = !stream;
    std::optional<net::Error> failure;
    if (stream && s->peer_version() >= 2) {
      // v2 servers answer every SYN with the dial result; waiting for it
      // gives the user real errors and lets a dead pooled session (no SYNACK
      // within 3 s) be replaced without the user noticing.
      failure = co_await (*stream)->wait_synack();
      if (failure && s->closed()) dead = true;
    }
    if (dead) {
      if (!fresh && !retried) {
        retried = true;
        ++p->stats.retries;
        spdlog::debug("{} pooled session is dead, retrying on a new session", s->log_prefix());
        if (!s->closed()) s->close("dead");
        continue;
      }
      if (!s->closed()) s->close("dead");
      co_return stream ? *failure : stream.error();
    }
    if (failure) {
      // The server could not reach the target; the session itself is fine.
      p->release(seq);
      co_return *failure;
    }
    ++p->stats.streams;
    co_return std::unique_ptr<net::Conn>(std::make_unique<PooledConn>(p, seq, std::move(*stream)));
  }
}

}  // namespace

// ------------------------------------------------------------------ outbound

AnyTlsOutbound::AnyTlsOutbound(asio::io_context& io, std::string tag, config::AnyTlsOutboundOptions opts,
                               net::Dialer dialer, std::shared_ptr<tls::ClientContext> tls, Clock* clock,
                               Random* random) {
  if (!clock) {
    own_clock_ = std::make_unique<SystemClock>();
    clock = own_clock_.get();
  }
  if (!random) {
    own_random_ = std::make_unique<Mt19937Random>();
    random = own_random_.get();
  }
  pool_ = std::make_shared<Pool>(io, std::move(tag), std::move(opts), std::move(dialer), std::move(tls), *clock,
                                 *random);
}

AnyTlsOutbound::~AnyTlsOutbound() { stop(); }

net::Result<std::unique_ptr<AnyTlsOutbound>> AnyTlsOutbound::create(asio::io_context& io, std::string tag,
                                                                   const config::AnyTlsOutboundOptions& opts,
                                                                   net::Dialer dialer) {
  auto tls = tls::ClientContext::create(opts.tls, opts.server);
  if (!tls) return tls.error();
  return std::make_unique<AnyTlsOutbound>(io, std::move(tag), opts, std::move(dialer), *tls);
}

const std::string& AnyTlsOutbound::tag() const { return pool_->tag; }
const AnyTlsStats& AnyTlsOutbound::stats() const { return pool_->stats; }
const PoolPolicy& AnyTlsOutbound::policy() const { return pool_->policy; }

void AnyTlsOutbound::start() {
  auto& p = *pool_;
  if (p.started || p.stopped) return;
  p.started = true;
  // The first ensure runs now, so the first request after start is warm.
  for (auto seq : p.policy.ensure()) asio::co_spawn(p.io, pool_dial(pool_, seq), asio::detached);
  asio::co_spawn(p.io, tick_loop(pool_), asio::detached);
}

void AnyTlsOutbound::tick_now() { pool_->apply(pool_->policy.tick()); }

void AnyTlsOutbound::stop() {
  auto& p = *pool_;
  if (p.stopped) return;
  p.stopped = true;
  p.tick_timer.cancel();
  p.retry_timer.cancel();
  auto sessions = p.sessions;
  for (auto& [seq, s] : sessions) s->close("outbound stopped");
  for (auto& [seq, t] : p.heartbeats) t->cancel();
  p.heartbeats.clear();
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
