#include "http/proxy_codec.hpp"

#include <gtest/gtest.h>

namespace anytls::http::proxy {
namespace {

TEST(HttpCodec, RequestHead) {
  std::string in =
      "GET http://example.com:8080/a?b=1 HTTP/1.1\r\nHost: example.com:8080\r\n"
      "Proxy-Connection: keep-alive\r\nX-A:  v  \r\n\r\nrest";
  auto r = parse_request_head(in);
  ASSERT_EQ(r.status, Status::ok) << r.error;
  EXPECT_EQ(r.consumed, in.size() - 4);
  EXPECT_EQ(r.value.method, "GET");
  EXPECT_EQ(r.value.target, "http://example.com:8080/a?b=1");
  EXPECT_EQ(r.value.version_minor, 1);
  ASSERT_EQ(r.value.headers.size(), 3u);
  EXPECT_EQ(find_header(r.value.headers, "x-a").value_or(""), "v");
  EXPECT_TRUE(wants_keep_alive(r.value));
}

TEST(HttpCodec, RequestHeadIncrementalLeadingCrlfAndBareLf) {
  std::string in = "\r\nGET / HTTP/1.0\nHost: x\n\n";
  for (std::size_t n = 0; n < in.size(); ++n) {
    EXPECT_EQ(parse_request_head(in.substr(0, n)).status, Status::need_more) << n;
  }
  auto r = parse_request_head(in);
  ASSERT_EQ(r.status, Status::ok);
  EXPECT_EQ(r.consumed, in.size());
  EXPECT_EQ(r.value.version_minor, 0);
  EXPECT_FALSE(wants_keep_alive(r.value));
}

TEST(HttpCodec, RequestHeadRejects) {
  EXPECT_EQ(parse_request_head("GET  / HTTP/1.1\r\n\r\n").status, Status::invalid);
  EXPECT_EQ(parse_request_head("GET / HTTP/2.0\r\n\r\n").status, Status::invalid);
  EXPECT_EQ(parse_request_head("GET / HTTP/1.1\r\n folded\r\n\r\n").status, Status::invalid);
  EXPECT_EQ(parse_request_head("GET / HTTP/1.1\r\nBad Name: v\r\n\r\n").status, Status::invalid);
  EXPECT_EQ(parse_request_head("GET / HTTP/1.1\r\nA: b\rc\r\n\r\n").status, Status::invalid);
  EXPECT_EQ(parse_request_head("G(T / HTTP/1.1\r\n\r\n").status, Status::invalid);
}

TEST(HttpCodec, HeadSizeLimit) {
  std::string big = "GET / HTTP/1.1\r\nX: " + std::string(200, 'a');
  EXPECT_EQ(parse_request_head(big, 100).status, Status::too_large);
  EXPECT_EQ(parse_request_head(big + "\r\n\r\n", 100).status, Status::too_large);
  EXPECT_EQ(parse_request_head(big, 1000).status, Status::need_more);
}

TEST(HttpCodec, ResponseHead) {
  auto r = parse_response_head("HTTP/1.1 404 Not Found\r\nContent-Length: 3\r\n\r\nabc");
  ASSERT_EQ(r.status, Status::ok);
  EXPECT_EQ(r.value.status, 404);
  EXPECT_EQ(r.value.reason, "Not Found");
  auto noreason = parse_response_head("HTTP/1.0 200\r\n\r\n");
  ASSERT_EQ(noreason.status, Status::ok);
  EXPECT_EQ(noreason.value.status, 200);
  EXPECT_EQ(parse_response_head("HTTP/1.1 20 OK\r\n\r\n").status, Status::invalid);
  EXPECT_EQ(parse_response_head("ICY 200 OK\r\n\r\n").status, Status::invalid);
}

RequestHead req(std::string head) {
  auto r = parse_request_head(head);
  EXPECT_EQ(r.status, Status::ok) << head;
  return r.value;
}

ResponseHead resp(std::string head) {
  auto r = parse_response_head(head);
  EXPECT_EQ(r.status, Status::ok) << head;
  return r.value;
}

TEST(HttpCodec, RequestFraming) {
  EXPECT_EQ(request_framing(req("GET / HTTP/1.1\r\n\r\n"))->kind, Framing::none);
  auto cl = request_framing(req("POST / HTTP/1.1\r\nContent-Length: 12\r\n\r\n"));
  ASSERT_TRUE(cl);
  EXPECT_EQ(cl->kind, Framing::length);
  EXPECT_EQ(cl->content_length, 12u);
  EXPECT_EQ(request_framing(req("POST / HTTP/1.1\r\nContent-Length: 5, 5\r\n\r\n"))->content_length, 5u);
  EXPECT_EQ(request_framing(req("POST / HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n"))->kind,
            Framing::chunked);
  EXPECT_FALSE(request_framing(req("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n")));
  EXPECT_FALSE(request_framing(req("POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n")));
  EXPECT_FALSE(request_framing(req("POST / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n")));
  EXPECT_FALSE(request_framing(req("POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n")));
}

TEST(HttpCodec, ResponseFraming) {
  EXPECT_EQ(response_framing(resp("HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\n"), "HEAD")->kind, Framing::none);
  EXPECT_EQ(response_framing(resp("HTTP/1.1 304 NM\r\n\r\n"), "GET")->kind, Framing::none);
  EXPECT_EQ(response_framing(resp("HTTP/1.1 204 NC\r\n\r\n"), "GET")->kind, Framing::none);
  EXPECT_EQ(response_framing(resp("HTTP/1.1 200 OK\r\n\r\n"), "GET")->kind, Framing::until_close);
  EXPECT_EQ(response_framing(resp("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"), "GET")->kind, Framing::none);
  EXPECT_EQ(response_framing(resp("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"), "GET")->kind,
            Framing::chunked);
  EXPECT_EQ(response_framing(resp("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n"), "GET")->kind,
            Framing::until_close);
}

TEST(HttpCodec, AbsoluteUri) {
  auto u = parse_absolute_uri("http://Example.com/p/a?q=1#frag");
  ASSERT_TRUE(u);
  EXPECT_EQ(u->destination, (net::Address{"Example.com", 80}));
  EXPECT_EQ(u->authority, "Example.com");
  EXPECT_EQ(u->origin, "/p/a?q=1");
  auto v6 = parse_absolute_uri("HTTP://[::1]:8080");
  ASSERT_TRUE(v6);
  EXPECT_EQ(v6->destination, (net::Address{"::1", 8080}));
  EXPECT_EQ(v6->origin, "/");
  auto q = parse_absolute_uri("http://h:81?x");
  ASSERT_TRUE(q);
  EXPECT_EQ(q->origin, "/?x");
  EXPECT_FALSE(parse_absolute_uri("/relative"));
  EXPECT_FALSE(parse_absolute_uri("https://h/"));
  EXPECT_FALSE(parse_absolute_uri("http://user:pw@h/"));
  EXPECT_FALSE(parse_absolute_uri("http:///x"));
  EXPECT_FALSE(parse_absolute_uri("http://h:0/"));
  EXPECT_FALSE(parse_absolute_uri("http://h:99999/"));
}

TEST(HttpCodec, Authority) {
  EXPECT_EQ(parse_authority("example.com:443", std::nullopt), (net::Address{"example.com", 443}));
  EXPECT_EQ(parse_authority("[2001:db8::1]:443", std::nullopt), (net::Address{"2001:db8::1", 443}));
  EXPECT_FALSE(parse_authority("example.com", std::nullopt));
  EXPECT_FALSE(parse_authority("::1:443", std::nullopt));
  EXPECT_FALSE(parse_authority("[zz]:443", std::nullopt));
  EXPECT_FALSE(parse_authority("a b:1", std::nullopt));
  EXPECT_FALSE(parse_authority(":443", std::nullopt));
  EXPECT_FALSE(parse_authority("h:", std::nullopt));
}

TEST(HttpCodec, ForwardRequestHead) {
  auto h = req(
      "GET http://example.com:8080/x?y HTTP/1.1\r\nHost: wrong\r\nProxy-Authorization: Basic Zm9vOmJhcg==\r\n"
      "Proxy-Connection: keep-alive\r\nConnection: keep-alive, X-Hop\r\nX-Hop: 1\r\nKeep-Alive: 5\r\n"
      "User-Agent: t\r\n\r\n");
  auto uri = parse_absolute_uri(h.target);
  ASSERT_TRUE(uri);
  EXPECT_EQ(forward_request_head(h, *uri),
            "GET /x?y HTTP/1.1\r\nHost: example.com:8080\r\nUser-Agent: t\r\nConnection: close\r\n\r\n");
  auto up = req("GET http://h/ws HTTP/1.1\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n");
  EXPECT_TRUE(is_upgrade(up));
  EXPECT_EQ(forward_request_head(up, *parse_absolute_uri(up.target)),
            "GET /ws HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n");
}

TEST(HttpCodec, ForwardResponseHead) {
  auto r = resp("HTTP/1.0 200 OK\r\nConnection: close\r\nContent-Length: 2\r\nKeep-Alive: x\r\n\r\n");
  EXPECT_EQ(forward_response_head(r, true, 1), "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n");
  EXPECT_EQ(forward_response_head(r, false, 1), "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\n");
  EXPECT_EQ(forward_response_head(r, true, 0),
            "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: keep-alive\r\n\r\n");
}

TEST(HttpCodec, SimpleResponse) {
  EXPECT_EQ(simple_response(407, "Proxy Authentication Required", false, "Proxy-Authenticate: Basic\r\n"),
            "HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic\r\nContent-Length: 0\r\n\r\n");
  EXPECT_EQ(simple_response(502, "Bad Gateway", true, {}, "x"),
            "HTTP/1.1 502 Bad Gateway\r\nConnection: close\r\nContent-Length: 1\r\n\r\nx");
}

TEST(HttpCodec, Base64AndCredentials) {
  EXPECT_EQ(base64_decode("Zm9vOmJhcg=="), "foo:bar");
  EXPECT_EQ(base64_decode("Zm9vOmJhcg"), "foo:bar");
  EXPECT_EQ(base64_decode(""), "");
  EXPECT_FALSE(base64_decode("Zm9v!"));
  EXPECT_FALSE(base64_decode("Z"));
  auto c = proxy_credentials(req("GET / HTTP/1.1\r\nProxy-Authorization: basic dTpwOjE=\r\n\r\n").headers);
  ASSERT_TRUE(c);
  EXPECT_EQ(c->username, "u");
  EXPECT_EQ(c->password, "p:1");
  EXPECT_FALSE(proxy_credentials(req("GET / HTTP/1.1\r\nProxy-Authorization: Bearer x\r\n\r\n").headers));
  EXPECT_FALSE(proxy_credentials(req("GET / HTTP/1.1\r\nProxy-Authorization: Basic Zm9v\r\n\r\n").headers));
}

TEST(HttpCodec, ChunkedTracker) {
  std::string body = "4;ext=v\r\nWiki\r\n5\r\npedia\r\nE\r\n in\r\n\r\nchunks.\r\n0\r\nT: 1\r\n\r\n";
  std::string next = "GET / HTTP/1.1\r\n\r\n";
  ChunkedTracker whole;
  EXPECT_EQ(whole.feed(body + next), body.size());
  EXPECT_TRUE(whole.done());
  // Byte by byte.
  ChunkedTracker t;
  std::size_t used = 0;
  for (char c : body) used += t.feed(std::string_view(&c, 1));
  EXPECT_EQ(used, body.size());
  EXPECT_TRUE(t.done());
  // No trailers, bare LF.
  ChunkedTracker lf;
  EXPECT_EQ(lf.feed("1\nA\n0\n\nX"), 7u);
  EXPECT_TRUE(lf.done());
  for (std::string bad : {"zz\r\n", "\r\n", "1\r\nAB", "FFFFFFFFFFFFFFFFF\r\n"}) {
    ChunkedTracker b;
    b.feed(bad);
    EXPECT_TRUE(b.failed()) << bad;
  }
}

}  // namespace
}  // namespace anytls::http::proxy
