// End-to-end benchmark driver for anytls-cpp (see bench/README.md).
//
//   bench_driver run   --anytls BIN --cert CRT --key KEY --out DIR [--quick]
//   bench_driver load  --anytls BIN --cert CRT --key KEY --out DIR
//                      [--what download|upload|download16|streams|ttfb] [--seconds S]
//                      (one load, pids printed first: bench/profile.sh)
//   bench_driver serve --cert CRT --key KEY        (internal: the sink/source)
//
// `run` starts, as separate processes: the sink/source (`serve`, which also
// is the plain TLS and plain TCP reference server), the anytls server
// (anytls inbound + direct), anytls clients (mixed inbound + anytls outbound)
// and a plain SOCKS relay (mixed inbound + direct). It speaks SOCKS5 to the
// mixed inbounds with blocking sockets, measures, and prints a markdown
// table. Only 127.0.0.1 is ever used; every phase is bounded in time and
// count, and an alarm ends the whole run if something hangs.
//
// Sink/source protocol (the same over plain TCP and over TLS): the client
// sends op (1 byte) + n (u64 little endian), then
//   'D' the server sends n bytes (then closes);
//   'U' the client sends blocks of n bytes, the first byte of each 0, of the
//       last 1; the server reads them and answers the count (u64 LE) (no
//       half-close: an AnyTLS stream has none, its FIN is a full close);
//   'P' the server sends n bytes, the client closes (a small request/response);
//   'H' the server sends n bytes, reads n bytes, then waits for EOF (a stream
//       that carried data both ways and now sits idle mid-transfer).
#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cinttypes>
#include <csignal>
#include <cstdarg>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include "loopback.hpp"

