#include "http/server.hpp"

#include <asio/experimental/awaitable_operators.hpp>
#include <asio/write.hpp>
#include <spdlog/spdlog.h>

#include "net/conn.hpp"
#include "net/coro.hpp"
#include "net/socket_set.hpp"
#include "net/task_group.hpp"

namespace anytls::http {

using namespace asio::experimental::awaitable_operators;
using asio::ip::tcp;

struct ServerState {
  ServerState(asio::io_context& io, std::string n, ServerLimits l, Server::Handler h, Server::Refuse r)
      : name(std::move(n)),
        limits(l),
        handler(std::move(h)),
        refuse(std::move(r)),
        listener(io),
        tasks(io.get_executor(), name),
        conns(l.max_connections) {}
  std::string name;
  ServerLimits limits;
  Server::Handler handler;
  Server::Refuse refuse;
  net::Listener listener;
  net::TaskGroup tasks;  // the accept loop and every connection
  net::SocketSet conns;
  bool stopped = false;
};

namespace {

using StatePtr = std::shared_ptr<ServerState>;
using SocketPtr = std::shared_ptr<tcp::socket>;

net::Clock::time_point now() { return net::system_clock().now(); }

asio::awaitable<net::ReadResult> read_until(tcp::socket& s, asio::mutable_buffer buf, net::Clock::time_point due) {
  if (now() >= due) co_return net::ReadResult{asio::error::timed_out, 0};
  auto r = co_await (s.async_read_some(buf, net::use_tuple) || net::sleep_until(due));
  if (r.index() != 0) co_return net::ReadResult{asio::error::timed_out, 0};
  auto [ec, n] = std::get<0>(r);
  co_return net::ReadResult{ec, n};
}

asio::awaitable<std::error_code> write_within(tcp::socket& s, const std::string& bytes, net::Clock::duration limit) {
  auto r = co_await (asio::async_write(s, asio::buffer(bytes), net::use_tuple) || net::sleep_for(limit));
  if (r.index() != 0) co_return asio::error::timed_out;
  auto [ec, n] = std::get<0>(r);
  co_return ec;
}

// One request read from a connection: the request, or what the core
// refuses, or neither when the client went away or stayed silent.
struct Incoming {
  std::optional<IncomingRequest> request;
  std::optional<Refusal> refused;
};

// in: bytes read and not used yet (a pipelined request's start), kept
// across requests. first: the connection's first request (its time counts
// from the accept).
asio::awaitable<Incoming> read_request(StatePtr st, SocketPtr s, std::string& in, bool first) {
  const ServerLimits& lim = st->limits;
  std::array<char, 4096> buf;
  // Keep-alive: the next request may be a while; its time starts with its
  // first byte.
  bool awaiting_next = in.empty() && !first;
  auto due = now() + (awaiting_next ? lim.idle_timeout : lim.request_timeout);
  RequestHeadParser parser(lim.max_head);
  std::size_t used = 0;
  auto r = parser.feed(in, used);
  in.erase(0, used);
  Incoming out;
  while (r == RequestHeadParser::Result::need_more) {
    auto [ec, n] = co_await read_until(*s, asio::buffer(buf), due);
    if (ec || st->stopped) co_return out;
    if (awaiting_next) {
      awaiting_next = false;
      due = now() + lim.request_timeout;
    }
    const std::string_view got(buf.data(), n);
    r = parser.feed(got, used);
    in.assign(got.substr(std::min(used, n)));
  }
  if (r != RequestHeadParser::Result::done) {
    out.refused = r == RequestHeadParser::Result::too_large ? Refusal::head_too_large : Refusal::bad_request;
    co_return out;
  }
  IncomingRequest req;
  req.head = parser.take();
  if (req.head.chunked) {
    out.refused = Refusal::bad_framing;
    co_return out;
  }
  const std::uint64_t length = req.head.content_length.value_or(0);
  if (length > lim.max_body) {
    out.refused = Refusal::body_too_large;
    co_return out;
  }
  while (in.size() < length) {
    auto [ec, n] = co_await read_until(*s, asio::buffer(buf), due);
    if (ec || st->stopped) co_return out;
    in.append(buf.data(), n);
  }
  req.body = in.substr(0, length);
  in.erase(0, length);
  out.request = std::move(req);
  co_return out;
}

asio::awaitable<void> serve(StatePtr st, SocketPtr s) {
  std::string in;
  bool first = true, authorised = false;
  while (!st->stopped) {
    auto incoming = co_await read_request(st, s, in, first);
    first = false;
    if (incoming.refused) {
      Response refusal = st->refuse(*incoming.refused);
      refusal.close = true;
      const std::string bytes = serialize(refusal);
      (void)co_await write_within(*s, bytes, st->limits.write_timeout);
      break;
    }
    if (!incoming.request) break;
    IncomingRequest& req = *incoming.request;
    Connection c(st, s, req.head.keep_alive());
    auto response = co_await st->handler(req, c);
    authorised = authorised || c.is_authorised();
    bool keep = c.keep_alive();
    std::error_code ec;
    if (response) {
      response->close = response->close || !keep;
      keep = !response->close;
      const std::string bytes = serialize(*response, req.head.method == "HEAD");
      ec = co_await c.write(bytes);
    }
    if (ec || !keep) break;
    st->conns.mark(*s, authorised ? net::SocketSet::Use::idle : net::SocketSet::Use::pending);
  }
  std::error_code ig;
  s->shutdown(tcp::socket::shutdown_send, ig);
  s->close(ig);
}

void admit(const StatePtr& st, tcp::socket socket) {
  auto s = st->conns.admit(std::move(socket));
  if (!s) {
    spdlog::debug("{}: {} connections serving authorised requests, refusing another", st->name, st->conns.limit());
    return;
  }
  st->tasks.spawn(serve(st, s), st->name + " connection");
}

}  // namespace

void Connection::authorised() {
  authorised_ = true;
  st_->conns.mark(*socket_, net::SocketSet::Use::active);
}

asio::awaitable<std::error_code> Connection::write(const std::string& bytes) {
  return write_within(*socket_, bytes, st_->limits.write_timeout);
}

bool Connection::stopped() const { return st_->stopped; }

Server::Server(asio::io_context& io, std::string name, ServerLimits limits, Handler handler, Refuse refuse)
    : st_(std::make_shared<ServerState>(io, std::move(name), limits, std::move(handler), std::move(refuse))) {}

Server::~Server() { stop(); }

std::error_code Server::listen(const net::ListenConfig& config) {
  if (auto ec = st_->listener.open(config)) return ec;
  std::function<void(tcp::socket)> on_accept = [st = st_](tcp::socket socket) { admit(st, std::move(socket)); };
  st_->tasks.spawn(net::accept_loop(st_->listener, std::move(on_accept), st_->name), "accept loop");
  return {};
}

asio::ip::tcp::endpoint Server::local_endpoint() const { return st_->listener.local_endpoint(); }
std::uint16_t Server::port() const { return st_->listener.port(); }

void Server::stop() {
  if (st_->stopped) return;
  st_->stopped = true;
  st_->listener.close();
  st_->tasks.cancel();
  st_->conns.close_all();
}

asio::awaitable<void> Server::join() {
  auto st = st_;
  co_await st->tasks.join();
}

void Server::set_request_timeout(net::Clock::duration d) { st_->limits.request_timeout = d; }
std::size_t Server::evictions() const { return st_->conns.evictions(); }

}  // namespace anytls::http
