// Client padding on the wire: with the default scheme and scripted random
// draws, the client session's TLS records have exactly the sizes the padding
// algorithm prescribes. Record sizes are observed on the server's SSL object
// through the message callback (TLS 1.3: ciphertext = plaintext + 1 content
// type byte + 16 tag bytes).
#include <gtest/gtest.h>

#include <asio/io_context.hpp>
#include <asio/this_coro.hpp>
#include <openssl/ssl.h>

#include "anytls/session.hpp"
#include "anytls/stream.hpp"
#include "support/frames.hpp"
#include "support/run.hpp"
#include "support/session_fixture.hpp"
#include "net/clock.hpp"

using namespace anytls;
using namespace anytls::test;
using proto::Command;
using proto::PaddingScheme;
using proto::Stream;

namespace {

// Plaintext sizes of the application-data records the server reads.
struct RecordLog {
  std::size_t last_header_len = 0;
  std::vector<std::size_t> app_records;
};

void on_msg(int write_p, int /*version*/, int content_type, const void* buf, std::size_t len, SSL* /*ssl*/,
            void* arg) {
  auto* log = static_cast<RecordLog*>(arg);
  if (write_p) return;
  const auto* b = static_cast<const unsigned char*>(buf);
  if (content_type == SSL3_RT_HEADER && len >= 5) {
    log->last_header_len = static_cast<std::size_t>(b[3]) << 8 | b[4];
  } else if (content_type == SSL3_RT_INNER_CONTENT_TYPE && len == 1 && b[0] == SSL3_RT_APPLICATION_DATA) {
    log->app_records.push_back(log->last_header_len - 17);
  }
}

std::string sizes(const std::vector<std::size_t>& v) {
  std::string s;
  for (auto n : v) s += std::to_string(n) + " ";
  return s;
}

// Writes n bytes on the client stream and reads them on the server stream.
asio::awaitable<void> send(std::shared_ptr<Stream> c, std::shared_ptr<Stream> s, std::size_t n) {
  std::vector<std::uint8_t> data(n, 0x42), got(n);
  EXPECT_FALSE(co_await c->write(asio::buffer(data)));
  EXPECT_FALSE(co_await read_exact(*s, got));
  EXPECT_EQ(got, data);
}

// A client session over TLS whose records the server end logs (plaintext
// sizes), and a server session that collects its streams (each told its
// dial succeeded). Remove the log with SSL_set_msg_callback(server_ssl,
// nullptr) before it goes.
struct LoggedPair {
  std::shared_ptr<proto::Session> client, server;
  std::shared_ptr<RecordLog> log;
  SSL* server_ssl = nullptr;
  std::shared_ptr<std::vector<std::shared_ptr<Stream>>> streams;
  std::shared_ptr<Counter> got_stream;
};

asio::awaitable<LoggedPair> make_logged_pair(proto::SessionOptions copts) {
  auto ex = co_await asio::this_coro::executor;
  auto tls = co_await make_tls_pair(shared_contexts());
  LoggedPair p;
  p.log = std::make_shared<RecordLog>();
  p.server_ssl = tls.server->native();
  SSL_set_msg_callback(p.server_ssl, on_msg);
  SSL_set_msg_callback_arg(p.server_ssl, p.log.get());
  p.client = co_await start_client_session(std::move(tls.client), std::move(copts));
  p.streams = std::make_shared<std::vector<std::shared_ptr<Stream>>>();
  p.got_stream = std::make_shared<Counter>(ex);
  auto handler = [streams = p.streams, got = p.got_stream](std::shared_ptr<Stream> s) {
    s->report_dial_result("");
    streams->push_back(std::move(s));
    got->add();
  };
  proto::Session::StreamHandler h = handler;
  p.server = co_await start_server_session(std::move(tls.server), server_options(), std::move(h));
  co_return p;
}

asio::awaitable<void> record_sizes_body() {
  Closer closer;
  // Draws in the order the algorithm makes them:
  // p1 (1=100-400): 250; p2 (2=400-500,c,500-1000,...): 450, 800;
  // p3 (3=9-9,500-1000): 600; p4..p7 (500-1000): 700, 701, 702, 703.
  ScriptedRandom rnd{250, 450, 800, 600, 700, 701, 702, 703};
  auto copts = client_options(rnd.fn());
  auto pair = co_await make_logged_pair(std::move(copts));
  closer.add(pair.client);
  closer.add(pair.server);

  // Packet 1: Settings(79) + SYN(7) + PSH(7+7) = 100 bytes, l = 250:
  // one record of 250 (a Waste frame of 250-100-7 = 143 bytes appended).
  auto r = pair.client->open_stream(ipv4_loopback_address(443));
  CO_ASSERT_TRUE(r.ok());
  auto st = *r;
  closer.add(st);
  co_await pair.got_stream->wait_for(1);
  auto srv = pair.streams->front();
  EXPECT_FALSE(co_await st->wait_synack());
  std::vector<std::uint8_t> addr(7);
  EXPECT_FALSE(co_await read_exact(*srv, addr));

  // Each write below becomes one packet: the next one is queued only after
  // the server has read this one's data (so the writer has flushed it).
  // Packet 2: PSH of 517 bytes (524) -> 450, then 800 (Waste 719), then `c`
  // with nothing left stops: records 450, 800 (the worked example).
  co_await send(st, srv, 517);
  // Packet 3: PSH of 13 bytes (20) -> 9, then 600 (Waste 582).
  co_await send(st, srv, 13);
  // Packets 4..7: PSH of 1 byte (8) -> one record of the drawn size.
  for (int i = 0; i < 4; ++i) co_await send(st, srv, 1);
  // Packet 8 = stop: unshaped, one record of 1007 bytes.
  co_await send(st, srv, 1000);
  // Packet 9: a FIN alone, 7 bytes.
  st->close();
  auto [rest, ec] = co_await read_to_end(*srv);
  EXPECT_TRUE(rest.empty());
  EXPECT_EQ(ec, asio::error::eof);

  const std::vector<std::size_t> want = {64, 250, 450, 800, 9, 600, 700, 701, 702, 703, 1007, 7};
  EXPECT_EQ(pair.log->app_records, want) << "got: " << sizes(pair.log->app_records);
  const std::vector<std::pair<std::uint32_t, std::uint32_t>> ranges = {
      {100, 400}, {400, 500}, {500, 1000}, {500, 1000}, {500, 1000}, {500, 1000}, {500, 1000}, {500, 1000}};
  EXPECT_EQ(rnd.state().calls, ranges);
  SSL_set_msg_callback(pair.server_ssl, nullptr);  // the log goes with this frame
}

CORO_TEST(SessionPadding, ClientRecordSizesFollowTheDefaultScheme, record_sizes_body())

// A stream whose first bytes are there when it opens (written right after
// open_stream(), before the session's writer has run: what the UoT client
// and any caller holding early data do) sends them in the SYN's packet: one
// TLS record with Settings, SYN, PSH(destination), PSH(data), in that order,
// padded as packet 1, and no second packet for the data.
ScriptedRandom first_packet_draws() { return ScriptedRandom{250, 450, 800}; }

asio::awaitable<void> syn_with_data_body() {
  Closer closer;
  auto rnd = first_packet_draws();
  auto copts = client_options(rnd.fn());
  auto pair = co_await make_logged_pair(std::move(copts));
  closer.add(pair.client);
  closer.add(pair.server);
  auto frames = std::make_shared<std::vector<Command>>();
  pair.server->set_frame_observer([frames](Command c) { frames->push_back(c); });

  auto r = pair.client->open_stream(ipv4_loopback_address(80));
  CO_ASSERT_TRUE(r.ok());
  auto st = *r;
  closer.add(st);
  const std::string request = "GET / HTTP/1.1\r\n\r\n";  // 18 bytes
  // (Results named before they are checked: no co_await inside an if,
  // GCC 12 rule 2.)
  const auto wec = co_await st->write(asio::buffer(request));
  EXPECT_FALSE(wec);
  co_await pair.got_stream->wait_for(1);
  auto srv = pair.streams->front();
  std::vector<std::uint8_t> got(7 + request.size());
  const auto rec = co_await read_exact(*srv, got);
  EXPECT_FALSE(rec);
  EXPECT_EQ(std::string(got.begin() + 7, got.end()), request);

  // The preamble (64), then Settings(79) + SYN(7) + PSH(7+7) + PSH(7+18) =
  // 125 bytes padded to the first draw: one record of 250.
  const std::vector<std::size_t> want = {64, 250};
  EXPECT_EQ(pair.log->app_records, want) << "got: " << sizes(pair.log->app_records);
  const std::vector<Command> order = {Command::settings, Command::syn, Command::push, Command::push, Command::waste};
  EXPECT_EQ(*frames, order);
  EXPECT_EQ(rnd.state().calls.size(), 1u) << "the data took a packet of its own";
  SSL_set_msg_callback(pair.server_ssl, nullptr);
}

CORO_TEST(SessionPadding, FirstDataWrittenWithTheOpenLeavesInTheSynRecord, syn_with_data_body())

// A pre-warmed session that has sent its Settings and many heartbeats:
// those control writes do not use up the scheme. The first stream's packets
// are shaped exactly as on a fresh session (session-pool.md, "Padding is for
// the first stream"), with the same draws, and every heartbeat is one
// 17-byte record (an HTTP/2 PING's size).
asio::awaitable<void> prewarmed_first_stream_body(net::VirtualClock* clock_ptr) {
  Closer closer;
  auto ex = co_await asio::this_coro::executor;
  auto& clock = *clock_ptr;
  ScriptedRandom rnd{250, 450, 800, 600, 700, 701, 702, 703};
  auto copts = client_options(rnd.fn());
  copts.clock = &clock;
  copts.heartbeat.interval = std::chrono::seconds(1);
  copts.heartbeat.first_delay = std::chrono::milliseconds(500);  // after Settings has left
  auto pair = co_await make_logged_pair(std::move(copts));
  closer.add(pair.client);
  closer.add(pair.server);
  auto beats = std::make_shared<Counter>(ex);
  pair.server->set_frame_observer([beats](Command c) {
    if (c == Command::heart_request) beats->add();
  });

  // Pre-warmed: Settings at once, then 9 heartbeats (each interval is
  // jittered by at most 10 %, so 1.1 s per step is always enough).
  pair.client->send_settings();
  co_await delay(std::chrono::milliseconds(50));  // Settings leaves on its own
  for (std::uint64_t i = 1; i <= 9; ++i) {
    clock.advance(std::chrono::milliseconds(1100));
    co_await beats->wait_for(i);
  }
  const std::size_t before = pair.log->app_records.size();
  EXPECT_TRUE(rnd.state().calls.empty()) << "control writes used padding draws";

  auto r = pair.client->open_stream(ipv4_loopback_address(443));
  CO_ASSERT_TRUE(r.ok());
  auto st = *r;
  closer.add(st);
  co_await pair.got_stream->wait_for(1);
  auto srv = pair.streams->front();
  EXPECT_FALSE(co_await st->wait_synack());
  std::vector<std::uint8_t> addr(7);
  EXPECT_FALSE(co_await read_exact(*srv, addr));
  co_await send(st, srv, 517);
  co_await send(st, srv, 13);
  for (int i = 0; i < 4; ++i) co_await send(st, srv, 1);
  co_await send(st, srv, 1000);

  // Before the stream: the preamble (64), Settings alone (79), 9 heartbeats.
  std::vector<std::size_t> control(pair.log->app_records.begin(), pair.log->app_records.begin() + before);
  std::vector<std::size_t> want_control = {64, 79};
  for (int i = 0; i < 9; ++i) want_control.push_back(proto::kHeartbeatRecordSize);
  EXPECT_EQ(control, want_control) << "got: " << sizes(control);
  // Packet 1 is SYN + PSH(address) = 21 bytes, padded to the first draw as
  // on a fresh session; then packets 2..7 as there, and 8 = stop unshaped.
  std::vector<std::size_t> stream(pair.log->app_records.begin() + before, pair.log->app_records.end());
  const std::vector<std::size_t> want = {250, 450, 800, 9, 600, 700, 701, 702, 703, 1007};
  EXPECT_EQ(stream, want) << "got: " << sizes(stream);
  const std::vector<std::pair<std::uint32_t, std::uint32_t>> ranges = {
      {100, 400}, {400, 500}, {500, 1000}, {500, 1000}, {500, 1000}, {500, 1000}, {500, 1000}, {500, 1000}};
  EXPECT_EQ(rnd.state().calls, ranges);
  SSL_set_msg_callback(pair.server_ssl, nullptr);
}

TEST(SessionPadding, PrewarmedSessionShapesFirstStreamAsFresh) {
  net::VirtualClock clock;  // outlives the sessions' timers
  asio::io_context io;
  run_test(io, prewarmed_first_stream_body(&clock));
}

}  // namespace