namespace {

using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

[[noreturn]] void die(const char* fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  std::fprintf(stderr, "bench_driver: ");
  std::vfprintf(stderr, fmt, ap);
  std::fprintf(stderr, "\n");
  va_end(ap);
  std::exit(1);
}

std::string strf(const char* fmt, ...) {
  char buf[1024];
  va_list ap;
  va_start(ap, fmt);
  std::vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  return buf;
}

constexpr std::size_t kUploadBlock = 64 * 1024;

double secs(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

double thread_cpu() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

// ------------------------------------------------------------------ /proc

double proc_cpu(pid_t pid) {  // utime + stime, seconds
  std::ifstream f("/proc/" + std::to_string(pid) + "/stat");
  std::string s((std::istreambuf_iterator<char>(f)), {});
  auto p = s.rfind(')');
  if (p == std::string::npos) return 0;
  std::istringstream in(s.substr(p + 2));
  std::string tok;
  unsigned long long ut = 0, st = 0;
  for (int field = 3; in >> tok; ++field) {
    if (field == 14) ut = std::stoull(tok);
    if (field == 15) {
      st = std::stoull(tok);
      break;
    }
  }
  return double(ut + st) / double(sysconf(_SC_CLK_TCK));
}

long rss_kib(pid_t pid) {
  std::ifstream f(pid == 0 ? std::string("/proc/self/status") : "/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(f, line))
    if (line.rfind("VmRSS:", 0) == 0) return std::atol(line.c_str() + 6);
  return 0;
}

// Waits until the RSS of pid stops moving (same value for `still`), at most
// `limit`; returns it.
long settled_rss(pid_t pid, Clock::duration still = 400ms, Clock::duration limit = 4s) {
  auto end = Clock::now() + limit;
  long last = rss_kib(pid);
  auto since = Clock::now();
  while (Clock::now() < end) {
    std::this_thread::sleep_for(50ms);
    long now = rss_kib(pid);
    if (now != last) {
      last = now;
      since = Clock::now();
    } else if (Clock::now() - since >= still) {
      break;
    }
  }
  return last;
}

// Counts IPv4 TCP sockets in `state` (hex: 01 established, 0A listen) whose
// local (or remote) port is `port`.
int count_tcp(std::uint16_t port, bool remote, unsigned state) {
  std::ifstream f("/proc/net/tcp");
  std::string line;
  std::getline(f, line);
  int n = 0;
  while (std::getline(f, line)) {
    unsigned la, lp, ra, rp, st;
    if (std::sscanf(line.c_str(), " %*d: %8x:%4x %8x:%4x %2x", &la, &lp, &ra, &rp, &st) != 5) continue;
    if (st == state && (remote ? rp : lp) == port) ++n;
  }
  return n;
}

bool wait_until(const std::function<bool()>& cond, Clock::duration limit, Clock::duration step = 1ms) {
  auto end = Clock::now() + limit;
  while (!cond()) {
    if (Clock::now() >= end) return false;
    std::this_thread::sleep_for(step);
  }
  return true;
}

// ------------------------------------------------------------------ processes

std::vector<pid_t> g_children;

pid_t spawn(const std::vector<std::string>& argv, const std::string& log, int* stdout_fd = nullptr) {
  int pfd[2] = {-1, -1};
  if (stdout_fd && pipe(pfd) != 0) die("pipe: %s", std::strerror(errno));
  pid_t pid = fork();
  if (pid < 0) die("fork: %s", std::strerror(errno));
  if (pid == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    int lfd = open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (lfd >= 0) {
      dup2(lfd, 2);
      dup2(lfd, 1);
    }
    if (stdout_fd) {
      dup2(pfd[1], 1);
      close(pfd[0]);
    }
    std::vector<char*> args;
    for (auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    execv(args[0], args.data());
    _exit(127);
  }
  if (stdout_fd) {
    close(pfd[1]);
    *stdout_fd = pfd[0];
  }
  g_children.push_back(pid);
  return pid;
}

void stop_child(pid_t pid) {
  if (pid <= 0) return;
  kill(pid, SIGTERM);
  auto end = Clock::now() + 5s;
  int status = 0;
  while (waitpid(pid, &status, WNOHANG) == 0) {
    if (Clock::now() > end) {
      kill(pid, SIGKILL);
      waitpid(pid, &status, 0);
      break;
    }
    std::this_thread::sleep_for(2ms);
  }
  g_children.erase(std::remove(g_children.begin(), g_children.end(), pid), g_children.end());
}

void kill_all_children() {
  for (pid_t p : g_children) kill(p, SIGKILL);
}

void on_alarm(int) {
  const char msg[] = "bench_driver: time limit reached, stopping\n";
  (void)!write(2, msg, sizeof msg - 1);
  kill_all_children();
  _exit(3);
}

bool alive(pid_t pid) { return waitpid(pid, nullptr, WNOHANG) == 0; }

// ------------------------------------------------------------------ sockets

std::uint16_t free_port() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) die("bind: %s", std::strerror(errno));
  socklen_t len = sizeof a;
  getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  close(fd);
  return ntohs(a.sin_port);
}

int tcp_connect(std::uint16_t port) { return anytls::bench::loopback_connect(port); }

int tcp_listen(std::uint16_t& port) {
  int fd = anytls::bench::loopback_listen(port);
  if (fd < 0) die("listen: %s", std::strerror(errno));
  return fd;
}

// A byte stream: a plain socket or OpenSSL on the socket's descriptor.
struct Chan {
  int fd = -1;
  SSL* ssl = nullptr;

  explicit operator bool() const { return fd >= 0; }
  // >0 bytes, 0 EOF, <0 error.
  long rd(void* p, std::size_t n) {
    if (!ssl) {
      for (;;) {
        ssize_t r = ::recv(fd, p, n, 0);
        if (r < 0 && errno == EINTR) continue;
        return r;
      }
    }
    int r = SSL_read(ssl, p, int(std::min<std::size_t>(n, 1 << 30)));
    if (r > 0) return r;
    int e = SSL_get_error(ssl, r);
    if (e == SSL_ERROR_ZERO_RETURN) return 0;
    if (e == SSL_ERROR_SYSCALL && ERR_peek_error() == 0 && r == 0) return 0;
    ERR_clear_error();
    return -1;
  }
  bool rd_all(void* p, std::size_t n) {
    auto* b = static_cast<char*>(p);
    while (n > 0) {
      long r = rd(b, n);
      if (r <= 0) return false;
      b += r;
      n -= std::size_t(r);
    }
    return true;
  }
  bool wr_all(const void* p, std::size_t n) {
    auto* b = static_cast<const char*>(p);
    while (n > 0) {
      long r;
      if (ssl) {
        r = SSL_write(ssl, b, int(std::min<std::size_t>(n, 1 << 30)));
        if (r <= 0) {
          ERR_clear_error();
          return false;
        }
      } else {
        r = ::send(fd, b, n, MSG_NOSIGNAL);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) return false;
      }
      b += r;
      n -= std::size_t(r);
    }
    return true;
  }
  void shut_wr() {
    if (ssl)
      SSL_shutdown(ssl);
    else
      ::shutdown(fd, SHUT_WR);
  }
  void drain() {  // reads until EOF or error
    char buf[4096];
    while (rd(buf, sizeof buf) > 0) {
    }
  }
  void close() {
    if (ssl) {
      SSL_free(ssl);
      ssl = nullptr;
    }
    if (fd >= 0) ::close(fd);
    fd = -1;
  }
};

bool send_req(Chan& c, char op, std::uint64_t n) {
  unsigned char b[9];
  b[0] = static_cast<unsigned char>(op);
  for (int i = 0; i < 8; ++i) b[1 + i] = static_cast<unsigned char>(n >> (8 * i));
  return c.wr_all(b, sizeof b);
}

// SOCKS5, no auth, CONNECT 127.0.0.1:port; the way curl does it (the
// request after the method reply).
bool socks5_connect(int fd, std::uint16_t port) {
  Chan c{fd};
  const unsigned char hello[] = {5, 1, 0};
  unsigned char r[10];
  if (!c.wr_all(hello, 3) || !c.rd_all(r, 2) || r[0] != 5 || r[1] != 0) return false;
  const unsigned char req[] = {5, 1, 0, 1, 127, 0, 0, 1, static_cast<unsigned char>(port >> 8),
                               static_cast<unsigned char>(port)};
  if (!c.wr_all(req, sizeof req) || !c.rd_all(r, 10) || r[1] != 0) return false;
  return true;
}

std::vector<char> make_payload() {
  std::vector<char> v(256 * 1024);
  std::uint64_t x = 0x9E3779B97F4A7C15ull;
  for (auto& c : v) {
    x ^= x << 13, x ^= x >> 7, x ^= x << 17;
    c = static_cast<char>(x);
  }
  return v;
}

// ------------------------------------------------------------------ serve

void serve_conn(Chan c, const std::vector<char>* payload) {
  unsigned char h[9];
  if (c.rd_all(h, 9)) {
    std::uint64_t n = 0;
    for (int i = 0; i < 8; ++i) n |= std::uint64_t(h[1 + i]) << (8 * i);
    auto send_n = [&](std::uint64_t left) {
      const std::size_t chunk = 64 * 1024;
      std::size_t off = 0;
      while (left > 0) {
        std::size_t k = std::min<std::uint64_t>(left, chunk);
        if (!c.wr_all(payload->data() + off, k)) return false;
        off = (off + k) % (payload->size() - chunk);
        left -= k;
      }
      return true;
    };
    std::vector<char> buf(64 * 1024);
    switch (h[0]) {
      case 'D':
        send_n(n);
        c.shut_wr();
        break;
      case 'P':
        // The client closes first, so TIME_WAIT stays on connecting sides,
        // which loopback reuses (tcp_tw_reuse): thousands of connections a
        // second would otherwise run the sink out of 4-tuples.
        if (send_n(n)) c.drain();
        break;
      case 'U': {
        // n = block size; the first byte of each block says 0 more, 1 last
        // (in-band, since an AnyTLS stream has no half-close).
        if (n == 0 || n > buf.size()) break;
        std::uint64_t total = 0;
        while (c.rd_all(buf.data(), n)) {
          total += n;
          if (buf[0] != 1) continue;
          unsigned char b[8];
          for (int i = 0; i < 8; ++i) b[i] = static_cast<unsigned char>(total >> (8 * i));
          c.wr_all(b, 8);
          c.shut_wr();
          break;
        }
        break;
      }
      case 'H': {
        if (!send_n(n)) break;
        std::vector<char> got(n);
        if (!c.rd_all(got.data(), n)) break;
        c.drain();
        break;
      }
      default:
        break;
    }
  }
  c.close();
}

SSL_CTX* server_ctx(const std::string& cert, const std::string& key) {
  SSL_CTX* ctx = SSL_CTX_new(TLS_server_method());
  if (!ctx || SSL_CTX_use_certificate_chain_file(ctx, cert.c_str()) != 1 ||
      SSL_CTX_use_PrivateKey_file(ctx, key.c_str(), SSL_FILETYPE_PEM) != 1)
    die("server TLS context: %s", ERR_error_string(ERR_get_error(), nullptr));
  SSL_CTX_set_options(ctx, SSL_OP_IGNORE_UNEXPECTED_EOF);
  return ctx;
}

int cmd_serve(const std::string& cert, const std::string& key) {
  signal(SIGPIPE, SIG_IGN);
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  static const auto payload = make_payload();
  SSL_CTX* ctx = server_ctx(cert, key);
  std::uint16_t tcp_port = 0, tls_port = 0;
  int tfd = tcp_listen(tcp_port), sfd = tcp_listen(tls_port);
  std::printf("%u %u\n", tcp_port, tls_port);
  std::fflush(stdout);
  auto accept_loop = [&](int lfd, bool tls) {
    for (;;) {
      int fd = accept4(lfd, nullptr, nullptr, SOCK_CLOEXEC);
      if (fd < 0) {
        if (errno == EINTR || errno == ECONNABORTED || errno == EMFILE) continue;
        return;
      }
      int one = 1;
      setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
      std::thread([fd, tls, ctx] {
        Chan c{fd};
        if (tls) {
          c.ssl = SSL_new(ctx);
          SSL_set_fd(c.ssl, fd);
          if (SSL_accept(c.ssl) != 1) {
            ERR_clear_error();
            c.close();
            return;
          }
        }
        serve_conn(c, &payload);
      }).detach();
    }
  };
  std::thread t([&] { accept_loop(sfd, true); });
  accept_loop(tfd, false);
  t.join();
  return 0;
}

// ------------------------------------------------------------------ statistics

struct Dist {
  std::vector<double> v;  // microseconds
  double pct(double p) const {
    if (v.empty()) return 0;
    auto s = v;
    std::sort(s.begin(), s.end());
    std::size_t i = std::min(s.size() - 1, std::size_t(p / 100.0 * double(s.size() - 1) + 0.5));
    return s[i];
  }
  double median() const { return pct(50); }
  double p99() const { return pct(99); }
};

struct Xfer {
  double mbps = 0;                  // 10^6 B/s
  double bytes = 0;
  double client_cpu = 0, server_cpu = 0;  // seconds during the transfer
  int failures = 0;
  double client_s_per_gb() const { return bytes > 0 ? client_cpu / (bytes / 1e9) : 0; }
  double server_s_per_gb() const { return bytes > 0 ? server_cpu / (bytes / 1e9) : 0; }
};

// ------------------------------------------------------------------ the run

struct Config {
  std::string anytls, cert, key, out;
  bool quick = false;
  // load: > 0 turns experimental.metrics on in the client and the server
  // and scrapes both every this many seconds during the load.
  double metrics_scrape = 0;
};

class Bench {
 public:
  explicit Bench(Config cfg) : cfg_(std::move(cfg)) {}
  int run();
  // One load for `seconds` through a fresh server + client, printing their
  // pids first ("client <pid> server <pid>") so that a profiler can attach
  // (bench/profile.sh).
  int load(const std::string& what, double seconds);
  void setup();

