#include "anytls/padding.hpp"

#include <gtest/gtest.h>

#include <deque>

#include "anytls/frame.hpp"
#include "unit/anytls/hex.hpp"

using namespace anytls::proto;

namespace {

// A RandomInt that returns scripted values and records the ranges asked for.
struct Script {
  explicit Script(std::initializer_list<std::uint32_t> v = {}) : values(v) {}
  std::deque<std::uint32_t> values;
  std::vector<std::pair<std::uint32_t, std::uint32_t>> calls;
  RandomInt fn() {
    return [this](std::uint32_t lo, std::uint32_t hi) {
      calls.emplace_back(lo, hi);
      EXPECT_FALSE(values.empty()) << "unexpected draw";
      if (values.empty()) return lo;
      auto v = values.front();
      values.pop_front();
      return v;
    };
  }
};

std::vector<std::uint8_t> frame(Command cmd, std::uint32_t sid, std::size_t payload_len, std::uint8_t fill = 0x5a) {
  std::vector<std::uint8_t> out;
  append_frame(out, cmd, sid, std::vector<std::uint8_t>(payload_len, fill));
  return out;
}

// Checks that `rest` is nothing but well-formed Waste frames (sid 0, zeros).
void expect_waste(std::span<const std::uint8_t> rest) {
  while (!rest.empty()) {
    ASSERT_GE(rest.size(), kFrameHeaderSize);
    auto h = decode_header(rest.data());
    EXPECT_EQ(h.cmd, Command::waste);
    EXPECT_EQ(h.sid, 0u);
    ASSERT_GE(rest.size(), kFrameHeaderSize + h.length);
    for (std::size_t i = 0; i < h.length; ++i) ASSERT_EQ(rest[kFrameHeaderSize + i], 0);
    rest = rest.subspan(kFrameHeaderSize + h.length);
  }
}

std::vector<std::size_t> sizes(const std::vector<std::vector<std::uint8_t>>& recs) {
  std::vector<std::size_t> s;
  for (auto& r : recs) s.push_back(r.size());
  return s;
}

std::vector<std::uint8_t> concat(const std::vector<std::vector<std::uint8_t>>& recs) {
  std::vector<std::uint8_t> all;
  for (auto& r : recs) all.insert(all.end(), r.begin(), r.end());
  return all;
}

}  // namespace

TEST(Padding, DefaultScheme) {
  EXPECT_EQ(kDefaultPaddingScheme.size(), 137u);
  EXPECT_EQ(md5_hex(kDefaultPaddingScheme), "75cff2ad89aadf5e257059ee571ebe11");
  const auto& s = PaddingScheme::default_scheme();
  EXPECT_EQ(s.text, kDefaultPaddingScheme);
  EXPECT_EQ(s.md5_hex, "75cff2ad89aadf5e257059ee571ebe11");
  EXPECT_EQ(s.stop, 8u);
  ASSERT_EQ(s.packets.size(), 8u);  // lines 0..7
  EXPECT_EQ(s.preamble_padding_length(), 30);
  const auto& l2 = s.packets.at(2);
  ASSERT_EQ(l2.size(), 9u);
  EXPECT_FALSE(l2[0].check);
  EXPECT_EQ(l2[0].min, 400u);
  EXPECT_EQ(l2[0].max, 500u);
  EXPECT_TRUE(l2[1].check);
  EXPECT_EQ(l2[8].min, 500u);
  EXPECT_EQ(l2[8].max, 1000u);
  const auto& l3 = s.packets.at(3);
  ASSERT_EQ(l3.size(), 2u);
  EXPECT_EQ(l3[0].min, 9u);
  EXPECT_EQ(l3[0].max, 9u);
}

TEST(Padding, Md5) {
  EXPECT_EQ(md5_hex(""), "d41d8cd98f00b204e9800998ecf8427e");
  EXPECT_EQ(md5_hex("abc"), "900150983cd24fb0d6963f7d28e17f72");
}

TEST(Padding, WorkedExamplePacket2) {
  const auto pending = frame(Command::push, 1, 517);
  ASSERT_EQ(pending.size(), 524u);
  Script r{450, 800};
  auto recs = shape_packet(PaddingScheme::default_scheme(), 2, pending, r.fn());
  EXPECT_EQ(sizes(recs), (std::vector<std::size_t>{450, 800}));
  EXPECT_EQ(r.calls, (std::vector<std::pair<std::uint32_t, std::uint32_t>>{{400, 500}, {500, 1000}}));
  auto all = concat(recs);
  ASSERT_EQ(all.size(), 1250u);
  EXPECT_TRUE(std::equal(pending.begin(), pending.end(), all.begin()));
  // the Waste frame: 800 - 74 - 7 = 719 zero bytes
  EXPECT_EQ(anytls::test::hex(std::span(all).subspan(524, 7)), "000000000002cf");
  expect_waste(std::span(all).subspan(524));
}

