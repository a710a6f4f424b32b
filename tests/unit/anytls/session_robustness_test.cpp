// AnyTLS session robustness on real sockets and real TLS (loopback):
// bounded memory under backpressure while other sessions keep flowing, and
// malformed input that must close only the affected session.
#include <gtest/gtest.h>

#include <asio/post.hpp>

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/experimental/awaitable_operators.hpp>
#include <asio/io_context.hpp>
#include <asio/this_coro.hpp>
#include <asio/write.hpp>

#include "anytls/session.hpp"
#include "anytls/settings.hpp"
#include "anytls/stream.hpp"
#include "support/frames.hpp"
#include "support/run.hpp"
#include "support/session_fixture.hpp"

using namespace anytls;
using namespace anytls::test;
using namespace asio::experimental::awaitable_operators;
using proto::Command;
using proto::PaddingScheme;
using proto::Session;
using proto::Stream;

namespace {

constexpr std::uint64_t kKiB = 1024, kMiB = 1024 * 1024;
constexpr std::size_t kReadChunk = 16 * 1024 + 64;  // the session reader's buffer


// Moves `total` bytes through an echo stream of a healthy session.
asio::awaitable<void> echo_check(std::shared_ptr<Session> client, std::uint64_t total, std::uint64_t seed) {
  auto r = client->open_stream(ipv4_loopback_address(kEchoPort));
  CO_ASSERT_TRUE(r.ok());
  auto st = *r;
  auto err = co_await st->wait_synack();
  EXPECT_FALSE(err.has_value());
  auto [wec, problem] = co_await (write_pattern(st, seed, total) && read_pattern(st, seed, total));
  EXPECT_FALSE(wec) << wec.message();
  EXPECT_EQ(problem, "");
  st->close();
}

// ---------------------------------------------------------------------------
// Backpressure: a stream whose reader never reads stops its writer after a
// bounded number of bytes, while another session on the same io_context
// keeps flowing; once the reader reads, everything arrives.

struct Parked {
  std::shared_ptr<Stream> stream;
  std::shared_ptr<Flag> ready;
};

struct ParkHandler {
  std::shared_ptr<Parked> parked;
  void operator()(std::shared_ptr<Stream> s) const {
    s->report_dial_result("");
    parked->stream = std::move(s);
    parked->ready->set();
  }
};

asio::awaitable<void> counted_writer(std::shared_ptr<Stream> s, std::uint64_t total, std::shared_ptr<Counter> written,
                                     std::shared_ptr<std::error_code> result) {
  std::vector<std::uint8_t> buf(64 * 1024);
  std::uint64_t off = 0;
  while (off < total) {
    const auto n = static_cast<std::size_t>(std::min<std::uint64_t>(buf.size(), total - off));
    fill_pattern(77, off, std::span<std::uint8_t>(buf.data(), n));
    if (auto ec = co_await s->write(asio::buffer(buf.data(), n))) {
      *result = ec;
      break;
    }
    off += n;
    written->add(n);
  }
  written->add(0);
}

asio::awaitable<void> backpressure_body() {
  Closer closer;
  auto ex = co_await asio::this_coro::executor;
  constexpr std::uint64_t total = 64 * kMiB;
  constexpr int sockbuf = 32 * 1024;

  auto parked = std::make_shared<Parked>(Parked{nullptr, std::make_shared<Flag>(ex)});
  PairOptions small;
  small.socket_buffer = sockbuf;
  auto client_opts = client_options();
  auto server_opts = server_options();
  const std::size_t stream_buffer = server_opts.stream_buffer;
  const std::size_t high_water = client_opts.write_high_water;
  Session::StreamHandler park = ParkHandler{parked};  // named: see session_fixture.hpp
  auto a = co_await make_session_pair(std::move(client_opts), std::move(server_opts), std::move(park), small);
  closer.add(a);
  auto b = co_await make_session_pair(client_options(), server_options(), echo_handler);
  closer.add(b);

  auto r = a.client->open_stream(ipv4_loopback_address(80));
  CO_ASSERT_TRUE(r.ok());
  auto st = *r;
  closer.add(st);
  co_await parked->ready->wait();
  EXPECT_FALSE(co_await st->wait_synack());
  auto srv = parked->stream;
  closer.add(srv);
  std::vector<std::uint8_t> addr(7);
  CO_ASSERT_TRUE(!co_await read_exact(*srv, addr));

  auto written = std::make_shared<Counter>(ex);
  auto write_result = std::make_shared<std::error_code>();
  asio::co_spawn(ex, counted_writer(st, total, written, write_result), asio::detached);
  // Every buffer on the way has room for at least this much: the stream's
  // receive ring alone (128 KiB) plus the sender's queue (256 KiB).
  co_await written->wait_for(384 * kKiB);

  // Meanwhile, another session on the same io_context moves 1 MiB.
  co_await echo_check(b.client, 1 * kMiB, 5);

  // The receive side holds at most the ring plus the one read chunk being
  // delivered (plus frame headers and client padding).
  const std::uint64_t in_a = a.server->stats().bytes_in;
  const std::uint64_t recv_limit = stream_buffer + kReadChunk + 32 * kKiB;
  EXPECT_LE(in_a, recv_limit) << "server session read more than its stream can hold";
  // The writer is stuck: what it got rid of fits in the receive side, the
  // kernel socket buffers (Linux doubles SO_SNDBUF/SO_RCVBUF) and the
  // sender's queue + the packet being written.
  const std::uint64_t w = written->value();
  const std::uint64_t send_limit = recv_limit + 4 * 2 * sockbuf + 2 * (high_water + 64 * kKiB) + 256 * kKiB;
  ::testing::Test::RecordProperty("stalled_writer_bytes", std::to_string(w));
  ::testing::Test::RecordProperty("stalled_receiver_bytes_in", std::to_string(in_a));
  EXPECT_LT(w, total);
  EXPECT_LE(w, send_limit) << "writes kept completing: buffers are not bounded";

  // Now read everything, checking the bound at every step.
  std::vector<std::uint8_t> buf(48 * 1024);
  std::uint64_t got = 0;
  std::uint64_t worst = 0;
  while (got < total) {
    auto [ec, n] = co_await srv->read_some(asio::buffer(buf));
    if (ec) {
      ADD_FAILURE() << "read after " << got << ": " << ec.message();
      break;
    }
    auto bad = check_pattern(77, got, std::span<const std::uint8_t>(buf.data(), n));
    if (bad >= 0) {
      ADD_FAILURE() << "wrong byte at " << got + static_cast<std::uint64_t>(bad);
      break;
    }
    got += n;
    // Bytes read from TLS but not yet consumed (headers: 7 per frame).
    const std::uint64_t in = a.server->stats().bytes_in;
    const std::uint64_t buffered = in - got - 7;
    worst = std::max(worst, buffered);
    if (buffered > recv_limit + 7 * (got / 60000 + 1)) {
      ADD_FAILURE() << "receive side holds " << buffered << " bytes";
      break;
    }
  }
  CO_ASSERT_TRUE(got == total);  // else the writer may never finish
  co_await written->wait_for(total);
  EXPECT_FALSE(*write_result) << write_result->message();
  ::testing::Test::RecordProperty("max_buffered_on_receive_side", std::to_string(worst));
  st->close();
}

CORO_TEST(SessionRobustness, BackpressureBoundsMemoryAndOtherSessionsFlow, backpressure_body(), std::chrono::seconds(120))

// ---------------------------------------------------------------------------
// A client that stops reading: the server's writes stop making progress and,
// after write_stall_timeout with none, the server closes that session (its
// buffers would otherwise stay forever).

asio::awaitable<void> write_stall_body(net::VirtualClock* clock) {
  Closer closer;
  auto ex = co_await asio::this_coro::executor;
  auto parked = std::make_shared<Parked>(Parked{nullptr, std::make_shared<Flag>(ex)});
  PairOptions small;
  small.socket_buffer = 32 * 1024;
  auto server_opts = server_options();
  server_opts.clock = clock;
  server_opts.write_stall_timeout = std::chrono::seconds(60);
  Session::StreamHandler park = ParkHandler{parked};
  auto a = co_await make_session_pair(client_options(), std::move(server_opts), std::move(park), small);
  closer.add(a);
  auto closed = watch_close(*a.server, ex);

  auto r = a.client->open_stream(ipv4_loopback_address(80));
  CO_ASSERT_TRUE(r.ok());
  auto st = *r;  // never read: the client stops reading once its ring is full
  closer.add(st);
  co_await parked->ready->wait();
  auto srv = parked->stream;
  closer.add(srv);

  auto written = std::make_shared<Counter>(ex);
  auto write_result = std::make_shared<std::error_code>();
  asio::co_spawn(ex, counted_writer(srv, 64 * kMiB, written, write_result), asio::detached);
  // Every buffer on the way fills: the client's stream ring, both kernel
  // socket buffers, the server's queue.
  co_await written->wait_for(256 * kKiB);
  std::uint64_t last = 0;
  for (int still = 0; still < 5;) {
    co_await settle();
    still = written->value() == last ? still + 1 : 0;
    last = written->value();
  }
  clock->advance(std::chrono::milliseconds(59999));
  co_await settle();
  EXPECT_FALSE(a.server->closed()) << "closed before the bound";
  clock->advance(std::chrono::milliseconds(1));
  co_await closed.closed->wait();
  EXPECT_EQ(*closed.reason, "write stalled");
}

TEST(SessionRobustness, ServerClosesASessionWhoseWritesStall) {
  net::VirtualClock clock;
  asio::io_context io;
  run_test(io, write_stall_body(&clock), std::chrono::seconds(60));
}

// ---------------------------------------------------------------------------
// The session's receive budget: many streams whose readers stall cannot make
// a session hold more than session_buffer, and nothing deadlocks: once the
// streams are read, every byte arrives.

struct ParkAll {
  std::shared_ptr<std::vector<std::shared_ptr<Stream>>> streams;
  std::shared_ptr<Counter> count;
  void operator()(std::shared_ptr<Stream> s) const {
    s->report_dial_result("");
    streams->push_back(std::move(s));
    count->add(1);
  }
};

asio::awaitable<void> drain_stream(std::shared_ptr<Stream> s, std::uint64_t total, std::shared_ptr<Counter> done) {
  std::vector<std::uint8_t> addr(7);
  if (co_await read_exact(*s, addr)) {
    ADD_FAILURE() << "no address";
    co_return;
  }
  std::vector<std::uint8_t> buf(32 * 1024);
  std::uint64_t got = 0;
  while (got < total) {
    auto [ec, n] = co_await s->read_some(asio::buffer(buf));
    if (ec) {
      ADD_FAILURE() << "read after " << got << ": " << ec.message();
      co_return;
    }
    auto bad = check_pattern(77, got, std::span<const std::uint8_t>(buf.data(), n));
    if (bad >= 0) {
      ADD_FAILURE() << "wrong byte at " << got + static_cast<std::uint64_t>(bad);
      co_return;
    }
    got += n;
    done->add(n);
  }
}

asio::awaitable<void> session_budget_body() {
  Closer closer;
  auto ex = co_await asio::this_coro::executor;
  constexpr int kStreams = 8;
  constexpr std::uint64_t per_stream = 48 * kKiB;
  auto streams = std::make_shared<std::vector<std::shared_ptr<Stream>>>();
  auto count = std::make_shared<Counter>(ex);
  auto server_opts = server_options();
  server_opts.stream_buffer = 64 * kKiB;
  server_opts.session_buffer = 128 * kKiB;  // less than 8 full rings (512 KiB)
  const std::size_t budget = server_opts.session_buffer;
  Session::StreamHandler park = ParkAll{streams, count};  // named: see session_fixture.hpp
  auto p = co_await make_session_pair(client_options(), std::move(server_opts), std::move(park));
  closer.add(p);

  // Open every stream first (a stalled ring pauses the session reader, SYNs
  // included), then write 48 KiB into each: each fits its own 64 KiB ring,
  // all of them together do not fit the 128 KiB budget.
  std::vector<std::shared_ptr<Stream>> client_streams;
  for (int i = 0; i < kStreams; ++i) {
    auto r = p.client->open_stream(ipv4_loopback_address(80));
    CO_ASSERT_TRUE(r.ok());
    closer.add(*r);
    client_streams.push_back(*r);
  }
  co_await count->wait_for(kStreams);
  for (auto& s : *streams) closer.add(s);
  auto written = std::make_shared<Counter>(ex);
  std::vector<std::shared_ptr<std::error_code>> results;
  for (auto& st : client_streams) {
    results.push_back(std::make_shared<std::error_code>());
    asio::co_spawn(ex, counted_writer(st, per_stream, written, results.back()), asio::detached);
  }
  // Let the writers run until they stall (the other session proves progress).
  auto b = co_await make_session_pair(client_options(), server_options(), echo_handler);
  closer.add(b);
  co_await echo_check(b.client, 1 * kMiB, 9);

  const std::uint64_t in = p.server->stats().bytes_in;
  // 8 x 48 KiB sent; the session read at most its budget plus one chunk.
  EXPECT_LE(in, budget + kReadChunk + 32 * kKiB) << "the session buffered past its budget";

  // Read every stream to the end of its data, all at once (AnyTLS has no
  // flow control: one stream read after another would block on the first
  // full ring, with any buffer limit): all of it arrives.
  auto done = std::make_shared<Counter>(ex);
  for (auto& s : *streams) asio::co_spawn(ex, drain_stream(s, per_stream, done), asio::detached);
  co_await done->wait_for(kStreams * per_stream);
  co_await written->wait_for(kStreams * per_stream);
  for (auto& r : results) EXPECT_FALSE(*r) << r->message();
}

CORO_TEST(SessionRobustness, SessionBudgetBoundsManyStalledStreams, session_budget_body())

// The inbound's shared budget (max_buffered_bytes): two sessions whose
// streams stall hold no more than it together, each far below its own
// budget, and once read everything arrives.
asio::awaitable<void> shared_budget_body() {
  Closer closer;
  auto ex = co_await asio::this_coro::executor;
  constexpr int kStreams = 4;
  constexpr std::uint64_t per_stream = 48 * kKiB;
  constexpr std::size_t kShared = 128 * kKiB;  // less than 2 x 4 x 48 KiB
  auto shared = std::make_shared<proto::ReceiveBudget>(ex, kShared);
  auto streams = std::make_shared<std::vector<std::shared_ptr<Stream>>>();
  auto count = std::make_shared<Counter>(ex);
  auto written = std::make_shared<Counter>(ex);
  std::vector<SessionPair> pairs;
  std::vector<std::shared_ptr<Stream>> client_streams;
  std::vector<std::shared_ptr<std::error_code>> results;
  // Every stream is opened first (a stalled ring pauses its session's reader,
  // SYNs included), then written to.
  for (int k = 0; k < 2; ++k) {
    auto server_opts = server_options();
    server_opts.stream_buffer = 64 * kKiB;
    server_opts.shared_budget = shared;
    Session::StreamHandler park = ParkAll{streams, count};  // named: see session_fixture.hpp
    auto pair = co_await make_session_pair(client_options(), std::move(server_opts), std::move(park));
    closer.add(pair);
    pairs.push_back(pair);
    for (int i = 0; i < kStreams; ++i) {
      auto r = pair.client->open_stream(ipv4_loopback_address(80));
      CO_ASSERT_TRUE(r.ok());
      closer.add(*r);
      client_streams.push_back(*r);
    }
  }
  co_await count->wait_for(2 * kStreams);
  for (auto& st : *streams) closer.add(st);
  for (auto& st : client_streams) {
    results.push_back(std::make_shared<std::error_code>());
    asio::co_spawn(ex, counted_writer(st, per_stream, written, results.back()), asio::detached);
  }
  auto b = co_await make_session_pair(client_options(), server_options(), echo_handler);
  closer.add(b);
  co_await echo_check(b.client, 1 * kMiB, 11);

  EXPECT_LE(shared->used(), kShared);
  const std::uint64_t in = pairs[0].server->stats().bytes_in + pairs[1].server->stats().bytes_in;
  EXPECT_LE(in, kShared + 2 * (kReadChunk + 32 * kKiB)) << "the sessions buffered past the shared budget";

  auto done = std::make_shared<Counter>(ex);
  for (auto& st : *streams) asio::co_spawn(ex, drain_stream(st, per_stream, done), asio::detached);
  co_await done->wait_for(2 * kStreams * per_stream);
  co_await written->wait_for(2 * kStreams * per_stream);
  for (auto& r : results) EXPECT_FALSE(*r) << r->message();
  EXPECT_EQ(shared->used(), 0u);
}

CORO_TEST(SessionRobustness, SharedBudgetBoundsAllSessionsTogether, shared_budget_body(), std::chrono::seconds(60))

// Issue 24: the download direction counts too. Streams whose client never
// reads hold their writers' bytes (a relay's 64 KiB buffer each) while they
// wait for room; those count against the shared budget, and once it is
// spent the owner is told (the inbound closes the session holding the most),
// instead of 5,000 such streams holding 342 MB under a 64 MiB budget.
asio::awaitable<void> download_budget_body() {
  Closer closer;
  auto ex = co_await asio::this_coro::executor;
  constexpr int kStreams = 40;
  constexpr std::size_t kShared = 1 * kMiB;  // less than 40 x 64 KiB waiting writes
  auto shared = std::make_shared<proto::ReceiveBudget>(ex, kShared);
  auto streams = std::make_shared<std::vector<std::shared_ptr<Stream>>>();
  auto count = std::make_shared<Counter>(ex);
  auto server_opts = server_options();
  server_opts.shared_budget = shared;
  Session::StreamHandler park = ParkAll{streams, count};  // named: see session_fixture.hpp
  auto pair = co_await make_session_pair(client_options(), std::move(server_opts), std::move(park));
  closer.add(pair);
  std::vector<std::shared_ptr<Stream>> client_streams;
  for (int i = 0; i < kStreams; ++i) {
    auto r = pair.client->open_stream(ipv4_loopback_address(80));
    CO_ASSERT_TRUE(r.ok());
    closer.add(*r);
    client_streams.push_back(*r);  // never read
  }
  co_await count->wait_for(kStreams);
  for (auto& st : *streams) closer.add(st);
  // The inbound's reaction, as AnyTlsServer::on_buffers_full does it.
  auto exhausted = std::make_shared<Flag>(ex);
  std::size_t peak = 0;
  shared->set_exhausted_handler([&, server = pair.server] {
    if (exhausted->is_set()) return;
    peak = shared->used();
    exhausted->set();
    asio::post(ex, [server] { server->close("buffer limit"); });
  });
  // What the streams' receive rings hold already (each SYN's address).
  const std::size_t received = shared->used();
  auto written = std::make_shared<Counter>(ex);
  std::vector<std::shared_ptr<std::error_code>> results;
  for (auto& st : *streams) {
    results.push_back(std::make_shared<std::error_code>());
    asio::co_spawn(ex, counted_writer(st, 64 * kMiB, written, results.back()), asio::detached);
  }
  co_await exhausted->wait();
  EXPECT_GT(peak, 0u);
  EXPECT_LE(peak, kShared + 64 * kKiB) << "one write past the budget at most";
  // Every writer ends (the session is gone) and gives its bytes back.
  for (int i = 0; i < 200 && shared->used() != received; ++i) co_await settle();
  EXPECT_EQ(shared->used(), received);
  EXPECT_EQ(pair.server->buffered(), received);
  shared->set_exhausted_handler({});
}

CORO_TEST(SessionRobustness, SharedBudgetCountsWaitingDownloadBytes, download_budget_body(), std::chrono::seconds(60))

// ---------------------------------------------------------------------------
// Malformed input closes that session only.

// (Byte lists are built outside the coroutines: GCC 12 rejects
// initializer_list arrays inside coroutine bodies.)
std::vector<std::uint8_t> huge_settings_header() { return {4, 0xde, 0xad, 0xbe, 0xef, 0xff, 0xff}; }
std::vector<std::uint8_t> cut_header(std::uint8_t cmd) { return {cmd, 0, 0}; }
std::vector<std::uint8_t> fake_app_record() {
  std::vector<std::uint8_t> rec = {0x17, 0x03, 0x03, 0x00, 0x40};
  rec.resize(5 + 0x40, 0x5a);
  return rec;
}

enum class Garbage {
  huge_frame_cut,     // a Settings header announcing 65535 bytes, then close
  random_bytes,       // 4 KiB of noise after the preamble, then close
  header_cut,         // Settings, then 3 bytes of a header, then close_notify
  psh_payload_cut,    // an open stream, a PSH announcing 1000 bytes, 10 sent
  corrupt_tls_record, // bytes injected under TLS: the record fails to decrypt
};

asio::awaitable<void> malformed_server_body(Garbage kind) {
  Closer closer;
  auto ex = co_await asio::this_coro::executor;
  // The healthy neighbour.
  auto healthy = co_await make_session_pair(client_options(), server_options(), echo_handler);
  closer.add(healthy);

  auto tls = co_await make_tls_pair(shared_contexts());
  auto& raw = closer.own(std::move(tls.client));
  co_await write_preamble(raw);
  auto parked = std::make_shared<Parked>(Parked{nullptr, std::make_shared<Flag>(ex)});
  Session::StreamHandler park = ParkHandler{parked};
  auto victim = co_await start_server_session(std::move(tls.server), server_options(), std::move(park));
  closer.add(victim);
  auto closed = watch_close(*victim, ex);
  auto settings =
      raw_frame(Command::settings, 0, proto::client_settings("raw/1", PaddingScheme::default_scheme().md5_hex));

  switch (kind) {
    case Garbage::huge_frame_cut: {
      std::vector<std::uint8_t> noise(1000);
      fill_pattern(9, 0, noise);
      auto wire = cat(huge_settings_header(), noise);
      co_await write_all(raw, wire);
      raw.close();
      break;
    }
    case Garbage::random_bytes: {
      std::vector<std::uint8_t> noise(4096);
      fill_pattern(10, 0, noise);
      noise[0] = 0x04;  // not a SYN first: the alert path has its own test
      co_await write_all(raw, noise);
      raw.close();
      break;
    }
    case Garbage::header_cut: {
      auto wire = cat(settings, cut_header(2));
      co_await write_all(raw, wire);
      raw.shutdown_write();
      break;
    }
    case Garbage::psh_payload_cut: {
      std::vector<std::uint8_t> hdr(7), ten(10, 0x33);
      proto::encode_header(hdr.data(), proto::FrameHeader{Command::push, 1, 1000});
      auto wire = cat(settings, raw_frame(Command::syn, 1), hdr, ten);
      co_await write_all(raw, wire);
      co_await parked->ready->wait();
      std::vector<std::uint8_t> got(10);
      EXPECT_FALSE(co_await read_exact(*parked->stream, got));
      EXPECT_EQ(got, ten);
      raw.close();
      std::vector<std::uint8_t> more(16);
      auto [ec, n] = co_await parked->stream->read_some(asio::buffer(more));
      EXPECT_EQ(ec, asio::error::connection_aborted) << ec.message();
      EXPECT_EQ(n, 0u);
      parked->stream->close();
      break;
    }
    case Garbage::corrupt_tls_record: {
      co_await write_all(raw, settings);
      auto rec = fake_app_record();
      auto [ec, n] = co_await asio::async_write(raw.socket(), asio::buffer(rec),
                                                asio::experimental::as_tuple(asio::use_awaitable));
      EXPECT_FALSE(ec);
      (void)n;
      break;
    }
  }
  co_await closed.closed->wait();
  EXPECT_TRUE(victim->closed());
  EXPECT_FALSE(closed.reason->empty());
  if (kind == Garbage::corrupt_tls_record) {
    EXPECT_EQ(closed.reason->rfind("read: ", 0), 0u) << *closed.reason;
  }
  if (kind == Garbage::header_cut) {
    EXPECT_EQ(*closed.reason, "closed by peer");  // close_notify: a clean end
  }
  // The neighbour is untouched.
  EXPECT_FALSE(healthy.client->closed());
  EXPECT_FALSE(healthy.server->closed());
  co_await echo_check(healthy.client, 1 * kMiB, 6);
}

TEST(SessionRobustness, HugeFrameCutByCloseClosesThatSessionOnly) {
  asio::io_context io;
  run_test(io, malformed_server_body(Garbage::huge_frame_cut));
}

TEST(SessionRobustness, RandomBytesAfterPreambleCloseThatSessionOnly) {
  asio::io_context io;
  run_test(io, malformed_server_body(Garbage::random_bytes));
}

TEST(SessionRobustness, HeaderCutByCloseNotifyClosesThatSessionOnly) {
  asio::io_context io;
  run_test(io, malformed_server_body(Garbage::header_cut));
}

TEST(SessionRobustness, PayloadCutDeliversWhatArrivedThenAborts) {
  asio::io_context io;
  run_test(io, malformed_server_body(Garbage::psh_payload_cut));
}

TEST(SessionRobustness, CorruptTlsRecordClosesThatSessionOnly) {
  asio::io_context io;
  run_test(io, malformed_server_body(Garbage::corrupt_tls_record));
}

// Client side: a header cut by the server's close ends the client session;
// PSH/FIN for unknown streams and a SYN on the client are ignored.
asio::awaitable<void> malformed_client_body() {
  Closer closer;
  auto ex = co_await asio::this_coro::executor;
  auto over = co_await client_over_raw_tls(closer, client_options());
  auto& raw = *over.server;
  auto client = over.client;
  auto closed = watch_close(*client, ex);
  co_await read_preamble(raw);
  auto wire = cat(raw_frame(Command::push, 99, "stray"), raw_frame(Command::fin, 98), raw_frame(Command::syn, 5),
                  raw_frame(Command::synack, 97), raw_frame(Command::heart_request, 1));
  co_await write_all(raw, wire);
  FrameReader fr(raw);
  auto hr = co_await fr.next();
  CO_ASSERT_TRUE(hr.has_value());
  EXPECT_EQ(hr->cmd, Command::heart_response) << describe(*hr);
  EXPECT_FALSE(client->closed());
  EXPECT_EQ(client->stream_count(), 0u);
  auto cut = cut_header(9);
  co_await write_all(raw, cut);
  raw.close();
  co_await closed.closed->wait();
  // TCP FIN without close_notify. (OpenSSL 3 reports it as SSL_R_UNEXPECTED_EOF_WHILE_READING,
  // which TlsConn does not map to eof: see the report.)
  EXPECT_TRUE(*closed.reason == "closed by peer" || *closed.reason == "read: unexpected eof while reading")
      << *closed.reason;
  auto r = client->open_stream(ipv4_loopback_address(1));
  EXPECT_FALSE(r.ok());
}

CORO_TEST(SessionRobustness, ClientIgnoresStrayFramesAndClosesOnCutHeader, malformed_client_body())

}  // namespace

