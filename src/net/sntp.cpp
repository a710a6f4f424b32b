#include "net/sntp.hpp"

namespace anytls::net::sntp {

namespace {

// Seconds from 1900-01-01 (NTP era 0) to 1970-01-01 (Unix).
constexpr std::int64_t kUnixFromNtp = 2208988800LL;
// 2036-02-07 06:28:16 UTC, where era 1 begins, in Unix seconds.
constexpr std::int64_t kEra1Unix = (std::int64_t{1} << 32) - kUnixFromNtp;

std::uint64_t read_u64(const std::uint8_t* p) {
  std::uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v = v << 8 | p[i];
  return v;
}

void write_u64(std::uint8_t* p, std::uint64_t v) {
  for (int i = 7; i >= 0; --i) {
    p[i] = static_cast<std::uint8_t>(v);
    v >>= 8;
  }
}

}  // namespace

std::uint64_t to_ntp(SysTime t) {
  const auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
  std::int64_t secs = ns / 1000000000;
  std::int64_t rem = ns % 1000000000;
  if (rem < 0) {
    rem += 1000000000;
    --secs;
  }
  const auto ntp_secs = static_cast<std::uint32_t>(secs + kUnixFromNtp);  // wraps into era 1 after 2036
  const auto frac = static_cast<std::uint32_t>((static_cast<std::uint64_t>(rem) << 32) / 1000000000);
  return std::uint64_t{ntp_secs} << 32 | frac;
}

SysTime from_ntp(std::uint64_t ts) {
  const auto secs = static_cast<std::uint32_t>(ts >> 32);
  const auto frac = static_cast<std::uint32_t>(ts);
  std::int64_t unix_secs = (secs & 0x80000000u) ? std::int64_t{secs} - kUnixFromNtp : std::int64_t{secs} + kEra1Unix;
  const auto ns = static_cast<std::int64_t>((std::uint64_t{frac} * 1000000000) >> 32);
  return SysTime(std::chrono::duration_cast<SysTime::duration>(std::chrono::seconds(unix_secs) +
                                                                std::chrono::nanoseconds(ns)));
}

Packet encode_request(SysTime sent) {
  Packet p{};
  p[0] = 0 << 6 | 4 << 3 | 3;  // leap 0, version 4, mode 3 (client)
  write_u64(p.data() + 40, to_ntp(sent));
  return p;
}

std::variant<Reply, std::string> decode_reply(const std::uint8_t* data, std::size_t size, SysTime sent,
                                              SysTime received) {
  if (size < kPacketSize) return std::string("reply of " + std::to_string(size) + " bytes, shorter than 48");
  const int leap = data[0] >> 6;
  const int version = data[0] >> 3 & 7;
  const int mode = data[0] & 7;
  if (mode != 4 && mode != 5) return std::string("not a server reply (mode " + std::to_string(mode) + ")");
  if (version < 1 || version > 4) return std::string("unknown NTP version " + std::to_string(version));
  const int stratum = data[1];
  if (stratum == 0) {
    // Kiss-o'-death: the reference id is four ASCII letters (RATE, DENY...).
    std::string code;
    for (int i = 12; i < 16; ++i)
      if (data[i] >= 0x20 && data[i] < 0x7f) code += static_cast<char>(data[i]);
    return std::string("kiss-o'-death from the server: " + (code.empty() ? std::string("?") : code));
  }
  if (leap == 3) return std::string("the server's clock is not synchronized");
  if (read_u64(data + 24) != to_ntp(sent)) return std::string("reply to another request (originate timestamp differs)");
  const std::uint64_t t3_raw = read_u64(data + 40);
  if (t3_raw == 0) return std::string("reply without a transmit timestamp");
  using std::chrono::nanoseconds;
  const SysTime t2 = from_ntp(read_u64(data + 32));
  const SysTime t3 = from_ntp(t3_raw);
  const auto d21 = std::chrono::duration_cast<nanoseconds>(t2 - sent);
  const auto d34 = std::chrono::duration_cast<nanoseconds>(t3 - received);
  Reply r;
  r.server_time = t3;
  r.offset = (d21 + d34) / 2;
  r.delay = std::chrono::duration_cast<nanoseconds>(received - sent) - std::chrono::duration_cast<nanoseconds>(t3 - t2);
  r.stratum = stratum;
  r.leap = leap;
  return r;
}

}  // namespace anytls::net::sntp
