// DNS message decoding over arbitrary bytes. What parses: a new id keeps it
// parseable, TTL patching stays inside the buffer, and re-encoding it (names now uncompressed) gives
// a message that parses to the same questions, counts and record data
// lengths; a Client Subnet added to a query stays decodable.
#include <vector>

#include "dns/message.hpp"
#include "fuzz_check.hpp"

using namespace anytls::dns;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::span<const std::uint8_t> in(data, size);
  auto m = parse(in);
  if (!m) return 0;
  // A new id changes nothing else (names never point into the header).
  std::vector<std::uint8_t> copy(in.begin(), in.end());
  set_id(copy, 0xbeef);
  auto again = parse(copy);
  FUZZ_CHECK(again && again->id == 0xbeef);
  FUZZ_CHECK(again->answers.size() == m->answers.size());
  // TTL patching stays inside the buffer (a name pointing into a TTL field
  // may read differently afterwards: no parse check).
  patch_ttls(copy, *m, 17);
  (void)parse(copy);
  (void)min_ttl(*m);
  auto wire = encode(*m);
  if (!wire) return 0;  // names that cannot be written as text round trip (e.g. dots inside labels)
  auto back = parse(*wire);
  FUZZ_CHECK(back);
  FUZZ_CHECK(back->questions.size() == m->questions.size());
  FUZZ_CHECK(back->answers.size() == m->answers.size());
  FUZZ_CHECK(back->additional.size() == m->additional.size());
  for (std::size_t i = 0; i < m->answers.size(); ++i) FUZZ_CHECK(back->answers[i].data == m->answers[i].data);
  if (!m->questions.empty()) {
    ClientSubnet cs;
    cs.address = {10, 1, 2, 3};
    cs.prefix = static_cast<std::uint8_t>(size % 40);
    Message q = *m;
    set_client_subnet(q, cs);
    auto qw = encode(q);
    if (qw) FUZZ_CHECK(parse(*qw));
  }
  return 0;
}
