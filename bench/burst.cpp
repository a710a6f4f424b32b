// Burst client for bench/latency.sh: a browser-like burst of parallel HTTP
// requests, one blocking socket and one thread per request (no event loop
// of its own to delay anything), all released at once.
//
//   bench_burst socks --proxy P --target T --n N [--rounds R] [--gap-ms G]
//       R bursts (G ms apart) of N requests, each on a new connection:
//       SOCKS5 (no auth, CONNECT 127.0.0.1:T, the way curl asks) then
//       "GET /"; TTFB from the burst's start to the response's first byte.
//   bench_burst plain --port P --n N [--rounds R] [--gap-ms G]
//       N keep-alive connections to P, established and used once first;
//       then R bursts in which each asks once: the ideal (no proxy).
//
// Prints one line per burst: the N TTFBs in microseconds. Only 127.0.0.1.
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include <sys/socket.h>
#include <unistd.h>

#include "loopback.hpp"

namespace {

using Clock = std::chrono::steady_clock;

[[noreturn]] void die(const char* what) {
  std::fprintf(stderr, "bench_burst: %s: %s\n", what, std::strerror(errno));
  std::exit(1);
}

int tcp_connect(std::uint16_t port) {
  int fd = anytls::bench::loopback_connect(port);
  if (fd < 0) die("connect");
  return fd;
}

void write_all(int fd, const void* p, std::size_t n) {
  auto* b = static_cast<const char*>(p);
  while (n > 0) {
    ssize_t k = send(fd, b, n, MSG_NOSIGNAL);
    if (k <= 0) die("send");
    b += k;
    n -= static_cast<std::size_t>(k);
  }
}

void read_exact(int fd, void* p, std::size_t n) {
  auto* b = static_cast<char*>(p);
  while (n > 0) {
    ssize_t k = recv(fd, b, n, 0);
    if (k <= 0) die("recv");
    b += k;
    n -= static_cast<std::size_t>(k);
  }
}

void socks5_connect(int fd, std::uint16_t target) {
  const unsigned char hello[] = {5, 1, 0};
  unsigned char r[10];
  write_all(fd, hello, sizeof hello);
  read_exact(fd, r, 2);
  const unsigned char req[] = {5, 1, 0, 1, 127, 0, 0, 1, static_cast<unsigned char>(target >> 8),
                               static_cast<unsigned char>(target)};
  write_all(fd, req, sizeof req);
  read_exact(fd, r, sizeof r);
  if (r[1] != 0) {
    errno = ECONNREFUSED;
    die("socks5 connect refused");
  }
}

// Sends one GET and reads its whole response (Content-Length); returns when
// its first byte arrived.
Clock::time_point get(int fd, bool keep_alive) {
  std::string req = std::string("GET /small HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: ") +
                    (keep_alive ? "keep-alive" : "close") + "\r\n\r\n";
  write_all(fd, req.data(), req.size());
  std::string got;
  char buf[16384];
  Clock::time_point first{};
  std::size_t want = std::string::npos;
  while (want == std::string::npos || got.size() < want) {
    ssize_t k = recv(fd, buf, sizeof buf, 0);
    if (k <= 0) die("recv response");
    if (got.empty()) first = Clock::now();
    got.append(buf, static_cast<std::size_t>(k));
    auto end = got.find("\r\n\r\n");
    if (want == std::string::npos && end != std::string::npos) {
      auto cl = got.find("Content-Length:");
      if (cl == std::string::npos || cl > end) die("response without Content-Length");
      want = end + 4 + std::strtoul(got.c_str() + cl + 15, nullptr, 10);
    }
  }
  return first;
}

struct Args {
  std::string mode;
  std::uint16_t port = 0, target = 0;
  int n = 1, rounds = 1, gap_ms = 500;
};

// Runs `rounds` bursts: job(i, start) for i in [0, n) on n threads released
// together; prints the TTFBs of each burst.
template <class Job>
void bursts(const Args& a, Job job) {
  for (int r = 0; r < a.rounds; ++r) {
    if (r > 0) std::this_thread::sleep_for(std::chrono::milliseconds(a.gap_ms));
    std::atomic<int> go{0};
    Clock::time_point start;
    std::vector<long> us(static_cast<std::size_t>(a.n));
    std::vector<std::thread> threads;
    for (int i = 0; i < a.n; ++i) {
      threads.emplace_back([&, i] {
        go.wait(0);
        us[static_cast<std::size_t>(i)] =
            std::chrono::duration_cast<std::chrono::microseconds>(job(i) - start).count();
      });
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));  // all parked
    start = Clock::now();
    // The start on CLOCK_MONOTONIC, for traces taken elsewhere.
    std::fprintf(stderr, "start %.6f\n", std::chrono::duration<double>(start.time_since_epoch()).count());
    go.store(1);
    go.notify_all();
    for (auto& t : threads) t.join();
    for (int i = 0; i < a.n; ++i) std::printf("%s%ld", i ? " " : "", us[static_cast<std::size_t>(i)]);
    std::printf("\n");
    std::fflush(stdout);
  }
}

}  // namespace

int main(int argc, char** argv) {
  Args a;
  if (argc < 2) {
    std::fprintf(stderr, "usage: bench_burst socks|plain ...\n");
    return 2;
  }
  a.mode = argv[1];
  for (int i = 2; i + 1 < argc; i += 2) {
    std::string k = argv[i];
    int v = std::atoi(argv[i + 1]);
    if (k == "--proxy" || k == "--port")
      a.port = static_cast<std::uint16_t>(v);
    else if (k == "--target")
      a.target = static_cast<std::uint16_t>(v);
    else if (k == "--n")
      a.n = v;
    else if (k == "--rounds")
      a.rounds = v;
    else if (k == "--gap-ms")
      a.gap_ms = v;
    else {
      std::fprintf(stderr, "bench_burst: unknown argument %s\n", k.c_str());
      return 2;
    }
  }
  if (a.mode == "socks") {
    bursts(a, [&](int) {
      int fd = tcp_connect(a.port);
      socks5_connect(fd, a.target);
      auto t = get(fd, false);
      close(fd);
      return t;
    });
  } else if (a.mode == "plain") {
    std::vector<int> fds;
    for (int i = 0; i < a.n; ++i) {
      fds.push_back(tcp_connect(a.port));
      get(fds.back(), true);  // pays the path's TCP handshake, not counted
    }
    bursts(a, [&](int i) { return get(fds[static_cast<std::size_t>(i)], true); });
    for (int fd : fds) close(fd);
  } else {
    std::fprintf(stderr, "bench_burst: unknown mode %s\n", a.mode.c_str());
    return 2;
  }
  return 0;
}
