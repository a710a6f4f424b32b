// The metrics endpoint's answers, without sockets: path, method, bearer
// secret, response bytes. (Over a real socket: tests/integration/metrics_test.)
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "app/metrics_server.hpp"

namespace anytls::app {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

http::RequestHead get(std::string target, http::Fields h = {}) {
  http::RequestHead r;
  r.method = "GET";
  r.target = std::move(target);
  r.fields = std::move(h);
  return r;
}

std::string body() { return "m 1\n"; }

TEST(MetricsEndpoint, ServesThePathWithPrometheusContentType) {
  config::MetricsOptions o;
  auto r = metrics_response(get("/metrics"), o, body);
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "m 1\n");
  ASSERT_FALSE(r.headers.empty());
  EXPECT_EQ(r.headers[0].second, "text/plain; version=0.0.4; charset=utf-8");
  EXPECT_EQ(metrics_response(get("/metrics?x=1"), o, body).status, 200);  // query ignored
  EXPECT_EQ(metrics_response(get("/"), o, body).status, 404);
  EXPECT_EQ(metrics_response(get("/metrics/"), o, body).status, 404);
  auto post = get("/metrics");
  post.method = "POST";
  auto r405 = metrics_response(post, o, body);
  EXPECT_EQ(r405.status, 405);
  auto head = get("/metrics");
  head.method = "HEAD";
  EXPECT_EQ(metrics_response(head, o, body).status, 200);
}

TEST(MetricsEndpoint, BearerSecret) {
  config::MetricsOptions o;
  o.secret = "s3cret";
  bool rendered = false;
  auto render = [&] {
    rendered = true;
    return std::string("m 1\n");
  };
  auto none = metrics_response(get("/metrics"), o, render);
  EXPECT_EQ(none.status, 401);
  EXPECT_FALSE(rendered) << "nothing is rendered for an unauthorised request";
  EXPECT_EQ(metrics_response(get("/metrics", {{"Authorization", "Bearer wrong"}}), o, render).status, 401);
  EXPECT_EQ(metrics_response(get("/metrics", {{"Authorization", "Bearer s3cre"}}), o, render).status, 401);
  EXPECT_EQ(metrics_response(get("/metrics", {{"Authorization", "Basic czNjcmV0"}}), o, render).status, 401);
  EXPECT_FALSE(rendered);
  EXPECT_EQ(metrics_response(get("/metrics", {{"authorization", "bearer s3cret"}}), o, render).status, 200);
  EXPECT_TRUE(rendered);
  EXPECT_TRUE(bearer_matches("Bearer  s3cret ", "s3cret"));
  EXPECT_FALSE(bearer_matches("Bearer", "s3cret"));
  EXPECT_FALSE(bearer_matches("", "s3cret"));
}

TEST(MetricsEndpoint, SerializesResponses) {
  MetricsResponse r;
  r.headers.emplace_back("Content-Type", "text/plain");
  r.body = "abc";
  auto full = serialize_response(r, false, false);
  EXPECT_EQ(full, "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 3\r\nCache-Control: no-store\r\n\r\nabc");
  auto head = serialize_response(r, true, true);
  EXPECT_THAT(head, HasSubstr("Content-Length: 3\r\n"));
  EXPECT_THAT(head, HasSubstr("Connection: close\r\n"));
  EXPECT_THAT(head, Not(HasSubstr("abc")));
}

}  // namespace
}  // namespace anytls::app
