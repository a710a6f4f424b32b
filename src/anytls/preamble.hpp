// Auth preamble: sha256(password) | u16 BE N | N zero bytes.
#pragma once
#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <string_view>
#include <vector>

namespace anytls::proto {

using PasswordHash = std::array<std::uint8_t, 32>;

PasswordHash hash_password(std::string_view password);
std::vector<std::uint8_t> encode_preamble(const PasswordHash& hash, std::uint16_t padding_len);

// Incremental check on the server side of what arrived so far.
struct PreambleParse {
  enum Status { need_more, complete } status = need_more;
  std::size_t consumed = 0;  // complete: length of the whole preamble
  std::size_t needed = 34;   // need_more: total bytes needed to progress
};
PreambleParse parse_preamble(std::span<const std::uint8_t> in);

// Index of the user whose hash equals `hash`, comparing against all of them
// in constant time (no early exit). nullopt when none matches.
std::optional<std::size_t> match_user(std::span<const std::uint8_t, 32> hash,
                                      std::span<const PasswordHash> users);

}  // namespace anytls::proto
