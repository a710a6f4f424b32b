// The plumbing the local proxy inbounds (mixed, socks, http) share: the
// route -> dial step, connection logs, a bounded read buffer, and the
// per-connection Session with the registry stop() closes.
#pragma once
#include <chrono>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <unordered_set>
#include <vector>

#include <asio/awaitable.hpp>
#include <asio/error.hpp>
#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/ip/udp.hpp>
#include <asio/steady_timer.hpp>

#include "config/defaults.hpp"
#include "config/options.hpp"
#include "inbound/tracker.hpp"
#include "net/conn.hpp"
#include "net/listener.hpp"
#include "net/relay.hpp"
#include "net/result.hpp"
#include "net/task_group.hpp"
#include "net/tcp_conn.hpp"
#include "outbound/outbound.hpp"
#include "route/router.hpp"
#include "tls/context.hpp"
#include "tls/tls_conn.hpp"

namespace anytls::inbound {

// ---- the one dispatch path ----------------------------------------------------
//
// Every inbound hands its connections here: mixed, socks and http, and the
// anytls server for each stream. One place routes, dials, relays and logs,
// in sing-box's layout:
//   [id elapsed] inbound/mixed[in]: inbound connection from 127.0.0.1:5000
//   [id elapsed] inbound/mixed[in]: inbound connection to example.com:443
//   [id elapsed] outbound/anytls[proxy]: outbound connection to example.com:443
//   [id elapsed] inbound/mixed[in]: connection to example.com:443 closed: up 1.2 kB, down 40 kB   (debug)
// and a dial that fails (error):
//   [id elapsed] inbound/mixed[in]: process connection from 127.0.0.1:5000: dial tcp 127.0.0.1:1: connect: connection refused

// Errors produced by dispatch itself (outbound errors pass through).
// dropped: reject with method drop: the inbound answers nothing and holds
// the client until its deadline. hijack_unavailable: action hijack-dns with
// no DNS module to answer.
enum class DispatchError { rejected = 1, no_outbound, dropped, hijack_unavailable, fakeip_missing };

// The destination to route and dial: a fakeip address stands for the name
// it was handed out for; nullopt for a fake address the table does not hold
// (refused, never dialled). Any other address is itself.
std::optional<net::Address> real_destination(const route::Router& router, const net::Address& to);

// The client side of a connection, for the sniff action: peeked bytes stay
// in the inbound's buffer and go to the outbound after the dial.
class ClientPeek {
 public:
  virtual ~ClientPeek() = default;
  // Makes the client send its first bytes: the SOCKS/HTTP CONNECT success
  // reply (sing-box answers before dialing too). Once; started() after.
  virtual asio::awaitable<std::error_code> start() = 0;
  virtual bool started() const = 0;
  virtual std::span<const std::uint8_t> data() const = 0;
  // At least one more byte; an error at eof, or when the buffer is full.
  virtual asio::awaitable<std::error_code> read_more() = 0;
};
const std::error_category& dispatch_category();
std::error_code make_error_code(DispatchError e);

// Logs the inbound lines, asks the router, logs the outbound line and dials
// (or opens the datagram flow). A reject decision is DispatchError::rejected
// ("rejected by route"). Failures are logged here; callers only answer their
// client. Gives md an id and start time if it has none.
// With peek, a sniff action reads the client's first bytes (TCP only).
asio::awaitable<net::Result<std::unique_ptr<net::Conn>>> connect(route::Router& router, outbound::Metadata& md);
asio::awaitable<net::Result<std::unique_ptr<net::Conn>>> connect(route::Router& router, outbound::Metadata& md,
                                                                 ClientPeek* peek);
asio::awaitable<net::Result<std::unique_ptr<net::PacketConn>>> connect_packet(route::Router& router,
                                                                               outbound::Metadata& md);
// first: the flow's first datagram, which a sniff action looks at (DNS).
asio::awaitable<net::Result<std::unique_ptr<net::PacketConn>>> connect_packet(route::Router& router,
                                                                               outbound::Metadata& md,
                                                                               std::span<const std::uint8_t> first);

// Relays client <-> upstream and logs the close line. Returns the stats.
asio::awaitable<net::RelayStats> relay_logged(const outbound::Metadata& md, net::Conn& client,
                                              net::Conn& upstream);
// debug: "<prefix> connection to <dst> closed: up N, down M[: error]".
void log_closed(const outbound::Metadata& md, std::uint64_t up, std::uint64_t down, const std::error_code& ec = {});
// "[id elapsed] inbound/type[tag]:" for lines about md.
std::string log_prefix(const outbound::Metadata& md);

// Whether ec is the asio error `a` (category "asio.system", which maps to
// no generic condition) or the errno-based std::errc `e`.
inline bool is_error(const std::error_code& ec, asio::error::basic_errors a, std::errc e) {
  return ec == a || ec == e;
}

// "127.0.0.1:5000", "[::1]:5000"; IPv4-mapped IPv6 shown as IPv4.
std::string endpoint_string(const asio::ip::tcp::endpoint& ep);

// ---- a bounded read buffer over a Conn ----------------------------------------

class StreamBuffer {
 public:
  explicit StreamBuffer(std::size_t capacity);

