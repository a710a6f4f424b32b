// A Linux tun device (/dev/net/tun, IFF_TUN | IFF_NO_PI: whole IP packets):
// created, given its MTU and addresses and brought up with ioctls (routes
// and policy rules are auto_route's, over rtnetlink). It goes away when the
// fd closes (not persistent).
//
// With offload (the default where the kernel has it) the device is opened
// with IFF_VNET_HDR and TUNSETOFFLOAD (checksum, TSO for IPv4 and IPv6):
// every packet read or written carries a virtio_net_hdr in front
// (tun/offload.hpp), TCP comes and goes in super-packets of up to 64 KiB,
// and checksums may be left to the device. Otherwise packets are bare.
//
// I/O is on one io_context: read() waits for a packet; write() is a
// non-blocking write(2) that drops the packet when the device queue is full
// (IP loses packets; the senders' own stacks retransmit).
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <system_error>
#include <vector>

#include <asio/awaitable.hpp>
#include <asio/io_context.hpp>
#include <asio/ip/address.hpp>
#include <asio/posix/stream_descriptor.hpp>

#include "net/result.hpp"
#include "tun/offload.hpp"
#include "tun/packet.hpp"

namespace anytls::tun {

// "172.19.0.1", "fdfe:dcba:9876::1"
std::string to_string(const Ip& ip);
asio::ip::address to_asio(const Ip& ip);
Ip from_asio(const asio::ip::address& a);

// An address of the device and its prefix length ("172.19.0.1/30").
struct Prefix {
  Ip address;
  unsigned bits = 0;
};

struct DeviceConfig {
  std::string name;  // empty: the first free tunN
  std::uint32_t mtu = 9000;
  std::vector<Prefix> addresses;
  bool offload = true;  // false: bare packets even where offloads exist
};

class Device {
 public:
  // Creates and configures the device. Errors say which step failed and
  // why ("open /dev/net/tun: No such file or directory", "TUNSETIFF:
  // Operation not permitted (CAP_NET_ADMIN is needed)").
  static net::Result<std::unique_ptr<Device>> open(asio::io_context& io, const DeviceConfig& config);
  ~Device();
  Device(const Device&) = delete;
  Device& operator=(const Device&) = delete;

  const std::string& name() const { return name_; }
  std::uint32_t mtu() const { return mtu_; }
  // Whether packets carry a virtio_net_hdr (header_size() bytes in front).
  bool offload() const { return offload_; }
  std::size_t header_size() const;
  // Room for the largest packet the device can hand over, header included.
  std::size_t frame_size() const;
  // Why offload is off ("TUNSETOFFLOAD: Invalid argument"); empty when on.
  const std::string& offload_note() const { return offload_note_; }

  // One packet, header included, into buf (frame_size() bytes). operation_aborted after close().
  asio::awaitable<std::pair<std::error_code, std::size_t>> read(std::span<std::uint8_t> buf);
  // Reads a packet only if one is waiting: 0 bytes and would_block otherwise.
  std::pair<std::error_code, std::size_t> try_read(std::span<std::uint8_t> buf);
  // Waits until a packet can be read.
  asio::awaitable<std::error_code> wait_readable();
  // One packet, header included. Non-blocking; a full queue drops the packet (counted).
  std::error_code write(std::span<const std::uint8_t> frame);
  std::uint64_t dropped_writes() const { return dropped_; }

  // Closes the fd: the device disappears with its addresses and routes.
  void close();
  bool is_open() const { return fd_.is_open(); }

 private:
  Device(asio::io_context& io, int fd, std::string name, std::uint32_t mtu, bool offload, std::string offload_note);
  asio::posix::stream_descriptor fd_;
  std::string name_;
  std::uint32_t mtu_;
  bool offload_;
  std::string offload_note_;
  std::uint64_t dropped_ = 0;
};

}  // namespace anytls::tun
