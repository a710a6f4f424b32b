#include "anytls/frame.hpp"

#include <gtest/gtest.h>

#include <random>

#include "unit/anytls/hex.hpp"

using namespace anytls::proto;
using anytls::test::hex;
using anytls::test::unhex;

namespace {

std::string frame_hex(Command cmd, std::uint32_t sid, std::string_view data = {}) {
  std::vector<std::uint8_t> out;
  append_frame(out, cmd, sid, data);
  return hex(out);
}

struct Decoded {
  FrameHeader hdr;
  std::vector<std::uint8_t> data;
};

// Feeds `wire` to a decoder in chunks of sizes drawn by `chunk` and collects
// whole frames, checking the event protocol on the way.
template <class Chunk>
std::vector<Decoded> decode_all(std::span<const std::uint8_t> wire, Chunk chunk) {
  FrameDecoder dec;
  std::vector<Decoded> frames;
  bool in_frame = false;
  while (!wire.empty()) {
    std::span<const std::uint8_t> in = wire.first(std::min(wire.size(), chunk()));
    wire = wire.subspan(in.size());
    while (true) {
      const std::size_t before = in.size();
      auto ev = dec.next(in);
      if (ev.kind == FrameDecoder::Event::need_more) {
        EXPECT_TRUE(in.empty());
        break;
      }
      EXPECT_LT(in.size(), before) << "an event must consume bytes";
      if (ev.kind == FrameDecoder::Event::header) {
        EXPECT_FALSE(in_frame);
        frames.push_back({ev.hdr, {}});
        EXPECT_EQ(ev.last, ev.hdr.length == 0);
        in_frame = !ev.last;
      } else {
        EXPECT_TRUE(in_frame);
        EXPECT_FALSE(ev.bytes.empty());
        EXPECT_EQ(ev.hdr.cmd, frames.back().hdr.cmd);
        EXPECT_EQ(ev.hdr.sid, frames.back().hdr.sid);
        frames.back().data.insert(frames.back().data.end(), ev.bytes.begin(), ev.bytes.end());
        if (ev.last) {
          EXPECT_EQ(frames.back().data.size(), frames.back().hdr.length);
          in_frame = false;
        }
      }
    }
  }
  EXPECT_FALSE(in_frame);
  return frames;
}

}  // namespace

TEST(Frame, Vectors) {
  EXPECT_EQ(frame_hex(Command::syn, 1), "01000000010000");
  EXPECT_EQ(frame_hex(Command::push, 1, std::string_view("\x03\x0b" "example.com\x01\xbb", 15)),
            "0200000001000f030b6578616d706c652e636f6d01bb");
  EXPECT_EQ(frame_hex(Command::heart_request, 0), "08000000000000");
  EXPECT_EQ(frame_hex(Command::heart_response, 0), "09000000000000");
  EXPECT_EQ(frame_hex(Command::synack, 2, "dial tcp: refused"),
            "070000000200116469616c207463703a2072656675736564");
  EXPECT_EQ(frame_hex(Command::settings, 0,
                      "v=2\nclient=anytls-cpp/0.1.0\npadding-md5=75cff2ad89aadf5e257059ee571ebe11"),
            "04000000000048763d320a636c69656e743d616e79746c732d6370702f302e312e300a70616464696e672d6d6435"
            "3d3735636666326164383961616466356532353730353965653537316562653131");
}

TEST(Frame, HeaderRoundTrip) {
  std::uint8_t b[kFrameHeaderSize];
  encode_header(b, {Command::server_settings, 0xdeadbeef, 0xfffe});
  EXPECT_EQ(hex(b), "0adeadbeeffffe");
  auto h = decode_header(b);
  EXPECT_EQ(h.cmd, Command::server_settings);
  EXPECT_EQ(h.sid, 0xdeadbeefu);
  EXPECT_EQ(h.length, 0xfffe);
}

TEST(Frame, AppendAppends) {
  std::vector<std::uint8_t> out{0xaa};
  append_frame(out, Command::fin, 7);
  append_frame(out, Command::push, 7, "x");
  EXPECT_EQ(hex(out), "aa" "03000000070000" "0200000007000178");
}

