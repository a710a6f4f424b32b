#include "inbound/socks_codec.hpp"

#include <gtest/gtest.h>

namespace anytls::inbound::socks {
namespace {

using V = std::vector<std::uint8_t>;

V bytes(std::initializer_list<int> l) {
  V v;
  for (int b : l) v.push_back(static_cast<std::uint8_t>(b));
  return v;
}

TEST(Socks4Codec, ConnectWithUserId) {
  V in = bytes({4, 1, 0x1F, 0x90, 10, 0, 0, 1, 'b', 'o', 'b', 0, 0xAA});
  auto r = parse_socks4_request(in);
  ASSERT_EQ(r.status, Status::ok);
  EXPECT_EQ(r.consumed, 12u);
  EXPECT_EQ(r.value.command, kCommandConnect);
  EXPECT_EQ(r.value.destination, (net::Address{"10.0.0.1", 8080}));
  EXPECT_EQ(r.value.user_id, "bob");
  EXPECT_FALSE(r.value.socks4a);
}

TEST(Socks4Codec, Socks4aHostName) {
  V in = bytes({4, 1, 0, 80, 0, 0, 0, 7, 0, 'e', 'x', '.', 'c', 'o', 'm', 0});
  auto r = parse_socks4_request(in);
  ASSERT_EQ(r.status, Status::ok);
  EXPECT_TRUE(r.value.socks4a);
  EXPECT_EQ(r.value.destination, (net::Address{"ex.com", 80}));
  EXPECT_EQ(r.consumed, in.size());
}

TEST(Socks4Codec, IncrementalAndLimits) {
  V in = bytes({4, 1, 0, 80, 0, 0, 0, 7, 0, 'e', 'x', 0});
  for (std::size_t n = 0; n < in.size(); ++n) {
    EXPECT_EQ(parse_socks4_request(std::span(in.data(), n)).status, Status::need_more) << n;
  }
  V long_user = bytes({4, 1, 0, 80, 1, 2, 3, 4});
  long_user.insert(long_user.end(), 300, 'u');
  EXPECT_EQ(parse_socks4_request(long_user).status, Status::invalid);
  V empty_host = bytes({4, 1, 0, 80, 0, 0, 0, 1, 0, 0});
  EXPECT_EQ(parse_socks4_request(empty_host).status, Status::invalid);
  EXPECT_EQ(parse_socks4_request(bytes({5, 1})).status, Status::invalid);
}

TEST(Socks4Codec, Reply) {
  auto r = socks4_reply(kReply4Granted);
  EXPECT_EQ(V(r.begin(), r.end()), bytes({0, 0x5A, 0, 0, 0, 0, 0, 0}));
}

TEST(Socks5Codec, Greeting) {
  auto r = parse_socks5_greeting(bytes({5, 2, 0, 2, 9}));
  ASSERT_EQ(r.status, Status::ok);
  EXPECT_EQ(r.consumed, 4u);
  EXPECT_TRUE(r.value.offers(kMethodNoAuth));
  EXPECT_TRUE(r.value.offers(kMethodUserPass));
  EXPECT_FALSE(r.value.offers(1));
  EXPECT_EQ(parse_socks5_greeting(bytes({5, 2, 0})).status, Status::need_more);
  EXPECT_EQ(parse_socks5_greeting(bytes({5, 0})).status, Status::invalid);
  EXPECT_EQ(parse_socks5_greeting(bytes({4, 1, 0})).status, Status::invalid);
}

TEST(Socks5Codec, UserPass) {
  auto r = parse_socks5_auth(bytes({1, 3, 'b', 'o', 'b', 2, 'p', 'w'}));
  ASSERT_EQ(r.status, Status::ok);
  EXPECT_EQ(r.value.username, "bob");
  EXPECT_EQ(r.value.password, "pw");
  EXPECT_EQ(r.consumed, 8u);
  auto empty_pw = parse_socks5_auth(bytes({1, 1, 'a', 0}));
  ASSERT_EQ(empty_pw.status, Status::ok);
  EXPECT_EQ(empty_pw.value.password, "");
  EXPECT_EQ(parse_socks5_auth(bytes({1, 3, 'b', 'o', 'b', 2, 'p'})).status, Status::need_more);
  EXPECT_EQ(parse_socks5_auth(bytes({1, 0, 0})).status, Status::invalid);
  EXPECT_EQ(parse_socks5_auth(bytes({2, 1, 'a', 0})).status, Status::invalid);
  auto reply = socks5_auth_reply(false);
  EXPECT_EQ(V(reply.begin(), reply.end()), bytes({1, 1}));
}

TEST(Socks5Codec, RequestAddressTypes) {
  auto v4 = parse_socks5_request(bytes({5, 1, 0, 1, 127, 0, 0, 1, 0, 80}));
  ASSERT_EQ(v4.status, Status::ok);
  EXPECT_EQ(v4.value.destination, (net::Address{"127.0.0.1", 80}));
  EXPECT_EQ(v4.consumed, 10u);

  V v6in = bytes({5, 1, 0, 4});
  for (int i = 0; i < 15; ++i) v6in.push_back(0);
  v6in.push_back(1);
  v6in.push_back(0x01);
  v6in.push_back(0xBB);
  auto v6 = parse_socks5_request(v6in);
  ASSERT_EQ(v6.status, Status::ok);
  EXPECT_EQ(v6.value.destination, (net::Address{"::1", 443}));

  auto dom = parse_socks5_request(bytes({5, 3, 0, 3, 3, 'a', '.', 'b', 0x12, 0x34}));
  ASSERT_EQ(dom.status, Status::ok);
  EXPECT_EQ(dom.value.command, kCommandUdpAssociate);
  EXPECT_EQ(dom.value.destination, (net::Address{"a.b", 0x1234}));

  auto bad = parse_socks5_request(bytes({5, 1, 0, 9, 1, 2}));
  EXPECT_EQ(bad.status, Status::invalid);
  EXPECT_EQ(bad.error, "address type");
  EXPECT_EQ(parse_socks5_request(bytes({5, 1, 0, 3, 0, 0, 80})).status, Status::invalid);
  V partial = bytes({5, 1, 0, 3, 3, 'a', '.', 'b', 0x12, 0x34});
  for (std::size_t n = 0; n < partial.size(); ++n) {
    EXPECT_EQ(parse_socks5_request(std::span(partial.data(), n)).status, Status::need_more) << n;
  }
}

TEST(Socks5Codec, ReplyEncodesAddress) {
  EXPECT_EQ(socks5_reply(Reply5::succeeded, {"127.0.0.1", 1080}), bytes({5, 0, 0, 1, 127, 0, 0, 1, 0x04, 0x38}));
  EXPECT_EQ(socks5_reply(Reply5::connection_refused, {"a.b", 1}), bytes({5, 5, 0, 3, 3, 'a', '.', 'b', 0, 1}));
  auto v6 = socks5_reply(Reply5::succeeded, {"::1", 2});
  ASSERT_EQ(v6.size(), 22u);
  EXPECT_EQ(v6[3], kAtypIPv6);
  // An unencodable address falls back to 0.0.0.0:0.
  EXPECT_EQ(socks5_reply(Reply5::general_failure, {std::string(300, 'x'), 1}),
            bytes({5, 1, 0, 1, 0, 0, 0, 0, 0, 0}));
}

TEST(Socks5Codec, UdpHeader) {
  V d = bytes({0, 0, 0, 1, 10, 1, 2, 3, 0, 53, 'h', 'i'});
  auto h = parse_socks5_udp_header(d);
  ASSERT_EQ(h.status, Status::ok);
  EXPECT_EQ(h.value.frag, 0);
  EXPECT_EQ(h.value.destination, (net::Address{"10.1.2.3", 53}));
  EXPECT_EQ(h.consumed, 10u);
  d[2] = 1;
  EXPECT_EQ(parse_socks5_udp_header(d).value.frag, 1);
  EXPECT_EQ(parse_socks5_udp_header(bytes({0, 0, 0, 1, 10})).status, Status::invalid);
  EXPECT_EQ(parse_socks5_udp_header(bytes({0, 0})).status, Status::invalid);

  std::array<std::uint8_t, kMaxUdpHeader + 2> buf{};
  std::uint8_t* payload = buf.data() + kMaxUdpHeader;
  payload[0] = 'h';
  payload[1] = 'i';
  std::size_t n = write_socks5_udp_header_before(payload, kMaxUdpHeader, {"dns.test", 53});
  ASSERT_EQ(n, 3u + 1 + 1 + 8 + 2);
  auto back = parse_socks5_udp_header(std::span(payload - n, n + 2));
  ASSERT_EQ(back.status, Status::ok);
  EXPECT_EQ(back.value.destination, (net::Address{"dns.test", 53}));
  EXPECT_EQ(back.consumed, n);
  EXPECT_EQ(write_socks5_udp_header_before(payload, 5, {"1.2.3.4", 5}), 0u);
}

}  // namespace
}  // namespace anytls::inbound::socks
