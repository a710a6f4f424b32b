// The SNTP codec (net/sntp): request bytes, timestamp conversion, the
// offset and delay of a reply, and the replies it refuses.
#include "net/sntp.hpp"

#include <gtest/gtest.h>

namespace anytls::net::sntp {
namespace {

using namespace std::chrono;

void put_u64(Packet& p, std::size_t at, std::uint64_t v) {
  for (int i = 7; i >= 0; --i) {
    p[at + static_cast<std::size_t>(i)] = static_cast<std::uint8_t>(v);
    v >>= 8;
  }
}

// A server's reply to a request sent at t1: received at t2, sent at t3.
Packet reply(SysTime t1, SysTime t2, SysTime t3, std::uint8_t first = 0x24, std::uint8_t stratum = 2) {
  Packet p{};
  p[0] = first;  // leap 0, version 4, mode 4
  p[1] = stratum;
  put_u64(p, 24, to_ntp(t1));
  put_u64(p, 32, to_ntp(t2));
  put_u64(p, 40, to_ntp(t3));
  return p;
}

const SysTime kT1 = SysTime(seconds(1780000000));  // 2026

TEST(Sntp, RequestIsVersion4ClientWithTransmitTime) {
  Packet p = encode_request(kT1);
  EXPECT_EQ(p[0], 0x23);  // leap 0, version 4, mode 3
  std::uint64_t ts = 0;
  for (int i = 40; i < 48; ++i) ts = ts << 8 | p[static_cast<std::size_t>(i)];
  EXPECT_EQ(ts, to_ntp(kT1));
  EXPECT_EQ(ts >> 32, 1780000000ULL + 2208988800ULL);
  for (int i = 1; i < 40; ++i) EXPECT_EQ(p[static_cast<std::size_t>(i)], 0) << i;
}

TEST(Sntp, TimestampsRoundTripToTheNanosecondGrain) {
  for (SysTime t : {kT1, kT1 + milliseconds(123), SysTime(seconds(2200000000)) /* era 1, after 2036 */}) {
    auto back = from_ntp(to_ntp(t));
    EXPECT_LE(std::abs(duration_cast<nanoseconds>(back - t).count()), 1) << t.time_since_epoch().count();
  }
  // The NTP epoch's first second of era 0 with the top bit set: 1968-2036.
  EXPECT_EQ(from_ntp(std::uint64_t{2208988800ULL} << 32), SysTime{});
}

TEST(Sntp, OffsetAndDelayFromTheFourTimes) {
  // The server is 3.5 s ahead; 40 ms each way, 10 ms inside the server.
  const auto ahead = milliseconds(3500);
  const SysTime t2 = kT1 + milliseconds(40) + ahead;
  const SysTime t3 = t2 + milliseconds(10);
  const SysTime t4 = kT1 + milliseconds(90);
  Packet p = reply(kT1, t2, t3);
  auto r = decode_reply(p.data(), p.size(), kT1, t4);
  ASSERT_TRUE(std::holds_alternative<Reply>(r)) << std::get<std::string>(r);
  const Reply& got = std::get<Reply>(r);
  EXPECT_NEAR(duration_cast<microseconds>(got.offset).count(), 3500000, 2);
  EXPECT_NEAR(duration_cast<microseconds>(got.delay).count(), 80000, 2);
  EXPECT_EQ(got.stratum, 2);
  EXPECT_LE(std::abs(duration_cast<nanoseconds>(got.server_time - t3).count()), 1);
}

TEST(Sntp, BehindIsNegative) {
  const SysTime t2 = kT1 - hours(2);
  Packet p = reply(kT1, t2, t2);
  auto r = decode_reply(p.data(), p.size(), kT1, kT1);
  ASSERT_TRUE(std::holds_alternative<Reply>(r));
  EXPECT_NEAR(duration_cast<seconds>(std::get<Reply>(r).offset).count(), -7200, 1);
}

std::string refusal(const Packet& p, std::size_t size = kPacketSize, SysTime sent = kT1) {
  auto r = decode_reply(p.data(), size, sent, kT1);
  return std::holds_alternative<std::string>(r) ? std::get<std::string>(r) : std::string("(accepted)");
}

TEST(Sntp, RefusesWhatIsNotOurReply) {
  const Packet good = reply(kT1, kT1, kT1);
  EXPECT_EQ(refusal(good, 47), "reply of 47 bytes, shorter than 48");
  EXPECT_EQ(refusal(reply(kT1, kT1, kT1, 0x23)), "not a server reply (mode 3)");
  EXPECT_EQ(refusal(reply(kT1, kT1, kT1, 0x3c)), "unknown NTP version 7");
  EXPECT_EQ(refusal(reply(kT1, kT1, kT1, 0xe4)), "the server's clock is not synchronized");
  EXPECT_EQ(refusal(good, kPacketSize, kT1 + seconds(1)), "reply to another request (originate timestamp differs)");
  Packet kod = reply(kT1, kT1, kT1, 0x24, 0);
  kod[12] = 'R', kod[13] = 'A', kod[14] = 'T', kod[15] = 'E';
  EXPECT_EQ(refusal(kod), "kiss-o'-death from the server: RATE");
  Packet no_t3 = reply(kT1, kT1, kT1);
  put_u64(no_t3, 40, 0);
  EXPECT_EQ(refusal(no_t3), "reply without a transmit timestamp");
}

}  // namespace
}  // namespace anytls::net::sntp
