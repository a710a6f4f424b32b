// Micro-benchmarks of the pure codecs: the frame codec over 1 MiB of PSH
// frames and the padding writer (shape_packet, default scheme, packets 1..8).
//   bench_micro --benchmark_min_time=0.2
#include <cstdint>
#include <cstring>
#include <span>
#include <vector>

#include <benchmark/benchmark.h>

#include "anytls/frame.hpp"
#include "anytls/padding.hpp"

namespace {

using namespace anytls::proto;

constexpr std::size_t kMiB = 1024 * 1024;

std::vector<std::uint8_t> payload(std::size_t n) {
  std::vector<std::uint8_t> v(n);
  std::uint32_t x = 2463534242u;
  for (auto& b : v) {
    x ^= x << 13, x ^= x >> 17, x ^= x << 5;
    b = static_cast<std::uint8_t>(x);
  }
  return v;
}

// 1 MiB cut into frames of range(0) bytes: the headers alone.
void BM_EncodeHeader(benchmark::State& state) {
  const std::size_t frame = static_cast<std::size_t>(state.range(0));
  const std::size_t frames = (kMiB + frame - 1) / frame;
  std::vector<std::uint8_t> out(frames * kFrameHeaderSize);
  for (auto _ : state) {
    std::uint8_t* p = out.data();
    std::size_t left = kMiB;
    for (std::uint32_t i = 0; i < frames; ++i, p += kFrameHeaderSize) {
      auto len = static_cast<std::uint16_t>(std::min(left, frame));
      encode_header(p, FrameHeader{Command::push, 1, len});
      left -= len;
    }
    benchmark::DoNotOptimize(out.data());
    benchmark::ClobberMemory();
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * frames));
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * kMiB));
}
BENCHMARK(BM_EncodeHeader)->Arg(1024)->Arg(16 * 1024)->Arg(65535);

// 1 MiB appended as PSH frames, range(0) bytes of data per append_frame call
// (append_frame splits anything above 65535 itself). The output vector keeps
// its capacity, as the session's write buffer does.
void BM_AppendFrame(benchmark::State& state) {
  const std::size_t chunk = static_cast<std::size_t>(state.range(0));
  const auto data = payload(kMiB);
  std::vector<std::uint8_t> out;
  out.reserve(kMiB + (kMiB / 1024 + 1) * kFrameHeaderSize);
  for (auto _ : state) {
    out.clear();
    for (std::size_t off = 0; off < kMiB; off += chunk) {
      std::size_t n = std::min(chunk, kMiB - off);
      append_frame(out, Command::push, 1, std::span<const std::uint8_t>(data.data() + off, n));
    }
    benchmark::DoNotOptimize(out.data());
    benchmark::ClobberMemory();
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * kMiB));
}
BENCHMARK(BM_AppendFrame)->Arg(1024)->Arg(16 * 1024)->Arg(65535)->Arg(kMiB);

// 1 MiB of PSH frames of range(0) data bytes, fed to the decoder in reads of
// range(1) bytes (16 KiB: one TLS record, what the session reader gets).
void BM_FrameDecoder(benchmark::State& state) {
  const std::size_t frame = static_cast<std::size_t>(state.range(0));
  const std::size_t read = static_cast<std::size_t>(state.range(1));
  const auto data = payload(kMiB);
  std::vector<std::uint8_t> wire;
  for (std::size_t off = 0; off < kMiB; off += frame)
    append_frame(wire, Command::push, 1, std::span<const std::uint8_t>(data.data() + off, std::min(frame, kMiB - off)));
  std::uint64_t sum = 0;
  for (auto _ : state) {
    FrameDecoder dec;
    std::size_t payload_bytes = 0;
    for (std::size_t off = 0; off < wire.size(); off += read) {
      std::span<const std::uint8_t> in(wire.data() + off, std::min(read, wire.size() - off));
      while (!in.empty()) {
        auto ev = dec.next(in);
        if (ev.kind == FrameDecoder::Event::data) {
          payload_bytes += ev.bytes.size();
          sum += ev.bytes[0];
        }
      }
    }
    if (payload_bytes != kMiB) state.SkipWithError("decoded the wrong number of bytes");
  }
  benchmark::DoNotOptimize(sum);
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * wire.size()));
}
BENCHMARK(BM_FrameDecoder)->Args({1024, 16 * 1024})->Args({16 * 1024, 16 * 1024})->Args({65535, 16 * 1024})
    ->Args({65535, 64 * 1024});

// Packet range(0) (1..8 are shaped by the default scheme, 9 is past stop) of
// a write carrying range(1) bytes of complete frames, with the internal PRNG.
void BM_ShapePacket(benchmark::State& state) {
  const auto& scheme = PaddingScheme::default_scheme();
  const auto packet = static_cast<std::uint32_t>(state.range(0));
  const auto data = payload(static_cast<std::size_t>(state.range(1)));
  std::vector<std::uint8_t> pending;
  append_frame(pending, Command::push, 1, data);
  std::size_t out_bytes = 0, records = 0;
  for (auto _ : state) {
    auto r = shape_packet(scheme, packet, pending, {});
    records += r.size();
    for (auto& v : r) out_bytes += v.size();
    benchmark::DoNotOptimize(r);
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * pending.size()));
  state.counters["records"] = benchmark::Counter(double(records) / double(state.iterations()));
  state.counters["wire_bytes"] = benchmark::Counter(double(out_bytes) / double(state.iterations()));
}
BENCHMARK(BM_ShapePacket)->ArgsProduct({benchmark::CreateDenseRange(1, 9, 1), {64, 16 * 1024}});

}  // namespace

BENCHMARK_MAIN();