namespace {

// When the session dies after a successful SYNACK, the stream's reader gets
// connection_aborted ("a dead session gives asio::error::connection_aborted",
// stream.hpp), not the connection_refused of a SYNACK error.
asio::awaitable<void> session_death_after_synack_body() {
  Closer closer;
  auto ex = co_await asio::this_coro::executor;
  auto over = co_await client_over_raw_tls(closer, client_options());
  auto& raw = *over.server;
  auto client = over.client;
  auto closed = watch_close(*client, ex);
  co_await read_preamble(raw);
  auto r = client->open_stream(ipv4_loopback_address(1));
  CO_ASSERT_TRUE(r.ok());
  auto st = *r;
  FrameReader fr(raw);
  auto syn = co_await fr.until(Command::syn);
  CO_ASSERT_TRUE(syn.has_value());
  auto wire = cat(raw_frame(Command::server_settings, 0, "v=2"), raw_frame(Command::synack, 1),
                  raw_frame(Command::push, 1, "x"));
  co_await write_all(raw, wire);
  EXPECT_FALSE(co_await st->wait_synack());
  std::vector<std::uint8_t> one(1);
  EXPECT_FALSE(co_await read_exact(*st, one));
  raw.shutdown_write();
  co_await closed.closed->wait();
  auto [ec, n] = co_await st->read_some(asio::buffer(one));
  EXPECT_EQ(n, 0u);
  EXPECT_EQ(ec, asio::error::connection_aborted) << ec.message();
  EXPECT_EQ(st->failure(), "session closed: closed by peer");
  st->close();
}

CORO_TEST(SessionRobustness, StreamReadAfterSessionDeathIsConnectionAborted, session_death_after_synack_body())

}  // namespace
