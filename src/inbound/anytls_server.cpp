#include "inbound/anytls_server.hpp"

#include <malloc.h>

#include <random>

#include <asio/co_spawn.hpp>
#include <asio/connect.hpp>
#include <asio/detached.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/experimental/awaitable_operators.hpp>
#include <asio/steady_timer.hpp>
#include <asio/use_awaitable.hpp>
#include <spdlog/spdlog.h>

#include "inbound/anytls_stream.hpp"
#include "net/relay.hpp"
#include "net/tcp_conn.hpp"
#include "tls/tls_conn.hpp"

namespace anytls::inbound {

using namespace asio::experimental::awaitable_operators;

namespace {

constexpr auto use_tuple = asio::experimental::as_tuple(asio::use_awaitable);

asio::awaitable<void> sleep_until(asio::steady_timer::time_point t) {
  asio::steady_timer timer(co_await asio::this_coro::executor, t);
  (void)co_await timer.async_wait(use_tuple);
}

// Keeps a pointer in a registry for the duration of a scope.
template <class T>
struct Registered {
  std::list<T>& list;
  typename std::list<T>::iterator it;
  Registered(std::list<T>& l, T v) : list(l), it(l.insert(l.end(), std::move(v))) {}
  ~Registered() { list.erase(it); }
};

// Outcome of reading the auth preamble.
struct AuthResult {
  std::optional<std::size_t> user;    // matched user index
  std::vector<std::uint8_t> bytes;    // everything read so far
  std::size_t preamble_size = 0;      // valid with a user
  bool read_error = false;            // connection ended while reading
};

asio::awaitable<AuthResult> read_preamble(net::Conn& conn, std::span<const proto::PasswordHash> users) {
  AuthResult r;
  r.bytes.reserve(512);
  for (;;) {
    auto parse = proto::parse_preamble(r.bytes);
    if (r.bytes.size() >= 32 && !r.user) {
      r.user = proto::match_user(std::span<const std::uint8_t, 32>(r.bytes.data(), 32), users);
      if (!r.user) co_return r;  // wrong password: decided at once
    }
    if (parse.status == proto::PreambleParse::complete) {
      r.preamble_size = parse.consumed;
      co_return r;
    }
    std::size_t old = r.bytes.size();
    std::size_t want = std::max<std::size_t>(parse.needed, old + 1) - old;
    r.bytes.resize(old + std::max<std::size_t>(want, 4096));
    auto [ec, n] = co_await conn.read_some(asio::buffer(r.bytes.data() + old, r.bytes.size() - old));
    r.bytes.resize(old + n);
    if (ec) {
      r.read_error = true;
      r.user.reset();
      co_return r;
    }
  }
}

}  // namespace

AnyTlsServer::AnyTlsServer(asio::io_context& io, std::string tag, config::AnyTlsInboundOptions opts,
                           route::Router& router)
    : io_(io), tag_(std::move(tag)), opts_(std::move(opts)), router_(router), listener_(io), trim_timer_(io) {}

AnyTlsServer::~AnyTlsServer() { stop(); }

std::error_code AnyTlsServer::start() {
  auto scheme = opts_.padding_scheme.empty() ? std::optional(proto::PaddingScheme::default_scheme())
                                             : proto::PaddingScheme::parse(opts_.padding_scheme);
  if (!scheme) {
    start_error_ = "padding_scheme: invalid padding scheme (it needs a stop=N line)";
    return std::make_error_code(std::errc::invalid_argument);
  }
  padding_ = std::make_shared<proto::PaddingState>(std::make_shared<const proto::PaddingScheme>(std::move(*scheme)));
  auto ctx = tls::ServerContext::create(opts_.tls);
  if (!ctx) {
    start_error_ = "tls: " + ctx.error().text();
    return ctx.error().code;
  }
  tls_ = *ctx;
  hashes_.clear();
  for (const auto& u : opts_.users) hashes_.push_back(proto::hash_password(u.password));
  stats_.users.clear();
  for (const auto& u : opts_.users) stats_.users.push_back({u.name, 0, 0, 0, 0, 0});
  if (auto ec = listener_.open(net::to_listen_config(opts_.listen))) {
    start_error_ = fmt::format("listen {}:{}: {}", opts_.listen.listen, opts_.listen.listen_port, ec.message());
    return ec;
  }
  spdlog::info("inbound/anytls[{}]: tcp server started at {}:{}", tag_, listener_.local_endpoint().address().to_string(),
               listener_.port());
  asio::co_spawn(io_, accept_loop(), asio::detached);
  asio::co_spawn(io_, trim_loop(), asio::detached);
  return {};
}

asio::awaitable<void> AnyTlsServer::trim_loop() {
  // TLS handshakes leave freed memory scattered in the heap; hand it back to
  // the system now and then, so many idle sessions stay small in RSS.
  while (!stopped_) {
    trim_timer_.expires_after(std::chrono::seconds(30));
    auto [ec] = co_await trim_timer_.async_wait(use_tuple);
    if (ec || stopped_) break;
    malloc_trim(0);
  }
}

void AnyTlsServer::stop() {
  if (stopped_) return;
  stopped_ = true;
  listener_.close();
  trim_timer_.cancel();
  close_sessions();
  for (auto* c : pending_) c->close();
}

void AnyTlsServer::close_sessions() {
  auto copy = sessions_;
  for (auto& w : copy)
    if (auto s = w.lock()) s->close("server closing");
}

void AnyTlsServer::set_mute(bool mute) {
  mute_ = mute;
  for (auto& w : sessions_)
    if (auto s = w.lock()) s->set_muted(mute);
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

std::size_t AnyTlsServer::live_sessions() const {
  std::size_t n = 0;
  for (auto& w : sessions_)
    if (auto s = w.lock(); s && !s->closed()) ++n;
  return n;
}

asio::awaitable<void> AnyTlsServer::accept_loop() {
  while (!stopped_) {
    auto [ec, socket] = co_await listener_.accept();
    if (ec) {
      if (stopped_ || ec == asio::error::operation_aborted) break;
      spdlog::warn("inbound/anytls[{}]: accept: {}", tag_, ec.message());
      // Out of file descriptors and the like: don't spin.
      asio::steady_timer t(io_, std::chrono::milliseconds(100));
      (void)co_await t.async_wait(use_tuple);
      continue;
    }
    ++stats_.connections;
    asio::co_spawn(io_, handle_connection(std::move(socket)), asio::detached);
  }
}

asio::awaitable<void> AnyTlsServer::handle_connection(asio::ip::tcp::socket socket) {
  std::error_code ec;
  auto peer_ep = socket.remote_endpoint(ec);
  std::string peer = ec ? "?" : fmt::format("{}:{}", net::unmap(peer_ep.address()).to_string(), peer_ep.port());
  auto ctx = tls_->current();
  auto conn = std::make_unique<tls::TlsConn>(std::move(socket), ctx.get(), tls::TlsConn::Role::server);
  Registered<net::Conn*> reg(pending_, conn.get());
  if (stopped_) co_return;

  // TLS handshake and auth preamble share one deadline.
  auto deadline = std::chrono::steady_clock::now() + opts_.handshake_timeout;
  auto hs = co_await (conn->handshake() || sleep_until(deadline));
  if (hs.index() != 0 || std::get<0>(hs)) {
    spdlog::debug("inbound/anytls[{}]: {}: TLS handshake {}", tag_, peer,
                  hs.index() != 0 ? "timed out" : "failed: " + std::get<0>(hs).message());
    co_return;
  }
  ++stats_.handshakes;
  auto auth = co_await (read_preamble(*conn, hashes_) || sleep_until(deadline));
  AuthResult result;
  if (auth.index() == 0) result = std::move(std::get<0>(auth));
  if (!result.user || result.preamble_size == 0) {
    ++stats_.auth_failures;
    if (auth.index() != 0 || result.read_error)
      spdlog::debug("inbound/anytls[{}]: {}: no valid auth preamble ({})", tag_, peer,
                    auth.index() != 0 ? "timeout" : "connection closed");
    else
      spdlog::info("inbound/anytls[{}]: {}: authentication failed", tag_, peer);
    if (opts_.fallback && !stopped_ && !(auth.index() == 0 && result.read_error && result.bytes.empty())) {
      ++stats_.fallbacks;
      co_await serve_fallback(std::move(conn), std::move(result.bytes), peer);
    }
    co_return;
  }
  const auto& user = opts_.users[*result.user];
  std::vector<std::uint8_t> rest(result.bytes.begin() + static_cast<std::ptrdiff_t>(result.preamble_size),
                                 result.bytes.end());

  proto::SessionOptions so;
  so.role = proto::Role::server;
  so.log_prefix = fmt::format("[{}][S{}]", user.name.empty() ? tag_ : user.name, ++next_seq_);
  so.padding = padding_;
  so.max_streams = opts_.max_streams_per_session;
  auto session = std::make_shared<proto::Session>(io_.get_executor(), std::move(conn), std::move(so), std::move(rest));
  ++stats_.authenticated;
  sessions_.remove_if([](const std::weak_ptr<proto::Session>& w) { return w.expired(); });
  sessions_.push_back(session);
  spdlog::debug("{} session from {} authenticated", session->log_prefix(), peer);
  std::weak_ptr<proto::Session> weak = session;
  std::string user_name = user.name;
  session->set_stream_handler([this, weak, user_name](std::shared_ptr<proto::Stream> stream) {
    if (auto s = weak.lock()) on_stream(s, user_name, std::move(stream));
  });
  const std::size_t user_index = *result.user;
  ++stats_.users[user_index].sessions;
  user_sessions_[session.get()] = {session, user_index};
  session->set_close_handler([this, user_index](proto::Session& s, const std::string&) {
    auto& u = stats_.users[user_index];
    --u.sessions;
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
  session->set_muted(mute_);
  session->start();
}

void AnyTlsServer::on_stream(std::shared_ptr<proto::Session> session, const std::string& user,
                             std::shared_ptr<proto::Stream> stream) {
  ++stats_.streams;
  if (mute_) return;  // tests: a server that stops answering
  StreamContext ctx;
  ctx.router = &router_;
  ctx.inbound_tag = tag_;
  ctx.user = user;
  ctx.log_prefix = fmt::format("{}/{}", session->log_prefix(), stream->id());
  ctx.address_timeout = opts_.handshake_timeout;
  ctx.udp_timeout = opts_.listen.udp_timeout;
  asio::co_spawn(io_, serve_stream(std::move(stream), std::move(ctx)), asio::detached);
}

asio::awaitable<void> AnyTlsServer::serve_fallback(std::unique_ptr<net::Conn> conn, std::vector<std::uint8_t> already,
                                                   std::string peer) {
  Registered<net::Conn*> reg(pending_, conn.get());
  const auto& fb = *opts_.fallback;
  asio::ip::tcp::resolver resolver(io_);
  auto [rec, endpoints] =
      co_await resolver.async_resolve(fb.server, std::to_string(fb.server_port), use_tuple);
  if (rec) {
    spdlog::warn("inbound/anytls[{}]: fallback {}: {}", tag_, fb.server, rec.message());
    co_return;
  }
  asio::ip::tcp::socket sock(io_);
  auto [cec, ep] = co_await asio::async_connect(sock, endpoints, use_tuple);
  if (cec) {
    spdlog::warn("inbound/anytls[{}]: fallback {}:{}: {}", tag_, fb.server, fb.server_port, cec.message());
    co_return;
  }
  spdlog::debug("inbound/anytls[{}]: {} relayed to fallback {}:{}", tag_, peer, fb.server, fb.server_port);
  net::TcpConn target(std::move(sock));
  Registered<net::Conn*> reg2(pending_, &target);
  if (!already.empty() && co_await target.write(asio::buffer(already))) co_return;
  co_await net::relay(*conn, target);
}

}  // namespace anytls::inbound