TEST(Padding, WorkedExamplePacket3) {
  const auto pending = frame(Command::push, 1, 13);
  ASSERT_EQ(pending.size(), 20u);
  Script r{600};
  auto recs = shape_packet(PaddingScheme::default_scheme(), 3, pending, r.fn());
  EXPECT_EQ(sizes(recs), (std::vector<std::size_t>{9, 600}));
  EXPECT_EQ(r.calls.size(), 1u);  // 9-9 is fixed, no draw
  auto all = concat(recs);
  EXPECT_TRUE(std::equal(pending.begin(), pending.end(), all.begin()));
  EXPECT_EQ(anytls::test::hex(std::span(all).subspan(20, 7)), "00000000000246");  // 582
  expect_waste(std::span(all).subspan(20));
}

TEST(Padding, WorkedExamplePacket3Fin) {
  const auto pending = frame(Command::fin, 1, 0);
  ASSERT_EQ(pending.size(), 7u);
  Script r{600};
  auto recs = shape_packet(PaddingScheme::default_scheme(), 3, pending, r.fn());
  // 9-7-7 < 0: the FIN unpadded, then a pure Waste record of l+7 bytes
  EXPECT_EQ(sizes(recs), (std::vector<std::size_t>{7, 607}));
  EXPECT_EQ(recs[0], pending);
  EXPECT_EQ(anytls::test::hex(std::span(recs[1]).first(7)), "00000000000258");
  expect_waste(recs[1]);
}

TEST(Padding, PadOfExactlyZeroOrOneHeader) {
  auto scheme = *PaddingScheme::parse("stop=2\n1=14-14");
  // 7 pending: pad = 14-7-7 = 0 -> no Waste frame, 7 bytes
  auto recs = shape_packet(scheme, 1, frame(Command::fin, 1, 0), {});
  EXPECT_EQ(sizes(recs), (std::vector<std::size_t>{7}));
  // 6 pending bytes: pad = 1 -> record of exactly 14
  std::vector<std::uint8_t> six(6, 1);
  recs = shape_packet(scheme, 1, six, {});
  EXPECT_EQ(sizes(recs), (std::vector<std::size_t>{14}));
  expect_waste(std::span(recs[0]).subspan(6));
}

TEST(Padding, FirstPacketSettingsSynAddress) {
  // Packet 1 (100-400): Settings + SYN + PSH(address), 8 + ... bytes, drawn 250
  std::vector<std::uint8_t> pending;
  append_frame(pending, Command::settings, 0, "v=2");
  append_frame(pending, Command::syn, 1);
  Script r{250};
  auto recs = shape_packet(PaddingScheme::default_scheme(), 1, pending, r.fn());
  EXPECT_EQ(sizes(recs), (std::vector<std::size_t>{250}));
}

TEST(Padding, CheckMarkStopsOnlyWhenEmpty) {
  // packet 2 with a large write: no check mark stops, all five ranges used,
  // then the rest as one more record
  std::vector<std::uint8_t> pending(5000, 7);
  Script r{450, 600, 700, 800, 900};
  auto recs = shape_packet(PaddingScheme::default_scheme(), 2, pending, r.fn());
  EXPECT_EQ(sizes(recs), (std::vector<std::size_t>{450, 600, 700, 800, 900, 5000 - 3450}));
  EXPECT_EQ(concat(recs), pending);
}

TEST(Padding, EmptyPendingOnPaddedPacket) {
  // packet 2, nothing pending: a pure Waste record, then c stops
  Script r{420};
  auto recs = shape_packet(PaddingScheme::default_scheme(), 2, {}, r.fn());
  EXPECT_EQ(sizes(recs), (std::vector<std::size_t>{427}));
  expect_waste(recs[0]);
}

TEST(Padding, UnshapedAfterStopOrWithoutLine) {
  const std::vector<std::uint8_t> pending(300, 1);
  Script none;
  for (std::uint32_t p : {8u, 9u, 1000u}) {
    auto recs = shape_packet(PaddingScheme::default_scheme(), p, pending, none.fn());
    ASSERT_EQ(recs.size(), 1u);
    EXPECT_EQ(recs[0], pending);
    EXPECT_TRUE(shape_packet(PaddingScheme::default_scheme(), p, {}, none.fn()).empty());
  }
  auto scheme = *PaddingScheme::parse("stop=10\n1=100-100");
  auto recs = shape_packet(scheme, 5, pending, none.fn());  // no line 5
  ASSERT_EQ(recs.size(), 1u);
  EXPECT_EQ(recs[0], pending);
  EXPECT_TRUE(none.calls.empty());
}

TEST(Padding, RandomOutOfRangeIsClamped) {
  auto scheme = *PaddingScheme::parse("stop=2\n1=100-200");
  Script r{5, 5000};
  auto recs = shape_packet(scheme, 1, {}, r.fn());
  EXPECT_EQ(sizes(recs), (std::vector<std::size_t>{107}));
  recs = shape_packet(scheme, 1, {}, r.fn());
  EXPECT_EQ(sizes(recs), (std::vector<std::size_t>{206}));
}

