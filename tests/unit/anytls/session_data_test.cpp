// AnyTLS session data path on real sockets and real TLS (loopback): bulk
// transfer both ways, large writes split into frames, FIN semantics.
#include <gtest/gtest.h>

#include <array>

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/experimental/awaitable_operators.hpp>
#include <asio/io_context.hpp>
#include <asio/this_coro.hpp>

#include "anytls/session.hpp"
#include "anytls/settings.hpp"
#include "anytls/stream.hpp"
#include "net/lease.hpp"
#include "net/relay.hpp"
#include "support/frames.hpp"
#include "support/run.hpp"
#include "support/session_fixture.hpp"

using namespace anytls;
using namespace anytls::test;
using namespace asio::experimental::awaitable_operators;
using proto::Command;
using proto::Session;
using proto::Stream;

namespace {

constexpr std::uint64_t kMiB = 1024 * 1024;

// Opens a stream to 127.0.0.1:port and waits for its SYNACK.
asio::awaitable<std::shared_ptr<Stream>> open_ok(std::shared_ptr<Session> s, std::uint16_t port) {
  auto r = s->open_stream(ipv4_loopback_address(port));
  CO_ASSERT_TRUE(r.ok());
  auto st = *r;
  auto err = co_await st->wait_synack();
  EXPECT_FALSE(err.has_value()) << err->text();
  co_return st;
}

// ---------------------------------------------------------------------------
// 10 MiB through an echo stream, written and read concurrently.

asio::awaitable<void> echo_10mib_body() {
  Closer closer;
  auto p = co_await make_session_pair(client_options(), server_options(), echo_handler);
  closer.add(p);
  auto st = co_await open_ok(p.client, kEchoPort);
  closer.add(st);
  constexpr std::uint64_t total = 10 * kMiB;
  auto [wec, problem] = co_await (write_pattern(st, 1, total, 40000) && read_pattern(st, 1, total));
  EXPECT_FALSE(wec) << wec.message();
  EXPECT_EQ(problem, "");
  // Then the client ends the stream: the echo side sees eof and closes
  // without a FIN back, the client reader sees its own close.
  st->close();
  EXPECT_GE(p.client->stats().bytes_out, total);
  EXPECT_GE(p.client->stats().bytes_in, total);
  EXPECT_FALSE(p.client->closed());
  EXPECT_FALSE(p.server->closed());
}

CORO_TEST(SessionData, Echo10MiBBothWays, echo_10mib_body(), std::chrono::seconds(60))

// ---------------------------------------------------------------------------
// Spent writes (what relay() uses on the sending side): frames are built in
// place in the lease, without a copy, and the bytes arrive intact, while
// another stream of the same session writes through the queue at the same
// time (the writer and the in-place writes take turns on the connection).

constexpr std::uint16_t kSpentEchoPort = 8;

// Echo through lease reads and spent writes, like a relay.
asio::awaitable<void> spent_echo(std::shared_ptr<Stream> s) {
  s->report_dial_result("");
  proto::StreamConn conn(s);
  net::Lease lease(net::kRelayBufferSize, net::kRelayHeadroom);
  for (;;) {
    auto [ec, n] = co_await conn.read_leased(lease);
    if (ec) break;
    auto wec = co_await conn.write_spent(lease, n);
    if (wec) break;
  }
}

void spent_or_plain_echo(std::shared_ptr<Stream> s) {
  auto ex = s->executor();
  asio::co_spawn(
      ex,
      [](std::shared_ptr<Stream> st) -> asio::awaitable<void> {
        std::uint8_t addr[7];
        auto ec = co_await read_exact(*st, addr);
        if (ec) co_return;
        const std::uint16_t port = static_cast<std::uint16_t>(addr[5] << 8 | addr[6]);
        auto echo = port == kSpentEchoPort ? spent_echo(std::move(st)) : echo_dialed(std::move(st));
        co_await std::move(echo);
      }(std::move(s)),
      asio::detached);
}

// Writes `total` bytes of pattern `seed` as a relay does: each piece read
// into a lease with headroom, then spent.
asio::awaitable<std::error_code> write_pattern_spent(std::shared_ptr<Stream> st, std::uint64_t seed,
                                                     std::uint64_t total) {
  net::Lease lease(net::kRelayBufferSize, net::kRelayHeadroom);
  std::uint64_t off = 0;
  while (off < total) {
    lease.acquire();
    const std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(lease.size(), total - off));
    auto* p = reinterpret_cast<std::uint8_t*>(lease.data());
    for (std::size_t i = 0; i < n; ++i) p[i] = pattern_byte(seed, off + i);
    auto ec = co_await st->write_spent(lease, n);
    if (ec) co_return ec;
    off += n;
  }
  co_return std::error_code{};
}