 private:
  enum class Path { anytls, relay, tls, tcp };

  // processes
  void start_serve();
  pid_t start_server();
  pid_t start_client(const std::string& name, const std::string& pool_json, std::uint16_t port);
  pid_t start_relay();
  // Whether this anytls build can send Chrome's ClientHello (tls.utls).
  bool utls_available();
  std::string write_config(const std::string& name, const std::string& json);

  Chan open(Path p);
  Xfer bulk(Path p, int streams, bool download, double seconds, pid_t client_pid, pid_t server_pid);
  Dist ttfb(Path p, int n, const std::function<void()>& before_each = {});
  double conn_rate(Path p, int workers, double seconds, int* failures);
  long hold(Path p, int n, std::uint64_t bytes, std::vector<Chan>& held);

  void note(const std::string& s) {
    std::fprintf(stderr, "[bench] %s\n", s.c_str());
    notes_.push_back(s);
  }
  void progress(const std::string& s) { std::fprintf(stderr, "[bench] %s\n", s.c_str()); }

  Config cfg_;
  std::string work_;
  pid_t serve_pid_ = 0;
  std::uint16_t sink_port_ = 0, tls_port_ = 0;
  std::uint16_t server_port_ = 0;
  std::uint16_t client_port_ = 0;  // mixed inbound of the current anytls client
  std::uint16_t relay_port_ = 0;
  SSL_CTX* cctx_ = nullptr;
  std::vector<std::string> notes_;
  int cfg_seq_ = 0;
  std::string load_at_start_ = "?";
  std::string tls_cipher_ = "?";
  std::string last_config_;
  // --workers for the anytls processes started next (0: the default, one per CPU).
  int workers_ = 0;
  std::vector<std::string> run_argv(const std::string& path) const {
    std::vector<std::string> a{cfg_.anytls, "run", "-c", path};
    if (workers_ > 0) {
      a.push_back("--workers");
      a.push_back(std::to_string(workers_));
    }
    return a;
  }
  bool client_utls_ = false;  // start_client: tls.utls on (Chrome's ClientHello)
  std::uint16_t client_metrics_ = 0, server_metrics_ = 0;
  std::string metrics_json(std::uint16_t& port) {
    if (cfg_.metrics_scrape <= 0) return "";
    port = free_port();
    return strf(R"("experimental": {"metrics": {"listen": "127.0.0.1:%u"}},)", port);
  }
};

// GET /metrics from 127.0.0.1:port; returns the bytes received (0: failed).
std::size_t scrape_metrics(std::uint16_t port) {
  int fd = tcp_connect(port);
  if (fd < 0) return 0;
  const char req[] = "GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
  if (::send(fd, req, sizeof req - 1, MSG_NOSIGNAL) != ssize_t(sizeof req - 1)) {
    close(fd);
    return 0;
  }
  std::size_t got = 0;
  char buf[16384];
  for (;;) {
    ssize_t r = ::recv(fd, buf, sizeof buf, 0);
    if (r <= 0) break;
    got += std::size_t(r);
  }
  close(fd);
  return got;
}

std::string Bench::write_config(const std::string& name, const std::string& json) {
  std::string path = work_ + "/" + name + "-" + std::to_string(++cfg_seq_) + ".json";
  std::ofstream(path) << json;
  return path;
}

void Bench::start_serve() {
  int out = -1;
  serve_pid_ = spawn({"/proc/self/exe", "serve", "--cert", cfg_.cert, "--key", cfg_.key}, work_ + "/serve.log", &out);
  // /proc/self/exe is resolved in the child: it names this very binary.
  char line[64] = {};
  std::size_t got = 0;
  while (got < sizeof line - 1) {
    ssize_t r = read(out, line + got, 1);
    if (r <= 0 || line[got] == '\n') break;
    ++got;
  }
  close(out);
  unsigned a = 0, b = 0;
  if (std::sscanf(line, "%u %u", &a, &b) != 2) die("serve did not start (see %s/serve.log)", work_.c_str());
  sink_port_ = std::uint16_t(a);
  tls_port_ = std::uint16_t(b);
}

pid_t Bench::start_server() {
  server_port_ = free_port();
  auto json = strf(R"({
  "log": {"level": "warn"},
  "inbounds": [{"type": "anytls", "tag": "anytls-in", "listen": "127.0.0.1", "listen_port": %u,
    "users": [{"name": "bench", "password": "bench-password"}],
    "tls": {"enabled": true, "server_name": "localhost", "certificate_path": "%s", "key_path": "%s"}}],
  "outbounds": [{"type": "direct", "tag": "direct"}], %s
  "route": {"final": "direct"}
})",
                   server_port_, cfg_.cert.c_str(), cfg_.key.c_str(), metrics_json(server_metrics_).c_str());
  auto path = write_config("server", json);
  pid_t pid = spawn(run_argv(path), work_ + "/server.log");
  std::uint16_t port = server_port_;
  if (!wait_until([&] { return count_tcp(port, false, 0x0A) > 0; }, 5s))
    die("anytls server did not listen (see %s/server.log)", work_.c_str());
  return pid;
}

pid_t Bench::start_client(const std::string& name, const std::string& pool_json, std::uint16_t port) {
  client_port_ = port;
  auto json = strf(R"({
  "log": {"level": "warn"},
  "inbounds": [{"type": "mixed", "tag": "mixed-in", "listen": "127.0.0.1", "listen_port": %u}],
  "outbounds": [{"type": "anytls", "tag": "anytls-out", "server": "127.0.0.1", "server_port": %u,
    "password": "bench-password", %s
    "tls": {"enabled": true, "server_name": "localhost", "certificate_path": "%s"%s}}], %s
  "route": {"final": "anytls-out"}
})",
                   port, server_port_, pool_json.c_str(), cfg_.cert.c_str(),
                   client_utls_ ? R"(, "utls": {"enabled": true, "fingerprint": "chrome"})" : "",
                   metrics_json(client_metrics_).c_str());
  auto path = write_config(name, json);
  last_config_ = path;
  pid_t pid = spawn(run_argv(path), work_ + "/" + name + ".log");
  if (!wait_until([&] { return count_tcp(port, false, 0x0A) > 0; }, 5s))
    die("anytls client did not listen (see %s/%s.log)", work_.c_str(), name.c_str());
  return pid;
}

pid_t Bench::start_relay() {
  relay_port_ = free_port();
  auto json = strf(R"({
  "log": {"level": "warn"},
  "inbounds": [{"type": "mixed", "tag": "mixed-in", "listen": "127.0.0.1", "listen_port": %u}],
  "outbounds": [{"type": "direct", "tag": "direct"}]
})",
                   relay_port_);
  auto path = write_config("relay", json);
  pid_t pid = spawn({cfg_.anytls, "run", "-c", path}, work_ + "/relay.log");
  std::uint16_t port = relay_port_;
  if (!wait_until([&] { return count_tcp(port, false, 0x0A) > 0; }, 5s))
    die("relay did not listen (see %s/relay.log)", work_.c_str());
  return pid;
}

bool Bench::utls_available() {
  auto path = write_config("utls-check", strf(R"({"outbounds": [{"type": "anytls", "server": "127.0.0.1",
    "server_port": 1, "password": "p", "tls": {"enabled": true, "utls": {"enabled": true}}}]})"));
  pid_t pid = spawn({cfg_.anytls, "check", "-c", path}, work_ + "/utls-check.log");
  int status = 0;
  waitpid(pid, &status, 0);
  g_children.erase(std::remove(g_children.begin(), g_children.end(), pid), g_children.end());
  return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

