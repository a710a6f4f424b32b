// Padding scheme: parse, md5, and the packet-shaping algorithm that turns the
// bytes of one session write into the exact list of TLS records.
#pragma once
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace anytls::proto {

extern const std::string_view kDefaultPaddingScheme;  // 137 bytes, md5 75cff2ad...

struct PaddingItem {
  bool check = false;      // "c": stop when nothing is pending
  std::uint32_t min = 0;   // size range, min <= max, both > 0
  std::uint32_t max = 0;
};

// Uniform integer in [lo, hi) (only called with lo < hi). Injectable so tests
// can reproduce the worked examples.
using RandomInt = std::function<std::uint32_t(std::uint32_t lo, std::uint32_t hi)>;

struct PaddingScheme {
  std::string text;     // exactly as received/configured
  std::string md5_hex;  // lower-case hex md5 of text
  std::uint32_t stop = 0;
  std::map<std::uint32_t, std::vector<PaddingItem>> packets;

  // nullopt when invalid (no integer "stop").
  static std::optional<PaddingScheme> parse(std::string_view text);
  static const PaddingScheme& default_scheme();

  // N of the auth preamble: the single size of line 0, 0 when there is no
  // line 0 or it starts with a check mark.
  std::uint16_t preamble_padding_length() const;
};

// Shapes packet number `packet` (>= 1) carrying `pending` (complete frames)
// into TLS records, one vector per record, following wire-protocol.md. With
// packet >= stop (or no line for packet) the result is `pending` unchanged as
// one record (none when pending is empty).
std::vector<std::vector<std::uint8_t>> shape_packet(const PaddingScheme& scheme, std::uint32_t packet,
                                                    std::span<const std::uint8_t> pending,
                                                    const RandomInt& rand);

// Lower-case hex md5 of bytes.
std::string md5_hex(std::string_view bytes);

}  // namespace anytls::proto