asio::awaitable<void> spent_writes_body() {
  Closer closer;
  auto p = co_await make_session_pair(client_options(), server_options(), spent_or_plain_echo);
  closer.add(p);
  auto spent = co_await open_ok(p.client, kSpentEchoPort);
  closer.add(spent);
  auto plain = co_await open_ok(p.client, kEchoPort);
  closer.add(plain);
  // Alone first: past the client's padded first packets, both sides frame
  // in place.
  auto [wec0, problem0] = co_await (write_pattern_spent(spent, 10, 2 * kMiB) && read_pattern(spent, 10, 2 * kMiB));
  EXPECT_FALSE(wec0) << wec0.message();
  EXPECT_EQ(problem0, "");
  EXPECT_GT(p.server->stats().direct_writes, 0u);
  EXPECT_GT(p.client->stats().direct_writes, 0u);
  // Then alongside queued writes.
  constexpr std::uint64_t total = 6 * kMiB;
  // (asio's && flattens the left pair, not the right one.)
  auto [wec1, problem1, right] = co_await ((write_pattern_spent(spent, 11, total) && read_pattern(spent, 11, total)) &&
                                           (write_pattern(plain, 12, total, 20000) && read_pattern(plain, 12, total)));
  auto [wec2, problem2] = right;
  EXPECT_FALSE(wec1) << wec1.message();
  EXPECT_EQ(problem1, "");
  EXPECT_FALSE(wec2) << wec2.message();
  EXPECT_EQ(problem2, "");
  EXPECT_FALSE(p.client->closed());
  EXPECT_FALSE(p.server->closed());
}

CORO_TEST(SessionData, SpentWritesFrameInPlaceAlongsideQueuedWrites, spent_writes_body(), std::chrono::seconds(60))

// ---------------------------------------------------------------------------
// Lease reads (what relay() uses): the bytes arrive intact, and once the
// stream is quiet nothing holds a buffer: not the parked reader, not the
// sessions' readers, not the TLS connections' outboxes.

struct LeasedRead {
  std::error_code ec;
  std::size_t n = 0;
  bool done = false;
};

asio::awaitable<void> park_leased_read(std::shared_ptr<Stream> st, net::Lease& lease, LeasedRead& out) {
  auto [ec, n] = co_await st->read_leased(lease);
  out.ec = ec;
  out.n = n;
  out.done = true;
}

asio::awaitable<std::string> read_pattern_leased(std::shared_ptr<Stream> st, std::uint64_t seed, std::uint64_t total) {
  net::Lease lease(4 * 16377);
  std::uint64_t off = 0;
  while (off < total) {
    auto [ec, n] = co_await st->read_leased(lease);
    if (ec) co_return "read: " + ec.message();
    if (n > lease.size()) co_return "read more than the lease's window";
    auto bad = check_pattern(seed, off, std::span<const std::uint8_t>(reinterpret_cast<std::uint8_t*>(lease.data()), n));
    if (bad >= 0) co_return "wrong byte at " + std::to_string(off + static_cast<std::uint64_t>(bad));
    off += n;
  }
  co_return std::string();
}

