// AnyTLS session control frames on real sockets and real TLS (loopback):
// SYNACK errors and the SYNACK watchdog, Settings / ServerSettings /
// UpdatePaddingScheme / Alert, heartbeats, unknown commands.
#include <gtest/gtest.h>

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/io_context.hpp>
#include <asio/this_coro.hpp>
#include <spdlog/sinks/ringbuffer_sink.h>
#include <spdlog/spdlog.h>

#include "anytls/session.hpp"
#include "anytls/settings.hpp"
#include "anytls/stream.hpp"
#include "support/frames.hpp"
#include "support/run.hpp"
#include "support/session_fixture.hpp"

using namespace anytls;
using namespace anytls::test;
using proto::Command;
using proto::PaddingScheme;
using proto::Session;
using proto::Stream;

namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

constexpr std::string_view kCustomScheme = "stop=4\n0=10-10\n1=200-200\n2=300-300\n3=150-150";


// Sets `flag` when the session handles a frame with command `cmd`.
struct FrameWatch {
  Command cmd;
  std::shared_ptr<Counter> seen;
  void operator()(Command c) const {
    if (c == cmd) seen->add();
  }
};

std::shared_ptr<Counter> watch_frames(Session& s, Command cmd, const asio::any_io_executor& ex) {
  auto c = std::make_shared<Counter>(ex);
  s.set_frame_observer(FrameWatch{cmd, c});
  return c;
}

// client_over_raw_tls, the raw server's preamble consumed.
asio::awaitable<RawServer> client_with_raw_server(Closer& closer, proto::SessionOptions opts) {
  auto r = co_await client_over_raw_tls(closer, std::move(opts));
  auto rest = co_await read_preamble(*r.server);
  CO_ASSERT_TRUE(rest.empty());
  co_return r;
}

// Pre-warms r.client (Settings out) and answers as a v2 server, `rtt`
// (virtual) after the Settings arrived. False if the client did not send
// Settings.
asio::awaitable<bool> answer_as_v2(RawServer& r, FrameReader& fr, net::VirtualClock& clock, milliseconds rtt) {
  r.client->send_settings();
  auto settings = co_await fr.until(Command::settings);
  if (!settings) co_return false;
  clock.advance(rtt);
  co_await write_all(*r.server, raw_frame(Command::server_settings, 0, "v=2"));
  co_await settle();
  co_return true;
}

// The client session lives until `bound` has passed (virtual time) and no
// longer: then it is closed for silence.
asio::awaitable<void> expect_dead_at(Session& client, net::VirtualClock& clock, milliseconds bound) {
  clock.advance(bound - milliseconds(1));
  co_await settle();
  EXPECT_FALSE(client.closed()) << "closed before " << bound.count() << "ms";
  clock.advance(milliseconds(1));
  co_await settle();
  EXPECT_TRUE(client.closed());
  EXPECT_TRUE(client.stats().liveness_failed);
}

// A server session (echo handler) with a raw TLS client that has sent its preamble.
struct RawClient {
  std::shared_ptr<Session> server;
  tls::TlsConn* client = nullptr;
};

asio::awaitable<RawClient> server_with_raw_client(Closer& closer, proto::SessionOptions opts) {
  auto tls = co_await make_tls_pair(shared_contexts());
  RawClient r;
  r.client = &closer.own(std::move(tls.client));
  co_await write_preamble(*r.client);
  r.server = co_await start_server_session(std::move(tls.server), std::move(opts), echo_handler);
  closer.add(r.server);
  co_return r;
}

std::vector<std::uint8_t> good_settings() {
  return raw_frame(Command::settings, 0,
                   proto::client_settings("raw-test/1", PaddingScheme::default_scheme().md5_hex));
}

// ---------------------------------------------------------------------------
// SYNACK with error text closes only that stream.

