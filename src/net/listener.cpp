#include "net/listener.hpp"
#include "net/stream_socket.hpp"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <asio/error.hpp>
#include <spdlog/spdlog.h>

#include "net/coro.hpp"
#include "net/log_limit.hpp"
#include "net/transparent.hpp"

namespace anytls::net {

namespace {

// SO_BINDTODEVICE and SO_MARK, shared by TCP and UDP sockets.
std::error_code apply_device_and_mark(int fd, const ListenConfig& config) {
  if (!config.bind_interface.empty()) {
    if (::setsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, config.bind_interface.data(),
                     static_cast<socklen_t>(config.bind_interface.size())) != 0) {
      return errno_code();
    }
  }
  if (config.routing_mark != 0) {
    if (auto ec = set_socket_int(fd, SOL_SOCKET, SO_MARK, static_cast<int>(config.routing_mark))) return ec;
  }
  return {};
}

int seconds_at_least_one(std::chrono::nanoseconds d) {
  auto s = std::chrono::duration_cast<std::chrono::seconds>(d).count();
  return s < 1 ? 1 : static_cast<int>(s > 32767 ? 32767 : s);
}

}  // namespace

asio::ip::address unmap(const asio::ip::address& a) {
  if (a.is_v6() && a.to_v6().is_v4_mapped()) {
    return asio::ip::make_address_v4(asio::ip::v4_mapped, a.to_v6());
  }
  return a;
}

std::error_code Listener::open(const ListenConfig& config) {
  config_ = config;
  std::error_code ec;
  auto ip = asio::ip::make_address(config.listen, ec);
  if (ec) return asio::error::invalid_argument;
  asio::ip::tcp::endpoint ep(ip, config.listen_port);

  open_stream_socket(acceptor_, ep, config.tcp_multi_path, ec);
  if (ec) return ec;
  int fd = acceptor_.native_handle();
  auto fail = [this](std::error_code e) {
    std::error_code ignored;
    acceptor_.close(ignored);
    return e;
  };
  if (ip.is_v6() && ip.is_unspecified()) {
    acceptor_.set_option(asio::ip::v6_only(false), ec);
    if (ec) return fail(ec);
  }
  // Like Go's listeners: SO_REUSEADDR always, so a restart is not refused
  // while old connections sit in TIME_WAIT; reuse_addr adds SO_REUSEPORT.
  acceptor_.set_option(asio::socket_base::reuse_address(true), ec);
  if (ec) return fail(ec);
  if (config.reuse_addr && !config.claim_port) {
    if (auto e = set_socket_int(fd, SOL_SOCKET, SO_REUSEPORT, 1)) return fail(e);
  }
  if (auto e = apply_device_and_mark(fd, config)) return fail(e);
  if (config.transparent) {
    if (auto e = set_transparent(fd, ip.is_v6())) return fail(e);
  }
  acceptor_.bind(ep, ec);
  if (ec) return fail(ec);
  if (config.claim_port) {
    // The bind above had no SO_REUSEPORT, so the kernel checked that no
    // socket holds the address (a listener of another process, with or
    // without SO_REUSEPORT). Set now, before listen(): the kernel checks a
    // later bind against the flag as it is then, and listen() starts the
    // reuseport group the other shards join. No window: the address is ours
    // from the bind on, and a second `anytls run` doing the same bind fails
    // because ours is listening.
    if (auto e = set_socket_int(fd, SOL_SOCKET, SO_REUSEPORT, 1)) return fail(e);
  }
  if (config.tcp_fast_open) {
    // Queue length of pending TFO requests, as Go uses for listeners.
    if (auto e = set_socket_int(fd, IPPROTO_TCP, TCP_FASTOPEN, 256)) return fail(e);
  }
  acceptor_.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) return fail(ec);
  return {};
}

std::error_code apply_keep_alive(asio::ip::tcp::socket& socket, const ListenConfig& config) {
  int fd = socket.native_handle();
  if (config.disable_tcp_keep_alive) return set_socket_int(fd, SOL_SOCKET, SO_KEEPALIVE, 0);
  auto idle = config.tcp_keep_alive > std::chrono::nanoseconds::zero()
                  ? config.tcp_keep_alive
                  : std::chrono::nanoseconds(kDefaultKeepAliveIdle);
  auto interval = config.tcp_keep_alive_interval > std::chrono::nanoseconds::zero()
                      ? config.tcp_keep_alive_interval
                      : std::chrono::nanoseconds(kDefaultKeepAliveInterval);
  if (auto ec = set_socket_int(fd, SOL_SOCKET, SO_KEEPALIVE, 1)) return ec;
  if (auto ec = set_socket_int(fd, IPPROTO_TCP, TCP_KEEPIDLE, seconds_at_least_one(idle))) return ec;
  return set_socket_int(fd, IPPROTO_TCP, TCP_KEEPINTVL, seconds_at_least_one(interval));
}

asio::awaitable<std::pair<std::error_code, asio::ip::tcp::socket>> Listener::accept() {
  auto [ec, socket] = co_await acceptor_.async_accept(use_tuple);
  if (!ec) {
    // Go's default, which sing-box users get: no Nagle delay.
    std::error_code ignored;
    socket.set_option(asio::ip::tcp::no_delay(true), ignored);
    (void)apply_keep_alive(socket, config_);
  }
  co_return std::pair<std::error_code, asio::ip::tcp::socket>{ec, std::move(socket)};
}

void Listener::close() {
  std::error_code ec;
  acceptor_.close(ec);
}

asio::ip::tcp::endpoint Listener::local_endpoint() const {
  std::error_code ec;
  return acceptor_.local_endpoint(ec);
}

std::error_code open_udp(asio::ip::udp::socket& socket, const asio::ip::address& ip,
                         std::uint16_t port, const ListenConfig& config) {
  asio::ip::udp::endpoint ep(ip, port);
  std::error_code ec;
  socket.open(ep.protocol(), ec);
  if (ec) return ec;
  auto fail = [&socket](std::error_code e) {
    std::error_code ignored;
    socket.close(ignored);
    return e;
  };
  if (ip.is_v6() && ip.is_unspecified()) {
    socket.set_option(asio::ip::v6_only(false), ec);
    if (ec) return fail(ec);
  }
  if (auto e = apply_device_and_mark(socket.native_handle(), config)) return fail(e);
  if (config.transparent) {
    if (auto e = set_transparent(socket.native_handle(), ip.is_v6())) return fail(e);
    if (auto e = set_receive_original_destination(socket.native_handle(), ip.is_v6())) return fail(e);
  }
  socket.bind(ep, ec);
  if (ec) return fail(ec);
  return {};
}

asio::awaitable<void> accept_loop(Listener& listener, std::function<void(asio::ip::tcp::socket)> on_accept,
                                  std::string who) {
  for (;;) {
    auto [ec, socket] = co_await listener.accept();
    if (!listener.is_open() || ec == asio::error::operation_aborted || ec == asio::error::bad_descriptor) break;
    if (ec) {
      thread_local LogLimit limit;  // EMFILE can last: a line per 10 s, with a count
      if (auto more = limit.admit()) spdlog::warn("{}: accept: {}{}", who, ec.message(), *more);
      if (!co_await sleep_for(std::chrono::milliseconds(100))) break;
      continue;
    }
    on_accept(std::move(socket));
  }
}

}  // namespace anytls::net
