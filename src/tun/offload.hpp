// The virtio_net_hdr that a tun opened with IFF_VNET_HDR puts in front of
// every packet (linux/virtio_net.h; little-endian, TUNSETVNETLE), and what
// it means for the system stack's rewrite. With TUNSETOFFLOAD the kernel
// hands us, and takes back, TCP super-packets of up to 64 KiB (GSO: one
// read and one write instead of one per MTU-sized segment) and packets
// whose TCP/UDP checksum is left for the device to finish (NEEDS_CSUM:
// the field holds the pseudo-header's sum only). Pure: bytes in, values out.
#pragma once
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>

#include "tun/packet.hpp"

namespace anytls::tun {

struct VnetHeader {
  static constexpr std::size_t kSize = 10;
  static constexpr std::uint8_t kNeedsCsum = 1;
  static constexpr std::uint8_t kGsoNone = 0, kGsoTcp4 = 1, kGsoTcp6 = 4, kGsoEcn = 0x80;

  std::uint8_t flags = 0;
  std::uint8_t gso_type = 0;
  std::uint16_t hdr_len = 0;
  std::uint16_t gso_size = 0;
  std::uint16_t csum_start = 0;
  std::uint16_t csum_offset = 0;

  bool gso() const { return gso_type != kGsoNone; }
};

// The header in bytes[0, kSize); nullopt when shorter.
std::optional<VnetHeader> parse_vnet(std::span<const std::uint8_t> bytes);
// Writes h into out[0, kSize) (out holds at least kSize bytes).
void put_vnet(std::span<std::uint8_t> out, const VnetHeader& h);

// How the packet p behind header h carries its TCP/UDP checksum; nullopt
// when the stack cannot pass it on: a checksum left to the device anywhere
// but the packet's own checksum field, or a super-packet that is not TCP
// of the packet's family with its checksum left to the device (UDP
// super-packets are not asked for).
std::optional<L4Checksum> checksum_of(const VnetHeader& h, const Packet& p);

// Finishes a partial checksum as the device would: the one's complement
// sum of the whole TCP/UDP segment, its field holding the pseudo-header's
// sum, stored inverted (UDP: 0 sent as 0xffff). Tests, and a fallback.
void complete_checksum(std::span<std::uint8_t> bytes, const Packet& p);

// Finishes a checksum that h leaves to the device, wherever h puts it (the
// one's complement sum of packet[csum_start, end) stored inverted at
// csum_start + csum_offset, 0 sent as 0xffff), as a device without checksum
// offload does, and marks h as done (no NEEDS_CSUM). For a packet whose
// partial checksum checksum_of can't pass on. False, and nothing written,
// when h is not partial or its place lies outside the packet.
bool finish_checksum(std::span<std::uint8_t> packet, VnetHeader& h);

}  // namespace anytls::tun
