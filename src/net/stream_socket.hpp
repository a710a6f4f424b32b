// Opening a TCP socket or listener, Multipath TCP when asked (the
// tcp_multi_path field of outbounds and inbounds).
#pragma once
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <system_error>

#include <asio/ip/tcp.hpp>

#ifndef IPPROTO_MPTCP
#define IPPROTO_MPTCP 262
#endif

namespace anytls::net {

// s (an asio::ip::tcp::socket or acceptor) opened for ep's family: Multipath
// TCP when mptcp and the kernel offers it (it refuses with
// EPROTONOSUPPORT/ENOPROTOOPT/EINVAL when MPTCP is off or missing; then
// plain TCP, as Go does). An MPTCP listener also accepts plain TCP clients.
template <class Socket>
void open_stream_socket(Socket& s, const asio::ip::tcp::endpoint& ep, bool mptcp, std::error_code& ec) {
  if (mptcp) {
    int fd = ::socket(ep.address().is_v6() ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_CLOEXEC, IPPROTO_MPTCP);
    if (fd >= 0) {
      s.assign(ep.protocol(), fd, ec);
      if (!ec) return;
      ::close(fd);
    }
  }
  s.open(ep.protocol(), ec);
}

}  // namespace anytls::net