  std::span<const std::uint8_t> data() const { return {buf_.get() + begin_, end_ - begin_}; }
  std::string_view view() const {
    return {reinterpret_cast<const char*>(buf_.get()) + begin_, end_ - begin_};
  }
  std::size_t size() const { return end_ - begin_; }
  bool empty() const { return begin_ == end_; }
  bool full() const { return size() == capacity_; }
  std::size_t capacity() const { return capacity_; }
  void consume(std::size_t n);
  void clear() { begin_ = end_ = 0; }
  // Drops what is buffered and gives the memory back (a connection that
  // goes on to relay() keeps no handshake buffer); fill() allocates again.
  void release() {
    clear();
    buf_.reset();
  }
  // Reads at least one more byte from c (moving buffered bytes to the front
  // first). Errors: the read's error (eof), or no_buffer_space when full.
  asio::awaitable<std::error_code> fill(net::Conn& c);

 private:
  std::unique_ptr<std::uint8_t[]> buf_;
  std::size_t capacity_;
  std::size_t begin_ = 0;
  std::size_t end_ = 0;
};

// ---- inbound state and sessions -------------------------------------------------

// Which protocols an inbound speaks.
enum class Protocols : unsigned { socks = 1, http = 2, mixed = 3 };

class Session;

// Shared by an inbound and all its sessions (sessions keep it alive, so an
// inbound may be destroyed while its coroutines unwind).
struct InboundContext {
  InboundContext(asio::io_context& io, std::string tag, config::MixedInboundOptions options,
                 route::Router& router, Protocols protocols);

  asio::io_context& io;
  std::string tag_;
  config::MixedInboundOptions options;
  route::Router& router;
  Protocols protocols;
  std::string type;  // "mixed", "socks", "http" (logs)
  std::shared_ptr<tls::ServerContext> tls;  // tls enabled: an HTTPS proxy
  net::Listener listener;
  net::TaskGroup tasks;  // the accept loop, every connection and its watchdog
  std::unordered_set<Session*> sessions;
  std::uint64_t next_id = 1;
  bool stopped = false;

  const std::string& tag() const { return tag_; }
  // "inbound/mixed[mixed-in]", as sing-box names an inbound in its logs.
  std::string log_name() const { return "inbound/" + type + "[" + tag_ + "]"; }
  bool auth_required() const { return !options.users.empty(); }
  // Constant-time per comparison; true when a user matches.
  bool check_user(std::string_view username, std::string_view password) const;
};

// One accepted client connection. Everything it opens is registered here
// while alive, so close() (from stop(), a timeout or an error) unblocks every
// coroutine working for it. Single-threaded: use on the io_context thread.
class Session {
 public:
  Session(std::shared_ptr<InboundContext> ctx, asio::ip::tcp::socket socket);
  ~Session();
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  InboundContext& ctx() { return *ctx_; }
  // The client's byte stream: the TLS connection once start_tls() ran (an
  // HTTPS proxy), else the TCP connection.
  net::Conn& client() { return tls_ ? static_cast<net::Conn&>(*tls_) : client_; }
  net::TcpConn& tcp() { return client_; }
  // Moves the client socket under a server-side TLS connection (handshake
  // not yet done: await tls()->handshake()).
  void start_tls(SSL_CTX* ctx);
  tls::TlsConn* tls() { return tls_.get(); }
  std::uint64_t id() const { return id_; }
  const asio::ip::tcp::endpoint& source() const { return source_; }  // peer, unmapped
  const asio::ip::tcp::endpoint& local() const { return local_; }    // our side, unmapped
  bool closed() const { return closed_; }

