// Padding scheme parse + shape_packet: the records carry the pending bytes
// in order, followed only by well-formed Waste frames.
#include <fuzzer/FuzzedDataProvider.h>

#include <cstring>

#include "anytls/frame.hpp"
#include "anytls/padding.hpp"
#include "fuzz_check.hpp"

using namespace anytls::proto;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  FuzzedDataProvider fdp(data, size);
  const auto packet = fdp.ConsumeIntegralInRange<std::uint32_t>(0, 12);
  const auto pending_len = fdp.ConsumeIntegralInRange<std::size_t>(0, 70000);
  const auto seed = fdp.ConsumeIntegral<std::uint64_t>();
  const std::string text = fdp.ConsumeRemainingBytesAsString();

  const auto scheme = PaddingScheme::parse(text);
  if (!scheme) return 0;
  FUZZ_CHECK(scheme->text == text);
  FUZZ_CHECK(scheme->md5_hex.size() == 32);
  (void)scheme->preamble_padding_length();

  std::uint64_t total_pad = 0;  // keep each run's allocations bounded
  for (const auto& [pkt, items] : scheme->packets) {
    for (const auto& it : items) {
      FUZZ_CHECK(it.check || (it.min > 0 && it.min <= it.max && it.max <= kMaxPaddingSize));
      if (pkt == packet) total_pad += it.max;
    }
  }
  if (total_pad > (64u << 20)) return 0;

  std::vector<std::uint8_t> pending(pending_len);
  for (std::size_t i = 0; i < pending.size(); ++i) pending[i] = static_cast<std::uint8_t>(i * 131 + 7);
  std::uint64_t state = seed;
  RandomInt rand = [&](std::uint32_t lo, std::uint32_t hi) -> std::uint32_t {
    FUZZ_CHECK(lo < hi);
    state = state * 6364136223846793005ull + 1442695040888963407ull;
    // sometimes out of range, to exercise the clamp
    if ((state >> 60) == 0) return static_cast<std::uint32_t>(state >> 20);
    return lo + static_cast<std::uint32_t>((state >> 33) % (hi - lo));
  };

  const auto records = shape_packet(*scheme, packet, pending, rand);
  std::vector<std::uint8_t> all;
  for (const auto& r : records) {
    FUZZ_CHECK(!r.empty());
    all.insert(all.end(), r.begin(), r.end());
  }
  FUZZ_CHECK(all.size() >= pending.size());
  FUZZ_CHECK(pending.empty() || std::memcmp(all.data(), pending.data(), pending.size()) == 0);
  std::span<const std::uint8_t> rest(all.data() + pending.size(), all.size() - pending.size());
  while (!rest.empty()) {
    FUZZ_CHECK(rest.size() >= kFrameHeaderSize);
    const auto h = decode_header(rest.data());
    FUZZ_CHECK(h.cmd == Command::waste && h.sid == 0);
    FUZZ_CHECK(rest.size() >= kFrameHeaderSize + h.length);
    for (std::size_t i = 0; i < h.length; ++i) FUZZ_CHECK(rest[kFrameHeaderSize + i] == 0);
    rest = rest.subspan(kFrameHeaderSize + h.length);
  }
  if (packet >= scheme->stop || !scheme->packets.contains(packet))
    FUZZ_CHECK(all.size() == pending.size() && records.size() <= 1);
  return 0;
}