asio::awaitable<void> synack_error_body() {
  Closer closer;
  auto p = co_await make_session_pair(client_options(), server_options(), echo_handler);
  closer.add(p);
  // A stream opened before, one refused, one opened after: only the refused
  // one fails.
  auto before = p.client->open_stream(ipv4_loopback_address(kEchoPort));
  CO_ASSERT_TRUE(before.ok());
  EXPECT_FALSE(co_await (*before)->wait_synack());
  auto refused = p.client->open_stream(ipv4_loopback_address(kRefusePort));
  CO_ASSERT_TRUE(refused.ok());
  auto err = co_await (*refused)->wait_synack();
  CO_ASSERT_TRUE(err.has_value());
  EXPECT_EQ(err->text(), "remote: " + std::string(kRefuseText));
  EXPECT_EQ((*refused)->failure(), "remote: " + std::string(kRefuseText));
  std::vector<std::uint8_t> b(16);
  auto [rec, rn] = co_await (*refused)->read_some(asio::buffer(b));
  EXPECT_EQ(rec, asio::error::connection_refused) << rec.message();
  EXPECT_TRUE(co_await (*refused)->write(asio::buffer(b)));
  (*refused)->close();

  auto after = p.client->open_stream(ipv4_loopback_address(kEchoPort));
  CO_ASSERT_TRUE(after.ok());
  EXPECT_FALSE(co_await (*after)->wait_synack());
  std::vector<std::shared_ptr<Stream>> both{*before, *after};
  for (auto& st : both) {
    std::string msg = "still alive on stream " + std::to_string(st->id());
    EXPECT_FALSE(co_await st->write(asio::buffer(msg)));
    std::vector<std::uint8_t> got(msg.size());
    EXPECT_FALSE(co_await read_exact(*st, got));
    EXPECT_EQ(std::string(got.begin(), got.end()), msg);
    st->close();
  }
  EXPECT_FALSE(p.client->closed());
  EXPECT_FALSE(p.server->closed());
}

CORO_TEST(SessionControl, SynackErrorClosesOnlyThatStream, synack_error_body())

// The client answers a SYNACK error with a FIN for that stream (raw server view).
asio::awaitable<void> synack_error_fin_body() {
  Closer closer;
  auto ex = co_await asio::this_coro::executor;
  auto r = co_await client_with_raw_server(closer, client_options());
  auto st = r.client->open_stream(ipv4_loopback_address(1));
  CO_ASSERT_TRUE(st.ok());
  FrameReader fr(*r.server);
  auto syn = co_await fr.until(Command::syn);
  CO_ASSERT_TRUE(syn.has_value());
  auto wire = cat(raw_frame(Command::server_settings, 0, "v=2"), raw_frame(Command::synack, 1, "no route"));
  co_await write_all(*r.server, wire);
  auto err = co_await (*st)->wait_synack();
  CO_ASSERT_TRUE(err.has_value());
  EXPECT_EQ(err->text(), "remote: no route");
  auto fin = co_await fr.until(Command::fin);
  CO_ASSERT_TRUE(fin.has_value());
  EXPECT_EQ(fin->sid, 1u);
  EXPECT_TRUE(fin->data.empty());
  (*st)->close();  // no second FIN
  auto hb = r.client->open_stream(ipv4_loopback_address(2));
  CO_ASSERT_TRUE(hb.ok());
  std::vector<RawFrame> skipped;
  auto syn2 = co_await fr.until(Command::syn, &skipped);
  CO_ASSERT_TRUE(syn2.has_value());
  EXPECT_EQ(syn2->sid, 2u);
  for (auto& f : skipped) EXPECT_NE(f.cmd, Command::fin) << describe(f);
  (void)ex;
}

CORO_TEST(SessionControl, SynackErrorIsAnsweredWithFin, synack_error_fin_body())

// ---------------------------------------------------------------------------
// SYNACK watchdog: a session whose peer is known to be v2 dies when a SYNACK
// does not come in time.