asio::awaitable<void> leased_quiet_body() {
  const std::size_t before = net::Lease::outstanding();
  Closer closer;
  auto p = co_await make_session_pair(client_options(), server_options(), echo_handler);
  closer.add(p);
  auto st = co_await open_ok(p.client, kEchoPort);
  closer.add(st);
  constexpr std::uint64_t total = 3 * kMiB;
  auto [wec0, problem] = co_await (write_pattern(st, 5, total, 50000) && read_pattern_leased(st, 5, total));
  EXPECT_FALSE(wec0);
  EXPECT_EQ(problem, "");
  // A reader parked on the quiet stream, and everything else idle.
  net::Lease lease(4 * 16377);
  LeasedRead got;
  auto ex = co_await asio::this_coro::executor;
  asio::co_spawn(ex, park_leased_read(st, lease, got), asio::detached);
  for (int i = 0; i < 200 && net::Lease::outstanding() != before; ++i) co_await delay(std::chrono::milliseconds(5));
  EXPECT_EQ(net::Lease::outstanding(), before);
  EXPECT_FALSE(got.done);
  EXPECT_FALSE(lease);
  // Nor large write buffers: megabytes went through both sessions' queues,
  // which give their memory back after a moment of quiet.
  for (int i = 0; i < 600 && p.client->write_buffer_capacity() + p.server->write_buffer_capacity() > 16u * 1024; ++i)
    co_await delay(std::chrono::milliseconds(5));
  EXPECT_LE(p.client->write_buffer_capacity(), 8u * 1024);
  EXPECT_LE(p.server->write_buffer_capacity(), 8u * 1024);
  // Then a few bytes: the session reader fills a lease for the parked reader.
  const std::string hello = "hello";
  auto wec = co_await st->write(asio::buffer(hello));
  EXPECT_FALSE(wec);
  for (int i = 0; i < 400 && !got.done; ++i) co_await delay(std::chrono::milliseconds(5));
  CO_ASSERT_TRUE(got.done);
  EXPECT_FALSE(got.ec);
  CO_ASSERT_TRUE(static_cast<bool>(lease));
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(lease.data()), got.n), hello);
}

CORO_TEST(SessionData, LeasedReadsAndAQuietStreamHoldsNoBuffer, leased_quiet_body(), std::chrono::seconds(30))

// ---------------------------------------------------------------------------
// Independent patterns: the client sends 10 MiB of pattern 11 while the
// server sends 10 MiB of pattern 12 on the same stream, plus three more
// streams doing the same at once with other patterns.

struct PatternResult {
  explicit PatternResult(const asio::any_io_executor& ex) : finished(ex) {}
  std::string server_read_problem = "unset";
  std::error_code server_write_ec;
  Counter finished;  // server streams done
};

asio::awaitable<void> pattern_server_stream(std::shared_ptr<Stream> s, std::shared_ptr<PatternResult> res,
                                            std::uint64_t total) {
  std::uint8_t addr[7];
  if (co_await read_exact(*s, addr)) co_return;
  const std::uint64_t seed = addr[6];  // the port selects the patterns
  s->report_dial_result("");
  auto [wec, problem] = co_await (write_pattern(s, seed + 1, total, 50000) && read_pattern(s, seed, total));
  if (seed == 11) {
    res->server_read_problem = problem;
    res->server_write_ec = wec;
  } else {
    EXPECT_EQ(problem, "") << "server side, seed " << seed;
    EXPECT_FALSE(wec);
  }
  s->close();
  res->finished.add();
}

struct PatternHandler {
  std::shared_ptr<PatternResult> res;
  std::uint64_t total;
  void operator()(std::shared_ptr<Stream> s) const {
    auto ex = s->executor();
    asio::co_spawn(ex, pattern_server_stream(std::move(s), res, total), asio::detached);
  }
};

asio::awaitable<void> client_pattern_stream(std::shared_ptr<Session> c, std::uint16_t seed, std::uint64_t total,
                                            std::shared_ptr<Counter> done) {
  auto st = co_await open_ok(c, seed);
  auto [wec, problem] = co_await (write_pattern(st, seed, total, 30000) && read_pattern(st, seed + 1, total));
  EXPECT_FALSE(wec) << "client seed " << seed << ": " << wec.message();
  EXPECT_EQ(problem, "") << "client side, seed " << seed;
  st->close();
  done->add();
}

