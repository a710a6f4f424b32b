#include "route/process.hpp"

#include <dirent.h>
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <fstream>
#include <string>

namespace anytls::route {

namespace {

// /proc/net/tcp's address text for an endpoint: "0100007F:1F90" (IPv4, host
// order words) or 32 hex digits for IPv6 (four host-order words).
std::string proc_address(const asio::ip::address& a, std::uint16_t port) {
  char buf[64];
  std::string out;
  if (a.is_v4()) {
    auto b = a.to_v4().to_bytes();
    std::snprintf(buf, sizeof(buf), "%02X%02X%02X%02X", b[3], b[2], b[1], b[0]);
    out = buf;
  } else {
    auto b = a.to_v6().to_bytes();
    for (int w = 0; w < 4; ++w) {
      std::snprintf(buf, sizeof(buf), "%02X%02X%02X%02X", b[w * 4 + 3], b[w * 4 + 2], b[w * 4 + 1], b[w * 4]);
      out += buf;
    }
  }
  std::snprintf(buf, sizeof(buf), ":%04X", port);
  return out + buf;
}

// The inode of the socket bound to `local` in one /proc/net table, 0 if none.
unsigned long find_inode(const char* table, const std::string& local, unsigned& uid) {
  std::ifstream in(table);
  std::string line;
  std::getline(in, line);  // header
  while (std::getline(in, line)) {
    char sl[16], loc[64], rem[64], st[8], queues[40], tr[40], retr[16];
    unsigned u = 0, timeout = 0;
    unsigned long inode = 0;
    if (std::sscanf(line.c_str(), "%15s %63s %63s %7s %39s %39s %15s %u %u %lu", sl, loc, rem, st, queues, tr, retr, &u,
                    &timeout, &inode) != 10)
      continue;
    if (local == loc && inode != 0) {
      uid = u;
      return inode;
    }
  }
  return 0;
}

std::optional<int> owner_pid(unsigned long inode) {
  const std::string target = "socket:[" + std::to_string(inode) + "]";
  DIR* proc = opendir("/proc");
  if (!proc) return std::nullopt;
  std::optional<int> found;
  while (dirent* e = readdir(proc)) {
    if (e->d_name[0] < '1' || e->d_name[0] > '9') continue;
    std::string fd_dir = std::string("/proc/") + e->d_name + "/fd";
    DIR* fds = opendir(fd_dir.c_str());
    if (!fds) continue;
    while (dirent* f = readdir(fds)) {
      if (f->d_name[0] == '.') continue;
      char link[64];
      std::string p = fd_dir + "/" + f->d_name;
      ssize_t n = readlink(p.c_str(), link, sizeof(link) - 1);
      if (n <= 0) continue;
      link[n] = 0;
      if (target == link) {
        found = std::atoi(e->d_name);
        break;
      }
    }
    closedir(fds);
    if (found) break;
  }
  closedir(proc);
  return found;
}

}  // namespace

std::optional<outbound::Metadata::Process> find_process(outbound::Network network,
                                                        const asio::ip::tcp::endpoint& source) {
  auto a = source.address();
  if (a.is_v6() && a.to_v6().is_v4_mapped()) a = asio::ip::make_address_v4(asio::ip::v4_mapped, a.to_v6());
  if (!a.is_loopback()) return std::nullopt;
  const bool tcp = network == outbound::Network::tcp;
  unsigned uid = 0;
  unsigned long inode = 0;
  if (a.is_v4()) {
    inode = find_inode(tcp ? "/proc/net/tcp" : "/proc/net/udp", proc_address(a, source.port()), uid);
    if (inode == 0) {  // a dual-stack socket shows the address IPv4-mapped
      auto mapped = asio::ip::make_address_v6(asio::ip::v4_mapped, a.to_v4());
      inode = find_inode(tcp ? "/proc/net/tcp6" : "/proc/net/udp6", proc_address(mapped, source.port()), uid);
    }
  } else {
    inode = find_inode(tcp ? "/proc/net/tcp6" : "/proc/net/udp6", proc_address(a, source.port()), uid);
  }
  if (inode == 0) return std::nullopt;
  outbound::Metadata::Process p;
  p.uid = uid;
  if (auto pid = owner_pid(inode)) {
    char buf[4096];
    std::string exe = "/proc/" + std::to_string(*pid) + "/exe";
    ssize_t n = readlink(exe.c_str(), buf, sizeof(buf) - 1);
    if (n > 0) {
      p.path.assign(buf, static_cast<std::size_t>(n));
      const std::string deleted = " (deleted)";
      if (p.path.size() > deleted.size() && p.path.compare(p.path.size() - deleted.size(), deleted.size(), deleted) == 0)
        p.path.resize(p.path.size() - deleted.size());
      auto slash = p.path.rfind('/');
      p.name = slash == std::string::npos ? p.path : p.path.substr(slash + 1);
    }
  }
  struct passwd pw;
  struct passwd* res = nullptr;
  char pwbuf[4096];
  if (getpwuid_r(uid, &pw, pwbuf, sizeof(pwbuf), &res) == 0 && res) p.user = res->pw_name;
  return p;
}

}  // namespace anytls::route