TEST(Padding, DefaultRandomWhenNoneGiven) {
  for (int i = 0; i < 100; ++i) {
    auto recs = shape_packet(PaddingScheme::default_scheme(), 1, {}, {});
    ASSERT_EQ(recs.size(), 1u);
    EXPECT_GE(recs[0].size(), 107u);
    EXPECT_LT(recs[0].size(), 407u);
  }
}

TEST(Padding, LargeWasteIsSplitKeepingRecordSize) {
  auto scheme = *PaddingScheme::parse("stop=2\n1=200000-200000,c,65536-65536,c,65543-65543");
  auto recs = shape_packet(scheme, 1, {}, {});  // pure waste l+7, then c stops
  EXPECT_EQ(sizes(recs), (std::vector<std::size_t>{200007}));
  expect_waste(recs[0]);

  std::vector<std::uint8_t> pending(10, 3);
  recs = shape_packet(scheme, 1, pending, {});  // padded to exactly l
  EXPECT_EQ(sizes(recs), (std::vector<std::size_t>{200000}));
  expect_waste(std::span(recs[0]).subspan(10));

  for (std::size_t n : {200001u, 200001u + 65536 - 8, 200001u + 65536 - 9}) {
    pending.assign(n, 3);
    recs = shape_packet(scheme, 1, pending, {});
    ASSERT_EQ(recs.size(), 2u);
    EXPECT_EQ(recs[0].size(), 200000u);
    std::vector<std::uint8_t> rest(pending.begin() + 200000, pending.end());
    ASSERT_LE(rest.size(), recs[1].size());
    EXPECT_TRUE(std::equal(rest.begin(), rest.end(), recs[1].begin()));
    expect_waste(std::span(recs[1]).subspan(rest.size()));
    if (rest.size() + 7 < 65536) {
      EXPECT_EQ(recs[1].size(), 65536u);
    }
  }
}

TEST(Padding, ParseReversedRangesAndSkippedItems) {
  auto s = PaddingScheme::parse("stop=5\n1=400-100,0-10,-5,a-b,1-2-3,c,C, c,+3-4,5,20-20,10-0,,x\n2=\n01=1-1\n+3=1-1");
  ASSERT_TRUE(s);
  ASSERT_EQ(s->packets.count(1), 1u);
  const auto& l1 = s->packets.at(1);
  ASSERT_EQ(l1.size(), 4u);
  EXPECT_EQ(l1[0].min, 100u);
  EXPECT_EQ(l1[0].max, 400u);
  EXPECT_TRUE(l1[1].check);
  EXPECT_EQ(l1[2].min, 3u);
  EXPECT_EQ(l1[2].max, 4u);
  EXPECT_EQ(l1[3].min, 20u);
  EXPECT_EQ(l1[3].max, 20u);
  EXPECT_TRUE(s->packets.at(2).empty());
  EXPECT_EQ(s->packets.size(), 2u);  // "01" and "+3" are not packet numbers
}

TEST(Padding, ParseCapsAbsurdSizes) {
  auto s = PaddingScheme::parse("stop=5\n1=1-1048576,1-1048577,99999999999999999999-1");
  ASSERT_TRUE(s);
  ASSERT_EQ(s->packets.at(1).size(), 1u);
  EXPECT_EQ(s->packets.at(1)[0].max, kMaxPaddingSize);
}

TEST(Padding, InvalidSchemes) {
  for (std::string_view bad : {"", "\n", "0=30-30\n1=100-400", "stop=", "stop=x", "stop=8x", "stop= 8",
                               "stop=-1", "stop=4294967296", "stop=99999999999999999999", "Stop=8",
                               "stop 8"}) {
    EXPECT_FALSE(PaddingScheme::parse(bad)) << bad;
  }
  for (std::string_view good : {"stop=0", "stop=8", "stop=+8", "stop=08", "stop=4294967295", "x\nstop=1"}) {
    EXPECT_TRUE(PaddingScheme::parse(good)) << good;
  }
  auto s = PaddingScheme::parse("stop=-1\nstop=3");  // later duplicate wins
  ASSERT_TRUE(s);
  EXPECT_EQ(s->stop, 3u);
  EXPECT_EQ(s->md5_hex, md5_hex("stop=-1\nstop=3"));
}

TEST(Padding, PreamblePaddingLength) {
  auto n = [](std::string_view t) { return PaddingScheme::parse(t)->preamble_padding_length(); };
  EXPECT_EQ(n("stop=1"), 0);
  EXPECT_EQ(n("stop=1\n0="), 0);
  EXPECT_EQ(n("stop=1\n0=c,30-30"), 0);
  EXPECT_EQ(n("stop=1\n0=10-20"), 10);  // a range: its min (no draw here)
  EXPECT_EQ(n("stop=1\n0=20-10"), 10);
  EXPECT_EQ(n("stop=1\n0=bad,44-44,c"), 44);
  EXPECT_EQ(n("stop=1\n0=70000-70000"), 65535);
}