// On virtual time: the session is closed exactly when the timeout has
// passed, not a millisecond earlier.
asio::awaitable<void> synack_timeout_body(net::VirtualClock* clock_ptr, milliseconds timeout, bool set_option) {
  Closer closer;
  auto ex = co_await asio::this_coro::executor;
  auto& clock = *clock_ptr;
  auto opts = client_options();
  opts.clock = &clock;
  if (set_option) opts.synack_timeout = timeout;
  auto r = co_await client_with_raw_server(closer, opts);
  auto closed = watch_close(*r.client, ex);
  auto ss = watch_frames(*r.client, Command::server_settings, ex);
  // A pre-warmed session: Settings out, ServerSettings v=2 back.
  r.client->send_settings();
  FrameReader fr(*r.server);
  auto settings = co_await fr.until(Command::settings);
  CO_ASSERT_TRUE(settings.has_value());
  co_await write_all(*r.server, raw_frame(Command::server_settings, 0, "v=2"));
  co_await ss->wait_for(1);
  EXPECT_EQ(r.client->peer_version(), 2);

  auto st = r.client->open_stream(ipv4_loopback_address(80));
  CO_ASSERT_TRUE(st.ok());
  auto syn = co_await fr.until(Command::syn);  // ...and never answer it
  CO_ASSERT_TRUE(syn.has_value());
  clock.advance(timeout - milliseconds(1));
  co_await settle();
  EXPECT_FALSE(r.client->closed()) << "closed before the timeout";
  clock.advance(milliseconds(1));
  auto err = co_await (*st)->wait_synack();
  co_await closed.closed->wait();
  EXPECT_EQ(*closed.reason, "synack timeout");
  EXPECT_TRUE(r.client->closed());
  CO_ASSERT_TRUE(err.has_value());
  EXPECT_EQ(err->text(), "session closed: synack timeout");
  // The raw side sees the connection end (after the PSH that followed the SYN).
  int frames = 0;
  while (co_await fr.next()) ++frames;
  EXPECT_LE(frames, 1);
}

TEST(SessionControl, SynackTimeoutKillsSession300ms) {
  net::VirtualClock clock;  // outlives the session's timers
  asio::io_context io;
  run_test(io, synack_timeout_body(&clock, milliseconds(300), true));
}

TEST(SessionControl, SynackTimeoutKillsSessionDefault3s) {
  net::VirtualClock clock;
  asio::io_context io;
  run_test(io, synack_timeout_body(&clock, milliseconds(3000), false));
}

// Stream 1 of a fresh session (peer version not known yet) is not watched.
asio::awaitable<void> fresh_stream_not_watched_body(net::VirtualClock* clock_ptr) {
  Closer closer;
  auto& clock = *clock_ptr;
  auto opts = client_options();
  opts.clock = &clock;
  opts.synack_timeout = milliseconds(100);
  auto r = co_await client_with_raw_server(closer, opts);
  auto st = r.client->open_stream(ipv4_loopback_address(80));
  CO_ASSERT_TRUE(st.ok());
  FrameReader fr(*r.server);
  auto syn = co_await fr.until(Command::syn);
  CO_ASSERT_TRUE(syn.has_value());
  co_await write_all(*r.server, raw_frame(Command::server_settings, 0, "v=2"));
  // Until the server has said something the session is watched for silence
  // (below); once it has, nothing is armed.
  co_await settle();
  EXPECT_EQ(clock.armed(), 0u) << "a watchdog was armed";
  clock.advance(std::chrono::hours(1));
  co_await settle();
  EXPECT_FALSE(r.client->closed());
  // A late SYNACK is still accepted.
  co_await write_all(*r.server, raw_frame(Command::synack, 1));
  EXPECT_FALSE(co_await (*st)->wait_synack());
  EXPECT_EQ(r.client->peer_version(), 2);
}

CLOCK_TEST(SessionControl, FirstStreamOfFreshSessionIsNotWatched, fresh_stream_not_watched_body)