Chan Bench::open(Path p) {
  Chan c;
  switch (p) {
    case Path::anytls:
    case Path::relay:
      c.fd = tcp_connect(p == Path::anytls ? client_port_ : relay_port_);
      if (c.fd >= 0 && !socks5_connect(c.fd, sink_port_)) c.close();
      break;
    case Path::tcp:
      c.fd = tcp_connect(sink_port_);
      break;
    case Path::tls:
      c.fd = tcp_connect(tls_port_);
      if (c.fd < 0) break;
      c.ssl = SSL_new(cctx_);
      SSL_set_fd(c.ssl, c.fd);
      SSL_set_tlsext_host_name(c.ssl, "localhost");
      SSL_set1_host(c.ssl, "localhost");
      if (SSL_connect(c.ssl) != 1) {
        ERR_clear_error();
        c.close();
      } else if (tls_cipher_ == "?") {
        tls_cipher_ = strf("%s %s", SSL_get_version(c.ssl), SSL_get_cipher_name(c.ssl));
      }
      break;
  }
  return c;
}

// One or more concurrent bulk transfers for `seconds`. Download: the source
// sends without end and the client reads until the deadline. Upload: the
// client writes until the deadline, ends, and the sink answers its count.
Xfer Bench::bulk(Path p, int streams, bool download, double seconds, pid_t client_pid, pid_t server_pid) {
  Xfer x;
  std::vector<Chan> chans;
  for (int i = 0; i < streams; ++i) {
    Chan c = open(p);
    if (!c) {
      ++x.failures;
      continue;
    }
    if (!send_req(c, download ? 'D' : 'U', download ? ~0ull >> 1 : kUploadBlock)) {
      ++x.failures;
      c.close();
      continue;
    }
    chans.push_back(c);
  }
  static const auto payload = make_payload();
  std::atomic<double> bytes{0}, tcpu{0};
  std::atomic<int> failures{0};
  double c0 = client_pid ? proc_cpu(client_pid) : 0, s0 = proc_cpu(server_pid);
  auto start = Clock::now();
  auto deadline = start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
  std::vector<std::thread> threads;
  for (auto& ch : chans) {
    threads.emplace_back([&, c = ch]() mutable {
      double cpu0 = thread_cpu();
      double got = 0;
      std::vector<char> buf(64 * 1024);
      if (download) {
        for (;;) {
          long r = c.rd(buf.data(), buf.size());
          if (r <= 0) {
            failures++;
            break;
          }
          got += double(r);
          if (Clock::now() >= deadline) break;
        }
      } else {
        std::vector<char> block(payload.begin(), payload.begin() + kUploadBlock);
        block[0] = 0;
        bool ok = true;
        while (ok && Clock::now() < deadline) ok = c.wr_all(block.data(), block.size());
        block[0] = 1;
        if (!ok || !c.wr_all(block.data(), block.size())) failures++;
        unsigned char b[8];
        if (c.rd_all(b, 8)) {
          std::uint64_t n = 0;
          for (int i = 0; i < 8; ++i) n |= std::uint64_t(b[i]) << (8 * i);
          got = double(n);
        } else {
          failures++;
        }
      }
      double add = thread_cpu() - cpu0;
      for (double v = tcpu.load(); !tcpu.compare_exchange_weak(v, v + add);) {
      }
      for (double v = bytes.load(); !bytes.compare_exchange_weak(v, v + got);) {
      }
    });
  }
  for (auto& t : threads) t.join();
  double elapsed = secs(Clock::now() - start);
  x.client_cpu = client_pid ? proc_cpu(client_pid) - c0 : tcpu.load();
  x.server_cpu = proc_cpu(server_pid) - s0;
  for (auto& c : chans) c.close();
  x.bytes = bytes.load();
  x.mbps = x.bytes / elapsed / 1e6;
  x.failures += failures.load();
  return x;
}

// Time from connect() to the first byte of a 100-byte response, n times, one
// after another with 1 ms between requests.
Dist Bench::ttfb(Path p, int n, const std::function<void()>& before_each) {
  Dist d;
  int failures = 0;
  for (int i = 0; i < n; ++i) {
    if (before_each) before_each();
    auto t0 = Clock::now();
    Chan c = open(p);
    char b;
    if (!c || !send_req(c, 'P', 100) || c.rd(&b, 1) != 1) {
      ++failures;
      c.close();
      continue;
    }
    d.v.push_back(secs(Clock::now() - t0) * 1e6);
    char rest[99];
    c.rd_all(rest, sizeof rest);
    c.close();
    std::this_thread::sleep_for(1ms);
  }
  if (failures) note(strf("ttfb: %d of %d requests failed", failures, n));
  return d;
}

// New streams per second: `workers` loops of open + 1-byte request/response
// + close, for `seconds`.
double Bench::conn_rate(Path p, int workers, double seconds, int* failures) {
  std::atomic<long> done{0};
  std::atomic<int> failed{0};
  auto start = Clock::now();
  auto deadline = start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
  std::vector<std::thread> ts;
  for (int w = 0; w < workers; ++w) {
    ts.emplace_back([&] {
      while (Clock::now() < deadline) {
        Chan c = open(p);
        char b;
        if (!c || !send_req(c, 'P', 1) || c.rd(&b, 1) != 1) {
          failed++;
          c.close();
          std::this_thread::sleep_for(1ms);
          continue;
        }
        c.close();
        done++;
      }
    });
  }
  for (auto& t : ts) t.join();
  *failures = failed.load();
  return double(done.load()) / secs(Clock::now() - start);
}

// Opens n channels that each carried `bytes` both ways and then sit idle.
long Bench::hold(Path p, int n, std::uint64_t bytes, std::vector<Chan>& held) {
  std::vector<char> buf(std::max<std::uint64_t>(bytes, 1));
  static const auto payload = make_payload();
  long failures = 0;
  for (int i = 0; i < n; ++i) {
    Chan c = open(p);
    if (!c || !send_req(c, 'H', bytes) || !c.rd_all(buf.data(), bytes) || !c.wr_all(payload.data(), bytes)) {
      ++failures;
      c.close();
      continue;
    }
    held.push_back(c);
  }
  return failures;
}

std::string first_line_of(const std::string& path, const std::string& key) {
  std::ifstream f(path);
  std::string line;
  while (std::getline(f, line))
    if (line.rfind(key, 0) == 0) {
      auto p = line.find(':');
      auto v = p == std::string::npos ? line : line.substr(p + 1);
      v.erase(0, v.find_first_not_of(" \t"));
      return v;
    }
  return "?";
}

std::string fmt_us(const Dist& d) { return strf("%.0f / %.0f µs", d.median(), d.p99()); }

void Bench::setup() {
  rlimit rl{};
  getrlimit(RLIMIT_NOFILE, &rl);
  rl.rlim_cur = rl.rlim_max;
  setrlimit(RLIMIT_NOFILE, &rl);
  if (rl.rlim_cur < 4096) die("open file limit %lu is too low (need 4096)", (unsigned long)rl.rlim_cur);

  {
    std::ifstream la("/proc/loadavg");
    std::string a, b, c;
    la >> a >> b >> c;
    load_at_start_ = a + " " + b + " " + c;
  }
  mkdir(cfg_.out.c_str(), 0755);
  work_ = cfg_.out + "/work";
  mkdir(work_.c_str(), 0755);

  cctx_ = SSL_CTX_new(TLS_client_method());
  SSL_CTX_set_verify(cctx_, SSL_VERIFY_PEER, nullptr);
  if (SSL_CTX_load_verify_locations(cctx_, cfg_.cert.c_str(), nullptr) != 1) die("cannot load %s", cfg_.cert.c_str());
  SSL_CTX_set_session_cache_mode(cctx_, SSL_SESS_CACHE_OFF);  // every reference connection: full handshake
  SSL_CTX_set_options(cctx_, SSL_OP_IGNORE_UNEXPECTED_EOF);
}

