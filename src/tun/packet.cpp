#include "tun/packet.hpp"

#include <cstring>

namespace anytls::tun {

namespace {

std::uint16_t get16(const std::uint8_t* p) { return static_cast<std::uint16_t>(p[0] << 8 | p[1]); }
void put16(std::uint8_t* p, std::uint16_t v) {
  p[0] = static_cast<std::uint8_t>(v >> 8);
  p[1] = static_cast<std::uint8_t>(v);
}

// RFC 1624 eqn. 3: HC' = ~(~HC + ~m + m'), over 16-bit words.
void adjust(std::uint8_t* check, std::uint16_t old_word, std::uint16_t new_word) {
  std::uint32_t sum = static_cast<std::uint16_t>(~get16(check));
  sum += static_cast<std::uint16_t>(~old_word);
  sum += new_word;
  put16(check, static_cast<std::uint16_t>(~fold(sum)));
}

void adjust_bytes(std::uint8_t* check, const std::uint8_t* old_bytes, const std::uint8_t* new_bytes, std::size_t n) {
  for (std::size_t i = 0; i + 1 < n; i += 2) adjust(check, get16(old_bytes + i), get16(new_bytes + i));
}

// A partial checksum is a sum, not its complement: the same update on the
// inverted field.
void invert(std::uint8_t* check) { put16(check, static_cast<std::uint16_t>(~get16(check))); }

// Offsets of the address fields.
std::size_t src_at(bool v6) { return v6 ? 8 : 12; }
std::size_t dst_at(bool v6) { return v6 ? 24 : 16; }

// The pseudo-header's sum (addresses, protocol, length) for a checksum.
std::uint32_t pseudo_sum(const std::uint8_t* ip, bool v6, std::uint8_t protocol, std::size_t length) {
  const std::size_t n = v6 ? 16 : 4;
  std::uint32_t sum = sum_words({ip + src_at(v6), n});
  sum = sum_words({ip + dst_at(v6), n}, sum);
  sum += protocol;
  sum += static_cast<std::uint32_t>(length >> 16);
  sum += static_cast<std::uint32_t>(length & 0xffff);
  return sum;
}

}  // namespace

Ip Ip::next() const {
  Ip n = *this;
  for (std::size_t i = size(); i-- > 0;)
    if (++n.bytes[i] != 0) break;
  return n;
}

Ip Ip::v4(std::uint32_t h) {
  Ip ip;
  ip.bytes[0] = static_cast<std::uint8_t>(h >> 24);
  ip.bytes[1] = static_cast<std::uint8_t>(h >> 16);
  ip.bytes[2] = static_cast<std::uint8_t>(h >> 8);
  ip.bytes[3] = static_cast<std::uint8_t>(h);
  return ip;
}

std::uint32_t sum_words(std::span<const std::uint8_t> bytes, std::uint32_t sum) {
  std::size_t i = 0;
  for (; i + 1 < bytes.size(); i += 2) sum += get16(&bytes[i]);
  if (i < bytes.size()) sum += static_cast<std::uint32_t>(bytes[i]) << 8;
  return sum;
}

std::uint16_t fold(std::uint32_t sum) {
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return static_cast<std::uint16_t>(sum);
}

std::optional<Packet> parse(std::span<const std::uint8_t> b) {
  if (b.empty()) return std::nullopt;
  Packet p;
  const std::uint8_t* ip = b.data();
  const int version = ip[0] >> 4;
  if (version == 4) {
    if (b.size() < 20) return std::nullopt;
    const std::size_t ihl = static_cast<std::size_t>(ip[0] & 0x0f) * 4;
    const std::size_t total = get16(ip + 2);
    if (ihl < 20 || total < ihl || total > b.size()) return std::nullopt;
    // A fragment (more fragments, or an offset): its ports may be elsewhere.
    if ((get16(ip + 6) & 0x3fff) != 0) return std::nullopt;
    p.protocol = ip[9];
    p.size = total;
    p.transport = ihl;
  } else if (version == 6) {
    if (b.size() < 40) return std::nullopt;
    const std::size_t total = 40 + std::size_t{get16(ip + 4)};
    if (total > b.size()) return std::nullopt;
    p.protocol = ip[6];  // next header: extension headers are not followed
    p.size = total;
    p.transport = 40;
  } else {
    return std::nullopt;
  }
  const bool v6 = version == 6;
  p.source.ip.v6 = p.destination.ip.v6 = v6;
  std::memcpy(p.source.ip.bytes.data(), ip + src_at(v6), v6 ? 16 : 4);
  std::memcpy(p.destination.ip.bytes.data(), ip + dst_at(v6), v6 ? 16 : 4);
  const std::uint8_t* l4 = ip + p.transport;
  const std::size_t l4_size = p.size - p.transport;
  if (p.protocol == kTcp) {
    if (l4_size < 20) return std::nullopt;
    const std::size_t off = static_cast<std::size_t>(l4[12] >> 4) * 4;
    if (off < 20 || off > l4_size) return std::nullopt;
    p.tcp_flags = l4[13];
    p.payload = p.transport + off;
  } else if (p.protocol == kUdp) {
    if (l4_size < 8) return std::nullopt;
    const std::size_t len = get16(l4 + 4);
    // The UDP length is authoritative for the payload (IPv4 padding past it).
    if (len < 8 || len > l4_size) return std::nullopt;
    p.size = p.transport + len;
    p.payload = p.transport + 8;
  } else {
    return std::nullopt;
  }
  p.source.port = get16(l4);
  p.destination.port = get16(l4 + 2);
  return p;
}

void rewrite(std::span<std::uint8_t> b, Packet& p, const Endpoint& source, const Endpoint& destination,
             L4Checksum checksum) {
  const bool v6 = p.v6();
  std::uint8_t* ip = b.data();
  std::uint8_t* l4 = ip + p.transport;
  std::uint8_t* check = l4 + checksum_field(p.protocol);
  const bool partial = checksum == L4Checksum::partial;
  // A UDP/IPv4 checksum of 0 means none was sent: it stays none.
  const bool l4_sum = partial || !(p.protocol == kUdp && !v6 && get16(check) == 0);
  if (partial) invert(check);
  const std::size_t n = v6 ? 16 : 4;
  auto replace = [&](std::size_t at, const Ip& to) {
    if (l4_sum) adjust_bytes(check, ip + at, to.bytes.data(), n);
    if (!v6) adjust_bytes(ip + 10, ip + at, to.bytes.data(), n);  // the IPv4 header checksum
    std::memcpy(ip + at, to.bytes.data(), n);
  };
  // The ports are outside the pseudo-header: a partial sum does not cover them.
  auto replace_port = [&](std::size_t at, std::uint16_t port) {
    if (l4_sum && !partial) adjust(check, get16(l4 + at), port);
    put16(l4 + at, port);
  };
  replace(src_at(v6), source.ip);
  replace(dst_at(v6), destination.ip);
  replace_port(0, source.port);
  replace_port(2, destination.port);
  if (partial) invert(check);
  // 0 is "no checksum" for UDP: a computed 0 is sent as its other form.
  else if (p.protocol == kUdp && l4_sum && get16(check) == 0) put16(check, 0xffff);
  p.source = source;
  p.destination = destination;
}

std::uint32_t pseudo_header_sum(std::span<const std::uint8_t> b, const Packet& p) {
  return pseudo_sum(b.data(), p.v6(), p.protocol, p.size - p.transport);
}

bool checksums_ok(std::span<const std::uint8_t> b, const Packet& p) {
  const std::uint8_t* ip = b.data();
  const bool v6 = p.v6();
  if (!v6 && fold(sum_words({ip, p.transport})) != 0xffff) return false;
  const std::size_t l4_size = p.size - p.transport;
  const std::uint8_t* l4 = ip + p.transport;
  if (p.protocol == kUdp && !v6 && get16(l4 + 6) == 0) return true;  // none sent
  return fold(sum_words({l4, l4_size}, pseudo_sum(ip, v6, p.protocol, l4_size))) == 0xffff;
}

std::size_t build_udp(std::span<std::uint8_t> out, const Endpoint& source, const Endpoint& destination,
                      std::size_t payload_size) {
  const bool v6 = source.ip.v6;
  const std::size_t header = udp_header_size(v6);
  const std::size_t total = header + payload_size;
  if (total > out.size() || payload_size + 8 > 65535 || (!v6 && total > 65535)) return 0;
  std::uint8_t* ip = out.data();
  const std::size_t n = v6 ? 16 : 4;
  if (v6) {
    std::memset(ip, 0, 40);
    ip[0] = 0x60;
    put16(ip + 4, static_cast<std::uint16_t>(payload_size + 8));
    ip[6] = kUdp;
    ip[7] = 64;  // hop limit
  } else {
    std::memset(ip, 0, 20);
    ip[0] = 0x45;
    put16(ip + 2, static_cast<std::uint16_t>(total));
    put16(ip + 6, 0x4000);  // don't fragment
    ip[8] = 64;             // TTL
    ip[9] = kUdp;
  }
  std::memcpy(ip + src_at(v6), source.ip.bytes.data(), n);
  std::memcpy(ip + dst_at(v6), destination.ip.bytes.data(), n);
  if (!v6) put16(ip + 10, static_cast<std::uint16_t>(~fold(sum_words({ip, 20}))));
  std::uint8_t* udp = ip + (v6 ? 40 : 20);
  put16(udp, source.port);
  put16(udp + 2, destination.port);
  put16(udp + 4, static_cast<std::uint16_t>(payload_size + 8));
  put16(udp + 6, 0);
  std::uint16_t sum = static_cast<std::uint16_t>(~fold(sum_words({udp, payload_size + 8}, pseudo_sum(ip, v6, kUdp, payload_size + 8))));
  if (sum == 0) sum = 0xffff;
  put16(udp + 6, sum);
  return total;
}

}  // namespace anytls::tun