// A server that completes TLS and then says nothing at all: a stream on it
// ends the session after synack_timeout (not a moment before), whatever the
// peer version, and the stream sees why.
asio::awaitable<void> silent_server_body(net::VirtualClock* clock_ptr) {
  Closer closer;
  auto& clock = *clock_ptr;
  auto opts = client_options();
  opts.clock = &clock;
  opts.synack_timeout = milliseconds(300);
  auto r = co_await client_with_raw_server(closer, opts);
  auto st = r.client->open_stream(ipv4_loopback_address(80));
  CO_ASSERT_TRUE(st.ok());
  FrameReader fr(*r.server);
  auto syn = co_await fr.until(Command::syn);
  CO_ASSERT_TRUE(syn.has_value());
  co_await expect_dead_at(*r.client, clock, milliseconds(300));
  EXPECT_NE((*st)->failure().find("no frame from the server within 300ms"), std::string::npos) << (*st)->failure();
}

CLOCK_TEST(SessionControl, SilentServerEndsTheSessionAtTheBound, silent_server_body)

// A probe (expect_frame_within with a HeartRequest) on a v2 session: the
// answer clears it; silence past the bound closes the session.
asio::awaitable<void> probe_body(net::VirtualClock* clock_ptr) {
  Closer closer;
  auto& clock = *clock_ptr;
  auto opts = client_options();
  opts.clock = &clock;
  auto r = co_await client_with_raw_server(closer, opts);
  FrameReader fr(*r.server);
  const bool v2 = co_await answer_as_v2(r, fr, clock, milliseconds(4));
  CO_ASSERT_TRUE(v2);
  CO_ASSERT_TRUE(r.client->peer_version() == 2);
  // Settings -> ServerSettings measured the round trip.
  CO_ASSERT_TRUE(r.client->rtt().has_value());
  EXPECT_EQ(*r.client->rtt(), milliseconds(4));

  r.client->expect_frame_within(milliseconds(50), true);
  auto probe1 = co_await fr.until(Command::heart_request);
  CO_ASSERT_TRUE(probe1.has_value());
  clock.advance(milliseconds(2));
  co_await write_all(*r.server, raw_frame(Command::heart_response, 0));
  co_await settle();
  clock.advance(milliseconds(100));
  co_await settle();
  EXPECT_FALSE(r.client->closed()) << "answered in time";
  EXPECT_EQ(clock.armed(), 0u);

  r.client->expect_frame_within(milliseconds(50), true);
  auto probe2 = co_await fr.until(Command::heart_request);
  CO_ASSERT_TRUE(probe2.has_value());
  co_await expect_dead_at(*r.client, clock, milliseconds(50));
}

CLOCK_TEST(SessionControl, ProbeAnsweredOrSessionDead, probe_body)

// Every deadline of a session (heartbeat, write stall, SYNACK, silence) is
// kept on one timer: a nearer deadline set later wakes the watchdog, which
// re-arms for it, and a met deadline (the SYNACK came) closes nothing.
asio::awaitable<void> one_timer_body(net::VirtualClock* clock_ptr) {
  Closer closer;
  auto& clock = *clock_ptr;
  auto opts = client_options();
  opts.clock = &clock;
  opts.synack_timeout = milliseconds(300);
  opts.heartbeat.interval = std::chrono::seconds(10);
  opts.heartbeat.first_delay = std::chrono::seconds(10);
  opts.write_stall_timeout = std::chrono::seconds(5);
  auto r = co_await client_with_raw_server(closer, opts);
  FrameReader fr(*r.server);
  const bool v2 = co_await answer_as_v2(r, fr, clock, milliseconds(0));
  CO_ASSERT_TRUE(v2);
  CO_ASSERT_TRUE(r.client->peer_version() == 2);
  EXPECT_EQ(clock.armed(), 1u) << "heartbeat and write stall share the watchdog's timer";

  auto st = r.client->open_stream(ipv4_loopback_address(80));
  CO_ASSERT_TRUE(st.ok());
  auto syn = co_await fr.until(Command::syn);
  CO_ASSERT_TRUE(syn.has_value());
  co_await settle();
  EXPECT_EQ(clock.armed(), 1u);
  EXPECT_EQ(clock.next_deadline(), clock.now() + milliseconds(300)) << "the SYNACK deadline is the nearest";
  co_await write_all(*r.server, raw_frame(Command::synack, syn->sid, ""));
  co_await settle();
  clock.advance(milliseconds(300));
  co_await settle();
  EXPECT_FALSE(r.client->closed()) << "the SYNACK came in time";

  r.client->expect_frame_within(milliseconds(50), false);
  co_await settle();
  EXPECT_EQ(clock.armed(), 1u);
  EXPECT_EQ(clock.next_deadline(), clock.now() + milliseconds(50));
  co_await expect_dead_at(*r.client, clock, milliseconds(50));
}

