#include "config/fingerprint.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>

namespace anytls::config {

namespace {
constexpr int kOldestChrome = 117;  // first with ECH GREASE + extension permutation
constexpr int kNewestChrome = 132;  // 133+ sends an ML-KEM key share

Fingerprint refuse(std::string why) { return Fingerprint{{}, std::move(why)}; }

std::string lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) { return std::tolower(c); });
  return out;
}
}  // namespace

Fingerprint utls_fingerprint(std::string_view raw) {
  const std::string name = lower(raw);
  const std::string only = "; only Chrome's ClientHello (\"chrome\", Chrome 117-132) can be produced";
  if (name.empty() || name == "chrome" || name == "chromium" || name == "edge" || name == "random" ||
      name == "chrome_psk" || name == "chrome_psk_shuffle" || name == "chrome_padding_psk_shuffle")
    return Fingerprint{"chrome", {}};
  if (name == "chrome_pq" || name.find("_pq") != std::string::npos)
    return refuse("\"" + name + "\" needs Chrome's post-quantum key share (X25519Kyber768/X25519MLKEM768), " +
                  "which the BoringSSL of this build lacks" + only);
  if (name.rfind("chrome_", 0) == 0) {
    int v = 0;
    std::string_view digits(name);
    digits.remove_prefix(7);
    auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), v);
    if (ec == std::errc{} && end == digits.data() + digits.size()) {
      if (v >= kOldestChrome && v <= kNewestChrome) return Fingerprint{"chrome", {}};
      if (v > kNewestChrome)
        return refuse("Chrome " + std::to_string(v) + " sends a post-quantum (ML-KEM) key share, " +
                      "which the BoringSSL of this build cannot produce" + only);
      return refuse("Chrome " + std::to_string(v) + " predates ECH GREASE and is not reproduced" + only);
    }
  }
  if (name == "randomized")
    return refuse("a randomized ClientHello is no browser's and is not produced" + only);
  if (name == "firefox")
    return refuse("Firefox's ClientHello comes from NSS, which BoringSSL cannot imitate" + only);
  if (name == "safari" || name == "ios")
    return refuse("\"" + name + "\" is Apple's TLS stack, which BoringSSL cannot imitate" + only);
  if (name == "android")
    return refuse("\"android\" is OkHttp's ClientHello, which is not reproduced" + only);
  return refuse("unknown or unsupported fingerprint \"" + std::string(raw) + "\"" + only);
}

}  // namespace anytls::config
