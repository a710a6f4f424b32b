// Issue 15: the Clash API over real sockets: authentication (header, and
// ?token= on WebSocket upgrades), PUT /proxies to switch a selector and the
// choice kept by cache_file across a restart, /connections listing a live
// download through the dispatch path and DELETE closing it, /traffic over a
// real WebSocket client, CORS preflight, delay tests, and external_ui
// refusing path traversal; DELETE /connections[/{id}] ending a stalled
// relay through a real inbound on both sides at once.
#include <gtest/gtest.h>
#include <gmock/gmock.h>

#include <filesystem>
#include <fstream>

#include <asio/experimental/awaitable_operators.hpp>
#include <asio/write.hpp>
#include <nlohmann/json.hpp>

#include "app/cache_file.hpp"
#include "app/clash_api.hpp"
#include "app/log_buffer.hpp"
#include "app/clash_server.hpp"
#include "app/reload.hpp"
#include "config/load.hpp"
#include "dns/client.hpp"
#include "dns/message.hpp"
#include "http/websocket.hpp"
#include "inbound/mixed.hpp"
#include "inbound/dispatch.hpp"
#include "inbound/tracker.hpp"
#include "integration/harness.hpp"
#include "outbound/selector.hpp"
#include "route/clash_mode.hpp"
#include "net/coro.hpp"
#include "net/tcp_conn.hpp"
#include "net/task_group.hpp"
#include "support/control_options.hpp"
#include "support/run.hpp"

#include <spdlog/spdlog.h>