CLOCK_TEST(SessionControl, AllDeadlinesShareOneTimer, one_timer_body)

// ---------------------------------------------------------------------------
// A SYN before Settings: Alert, then the connection closes.

asio::awaitable<void> syn_before_settings_body() {
  Closer closer;
  auto ex = co_await asio::this_coro::executor;
  auto r = co_await server_with_raw_client(closer, server_options());
  auto closed = watch_close(*r.server, ex);
  co_await write_all(*r.client, raw_frame(Command::syn, 1));
  FrameReader fr(*r.client);
  auto alert = co_await fr.next();
  CO_ASSERT_TRUE(alert.has_value());
  EXPECT_EQ(alert->cmd, Command::alert) << describe(*alert);
  EXPECT_EQ(alert->sid, 0u);
  EXPECT_EQ(alert->text(), "client did not send its settings");
  auto end = co_await fr.next();
  EXPECT_FALSE(end.has_value()) << describe(*end);
  co_await closed.closed->wait();
  EXPECT_EQ(*closed.reason, "client did not send its settings");
}

CORO_TEST(SessionControl, SynBeforeSettingsGetsAlertAndClose, syn_before_settings_body())

// The client closes its session on an Alert.
asio::awaitable<void> client_alert_body() {
  Closer closer;
  auto ex = co_await asio::this_coro::executor;
  auto r = co_await client_with_raw_server(closer, client_options());
  auto closed = watch_close(*r.client, ex);
  co_await write_all(*r.server, raw_frame(Command::alert, 0, "go away"));
  co_await closed.closed->wait();
  EXPECT_EQ(*closed.reason, "alert: go away");
}

CORO_TEST(SessionControl, ClientClosesOnAlert, client_alert_body())

// ---------------------------------------------------------------------------
// Settings handling on the server.

struct SettingsCase {
  std::string settings;          // the client's Settings text
  bool expect_update;            // UpdatePaddingScheme expected
  bool expect_server_settings;   // ServerSettings v=2 expected
};

asio::awaitable<void> settings_body(SettingsCase c, std::shared_ptr<proto::PaddingState> server_padding) {
  Closer closer;
  auto sopts = server_options(server_padding);
  auto r = co_await server_with_raw_client(closer, std::move(sopts));
  // The HeartResponse marks the end of everything the server answered to
  // the Settings (frames leave in order).
  auto wire = cat(raw_frame(Command::settings, 0, c.settings), raw_frame(Command::heart_request, 0));
  co_await write_all(*r.client, wire);
  FrameReader fr(*r.client);
  std::vector<RawFrame> before;
  auto hr = co_await fr.until(Command::heart_response, &before);
  CO_ASSERT_TRUE(hr.has_value());
  std::size_t i = 0;
  if (c.expect_update) {
    CO_ASSERT_TRUE(i < before.size());
    EXPECT_EQ(before[i].cmd, Command::update_padding_scheme) << describe(before[i]);
    EXPECT_EQ(before[i].sid, 0u);
    EXPECT_EQ(before[i].text(), server_padding->get()->text);
    ++i;
  }
  if (c.expect_server_settings) {
    CO_ASSERT_TRUE(i < before.size());
    EXPECT_EQ(before[i].cmd, Command::server_settings) << describe(before[i]);
    EXPECT_EQ(before[i].sid, 0u);
    EXPECT_EQ(before[i].text(), "v=2");
    ++i;
  }
  EXPECT_EQ(before.size(), i) << "unexpected extra frames";
  if (c.expect_server_settings) {
    EXPECT_GE(r.server->peer_version(), 2);
  }
}

