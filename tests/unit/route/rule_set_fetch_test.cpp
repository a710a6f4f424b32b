// Remote rule-set downloads against servers that misbehave, on loopback: a
// server that holds the connection after the body, one that never answers,
// one that sends more than its Content-Length; and the updater's schedule:
// failed or refused downloads keep the set it has, a later good one
// replaces it. Time is a VirtualClock where a deadline is the point.
#include <unistd.h>

#include <filesystem>
#include <functional>

#include <asio/experimental/awaitable_operators.hpp>
#include <gtest/gtest.h>

#include "config/load.hpp"
#include "route/rule_set_fetch.hpp"
#include "support/run.hpp"
#include "unit/inbound/loopback.hpp"
#include "unit/route/tag_outbound.hpp"

namespace anytls::route {
namespace {

using namespace anytls::test;
using namespace asio::experimental::awaitable_operators;

// ---- a scripted HTTP server ---------------------------------------------------

// What connection i gets: its request head is read, `bytes` written, and
// then the server half-closes (close) or holds the connection open until the
// client goes (!close). Empty bytes and !close: a server that never answers.
struct Reply {
  std::string bytes;
  bool close = true;
};

// One script at a time (a test runs one io_context on one thread).
struct Script {
  std::vector<Reply> replies;  // connection i: replies[min(i, size - 1)]
  std::size_t requests = 0;
};
Script g_script;

asio::awaitable<void> scripted_session(std::shared_ptr<ServerState> st, tcp::socket s) {
  Track t(st, &s);
  std::string in;
  std::array<char, 4096> buf;
  while (in.find("\r\n\r\n") == std::string::npos) {
    auto [ec, n] = co_await s.async_read_some(asio::buffer(buf), use_tuple);
    if (ec) co_return;
    in.append(buf.data(), n);
  }
  const Reply reply = g_script.replies.at(std::min(g_script.requests, g_script.replies.size() - 1));
  ++g_script.requests;
  if (!reply.bytes.empty()) {
    auto [wec, wn] = co_await asio::async_write(s, asio::buffer(reply.bytes), use_tuple);
    if (wec) co_return;
  }
  std::error_code ig;
  if (reply.close) s.shutdown(tcp::socket::shutdown_send, ig);
  while (true) {  // until the client closes (or stop())
    auto [ec, n] = co_await s.async_read_some(asio::buffer(buf), use_tuple);
    if (ec) break;
  }
}

std::shared_ptr<ServerState> start_script(asio::io_context& io, std::vector<Reply> replies) {
  g_script = Script{std::move(replies), 0};
  return start_server(io, scripted_session);
}

std::string url(const std::shared_ptr<ServerState>& st, const std::string& path = "/set.json") {
  return "http://127.0.0.1:" + std::to_string(st->acceptor.local_endpoint().port()) + path;
}

std::string ok_head(std::size_t length) {
  return "HTTP/1.1 200 OK\r\nContent-Length: " + std::to_string(length) + "\r\n\r\n";
}

// ---- http_get --------------------------------------------------------------------

struct Got {
  bool done = false;
  std::string body;
  std::string error;
};

asio::awaitable<void> get(TagOutbound& via, std::string target, std::size_t max_bytes, FetchLimits limits, Got& out) {
  auto r = co_await http_get(via, std::move(target), max_bytes, limits);
  out.done = true;
  if (r) out.body = *r;
  else out.error = r.error().text();
}

// One GET on the real clock with a 60 s deadline, far beyond the runner's 30 s guard.
Got get_once(std::vector<Reply> replies, std::size_t max_bytes = 1 << 20) {
  asio::io_context io;
  auto st = start_script(io, std::move(replies));
  TagOutbound dl("dl");
  Got got;
  run(io, get(dl, url(st), max_bytes, FetchLimits{}, got), [&] { st->stop(); });
  EXPECT_TRUE(got.done);
  return got;
}

TEST(RuleSetFetch, BodyThenTheConnectionHeld) {
  // Content-Length bytes are the whole response, whatever the server does next.
  auto got = get_once({{ok_head(5) + "hello", false}});
  EXPECT_EQ(got.error, "");
  EXPECT_EQ(got.body, "hello");
}

TEST(RuleSetFetch, ChunkedThenTheConnectionHeld) {
  auto got = get_once({{"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2;x=y\r\nde\r\n0\r\n\r\n", false}});
  EXPECT_EQ(got.error, "");
  EXPECT_EQ(got.body, "abcde");
}

TEST(RuleSetFetch, NothingPastContentLengthIsRead) {
  // 3 bytes of body, then 256 KiB the response does not own: over the
  // 1 KiB cap if it were read.
  auto got = get_once({{ok_head(3) + "abc" + std::string(256 * 1024, 'X'), true}}, 1024);
  EXPECT_EQ(got.error, "");
  EXPECT_EQ(got.body, "abc");
}

TEST(RuleSetFetch, ShortBodiesAndOversizeAreErrors) {
  auto got = get_once({{ok_head(10) + "abc", true}});
  EXPECT_NE(got.error.find(": body shorter than its Content-Length"), std::string::npos) << got.error;
  got = get_once({{ok_head(5000) + "abc", false}}, 1024);
  EXPECT_NE(got.error.find(": response over 1024 bytes (Content-Length 5000)"), std::string::npos) << got.error;
  got = get_once({{"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n", true}});
  EXPECT_NE(got.error.find(": bad chunked body (closed before the last chunk)"), std::string::npos) << got.error;
  got = get_once({{"HTTP/1.1 200 OK\r\n\r\nuntil the close", true}});
  EXPECT_EQ(got.body, "until the close");
}

// Waits (in real time, bounded by the runner) until `clock` has one timer,
// due in d: the code under test is asleep for d.
asio::awaitable<void> until_sleeping(net::VirtualClock& clock, net::Clock::duration d) {
  std::function<bool()> asleep = [&clock, d] { return clock.armed() == 1 && clock.next_deadline() - clock.now() == d; };
  co_await until(asleep);
}

asio::awaitable<void> until_requests(std::size_t n) {
  std::function<bool()> reached = [n] { return g_script.requests == n; };
  co_await until(reached);
}

asio::awaitable<void> expire_at_60s(net::VirtualClock& clock, const Got& got) {
  co_await until_requests(1);
  co_await until_sleeping(clock, std::chrono::seconds(60));
  clock.advance(std::chrono::seconds(59));
  co_await settle();
  EXPECT_FALSE(got.done);  // still waiting at 59 s
  clock.advance(std::chrono::seconds(1));
}

asio::awaitable<void> never_answered(std::shared_ptr<ServerState> st, net::VirtualClock& clock, TagOutbound& dl) {
  Got got;
  auto getting = get(dl, url(st), 1 << 20, FetchLimits{std::chrono::seconds(60), &clock}, got);
  auto driving = expire_at_60s(clock, got);
  co_await (std::move(getting) && std::move(driving));
  EXPECT_TRUE(got.done);
  EXPECT_EQ(got.error, "GET " + url(st) + ": no complete response within 60 s");
}

TEST(RuleSetFetch, ServerThatNeverAnswersMeetsTheDeadline) {
  asio::io_context io;
  net::VirtualClock clock;
  auto st = start_script(io, {{"", false}});
  TagOutbound dl("dl");
  run(io, never_answered(st, clock, dl), [&] { st->stop(); });
}

// ---- the updater -----------------------------------------------------------------

std::string source_set(const std::string& suffix) {
  return R"({"version": 2, "rules": [{"domain_suffix": [")" + suffix + R"("]}]})";
}

std::string response(const std::string& body) { return ok_head(body.size()) + body; }

bool matches(const RuleSet& set, const std::string& host) {
  outbound::Metadata m;
  m.destination = net::Address{host, 443};
  return set.match(m, false);
}

asio::awaitable<void> until_matches(const RuleSet& set, std::string host) {
  std::function<bool()> ready = [&set, host] { return matches(set, host); };
  co_await until(ready);
}

asio::awaitable<void> updates(RuleSetUpdater& updater, const RuleSet& set, net::VirtualClock& clock) {
  using std::chrono::hours;
  using std::chrono::minutes;
  using std::chrono::seconds;
  updater.start();
  // 1: the first download, at once; then it sleeps for update_interval.
  co_await until_matches(set, "www.a.example");
  co_await until_sleeping(clock, hours(1));
  // 2: a set over its 64 KiB bound, refused: a.example stays, for another hour.
  clock.advance(hours(1));
  co_await until_requests(2);
  co_await until_sleeping(clock, hours(1));
  EXPECT_TRUE(matches(set, "www.a.example"));
  // 3: status 500: tried again 5 minutes later...
  clock.advance(hours(1));
  co_await until_requests(3);
  co_await until_sleeping(clock, minutes(5));
  EXPECT_TRUE(matches(set, "www.a.example"));
  // 4: ...where the server never answers: given up after 60 s...
  clock.advance(minutes(5));
  co_await until_requests(4);
  co_await until_sleeping(clock, seconds(60));
  clock.advance(seconds(60));
  co_await until_sleeping(clock, minutes(5));
  EXPECT_TRUE(matches(set, "www.a.example"));
  // 5: ...and tried again 5 minutes later: the new set replaces the old.
  clock.advance(minutes(5));
  co_await until_matches(set, "www.b.example");
  EXPECT_FALSE(matches(set, "www.a.example"));
  updater.stop();
  co_await updater.join();
}

TEST(RuleSetUpdater, FailedOrRefusedUpdatesKeepTheSetAndAreRetried) {
  asio::io_context io;
  net::VirtualClock clock;
  std::string big = R"({"version": 2, "rules": [{"domain_suffix": [)";
  for (int i = 0; i < 2000; ++i) big += (i ? ",\"x" : "\"x") + std::to_string(100000 + i) + ".example\"";
  big += "]}]}";
  auto st = start_script(io, {{response(source_set("a.example")), true},
                              {response(big), true},
                              {"HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\n\r\n", true},
                              {"", false},
                              {response(source_set("b.example")), true}});
  const std::string dir = ::testing::TempDir() + "/rule-set-updates-" + std::to_string(::getpid());
  std::filesystem::remove_all(dir);
  auto opts = config::load_string(R"({"outbounds":[{"type":"block","tag":"dl"}],
    "route":{"rule_set":[{"type":"remote","tag":"r","format":"source","download_detour":"dl","update_interval":"1h",
       "url":")" + url(st) + R"("}]}})");
  RuleSetBudget budget(64 * 1024, 1 << 20);
  TagOutbound dl("dl");
  {
    auto sets = std::make_shared<RuleSets>(opts.route.rule_set, dir, budget);
    RuleSetUpdater updater(io, sets, {{opts.route.rule_set[0], &dl}}, dir,
                           FetchLimits{std::chrono::seconds(60), &clock});
    run(io, updates(updater, *sets->find("r"), clock), [&] { st->stop(); });
    EXPECT_GT(budget.used(), 0u);
  }
  EXPECT_EQ(g_script.requests, 5u);
  EXPECT_EQ(dl.dialed.size(), 5u);
  EXPECT_EQ(budget.used(), 0u);  // given back with the set
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace anytls::route