int Bench::load(const std::string& what, double seconds) {
  signal(SIGPIPE, SIG_IGN);
  signal(SIGALRM, on_alarm);
  alarm(unsigned(seconds) + 60);
  setup();
  start_serve();
  pid_t srv = start_server();
  pid_t cli = start_client(
      "client-load", R"("ensure_idle_session": 16, "idle_session_timeout": "1h", "idle_session_check_interval": "1s",)",
      free_port());
  std::uint16_t sp = server_port_;
  wait_until([&] { return count_tcp(sp, true, 0x01) >= 16; }, 10s, 5ms);
  std::printf("client %d server %d\n", int(cli), int(srv));
  std::fflush(stdout);
  std::this_thread::sleep_for(300ms);
  // The scraper: what a Prometheus server does, much more often.
  std::atomic<bool> scraping{cfg_.metrics_scrape > 0};
  std::atomic<int> scrapes{0}, scrape_failures{0};
  std::atomic<std::size_t> scrape_bytes{0};
  std::thread scraper([&] {
    while (scraping) {
      for (auto port : {client_metrics_, server_metrics_}) {
        auto n = scrape_metrics(port);
        if (n == 0) ++scrape_failures;
        ++scrapes;
        scrape_bytes = n;
      }
      auto until = Clock::now() + std::chrono::duration<double>(cfg_.metrics_scrape);
      while (scraping && Clock::now() < until) std::this_thread::sleep_for(10ms);
    }
  });
  Xfer x;
  if (what == "download" || what == "upload") {
    x = bulk(Path::anytls, 1, what == "download", seconds, cli, srv);
  } else if (what == "download16") {
    x = bulk(Path::anytls, 16, true, seconds, cli, srv);
  } else if (what == "streams") {
    int f = 0;
    double r = conn_rate(Path::anytls, 4, seconds, &f);
    std::fprintf(stderr, "%.0f streams/s, %d failures\n", r, f);
  } else if (what == "ttfb") {
    Dist d;
    for (auto end = Clock::now() + std::chrono::duration<double>(seconds); Clock::now() < end;) {
      auto one = ttfb(Path::anytls, 1);
      d.v.insert(d.v.end(), one.v.begin(), one.v.end());
      std::this_thread::sleep_for(20ms);
    }
    std::fprintf(stderr, "ttfb %s over %zu requests\n", fmt_us(d).c_str(), d.v.size());
  } else {
    die("load: unknown load %s (download upload download16 streams ttfb)", what.c_str());
  }
  scraping = false;
  scraper.join();
  if (cfg_.metrics_scrape > 0)
    std::fprintf(stderr, "metrics: %d scrapes (%d failed), last one %zu bytes\n", scrapes.load(),
                 scrape_failures.load(), scrape_bytes.load());
  if (x.bytes > 0)
    std::fprintf(stderr, "%.0f MB/s, CPU s/GB client %.2f server %.2f\n", x.mbps, x.client_s_per_gb(),
                 x.server_s_per_gb());
  stop_child(cli);
  stop_child(srv);
  stop_child(serve_pid_);
  return 0;
}