TEST(SessionControl, SettingsWithWrongMd5GetsUpdateAndServerSettings) {
  asio::io_context io;
  run_test(io, settings_body({"v=2\nclient=x/1\npadding-md5=00000000000000000000000000000000", true, true},
                             default_padding()));
}

TEST(SessionControl, SettingsWithoutMd5AndV1GetsUpdateOnly) {
  asio::io_context io;
  run_test(io, settings_body({"client=x/1", true, false}, default_padding()));
}

TEST(SessionControl, SettingsWithMatchingMd5GetsServerSettingsOnly) {
  asio::io_context io;
  auto md5 = PaddingScheme::default_scheme().md5_hex;
  run_test(io, settings_body({"padding-md5=" + md5 + "\nv=2", false, true}, default_padding()));
}

TEST(SessionControl, ServerSendsItsOwnCustomScheme) {
  asio::io_context io;
  auto custom = std::make_shared<proto::PaddingState>(
      std::make_shared<const PaddingScheme>(*PaddingScheme::parse(kCustomScheme)));
  auto md5 = PaddingScheme::default_scheme().md5_hex;  // the client has the default
  run_test(io, settings_body({"v=3\npadding-md5=" + md5, true, true}, custom));
}

// ---------------------------------------------------------------------------
// The client applies UpdatePaddingScheme to its outbound's PaddingState
// (later sessions announce the new md5); an invalid scheme is ignored.

asio::awaitable<void> client_update_body() {
  Closer closer;
  auto ex = co_await asio::this_coro::executor;
  auto padding = default_padding();
  auto copts = client_options({}, padding);
  auto r = co_await client_with_raw_server(closer, std::move(copts));
  auto hr = watch_frames(*r.client, Command::heart_request, ex);
  // Invalid first (no stop=): ignored.
  auto wire = cat(raw_frame(Command::update_padding_scheme, 0, "1=100-200"), raw_frame(Command::heart_request, 0));
  co_await write_all(*r.server, wire);
  co_await hr->wait_for(1);
  EXPECT_EQ(padding->get()->md5_hex, PaddingScheme::default_scheme().md5_hex);
  // A valid one replaces the outbound's scheme.
  wire = cat(raw_frame(Command::update_padding_scheme, 0, kCustomScheme), raw_frame(Command::heart_request, 0));
  co_await write_all(*r.server, wire);
  co_await hr->wait_for(2);
  EXPECT_EQ(padding->get()->text, kCustomScheme);
  EXPECT_EQ(padding->get()->md5_hex, proto::md5_hex(kCustomScheme));
  EXPECT_FALSE(r.client->closed());

  // A new session of the same outbound announces the new md5, and its
  // preamble uses the new line 0 (10 bytes).
  auto tls = co_await make_tls_pair(shared_contexts());
  auto& server2 = closer.own(std::move(tls.server));
  auto copts2 = client_options({}, padding);
  auto client2 = co_await start_client_session(std::move(tls.client), std::move(copts2));
  closer.add(client2);
  std::vector<std::uint8_t> pre(34 + 10);
  EXPECT_FALSE(co_await read_exact(server2, pre));
  EXPECT_EQ(pre[32], 0);
  EXPECT_EQ(pre[33], 10);
  client2->send_settings();
  FrameReader fr(server2);
  auto s = co_await fr.until(Command::settings);
  CO_ASSERT_TRUE(s.has_value());
  auto kv = proto::parse_settings(s->text());
  EXPECT_EQ(kv["padding-md5"], proto::md5_hex(kCustomScheme));
  EXPECT_EQ(kv["v"], "2");
}

