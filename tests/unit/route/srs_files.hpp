// The route tests' .srs fixtures (data/), read whole, and decoded from bytes.
#pragma once
#include <fstream>
#include <optional>
#include <span>
#include <string>

#include "route/srs.hpp"

namespace anytls::test {

inline std::string data_file(const std::string& name) { return std::string(ANYTLS_ROUTE_TEST_DATA) + "/" + name; }

inline std::string read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

inline std::optional<srs::RuleSet> decode(const std::string& bytes, std::string& error,
                                          std::size_t budget = srs::kMaxDecodedBytes) {
  return srs::decode(std::span<const std::uint8_t>(reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size()),
                     error, budget);
}

}  // namespace anytls::test
