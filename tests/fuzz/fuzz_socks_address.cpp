// SOCKS address parse over arbitrary bytes; what parses re-encodes to the
// same bytes (when the host keeps its kind), and the preamble parser.
#include <cstring>

#include "anytls/preamble.hpp"
#include "fuzz_check.hpp"
#include "net/socks_address.hpp"

using namespace anytls;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::span<const std::uint8_t> in(data, size);
  const auto r = net::parse_socks_address(in);
  if (r.status == net::SocksAddressParse::ok) {
    FUZZ_CHECK(r.consumed >= 5 && r.consumed <= size);  // 03 01 x port
    std::vector<std::uint8_t> out;
    FUZZ_CHECK(net::append_socks_address(out, r.address));
    FUZZ_CHECK(out.size() >= 5);
    if (out[0] == data[0]) {
      FUZZ_CHECK(out.size() == r.consumed && std::memcmp(out.data(), data, r.consumed) == 0);
    }
    const auto again = net::parse_socks_address(out);
    FUZZ_CHECK(again.status == net::SocksAddressParse::ok && again.consumed == out.size());
  } else if (r.status == net::SocksAddressParse::need_more) {
    FUZZ_CHECK(size < 2 + 255 + 2);
  }

  const auto p = proto::parse_preamble(in);
  if (p.status == proto::PreambleParse::complete) {
    FUZZ_CHECK(p.consumed >= 34 && p.consumed <= size);
  } else {
    FUZZ_CHECK(p.needed > size && p.needed <= 34 + 65535);
  }
  if (size >= 32) {
    const std::vector<proto::PasswordHash> users{proto::hash_password("a"), proto::hash_password("b")};
    const auto m = proto::match_user(std::span<const std::uint8_t, 32>(data, 32), users);
    FUZZ_CHECK(!m || *m < users.size());
  }
  return 0;
}
