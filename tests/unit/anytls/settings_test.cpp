#include "anytls/settings.hpp"

#include <gtest/gtest.h>

#include "anytls/frame.hpp"
#include "anytls/padding.hpp"
#include "unit/anytls/hex.hpp"

using namespace anytls::proto;

TEST(Settings, ClientSettingsVector) {
  const std::string s = client_settings("anytls-cpp/0.1.0", md5_hex(kDefaultPaddingScheme));
  EXPECT_EQ(s, "v=2\nclient=anytls-cpp/0.1.0\npadding-md5=75cff2ad89aadf5e257059ee571ebe11");
  std::vector<std::uint8_t> frame;
  append_frame(frame, Command::settings, 0, s);
  EXPECT_EQ(anytls::test::hex(frame),
            "04000000000048763d320a636c69656e743d616e79746c732d6370702f302e312e300a70616464696e672d6d6435"
            "3d3735636666326164383961616466356532353730353965653537316562653131");
}

TEST(Settings, Parse) {
  auto m = parse_settings("v=2\nclient=anytls-cpp/0.1.0\npadding-md5=75cff2ad89aadf5e257059ee571ebe11");
  EXPECT_EQ(m.size(), 3u);
  EXPECT_EQ(m["v"], "2");
  EXPECT_EQ(m["client"], "anytls-cpp/0.1.0");
  EXPECT_EQ(m["padding-md5"], "75cff2ad89aadf5e257059ee571ebe11");
}

TEST(Settings, SplitAtFirstEqualsIgnoreLinesWithoutAndLaterWins) {
  auto m = parse_settings("a=b=c\nnoequals\n\nv=1\nv=2\n=empty-key\nk=\n");
  EXPECT_EQ(m.size(), 4u);
  EXPECT_EQ(m["a"], "b=c");
  EXPECT_EQ(m["v"], "2");
  EXPECT_EQ(m[""], "empty-key");
  EXPECT_EQ(m["k"], "");
  EXPECT_FALSE(m.contains("noequals"));
}

TEST(Settings, NoTrimming) {
  auto m = parse_settings("v=2\r\n k = x ");
  EXPECT_EQ(m["v"], "2\r");
  EXPECT_EQ(m[" k "], " x ");
}

TEST(Settings, EmptyAndEncode) {
  EXPECT_TRUE(parse_settings("").empty());
  EXPECT_TRUE(parse_settings("\n\n").empty());
  EXPECT_EQ(encode_settings({}), "");
  EXPECT_EQ(encode_settings({{"v", "2"}}), "v=2");
  const std::map<std::string, std::string> kv{{"b", "1=2"}, {"a", ""}, {"c", "x"}};
  EXPECT_EQ(encode_settings(kv), "a=\nb=1=2\nc=x");
  EXPECT_EQ(parse_settings(encode_settings(kv)), kv);
}
