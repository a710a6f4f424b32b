// http::serialize on Beast's serializer: the bytes a server sends.
#include "http/response.hpp"

#include <gtest/gtest.h>

namespace anytls::http {
namespace {

TEST(HttpResponse, WholeHeadOnlyAndClose) {
  Response r;
  r.fields.push_back({"Content-Type", "text/plain"});
  r.body = "abc";
  EXPECT_EQ(serialize(r), "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 3\r\n\r\nabc");
  r.close = true;
  EXPECT_EQ(serialize(r, true), "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 3\r\nConnection: close\r\n\r\n");
}

TEST(HttpResponse, ReasonsLengthsAndHeads) {
  Response r;
  r.status = 204;
  EXPECT_EQ(serialize(r), "HTTP/1.1 204 No Content\r\n\r\n");
  r.status = 431;
  r.reason = "Too Big";
  EXPECT_EQ(serialize(r), "HTTP/1.1 431 Too Big\r\nContent-Length: 0\r\n\r\n");
  Response given;
  given.fields.push_back({"Content-Length", "10"});
  given.fields.push_back({"Cache-Control", "no-store"});
  EXPECT_EQ(serialize(given, true), "HTTP/1.1 200 OK\r\nContent-Length: 10\r\nCache-Control: no-store\r\n\r\n");
  Response stream;
  stream.fields.push_back({"Transfer-Encoding", "chunked"});
  stream.close = true;
  EXPECT_EQ(serialize_head(stream), "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n");
  Response up;
  up.status = 101;
  up.fields.push_back({"Upgrade", "websocket"});
  EXPECT_EQ(serialize_head(up), "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n");
}

TEST(HttpResponse, Chunks) {
  EXPECT_EQ(chunk(std::string(26, 'x')), "1a\r\n" + std::string(26, 'x') + "\r\n");
  EXPECT_EQ(last_chunk(), "0\r\n\r\n");
}

}  // namespace
}  // namespace anytls::http
