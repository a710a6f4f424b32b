// AnyTLS session fixtures: options for each role, client/server session
// start-up over a TLS pair (preamble included), a guard that closes sessions
// so every coroutine ends, an echo stream handler and stream I/O helpers.
#pragma once
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include <asio/any_io_executor.hpp>
#include <asio/awaitable.hpp>

#include "anytls/padding.hpp"
#include "anytls/session.hpp"
#include "anytls/stream.hpp"
#include "support/tls_fixture.hpp"

namespace anytls::test {

class Flag;  // support/run.hpp

// Coroutines here follow the GCC 12 rules of docs/architecture.md (no
// defaulted class-type parameters, named locals before co_await, no arrays in
// coroutine bodies, executor() before std::move).

std::shared_ptr<proto::PaddingState> default_padding();

// A RandomInt that returns scripted values (clamped by shape_packet) and
// records the ranges asked for; when the script runs out it returns lo.
class ScriptedRandom {
 public:
  struct State {
    std::deque<std::uint32_t> values;
    std::vector<std::pair<std::uint32_t, std::uint32_t>> calls;
  };
  explicit ScriptedRandom(std::initializer_list<std::uint32_t> v = {}) : s_(std::make_shared<State>()) {
    s_->values.assign(v.begin(), v.end());
  }
  proto::RandomInt fn() const;
  State& state() { return *s_; }

 private:
  std::shared_ptr<State> s_;
};

proto::SessionOptions client_options(proto::RandomInt rand = {}, std::shared_ptr<proto::PaddingState> padding = {});
proto::SessionOptions server_options(std::shared_ptr<proto::PaddingState> padding = {});

// Client: writes the preamble (one TLS write), creates and starts the session.
asio::awaitable<std::shared_ptr<proto::Session>> start_client_session(std::unique_ptr<net::Conn> conn,
                                                                      proto::SessionOptions opts);
// Server: reads and checks the preamble, creates the session with the bytes
// read after it, installs the handler and starts it.
asio::awaitable<std::shared_ptr<proto::Session>> start_server_session(std::unique_ptr<net::Conn> conn,
                                                                      proto::SessionOptions opts,
                                                                      proto::Session::StreamHandler handler);

struct SessionPair {
  std::shared_ptr<proto::Session> client;
  std::shared_ptr<proto::Session> server;
};
asio::awaitable<SessionPair> make_session_pair(proto::SessionOptions client_opts, proto::SessionOptions server_opts,
                                               proto::Session::StreamHandler handler, PairOptions pair);
inline asio::awaitable<SessionPair> make_session_pair(proto::SessionOptions client_opts,
                                                      proto::SessionOptions server_opts,
                                                      proto::Session::StreamHandler handler) {
  return make_session_pair(std::move(client_opts), std::move(server_opts), std::move(handler), PairOptions{});
}

class Closer;

// A client session over a raw TLS server connection (both held by `closer`);
// nothing read on the raw side yet (the preamble waits there).
struct RawServer {
  std::shared_ptr<proto::Session> client;
  tls::TlsConn* server = nullptr;
};
asio::awaitable<RawServer> client_over_raw_tls(Closer& closer, proto::SessionOptions opts);

// Closes every session (and connection) it holds when destroyed or on
// close_all(), so that a failing test still lets every coroutine finish.
class Closer {
 public:
  Closer() = default;
  Closer(const Closer&) = delete;
  Closer& operator=(const Closer&) = delete;
  ~Closer() { close_all(); }
  void add(std::shared_ptr<proto::Session> s) { sessions_.push_back(std::move(s)); }
  void add(const SessionPair& p) {
    add(p.client);
    add(p.server);
  }
  // Takes ownership of a raw connection (closed first, destroyed last).
  template <class C>
  C& own(std::unique_ptr<C> c) {
    C& ref = *c;
    conns_.push_back(std::move(c));
    return ref;
  }
  void add(std::shared_ptr<proto::Stream> s) { streams_.push_back(std::move(s)); }
  void close_all();

 private:
  std::vector<std::shared_ptr<proto::Session>> sessions_;
  std::vector<std::shared_ptr<proto::Stream>> streams_;
  std::vector<std::unique_ptr<net::Conn>> conns_;
};

// Close reason of a session, recorded by its close handler (watch_close
// installs it): `closed` is set when the session closes.
struct CloseWatch {
  std::shared_ptr<Flag> closed;
  std::shared_ptr<std::string> reason = std::make_shared<std::string>();
  void operator()(proto::Session&, const std::string& r) const;
};
CloseWatch watch_close(proto::Session& s, const asio::any_io_executor& ex);

// Server-side test service, chosen by the destination port the client puts
// first on the stream (127.0.0.1:port, 7 bytes):
//   kRefusePort: SYNACK with kRefuseText (the stream then closes);
//   any other port: SYNACK ok, then echo every byte until the stream ends.
inline constexpr std::uint16_t kEchoPort = 7;
inline constexpr std::uint16_t kRefusePort = 9;
inline constexpr std::string_view kRefuseText = "dial tcp 127.0.0.1:9: connection refused";
void echo_handler(std::shared_ptr<proto::Stream> s);
asio::awaitable<void> echo_stream(std::shared_ptr<proto::Stream> s);
// The echo part, once the address has been read: SYNACK ok, then echo.
asio::awaitable<void> echo_dialed(std::shared_ptr<proto::Stream> s);

// Reads exactly out.size() bytes from a stream.
asio::awaitable<std::error_code> read_exact(proto::Stream& s, std::span<std::uint8_t> out);
// Reads until the stream ends; returns the bytes and the ending error.
asio::awaitable<std::pair<std::vector<std::uint8_t>, std::error_code>> read_to_end(proto::Stream& s);

// Writes `total` bytes of pattern `seed` in `chunk`-sized writes.
asio::awaitable<std::error_code> write_pattern(std::shared_ptr<proto::Stream> s, std::uint64_t seed,
                                               std::uint64_t total, std::size_t chunk = 32 * 1024);
// Reads `total` bytes and checks them against pattern `seed`; returns a
// description of the first problem, or an empty string.
asio::awaitable<std::string> read_pattern(std::shared_ptr<proto::Stream> s, std::uint64_t seed, std::uint64_t total);

}  // namespace anytls::test
