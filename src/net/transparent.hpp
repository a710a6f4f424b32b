// The socket options of a transparent proxy on Linux (the redirect and
// tproxy inbounds): where a redirected TCP connection was going
// (SO_ORIGINAL_DST), where an intercepted datagram was going
// (IP_RECVORIGDSTADDR), and sockets that bind to and send from addresses
// that are not ours (IP_TRANSPARENT: CAP_NET_ADMIN, EPERM without).
#pragma once
#include <cstddef>
#include <system_error>

#include <asio/awaitable.hpp>
#include <asio/buffer.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/ip/udp.hpp>

namespace anytls::net {

// errno as an error_code; setsockopt() of an int.
std::error_code errno_code();
std::error_code set_socket_int(int fd, int level, int name, int value);

// IP_TRANSPARENT, and IPV6_TRANSPARENT on an IPv6 socket (which may carry
// IPv4 too: both are set).
std::error_code set_transparent(int fd, bool v6);

// Asks the kernel for each datagram's original destination
// (IP_RECVORIGDSTADDR, and IPV6_RECVORIGDSTADDR on an IPv6 socket).
std::error_code set_receive_original_destination(int fd, bool v6);

// Where a connection a netfilter `redirect` (or DNAT) rule sent to us was
// going: SO_ORIGINAL_DST for IPv4 peers (a dual-stack socket's mapped ones
// included), IP6T_SO_ORIGINAL_DST for IPv6. ENOENT when the connection was
// not translated (no conntrack entry).
std::error_code original_destination(asio::ip::tcp::socket& socket, asio::ip::tcp::endpoint& out);

// One datagram from a socket set up with set_receive_original_destination():
// its source, the destination it was sent to (`to`; unspecified when the
// kernel gave none) and its length. Addresses are unmapped (IPv4 as IPv4).
// A datagram larger than buf is truncated.
struct Received {
  std::error_code ec;
  std::size_t size = 0;
  asio::ip::udp::endpoint from;
  asio::ip::udp::endpoint to;
};
asio::awaitable<Received> receive_with_destination(asio::ip::udp::socket& socket, asio::mutable_buffer buf);

// Whether ip is one of this host's (this namespace's) addresses: a bind
// without IP_TRANSPARENT succeeds. For telling a connection sent to the
// listener itself from one a tproxy rule intercepted on its way elsewhere.
bool is_local_address(const asio::ip::address& ip);

// A UDP socket bound to `local`, which need not be one of our addresses
// (IP_TRANSPARENT, SO_REUSEADDR: one per client of the same destination):
// what a tproxy reply is sent from, so that it comes from the address the
// client sent to. routing_mark: SO_MARK when non-zero.
std::error_code open_transparent_udp(asio::ip::udp::socket& socket, const asio::ip::udp::endpoint& local,
                                     std::uint32_t routing_mark);

}  // namespace anytls::net
