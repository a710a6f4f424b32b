// Settings text: parse never fails, and encode/parse round-trips the map.
#include <string_view>

#include "anytls/settings.hpp"
#include "fuzz_check.hpp"

using namespace anytls::proto;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  const auto m = parse_settings(text);
  for (const auto& [k, v] : m) {
    FUZZ_CHECK(k.find('=') == std::string::npos && k.find('\n') == std::string::npos);
    FUZZ_CHECK(v.find('\n') == std::string::npos);
    FUZZ_CHECK(k.size() + v.size() < size);
  }
  const auto encoded = encode_settings(m);
  FUZZ_CHECK(parse_settings(encoded) == m);
  FUZZ_CHECK(encoded.size() <= size);
  return 0;
}