asio::awaitable<void> patterns_body() {
  Closer closer;
  auto ex = co_await asio::this_coro::executor;
  auto res = std::make_shared<PatternResult>(ex);
  constexpr std::uint64_t big = 10 * kMiB, small = 2 * kMiB;
  Session::StreamHandler handler = PatternHandler{res, big};  // named: see session_fixture.hpp
  auto p = co_await make_session_pair(client_options(), server_options(), std::move(handler));
  closer.add(p);
  auto done = std::make_shared<Counter>(ex);
  co_await client_pattern_stream(p.client, 11, big, done);
  // Re-arm the server handler for the smaller concurrent streams.
  p.server->set_stream_handler(PatternHandler{res, small});
  std::vector<std::uint16_t> seeds{21, 31, 41};
  for (std::uint16_t seed : seeds)
    asio::co_spawn(ex, client_pattern_stream(p.client, seed, small, done), asio::detached);
  co_await done->wait_for(4);
  co_await res->finished.wait_for(4);  // the server may still be reading
  EXPECT_EQ(res->server_read_problem, "");
  EXPECT_FALSE(res->server_write_ec);
  EXPECT_EQ(p.client->stats().streams_opened, 4u);
}

CORO_TEST(SessionData, IndependentPatternsBothWaysAndConcurrentStreams, patterns_body(), std::chrono::seconds(90))

// ---------------------------------------------------------------------------
// A 1 MiB single write reaches a raw server intact, split into PSH frames of
// at most 65535 bytes.

asio::awaitable<void> one_mib_body() {
  Closer closer;
  auto over = co_await client_over_raw_tls(closer, client_options());
  auto& server = *over.server;
  auto client = over.client;

  constexpr std::size_t total = 1 * kMiB;
  std::vector<std::uint8_t> data(total);
  fill_pattern(5, 0, data);
  auto r = client->open_stream(ipv4_loopback_address(80));
  CO_ASSERT_TRUE(r.ok());
  auto st = *r;
  closer.add(st);
  auto wec = co_await st->write(asio::buffer(data));
  EXPECT_FALSE(wec);

  auto rest = co_await read_preamble(server);
  CO_ASSERT_TRUE(rest.empty());
  FrameReader fr(server);
  std::vector<std::uint8_t> got;
  std::size_t frames = 0;
  bool settings = false, syn = false;
  while (got.size() < total + 7) {
    auto f = co_await fr.next();
    CO_ASSERT_TRUE(f.has_value());
    if (f->cmd == Command::settings) settings = true;
    if (f->cmd == Command::syn) {
      EXPECT_TRUE(settings) << "Settings must precede the first SYN";
      EXPECT_EQ(f->sid, 1u);
      syn = true;
    }
    if (f->cmd == Command::push) {
      EXPECT_TRUE(syn);
      EXPECT_EQ(f->sid, 1u);
      EXPECT_LE(f->data.size(), proto::kMaxFrameData);
      got.insert(got.end(), f->data.begin(), f->data.end());
      ++frames;
    }
  }
  CO_ASSERT_TRUE(got.size() == total + 7);
  EXPECT_EQ(std::vector<std::uint8_t>(got.begin(), got.begin() + 7), ipv4_loopback_address(80));
  EXPECT_EQ(check_pattern(5, 0, std::span<const std::uint8_t>(got).subspan(7)), -1);
  // 1 MiB needs at least 17 frames of <= 65535 bytes (plus the address one).
  EXPECT_GE(frames, 1u + (total + proto::kMaxFrameData - 1) / proto::kMaxFrameData);
  for (auto n : fr.push_sizes()) EXPECT_LE(n, proto::kMaxFrameData);
}

CORO_TEST(SessionData, OneMiBSingleWriteIsSplitIntoFrames, one_mib_body())

// ---------------------------------------------------------------------------
// FIN, client Session -> server Session: the server's reader gets every byte
// written before the FIN, then eof.

struct FinSink {
  std::shared_ptr<std::vector<std::uint8_t>> data = std::make_shared<std::vector<std::uint8_t>>();
  std::shared_ptr<std::error_code> end = std::make_shared<std::error_code>();
  std::shared_ptr<Flag> done;
  std::shared_ptr<Flag> start_reading;
};

