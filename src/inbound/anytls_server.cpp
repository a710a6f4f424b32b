#include "inbound/anytls_server.hpp"

#include <malloc.h>
#include <sys/resource.h>

#include <algorithm>
#include <random>

#include <asio/experimental/awaitable_operators.hpp>
#include <asio/post.hpp>
#include <spdlog/spdlog.h>

#include "inbound/anytls_stream.hpp"
#include "inbound/auth_preamble.hpp"
#include "net/coro.hpp"
#include "net/log_limit.hpp"
#include "net/relay.hpp"
#include "net/tcp_conn.hpp"
#include "tls/tls_conn.hpp"

namespace anytls::inbound {

using namespace asio::experimental::awaitable_operators;

namespace {

// Keeps a pointer in a registry for the duration of a scope.
template <class T>
struct Registered {
  std::list<T>& list;
  typename std::list<T>::iterator it;
  Registered(std::list<T>& l, T v) : list(l), it(l.insert(l.end(), std::move(v))) {}
  ~Registered() { list.erase(it); }
};

}  // namespace

AnyTlsServer::AnyTlsServer(asio::io_context& io, std::string tag, config::AnyTlsInboundOptions opts,
                           route::Router& router, std::shared_ptr<net::Resolver> resolver, net::Clock* clock)
    : io_(io),
      tag_(std::move(tag)),
      opts_(std::move(opts)),
      router_(router),
      resolver_(std::move(resolver)),
      clock_(clock),
      listener_(io),
      tasks_(io.get_executor(), "inbound/anytls[" + tag_ + "]"),
      trim_timer_(io.get_executor(), clock) {}

AnyTlsServer::~AnyTlsServer() { stop(); }

std::error_code AnyTlsServer::start() {
  auto scheme = opts_.padding_scheme.empty() ? std::optional(proto::PaddingScheme::default_scheme())
                                             : proto::PaddingScheme::parse(opts_.padding_scheme);
  if (!scheme) {
    start_error_ = "padding_scheme: invalid padding scheme (it needs a stop=N line)";
    return std::make_error_code(std::errc::invalid_argument);
  }
  padding_ = std::make_shared<proto::PaddingState>(std::make_shared<const proto::PaddingScheme>(std::move(*scheme)));
  // Without tls the listener speaks AnyTLS on plain TCP: sing-box allows it
  // for a server behind another TLS front.
  if (opts_.tls.enabled) {
    auto ctx = tls::ServerContext::shared(opts_.tls);
    if (!ctx) {
      start_error_ = "tls: " + ctx.error().text();
      return ctx.error().code;
    }
    tls_ = *ctx;
  }
  hashes_.clear();
  for (const auto& u : opts_.users) hashes_.push_back(proto::hash_password(u.password));
  if (opts_.fallback) {
    // The fallback is dialled like any outbound connection: bounded by a
    // connect timeout, cancelled with the connection.
    if (!resolver_) resolver_ = std::make_shared<net::Resolver>();
    fallback_dialer_.emplace(net::DialerOptions{}, resolver_);
  }
  // Per-user limits; 0 = derived from the descriptor limit (defaults.hpp).
  struct rlimit nofile {};
  const auto fds = ::getrlimit(RLIMIT_NOFILE, &nofile) == 0 && nofile.rlim_cur != RLIM_INFINITY
                       ? static_cast<std::uint64_t>(nofile.rlim_cur)
                       : std::uint64_t{1} << 20;
  // A derived default is also capped: systemd's LimitNOFILE=infinity gives
  // 1,048,576 descriptors, and a quarter of that is no per-user bound.
  const auto derived = [](std::uint64_t share, std::uint64_t floor, std::uint64_t cap) {
    return static_cast<std::uint32_t>(std::clamp<std::uint64_t>(share, floor, cap));
  };
  max_sessions_per_user_ = opts_.max_sessions_per_user
                               ? opts_.max_sessions_per_user
                               : derived(fds / 8, 16, config::defaults::kMaxSessionsPerUserCap);
  max_streams_per_user_ = opts_.max_streams_per_user
                              ? opts_.max_streams_per_user
                              : derived(fds / 4, 64, config::defaults::kMaxStreamsPerUserCap);
  max_handshakes_ =
      opts_.max_handshakes ? opts_.max_handshakes : derived(fds / 8, 64, config::defaults::kMaxHandshakesCap);
  // A shard's share of the inbound's handshake slots and buffer bytes.
  max_handshakes_ = std::max<std::uint32_t>(1, static_cast<std::uint32_t>((max_handshakes_ + shards_ - 1) / shards_));
  // A sixteenth of the descriptors (at least 32) stays free for accept(),
  // handshakes and the process itself, whatever the users do.
  fd_budget_ = fds - std::min<std::uint64_t>(fds, std::max<std::uint64_t>(32, fds / 16));
  handshake_done_ = std::make_unique<net::Signal>(io_.get_executor());
  budget_ = std::make_shared<proto::ReceiveBudget>(io_.get_executor(),
                                                   std::max<std::size_t>(1, opts_.max_buffered_bytes / shards_));
  budget_->set_exhausted_handler([this] { on_buffers_full(); });
  if (!limits_) limits_ = std::make_shared<UserLimits>(opts_.users.size());
  stats_.users.clear();
  for (const auto& u : opts_.users) stats_.users.push_back({u.name, 0, 0, 0, 0, 0});
  if (auto ec = listener_.open(net::to_listen_config(opts_.listen))) {
    start_error_ = fmt::format("listen {}:{}: {}", opts_.listen.listen, opts_.listen.listen_port, ec.message());
    return ec;
  }
  auto handler = [this](asio::ip::tcp::socket socket) { on_accept(std::move(socket)); };
  tasks_.spawn(net::accept_loop(listener_, std::move(handler), "inbound/anytls[" + tag_ + "]"), "accept loop");
  tasks_.spawn(trim_loop(), "trim loop");
  return {};
}

asio::awaitable<void> AnyTlsServer::trim_loop() {
  // TLS handshakes leave freed memory scattered in the heap; hand it back to
  // the system now and then, so many idle sessions stay small in RSS.
  while (!stopped_) {
    trim_timer_.expires_after(std::chrono::seconds(30));
    auto ec = co_await trim_timer_.wait();
    if (ec || stopped_) break;
    malloc_trim(0);
  }
}

void AnyTlsServer::drain() {
  listener_.close();
  trim_timer_.cancel();
}

void AnyTlsServer::stop() {
  if (stopped_) return;
  stopped_ = true;
  listener_.close();
  trim_timer_.cancel();
  close_sessions();
  for (auto* c : pending_) c->close();
  for (auto* sock : pending_sockets_) {
    std::error_code ignored;
    sock->close(ignored);
  }
  // Dials and fallbacks in flight stop now instead of at their timeouts.
  tasks_.cancel();
}

asio::awaitable<void> AnyTlsServer::join() {
  // The shared state of the group outlives this object's tasks.
  auto& tasks = tasks_;
  co_await tasks.join();
}

void AnyTlsServer::close_sessions() {
  auto copy = sessions_;
  for (auto& w : copy)
    if (auto s = w.lock()) s->close("server closing");
}

std::vector<UserTraffic> AnyTlsServer::user_traffic() const {
  std::vector<UserTraffic> t;
  for (const auto& u : stats_.users)
    t.push_back({u.closed_bytes_up, u.closed_bytes_down, u.closed_wire_up, u.closed_wire_down});
  for (const auto& [ptr, entry] : user_sessions_) {
    auto s = entry.first.lock();
    if (!s || s->closed() || entry.second >= t.size()) continue;
    auto& u = t[entry.second];
    u.bytes_up += s->stats().bytes_in;
    u.bytes_down += s->stats().bytes_out;
    auto wire = s->wire_bytes();
    u.wire_up += wire.in;
    u.wire_down += wire.out;
  }
  return t;
}

void AnyTlsServer::on_buffers_full() {
  // Every session would now wait for room, stalled by whoever filled it:
  // close the session holding the most instead (after this frame: the
  // caller may be that session's own reader).
  if (shed_pending_) return;
  std::shared_ptr<proto::Session> largest;
  for (auto& [ptr, entry] : user_sessions_) {
    auto s = entry.first.lock();
    if (s && !s->closed() && (!largest || s->buffered() > largest->buffered())) largest = s;
  }
  if (!largest) return;
  shed_pending_ = true;
  thread_local net::LogLimit limit;
  if (auto more = limit.admit())
    spdlog::warn("inbound/anytls[{}]: receive buffers full ({} bytes, max_buffered_bytes): closing {} which holds {}{}",
                 tag_, budget_->used(), largest->log_prefix(), largest->buffered(), *more);
  asio::post(io_, [this, weak = std::weak_ptr<proto::Session>(largest)] {
    shed_pending_ = false;
    if (auto s = weak.lock()) s->close("buffer limit");
  });
}

std::uint64_t AnyTlsServer::open_descriptors() const {
  // Client connections (waiting, handshaking, relayed to the fallback, in
  // sessions) and the outbound sockets of streams.
  return pending_sockets_.size() + pending_.size() + user_sessions_.size() + streams_open_;
}

std::size_t AnyTlsServer::live_sessions() const {
  std::size_t n = 0;
  for (auto& w : sessions_)
    if (auto s = w.lock(); s && !s->closed()) ++n;
  return n;
}

void AnyTlsServer::on_accept(asio::ip::tcp::socket socket) {
  if (stopped_) return;
  ++stats_.connections;
  std::error_code ec;
  auto peer = socket.remote_endpoint(ec);
  auto what = ec ? std::string("connection") : "connection from " + net::unmap(peer.address()).to_string();
  tasks_.spawn(handle_connection(std::move(socket)), std::move(what));
}

asio::awaitable<void> AnyTlsServer::handle_connection(asio::ip::tcp::socket socket) {
  std::error_code ec;
  auto peer_ep = socket.remote_endpoint(ec);
  peer_ep = {net::unmap(peer_ep.address()), peer_ep.port()};
  std::string peer = ec ? "?" : net::Address{peer_ep.address().to_string(), peer_ep.port()}.to_string();
  // TLS handshake and auth preamble share one deadline, which starts at
  // accept: waiting for the first byte or for a slot counts too.
  auto deadline = net::clock_or_system(clock_).now() + opts_.handshake_timeout;
  {
    // No TLS state before the client has sent a byte: a silent connection
    // costs its socket and this frame, not an SSL object.
    Registered<asio::ip::tcp::socket*> waiting(pending_sockets_, &socket);
    auto readable = co_await (socket.async_wait(asio::socket_base::wait_read, net::use_tuple) ||
                              net::sleep_until(deadline, clock_));
    if (stopped_ || readable.index() != 0 || std::get<0>(std::get<0>(readable))) {
      spdlog::debug("inbound/anytls[{}]: {}: no ClientHello ({})", tag_, peer,
                    readable.index() != 0 ? "timed out" : "closed");
      co_return;
    }
    // At most max_handshakes at once; the rest wait for a slot until their
    // deadline, holding no TLS state.
    if (handshakes_ >= max_handshakes_) ++stats_.handshakes_waited;
    while (handshakes_ >= max_handshakes_ && !stopped_) {
      auto freed = co_await (handshake_done_->wait() || net::sleep_until(deadline, clock_));
      if (freed.index() != 0) {
        thread_local net::LogLimit limit;
        if (auto more = limit.admit())
          spdlog::warn("inbound/anytls[{}]: {} handshakes in progress, the limit: {} waited {} and is closed{}", tag_,
                       max_handshakes_, peer, net::format_duration(opts_.handshake_timeout), *more);
        co_return;
      }
    }
    if (stopped_) co_return;
  }
  struct Slot {
    AnyTlsServer& s;
    explicit Slot(AnyTlsServer& srv) : s(srv) { ++s.handshakes_; }
    ~Slot() {
      --s.handshakes_;
      s.handshake_done_->notify_all();
    }
  };
  std::optional<Slot> slot(std::in_place, *this);
  std::unique_ptr<net::Conn> conn;
  tls::TlsConn* tls_conn = nullptr;
  if (tls_) {
    auto ctx = tls_->current();
    auto t = std::make_unique<tls::TlsConn>(std::move(socket), ctx.get(), tls::TlsConn::Role::server);
    tls_conn = t.get();
    conn = std::move(t);
  } else {
    conn = std::make_unique<net::TcpConn>(std::move(socket));
  }
  Registered<net::Conn*> reg(pending_, conn.get());

  if (tls_conn) {
    auto hs = co_await (tls_conn->handshake() || net::sleep_until(deadline, clock_));
    if (hs.index() != 0 || std::get<0>(hs)) {
      spdlog::debug("inbound/anytls[{}]: {}: TLS handshake {}", tag_, peer,
                    hs.index() != 0 ? "timed out" : "failed: " + std::get<0>(hs).message());
      co_return;
    }
    ++stats_.handshakes;
  }
  auto result = co_await authenticate(*conn, hashes_, deadline, clock_);
  if (result.ending != AuthOutcome::Ending::authenticated) {
    ++stats_.auth_failures;
    if (result.ending == AuthOutcome::Ending::wrong_password)
      spdlog::info("inbound/anytls[{}]: {}: authentication failed", tag_, peer);
    else
      spdlog::debug("inbound/anytls[{}]: {}: no valid auth preamble ({}, {} bytes)", tag_, peer,
                    to_string(result.ending), result.bytes.size());
    // A client that closed without a byte has nothing to show a fallback.
    const bool nothing = result.ending == AuthOutcome::Ending::closed && result.bytes.empty();
    if (opts_.fallback && !stopped_ && !nothing) {
      slot.reset();  // relaying is not a handshake
      ++stats_.fallbacks;
      co_await serve_fallback(std::move(conn), std::move(result.bytes), peer);
    }
    co_return;
  }
  slot.reset();  // authenticated: no longer a handshake
  const auto& user = opts_.users[*result.user];
  if (!limits_->try_open_session(*result.user, max_sessions_per_user_)) {
    ++stats_.user_limit_refusals;
    thread_local net::LogLimit limit;
    if (auto more = limit.admit())
      spdlog::warn("inbound/anytls[{}]: [{}] {}: {} sessions open, the limit per user: closing the new one{}", tag_,
                   user.name, peer, max_sessions_per_user_, *more);
    co_return;
  }
  std::vector<std::uint8_t> rest(result.bytes.begin() + static_cast<std::ptrdiff_t>(result.preamble_size),
                                 result.bytes.end());

  proto::SessionOptions so;
  so.role = proto::Role::server;
  so.log_prefix = fmt::format("[{}][S{}]", user.name.empty() ? tag_ : user.name, ++next_seq_);
  so.padding = padding_;
  so.max_streams = opts_.max_streams_per_session;
  so.idle_timeout = opts_.session_idle_timeout;
  so.write_stall_timeout = config::defaults::kWriteStallTimeout;
  so.shared_budget = budget_;
  so.clock = clock_;
  auto session = std::make_shared<proto::Session>(io_.get_executor(), std::move(conn), std::move(so), std::move(rest));
  ++stats_.authenticated;
  sessions_.remove_if([](const std::weak_ptr<proto::Session>& w) { return w.expired(); });
  sessions_.push_back(session);
  spdlog::debug("{} session from {} authenticated", session->log_prefix(), peer);
  std::weak_ptr<proto::Session> weak = session;
  const std::size_t user_index = *result.user;
  session->set_stream_handler([this, weak, user_index, peer_ep](std::shared_ptr<proto::Stream> stream) {
    if (auto s = weak.lock()) on_stream(s, user_index, peer_ep, std::move(stream));
  });
  ++stats_.users[user_index].sessions;
  user_sessions_[session.get()] = {session, user_index};
  session->set_close_handler([this, user_index](proto::Session& s, const std::string&) {
    auto& u = stats_.users[user_index];
    --u.sessions;
    limits_->close_session(user_index);
    u.closed_bytes_up += s.stats().bytes_in;
    u.closed_bytes_down += s.stats().bytes_out;
    auto wire = s.wire_bytes();
    u.closed_wire_up += wire.in;
    u.closed_wire_down += wire.out;
    user_sessions_.erase(&s);
  });
  session->set_frame_observer([this](proto::Command cmd) {
    if (cmd == proto::Command::heart_request) ++stats_.heart_requests;
  });
  session->start();
}

void AnyTlsServer::share(std::shared_ptr<UserLimits> limits, std::size_t shards) {
  limits_ = std::move(limits);
  shards_ = std::max<std::size_t>(1, shards);
}

void AnyTlsServer::on_stream(const std::shared_ptr<proto::Session>& session, std::size_t user_index,
                             const asio::ip::tcp::endpoint& peer, std::shared_ptr<proto::Stream> stream) {
  ++stats_.streams;
  if (!limits_->try_open_stream(user_index, max_streams_per_user_)) {
    ++stats_.user_limit_refusals;
    thread_local net::LogLimit limit;
    if (auto more = limit.admit())
      spdlog::warn("{} {} streams open for this user, the limit: refusing stream {}{}", session->log_prefix(),
                   max_streams_per_user_, stream->id(), *more);
    stream->report_dial_result("too many streams for this user");
    return;
  }
  // Each stream holds an outbound socket: past the descriptor budget new
  // streams are refused, so accept() and handshakes keep working.
  if (open_descriptors() >= fd_budget_) {
    limits_->close_stream(user_index);
    ++stats_.fd_reserve_refusals;
    thread_local net::LogLimit limit;
    if (auto more = limit.admit())
      spdlog::warn("{} {} descriptors in use, keeping the rest for new clients: refusing stream {}{}",
                   session->log_prefix(), open_descriptors(), stream->id(), *more);
    stream->report_dial_result("server busy");
    return;
  }
  StreamContext ctx;
  ctx.router = &router_;
  ctx.inbound_tag = tag_;
  ctx.user = opts_.users[user_index].name;
  ctx.source = peer;
  ctx.log_prefix = fmt::format("{}/{}", session->log_prefix(), stream->id());
  ctx.address_timeout = opts_.handshake_timeout;
  ctx.udp_timeout = opts_.listen.udp_timeout;
  ctx.clock = clock_;
  auto what = "stream " + ctx.log_prefix;
  tasks_.spawn(serve_counted(std::move(stream), std::move(ctx), user_index), std::move(what));
}

asio::awaitable<void> AnyTlsServer::serve_counted(std::shared_ptr<proto::Stream> stream, StreamContext ctx,
                                                  std::size_t user) {
  // The user's open stream (taken in on_stream, for the per-user limit) is
  // given back however the stream ends.
  struct Count {
    std::uint32_t& n;
    explicit Count(std::uint32_t& v) : n(v) { ++n; }
    ~Count() { --n; }
  } all(streams_open_);
  struct UserStream {
    UserLimits& l;
    std::size_t i;
    ~UserStream() { l.close_stream(i); }
  } user_stream{*limits_, user};
  co_await serve_stream(std::move(stream), std::move(ctx));
}

asio::awaitable<void> AnyTlsServer::serve_fallback(std::unique_ptr<net::Conn> conn, std::vector<std::uint8_t> already,
                                                   std::string peer) {
  Registered<net::Conn*> reg(pending_, conn.get());
  const auto& fb = *opts_.fallback;
  net::Address target_address{fb.server, fb.server_port};
  auto sock = co_await fallback_dialer_->dial_tcp(target_address);
  if (!sock) {
    thread_local net::LogLimit limit;  // every prober triggers it while the fallback is down
    if (auto more = limit.admit())
      spdlog::warn("inbound/anytls[{}]: fallback {}: {}{}", tag_, target_address.to_string(), sock.error().text(),
                   *more);
    co_return;
  }
  if (stopped_) co_return;
  spdlog::debug("inbound/anytls[{}]: {} relayed to fallback {}", tag_, peer, target_address.to_string());
  net::TcpConn target(std::move(*sock));
  Registered<net::Conn*> reg2(pending_, &target);
  if (!already.empty() && co_await target.write(asio::buffer(already))) co_return;
  co_await net::relay(*conn, target);
}

}  // namespace anytls::inbound
