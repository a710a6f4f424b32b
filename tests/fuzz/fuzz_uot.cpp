// UoT v2 request, connect-mode and non-connect-mode packets over arbitrary
// bytes; what parses re-encodes to the same bytes (same host kind).
#include <cstring>

#include "anytls/uot.hpp"
#include "fuzz_check.hpp"
#include "net/socks_address.hpp"

using namespace anytls;
using namespace anytls::proto;

namespace {

bool same(const std::vector<std::uint8_t>& out, std::span<const std::uint8_t> in) {
  return out.size() == in.size() && std::memcmp(out.data(), in.data(), in.size()) == 0;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  const std::uint8_t mode = data[0] % 3;
  std::span<const std::uint8_t> in(data + 1, size - 1);
  std::vector<std::uint8_t> out;
  if (mode == 0) {
    const auto r = parse_uot_request(in);
    if (r.status != Parsed<UotRequest>::ok) return 0;
    FUZZ_CHECK(r.consumed >= 6 && r.consumed <= in.size());
    FUZZ_CHECK(append_uot_request(out, r.value));
    if ((in[0] <= 1) && out[1] == in[1]) FUZZ_CHECK(same(out, in.first(r.consumed)));
    FUZZ_CHECK(parse_uot_request(out).status == Parsed<UotRequest>::ok);
  } else if (mode == 1) {
    const auto r = parse_uot_connect_packet(in);
    if (r.status != Parsed<UotPacket>::ok) return 0;
    FUZZ_CHECK(r.consumed == 2 + r.value.payload.size() && r.consumed <= in.size());
    FUZZ_CHECK(r.value.payload.data() == in.data() + 2);
    FUZZ_CHECK(append_uot_connect_packet(out, r.value.payload));
    FUZZ_CHECK(same(out, in.first(r.consumed)));
  } else {
    // a stream of non-connect packets
    while (true) {
      const auto r = parse_uot_packet(in);
      if (r.status != Parsed<UotPacket>::ok) break;
      FUZZ_CHECK(r.consumed <= in.size() && r.consumed >= r.value.payload.size() + 7);
      FUZZ_CHECK(r.value.payload.data() + r.value.payload.size() == in.data() + r.consumed);
      out.clear();
      FUZZ_CHECK(append_uot_packet(out, r.value.address, r.value.payload));
      if (out[0] == in[0]) FUZZ_CHECK(same(out, in.first(r.consumed)));
      in = in.subspan(r.consumed);
    }
  }
  return 0;
}
