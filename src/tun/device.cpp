#include "tun/device.hpp"

#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <netinet/in.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include <asio/experimental/as_tuple.hpp>
#include <asio/use_awaitable.hpp>

namespace anytls::tun {

namespace {

// linux/ipv6.h's in6_ifreq (that header clashes with netinet/in.h).
struct In6Ifreq {
  in6_addr addr;
  std::uint32_t prefixlen;
  int ifindex;
};

net::Error failure(const std::string& step, int err) {
  std::string text = step + ": " + std::strerror(err);
  if (err == EPERM || err == EACCES) text += " (CAP_NET_ADMIN is needed)";
  return net::Error{std::error_code(err, std::generic_category()), std::move(text)};
}

// A socket for the interface ioctls; closed on scope exit.
struct Fd {
  int fd = -1;
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
};

std::uint32_t netmask(unsigned bits) { return bits == 0 ? 0 : ~std::uint32_t{0} << (32 - bits); }

// The largest IP packet: an IPv6 payload of 65535 bytes behind its header
// (a TSO super-packet stays within it: the tun's GSO limit is 64 KiB).
constexpr std::size_t kMaxPacket = 65535 + 40;

// Asks the kernel for GSO super-packets and partial checksums on a tun
// opened with IFF_VNET_HDR. An empty string when granted, else why not.
std::string enable_offload(int fd) {
  // The header's fields little-endian on any host (virtio 1.0).
  int le = 1;
  if (::ioctl(fd, TUNSETVNETLE, &le) < 0) return std::string("TUNSETVNETLE: ") + std::strerror(errno);
  const unsigned long offloads = TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6 | TUN_F_TSO_ECN;
  if (::ioctl(fd, TUNSETOFFLOAD, offloads) < 0) return std::string("TUNSETOFFLOAD: ") + std::strerror(errno);
  return {};
}

}  // namespace

asio::ip::address to_asio(const Ip& ip) {
  if (!ip.v6) return asio::ip::address_v4({ip.bytes[0], ip.bytes[1], ip.bytes[2], ip.bytes[3]});
  return asio::ip::address_v6(ip.bytes);
}

Ip from_asio(const asio::ip::address& a) {
  Ip ip;
  if (a.is_v4()) {
    const auto b = a.to_v4().to_bytes();
    std::copy(b.begin(), b.end(), ip.bytes.begin());
  } else {
    ip.v6 = true;
    ip.bytes = a.to_v6().to_bytes();
  }
  return ip;
}

std::string to_string(const Ip& ip) { return to_asio(ip).to_string(); }

net::Result<std::unique_ptr<Device>> Device::open(asio::io_context& io, const DeviceConfig& config) {
  Fd tun{::open("/dev/net/tun", O_RDWR | O_CLOEXEC | O_NONBLOCK)};
  if (tun.fd < 0) return failure("open /dev/net/tun", errno);
  unsigned features = 0;
  std::string offload_note = config.offload ? "" : "not asked for";
  if (config.offload && (::ioctl(tun.fd, TUNGETFEATURES, &features) < 0 || (features & IFF_VNET_HDR) == 0))
    offload_note = "the kernel's tun has no IFF_VNET_HDR";
  const bool vnet = offload_note.empty();
  ifreq ifr{};
  ifr.ifr_flags = static_cast<short>(IFF_TUN | IFF_NO_PI | (vnet ? IFF_VNET_HDR : 0));
  // "tun%d": the kernel picks the first free tunN.
  const std::string want = config.name.empty() ? "tun%d" : config.name;
  std::strncpy(ifr.ifr_name, want.c_str(), IFNAMSIZ - 1);
  if (::ioctl(tun.fd, TUNSETIFF, &ifr) < 0) return failure("TUNSETIFF " + want, errno);
  if (vnet) offload_note = enable_offload(tun.fd);
  if (vnet && !offload_note.empty()) {
    // Refused after all: the device again, without the header.
    ::close(tun.fd);
    tun.fd = ::open("/dev/net/tun", O_RDWR | O_CLOEXEC | O_NONBLOCK);
    if (tun.fd < 0) return failure("open /dev/net/tun", errno);
    ifr.ifr_flags = IFF_TUN | IFF_NO_PI;
    std::strncpy(ifr.ifr_name, want.c_str(), IFNAMSIZ - 1);
    if (::ioctl(tun.fd, TUNSETIFF, &ifr) < 0) return failure("TUNSETIFF " + want, errno);
  }
  const std::string name = ifr.ifr_name;

  Fd sock4{::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0)};
  if (sock4.fd < 0) return failure("socket", errno);
  ifreq req{};
  std::strncpy(req.ifr_name, name.c_str(), IFNAMSIZ - 1);
  req.ifr_mtu = static_cast<int>(config.mtu);
  if (::ioctl(sock4.fd, SIOCSIFMTU, &req) < 0) return failure("set mtu " + std::to_string(config.mtu) + " on " + name, errno);
  for (const auto& p : config.addresses) {
    if (p.address.v6) continue;
    ifreq a{};
    std::strncpy(a.ifr_name, name.c_str(), IFNAMSIZ - 1);
    auto* sin = reinterpret_cast<sockaddr_in*>(&a.ifr_addr);
    sin->sin_family = AF_INET;
    std::memcpy(&sin->sin_addr, p.address.bytes.data(), 4);
    if (::ioctl(sock4.fd, SIOCSIFADDR, &a) < 0) return failure("set address " + to_string(p.address) + " on " + name, errno);
    sin->sin_addr.s_addr = htonl(netmask(p.bits));
    if (::ioctl(sock4.fd, SIOCSIFNETMASK, &a) < 0) return failure("set netmask /" + std::to_string(p.bits) + " on " + name, errno);
  }
  if (::ioctl(sock4.fd, SIOCGIFFLAGS, &req) < 0) return failure("get flags of " + name, errno);
  req.ifr_flags = static_cast<short>(req.ifr_flags | IFF_UP | IFF_RUNNING);
  if (::ioctl(sock4.fd, SIOCSIFFLAGS, &req) < 0) return failure("bring " + name + " up", errno);
  bool has_v6 = false;
  for (const auto& p : config.addresses) has_v6 = has_v6 || p.address.v6;
  if (has_v6) {
    Fd sock6{::socket(AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC, 0)};
    if (sock6.fd < 0) return failure("socket (IPv6)", errno);
    if (::ioctl(sock4.fd, SIOCGIFINDEX, &req) < 0) return failure("get index of " + name, errno);
    for (const auto& p : config.addresses) {
      if (!p.address.v6) continue;
      In6Ifreq a{};
      std::memcpy(&a.addr, p.address.bytes.data(), 16);
      a.prefixlen = p.bits;
      a.ifindex = req.ifr_ifindex;
      if (::ioctl(sock6.fd, SIOCSIFADDR, &a) < 0)
        return failure("set address " + to_string(p.address) + "/" + std::to_string(p.bits) + " on " + name, errno);
    }
  }
  const int fd = tun.fd;
  tun.fd = -1;
  const bool offload = offload_note.empty();
  return std::unique_ptr<Device>(new Device(io, fd, name, config.mtu, offload, std::move(offload_note)));
}

