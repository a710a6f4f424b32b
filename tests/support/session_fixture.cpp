#include "support/session_fixture.hpp"

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/this_coro.hpp>
#include <fmt/format.h>

#include "support/frames.hpp"
#include "support/run.hpp"

namespace anytls::test {

using proto::PaddingScheme;
using proto::PaddingState;
using proto::Session;
using proto::SessionOptions;
using proto::Stream;

std::shared_ptr<PaddingState> default_padding() {
  return std::make_shared<PaddingState>(std::make_shared<const PaddingScheme>(PaddingScheme::default_scheme()));
}

proto::RandomInt ScriptedRandom::fn() const {
  auto s = s_;
  return [s](std::uint32_t lo, std::uint32_t hi) {
    s->calls.emplace_back(lo, hi);
    if (s->values.empty()) return lo;
    auto v = s->values.front();
    s->values.pop_front();
    return v;
  };
}

SessionOptions client_options(proto::RandomInt rand, std::shared_ptr<PaddingState> padding) {
  SessionOptions o;
  o.role = proto::Role::client;
  o.log_prefix = "[client]";
  o.padding = padding ? std::move(padding) : default_padding();
  o.rand = std::move(rand);
  return o;
}

SessionOptions server_options(std::shared_ptr<PaddingState> padding) {
  SessionOptions o;
  o.role = proto::Role::server;
  o.log_prefix = "[server]";
  o.padding = padding ? std::move(padding) : default_padding();
  return o;
}

asio::awaitable<std::shared_ptr<Session>> start_client_session(std::unique_ptr<net::Conn> conn, SessionOptions opts) {
  auto pad = opts.padding->get()->preamble_padding_length();
  co_await write_preamble(*conn, kPassword, pad);
  auto s = std::make_shared<Session>(co_await asio::this_coro::executor, std::move(conn), std::move(opts));
  s->start();
  co_return s;
}

asio::awaitable<std::shared_ptr<Session>> start_server_session(std::unique_ptr<net::Conn> conn, SessionOptions opts,
                                                               Session::StreamHandler handler) {
  auto rest = co_await read_preamble(*conn);
  auto s = std::make_shared<Session>(co_await asio::this_coro::executor, std::move(conn), std::move(opts),
                                     std::move(rest));
  if (handler) s->set_stream_handler(std::move(handler));
  s->start();
  co_return s;
}

asio::awaitable<SessionPair> make_session_pair(SessionOptions client_opts, SessionOptions server_opts,
                                               Session::StreamHandler handler, PairOptions pair) {
  auto tls = co_await make_tls_pair(shared_contexts(), pair);
  SessionPair p;
  // The preamble is small: the client's write completes without the server
  // reading, so the two start-ups can run one after the other.
  p.client = co_await start_client_session(std::move(tls.client), std::move(client_opts));
  p.server = co_await start_server_session(std::move(tls.server), std::move(server_opts), std::move(handler));
  co_return p;
}

void Closer::close_all() {
  for (auto& s : streams_) s->close();
  streams_.clear();
  for (auto& s : sessions_) s->close("test end");
  sessions_.clear();
  for (auto& c : conns_) c->close();
}

void echo_handler(std::shared_ptr<Stream> s) {
  auto ex = s->executor();
  asio::co_spawn(ex, echo_stream(std::move(s)), asio::detached);
}

asio::awaitable<void> echo_stream(std::shared_ptr<Stream> s) {
  std::uint8_t addr[7];
  if (co_await read_exact(*s, addr)) {
    s->close();
    co_return;
  }
  const std::uint16_t port = static_cast<std::uint16_t>(addr[5] << 8 | addr[6]);
  if (port == kRefusePort) {
    s->report_dial_result(std::string(kRefuseText));
    co_return;
  }
  co_await echo_dialed(std::move(s));
}

asio::awaitable<void> echo_dialed(std::shared_ptr<Stream> s) {
  s->report_dial_result("");
  std::vector<std::uint8_t> buf(32 * 1024);
  for (;;) {
    auto [ec, n] = co_await s->read_some(asio::buffer(buf));
    if (ec) break;
    if (co_await s->write(asio::buffer(buf.data(), n))) break;
  }
  s->close();
}

asio::awaitable<std::error_code> read_exact(Stream& s, std::span<std::uint8_t> out) {
  return read_exact_from(s, out);
}

asio::awaitable<std::pair<std::vector<std::uint8_t>, std::error_code>> read_to_end(Stream& s) {
  std::vector<std::uint8_t> all;
  std::uint8_t buf[8192];
  for (;;) {
    auto [ec, n] = co_await s.read_some(asio::buffer(buf));
    if (ec) co_return std::make_pair(std::move(all), ec);
    all.insert(all.end(), buf, buf + n);
  }
}

asio::awaitable<std::error_code> write_pattern(std::shared_ptr<Stream> s, std::uint64_t seed, std::uint64_t total,
                                               std::size_t chunk) {
  std::vector<std::uint8_t> buf(chunk);
  std::uint64_t off = 0;
  while (off < total) {
    const auto n = static_cast<std::size_t>(std::min<std::uint64_t>(chunk, total - off));
    fill_pattern(seed, off, std::span<std::uint8_t>(buf.data(), n));
    if (auto ec = co_await s->write(asio::buffer(buf.data(), n))) co_return ec;
    off += n;
  }
  co_return std::error_code{};
}

asio::awaitable<std::string> read_pattern(std::shared_ptr<Stream> s, std::uint64_t seed, std::uint64_t total) {
  std::vector<std::uint8_t> buf(64 * 1024);
  std::uint64_t off = 0;
  while (off < total) {
    const auto want = static_cast<std::size_t>(std::min<std::uint64_t>(buf.size(), total - off));
    auto [ec, n] = co_await s->read_some(asio::buffer(buf.data(), want));
    if (ec) co_return fmt::format("read error after {} of {} bytes: {}", off, total, ec.message());
    auto bad = check_pattern(seed, off, std::span<const std::uint8_t>(buf.data(), n));
    if (bad >= 0) co_return fmt::format("wrong byte at offset {}", off + static_cast<std::uint64_t>(bad));
    off += n;
  }
  co_return std::string();
}

void CloseWatch::operator()(proto::Session&, const std::string& r) const {
  *reason = r;
  closed->set();
}

CloseWatch watch_close(proto::Session& s, const asio::any_io_executor& ex) {
  CloseWatch w{std::make_shared<Flag>(ex)};
  s.set_close_handler(w);
  return w;
}

asio::awaitable<RawServer> client_over_raw_tls(Closer& closer, proto::SessionOptions opts) {
  auto tls = co_await make_tls_pair(shared_contexts());
  RawServer r;
  r.server = &closer.own(std::move(tls.server));
  r.client = co_await start_client_session(std::move(tls.client), std::move(opts));
  closer.add(r.client);
  co_return r;
}

}  // namespace anytls::test