asio::awaitable<void> fin_sink_stream(std::shared_ptr<Stream> s, FinSink sink) {
  s->report_dial_result("");
  co_await sink.start_reading->wait();  // let data and FIN queue up first
  auto [bytes, ec] = co_await read_to_end(*s);
  *sink.data = std::move(bytes);
  *sink.end = ec;
  s->close();  // after a remote FIN: sends nothing
  sink.done->set();
}

struct FinSinkHandler {
  FinSink sink;
  void operator()(std::shared_ptr<Stream> s) const {
    auto ex = s->executor();
    asio::co_spawn(ex, fin_sink_stream(std::move(s), sink), asio::detached);
  }
};

asio::awaitable<void> fin_client_to_server_body() {
  Closer closer;
  auto ex = co_await asio::this_coro::executor;
  FinSink sink;
  sink.done = std::make_shared<Flag>(ex);
  sink.start_reading = std::make_shared<Flag>(ex);
  auto fin_seen = std::make_shared<Flag>(ex);
  Session::StreamHandler handler = FinSinkHandler{sink};
  // The whole write must fit the server's stream buffer, so that the FIN is
  // processed while everything is still buffered.
  auto sopts = server_options();
  sopts.stream_buffer = 128 * 1024;
  auto p = co_await make_session_pair(client_options(), std::move(sopts), std::move(handler));
  closer.add(p);
  p.server->set_frame_observer([fin_seen](Command c) {
    if (c == Command::fin) fin_seen->set();
  });
  auto r = p.client->open_stream(ipv4_loopback_address(1));
  CO_ASSERT_TRUE(r.ok());
  auto st = *r;
  EXPECT_FALSE(co_await st->wait_synack());
  std::vector<std::uint8_t> data(100000);
  fill_pattern(3, 0, data);
  EXPECT_FALSE(co_await st->write(asio::buffer(data)));
  st->close();
  co_await fin_seen->wait();  // the FIN has been processed before any read
  sink.start_reading->set();
  co_await sink.done->wait();
  EXPECT_EQ(*sink.end, asio::error::eof) << sink.end->message();
  EXPECT_EQ(sink.data->size(), 7 + data.size());
  if (sink.data->size() == 7 + data.size()) {
    EXPECT_EQ(check_pattern(3, 0, std::span<const std::uint8_t>(*sink.data).subspan(7)), -1);
  }
  EXPECT_EQ(p.server->stream_count(), 0u);
  EXPECT_EQ(p.client->stream_count(), 0u);
  // The session survives its streams.
  auto st2 = co_await open_ok(p.client, kEchoPort);
  st2->close();
}

CORO_TEST(SessionData, FinFromClientDeliversBufferedDataThenEof, fin_client_to_server_body())

// FIN, raw server -> client Session: buffered data then eof, and the client's
// close after that sends no FIN (the raw side sees a HeartResponse next).

asio::awaitable<void> fin_server_to_client_body() {
  Closer closer;
  auto ex = co_await asio::this_coro::executor;
  auto over = co_await client_over_raw_tls(closer, client_options());
  auto& server = *over.server;
  auto client = over.client;
  auto heart_seen = std::make_shared<Flag>(ex);
  client->set_frame_observer([heart_seen](Command c) {
    if (c == Command::heart_request) heart_seen->set();
  });
  auto r = client->open_stream(ipv4_loopback_address(2));
  CO_ASSERT_TRUE(r.ok());
  auto st = *r;

  co_await read_preamble(server);
  FrameReader fr(server);
  auto syn = co_await fr.until(Command::syn);
  CO_ASSERT_TRUE(syn.has_value());
  // SYNACK, data, FIN and a HeartRequest in one write: by the time the
  // client has handled the HeartRequest, data and FIN are both buffered.
  auto wire = cat(raw_frame(Command::server_settings, 0, "v=2"), raw_frame(Command::synack, 1),
                                   raw_frame(Command::push, 1, "hello "), raw_frame(Command::push, 1, "world"),
                                   raw_frame(Command::fin, 1), raw_frame(Command::heart_request, 0));
  co_await write_all(server, wire);
  co_await heart_seen->wait();
  EXPECT_FALSE(co_await st->wait_synack());
  auto [bytes, ec] = co_await read_to_end(*st);
  EXPECT_EQ(std::string(bytes.begin(), bytes.end()), "hello world");
  EXPECT_EQ(ec, asio::error::eof) << ec.message();
  // A second read still says eof; write fails.
  std::vector<std::uint8_t> b(4);
  auto [ec2, n2] = co_await st->read_some(asio::buffer(b));
  EXPECT_EQ(ec2, asio::error::eof);
  EXPECT_EQ(n2, 0u);
  EXPECT_TRUE(co_await st->write(asio::buffer(b)));
  st->close();
  // Everything the client sends until its HeartResponse: no FIN.
  co_await write_all(server, raw_frame(Command::heart_request, 77));
  std::vector<RawFrame> skipped;
  auto hr = co_await fr.until(Command::heart_response, &skipped);
  CO_ASSERT_TRUE(hr.has_value());
  for (auto& f : skipped) {
    EXPECT_NE(f.cmd, Command::fin) << "FIN echoed: " << describe(f);
  }
  EXPECT_FALSE(client->closed());
}

