// experimental.metrics (issue 16) and the experimental keys still refused.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "config/load.hpp"
#include "support/config_error.hpp"

namespace {

using namespace anytls::config;
using anytls::test::expect_config_error;

TEST(MetricsConfig, AbsentMeansOff) {
  EXPECT_FALSE(load_string("{}").metrics.has_value());
  EXPECT_FALSE(load_string(R"({"experimental": {}})").metrics.has_value());
}

TEST(MetricsConfig, Defaults) {
  auto o = load_string(R"({"experimental": {"metrics": {}}})");
  ASSERT_TRUE(o.metrics);
  EXPECT_EQ(o.metrics->listen, "127.0.0.1");
  EXPECT_EQ(o.metrics->listen_port, 9100);
  EXPECT_EQ(o.metrics->path, "/metrics");
  EXPECT_EQ(o.metrics->secret, "");
}

TEST(MetricsConfig, AllFields) {
  auto o = load_string(R"({"experimental": {"metrics": {"listen": "[::1]:9200", "path": "/m/x", "secret": "s3"}}})");
  ASSERT_TRUE(o.metrics);
  EXPECT_EQ(o.metrics->listen, "::1");
  EXPECT_EQ(o.metrics->listen_port, 9200);
  EXPECT_EQ(o.metrics->path, "/m/x");
  EXPECT_EQ(o.metrics->secret, "s3");
  auto v4 = load_string(R"({"experimental": {"metrics": {"listen": "0.0.0.0:1"}}})");
  EXPECT_EQ(v4.metrics->listen, "0.0.0.0");
  EXPECT_EQ(v4.metrics->listen_port, 1);
}

TEST(MetricsConfig, BadValues) {
  const std::string p = "experimental.metrics.";
  expect_config_error(R"({"experimental": {"metrics": {"listen": "localhost:9100"}}})", p + "listen", "expected an IP");
  expect_config_error(R"({"experimental": {"metrics": {"listen": "127.0.0.1"}}})", p + "listen", "expected IP:port");
  expect_config_error(R"({"experimental": {"metrics": {"listen": "127.0.0.1:"}}})", p + "listen", "expected IP:port");
  expect_config_error(R"({"experimental": {"metrics": {"listen": "127.0.0.1:0"}}})", p + "listen", "invalid port");
  expect_config_error(R"({"experimental": {"metrics": {"listen": "127.0.0.1:70000"}}})", p + "listen", "invalid port");
  expect_config_error(R"({"experimental": {"metrics": {"listen": "127.0.0.1:9x"}}})", p + "listen", "invalid port");
  expect_config_error(R"({"experimental": {"metrics": {"listen": "::1:9100"}}})", p + "listen", "needs brackets");
  expect_config_error(R"({"experimental": {"metrics": {"listen": 9100}}})", p + "listen", "expected string");
  expect_config_error(R"({"experimental": {"metrics": {"path": "metrics"}}})", p + "path", "must start with");
  expect_config_error(R"({"experimental": {"metrics": {"path": "/a b"}}})", p + "path", "plain URL path");
  expect_config_error(R"({"experimental": {"metrics": {"path": "/m?x=1"}}})", p + "path", "plain URL path");
  expect_config_error(R"({"experimental": {"metrics": {"secret": 5}}})", p + "secret", "expected string");
  expect_config_error(R"({"experimental": {"metrics": {"port": 5}}})", p + "port", "unknown field");
  expect_config_error(R"({"experimental": {"metrics": true}})", "experimental.metrics", "expected object");
  expect_config_error(R"({"experimental": []})", "experimental", "expected object");
}

TEST(MetricsConfig, OtherExperimentalServicesAreRefusedByName) {
  // clash_api and cache_file exist since issue 15 (tests/integration/groups_test.cpp).
  for (const char* key : {"v2ray_api", "debug"}) {
    expect_config_error(std::string(R"({"experimental": {")") + key + R"(": {"enabled": true}}})",
                 std::string("experimental.") + key, "not supported yet");
  }
  expect_config_error(R"({"experimental": {"bogus": 1}})", "experimental.bogus", "unknown field");
}

}  // namespace
