// Issue 24 (hostile round 2), the control endpoints over real sockets:
//   - 64 (Clash API) / 8 (metrics) connections that trickle a request head
//     and never finish it lock nobody out: the client with the secret is
//     served at once (an unauthenticated connection makes room), and the
//     tricklers are closed when their request time is up;
//   - a 401 closes the connection;
//   - ?token= opens only a stream's WebSocket upgrade, never a plain API
//     request that carries "Connection: Upgrade".
#include <gtest/gtest.h>

#include <asio/experimental/awaitable_operators.hpp>
#include <asio/write.hpp>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "app/clash_api.hpp"
#include "app/clash_server.hpp"
#include "app/metrics_server.hpp"
#include "inbound/tracker.hpp"
#include "net/tcp_conn.hpp"
#include "support/control_options.hpp"
#include "support/run.hpp"
#include "unit/inbound/loopback.hpp"

namespace anytls::test {
namespace {

using namespace asio::experimental::awaitable_operators;

constexpr std::string_view kSecret = "s3cret";

asio::awaitable<tcp::socket> connect_to(std::uint16_t port) {
  tcp::socket s(co_await asio::this_coro::executor);
  auto [ec] = co_await s.async_connect({asio::ip::make_address("127.0.0.1"), port}, use_tuple);
  if (ec) throw std::runtime_error("connect: " + ec.message());
  co_return s;
}

asio::awaitable<void> send(tcp::socket& s, std::string bytes) {
  auto [ec, n] = co_await asio::async_write(s, asio::buffer(bytes), use_tuple);
  if (ec) throw std::runtime_error("write: " + ec.message());
}

// Opens n connections that each send the start of a request head and stop.
asio::awaitable<std::vector<tcp::socket>> tricklers(std::uint16_t port, std::size_t n) {
  std::vector<tcp::socket> v;
  for (std::size_t i = 0; i < n; ++i) {
    auto s = co_await connect_to(port);
    co_await send(s, "GET /ver");
    v.push_back(std::move(s));
  }
  // Let the server accept them all before the next client comes.
  co_await delay(std::chrono::milliseconds(100));
  co_return v;
}

// Sends a complete request and reads the response head; then whether the
// server closed the connection (EOF within `wait`) or kept it open.
struct Answer {
  int status = 0;
  std::string head;
  bool closed = false;
};

asio::awaitable<Answer> ask(tcp::socket& s, std::string request, std::chrono::milliseconds wait) {
  co_await send(s, std::move(request));
  std::string pending;
  auto [head, body] = co_await read_response(s, pending);
  Answer a;
  a.status = head.status;
  for (const auto& h : head.headers) a.head += h.name + ": " + h.value + "\n";
  // Closed: the next read ends at once with EOF; open: it waits.
  std::array<char, 64> buf;
  auto r = co_await (s.async_read_some(asio::buffer(buf), use_tuple) || delay(wait));
  if (r.index() == 0) {
    auto [ec, n] = std::get<0>(r);
    a.closed = static_cast<bool>(ec);
  }
  co_return a;
}

std::string get(std::string target, std::string headers = "") {
  return "GET " + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\n" + headers + "\r\n";
}

std::string bearer() { return test::bearer(kSecret); }

// Every trickler is closed by the server once its request time is up.
asio::awaitable<std::size_t> count_closed(std::vector<tcp::socket>& v, std::chrono::milliseconds within) {
  std::size_t closed = 0;
  for (auto& s : v) {
    std::array<char, 64> buf;
    auto r = co_await (s.async_read_some(asio::buffer(buf), use_tuple) || delay(within));
    if (r.index() == 0) ++closed;
  }
  co_return closed;
}

// The Clash API on 127.0.0.1, any port, with the secret.
config::ClashApiOptions clash_options() { return on_loopback<config::ClashApiOptions>(kSecret); }

asio::awaitable<void> clash_body() {
  auto& io = static_cast<asio::io_context&>((co_await asio::this_coro::executor).context());
  const config::ClashApiOptions o = clash_options();
  app::ClashApi api(o, app::ClashSources{});
  app::ClashServer server(io, api);
  server.set_request_timeout(std::chrono::milliseconds(1500));
  CO_ASSERT_TRUE(!server.start());
  const auto port = server.port();

  // ---- lock-out: every place taken by a trickler; the secret still gets in.
  auto crowd = co_await tricklers(port, app::ClashServer::kMaxConnections);
  {
    auto s = co_await connect_to(port);
    auto a = co_await ask(s, get("/version", bearer()), std::chrono::milliseconds(200));
    EXPECT_EQ(a.status, 200) << a.head;
    EXPECT_FALSE(a.closed) << "keep-alive with the secret";
    EXPECT_GE(server.evictions(), 1u);
    // The kept-alive, authorised connection is not the next one evicted:
    // another crowd comes, and it still answers.
    auto crowd2 = co_await tricklers(port, app::ClashServer::kMaxConnections);
    auto again = co_await ask(s, get("/version", bearer()), std::chrono::milliseconds(50));
    EXPECT_EQ(again.status, 200) << "idle authorised connection evicted before unauthenticated ones";
    for (auto& c : crowd2) c.close();
  }
  // The tricklers that were not evicted are closed by the request deadline.
  {
    auto closed = co_await count_closed(crowd, std::chrono::milliseconds(3000));
    EXPECT_EQ(closed, crowd.size());
  }

  // ---- a 401 closes the connection.
  {
    auto s = co_await connect_to(port);
    auto a = co_await ask(s, get("/proxies"), std::chrono::milliseconds(1000));
    EXPECT_EQ(a.status, 401);
    EXPECT_TRUE(a.closed) << "a 401 left the connection open";
  }

  // ---- ?token= on a plain API request with Connection: Upgrade: refused.
  {
    auto s = co_await connect_to(port);
    const std::string target = "/proxies?token=" + std::string(kSecret);
    auto a = co_await ask(s, get(target, "Connection: Upgrade\r\nUpgrade: websocket\r\n"),
                          std::chrono::milliseconds(50));
    EXPECT_EQ(a.status, 401) << "token accepted outside a stream upgrade";
  }
  {
    auto s = co_await connect_to(port);
    const std::string target = "/version?token=" + std::string(kSecret);
    auto a = co_await ask(s, get(target, "Connection: Upgrade\r\nUpgrade: h2c\r\n"), std::chrono::milliseconds(50));
    EXPECT_EQ(a.status, 401);
  }
  // ... and still opens a stream's WebSocket.
  {
    auto s = co_await connect_to(port);
    const std::string target = "/memory?token=" + std::string(kSecret);
    co_await send(s, get(target, "Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Key: "
                                 "dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"));
    std::string in;
    std::array<char, 1024> buf;
    while (in.find("\r\n\r\n") == std::string::npos) {
      auto [ec, n] = co_await s.async_read_some(asio::buffer(buf), use_tuple);
      in.append(buf.data(), n);
      if (ec) break;
    }
    EXPECT_EQ(in.rfind("HTTP/1.1 101", 0), 0u) << in;
  }
  server.stop();
  co_await server.join();
}

CORO_TEST(ControlEndpoints, ClashApiCannotBeLockedOutBeforeAuthentication, clash_body(), std::chrono::seconds(30))

asio::awaitable<void> metrics_body() {
  auto& io = static_cast<asio::io_context&>((co_await asio::this_coro::executor).context());
  const auto o = on_loopback<config::MetricsOptions>(kSecret);
  app::MetricsServer server(io, o, std::function<std::string()>([] { return std::string("m 1\n"); }));
  server.set_request_timeout(std::chrono::milliseconds(1500));
  CO_ASSERT_TRUE(!server.start());
  const auto port = server.port();

  auto crowd = co_await tricklers(port, app::MetricsServer::kMaxConnections);
  {
    auto s = co_await connect_to(port);
    auto a = co_await ask(s, get(o.path, bearer()), std::chrono::milliseconds(200));
    EXPECT_EQ(a.status, 200) << a.head;
    EXPECT_FALSE(a.closed);
    EXPECT_GE(server.evictions(), 1u);
  }
  {
    auto closed = co_await count_closed(crowd, std::chrono::milliseconds(3000));
    EXPECT_EQ(closed, crowd.size());
  }
  {
    auto s = co_await connect_to(port);
    auto a = co_await ask(s, get(o.path), std::chrono::milliseconds(1000));
    EXPECT_EQ(a.status, 401);
    EXPECT_TRUE(a.closed) << "a 401 left the connection open";
  }
  server.stop();
  co_await server.join();
}

CORO_TEST(ControlEndpoints, MetricsCannotBeLockedOutBeforeAuthentication, metrics_body(), std::chrono::seconds(30))

// A destination name that is not UTF-8 (SOCKS5 allows any byte but NUL) is
// listed with U+FFFD in its place: GET /connections answers, and the
// /connections WebSocket keeps streaming.
asio::awaitable<void> names_body() {
  auto& io = static_cast<asio::io_context&>((co_await asio::this_coro::executor).context());
  inbound::ConnectionTracker tracker;
  auto [c1, s1] = co_await socket_pair();
  outbound::Metadata md;
  md.inbound = "in";
  md.inbound_type = "mixed";
  md.destination = net::Address{std::string("bad\xff\xfe\r\n.lan", 11), 443};
  auto tracked = tracker.track(std::make_unique<net::TcpConn>(std::move(s1)), md, nullptr);
  const config::ClashApiOptions o = clash_options();
  app::ClashApi api(o, app::ClashSources{nullptr, &tracker, nullptr, nullptr});
  app::ClashServer server(io, api);
  CO_ASSERT_TRUE(!server.start());
  {
    auto s = co_await connect_to(server.port());
    co_await send(s, get("/connections", bearer() + "Connection: close\r\n"));
    auto all = co_await read_until_eof(s);
    auto body = all.substr(std::min(all.size(), all.find("\r\n\r\n") + 4));
    EXPECT_EQ(all.rfind("HTTP/1.1 200", 0), 0u) << all;
    auto j = nlohmann::json::parse(body, nullptr, false);
    CO_ASSERT_TRUE(!j.is_discarded());
    CO_ASSERT_TRUE(j["connections"].size() == 1);
    EXPECT_EQ(j["connections"][0]["metadata"]["host"], "bad\xef\xbf\xbd\xef\xbf\xbd\r\n.lan");
  }
  {
    // Two frames of the stream: it goes on after the first.
    auto s = co_await connect_to(server.port());
    const std::string target = "/connections?interval=100&token=" + std::string(kSecret);
    co_await send(s, get(target, "Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Key: "
                                 "dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"));
    std::string in;
    std::array<char, 4096> buf;
    std::size_t frames = 0;
    while (frames < 2) {
      auto [ec, n] = co_await s.async_read_some(asio::buffer(buf), use_tuple);
      if (ec) break;
      in.append(buf.data(), n);
      // Each text frame of the stream starts with 0x81 and names the host.
      frames = 0;
      for (std::size_t p = in.find(".lan"); p != std::string::npos; p = in.find(".lan", p + 1)) ++frames;
    }
    EXPECT_EQ(frames, 2u) << in;
  }
  tracked.reset();
  server.stop();
  co_await server.join();
}

// Issue 28 (item 6): PATCH /configs changes the log level and says so in
// GET /configs; a key it cannot change is a 400 naming it, and nothing of
// that request is applied.
asio::awaitable<void> patch_body() {
  auto& io = static_cast<asio::io_context&>((co_await asio::this_coro::executor).context());
  const config::ClashApiOptions o = clash_options();
  app::ClashApi api(o, app::ClashSources{});
  app::ClashServer server(io, api);
  CO_ASSERT_TRUE(!server.start());
  const auto before = spdlog::default_logger()->level();
  spdlog::default_logger()->set_level(spdlog::level::info);
  auto patch = [&](std::string body) {
    return "PATCH /configs HTTP/1.1\r\nHost: x\r\n" + bearer() + "Content-Length: " + std::to_string(body.size()) +
           "\r\nConnection: close\r\n\r\n" + body;
  };
  {
    auto s = co_await connect_to(server.port());
    auto a = co_await ask(s, patch(R"({"log-level": "debug"})"), std::chrono::milliseconds(50));
    EXPECT_EQ(a.status, 204);
    EXPECT_EQ(spdlog::default_logger()->level(), spdlog::level::debug);
  }
  {
    auto s = co_await connect_to(server.port());
    co_await send(s, get("/configs", bearer() + "Connection: close\r\n"));
    auto all = co_await read_until_eof(s);
    EXPECT_NE(all.find(R"("log-level":"debug")"), std::string::npos) << all;
  }
  {
    // Refused by name; the log level in the same request is not applied.
    auto s = co_await connect_to(server.port());
    co_await send(s, patch(R"({"log-level": "error", "mixed-port": 7890})"));
    auto all = co_await read_until_eof(s);
    EXPECT_EQ(all.rfind("HTTP/1.1 400", 0), 0u) << all;
    EXPECT_NE(all.find("mixed-port"), std::string::npos) << all;
    EXPECT_EQ(spdlog::default_logger()->level(), spdlog::level::debug);
  }
  {
    auto s = co_await connect_to(server.port());
    auto a = co_await ask(s, patch(R"({"log-level": "loud"})"), std::chrono::milliseconds(50));
    EXPECT_EQ(a.status, 400);
  }
  spdlog::default_logger()->set_level(before);
  server.stop();
  co_await server.join();
}

CORO_TEST(ControlEndpoints, PatchConfigsLogLevelAndRefusedKeys, patch_body(), std::chrono::seconds(30))

CORO_TEST(ControlEndpoints, NamesThatAreNotUtf8AreListed, names_body(), std::chrono::seconds(30))

}  // namespace
}  // namespace anytls::test
