// curl (a real client) through the mixed inbound to a local HTTP server:
// --socks5, --socks5-hostname, --socks4, --socks4a, -x http:// (plain with
// keep-alive, and -p for CONNECT), with and without credentials.
#include <cstdio>
#include <cstdlib>
#include <sys/wait.h>
#include <future>
#include <thread>

#include <gtest/gtest.h>

#include "inbound/mixed.hpp"
#include "support/shell.hpp"
#include "unit/inbound/loopback.hpp"

namespace anytls::inbound {
namespace {

using namespace anytls::test;

bool have_curl() { return std::system("command -v curl >/dev/null 2>&1") == 0; }


// The inbounds and the origin run on their own thread; the test thread
// only runs curl and looks at the output.
class CurlTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!have_curl()) GTEST_SKIP() << "curl not on PATH";
    http_ = start_http(io_);
    open_ = std::make_unique<MixedInbound>(io_, "mixed-in", proxy_options(), router_);
    authed_ = std::make_unique<MixedInbound>(io_, "mixed-auth", proxy_options({{"u", "p"}}), router_);
    ASSERT_FALSE(open_->start());
    ASSERT_FALSE(authed_->start());
    proxy_ = "127.0.0.1:" + std::to_string(open_->port());
    auth_proxy_ = "127.0.0.1:" + std::to_string(authed_->port());
    origin_port_ = std::to_string(http_->acceptor.local_endpoint().port());
    thread_ = std::thread([this] { io_.run(); });
  }
  void TearDown() override {
    if (!thread_.joinable()) return;
    asio::post(io_, [this] {
      open_->stop();
      authed_->stop();
      http_->stop();
    });
    thread_.join();  // returns once everything has unwound
    EXPECT_EQ(open_->live_connections(), 0u);
    EXPECT_EQ(authed_->live_connections(), 0u);
  }
  std::string curl(const std::string& args) { return "curl -sS --max-time 20 " + args; }

  asio::io_context io_;
  TestRouter router_;
  std::shared_ptr<ServerState> http_;
  std::unique_ptr<MixedInbound> open_, authed_;
  std::string proxy_, auth_proxy_, origin_port_;
  std::thread thread_;
};

TEST_F(CurlTest, Socks5Hostname) {
  auto o = sh(curl("--socks5-hostname " + proxy_ + " http://origin.test:" + origin_port_ + "/s5h"));
  EXPECT_EQ(o.status, 0) << o.out;
  EXPECT_EQ(o.out.rfind("GET /s5h host=origin.test:" + origin_port_, 0), 0u) << o.out;
}

TEST_F(CurlTest, Socks5IpAndSocks4) {
  auto a = sh(curl("--socks5 " + proxy_ + " http://127.0.0.1:" + origin_port_ + "/s5"));
  EXPECT_EQ(a.status, 0) << a.out;
  EXPECT_EQ(a.out.rfind("GET /s5 ", 0), 0u) << a.out;
  auto b = sh(curl("--socks4 " + proxy_ + " http://127.0.0.1:" + origin_port_ + "/s4"));
  EXPECT_EQ(b.status, 0) << b.out;
  EXPECT_EQ(b.out.rfind("GET /s4 ", 0), 0u) << b.out;
}

TEST_F(CurlTest, Socks4a) {
  auto o = sh(curl("--socks4a " + proxy_ + " http://origin.test:" + origin_port_ + "/s4a"));
  EXPECT_EQ(o.status, 0) << o.out;
  EXPECT_EQ(o.out.rfind("GET /s4a host=origin.test:", 0), 0u) << o.out;
}

TEST_F(CurlTest, HttpProxyKeepAliveAndPost) {
  std::string base = "http://origin.test:" + origin_port_;
  auto o = sh(curl("-v -x http://" + proxy_ + " " + base + "/one " + base + "/two"));
  EXPECT_EQ(o.status, 0) << o.out;
  EXPECT_NE(o.out.find("GET /one host=origin.test:"), std::string::npos) << o.out;
  EXPECT_NE(o.out.find("GET /two host=origin.test:"), std::string::npos) << o.out;
  EXPECT_NE(o.out.find("Re-using existing connection"), std::string::npos) << o.out;
  auto p = sh(curl("-x http://" + proxy_ + " --data-binary hello " + base + "/post"));
  EXPECT_EQ(p.status, 0) << p.out;
  EXPECT_EQ(p.out.rfind("POST /post host=origin.test:" + origin_port_ + " body=hello", 0), 0u) << p.out;
}

TEST_F(CurlTest, HttpConnectTunnel) {
  auto o = sh(curl("-p -x http://" + proxy_ + " http://origin.test:" + origin_port_ + "/tunnel"));
  EXPECT_EQ(o.status, 0) << o.out;
  // Through a tunnel the origin sees curl's own origin-form request.
  EXPECT_EQ(o.out.rfind("GET /tunnel host=origin.test:", 0), 0u) << o.out;
}

TEST_F(CurlTest, Credentials) {
  std::string url = " http://origin.test:" + origin_port_ + "/auth";
  auto h = sh(curl("-x http://u:p@" + auth_proxy_ + url));
  EXPECT_EQ(h.status, 0) << h.out;
  EXPECT_EQ(h.out.rfind("GET /auth ", 0), 0u) << h.out;
  auto s = sh(curl("-x socks5h://u:p@" + auth_proxy_ + url));
  EXPECT_EQ(s.status, 0) << s.out;
  EXPECT_EQ(s.out.rfind("GET /auth ", 0), 0u) << s.out;
  auto bad_http = sh(curl("-f -x http://u:wrong@" + auth_proxy_ + url));
  EXPECT_NE(bad_http.status, 0) << bad_http.out;
  EXPECT_NE(bad_http.out.find("407"), std::string::npos) << bad_http.out;
  auto bad_socks = sh(curl("-x socks5h://u:wrong@" + auth_proxy_ + url));
  EXPECT_NE(bad_socks.status, 0) << bad_socks.out;
  auto none = sh(curl("--socks5-hostname " + auth_proxy_ + url));
  EXPECT_NE(none.status, 0) << none.out;
}

TEST_F(CurlTest, RejectedRoute) {
  std::promise<void> set;
  asio::post(io_, [&] {
    router_.reject_all = true;
    set.set_value();
  });
  set.get_future().wait();
  auto s = sh(curl("--socks5-hostname " + proxy_ + " http://origin.test:" + origin_port_ + "/x"));
  EXPECT_NE(s.status, 0) << s.out;
  auto h = sh(curl("-f -x http://" + proxy_ + " http://origin.test:" + origin_port_ + "/x"));
  EXPECT_NE(h.status, 0) << h.out;
  EXPECT_NE(h.out.find("403"), std::string::npos) << h.out;
}

}  // namespace
}  // namespace anytls::inbound