CORO_TEST(SessionControl, ClientAppliesUpdatePaddingScheme, client_update_body())

// ---------------------------------------------------------------------------
// Heartbeats: a HeartRequest gets a HeartResponse with the same sid, both roles.

asio::awaitable<void> heart_server_body() {
  Closer closer;
  auto r = co_await server_with_raw_client(closer, server_options());
  auto wire = cat(good_settings(), raw_frame(Command::heart_request, 0), raw_frame(Command::heart_request, 9),
                  raw_frame(Command::heart_request, 0xfffffffe));
  co_await write_all(*r.client, wire);
  FrameReader fr(*r.client);
  std::vector<std::uint32_t> sids{0u, 9u, 0xfffffffeu};
  for (std::uint32_t sid : sids) {
    auto f = co_await fr.until(Command::heart_response);
    CO_ASSERT_TRUE(f.has_value());
    EXPECT_EQ(f->sid, sid);
    EXPECT_TRUE(f->data.empty());
  }
}

CORO_TEST(SessionControl, ServerAnswersHeartRequestWithSameSid, heart_server_body())

// A client that goes silent (frozen, or gone without a FIN) is closed by the
// server after idle_timeout without any frame; every frame restarts it.
asio::awaitable<void> server_idle_body(net::VirtualClock* clock) {
  Closer closer;
  auto ex = co_await asio::this_coro::executor;
  auto opts = server_options();
  opts.clock = clock;
  opts.idle_timeout = std::chrono::seconds(60);
  auto r = co_await server_with_raw_client(closer, std::move(opts));
  auto closed = watch_close(*r.server, ex);
  auto hb = watch_frames(*r.server, Command::heart_request, ex);
  auto settings = good_settings();
  co_await write_all(*r.client, settings);
  clock->advance(std::chrono::seconds(59));
  co_await settle();
  EXPECT_FALSE(r.server->closed());
  auto beat = raw_frame(Command::heart_request, 0);
  co_await write_all(*r.client, beat);
  co_await hb->wait_for(1);
  clock->advance(std::chrono::seconds(59));  // 118 s in, 59 s after the last frame
  co_await settle();
  EXPECT_FALSE(r.server->closed()) << "a heartbeat did not count as a frame";
  clock->advance(std::chrono::seconds(1));
  co_await closed.closed->wait();
  EXPECT_EQ(*closed.reason, "idle timeout");
}

CLOCK_TEST(SessionControl, ServerClosesSilentClientAfterIdleTimeout, server_idle_body)

// A client that floods refused SYNs costs one warning line, not one per SYN.
std::vector<std::uint8_t> syn_flood(std::uint32_t n) {
  std::vector<std::uint8_t> wire = good_settings();
  for (std::uint32_t sid = 1; sid <= n; ++sid) {
    auto f = raw_frame(Command::syn, sid);
    wire.insert(wire.end(), f.begin(), f.end());
  }
  auto marker = raw_frame(Command::heart_request, 77);
  wire.insert(wire.end(), marker.begin(), marker.end());
  return wire;
}

asio::awaitable<void> refused_flood_body(spdlog::sinks::ringbuffer_sink_mt* sink) {
  Closer closer;
  auto opts = server_options();
  opts.max_streams = 1;
  auto r = co_await server_with_raw_client(closer, std::move(opts));
  auto wire = syn_flood(2000);
  co_await write_all(*r.client, wire);
  FrameReader fr(*r.client);
  std::size_t refused = 0;
  for (;;) {
    auto f = co_await fr.next();
    CO_ASSERT_TRUE(f.has_value());
    if (f->cmd == Command::synack && !f->data.empty()) ++refused;
    if (f->cmd == Command::heart_response && f->sid == 77) break;
  }
  EXPECT_EQ(refused, 1999u);
  std::size_t lines = 0;
  for (const auto& line : sink->last_formatted())
    if (line.find("too many streams") != std::string::npos) ++lines;
  EXPECT_EQ(lines, 1u);
}