CORO_TEST(SessionData, FinFromServerDeliversBufferedDataThenEofAndIsNotEchoed, fin_server_to_client_body())

// FIN, raw client -> server Session: the server stream's reader sees the
// data then eof; the server sends no FIN back.

struct RawFinState {
  std::shared_ptr<Flag> closed_by_handler;
  std::shared_ptr<std::string> got = std::make_shared<std::string>();
  std::shared_ptr<std::error_code> end = std::make_shared<std::error_code>();
};

asio::awaitable<void> raw_fin_server_stream(std::shared_ptr<Stream> s, RawFinState st) {
  s->report_dial_result("");
  auto [bytes, ec] = co_await read_to_end(*s);
  st.got->assign(bytes.begin(), bytes.end());
  *st.end = ec;
  s->close();
  st.closed_by_handler->set();
}

struct RawFinHandler {
  RawFinState st;
  void operator()(std::shared_ptr<Stream> s) const {
    auto ex = s->executor();
    asio::co_spawn(ex, raw_fin_server_stream(std::move(s), st), asio::detached);
  }
};

asio::awaitable<void> fin_raw_client_body() {
  Closer closer;
  auto ex = co_await asio::this_coro::executor;
  auto tls = co_await make_tls_pair(shared_contexts());
  auto& client = closer.own(std::move(tls.client));
  RawFinState st{std::make_shared<Flag>(ex)};
  co_await write_preamble(client);
  Session::StreamHandler handler = RawFinHandler{st};
  auto server = co_await start_server_session(std::move(tls.server), server_options(), std::move(handler));
  closer.add(server);
  auto settings = proto::client_settings("raw-test/1", proto::PaddingScheme::default_scheme().md5_hex);
  auto wire = cat(raw_frame(Command::settings, 0, settings), raw_frame(Command::syn, 1),
                                   raw_frame(Command::push, 1, "abc"), raw_frame(Command::push, 1, "def"),
                                   raw_frame(Command::fin, 1));
  co_await write_all(client, wire);
  co_await st.closed_by_handler->wait();
  EXPECT_EQ(*st.got, "abcdef");
  EXPECT_EQ(*st.end, asio::error::eof) << st.end->message();
  co_await write_all(client, raw_frame(Command::heart_request, 0));
  FrameReader fr(client);
  std::vector<RawFrame> skipped;
  auto hr = co_await fr.until(Command::heart_response, &skipped);
  CO_ASSERT_TRUE(hr.has_value());
  bool synack = false;
  for (auto& f : skipped) {
    EXPECT_NE(f.cmd, Command::fin) << "FIN echoed: " << describe(f);
    if (f.cmd == Command::synack && f.sid == 1 && f.data.empty()) synack = true;
  }
  EXPECT_TRUE(synack);
  EXPECT_EQ(server->stream_count(), 0u);
}

CORO_TEST(SessionData, FinFromRawClientIsNotEchoed, fin_raw_client_body())

}  // namespace
