#include "tun/offload.hpp"

namespace anytls::tun {

namespace {

std::uint16_t get16le(const std::uint8_t* p) { return static_cast<std::uint16_t>(p[0] | p[1] << 8); }
void put16le(std::uint8_t* p, std::uint16_t v) {
  p[0] = static_cast<std::uint8_t>(v);
  p[1] = static_cast<std::uint8_t>(v >> 8);
}

}  // namespace

std::optional<VnetHeader> parse_vnet(std::span<const std::uint8_t> b) {
  if (b.size() < VnetHeader::kSize) return std::nullopt;
  VnetHeader h;
  h.flags = b[0];
  h.gso_type = b[1];
  h.hdr_len = get16le(&b[2]);
  h.gso_size = get16le(&b[4]);
  h.csum_start = get16le(&b[6]);
  h.csum_offset = get16le(&b[8]);
  return h;
}

void put_vnet(std::span<std::uint8_t> out, const VnetHeader& h) {
  out[0] = h.flags;
  out[1] = h.gso_type;
  put16le(&out[2], h.hdr_len);
  put16le(&out[4], h.gso_size);
  put16le(&out[6], h.csum_start);
  put16le(&out[8], h.csum_offset);
}

std::optional<L4Checksum> checksum_of(const VnetHeader& h, const Packet& p) {
  const bool partial = (h.flags & VnetHeader::kNeedsCsum) != 0;
  if (partial && (h.csum_start != p.transport || h.csum_offset != checksum_field(p.protocol))) return std::nullopt;
  if (h.gso()) {
    const auto type = static_cast<std::uint8_t>(h.gso_type & ~VnetHeader::kGsoEcn);
    if (!partial || p.protocol != kTcp || type != (p.v6() ? VnetHeader::kGsoTcp6 : VnetHeader::kGsoTcp4))
      return std::nullopt;
  }
  return partial ? L4Checksum::partial : L4Checksum::full;
}

void complete_checksum(std::span<std::uint8_t> b, const Packet& p) {
  std::uint8_t* check = b.data() + p.transport + checksum_field(p.protocol);
  // The field's pseudo-header sum is summed with the segment.
  auto sum = static_cast<std::uint16_t>(~fold(sum_words(b.subspan(p.transport, p.size - p.transport))));
  if (p.protocol == kUdp && sum == 0) sum = 0xffff;
  check[0] = static_cast<std::uint8_t>(sum >> 8);
  check[1] = static_cast<std::uint8_t>(sum);
}

bool finish_checksum(std::span<std::uint8_t> b, VnetHeader& h) {
  const std::size_t start = h.csum_start, field = start + h.csum_offset;
  if ((h.flags & VnetHeader::kNeedsCsum) == 0 || start >= b.size() || field + 2 > b.size()) return false;
  auto sum = static_cast<std::uint16_t>(~fold(sum_words(b.subspan(start))));
  if (sum == 0) sum = 0xffff;  // the same value in one's complement, and UDP's "no checksum" is 0
  b[field] = static_cast<std::uint8_t>(sum >> 8);
  b[field + 1] = static_cast<std::uint8_t>(sum);
  h.flags = static_cast<std::uint8_t>(h.flags & ~VnetHeader::kNeedsCsum);
  return true;
}

}  // namespace anytls::tun
