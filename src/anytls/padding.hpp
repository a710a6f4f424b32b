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

// Sizes above this are skipped when parsing a scheme (as if they failed to
// parse): a scheme comes from the server, and a size of billions would make
// the client allocate that much. Padding only shapes what the receiver drops,
// so skipping an absurd item cannot break interoperability.
inline constexpr std::uint32_t kMaxPaddingSize = 1u << 20;

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

  // nullopt when invalid: no "stop", or its value is not a decimal integer
  // (optional sign, like Go's Atoi) in [0, 2^32). Packet lines are the keys
  // in canonical decimal form ("1", not "01" or "+1", as the reference looks
  // them up); other keys are ignored.
  static std::optional<PaddingScheme> parse(std::string_view text);
  static const PaddingScheme& default_scheme();

  // N of the auth preamble: the single size of line 0, 0 when there is no
  // line 0 or it starts with a check mark. No random source here: when the
  // first item of line 0 is a range min-max, N = min. Clamped to 65535.
  std::uint16_t preamble_padding_length() const;
};

// Shapes packet number `packet` (>= 1) carrying `pending` (complete frames)
// into TLS records, one vector per record, following wire-protocol.md. With
// packet >= stop (or no line for packet) the result is `pending` unchanged as
// one record (none when pending is empty).
// A range item draws rand(min, max) (results outside [min, max) are clamped)
// only when the algorithm reaches it; an empty rand uses an internal PRNG.
// Waste frames that would carry more than 65535 bytes are split into several
// Waste frames so that the record still has the exact intended size.
std::vector<std::vector<std::uint8_t>> shape_packet(const PaddingScheme& scheme, std::uint32_t packet,
                                                    std::span<const std::uint8_t> pending,
                                                    const RandomInt& rand);

// Lower-case hex md5 of bytes.
std::string md5_hex(std::string_view bytes);

}  // namespace anytls::proto
