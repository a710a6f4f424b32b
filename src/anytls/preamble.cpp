#include "anytls/preamble.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>

namespace anytls::proto {

PasswordHash hash_password(std::string_view password) {
  PasswordHash h{};
  unsigned int n = 0;
  // EVP_Digest with SHA-256 cannot fail short of memory exhaustion; the hash
  // stays all zeros then, which matches no real user.
  EVP_Digest(password.data(), password.size(), h.data(), &n, EVP_sha256(), nullptr);
  return h;
}

std::vector<std::uint8_t> encode_preamble(const PasswordHash& hash, std::uint16_t padding_len) {
  std::vector<std::uint8_t> out(hash.size() + 2 + padding_len, 0);
  std::copy(hash.begin(), hash.end(), out.begin());
  out[32] = static_cast<std::uint8_t>(padding_len >> 8);
  out[33] = static_cast<std::uint8_t>(padding_len);
  return out;
}

PreambleParse parse_preamble(std::span<const std::uint8_t> in) {
  PreambleParse r;
  if (in.size() < 34) return r;
  const std::size_t total = 34 + ((std::size_t{in[32]} << 8) | in[33]);
  if (in.size() < total) {
    r.needed = total;
    return r;
  }
  r.status = PreambleParse::complete;
  r.consumed = total;
  r.needed = total;
  return r;
}

std::optional<std::size_t> match_user(std::span<const std::uint8_t, 32> hash,
                                      std::span<const PasswordHash> users) {
  // Every user is compared in full; the first match is selected with masks,
  // so timing depends only on the number of users.
  std::size_t found = 0;  // all ones once a match was seen
  std::size_t index = 0;
  for (std::size_t i = 0; i < users.size(); ++i) {
    const int diff = CRYPTO_memcmp(hash.data(), users[i].data(), 32);
    // eq = all ones when diff == 0, else 0, without a branch
    const auto d = static_cast<std::size_t>(static_cast<unsigned int>(diff));
    const std::size_t eq = ((d | (0 - d)) >> (sizeof(std::size_t) * 8 - 1)) - 1;
    const std::size_t take = eq & ~found;
    index = (index & ~take) | (i & take);
    found |= eq;
  }
  if (found == 0) return std::nullopt;
  return index;
}

}  // namespace anytls::proto
