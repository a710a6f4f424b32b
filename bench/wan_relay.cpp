// A loopback TCP relay that behaves like a long path, for bench/latency.sh:
// the semantics of /work/shared/tools/wan_relay.py (every chunk delivered
// RTT/2 after it was read, in each direction, in order; nothing reaches the
// far side before the TCP handshake would have finished, RTT after the
// accept), with threads instead of one Python event loop, so that a burst of
// many connections on a busy machine is delayed by the path and not by the
// relay's own turn to run.
//
//   bench_relay LISTEN_PORT TARGET_PORT RTT_MS
//
// Per connection and direction one reader thread (stamps each chunk with its
// delivery time) and one writer thread (sleeps until then, then writes).
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "loopback.hpp"

namespace {

using Clock = std::chrono::steady_clock;

struct Chunk {
  Clock::time_point at;
  std::vector<char> data;  // empty: end of stream
};

// One direction of one connection.
struct Pipe {
  std::mutex mu;
  std::condition_variable cv;
  std::deque<Chunk> q;
};

// RELAY_TRACE=FILE: one line per chunk read and written (monotonic seconds,
// connection, direction, event, bytes), to see where a burst's time goes.
FILE* trace_file = nullptr;
std::mutex trace_mu;

void trace(int conn, const char* dir, const char* what, std::size_t n) {
  if (!trace_file) return;
  std::lock_guard lock(trace_mu);
  std::fprintf(trace_file, "%.6f c%d %s %s %zu\n",
               std::chrono::duration<double>(Clock::now().time_since_epoch()).count(), conn, dir, what, n);
  std::fflush(trace_file);
}

void read_side(int from, std::shared_ptr<Pipe> p, Clock::time_point start, Clock::duration rtt, int id,
               const char* dir) {
  std::vector<char> buf(65536);
  for (;;) {
    ssize_t n = recv(from, buf.data(), buf.size(), 0);
    Chunk c;
    c.at = std::max(Clock::now(), start + rtt) + rtt / 2;
    if (n > 0) c.data.assign(buf.data(), buf.data() + n);
    trace(id, dir, "in", n > 0 ? static_cast<std::size_t>(n) : 0);
    {
      std::lock_guard lock(p->mu);
      p->q.push_back(std::move(c));
    }
    p->cv.notify_one();
    if (n <= 0) return;
  }
}

void write_side(int to, std::shared_ptr<Pipe> p, int id, const char* dir) {
  for (;;) {
    Chunk c;
    {
      std::unique_lock lock(p->mu);
      p->cv.wait(lock, [&] { return !p->q.empty(); });
      c = std::move(p->q.front());
      p->q.pop_front();
    }
    std::this_thread::sleep_until(c.at);
    if (c.data.empty()) {
      shutdown(to, SHUT_WR);
      return;
    }
    trace(id, dir, "out", c.data.size());
    const char* b = c.data.data();
    std::size_t left = c.data.size();
    while (left > 0) {
      ssize_t k = send(to, b, left, MSG_NOSIGNAL);
      if (k <= 0) {
        shutdown(to, SHUT_RDWR);
        return;
      }
      b += k;
      left -= static_cast<std::size_t>(k);
    }
  }
}

void handle(int client, std::uint16_t target, Clock::duration rtt, int id) {
  const auto start = Clock::now();
  int server = anytls::bench::loopback_connect(target);
  if (server < 0) {
    close(client);
    return;
  }
  // No timeouts on the relayed sockets: an idle pooled session is quiet.
  timeval none{0, 0};
  setsockopt(server, SOL_SOCKET, SO_RCVTIMEO, &none, sizeof none);
  setsockopt(server, SOL_SOCKET, SO_SNDTIMEO, &none, sizeof none);
  int one = 1;
  setsockopt(client, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  auto up = std::make_shared<Pipe>();
  auto down = std::make_shared<Pipe>();
  std::thread t1(read_side, client, up, start, rtt, id, "up"), t2(write_side, server, up, id, "up");
  std::thread t3(read_side, server, down, start, rtt, id, "down"), t4(write_side, client, down, id, "down");
  t1.join();
  t2.join();
  t3.join();
  t4.join();
  close(client);
  close(server);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 4) {
    std::fprintf(stderr, "usage: bench_relay LISTEN_PORT TARGET_PORT RTT_MS\n");
    return 2;
  }
  signal(SIGPIPE, SIG_IGN);
  const auto listen_port = static_cast<std::uint16_t>(std::atoi(argv[1]));
  const auto target = static_cast<std::uint16_t>(std::atoi(argv[2]));
  const auto rtt = std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double, std::milli>(std::atof(argv[3])));
  auto port = listen_port;
  int fd = anytls::bench::loopback_listen(port);
  if (fd < 0) {
    std::perror("bench_relay: listen");
    return 1;
  }
  if (const char* t = std::getenv("RELAY_TRACE")) trace_file = std::fopen(t, "w");
  for (int id = 1;; ++id) {
    int c = accept4(fd, nullptr, nullptr, SOCK_CLOEXEC);
    if (c < 0) continue;
    trace(id, "conn", "accept", 0);
    std::thread(handle, c, target, rtt, id).detach();
  }
}