namespace anytls::integ {
namespace {

using ::testing::HasSubstr;
using json = nlohmann::json;

constexpr std::string_view kSecret = "clash-secret";

using Reply = HttpReply;

// One request on a fresh connection (Connection: close), read to EOF.
asio::awaitable<Reply> request(std::uint16_t port, std::string method, std::string target, std::string headers,
                               std::string body) {
  return http_request(port, method + " " + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\n" + headers +
                                "Content-Length: " + std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n" +
                                body);
}

std::string auth() { return test::bearer(kSecret); }

// The API on 127.0.0.1, port 0, with kSecret.
config::ClashApiOptions clash_api_options() { return test::on_loopback<config::ClashApiOptions>(kSecret); }

// a, b: anytls to the two servers; "select": selector of a and b; final: select.
// A group of type "selector" or "urltest" (probing url).
config::OutboundOptions group_out(std::string type, std::string tag, std::vector<std::string> members,
                                  std::string url = "") {
  config::OutboundOptions o;
  o.type = std::move(type);
  o.tag = std::move(tag);
  if (o.type == "selector") {
    config::SelectorOutboundOptions so;
    so.outbounds = std::move(members);
    o.options = so;
  } else {
    config::UrlTestOutboundOptions uo;
    uo.outbounds = std::move(members);
    uo.url = std::move(url);
    o.options = uo;
  }
  return o;
}

config::Options options(std::uint16_t port_a, std::uint16_t port_b) {
  config::Options opts;
  opts.outbounds.push_back(anytls_outbound("a", port_a));
  opts.outbounds.push_back(anytls_outbound("b", port_b));
  opts.outbounds.push_back(group_out("selector", "select", {"a", "b"}));
  opts.route.final = "select";
  opts.cache_file.enabled = true;
  opts.clash_api = clash_api_options();
  return opts;
}

// Everything `run` puts together for the API, on the test's io_context.
struct Stack {
  // read: what PUT /configs reloads (empty: no file to reload from).
  Stack(Env& env, const config::Options& opts, const std::string& cache_path, const std::string& ui,
        app::ConfigReader read = {}) {
    config::CacheFileOptions co = opts.cache_file;
    co.path = cache_path;
    cache = std::make_unique<app::CacheFile>(co);
    if (auto err = cache->open(); !err.empty()) throw std::runtime_error(err);
    parts = std::make_unique<app::Components>(env.io, env.resolver);
    parts->set_selection_store(cache.get());
    inbound::set_connection_tracker(&tracker);
    if (parts->start(opts)) throw std::runtime_error("components");
    auto c = *opts.clash_api;
    c.external_ui = ui;
    logs = std::make_shared<app::LogBuffer>();
    spdlog::default_logger()->sinks().push_back(logs);
    api = std::make_unique<app::ClashApi>(c, app::ClashSources{parts.get(), &tracker, cache.get(), logs.get()});
    if (read) api->set_reload([p = parts.get(), read] { return app::reload(*p, read); });
    api->set_modes(app::clash_modes(opts));
    server = std::make_unique<app::ClashServer>(env.io, *api);
    if (server->start()) throw std::runtime_error(server->start_error());
  }
  ~Stack() {
    inbound::set_connection_tracker(nullptr);
    auto& sinks = spdlog::default_logger()->sinks();
    sinks.erase(std::remove(sinks.begin(), sinks.end(), logs), sinks.end());
  }
  asio::awaitable<void> stop() {
    server->stop();
    parts->stop();
    co_await server->join();
    co_await parts->join();
  }
  inbound::ConnectionTracker tracker;
  std::shared_ptr<app::LogBuffer> logs;
  std::unique_ptr<app::CacheFile> cache;
  std::unique_ptr<app::Components> parts;
  std::unique_ptr<app::ClashApi> api;
  std::unique_ptr<app::ClashServer> server;
};

struct Results {
  std::vector<std::string> problems;
  void check(bool ok, std::string what) {
    if (!ok) problems.push_back(std::move(what));
  }
};

// A minimal WebSocket client: upgrade, then read one server frame.
asio::awaitable<std::pair<std::string, std::string>> ws_first_frame(std::uint16_t port, std::string target,
                                                                   std::string headers) {
  auto s = co_await tcp_connect(port);
  std::string req = "GET " + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
                    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n" + headers + "\r\n";
  auto [wec, wn] = co_await asio::async_write(s, asio::buffer(req), use_tuple);
  if (wec) throw std::runtime_error("write: " + wec.message());
  std::string in;
  std::vector<char> buf(4096);
  std::string head;
  for (;;) {
    auto end = in.find("\r\n\r\n");
    if (end != std::string::npos) {
      head = in.substr(0, end);
      in.erase(0, end + 4);
      break;
    }
    auto [ec, n] = co_await s.async_read_some(asio::buffer(buf), use_tuple);
    if (ec) co_return std::make_pair(in, std::string());
    in.append(buf.data(), n);
  }
  if (head.find(" 101 ") == std::string::npos) co_return std::make_pair(head, std::string());
  // Server frames are unmasked: 0x81, a 7-bit or 16-bit length, payload.
  for (;;) {
    if (in.size() >= 2) {
      std::size_t len = static_cast<std::uint8_t>(in[1]) & 0x7f;
      std::size_t pos = 2;
      if (len == 126 && in.size() >= 4) {
        len = (static_cast<std::uint8_t>(in[2]) << 8) | static_cast<std::uint8_t>(in[3]);
        pos = 4;
      }
      if (len != 126 && in.size() >= pos + len) {
        std::string payload = in.substr(pos, len);
        // Close properly: a masked close frame (mask 0).
        std::string close("\x88\x80\x00\x00\x00\x00", 6);
        auto [cec, cn] = co_await asio::async_write(s, asio::buffer(close), use_tuple);
        (void)cec;
        co_return std::make_pair(head, payload);
      }
    }
    auto [ec, n] = co_await s.async_read_some(asio::buffer(buf), use_tuple);
    if (ec) co_return std::make_pair(head, std::string());
    in.append(buf.data(), n);
  }
}

// Logs a marker line once the /logs client has had time to connect (the
// stream sends lines logged after it started; 300 ms of slack, and the
// client waits for the line however late it comes).
asio::awaitable<void> log_later() {
  for (int i = 0; i < 20; ++i) {
    const net::Clock::duration pause = std::chrono::milliseconds(300);
    const bool slept = co_await net::sleep_for(pause);
    if (!slept) break;
    spdlog::warn("clash-test marker");
  }
}

struct Fixture {
  std::unique_ptr<inbound::AnyTlsServer> server_b;
  std::string cache_path;
  std::string ui_dir;
  Results r;
};

asio::awaitable<void> api_body(Env* env, Fixture* f, HttpServer* big) {
  auto opts = options(env->server->port(), f->server_b->port());
  auto stack = std::make_unique<Stack>(*env, opts, f->cache_path, f->ui_dir);
  const auto port = stack->server->port();
  const std::string good = auth();

  // ---- authentication
  auto none = co_await request(port, "GET", "/proxies", "", "");
  f->r.check(none.status == 401, "no secret: " + std::to_string(none.status));
  const std::string wrong_header = "Authorization: Bearer wrong\r\n";
  auto wrong = co_await request(port, "GET", "/proxies", wrong_header, "");
  f->r.check(wrong.status == 401, "wrong secret: " + std::to_string(wrong.status));
  const std::string bad_token_target = "/traffic?token=wrong";
  auto ws_wrong = co_await ws_first_frame(port, bad_token_target, "");
  f->r.check(ws_wrong.first.find(" 401 ") != std::string::npos, "ws wrong token: " + ws_wrong.first);
  auto hello = co_await request(port, "GET", "/", good, "");
  f->r.check(hello.status == 200 && hello.body == R"({"hello":"clash"})", "GET /: " + hello.body);
  auto version = co_await request(port, "GET", "/version", good, "");
  f->r.check(version.status == 200 && version.body.find("anytls-cpp") != std::string::npos, "version");

  // ---- CORS preflight needs no secret
  const std::string preflight_headers =
      "Origin: http://dashboard.example\r\nAccess-Control-Request-Method: PUT\r\n";
  auto pre = co_await request(port, "OPTIONS", "/proxies/select", preflight_headers, "");
  f->r.check(pre.status == 204 && pre.head.find("Access-Control-Allow-Origin: *") != std::string::npos &&
                 pre.head.find("Access-Control-Allow-Methods") != std::string::npos,
             "preflight: " + pre.head);

  // ---- proxies, pool fields
  auto proxies = co_await request(port, "GET", "/proxies", good, "");
  auto pj = json::parse(proxies.body, nullptr, false);
  f->r.check(!pj.is_discarded() && pj["proxies"]["select"]["type"] == "Selector" &&
                 pj["proxies"]["select"]["now"] == "a" && pj["proxies"]["a"]["type"] == "AnyTLS" &&
                 pj["proxies"]["a"]["pool"].contains("idle") && pj["proxies"].contains("GLOBAL"),
             "proxies: " + proxies.body);

  // ---- delay through a member (the local HTTP server)
  const std::string delay_target =
      "/proxies/b/delay?timeout=5000&url=http%3A%2F%2F127.0.0.1%3A" + std::to_string(env->http.port()) + "%2F";
  auto delay = co_await request(port, "GET", delay_target, good, "");
  auto dj = json::parse(delay.body, nullptr, false);
  f->r.check(delay.status == 200 && !dj.is_discarded() && dj["delay"].get<int>() >= 1, "delay: " + delay.body);
  auto b = co_await request(port, "GET", "/proxies/b", good, "");
  auto bj = json::parse(b.body, nullptr, false);
  f->r.check(!bj.is_discarded() && bj["history"].size() == 1 && bj["pool"]["sessions"].size() >= 1,
             "b after the delay test: " + b.body);

  // ---- switch the selector
  auto bad_put = co_await request(port, "PUT", "/proxies/select", good, R"({"name":"nope"})");
  f->r.check(bad_put.status == 400, "PUT unknown member: " + std::to_string(bad_put.status));
  auto put = co_await request(port, "PUT", "/proxies/select", good, R"({"name":"b"})");
  f->r.check(put.status == 204, "PUT: " + std::to_string(put.status) + put.body);
  auto now = dynamic_cast<outbound::SelectorOutbound*>(stack->parts->outbound("select"))->now();
  f->r.check(now && now->tag() == "b", "selector now");

  // ---- mode
  auto patch = co_await request(port, "PATCH", "/configs", good, R"({"mode":"global"})");
  f->r.check(patch.status == 204 && route::clash_mode() == "Global", "PATCH mode: " + route::clash_mode());
  route::set_clash_mode("Rule");

  // ---- a live download through the dispatch path, listed and closed
  auto md = tcp_to(big->port());
  md.inbound = "test-in";
  md.inbound_type = "mixed";
  auto conn = co_await inbound::connect(stack->parts->router(), md);
  CO_ASSERT_TRUE(conn.ok());
  auto wec = co_await write_all(**conn, "GET / HTTP/1.1\r\nHost: x\r\n\r\n");
  CO_ASSERT_TRUE(!wec);
  std::string got;
  auto rec = co_await read_exact(**conn, got, 64 * 1024);
  CO_ASSERT_TRUE(!rec);
  auto list = co_await request(port, "GET", "/connections", good, "");
  auto lj = json::parse(list.body, nullptr, false);
  // The anytls servers on this io_context dispatch through the same
  // tracker: their streams are listed too (as in one process running both).
  std::string id;
  json mine;
  if (!lj.is_discarded())
    for (const auto& c : lj["connections"])
      if (c["metadata"]["type"] == "mixed/test-in") mine = c;
  if (mine.is_object()) {
    const auto& c = mine;
    id = c["id"].get<std::string>();
    f->r.check(c["metadata"]["destinationPort"] == std::to_string(big->port()) &&
                   c["chains"] == json::array({"b", "select"}) && c["download"].get<std::uint64_t>() >= 64 * 1024 &&
                   c["metadata"]["type"] == "mixed/test-in",
               "connection entry: " + c.dump());
  } else {
    f->r.check(false, "connections: " + list.body);
  }
  const std::string del_target = "/connections/" + id;
  auto del = co_await request(port, "DELETE", del_target, good, "");
  f->r.check(del.status == 204, "DELETE: " + std::to_string(del.status));
  // The download ends at once (the rest of the 8 MiB body never arrives).
  auto [rest, end] = co_await read_to_end(**conn, 16 << 20);
  f->r.check(end && rest.size() < (8u << 20), "download after DELETE: " + std::to_string(rest.size()));
  conn.value().reset();
  auto after = co_await request(port, "GET", "/connections", good, "");
  f->r.check(after.body.find("mixed/test-in") == std::string::npos, "after DELETE: " + after.body);

  // ---- /traffic over WebSocket (token in the query, as dashboards do)
  const std::string traffic_target = "/traffic?token=" + std::string(kSecret);
  auto ws = co_await ws_first_frame(port, traffic_target, "");
  auto tj = json::parse(ws.second, nullptr, false);
  f->r.check(ws.first.find("Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=") != std::string::npos,
             "ws handshake: " + ws.first);
  f->r.check(!tj.is_discarded() && tj.contains("up") && tj.contains("down"), "traffic frame: " + ws.second);
  auto mem = co_await ws_first_frame(port, "/memory", good);
  f->r.check(mem.second.find("\"inuse\"") != std::string::npos, "memory frame: " + mem.second);

  // ---- /logs over WebSocket: a line logged after the client connected
  net::TaskGroup logger(env->io.get_executor(), "test logger");
  logger.spawn(log_later(), "log a marker");
  const std::string logs_target = "/logs?level=warning&token=" + std::string(kSecret);
  auto lg = co_await ws_first_frame(port, logs_target, "");
  auto lj2 = json::parse(lg.second, nullptr, false);
  f->r.check(!lj2.is_discarded() && lj2["type"] == "warning" && lj2["payload"] == "clash-test marker",
             "logs frame: " + lg.second);
  logger.cancel();
  co_await logger.join();

  // ---- external_ui: files served, traversal refused
  auto index = co_await request(port, "GET", "/ui/", "", "");
  f->r.check(index.status == 200 && index.body == "<h1>dashboard</h1>", "ui index: " + index.head);
  auto up1 = co_await request(port, "GET", "/ui/%2e%2e/secret.txt", "", "");
  f->r.check(up1.status == 403, "ui ..: " + std::to_string(up1.status));
  auto up2 = co_await request(port, "GET", "/ui/..%2fsecret.txt", "", "");
  f->r.check(up2.status == 403, "ui ..%2f: " + std::to_string(up2.status));
  auto link = co_await request(port, "GET", "/ui/link.txt", "", "");
  f->r.check(link.status == 404, "ui symlink out: " + std::to_string(link.status));

  co_await stack->stop();
  stack.reset();

  // ---- restart: the choice is kept
  auto again = std::make_unique<Stack>(*env, opts, f->cache_path, f->ui_dir);
  auto p2 = again->server->port();
  auto sel = co_await request(p2, "GET", "/proxies/select", good, "");
  auto sj = json::parse(sel.body, nullptr, false);
  f->r.check(!sj.is_discarded() && sj["now"] == "b", "after restart: " + sel.body);
  co_await again->stop();
  f->server_b->stop();
  big->stop();
}

TEST(ClashApi, EndToEnd) {
  Env env;
  Fixture f;
  f.server_b = std::make_unique<inbound::AnyTlsServer>(env.io, "anytls-in-b", server_options(), env.server_router,
                                                       env.resolver, &env.clock);
  ASSERT_FALSE(f.server_b->start());
  HttpServer big(env.io, std::string(8 << 20, 'd'));
  auto dir = std::filesystem::temp_directory_path() / ("anytls-clash-" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir / "ui");
  std::ofstream(dir / "ui" / "index.html") << "<h1>dashboard</h1>";
  std::ofstream(dir / "secret.txt") << "secret";
  std::filesystem::create_symlink(dir / "secret.txt", dir / "ui" / "link.txt");
  f.cache_path = (dir / "cache.db").string();
  f.ui_dir = (dir / "ui").string();
  run(env, api_body(&env, &f, &big), Ms(30000));
  for (const auto& p : f.r.problems) ADD_FAILURE() << p;
  std::filesystem::remove_all(dir);
}

// ---- DELETE ends a stalled relay at once, both sides

// A mixed inbound -> direct, with the Clash API.
config::Options stall_options() {
  config::Options opts;
  opts.inbounds.push_back(mixed_inbound("mixed-in"));
  opts.outbounds.push_back(direct_outbound("direct"));
  opts.clash_api = clash_api_options();
  return opts;
}

// The ids of the listed connections whose inbound type starts with `type`.
asio::awaitable<std::vector<std::string>> listed(std::uint16_t api, std::string type) {
  auto list = co_await request(api, "GET", "/connections", auth(), "");
  auto j = json::parse(list.body, nullptr, false);
  std::vector<std::string> ids;
  if (j.is_discarded() || !j["connections"].is_array()) co_return ids;
  for (const auto& c : j["connections"])
    if (c["metadata"]["type"].get<std::string>().rfind(type, 0) == 0) ids.push_back(c["id"].get<std::string>());
  co_return ids;
}
// Ours (no default argument of class type on a coroutine: GCC 12).
asio::awaitable<std::vector<std::string>> listed(std::uint16_t api) { return listed(api, "mixed/mixed-in"); }

// Through the mixed inbound (HTTP CONNECT), a download of 8 MiB that the
// client stops reading after 64 KiB: the relay is then blocked writing to
// the client, and reading the client, which sends nothing more.
asio::awaitable<std::unique_ptr<net::TcpConn>> stalled_download(std::uint16_t proxy, std::uint16_t web) {
  auto socket = co_await tcp_connect(proxy);
  auto conn = std::make_unique<net::TcpConn>(std::move(socket));
  const std::string target = "127.0.0.1:" + std::to_string(web);
  auto ec = co_await write_all(*conn, "CONNECT " + target + " HTTP/1.1\r\nHost: " + target + "\r\n\r\n");
  if (ec) throw std::runtime_error("CONNECT: " + ec.message());
  std::string head;
  while (head.find("\r\n\r\n") == std::string::npos) {
    std::string more;
    const auto rec = co_await read_exact(*conn, more, 1);
    if (rec) throw std::runtime_error("CONNECT reply: " + head);
    head += more;
  }
  if (head.find(" 200 ") == std::string::npos) throw std::runtime_error("CONNECT reply: " + head);
  ec = co_await write_all(*conn, "GET / HTTP/1.1\r\nHost: x\r\n\r\n");
  if (ec) throw std::runtime_error("GET: " + ec.message());
  std::string got;
  ec = co_await read_exact(*conn, got, 64 * 1024);
  if (ec) throw std::runtime_error("download: " + ec.message());
  co_return conn;
}

// The client's end, within `limit`: whatever was still buffered, then EOF
// or a reset, before the rest of the 8 MiB body (which would mean the relay
// went on). False when the connection is still open after `limit`.
asio::awaitable<bool> sees_end(net::Conn& c, Ms limit) {
  using namespace asio::experimental::awaitable_operators;
  auto r = co_await (read_to_end(c, std::size_t{64} << 20) || net::sleep_for(limit));
  if (r.index() != 0) co_return false;
  const auto& [rest, ec] = std::get<0>(r);
  co_return ec && rest.size() < (8u << 20) - 64 * 1024;
}

asio::awaitable<void> stalled_body(Env* env, Results* r, HttpServer* big, std::string cache, bool all) {
  auto stack = std::make_unique<Stack>(*env, stall_options(), cache, "");
  const auto api = stack->server->port();
  auto* mixed = dynamic_cast<inbound::ProxyInbound*>(stack->parts->inbound("mixed-in"));
  CO_ASSERT_TRUE(mixed != nullptr);
  auto one = co_await stalled_download(mixed->port(), big->port());
  auto two = co_await stalled_download(mixed->port(), big->port());
  // Let the relays fill the socket buffers and block.
  co_await test::delay(std::chrono::milliseconds(300));
  auto ids = co_await listed(api);
  CO_ASSERT_TRUE(ids.size() == 2);
  // Listed in the order they were opened: ids[0] is `one`.
  const std::string target = all ? "/connections" : "/connections/" + ids[0];
  const std::string headers = auth();
  const std::string no_body;
  auto del = co_await request(api, "DELETE", target, headers, no_body);
  r->check(del.status == 204, "DELETE " + target + ": " + std::to_string(del.status));
  // Gone from the list within a second.
  auto gone = [all, &ids](const std::vector<std::string>& left) {
    return all ? left.empty() : (left.size() == 1 && left[0] == ids[1]);
  };
  std::vector<std::string> left;
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(1);
  const std::chrono::milliseconds step(20);
  for (;;) {
    left = co_await listed(api);
    if (gone(left) || std::chrono::steady_clock::now() > until) break;
    co_await test::delay(step);
  }
  r->check(gone(left), "still listed 1 s after DELETE " + target + ": " + std::to_string(left.size()));
  // The client sees its end within a second (the other one, not deleted,
  // is still listed: checked above; reading it now would let it finish).
  const Ms second(1000);
  const bool ended = co_await sees_end(*one, second);
  r->check(ended, "the client of the deleted connection saw no end within 1 s");
  if (all) {
    const bool ended2 = co_await sees_end(*two, second);
    r->check(ended2, "the client of the second connection saw no end within 1 s");
  }
  one.reset();
  two.reset();
  co_await stack->stop();
  stack.reset();
  big->stop();
}

// A stream of the anytls server (Env's, dispatching through the Stack's
// tracker) whose client dials through it and stops reading: DELETE ends the
// client's stream, which sees the end within a second once it reads what
// was already sent, and then the entry goes. Not at once while nobody reads:
// the relay's write can be under way on the session's TLS connection, shared
// by every stream of the session, and a TLS record cannot be abandoned
// halfway; the session's write_stall_timeout bounds that case.
asio::awaitable<void> stalled_stream_body(Env* env, Results* r, HttpServer* big, std::string cache) {
  auto stack = std::make_unique<Stack>(*env, stall_options(), cache, "");
  const auto api = stack->server->port();
  auto& client = env->start_client();
  auto dialed = co_await client.dial(tcp_to(big->port()));
  CO_ASSERT_TRUE(dialed.ok());
  auto& conn = **dialed;
  auto wec = co_await write_all(conn, "GET / HTTP/1.1\r\nHost: x\r\n\r\n");
  CO_ASSERT_TRUE(!wec);
  std::string got;
  auto rec = co_await read_exact(conn, got, 64 * 1024);
  CO_ASSERT_TRUE(!rec);
  co_await test::delay(std::chrono::milliseconds(300));
  const std::string type = "anytls/";
  auto ids = co_await listed(api, type);
  CO_ASSERT_TRUE(ids.size() == 1);
  const std::string target = "/connections/" + ids[0];
  const std::string headers = auth();
  const std::string no_body;
  auto del = co_await request(api, "DELETE", target, headers, no_body);
  r->check(del.status == 204, "DELETE " + target + ": " + std::to_string(del.status));
  const Ms second(1000);
  const bool ended = co_await sees_end(conn, second);
  r->check(ended, "the anytls client's stream saw no end within 1 s");
  std::vector<std::string> left = ids;
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(1);
  const std::chrono::milliseconds step(20);
  while (!left.empty() && std::chrono::steady_clock::now() < until) {
    co_await test::delay(step);
    left = co_await listed(api, type);
  }
  r->check(left.empty(), "the anytls stream is still listed 1 s after its client saw the end");
  dialed.value().reset();
  co_await stack->stop();
  stack.reset();
  big->stop();
}

enum class Stall { one, all, anytls_stream };

void stalled_test(Stall kind) {
  Env env;
  HttpServer big(env.io, std::string(8 << 20, 'd'));
  auto dir = std::filesystem::temp_directory_path() / ("anytls-clash-stall-" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  Results r;
  const std::string cache = (dir / "cache.db").string();
  if (kind == Stall::anytls_stream)
    run(env, stalled_stream_body(&env, &r, &big, cache), Ms(20000));
  else
    run(env, stalled_body(&env, &r, &big, cache, kind == Stall::all), Ms(20000));
  for (const auto& p : r.problems) ADD_FAILURE() << p;
  std::filesystem::remove_all(dir);
}

TEST(ClashApi, DeleteEndsAStalledConnectionOnBothSides) { stalled_test(Stall::one); }
TEST(ClashApi, DeleteAllEndsStalledConnectionsOnBothSides) { stalled_test(Stall::all); }
TEST(ClashApi, DeleteEndsAStalledAnyTlsServerStream) { stalled_test(Stall::anytls_stream); }

// ---- Issue 28: what yacd, zashboard and metacubexd need

// mixed-in -> rules: Direct mode to direct, *.example.com rejected; final
// "select" (block, then direct); "auto" a urltest of direct probing the local
// web server; a hosts DNS server answering flush.test.
// An A query for fake.test (the dashboard config sends it to its fakeip server).
std::vector<std::uint8_t> fake_test_query() { return *dns::encode(dns::make_query(9, "fake.test", dns::type::a)); }

config::Options dashboard_options(std::uint16_t web) {
  config::Options opts;
  opts.inbounds.push_back(mixed_inbound("mixed-in"));
  opts.outbounds.push_back(direct_outbound("direct"));
  config::OutboundOptions block;
  block.type = "block";
  block.tag = "block";
  block.options = config::BlockOutboundOptions{};
  opts.outbounds.push_back(block);
  opts.outbounds.push_back(group_out("selector", "select", {"block", "direct"}));
  opts.outbounds.push_back(group_out("urltest", "auto", {"direct"}, "http://127.0.0.1:" + std::to_string(web) + "/"));
  config::RouteRule by_mode;
  by_mode.clash_mode = "Direct";
  by_mode.outbound = "direct";
  opts.route.rules.push_back(by_mode);
  config::RouteRule ads;
  ads.domain_suffix = {"example.com"};
  ads.action = config::RuleAction::reject;
  opts.route.rules.push_back(ads);
  opts.route.final = "select";
  config::DnsServerOptions hosts;
  hosts.type = "hosts";
  hosts.tag = "hosts";
  hosts.predefined.push_back({"flush.test", {"127.0.0.1"}});
  config::DnsServerOptions fake;
  fake.type = "fakeip";
  fake.tag = "fake";
  fake.inet4_range = "198.18.0.0/15";
  config::DnsRule to_fake;
  to_fake.match.domain = {"fake.test"};
  to_fake.server = "fake";
  config::DnsOptions dns;
  dns.servers.push_back(hosts);
  dns.servers.push_back(fake);
  dns.rules.push_back(to_fake);
  opts.dns = dns;
  opts.cache_file.enabled = true;
  opts.clash_api = clash_api_options();
  return opts;
}

// What PUT /configs reloads: one rule more, naming a mode of its own.
config::Options reloaded_options(std::uint16_t web) {
  auto opts = dashboard_options(web);
  config::RouteRule port;
  port.port = {1, 2};
  port.clash_mode = "Bypass";
  port.outbound = "direct";
  opts.route.rules.push_back(port);
  return opts;
}

json parsed(const Reply& r) { return json::parse(r.body, nullptr, false); }
// A chain of one (built here: no initializer lists in coroutines, GCC 12).
json chain(std::string tag) { return json::array({std::move(tag)}); }

// Dials through the router as an inbound would (the Stack's tracker lists
// it); the connection's entry in /connections, or null when the dial failed.
asio::awaitable<json> routed_entry(Stack* stack, std::uint16_t web, std::unique_ptr<net::Conn>* keep) {
  auto md = tcp_to(web);
  md.inbound = "test-in";
  md.inbound_type = "mixed";
  auto conn = co_await inbound::connect(stack->parts->router(), md);
  if (!conn) co_return json();
  *keep = std::move(*conn);
  auto list = co_await request(stack->server->port(), "GET", "/connections", auth(), "");
  auto lj = parsed(list);
  json mine;
  if (!lj.is_discarded())
    for (const auto& c : lj["connections"])
      if (c["metadata"]["type"] == "mixed/test-in") mine = c;
  co_return mine;
}

std::string delay_query(std::uint16_t web) {
  return "?timeout=5000&url=http%3A%2F%2F127.0.0.1%3A" + std::to_string(web) + "%2F";
}

asio::awaitable<void> global_body(Env* env, Results* r, std::string cache) {
  const auto web = env->http.port();
  auto stack = std::make_unique<Stack>(*env, dashboard_options(web), cache, "");
  const auto port = stack->server->port();
  const std::string good = auth();
  const std::string none;

  // ---- GLOBAL: a selector of every outbound, "now" route.final's
  auto g = parsed(co_await request(port, "GET", "/proxies/GLOBAL", good, none));
  r->check(!g.is_discarded() && g["type"] == "Selector" && g["now"] == "select" && g["all"].size() == 4,
           "GLOBAL before a pick: " + g.dump());
  // Global mode without a pick: the rules decide (final: select -> block).
  route::set_clash_mode("Global");
  std::unique_ptr<net::Conn> kept;
  auto blocked = co_await routed_entry(stack.get(), web, &kept);
  r->check(blocked.is_null() && !kept, "Global mode before a pick went through: " + blocked.dump());
  const std::string bad_pick = R"({"name":"nope"})";
  auto bad = co_await request(port, "PUT", "/proxies/GLOBAL", good, bad_pick);
  r->check(bad.status == 400, "PUT /proxies/GLOBAL unknown: " + std::to_string(bad.status));
  const std::string pick = R"({"name":"direct"})";
  auto put = co_await request(port, "PUT", "/proxies/GLOBAL", good, pick);
  r->check(put.status == 204, "PUT /proxies/GLOBAL: " + std::to_string(put.status) + " " + put.body);
  g = parsed(co_await request(port, "GET", "/proxies", good, none))["proxies"]["GLOBAL"];
  r->check(g["now"] == "direct", "GLOBAL after the pick: " + g.dump());
  // Global mode now goes through the pick; the rule shown is what matched.
  auto global = co_await routed_entry(stack.get(), web, &kept);
  r->check(global.is_object() && global["chains"] == chain("direct") && global["rule"] == "final",
           "Global mode after the pick: " + global.dump());
  kept.reset();
  // ---- the rule that routed a connection (was always "final")
  route::set_clash_mode("Direct");
  auto direct = co_await routed_entry(stack.get(), web, &kept);
  r->check(direct.is_object() && direct["rule"] == "clash_mode=Direct => route(direct)",
           "Direct mode connection: " + direct.dump());
  kept.reset();
  route::set_clash_mode("Rule");

  // ---- delays: GLOBAL's members; a failure stores no entry and is not alive
  const std::string gd_target = "/group/GLOBAL/delay" + delay_query(web);
  auto gd = co_await request(port, "GET", gd_target, good, none);
  auto gdj = parsed(gd);
  r->check(gd.status == 200 && gdj.contains("direct") && !gdj.contains("block"), "GLOBAL delay: " + gd.body);
  auto all = parsed(co_await request(port, "GET", "/proxies", good, none))["proxies"];
  r->check(all["block"]["alive"] == false && all["block"]["history"].empty(), "block after a failed test: " + all["block"].dump());
  r->check(all["direct"]["alive"] == true && all["direct"]["history"].size() == 1, "direct: " + all["direct"].dump());
  // select stands on block: it shows block's state, then direct's once picked.
  r->check(all["select"]["alive"] == false && all["select"]["history"].empty(), "select on block: " + all["select"].dump());
  r->check(all["GLOBAL"]["history"].size() == 1, "GLOBAL shows direct's delay: " + all["GLOBAL"].dump());
  const std::string sd_target = "/group/select/delay" + delay_query(web);
  auto sd = co_await request(port, "GET", sd_target, good, none);
  r->check(sd.status == 200 && parsed(sd).size() == 1 && parsed(sd).contains("direct"), "select delay: " + sd.body);
  const std::string to_direct = R"({"name":"direct"})";
  auto sel = co_await request(port, "PUT", "/proxies/select", good, to_direct);
  r->check(sel.status == 204, "PUT select");
  auto sj = parsed(co_await request(port, "GET", "/proxies/select", good, none));
  r->check(sj["alive"] == true && sj["history"].size() == 1 && sj["history"][0]["delay"].get<int>() > 0,
           "select on direct: " + sj.dump());
  // A urltest group's own test: its history is its chosen member's delay.
  const std::string ad_target = "/group/auto/delay" + delay_query(web);
  auto ad = co_await request(port, "GET", ad_target, good, none);
  auto aj = parsed(co_await request(port, "GET", "/proxies/auto", good, none));
  r->check(ad.status == 200 && aj["now"] == "direct" && aj["history"].size() == 1 && aj["alive"] == true,
           "auto after its test: " + ad.body + " " + aj.dump());

  co_await stack->stop();
  stack.reset();
  // The pick is kept across a restart (cache_file).
  auto again = std::make_unique<Stack>(*env, dashboard_options(web), cache, "");
  auto g2 = parsed(co_await request(again->server->port(), "GET", "/proxies/GLOBAL", good, none));
  r->check(g2["now"] == "direct", "GLOBAL after a restart: " + g2.dump());
  co_await again->stop();
}

asio::awaitable<void> configs_body(Env* env, Results* r, std::string cache) {
  const auto web = env->http.port();
  bool broken = false;
  app::ConfigReader read = [web, &broken] {
    if (broken) throw config::ConfigError("route.rules[2].outbound", "outbound not found: nope");
    return reloaded_options(web);
  };
  auto stack = std::make_unique<Stack>(*env, dashboard_options(web), cache, "", read);
  const auto port = stack->server->port();
  const std::string good = auth();
  const std::string none;

  // ---- /version: zashboard and metacubexd take us for sing-box
  auto v = parsed(co_await request(port, "GET", "/version", good, none));
  r->check(v["version"].get<std::string>().find("sing-box") != std::string::npos &&
               v["version"].get<std::string>().find("anytls-cpp") != std::string::npos,
           "version: " + v.dump());

  // ---- /configs: the ports of the running inbounds, mode switched by PATCH
  auto* mixed = dynamic_cast<inbound::ProxyInbound*>(stack->parts->inbound("mixed-in"));
  CO_ASSERT_TRUE(mixed != nullptr);
  auto c = parsed(co_await request(port, "GET", "/configs", good, none));
  r->check(c["mixed-port"] == mixed->port() && c["socks-port"] == 0 && c["port"] == 0, "configs: " + c.dump());
  const std::string to_direct = R"({"mode":"direct"})";
  auto patch = co_await request(port, "PATCH", "/configs", good, to_direct);
  c = parsed(co_await request(port, "GET", "/configs", good, none));
  r->check(patch.status == 204 && c["mode"] == "Direct", "PATCH mode: " + c.dump());
  route::set_clash_mode("Rule");

  // ---- /rules: the route rules in sing-box's words
  auto rules = parsed(co_await request(port, "GET", "/rules", good, none));
  r->check(rules["rules"].size() == 2 && rules["rules"][0]["type"] == "default" &&
               rules["rules"][0]["payload"] == "clash_mode=Direct" && rules["rules"][0]["proxy"] == "route(direct)" &&
               rules["rules"][1]["payload"] == "domain_suffix=example.com" && rules["rules"][1]["proxy"] == "reject",
           "rules: " + rules.dump());

  // ---- PUT /configs reloads the file as SIGHUP does
  const std::string other_file = R"({"path":"/etc/other.json","payload":""})";
  auto refused = co_await request(port, "PUT", "/configs?force=true", good, other_file);
  r->check(refused.status == 400 && refused.body.find("path") != std::string::npos, "PUT another file: " + refused.body);
  const std::string same_file = R"({"path":"","payload":""})";
  auto reloaded = co_await request(port, "PUT", "/configs?reload=true", good, same_file);
  r->check(reloaded.status == 204, "PUT /configs: " + std::to_string(reloaded.status) + " " + reloaded.body);
  rules = parsed(co_await request(port, "GET", "/rules", good, none));
  r->check(rules["rules"].size() == 3 && rules["rules"][2]["payload"] == "port=[1 2] clash_mode=Bypass",
           "rules after the reload: " + rules.dump());
  // The mode the new rule names is offered and can be chosen.
  c = parsed(co_await request(port, "GET", "/configs", good, none));
  const std::string to_bypass = R"({"mode":"bypass"})";
  auto bypass = co_await request(port, "PATCH", "/configs", good, to_bypass);
  r->check(c["mode-list"].dump().find("Bypass") != std::string::npos && bypass.status == 204 &&
               route::clash_mode() == "Bypass",
           "mode after the reload: " + c.dump() + " " + bypass.body);
  route::set_clash_mode("Rule");
  broken = true;
  auto failed = co_await request(port, "PUT", "/configs?reload=true", good, same_file);
  r->check(failed.status == 400 && failed.body.find("outbound not found: nope") != std::string::npos,
           "PUT /configs with a broken file: " + failed.body);

  // ---- the DNS cache is flushed; fake IPs: none handed out, nothing to flush
  auto dns = stack->parts->dns_client();
  CO_ASSERT_TRUE(dns != nullptr);
  auto found = co_await dns->lookup("flush.test", "", config::DomainStrategy::as_is);
  r->check(found.ok() && dns->cache().size() >= 1, "flush.test was not cached");
  auto flush = co_await request(port, "POST", "/cache/dns/flush", good, none);
  r->check(flush.status == 204 && stack->parts->dns_client()->cache().size() == 0,
           "POST /cache/dns/flush: " + std::to_string(flush.status) + ", " +
               std::to_string(stack->parts->dns_client()->cache().size()) + " left");
  // fakeip: a name handed out, then forgotten by the flush.
  const auto fake_query = fake_test_query();
  const outbound::Metadata no_client;
  auto handed = co_await dns->exchange(fake_query, no_client);
  const auto fake_address = asio::ip::make_address("198.18.0.2");
  r->check(handed.ok() && dns->fake_name(fake_address) == "fake.test", "fake.test got no fake address");
  auto fakeip = co_await request(port, "POST", "/cache/fakeip/flush", good, none);
  r->check(fakeip.status == 204 && dns->fake_name(fake_address) == "",
           "POST /cache/fakeip/flush: " + std::to_string(fakeip.status) + ", the name is still held");
  // ---- GET /dns/query: a lookup through the DNS module (zashboard's tool)
  const std::string dq_target = "/dns/query?name=flush.test&type=A";
  auto dq = parsed(co_await request(port, "GET", dq_target, good, none));
  r->check(!dq.is_discarded() && dq["Status"] == 0 && dq["Question"][0]["Name"] == "flush.test." &&
               dq["Answer"].size() == 1 && dq["Answer"][0]["data"] == "127.0.0.1" && dq["Answer"][0]["type"] == 1,
           "GET /dns/query: " + dq.dump());
  const std::string dq_bad = "/dns/query?name=flush.test&type=NOPE";
  auto dqb = co_await request(port, "GET", dq_bad, good, none);
  r->check(dqb.status == 400, "GET /dns/query with a bad type: " + std::to_string(dqb.status));
  auto get_flush = co_await request(port, "GET", "/cache/dns/flush", good, none);
  r->check(get_flush.status == 405, "GET /cache/dns/flush: " + std::to_string(get_flush.status));

  // ---- a refused dial is an error line in sing-box's words
  route::set_clash_mode("Direct");
  auto s = co_await tcp_connect(mixed->port());
  auto client = std::make_unique<net::TcpConn>(std::move(s));
  const std::string connect = "CONNECT 127.0.0.1:1 HTTP/1.1\r\nHost: 127.0.0.1:1\r\n\r\n";
  auto wec = co_await write_all(*client, connect);
  CO_ASSERT_TRUE(!wec);
  auto [answer, end] = co_await read_to_end(*client, 4096);
  r->check(answer.find(" 502 ") != std::string::npos, "CONNECT to a closed port: " + answer);
  route::set_clash_mode("Rule");
  std::uint64_t next = 0;
  bool logged = false;
  std::string lines;
  for (const auto& l : stack->logs->since(0, spdlog::level::err, next)) {
    lines += l.text + "\n";
    logged = logged || (l.level == spdlog::level::err &&
                        l.text.find("inbound/mixed[mixed-in]: process connection from 127.0.0.1:") != std::string::npos &&
                        l.text.find(": dial tcp 127.0.0.1:1: connect: connection refused") != std::string::npos);
  }
  r->check(logged, "no error line for the refused dial: " + lines);
  co_await stack->stop();
}

void dashboard_test(bool global) {
  Env env;
  auto dir = std::filesystem::temp_directory_path() / ("anytls-clash-dash-" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  Results r;
  const std::string cache = (dir / "cache.db").string();
  if (global)
    run(env, global_body(&env, &r, cache), Ms(30000));
  else
    run(env, configs_body(&env, &r, cache), Ms(30000));
  route::set_clash_mode("Rule");
  for (const auto& p : r.problems) ADD_FAILURE() << p;
  std::filesystem::remove_all(dir);
}

// Issue 28 items 2, 3 (connections), 5, 8: GLOBAL picks for Global mode;
// the rule that routed a connection; alive and delay history.
TEST(ClashApi, DashboardsGlobalRulesAndDelays) { dashboard_test(true); }
// Issue 28 items 3 (/rules), 4, 6, 7: /version, /configs ports and mode,
// PUT /configs reload, cache flushes, /dns/query, the refused dial's error
// line.
TEST(ClashApi, DashboardsConfigsReloadFlushAndDialErrors) { dashboard_test(false); }

TEST(ClashApi, ParseTarget) {
  auto t = app::parse_target("/proxies/a%20b/delay?url=http%3A%2F%2Fx%2F&timeout=5000");
  ASSERT_TRUE(t.valid);
  ASSERT_EQ(t.segments.size(), 3u);
  EXPECT_EQ(t.segments[1], "a b");
  EXPECT_EQ(t.query["url"], "http://x/");
  EXPECT_EQ(t.query["timeout"], "5000");
  EXPECT_FALSE(app::parse_target("/proxies/%zz").valid);
  EXPECT_FALSE(app::parse_target("/proxies/%2").valid);
}

}  // namespace
}  // namespace anytls::integ