TEST(Frame, SplitsLargeData) {
  std::vector<std::uint8_t> data(1 << 20);
  std::mt19937 gen(1);
  for (auto& b : data) b = static_cast<std::uint8_t>(gen());
  std::vector<std::uint8_t> wire;
  append_frame(wire, Command::push, 3, data);
  const std::size_t frames = (data.size() + kMaxFrameData - 1) / kMaxFrameData;  // 17
  ASSERT_EQ(frames, 17u);
  EXPECT_EQ(wire.size(), data.size() + frames * kFrameHeaderSize);

  std::uniform_int_distribution<std::size_t> size(1, 100000);
  auto got = decode_all(wire, [&] { return size(gen); });
  ASSERT_EQ(got.size(), frames);
  std::vector<std::uint8_t> joined;
  for (std::size_t i = 0; i < got.size(); ++i) {
    EXPECT_EQ(got[i].hdr.cmd, Command::push);
    EXPECT_EQ(got[i].hdr.sid, 3u);
    EXPECT_EQ(got[i].hdr.length, i + 1 < got.size() ? kMaxFrameData : data.size() % kMaxFrameData);
    joined.insert(joined.end(), got[i].data.begin(), got[i].data.end());
  }
  EXPECT_EQ(joined, data);
}

TEST(Frame, ExactlyMaxIsOneFrame) {
  std::vector<std::uint8_t> data(kMaxFrameData, 1), wire;
  append_frame(wire, Command::push, 1, data);
  EXPECT_EQ(wire.size(), kMaxFrameData + kFrameHeaderSize);
  data.push_back(2);
  wire.clear();
  append_frame(wire, Command::push, 1, data);
  EXPECT_EQ(wire.size(), kMaxFrameData + 1 + 2 * kFrameHeaderSize);
  EXPECT_EQ(hex(std::span(wire).subspan(kMaxFrameData + kFrameHeaderSize)), "0200000001000102");
}

TEST(Frame, DecoderByteByByteAndUnknownCommand) {
  std::vector<std::uint8_t> wire;
  append_frame(wire, Command::syn, 1);
  append_frame(wire, Command::push, 1, "hello");
  wire.insert(wire.end(), {0xff, 0, 0, 0, 9, 0, 3, 'a', 'b', 'c'});  // unknown cmd 255
  append_frame(wire, Command::heart_request, 0);
  append_frame(wire, Command::fin, 1);
  for (std::size_t step : {1, 2, 3, 6, 7, 8, 13, 1000}) {
    SCOPED_TRACE(step);
    auto got = decode_all(wire, [&] { return step; });
    ASSERT_EQ(got.size(), 5u);
    EXPECT_EQ(got[0].hdr.cmd, Command::syn);
    EXPECT_EQ(got[1].hdr.cmd, Command::push);
    EXPECT_EQ(std::string(got[1].data.begin(), got[1].data.end()), "hello");
    EXPECT_EQ(static_cast<int>(got[2].hdr.cmd), 255);
    EXPECT_EQ(got[2].hdr.sid, 9u);
    EXPECT_EQ(std::string(got[2].data.begin(), got[2].data.end()), "abc");
    EXPECT_EQ(got[3].hdr.cmd, Command::heart_request);
    EXPECT_EQ(got[4].hdr.cmd, Command::fin);
    EXPECT_EQ(got[4].hdr.sid, 1u);
  }
}

TEST(Frame, DecoderEmptyInputAndZeroLengthHeader) {
  FrameDecoder dec;
  std::span<const std::uint8_t> empty;
  EXPECT_EQ(dec.next(empty).kind, FrameDecoder::Event::need_more);
  auto wire = unhex("01000000010000" "0200000001000178");
  std::span<const std::uint8_t> in = wire;
  auto ev = dec.next(in);
  EXPECT_EQ(ev.kind, FrameDecoder::Event::header);
  EXPECT_TRUE(ev.last);
  EXPECT_EQ(ev.hdr.cmd, Command::syn);
  EXPECT_EQ(in.size(), 8u);
  ev = dec.next(in);
  EXPECT_EQ(ev.kind, FrameDecoder::Event::header);
  EXPECT_FALSE(ev.last);
  EXPECT_EQ(ev.hdr.length, 1);
  EXPECT_EQ(dec.next(empty).kind, FrameDecoder::Event::need_more);  // mid-payload, no bytes
  ev = dec.next(in);
  EXPECT_EQ(ev.kind, FrameDecoder::Event::data);
  EXPECT_TRUE(ev.last);
  ASSERT_EQ(ev.bytes.size(), 1u);
  EXPECT_EQ(ev.bytes[0], 'x');
  EXPECT_TRUE(in.empty());
  EXPECT_EQ(dec.next(in).kind, FrameDecoder::Event::need_more);
}

TEST(Frame, DecoderStopsAtFrameBoundaryInPayload) {
  // A data event never runs past the frame: the next header stays in `in`.
  auto wire = unhex("020000000100026162" "03000000010000");
  std::span<const std::uint8_t> in = wire;
  FrameDecoder dec;
  EXPECT_EQ(dec.next(in).kind, FrameDecoder::Event::header);
  auto ev = dec.next(in);
  EXPECT_EQ(ev.kind, FrameDecoder::Event::data);
  EXPECT_EQ(ev.bytes.size(), 2u);
  EXPECT_EQ(in.size(), 7u);
}
