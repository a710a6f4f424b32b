// FrameDecoder over arbitrary bytes and arbitrary chunking: the decoded
// frames must not depend on the chunking and must re-encode to the input.
#include <cstring>
#include <vector>

#include "anytls/frame.hpp"
#include "fuzz_check.hpp"

using namespace anytls::proto;

namespace {

struct Frame {
  FrameHeader hdr;
  std::vector<std::uint8_t> data;
  bool complete = false;
};

// Decodes `wire` cut into chunks whose sizes come from `cuts` (cycled).
std::vector<Frame> decode(std::span<const std::uint8_t> wire, std::span<const std::uint8_t> cuts) {
  FrameDecoder dec;
  std::vector<Frame> frames;
  std::size_t k = 0;
  while (!wire.empty()) {
    const std::size_t step = cuts.empty() ? wire.size() : std::size_t{cuts[k++ % cuts.size()]} + 1;
    std::span<const std::uint8_t> in = wire.first(std::min(step, wire.size()));
    wire = wire.subspan(in.size());
    while (true) {
      const std::size_t before = in.size();
      const auto ev = dec.next(in);
      FUZZ_CHECK(in.size() <= before);
      if (ev.kind == FrameDecoder::Event::need_more) {
        FUZZ_CHECK(in.empty());
        break;
      }
      FUZZ_CHECK(in.size() < before);
      if (ev.kind == FrameDecoder::Event::header) {
        FUZZ_CHECK(frames.empty() || frames.back().complete);
        FUZZ_CHECK(ev.last == (ev.hdr.length == 0));
        frames.push_back({ev.hdr, {}, ev.last});
      } else {
        FUZZ_CHECK(!frames.empty() && !frames.back().complete);
        FUZZ_CHECK(!ev.bytes.empty());
        auto& f = frames.back();
        FUZZ_CHECK(ev.hdr.cmd == f.hdr.cmd && ev.hdr.sid == f.hdr.sid && ev.hdr.length == f.hdr.length);
        f.data.insert(f.data.end(), ev.bytes.begin(), ev.bytes.end());
        FUZZ_CHECK(f.data.size() <= f.hdr.length);
        f.complete = ev.last;
        FUZZ_CHECK(ev.last == (f.data.size() == f.hdr.length));
      }
    }
  }
  return frames;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  // first byte: how many chunk-size bytes follow
  const std::size_t ncuts = std::min<std::size_t>(data[0] % 16, size - 1);
  std::span<const std::uint8_t> cuts(data + 1, ncuts);
  std::span<const std::uint8_t> wire(data + 1 + ncuts, size - 1 - ncuts);

  const auto whole = decode(wire, {});
  const auto chunked = decode(wire, cuts);
  FUZZ_CHECK(whole.size() == chunked.size());

  std::vector<std::uint8_t> re;
  for (std::size_t i = 0; i < whole.size(); ++i) {
    const auto& a = whole[i];
    const auto& b = chunked[i];
    FUZZ_CHECK(a.hdr.cmd == b.hdr.cmd && a.hdr.sid == b.hdr.sid && a.hdr.length == b.hdr.length);
    FUZZ_CHECK(a.data == b.data && a.complete == b.complete);
    if (a.complete) append_frame(re, a.hdr.cmd, a.hdr.sid, a.data);
  }
  // every complete frame re-encodes to exactly the bytes it came from
  FUZZ_CHECK(re.size() <= wire.size());
  FUZZ_CHECK(re.empty() || std::memcmp(re.data(), wire.data(), re.size()) == 0);
  return 0;
}