int Bench::run() {
  signal(SIGPIPE, SIG_IGN);
  signal(SIGALRM, on_alarm);
  alarm(cfg_.quick ? 180 : 420);
  setup();

  const bool q = cfg_.quick;
  const int kTtfbN = q ? 20 : 200;
  const int kIdle = q ? 100 : 1000;
  const int kActive = q ? 50 : 200;
  const int kRounds = 3;
  const double kBulkSecs = q ? 0.6 : 6.0;  // per path and figure, over all rounds
  const double kRateSecs = q ? 0.6 : 3.0;
  const int kRateWorkers = 4;
  const std::uint64_t kHoldBytes = 16 * 1024;
  auto t_start = Clock::now();

  start_serve();
  const std::string ensure16 =
      R"("ensure_idle_session": 16, "idle_session_timeout": "1h", "idle_session_check_interval": "1s",)";

  // ---------------------------------------------------------------- memory
  // Fresh server processes so that earlier phases leave nothing in their
  // heaps. Each figure is a settled-RSS difference divided by the count.
  progress("memory: active streams");
  double act_client_kib = 0, act_server_kib = 0;
  {
    pid_t srv = start_server();
    pid_t cli = start_client("client-active", R"("ensure_idle_session": 0, "idle_session_timeout": "1h",)",
                             free_port());
    // One stream first, so that lazily built things (TLS context, thread
    // pool, first session) are in the baseline, then nothing is open.
    std::vector<Chan> warm;
    hold(Path::anytls, 1, kHoldBytes, warm);
    for (auto& c : warm) c.close();
    std::uint16_t sp = server_port_;
    wait_until([&] { return count_tcp(sp, true, 0x01) <= 1; }, 2s);
    long c0 = settled_rss(cli), s0 = settled_rss(srv);
    std::vector<Chan> held;
    long fail = hold(Path::anytls, kActive, kHoldBytes, held);
    // Quiet streams: a session gives its write buffers back after 250 ms
    // without writes and the heap is trimmed 200 ms after that.
    std::this_thread::sleep_for(1s);
    long c1 = settled_rss(cli), s1 = settled_rss(srv);
    int n = int(held.size());
    if (fail) note(strf("active streams: %ld of %d failed to open", fail, kActive));
    if (n > 0) {
      act_client_kib = double(c1 - c0) / n;
      act_server_kib = double(s1 - s0) / n;
    }
    for (auto& c : held) c.close();
    stop_child(cli);
    stop_child(srv);
  }

  progress("memory: idle pooled sessions");
  double idle_client_kib = 0, idle_server_kib = 0;
  {
    pid_t srv = start_server();
    std::uint16_t sp = server_port_;
    // Baseline: a client with no sessions, after one stream has gone through.
    pid_t base = start_client("client-nosession", R"("ensure_idle_session": 0, "idle_session_timeout": "1h",)",
                              free_port());
    {
      std::vector<Chan> warm;
      hold(Path::anytls, 1, kHoldBytes, warm);
      for (auto& c : warm) c.close();
    }
    long cbase = settled_rss(base);
    stop_child(base);
    wait_until([&] { return count_tcp(sp, true, 0x01) == 0; }, 3s);
    long s0 = settled_rss(srv);
    pid_t cli = start_client(
        "client-idle",
        strf(R"("ensure_idle_session": %d, "idle_session_timeout": "1h", "idle_session_check_interval": "1s",)",
             kIdle),
        free_port());
    bool ok = wait_until([&] { return count_tcp(sp, true, 0x01) >= kIdle; }, 60s, 20ms);
    int have = count_tcp(sp, true, 0x01);
    if (!ok) note(strf("idle sessions: only %d of %d established", have, kIdle));
    // Let the handshakes, Settings frames and tickets finish everywhere.
    std::this_thread::sleep_for(500ms);
    long c1 = settled_rss(cli, 600ms, 6s), s1 = settled_rss(srv, 600ms, 6s);
    if (have > 0) {
      idle_client_kib = double(c1 - cbase) / have;
      idle_server_kib = double(s1 - s0) / have;
    }
    stop_child(cli);
    stop_child(srv);
  }

  progress("memory: TLS and TCP references");
  double ref_tls_idle_kib = 0, ref_tls_active_kib = 0, ref_tcp_active_kib = 0;
  {
    std::vector<Chan> warm;
    hold(Path::tls, 1, kHoldBytes, warm);
    hold(Path::tcp, 1, kHoldBytes, warm);
    for (auto& c : warm) c.close();
    auto measure = [&](Path p, std::uint64_t bytes) {
      std::vector<Chan> held;
      long r0 = settled_rss(0, 200ms, 2s);
      hold(p, kActive, bytes, held);
      long r1 = settled_rss(0, 200ms, 2s);
      double per = held.empty() ? 0 : double(r1 - r0) / double(held.size());
      for (auto& c : held) c.close();
      return per;
    };
    ref_tls_idle_kib = measure(Path::tls, 1);
    ref_tls_active_kib = measure(Path::tls, kHoldBytes);
    ref_tcp_active_kib = measure(Path::tcp, kHoldBytes);
  }

  // ---------------------------------------------------------------- latency
  pid_t srv = start_server();
  std::uint16_t sp = server_port_;
  pid_t relay = start_relay();

  progress("ttfb: cold, fresh client process (full TLS handshake)");
  // Each cold request is followed by a TLS reference request (a full
  // handshake), so the two see the same outside load.
  Dist cold_full, tls_cold_full;
  auto tls_sample = [&](Dist& into) {
    Dist one = ttfb(Path::tls, 1);
    into.v.insert(into.v.end(), one.v.begin(), one.v.end());
  };
  {
    int n = q ? 10 : 100;
    int failures = 0;
    for (int i = 0; i < n; ++i) {
      // A new port each time: an outgoing connection may have taken the old
      // one as its ephemeral port meanwhile (its TIME_WAIT then blocks bind
      // even with SO_REUSEADDR).
      pid_t cli = start_client("client-cold", R"("ensure_idle_session": 0,)", free_port());
      auto t0 = Clock::now();
      Chan c = open(Path::anytls);
      char b;
      if (c && send_req(c, 'P', 100) && c.rd(&b, 1) == 1) {
        cold_full.v.push_back(secs(Clock::now() - t0) * 1e6);
        char rest[99];
        c.rd_all(rest, sizeof rest);
      } else {
        ++failures;
      }
      c.close();
      stop_child(cli);
      if (i + 1 < n) unlink(last_config_.c_str());  // keep one for reference
      tls_sample(tls_cold_full);
    }
    if (failures) note(strf("cold (fresh process): %d of %d failed", failures, n));
  }

  progress("ttfb: cold, emptied pool (TLS resumption)");
  Dist cold_pool, tls_cold_pool;
  {
    pid_t cli = start_client(
        "client-coldpool",
        R"("ensure_idle_session": 0, "idle_session_timeout": "1ms", "idle_session_check_interval": "5ms",)",
        free_port());
    int waits_failed = 0;
    for (int i = 0; i < kTtfbN; ++i) {
      if (!wait_until([&] { return count_tcp(sp, true, 0x01) == 0; }, 2s)) ++waits_failed;
      Dist one = ttfb(Path::anytls, 1);
      cold_pool.v.insert(cold_pool.v.end(), one.v.begin(), one.v.end());
      tls_sample(tls_cold_pool);
    }
    if (waits_failed) note(strf("cold (emptied pool): %d times the pool was not empty after 2 s", waits_failed));
    stop_child(cli);
  }

  // Under outside load the figures drift; the paths compared in one row are
  // measured interleaved (request by request for TTFB, in rounds for rates
  // and throughput) so that they see the same conditions.
  progress("ttfb: warm pool, SOCKS relay, TLS, TCP (interleaved)");
  pid_t cli = start_client("client-warm", ensure16, free_port());
  wait_until([&] { return count_tcp(sp, true, 0x01) >= 16; }, 10s, 5ms);
  ttfb(Path::anytls, 20);  // warm-up
  ttfb(Path::relay, 20);
  Dist warm, relay_d, tls_d, tcp_d;
  for (int i = 0; i < kTtfbN; ++i) {
    for (auto [p, d] : {std::pair{Path::anytls, &warm}, {Path::relay, &relay_d}, {Path::tls, &tls_d},
                        {Path::tcp, &tcp_d}}) {
      Dist one = ttfb(p, 1);
      d->v.insert(d->v.end(), one.v.begin(), one.v.end());
    }
  }

  progress("connection rate (rounds)");
  const Path rate_paths[] = {Path::anytls, Path::relay, Path::tls, Path::tcp};
  double rate_best[4] = {};
  int rate_fail[4] = {};
  for (int round = 0; round < kRounds; ++round) {
    for (int i = 0; i < 4; ++i) {
      int f = 0;
      rate_best[i] = std::max(rate_best[i], conn_rate(rate_paths[i], kRateWorkers, kRateSecs / kRounds, &f));
      rate_fail[i] += f;
    }
  }
  double rate_any = rate_best[0], rate_relay = rate_best[1], rate_tls = rate_best[2], rate_tcp = rate_best[3];
  if (rate_fail[0] + rate_fail[1] + rate_fail[2] + rate_fail[3])
    note(strf("connection rate failures: anytls %d, relay %d, tls %d, tcp %d", rate_fail[0], rate_fail[1],
              rate_fail[2], rate_fail[3]));
  stop_child(relay);

  // ---------------------------------------------------------------- throughput
  // kRounds rounds of (anytls, TLS, TCP); MB/s is the best round, CPU s/GB
  // is over all rounds.
  auto rounds = [&](int streams, bool download, Xfer* any, Xfer* tls, Xfer* tcp) {
    auto merge = [](Xfer& into, const Xfer& x) {
      into.mbps = std::max(into.mbps, x.mbps);
      into.bytes += x.bytes;
      into.client_cpu += x.client_cpu;
      into.server_cpu += x.server_cpu;
      into.failures += x.failures;
    };
    for (int round = 0; round < kRounds; ++round) {
      wait_until([&] { return count_tcp(sp, true, 0x01) >= 16; }, 5s, 5ms);  // the pool refilled
      merge(*any, bulk(Path::anytls, streams, download, kBulkSecs / kRounds, cli, srv));
      merge(*tls, bulk(Path::tls, streams, download, kBulkSecs / kRounds, 0, serve_pid_));
      merge(*tcp, bulk(Path::tcp, streams, download, kBulkSecs / kRounds, 0, serve_pid_));
    }
  };
  progress("throughput: single stream (rounds)");
  bulk(Path::anytls, 1, true, q ? 0.2 : 0.5, cli, srv);  // warm-up
  Xfer any_dl, tls_dl, tcp_dl, any_ul, tls_ul, tcp_ul, any_16, tls_16, tcp_16;
  rounds(1, true, &any_dl, &tls_dl, &tcp_dl);
  rounds(1, false, &any_ul, &tls_ul, &tcp_ul);
  progress("throughput: 16 streams (rounds)");
  rounds(16, true, &any_16, &tls_16, &tcp_16);
  for (auto* x : {&any_dl, &tls_dl, &tcp_dl, &any_ul, &tls_ul, &tcp_ul, &any_16, &tls_16, &tcp_16})
    if (x->failures) note(strf("a bulk transfer had %d failed streams", x->failures));
  bool clean_exit = alive(cli) && alive(srv);
  stop_child(cli);

  // ---------------------------------------------------------------- utls
  // The anytls client with tls.utls (Chrome's ClientHello, BoringSSL module)
  // against the same server, interleaved with the OpenSSL client so both see
  // the same conditions: handshake cost (TTFB through a fresh process and
  // through an emptied pool), single-stream throughput, idle session memory.
  bool utls_ran = false;
  Dist u_full, o_full, u_res, o_res;
  Xfer u_dl, o_dl, u_ul, o_ul;
  double u_idle_kib = 0;
  if (utls_available()) {
    utls_ran = true;
    auto merge = [](Xfer& into, const Xfer& x) {
      into.mbps = std::max(into.mbps, x.mbps);
      into.bytes += x.bytes;
      into.client_cpu += x.client_cpu;
      into.server_cpu += x.server_cpu;
      into.failures += x.failures;
    };
    progress("utls: TTFB cold, fresh client process (full handshake), utls / OpenSSL interleaved");
    int n = q ? 10 : 50, failures = 0;
    for (int i = 0; i < n; ++i) {
      for (bool u : {true, false}) {
        client_utls_ = u;
        pid_t c = start_client(u ? "client-utls-cold" : "client-ossl-cold", R"("ensure_idle_session": 0,)", free_port());
        Dist one = ttfb(Path::anytls, 1);
        if (one.v.empty()) ++failures;
        (u ? u_full : o_full).v.insert((u ? u_full : o_full).v.end(), one.v.begin(), one.v.end());
        stop_child(c);
        if (i + 1 < n) unlink(last_config_.c_str());
      }
    }
    if (failures) note(strf("utls cold (fresh process): %d failed", failures));

    progress("utls: TTFB cold, emptied pool (resumed TLS), utls / OpenSSL interleaved");
    const char* coldpool =
        R"("ensure_idle_session": 0, "idle_session_timeout": "1ms", "idle_session_check_interval": "5ms",)";
    client_utls_ = true;
    pid_t cu = start_client("client-utls-coldpool", coldpool, free_port());
    std::uint16_t pu = client_port_;
    client_utls_ = false;
    pid_t co = start_client("client-ossl-coldpool", coldpool, free_port());
    std::uint16_t po = client_port_;
    for (int i = 0; i < kTtfbN; ++i) {
      for (bool u : {true, false}) {
        wait_until([&] { return count_tcp(sp, true, 0x01) == 0; }, 2s);
        client_port_ = u ? pu : po;
        Dist one = ttfb(Path::anytls, 1);
        (u ? u_res : o_res).v.insert((u ? u_res : o_res).v.end(), one.v.begin(), one.v.end());
      }
    }
    stop_child(cu);
    stop_child(co);

    progress("utls: throughput, single stream (rounds), utls / OpenSSL");
    client_utls_ = true;
    cu = start_client("client-utls-bulk", R"("ensure_idle_session": 1,)", free_port());
    pu = client_port_;
    client_utls_ = false;
    co = start_client("client-ossl-bulk", R"("ensure_idle_session": 1,)", free_port());
    po = client_port_;
    client_port_ = pu;
    bulk(Path::anytls, 1, true, q ? 0.2 : 0.5, cu, srv);  // warm-up
    client_port_ = po;
    bulk(Path::anytls, 1, true, q ? 0.2 : 0.5, co, srv);
    for (int round = 0; round < kRounds; ++round) {
      for (bool download : {true, false}) {
        client_port_ = pu;
        merge(download ? u_dl : u_ul, bulk(Path::anytls, 1, download, kBulkSecs / kRounds, cu, srv));
        client_port_ = po;
        merge(download ? o_dl : o_ul, bulk(Path::anytls, 1, download, kBulkSecs / kRounds, co, srv));
      }
    }
    for (auto* x : {&u_dl, &o_dl, &u_ul, &o_ul})
      if (x->failures) note(strf("utls: a bulk transfer had %d failed streams", x->failures));
    stop_child(cu);
    stop_child(co);

    progress("utls: memory, idle pooled sessions");
    {
      client_utls_ = true;
      pid_t base = start_client("client-utls-nosession", R"("ensure_idle_session": 0, "idle_session_timeout": "1h",)",
                                free_port());
      std::vector<Chan> warm;
      hold(Path::anytls, 1, kHoldBytes, warm);
      for (auto& c : warm) c.close();
      long cbase = settled_rss(base);
      stop_child(base);
      wait_until([&] { return count_tcp(sp, true, 0x01) == 0; }, 3s);
      pid_t c = start_client(
          "client-utls-idle",
          strf(R"("ensure_idle_session": %d, "idle_session_timeout": "1h", "idle_session_check_interval": "1s",)",
               kIdle),
          free_port());
      bool ok = wait_until([&] { return count_tcp(sp, true, 0x01) >= kIdle; }, 60s, 20ms);
      int have = count_tcp(sp, true, 0x01);
      if (!ok) note(strf("utls idle sessions: only %d of %d established", have, kIdle));
      std::this_thread::sleep_for(500ms);
      long c1 = settled_rss(c, 600ms, 6s);
      if (have > 0) u_idle_kib = double(c1 - cbase) / have;
      stop_child(c);
    }
    client_utls_ = false;
  } else {
    note("utls rows skipped: this anytls build has no Chrome ClientHello module (see bench/out/work/utls-check.log)");
  }
  clean_exit = clean_exit && alive(srv);
  stop_child(srv);

  // ---------------------------------------------------------------- workers
  // 16 streams through a client + server pair run with --workers 1, then
  // with the default (one worker per CPU), alternating by rounds.
  progress("throughput: 16 streams, --workers 1 vs default (rounds)");
  Xfer w1_16, wn_16;
  for (int round = 0; round < kRounds; ++round) {
    for (int w : {1, 0}) {
      workers_ = w;
      pid_t s2 = start_server();
      std::uint16_t sp2 = server_port_;
      pid_t c2 = start_client(w == 1 ? "client-w1" : "client-wn", ensure16, free_port());
      wait_until([&] { return count_tcp(sp2, true, 0x01) >= 16; }, 10s, 5ms);
      bulk(Path::anytls, 16, true, q ? 0.2 : 0.5, c2, s2);  // warm-up
      Xfer x = bulk(Path::anytls, 16, true, kBulkSecs / kRounds, c2, s2);
      Xfer& into = w == 1 ? w1_16 : wn_16;
      into.mbps = std::max(into.mbps, x.mbps);
      into.bytes += x.bytes;
      into.client_cpu += x.client_cpu;
      into.server_cpu += x.server_cpu;
      into.failures += x.failures;
      clean_exit = clean_exit && alive(c2) && alive(s2);
      stop_child(c2);
      stop_child(s2);
    }
  }
  workers_ = 0;
  stop_child(serve_pid_);
  if (!clean_exit) note("an anytls process died during the run (see bench/out/work/*.log)");

  // ---------------------------------------------------------------- table
  utsname un{};
  uname(&un);
  std::string out;
  out += "# anytls-cpp benchmark\n\n";
  out += strf("Machine: nproc %ld, %s, kernel %s, %s; load average at start %s.\n",
              sysconf(_SC_NPROCESSORS_ONLN), first_line_of("/proc/cpuinfo", "model name").c_str(), un.release,
              OpenSSL_version(OPENSSL_VERSION), load_at_start_.c_str());
  out += strf("Run: %s, %.0f s. MB = 10^6 B, GB = 10^9 B, KiB = 1024 B.\n\n", q ? "quick (small sizes)" : "full",
              secs(Clock::now() - t_start));
  out += "| figure | anytls-cpp | TLS reference | TCP reference | target / ratio |\n";
  out += "|---|---|---|---|---|\n";
  auto row = [&](const std::string& a, const std::string& b, const std::string& c, const std::string& d,
                 const std::string& e) { out += "| " + a + " | " + b + " | " + c + " | " + d + " | " + e + " |\n"; };
  auto pct_of = [](double a, double b) { return b > 0 ? 100.0 * a / b : 0.0; };
  auto verdict = [](bool ok) { return ok ? std::string("**met**") : std::string("**missed**"); };
  double r;
  r = pct_of(any_dl.mbps, tls_dl.mbps);
  row("download, 1 stream (MB/s)", strf("%.0f", any_dl.mbps), strf("%.0f", tls_dl.mbps), strf("%.0f", tcp_dl.mbps),
      strf("%.0f%% of TLS (>= 60%%) %s", r, verdict(r >= 60).c_str()));
  r = pct_of(any_ul.mbps, tls_ul.mbps);
  row("upload, 1 stream (MB/s)", strf("%.0f", any_ul.mbps), strf("%.0f", tls_ul.mbps), strf("%.0f", tcp_ul.mbps),
      strf("%.0f%% of TLS (>= 60%%) %s", r, verdict(r >= 60).c_str()));
  auto cpu = [](const Xfer& x) { return strf("%.2f / %.2f", x.client_s_per_gb(), x.server_s_per_gb()); };
  // Issue 10's target: each side at most 1.3x what the TLS reference spends.
  auto cpu_ratio = [&](const Xfer& x, const Xfer& ref) {
    double c = x.client_s_per_gb() / std::max(1e-9, ref.client_s_per_gb());
    double s = x.server_s_per_gb() / std::max(1e-9, ref.server_s_per_gb());
    return strf("%.1fx / %.1fx TLS (<= 1.3x) %s", c, s, verdict(c <= 1.3 && s <= 1.3).c_str());
  };
  row("CPU s/GB download, client / server", cpu(any_dl), cpu(tls_dl), cpu(tcp_dl), cpu_ratio(any_dl, tls_dl));
  row("CPU s/GB upload, client / server", cpu(any_ul), cpu(tls_ul), cpu(tcp_ul), cpu_ratio(any_ul, tls_ul));
  r = pct_of(any_16.mbps, tls_16.mbps);
  row("download, 16 streams aggregate (MB/s)", strf("%.0f", any_16.mbps), strf("%.0f", tls_16.mbps),
      strf("%.0f", tcp_16.mbps), strf("%.0f%% of TLS (>= 75%%) %s", r, verdict(r >= 75).c_str()));
  row("CPU s/GB 16 streams, client / server", cpu(any_16), cpu(tls_16), cpu(tcp_16), cpu_ratio(any_16, tls_16));
  r = w1_16.mbps > 0 ? wn_16.mbps / w1_16.mbps : 0;
  row(strf("download, 16 streams: default workers (%ld) vs --workers 1 (MB/s)", sysconf(_SC_NPROCESSORS_ONLN)),
      strf("%.0f vs %.0f", wn_16.mbps, w1_16.mbps), "-", "-", strf("%.2fx (>= 1.5x) %s", r, verdict(r >= 1.5).c_str()));
  row("CPU s/GB 16 streams, default workers vs --workers 1, client / server", cpu(wn_16) + " vs " + cpu(w1_16), "-",
      "-", "");
  r = relay_d.median() > 0 ? warm.median() / relay_d.median() : 0;
  row(strf("TTFB warm pool, median / p99 (n=%zu)", warm.v.size()), fmt_us(warm), fmt_us(tls_d) + " (full handshake)",
      "relay " + fmt_us(relay_d) + "; TCP " + fmt_us(tcp_d),
      strf("%.2fx relay median (<= 2x) %s", r, verdict(r > 0 && r <= 2).c_str()));
  r = warm.median() > 0 ? cold_full.median() / warm.median() : 0;
  row(strf("TTFB cold, fresh client process, full handshake (n=%zu)", cold_full.v.size()), fmt_us(cold_full),
      fmt_us(tls_cold_full) + " (full handshake)", "relay " + fmt_us(relay_d),
      strf("%.1fx warm (visibly slower) %s; %.1fx TLS", r, verdict(r >= 1.5).c_str(),
           tls_cold_full.median() > 0 ? cold_full.median() / tls_cold_full.median() : 0));
  r = warm.median() > 0 ? cold_pool.median() / warm.median() : 0;
  row(strf("TTFB cold, emptied pool, resumed TLS (n=%zu)", cold_pool.v.size()), fmt_us(cold_pool),
      fmt_us(tls_cold_pool) + " (full handshake)", "relay " + fmt_us(relay_d),
      strf("%.1fx warm %s; %.1fx TLS", r, verdict(r >= 1.5).c_str(),
           tls_cold_pool.median() > 0 ? cold_pool.median() / tls_cold_pool.median() : 0));
  row("RSS per idle pooled session, client / server (KiB)", strf("%.1f / %.1f", idle_client_kib, idle_server_kib),
      strf("%.1f (client side, idle TLS conn)", ref_tls_idle_kib), "-",
      strf("<= 16 / <= 20 KiB: client %s, server %s", verdict(idle_client_kib <= 16).c_str(),
           verdict(idle_server_kib <= 20).c_str()));
  row("RSS per active stream (idle mid-transfer, incl. its session), client / server (KiB)",
      strf("%.1f / %.1f", act_client_kib, act_server_kib), strf("%.1f (client side)", ref_tls_active_kib),
      strf("%.1f (client side)", ref_tcp_active_kib),
      strf("<= 40 KiB: client %s, server %s", verdict(act_client_kib <= 40).c_str(),
           verdict(act_server_kib <= 40).c_str()));
  row(strf("new streams/s, warm pool (%d workers)", kRateWorkers), strf("%.0f", rate_any),
      strf("%.0f (new TLS conn each)", rate_tls), strf("relay %.0f; TCP %.0f", rate_relay, rate_tcp),
      strf("%.0f%% of relay, %.1fx TLS", pct_of(rate_any, rate_relay), rate_tls > 0 ? rate_any / rate_tls : 0));
  if (utls_ran) {
    auto ratio = [](double a, double b) { return b > 0 ? a / b : 0.0; };
    row(strf("utls (Chrome ClientHello): TTFB cold, fresh client process, full handshake (n=%zu)", u_full.v.size()),
        fmt_us(u_full), "OpenSSL client " + fmt_us(o_full), "-",
        strf("%.2fx the OpenSSL client", ratio(u_full.median(), o_full.median())));
    row(strf("utls: TTFB cold, emptied pool, resumed TLS (n=%zu)", u_res.v.size()), fmt_us(u_res),
        "OpenSSL client " + fmt_us(o_res), "-", strf("%.2fx the OpenSSL client", ratio(u_res.median(), o_res.median())));
    row("utls: download, 1 stream (MB/s)", strf("%.0f", u_dl.mbps), strf("OpenSSL client %.0f", o_dl.mbps), "-",
        strf("%.0f%% of the OpenSSL client; client CPU %.2f vs %.2f s/GB", pct_of(u_dl.mbps, o_dl.mbps),
             u_dl.client_s_per_gb(), o_dl.client_s_per_gb()));
    row("utls: upload, 1 stream (MB/s)", strf("%.0f", u_ul.mbps), strf("OpenSSL client %.0f", o_ul.mbps), "-",
        strf("%.0f%% of the OpenSSL client; client CPU %.2f vs %.2f s/GB", pct_of(u_ul.mbps, o_ul.mbps),
             u_ul.client_s_per_gb(), o_ul.client_s_per_gb()));
    row("utls: RSS per idle pooled session, client (KiB)", strf("%.1f", u_idle_kib),
        strf("OpenSSL client %.1f", idle_client_kib), "-", strf("<= 20 KiB %s", verdict(u_idle_kib <= 20).c_str()));
  }
  out += "\n";
  out += strf("Negotiated by the TLS reference: %s.\n", tls_cipher_.c_str());
  for (auto& n : notes_) out += "- note: " + n + "\n";
  std::printf("%s", out.c_str());
  std::ofstream(cfg_.out + "/results.md") << out;
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) die("usage: bench_driver run|serve ...");
  std::string cmd = argv[1];
  Config cfg;
  std::string what = "download";
  double seconds = 10;
  for (int i = 2; i < argc; ++i) {
    std::string a = argv[i];
    auto val = [&]() -> std::string {
      if (i + 1 >= argc) die("%s needs a value", a.c_str());
      return argv[++i];
    };
    if (a == "--anytls")
      cfg.anytls = val();
    else if (a == "--cert")
      cfg.cert = val();
    else if (a == "--key")
      cfg.key = val();
    else if (a == "--out")
      cfg.out = val();
    else if (a == "--quick")
      cfg.quick = true;
    else if (a == "--what")
      what = val();
    else if (a == "--seconds")
      seconds = std::atof(val().c_str());
    else if (a == "--metrics-scrape")
      cfg.metrics_scrape = std::atof(val().c_str());
    else
      die("unknown argument %s", a.c_str());
  }
  if (cmd == "serve") return cmd_serve(cfg.cert, cfg.key);
  if (cmd == "load") {
    if (cfg.anytls.empty() || cfg.cert.empty() || cfg.key.empty() || cfg.out.empty())
      die("usage: bench_driver load --anytls BIN --cert CRT --key KEY --out DIR [--what W] [--seconds S] "
          "[--metrics-scrape S]");
    return Bench(cfg).load(what, seconds);
  }
  if (cmd != "run" || cfg.anytls.empty() || cfg.cert.empty() || cfg.key.empty() || cfg.out.empty())
    die("usage: bench_driver run --anytls BIN --cert CRT --key KEY --out DIR [--quick]");
  return Bench(cfg).run();
}
