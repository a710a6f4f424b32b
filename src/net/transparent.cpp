#include "net/transparent.hpp"

#include <linux/netfilter_ipv4.h>
#include <linux/netfilter_ipv6/ip6_tables.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include <asio/error.hpp>

#include "net/coro.hpp"
#include "net/listener.hpp"

#ifndef IP_RECVORIGDSTADDR
#define IP_RECVORIGDSTADDR 20
#endif
#ifndef IP_ORIGDSTADDR
#define IP_ORIGDSTADDR 20
#endif
#ifndef IPV6_RECVORIGDSTADDR
#define IPV6_RECVORIGDSTADDR 74
#endif
#ifndef IPV6_ORIGDSTADDR
#define IPV6_ORIGDSTADDR 74
#endif
#ifndef IPV6_TRANSPARENT
#define IPV6_TRANSPARENT 75
#endif

namespace anytls::net {

namespace {

asio::ip::address ip_of_sockaddr(const sockaddr_storage& ss, std::uint16_t& port) {
  if (ss.ss_family == AF_INET) {
    const auto* a = reinterpret_cast<const sockaddr_in*>(&ss);
    port = ntohs(a->sin_port);
    return asio::ip::address_v4(ntohl(a->sin_addr.s_addr));
  }
  const auto* a = reinterpret_cast<const sockaddr_in6*>(&ss);
  port = ntohs(a->sin6_port);
  asio::ip::address_v6::bytes_type bytes;
  std::memcpy(bytes.data(), &a->sin6_addr, bytes.size());
  return unmap(asio::ip::address_v6(bytes));
}

}  // namespace

std::error_code errno_code() { return {errno, asio::error::get_system_category()}; }

std::error_code set_socket_int(int fd, int level, int name, int value) {
  if (::setsockopt(fd, level, name, &value, sizeof value) != 0) return errno_code();
  return {};
}

std::error_code set_transparent(int fd, bool v6) {
  if (auto ec = set_socket_int(fd, SOL_IP, IP_TRANSPARENT, 1)) return ec;
  if (v6) return set_socket_int(fd, SOL_IPV6, IPV6_TRANSPARENT, 1);
  return {};
}

std::error_code set_receive_original_destination(int fd, bool v6) {
  if (auto ec = set_socket_int(fd, SOL_IP, IP_RECVORIGDSTADDR, 1)) return ec;
  if (v6) return set_socket_int(fd, SOL_IPV6, IPV6_RECVORIGDSTADDR, 1);
  return {};
}

std::error_code original_destination(asio::ip::tcp::socket& socket, asio::ip::tcp::endpoint& out) {
  std::error_code ec;
  const auto peer = socket.remote_endpoint(ec);
  if (ec) return ec;
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  const int fd = socket.native_handle();
  // The family of the connection, not of the socket: IPv4 on a dual-stack
  // listener is tracked by IPv4 conntrack.
  const bool v4 = unmap(peer.address()).is_v4();
  const int rc = v4 ? ::getsockopt(fd, SOL_IP, SO_ORIGINAL_DST, &ss, &len)
                    : ::getsockopt(fd, SOL_IPV6, IP6T_SO_ORIGINAL_DST, &ss, &len);
  if (rc != 0) return errno_code();
  std::uint16_t port = 0;
  auto ip = ip_of_sockaddr(ss, port);
  out = {ip, port};
  return {};
}

asio::awaitable<Received> receive_with_destination(asio::ip::udp::socket& socket, asio::mutable_buffer buf) {
  Received r;
  for (;;) {
    sockaddr_storage from{};
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(sockaddr_in6)) + CMSG_SPACE(sizeof(sockaddr_in))];
    iovec iov{buf.data(), buf.size()};
    msghdr msg{};
    msg.msg_name = &from;
    msg.msg_namelen = sizeof from;
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control;
    msg.msg_controllen = sizeof control;
    const ssize_t n = ::recvmsg(socket.native_handle(), &msg, MSG_DONTWAIT);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno != EAGAIN && errno != EWOULDBLOCK) {
        r.ec = errno_code();
        co_return r;
      }
      // Edge-triggered readiness: wait only after a read found nothing.
      auto [ec] = co_await socket.async_wait(asio::socket_base::wait_read, use_tuple);
      if (ec) {
        r.ec = ec;
        co_return r;
      }
      continue;
    }
    r.size = static_cast<std::size_t>(n);
    std::uint16_t port = 0;
    auto ip = ip_of_sockaddr(from, port);
    r.from = {ip, port};
    for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c)) {
      const bool v4 = c->cmsg_level == SOL_IP && c->cmsg_type == IP_ORIGDSTADDR;
      const bool v6 = c->cmsg_level == SOL_IPV6 && c->cmsg_type == IPV6_ORIGDSTADDR;
      if (!v4 && !v6) continue;
      sockaddr_storage to{};
      std::memcpy(&to, CMSG_DATA(c), std::min<std::size_t>(c->cmsg_len - CMSG_LEN(0), sizeof to));
      auto dip = ip_of_sockaddr(to, port);
      r.to = {dip, port};
    }
    co_return r;
  }
}

bool is_local_address(const asio::ip::address& ip) {
  if (ip.is_unspecified() || ip.is_loopback()) return true;
  sockaddr_storage ss{};
  socklen_t len = 0;
  if (ip.is_v4()) {
    auto* a = reinterpret_cast<sockaddr_in*>(&ss);
    a->sin_family = AF_INET;
    const auto bytes = ip.to_v4().to_bytes();
    std::memcpy(&a->sin_addr, bytes.data(), bytes.size());
    len = sizeof *a;
  } else {
    auto* a = reinterpret_cast<sockaddr_in6*>(&ss);
    a->sin6_family = AF_INET6;
    const auto bytes = ip.to_v6().to_bytes();
    std::memcpy(&a->sin6_addr, bytes.data(), bytes.size());
    a->sin6_scope_id = ip.to_v6().scope_id();
    len = sizeof *a;
  }
  const int fd = ::socket(ss.ss_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  const bool ok = ::bind(fd, reinterpret_cast<const sockaddr*>(&ss), len) == 0;
  ::close(fd);
  return ok;
}

std::error_code open_transparent_udp(asio::ip::udp::socket& socket, const asio::ip::udp::endpoint& local,
                                     std::uint32_t routing_mark) {
  std::error_code ec;
  socket.open(local.protocol(), ec);
  const int fd = ec ? -1 : socket.native_handle();
  if (!ec) ec = set_transparent(fd, local.address().is_v6());
  if (!ec) ec = set_socket_int(fd, SOL_SOCKET, SO_REUSEADDR, 1);
  if (!ec && routing_mark != 0) ec = set_socket_int(fd, SOL_SOCKET, SO_MARK, static_cast<int>(routing_mark));
  if (!ec) socket.bind(local, ec);
  if (ec) {
    std::error_code ignored;
    socket.close(ignored);
  }
  return ec;
}

}  // namespace anytls::net
