// A TCP acceptor opened from the Listen fields of an inbound, plus the UDP
// socket helper the SOCKS5 UDP ASSOCIATE uses. Used by every inbound.
#pragma once
#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <system_error>
#include <utility>

#include <asio/awaitable.hpp>
#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/ip/udp.hpp>

namespace anytls::net {

// The Listen fields (config.md), already decoded.
struct ListenConfig {
  std::string listen = "127.0.0.1";  // IP literal: "::", "0.0.0.0", "127.0.0.1", "::1", ...
  std::uint16_t listen_port = 0;     // 0: the kernel picks (tests)
  bool tcp_fast_open = false;
  bool tcp_multi_path = false;       // an MPTCP listener (plain TCP when the kernel refuses)
  bool reuse_addr = false;
  // Not a config key: set on the first shard of an inbound that runs one
  // listener per worker (inbound/sharded.hpp). The address is bound without
  // SO_REUSEPORT, so it is refused (address_in_use) if any socket holds it,
  // another process's SO_REUSEPORT group included; SO_REUSEPORT is set after
  // the bind, before listen(), so this process's other shards join it.
  bool claim_port = false;
  // Not a config key: a tproxy inbound's sockets (net/transparent.hpp):
  // IP_TRANSPARENT on the listener, and on a UDP socket also the original
  // destination of each datagram. EPERM without CAP_NET_ADMIN.
  bool transparent = false;
  std::string bind_interface;        // SO_BINDTODEVICE; empty: none
  std::uint32_t routing_mark = 0;    // SO_MARK; 0: none
  // Accepted sockets get TCP_NODELAY (as in Go) and keep-alive. Zero durations mean the sing-box
  // defaults (5m idle, 75s interval).
  std::chrono::nanoseconds tcp_keep_alive{0};
  std::chrono::nanoseconds tcp_keep_alive_interval{0};
  bool disable_tcp_keep_alive = false;
};

inline constexpr std::chrono::seconds kDefaultKeepAliveIdle{300};
inline constexpr std::chrono::seconds kDefaultKeepAliveInterval{75};

// A ListenConfig from any struct with the Listen field names
// (config::ListenOptions), without net/ depending on config/.
template <class Options>
ListenConfig to_listen_config(const Options& o) {
  ListenConfig c;
  c.listen = o.listen;
  c.listen_port = o.listen_port;
  c.tcp_fast_open = o.tcp_fast_open;
  c.tcp_multi_path = o.tcp_multi_path;
  c.reuse_addr = o.reuse_addr;
  c.claim_port = o.claim_port;
  c.bind_interface = o.bind_interface;
  c.routing_mark = o.routing_mark;
  c.tcp_keep_alive = std::chrono::duration_cast<std::chrono::nanoseconds>(o.tcp_keep_alive);
  c.tcp_keep_alive_interval = std::chrono::duration_cast<std::chrono::nanoseconds>(o.tcp_keep_alive_interval);
  c.disable_tcp_keep_alive = o.disable_tcp_keep_alive;
  return c;
}

class Listener {
 public:
  explicit Listener(asio::io_context& io) : acceptor_(io) {}

  // Parses the address, opens, applies the socket options, binds and
  // listens. "::" listens dual-stack. Errors: asio::error::invalid_argument
  // for a bad address, else what the kernel said (address_in_use, EPERM for
  // SO_BINDTODEVICE / SO_MARK without CAP_NET_ADMIN, ...).
  std::error_code open(const ListenConfig& config);
  // Same, from config::ListenOptions (or anything with those field names).
  template <class Options>
  std::error_code open(const Options& options) {
    return open(to_listen_config(options));
  }

  // One accepted connection, keep-alive applied (errors setting keep-alive
  // are ignored, as Go does). operation_aborted after close().
  asio::awaitable<std::pair<std::error_code, asio::ip::tcp::socket>> accept();

  void close();
  bool is_open() const { return acceptor_.is_open(); }
  asio::ip::tcp::endpoint local_endpoint() const;
  std::uint16_t port() const { return local_endpoint().port(); }
  const ListenConfig& config() const { return config_; }
  asio::ip::tcp::acceptor& acceptor() { return acceptor_; }

 private:
  asio::ip::tcp::acceptor acceptor_;
  ListenConfig config_;
};

// Accepts until the listener is closed and hands each connection to
// on_accept. Errors such as running out of file descriptors are logged
// (naming `who`) and retried after a short pause instead of spinning.
asio::awaitable<void> accept_loop(Listener& listener, std::function<void(asio::ip::tcp::socket)> on_accept,
                                  std::string who);

// Applies the keep-alive fields of config to a connected socket.
std::error_code apply_keep_alive(asio::ip::tcp::socket& socket, const ListenConfig& config);

// Opens a UDP socket bound to ip:port with the bind_interface / routing_mark
// (and transparent) of config. An unspecified IPv6 address is bound
// dual-stack.
std::error_code open_udp(asio::ip::udp::socket& socket, const asio::ip::address& ip,
                         std::uint16_t port, const ListenConfig& config);

// ::ffff:a.b.c.d -> a.b.c.d; other addresses unchanged.
asio::ip::address unmap(const asio::ip::address& a);

}  // namespace anytls::net
