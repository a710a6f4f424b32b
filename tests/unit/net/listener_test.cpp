// net::Listener's socket options: tcp_multi_path (an MPTCP listener that
// plain TCP clients still reach).
#include "net/listener.hpp"

#include <netinet/in.h>
#include <sys/socket.h>

#include <fstream>

#include <gtest/gtest.h>

#include <asio/connect.hpp>

namespace anytls::net {
namespace {

#ifndef IPPROTO_MPTCP
#define IPPROTO_MPTCP 262
#endif

int socket_protocol(int fd) {
  int v = 0;
  socklen_t len = sizeof v;
  return ::getsockopt(fd, SOL_SOCKET, SO_PROTOCOL, &v, &len) == 0 ? v : -1;
}

bool mptcp_enabled() {
  std::ifstream f("/proc/sys/net/mptcp/enabled");
  int on = 0;
  return f >> on && on == 1;
}

TEST(Listener, TcpMultiPathListensWithMptcpAndTakesPlainTcp) {
  asio::io_context io;
  Listener l(io);
  ListenConfig c;
  c.listen = "127.0.0.1";
  c.tcp_multi_path = true;
  ASSERT_FALSE(l.open(c));
  const int proto = socket_protocol(l.acceptor().native_handle());
  if (mptcp_enabled()) EXPECT_EQ(proto, IPPROTO_MPTCP);
  else EXPECT_EQ(proto, IPPROTO_TCP);  // the kernel refused MPTCP: plain TCP, as Go does
  asio::ip::tcp::socket client(io);
  client.connect({asio::ip::make_address("127.0.0.1"), l.port()});
  auto accepted = l.acceptor().accept();
  EXPECT_TRUE(accepted.is_open());
  Listener plain(io);
  c.tcp_multi_path = false;
  ASSERT_FALSE(plain.open(c));
  EXPECT_EQ(socket_protocol(plain.acceptor().native_handle()), IPPROTO_TCP);
}

}  // namespace
}  // namespace anytls::net
