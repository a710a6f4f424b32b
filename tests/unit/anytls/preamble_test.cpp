#include "anytls/preamble.hpp"

#include <gtest/gtest.h>

#include "anytls/padding.hpp"
#include "unit/anytls/hex.hpp"

using namespace anytls::proto;
using anytls::test::hex;

TEST(Preamble, Vector) {
  const auto h = hash_password("8JCsPssfgS8tiRwiMlhARg==");
  EXPECT_EQ(hex(h), "47a0c57ae20978bb6d8dbd56e6ba91220475b74cf29974c0305d96a8b955ebb3");
  const auto n = PaddingScheme::default_scheme().preamble_padding_length();
  EXPECT_EQ(n, 30);
  const auto p = encode_preamble(h, n);
  ASSERT_EQ(p.size(), 64u);
  EXPECT_EQ(hex(p), "47a0c57ae20978bb6d8dbd56e6ba91220475b74cf29974c0305d96a8b955ebb3"
                    "001e"
                    "000000000000000000000000000000000000000000000000000000000000");
}

TEST(Preamble, NoPadding) {
  const auto p = encode_preamble(hash_password(""), 0);
  EXPECT_EQ(hex(p), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855" "0000");
}

TEST(Preamble, ParseIncremental) {
  auto p = encode_preamble(hash_password("pw"), 30);
  p.insert(p.end(), {1, 0, 0, 0, 1, 0, 0});  // the frame layer's bytes
  for (std::size_t n = 0; n < 34; ++n) {
    auto r = parse_preamble(std::span(p).first(n));
    EXPECT_EQ(r.status, PreambleParse::need_more);
    EXPECT_EQ(r.needed, 34u);
  }
  for (std::size_t n = 34; n < 64; ++n) {
    auto r = parse_preamble(std::span(p).first(n));
    EXPECT_EQ(r.status, PreambleParse::need_more);
    EXPECT_EQ(r.needed, 64u);
  }
  for (std::size_t n : {64u, 65u, 71u}) {
    auto r = parse_preamble(std::span(p).first(n));
    EXPECT_EQ(r.status, PreambleParse::complete);
    EXPECT_EQ(r.consumed, 64u);
  }
}

TEST(Preamble, ParseMaxPadding) {
  std::vector<std::uint8_t> p(34, 0);
  p[32] = 0xff;
  p[33] = 0xff;
  auto r = parse_preamble(p);
  EXPECT_EQ(r.status, PreambleParse::need_more);
  EXPECT_EQ(r.needed, 34u + 65535u);
  p.resize(34 + 65535);
  r = parse_preamble(p);
  EXPECT_EQ(r.status, PreambleParse::complete);
  EXPECT_EQ(r.consumed, p.size());
}

TEST(Preamble, MatchUser) {
  const std::vector<PasswordHash> users{hash_password("a"), hash_password("b"), hash_password("c"),
                                        hash_password("b")};
  EXPECT_EQ(match_user(hash_password("a"), users), 0u);
  EXPECT_EQ(match_user(hash_password("b"), users), 1u);  // first match wins
  EXPECT_EQ(match_user(hash_password("c"), users), 2u);
  EXPECT_EQ(match_user(hash_password("d"), users), std::nullopt);
  EXPECT_EQ(match_user(hash_password("a"), {}), std::nullopt);
  auto almost = hash_password("c");
  almost[31] ^= 1;
  EXPECT_EQ(match_user(almost, users), std::nullopt);
}