Device::Device(asio::io_context& io, int fd, std::string name, std::uint32_t mtu, bool offload, std::string offload_note)
    : fd_(io, fd), name_(std::move(name)), mtu_(mtu), offload_(offload), offload_note_(std::move(offload_note)) {}

std::size_t Device::header_size() const { return offload_ ? VnetHeader::kSize : 0; }

std::size_t Device::frame_size() const { return offload_ ? VnetHeader::kSize + kMaxPacket : mtu_; }

Device::~Device() { close(); }

void Device::close() {
  std::error_code ignored;
  fd_.close(ignored);
}

std::pair<std::error_code, std::size_t> Device::try_read(std::span<std::uint8_t> buf) {
  if (!fd_.is_open()) return {asio::error::operation_aborted, 0};
  const ssize_t n = ::read(fd_.native_handle(), buf.data(), buf.size());
  if (n >= 0) return {{}, static_cast<std::size_t>(n)};
  if (errno == EAGAIN || errno == EWOULDBLOCK) return {asio::error::would_block, 0};
  return {std::error_code(errno, std::generic_category()), 0};
}

asio::awaitable<std::error_code> Device::wait_readable() {
  auto [ec] = co_await fd_.async_wait(asio::posix::descriptor_base::wait_read, asio::experimental::as_tuple(asio::use_awaitable));
  co_return ec;
}

asio::awaitable<std::pair<std::error_code, std::size_t>> Device::read(std::span<std::uint8_t> buf) {
  for (;;) {
    auto got = try_read(buf);
    if (got.first != asio::error::would_block) co_return got;
    auto ec = co_await wait_readable();
    if (ec) co_return std::pair<std::error_code, std::size_t>{ec, 0};
  }
}

std::error_code Device::write(std::span<const std::uint8_t> frame) {
  if (!fd_.is_open()) return asio::error::operation_aborted;
  const ssize_t n = ::write(fd_.native_handle(), frame.data(), frame.size());
  if (n >= 0) return {};
  if (errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOBUFS) {
    ++dropped_;
    return {};
  }
  return std::error_code(errno, std::generic_category());
}

}  // namespace anytls::tun
