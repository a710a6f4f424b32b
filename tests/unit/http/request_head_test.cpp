// http::RequestHeadParser on Beast's parser: whole and byte-by-byte heads,
// what follows the head kept, the limit, refusals, and the head's helpers.
#include "http/request_head.hpp"

#include <gtest/gtest.h>

namespace anytls::http {
namespace {

using Result = RequestHeadParser::Result;

struct Fed {
  Result result;
  std::size_t used;  // of the last feed
};

Fed feed_all(RequestHeadParser& p, std::string_view in) {
  std::size_t used = 0;
  auto r = p.feed(in, used);
  return {r, used};
}

TEST(HttpRequestHead, WholeHeadKeepsWhatFollows) {
  const std::string in =
      "POST /a?b=1 HTTP/1.1\r\nHost: example.com\r\nX-A:  v  \r\nContent-Length: 4\r\n\r\nbody";
  RequestHeadParser p(1024);
  auto f = feed_all(p, in);
  ASSERT_EQ(f.result, Result::done) << p.error();
  EXPECT_EQ(f.used, in.size() - 4);
  const auto& h = p.head();
  EXPECT_EQ(h.method, "POST");
  EXPECT_EQ(h.target, "/a?b=1");
  EXPECT_EQ(h.version_minor, 1);
  ASSERT_EQ(h.fields.size(), 3u);
  EXPECT_EQ(h.fields[0].name, "Host");
  EXPECT_EQ(h.field("x-a").value_or(""), "v");
  EXPECT_EQ(h.content_length, 4u);
  EXPECT_FALSE(h.chunked);
  EXPECT_TRUE(h.keep_alive());
  // Done is final: nothing more is taken.
  std::size_t used = 9;
  EXPECT_EQ(p.feed("more", used), Result::done);
  EXPECT_EQ(used, 0u);
}

TEST(HttpRequestHead, ByteByByteWithLeadingEmptyLines) {
  const std::string in = "\r\n\r\nCONNECT example.com:443 HTTP/1.0\r\nProxy-Connection: keep-alive\r\n\r\n\x16\x03";
  RequestHeadParser p(1024);
  std::size_t total = 0;
  Result r = Result::need_more;
  std::size_t i = 0;
  for (; i < in.size() && r == Result::need_more; ++i) {
    std::size_t used = 0;
    r = p.feed(std::string_view(in).substr(i, 1), used);
    total += used;
  }
  ASSERT_EQ(r, Result::done) << p.error();
  EXPECT_EQ(i, in.size() - 2);  // the tunnelled bytes were not fed
  EXPECT_EQ(total, in.size() - 2);
  EXPECT_EQ(p.head().method, "CONNECT");
  EXPECT_EQ(p.head().target, "example.com:443");
  EXPECT_EQ(p.head().version_minor, 0);
  EXPECT_TRUE(p.head().keep_alive());  // Proxy-Connection counts
}

TEST(HttpRequestHead, SplitsAnywhere) {
  const std::string in = "GET /x HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\nGET /y";
  for (std::size_t cut = 0; cut <= in.size(); ++cut) {
    RequestHeadParser p(1024);
    std::size_t a = 0, b = 0;
    auto r = p.feed(std::string_view(in).substr(0, cut), a);
    if (r == Result::need_more) r = p.feed(std::string_view(in).substr(cut), b);
    ASSERT_EQ(r, Result::done) << cut << ": " << p.error();
    EXPECT_EQ(a + b, in.size() - 6) << cut;
    EXPECT_EQ(p.head().target, "/x");
    EXPECT_FALSE(p.head().keep_alive());
  }
}

TEST(HttpRequestHead, Limit) {
  const std::string big = "GET / HTTP/1.1\r\nX: " + std::string(200, 'a');
  {
    RequestHeadParser p(100);
    EXPECT_EQ(feed_all(p, big).result, Result::too_large);
  }
  {
    RequestHeadParser p(100);
    EXPECT_EQ(feed_all(p, big + "\r\n\r\n").result, Result::too_large);
  }
  {
    RequestHeadParser p(1000);
    auto f = feed_all(p, big);
    EXPECT_EQ(f.result, Result::need_more);
    EXPECT_EQ(f.used, big.size());
  }
  {
    // Trickled past the limit.
    RequestHeadParser p(100);
    Result r = Result::need_more;
    for (std::size_t i = 0; i < big.size() && r == Result::need_more; i += 7) {
      std::size_t used = 0;
      r = p.feed(std::string_view(big).substr(i, 7), used);
    }
    EXPECT_EQ(r, Result::too_large);
  }
  {
    RequestHeadParser p(16);
    EXPECT_EQ(feed_all(p, std::string(40, '\n')).result, Result::too_large);
  }
}

TEST(HttpRequestHead, Refusals) {
  for (std::string bad : {"GET  / HTTP/1.1\r\n\r\n", "GET / HTTP/2.0\r\n\r\n", "GET / HTTP/1.1\r\nBad Name: v\r\n\r\n",
                          "GET / HTTP/1.1\r\nA: b\rc\r\n\r\n", "G(T / HTTP/1.1\r\n\r\n", "\rGET / HTTP/1.1\r\n\r\n",
                          "GET / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
                          "GET / HTTP/1.1\r\nContent-Length: x\r\n\r\n"}) {
    RequestHeadParser p(1024);
    EXPECT_EQ(feed_all(p, bad).result, Result::bad) << bad;
    EXPECT_FALSE(p.error().empty());
  }
}

TEST(HttpRequestHead, ChunkedAndHelpers) {
  RequestHeadParser p(1024);
  ASSERT_EQ(feed_all(p,
                     "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nConnection: keep-alive, Upgrade\r\n"
                     "Upgrade: websocket\r\n\r\n")
                .result,
            Result::done);
  auto h = p.take();
  EXPECT_TRUE(h.chunked);
  EXPECT_FALSE(h.content_length);
  EXPECT_TRUE(h.upgrade());
  EXPECT_TRUE(h.has_token("connection", "UPGRADE"));
  EXPECT_FALSE(h.has_token("Connection", "close"));
  RequestHead old;
  old.version_minor = 0;
  EXPECT_FALSE(old.keep_alive());
  old.fields.push_back({"Connection", "Keep-Alive"});
  EXPECT_TRUE(old.keep_alive());
  EXPECT_TRUE(iequals("Content-Length", "content-length"));
  EXPECT_FALSE(iequals("a", "ab"));
}

}  // namespace
}  // namespace anytls::http
