// The tun packet parser over arbitrary bytes. What parses stays inside the
// input; rewriting it to other endpoints and back gives its endpoints
// again, and its checksums verify after each rewrite exactly when they did
// before (the incremental update keeps a checksum's error, if any); a UDP packet built from its
// payload parses back to the same endpoints and payload with good checksums.
// The same packet with its checksum left to the device (the field holding
// the pseudo-header's sum), rewritten and finished, verifies when the
// packet did. The first 10 bytes read as an offload header never make a
// header the stack follows for a packet that does not fit it, and the
// packet behind one it follows rewrites as it says.
#include <cstring>
#include <vector>

#include "fuzz_check.hpp"
#include "tun/offload.hpp"
#include "tun/packet.hpp"

using namespace anytls::tun;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::vector<std::uint8_t> bytes(data, data + size);
  if (auto h = parse_vnet(bytes)) {
    if (auto inner = parse(std::span<const std::uint8_t>(bytes).subspan(VnetHeader::kSize))) {
      if (auto how = checksum_of(*h, *inner); how && *how == L4Checksum::partial)
        FUZZ_CHECK(h->csum_start == inner->transport && h->csum_offset == checksum_field(inner->protocol));
      if (checksum_of(*h, *inner) && h->gso()) FUZZ_CHECK(inner->protocol == kTcp && (h->flags & VnetHeader::kNeedsCsum));
      // What the stack does with it: rewritten in place as the header says.
      if (auto how = checksum_of(*h, *inner)) {
        std::vector<std::uint8_t> frame(bytes.begin() + VnetHeader::kSize, bytes.end());
        Endpoint s = inner->source, d = inner->destination;
        s.port = static_cast<std::uint16_t>(s.port + 1);
        d.ip.bytes[0] ^= 0x22;
        rewrite(frame, *inner, s, d, *how);
        auto again = parse(frame);
        FUZZ_CHECK(again && again->source == s && again->destination == d);
      }
    }
  }
  auto p = parse(bytes);
  if (!p) return 0;
  FUZZ_CHECK(p->size <= size && p->transport < p->payload && p->payload <= p->size);
  FUZZ_CHECK(p->protocol == kTcp || p->protocol == kUdp);
  const Packet original = *p;
  const bool ok = checksums_ok(bytes, *p);
  Endpoint a = p->source, b = p->destination;
  a.ip.bytes[a.ip.size() - 1] ^= 0x5a;
  a.port = static_cast<std::uint16_t>(a.port + 1000);
  b.ip.bytes[0] ^= 0x11;
  b.port = static_cast<std::uint16_t>(b.port ^ 0x0101);
  rewrite(bytes, *p, a, b);
  auto q = parse(bytes);
  FUZZ_CHECK(q && q->source == a && q->destination == b);
  // A UDP checksum may become 0xffff for 0 (equal in one's complement): compare verdicts.
  FUZZ_CHECK(checksums_ok(bytes, *q) == ok);
  rewrite(bytes, *q, original.source, original.destination);
  auto back = parse(bytes);
  FUZZ_CHECK(back && back->source == original.source && back->destination == original.destination);
  FUZZ_CHECK(checksums_ok(bytes, *back) == ok);
  if (ok) {
    std::vector<std::uint8_t> partial = bytes;
    std::uint8_t* field = partial.data() + back->transport + checksum_field(back->protocol);
    const std::uint16_t pseudo = fold(pseudo_header_sum(partial, *back));
    field[0] = static_cast<std::uint8_t>(pseudo >> 8);
    field[1] = static_cast<std::uint8_t>(pseudo);
    Packet pp = *back;
    rewrite(partial, pp, a, b, L4Checksum::partial);
    complete_checksum(partial, pp);
    FUZZ_CHECK(checksums_ok(partial, pp));
  }
  std::vector<std::uint8_t> out(udp_header_size(original.v6()) + original.payload_size());
  std::memcpy(out.data() + udp_header_size(original.v6()), data + original.payload, original.payload_size());
  const std::size_t n = build_udp(out, original.source, original.destination, original.payload_size());
  if (n == 0) return 0;
  auto u = parse(std::span<const std::uint8_t>(out.data(), n));
  FUZZ_CHECK(u && u->protocol == kUdp && u->source == original.source && u->destination == original.destination);
  FUZZ_CHECK(u->payload_size() == original.payload_size() && checksums_ok(out, *u));
  return 0;
}
