#include "app/tools.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <charconv>
#include <functional>
#include <iostream>
#include <memory>
#include <vector>

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/experimental/awaitable_operators.hpp>
#include <asio/io_context.hpp>
#include <asio/posix/stream_descriptor.hpp>

#include "app/go_time.hpp"
#include "app/reload.hpp"
#include "net/clock_offset.hpp"
#include "net/coro.hpp"
#include "net/resolver.hpp"
#include "outbound/http_get.hpp"
#include "outbound/ntp_query.hpp"

namespace anytls::app {

namespace {

using namespace asio::experimental::awaitable_operators;

// What `tools fetch` keeps of one body (it is held whole before printing).
constexpr std::size_t kFetchMaxBytes = std::size_t{256} << 20;
constexpr auto kFetchTimeout = std::chrono::seconds(60);
constexpr auto kUdpLinger = std::chrono::seconds(1);
constexpr auto kSyncTimeout = std::chrono::seconds(10);

int tool_error(const std::string& text) {
  std::cerr << "error: " << text << "\n";
  return 1;
}

// The outbounds of `options`, running on one event loop for one tool.
struct ToolBox {
  asio::io_context io{1};
  std::shared_ptr<net::Resolver> resolver = std::make_shared<net::Resolver>();
  Components parts{io, resolver};
  int rc = 0;
  ~ToolBox() { resolver->stop(); }
};

using Tool = std::function<asio::awaitable<int>(outbound::Outbound&)>;

asio::awaitable<void> run_tool(ToolBox* box, outbound::Outbound* via, Tool tool) {
  auto running = tool(*via);
  box->rc = co_await std::move(running);
  box->parts.stop();
  box->resolver->stop();
  auto joining = box->parts.join();
  auto limit = net::sleep_for(std::chrono::seconds(2));
  (void)co_await (std::move(joining) || std::move(limit));
  box->io.stop();
}

int with_outbound(const config::Options& given, const std::string& tag, Tool tool) {
  config::Options options = given;
  options.inbounds.clear();  // sing-box's tools start no inbound either
  ToolBox box;
  if (auto failure = box.parts.start(options)) return tool_error(failure->message);
  outbound::Outbound* via = box.parts.outbound(tag.empty() ? box.parts.final_tag() : tag);
  if (!via) {
    box.parts.stop();
    return tool_error("outbound not found: " + tag);
  }
  asio::co_spawn(box.io, run_tool(&box, via, std::move(tool)), asio::detached);
  box.io.run();
  return box.rc;
}

// Standard output, written whole (a pipe may take less at a time).
bool write_stdout(const char* data, std::size_t n) {
  while (n > 0) {
    ssize_t w = ::write(STDOUT_FILENO, data, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return false;
    data += w;
    n -= static_cast<std::size_t>(w);
  }
  return true;
}

// "host:port", "[v6]:port" -> Address; port 0 when none.
net::Address parse_host_port(const std::string& text) {
  net::Address a;
  std::string port;
  if (!text.empty() && text.front() == '[') {
    auto close = text.find(']');
    a.host = text.substr(1, close == std::string::npos ? std::string::npos : close - 1);
    if (close != std::string::npos && close + 1 < text.size() && text[close + 1] == ':') port = text.substr(close + 2);
  } else if (auto colon = text.rfind(':'); colon != std::string::npos && text.find(':') == colon) {
    a.host = text.substr(0, colon);
    port = text.substr(colon + 1);
  } else {
    a.host = text;
  }
  unsigned p = 0;
  auto [ptr, ec] = std::from_chars(port.data(), port.data() + port.size(), p);
  if (!port.empty() && (ec != std::errc() || ptr != port.data() + port.size() || p > 65535)) a.port = 0;
  else a.port = static_cast<std::uint16_t>(p);
  return a;
}

// ---- fetch -----------------------------------------------------------------------

asio::awaitable<int> fetch_all(outbound::Outbound* via, std::vector<std::string> urls) {
  for (auto url : urls) {
    // sing-box: a URL without a scheme is http.
    if (url.find("://") == std::string::npos) url = "http://" + url;
    if (url.rfind("http://", 0) != 0 && url.rfind("https://", 0) != 0)
      co_return tool_error("unsupported scheme: " + url.substr(0, url.find("://")));
    outbound::HttpLimits limits;
    limits.timeout = kFetchTimeout;
    limits.who = "tools";
    limits.any_status = true;
    auto getting = outbound::http_get(*via, url, kFetchMaxBytes, limits);
    auto body = co_await std::move(getting);
    if (!body) co_return tool_error(body.error().text());
    if (!write_stdout(body->data(), body->size())) co_return tool_error("write to standard output failed");
  }
  co_return 0;
}

// ---- connect ---------------------------------------------------------------------

// Standard input as asio reads it: a pipe, a socket or a terminal through
// the event loop; a regular file (which epoll refuses) read directly.
class Stdin {
 public:
  explicit Stdin(asio::any_io_executor ex) : sd_(ex) {
    int fd = ::dup(STDIN_FILENO);
    std::error_code ec;
    if (fd >= 0) sd_.assign(fd, ec);
    if (fd < 0 || ec) {
      if (fd >= 0 && !sd_.is_open()) ::close(fd);
      direct_ = true;
    }
  }
  asio::awaitable<net::ReadResult> read_some(asio::mutable_buffer buf) {
    if (direct_) {
      ssize_t n = ::read(STDIN_FILENO, buf.data(), buf.size());
      if (n < 0) co_return net::ReadResult{std::error_code(errno, std::system_category()), 0};
      if (n == 0) co_return net::ReadResult{asio::error::eof, 0};
      co_return net::ReadResult{std::error_code{}, static_cast<std::size_t>(n)};
    }
    auto [ec, n] = co_await sd_.async_read_some(buf, net::use_tuple);
    co_return net::ReadResult{ec, n};
  }

 private:
  asio::posix::stream_descriptor sd_;
  bool direct_ = false;
};

// Standard input to the stream (conn) or, one datagram per read, to the
// flow (pc, towards dst), until its end or a write fails; true at the end.
asio::awaitable<bool> pump_stdin(net::Conn* conn, net::PacketConn* pc, net::Address dst) {
  Stdin in(co_await asio::this_coro::executor);
  std::vector<char> buf(pc ? 65507 : 16384);  // a datagram's most over IPv4
  const asio::mutable_buffer space = asio::buffer(buf);
  std::error_code ec, wec;
  while (!ec && !wec) {
    auto [rec, n] = co_await in.read_some(space);
    ec = rec;
    if (n == 0) continue;
    const asio::const_buffer data = asio::buffer(buf.data(), n);
    if (pc) wec = co_await pc->write_packet(data, dst);
    else wec = co_await conn->write(data);
  }
  co_return !wec;
}

asio::awaitable<void> stdin_to_conn(net::Conn* conn) {
  const net::Address unused;
  auto pumping = pump_stdin(conn, nullptr, unused);
  const bool ended = co_await std::move(pumping);
  if (!ended) co_return;
  conn->shutdown_write();
  // The remote's close ends the tool (conn_to_stdout).
  auto forever = net::sleep_for(std::chrono::hours(24 * 365));
  (void)co_await std::move(forever);
}

asio::awaitable<int> conn_to_stdout(net::Conn* conn) {
  std::array<char, 16384> buf;
  const asio::mutable_buffer space = asio::buffer(buf);
  for (;;) {
    auto [ec, n] = co_await conn->read_some(space);
    if (n > 0 && !write_stdout(buf.data(), n)) co_return tool_error("write to standard output failed");
    if (ec == asio::error::eof) co_return 0;
    if (ec) {
      std::string why = conn->failure();
      co_return tool_error("read: " + (why.empty() ? ec.message() : why));
    }
  }
}

outbound::Metadata tools_to(const net::Address& dst, outbound::Network network) {
  outbound::Metadata md;
  md.inbound = "tools";
  md.inbound_type = "tools";
  md.network = network;
  md.destination = dst;
  return md;
}

asio::awaitable<int> connect_tcp(outbound::Outbound* via, net::Address dst) {
  const outbound::Metadata md = tools_to(dst, outbound::Network::tcp);
  auto dialed = co_await via->dial(md);
  if (!dialed) co_return tool_error(dialed.error().text());
  std::unique_ptr<net::Conn> conn = std::move(*dialed);
  auto up = stdin_to_conn(conn.get());
  auto down = conn_to_stdout(conn.get());
  auto r = co_await (std::move(down) || std::move(up));
  conn->close();
  co_return r.index() == 0 ? std::get<0>(r) : 0;
}

// Datagrams to standard output until none came for kUdpLinger after
// standard input ended (`done`).
asio::awaitable<int> packets_to_stdout(net::PacketConn* conn, const bool* done) {
  std::array<char, 65536> buf;
  const asio::mutable_buffer space = asio::buffer(buf);
  net::Address from;
  std::string error;
  for (;;) {
    auto reading = conn->read_packet(space, from);
    auto quiet = net::sleep_for(kUdpLinger);
    auto r = co_await (std::move(reading) || std::move(quiet));
    if (r.index() == 1) {
      if (*done) break;
      continue;
    }
    const net::ReadResult got = std::get<0>(r);
    if (got.first) {
      error = "read: " + got.first.message();
      break;
    }
    if (!write_stdout(buf.data(), got.second)) {
      error = "write to standard output failed";
      break;
    }
  }
  co_return error.empty() ? 0 : tool_error(error);
}

asio::awaitable<void> send_then_mark(net::PacketConn* conn, net::Address dst, bool* done) {
  auto pumping = pump_stdin(nullptr, conn, std::move(dst));
  (void)co_await std::move(pumping);
  *done = true;
  auto forever = net::sleep_for(std::chrono::hours(24 * 365));
  (void)co_await std::move(forever);
}

asio::awaitable<int> connect_udp(outbound::Outbound* via, net::Address dst) {
  const outbound::Metadata md = tools_to(dst, outbound::Network::udp);
  auto pc = co_await via->listen_packet(md);
  if (!pc) co_return tool_error(pc.error().text());
  std::unique_ptr<net::PacketConn> conn = std::move(*pc);
  bool done = false;
  auto down = packets_to_stdout(conn.get(), &done);
  auto up = send_then_mark(conn.get(), dst, &done);
  auto r = co_await (std::move(down) || std::move(up));
  conn->close();
  co_return r.index() == 0 ? std::get<0>(r) : 0;
}

// ---- synctime --------------------------------------------------------------------

asio::awaitable<int> sync_time(outbound::Outbound* via, net::Address server, std::string layout) {
  auto asking = outbound::ntp_query(*via, server, kSyncTimeout);
  auto got = co_await std::move(asking);
  if (!got) co_return tool_error(got.error().text());
  const auto now = std::chrono::system_clock::now() +
                   std::chrono::duration_cast<std::chrono::system_clock::duration>(got->offset);
  const std::string text = format_go_time(now, layout);
  // As sing-box: no newline after the time.
  if (!write_stdout(text.data(), text.size())) co_return tool_error("write to standard output failed");
  co_return 0;
}

}  // namespace

int tools_fetch(const config::Options& options, const std::string& outbound, const std::vector<std::string>& urls) {
  return with_outbound(options, outbound, [urls](outbound::Outbound& via) { return fetch_all(&via, urls); });
}

int tools_connect(const config::Options& options, const std::string& outbound, const std::string& address,
                  const std::string& network) {
  net::Address dst = parse_host_port(address);
  if (dst.host.empty() || dst.port == 0) return tool_error("connect: expected HOST:PORT, got \"" + address + "\"");
  if (network != "tcp" && network != "udp") return tool_error("unknown network: " + network);
  if (network == "udp")
    return with_outbound(options, outbound, [dst](outbound::Outbound& via) { return connect_udp(&via, dst); });
  return with_outbound(options, outbound, [dst](outbound::Outbound& via) { return connect_tcp(&via, dst); });
}

int tools_synctime(const config::Options& options, const std::string& outbound, const std::string& server,
                   const std::string& layout) {
  net::Address addr = parse_host_port(server);
  if (addr.host.empty()) return tool_error("synctime: bad server \"" + server + "\"");
  if (addr.port == 0) addr.port = 123;
  return with_outbound(options, outbound,
                       [addr, layout](outbound::Outbound& via) { return sync_time(&via, addr, layout); });
}

}  // namespace anytls::app
