// Hex helpers for byte-exact test vectors.
#pragma once
#include <cstdint>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace anytls::test {

inline std::vector<std::uint8_t> unhex(std::string_view h) {
  auto nib = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    throw std::invalid_argument("bad hex");
  };
  if (h.size() % 2) throw std::invalid_argument("odd hex");
  std::vector<std::uint8_t> out;
  for (std::size_t i = 0; i < h.size(); i += 2)
    out.push_back(static_cast<std::uint8_t>(nib(h[i]) << 4 | nib(h[i + 1])));
  return out;
}

inline std::string hex(std::span<const std::uint8_t> b) {
  static constexpr char k[] = "0123456789abcdef";
  std::string s;
  for (auto c : b) {
    s += k[c >> 4];
    s += k[c & 15];
  }
  return s;
}

inline std::span<const std::uint8_t> bytes(std::string_view s) {
  return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()};
}

}  // namespace anytls::test