TEST(SessionControl, RefusedSynFloodIsLoggedOnce) {
  auto sink = std::make_shared<spdlog::sinks::ringbuffer_sink_mt>(4096);
  auto previous = spdlog::default_logger();
  spdlog::set_default_logger(std::make_shared<spdlog::logger>("test", sink));
  {
    asio::io_context io;
    run_test(io, refused_flood_body(sink.get()));
  }
  spdlog::set_default_logger(previous);
}

asio::awaitable<void> heart_client_body() {
  Closer closer;
  auto r = co_await client_with_raw_server(closer, client_options());
  auto wire = cat(raw_frame(Command::heart_request, 0), raw_frame(Command::heart_request, 5));
  co_await write_all(*r.server, wire);
  FrameReader fr(*r.server);  // Waste (padding) frames are skipped
  std::vector<std::uint32_t> sids{0u, 5u};
  for (std::uint32_t sid : sids) {
    auto f = co_await fr.next();
    CO_ASSERT_TRUE(f.has_value());
    EXPECT_EQ(f->cmd, Command::heart_response) << describe(*f);
    EXPECT_EQ(f->sid, sid);
    EXPECT_TRUE(f->data.empty());
  }
  // The session's own request, for completeness.
  r.client->send_heart_request();
  auto f = co_await fr.next();
  CO_ASSERT_TRUE(f.has_value());
  EXPECT_EQ(f->cmd, Command::heart_request) << describe(*f);
  EXPECT_EQ(f->sid, 0u);
}

CORO_TEST(SessionControl, ClientAnswersHeartRequestWithSameSid, heart_client_body())

// ---------------------------------------------------------------------------
// Unknown commands are skipped; the session keeps working.

asio::awaitable<void> unknown_server_body() {
  Closer closer;
  auto r = co_await server_with_raw_client(closer, server_options());
  std::vector<std::uint8_t> ten(10, 0xab), big(65535, 0x5c);
  auto wire = cat(good_settings(), raw_frame(42, 0, ten), raw_frame(11, 3, {}), raw_frame(255, 1, big),
                  raw_frame(Command::syn, 1), raw_frame(Command::push, 1, ipv4_loopback_address(kEchoPort)),
                  raw_frame(42, 1, ten), raw_frame(Command::push, 1, "ping"));
  co_await write_all(*r.client, wire);
  FrameReader fr(*r.client);
  auto synack = co_await fr.until(Command::synack);
  CO_ASSERT_TRUE(synack.has_value());
  EXPECT_EQ(synack->sid, 1u);
  EXPECT_TRUE(synack->data.empty());
  auto echo = co_await fr.until(Command::push);
  CO_ASSERT_TRUE(echo.has_value());
  EXPECT_EQ(echo->sid, 1u);
  EXPECT_EQ(echo->text(), "ping");
  EXPECT_FALSE(r.server->closed());
}

CORO_TEST(SessionControl, ServerSkipsUnknownCommands, unknown_server_body())

asio::awaitable<void> unknown_client_body() {
  Closer closer;
  auto r = co_await client_with_raw_server(closer, client_options());
  std::vector<std::uint8_t> ten(10, 0xab);
  auto wire = cat(raw_frame(42, 0, ten), raw_frame(200, 7, ten), raw_frame(Command::heart_request, 3));
  co_await write_all(*r.server, wire);
  FrameReader fr(*r.server);
  auto f = co_await fr.next();
  CO_ASSERT_TRUE(f.has_value());
  EXPECT_EQ(f->cmd, Command::heart_response) << describe(*f);
  EXPECT_EQ(f->sid, 3u);
  EXPECT_FALSE(r.client->closed());
}

CORO_TEST(SessionControl, ClientSkipsUnknownCommands, unknown_client_body())

}  // namespace