  outbound::Metadata metadata(outbound::Network network, net::Address destination) const;
  std::string user;  // after authentication

  // Closes the client and everything registered below. Idempotent.
  void close();

  // Registration of what close() must close; the guard unregisters.
  template <class T>
  class Registered {
   public:
    Registered(T*& slot, T* value) : slot_(slot) { slot_ = value; }
    ~Registered() { slot_ = nullptr; }
    Registered(const Registered&) = delete;
    Registered& operator=(const Registered&) = delete;

   private:
    T*& slot_;
  };
  // An upstream registered here is also linked to its tracker entry (if it
  // has one): a close from the Clash API closes this whole session.
  template <class T>
  struct Tracked {
    Registered<T> registered;
    CloseLink link;
  };
  Tracked<net::Conn> track(net::Conn* c) { return {{upstream_, c}, {*c, [this] { close(); }}}; }
  Tracked<net::PacketConn> track(net::PacketConn* c) { return {{packet_, c}, {*c, [this] { close(); }}}; }
  Registered<asio::ip::udp::socket> track(asio::ip::udp::socket* s) { return {udp_, s}; }

  // The session is closed unless the deadline is cleared or moved first.
  void set_deadline(std::chrono::steady_clock::duration d);
  void clear_deadline();
  // Runs the deadline timer until close(); spawned once per session.
  static asio::awaitable<void> watchdog(std::shared_ptr<Session> self);

 private:
  std::shared_ptr<InboundContext> ctx_;
  std::uint64_t id_;
  net::TcpConn client_;
  std::unique_ptr<tls::TlsConn> tls_;
  asio::ip::tcp::endpoint source_;
  asio::ip::tcp::endpoint local_;
  asio::steady_timer timer_;
  net::Conn* upstream_ = nullptr;
  net::PacketConn* packet_ = nullptr;
  asio::ip::udp::socket* udp_ = nullptr;
  bool closed_ = false;
};

// ClientPeek over a session's client and its read buffer; start() sends
// `reply` (the SOCKS or HTTP CONNECT success answer).
class SessionPeek final : public ClientPeek {
 public:
  SessionPeek(Session& s, StreamBuffer& in, std::vector<std::uint8_t> reply)
      : session_(s), in_(in), reply_(std::move(reply)) {}
  asio::awaitable<std::error_code> start() override;
  bool started() const override { return started_; }
  std::span<const std::uint8_t> data() const override { return in_.data(); }
  asio::awaitable<std::error_code> read_more() override;

 private:
  Session& session_;
  StreamBuffer& in_;
  std::vector<std::uint8_t> reply_;
  bool started_ = false;
};

// ClientPeek for a client that speaks first (tun, redirect, tproxy: the
// kernel completed the handshake, so start() sends nothing). It waits for
// the first bytes holding no buffer, so an idle client costs none.
class FirstBytesPeek final : public ClientPeek {
 public:
  FirstBytesPeek(net::Conn& c, StreamBuffer& in) : conn_(c), in_(in) {}
  asio::awaitable<std::error_code> start() override;
  bool started() const override { return started_; }
  std::span<const std::uint8_t> data() const override { return in_.data(); }
  asio::awaitable<std::error_code> read_more() override;

 private:
  net::Conn& conn_;
  StreamBuffer& in_;
  bool started_ = false;
};

// reject with method drop: no answer at all; what the client sends is read
// and discarded until the session's deadline (or the client) closes it.
asio::awaitable<void> hold_silently(Session& s);

// Handshake / request-head deadline: the same as the anytls inbound's
// handshake_timeout default.
inline constexpr auto kHandshakeTimeout = config::defaults::kHandshakeTimeout;
// Idle time allowed between two requests on an HTTP keep-alive connection.
inline constexpr std::chrono::seconds kKeepAliveIdle{60};

}  // namespace anytls::inbound

template <>
struct std::is_error_code_enum<anytls::inbound::DispatchError> : std::true_type {};
