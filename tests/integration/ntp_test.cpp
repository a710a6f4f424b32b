// The `ntp` section end to end on loopback: a local NTP responder whose
// clock runs a known offset from ours; the offset is measured through an
// outbound (direct and the anytls tunnel), the service publishes it, and
// TLS certificate checks go by it.
#include <gtest/gtest.h>

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/ip/udp.hpp>

#include "app/ntp_service.hpp"
#include "integration/harness.hpp"
#include "net/clock_offset.hpp"
#include "net/sntp.hpp"
#include "outbound/ntp_query.hpp"
#include "support/run.hpp"
#include "support/tls_fixture.hpp"

namespace anytls::integ {
namespace {

using namespace std::chrono;
constexpr auto kTwoDays = hours(48);

// An SNTP server on 127.0.0.1:0 whose clock is ours plus `ahead`.
class NtpResponder {
 public:
  NtpResponder(asio::io_context& io, nanoseconds ahead)
      : socket_(io, asio::ip::udp::endpoint(asio::ip::make_address("127.0.0.1"), 0)), ahead_(ahead) {
    asio::co_spawn(io, serve(this), asio::detached);
  }
  std::uint16_t port() const { return socket_.local_endpoint().port(); }
  std::size_t answered() const { return answered_; }
  void stop() {
    std::error_code ec;
    socket_.close(ec);
  }

 private:
  static asio::awaitable<void> serve(NtpResponder* self) {
    std::array<std::uint8_t, 512> buf;
    for (;;) {
      asio::ip::udp::endpoint from;
      auto [ec, n] = co_await self->socket_.async_receive_from(asio::buffer(buf), from, use_tuple);
      if (ec) co_return;
      if (n < 48) continue;
      const auto now = system_clock::now() + duration_cast<system_clock::duration>(self->ahead_);
      std::array<std::uint8_t, 48> reply{};
      reply[0] = 0x24;  // version 4, server
      reply[1] = 1;     // stratum 1
      std::copy(buf.begin() + 40, buf.begin() + 48, reply.begin() + 24);  // originate = their transmit
      const std::uint64_t ts = net::sntp::to_ntp(now);
      for (int i = 0; i < 8; ++i) {
        reply[static_cast<std::size_t>(32 + i)] = static_cast<std::uint8_t>(ts >> (56 - 8 * i));
        reply[static_cast<std::size_t>(40 + i)] = static_cast<std::uint8_t>(ts >> (56 - 8 * i));
      }
      auto [sec, sn] = co_await self->socket_.async_send_to(asio::buffer(reply), from, use_tuple);
      (void)sn;
      if (!sec) ++self->answered_;
    }
  }

  asio::ip::udp::socket socket_;
  nanoseconds ahead_;
  std::size_t answered_ = 0;
};

// The offset is cleared around each test (it is process-wide).
struct NtpTest : ::testing::Test {
  void SetUp() override { net::clear_clock_offset(); }
  void TearDown() override { net::clear_clock_offset(); }
};

void expect_two_days(nanoseconds offset) {
  EXPECT_NEAR(duration<double>(offset).count(), duration<double>(kTwoDays).count(), 1.0);
}

// One query through the direct outbound, or through an anytls client to
// the Env's server (UDP over the tunnel).
asio::awaitable<void> query_body(Env* env, NtpResponder* ntp, bool tunnel) {
  outbound::Outbound* via = env->direct.get();
  if (tunnel) {
    auto& client = env->start_client();
    via = &client;
  }
  // (Named first: a class temporary inside a co_await broke GCC 12's frame.)
  const net::Address server{"127.0.0.1", ntp->port()};
  auto asking = outbound::ntp_query(*via, server, Ms(3000));
  auto got = co_await std::move(asking);
  CO_ASSERT_TRUE(got.ok());
  expect_two_days(got->offset);
  EXPECT_GE(got->delay.count(), 0);
  ntp->stop();
}

TEST_F(NtpTest, OffsetMeasuredThroughDirect) {
  Env env;
  NtpResponder ntp(env.io, kTwoDays);
  run(env, query_body(&env, &ntp, false), 10s);
  EXPECT_EQ(ntp.answered(), 1u);
}

TEST_F(NtpTest, OffsetMeasuredThroughAnyTlsOutbound) {
  Env env;
  NtpResponder ntp(env.io, kTwoDays);
  run(env, query_body(&env, &ntp, true), 10s);
  EXPECT_EQ(ntp.answered(), 1u);
}

asio::awaitable<void> service_body(Env* env, NtpResponder* ntp) {
  config::NtpOptions opts;
  opts.enabled = true;
  opts.server = "127.0.0.1";
  opts.server_port = ntp->port();
  app::NtpService service(env->io, opts, env->direct.get(), env->resolver);
  service.start();
  std::function<bool()> known = [] { return net::clock_offset().has_value(); };
  auto waiting = eventually(known, Ms(5000), Ms(5));
  bool measured = co_await std::move(waiting);
  service.stop();
  co_await service.join();
  CO_ASSERT_TRUE(measured);
  expect_two_days(*net::clock_offset());
  const auto ahead = duration_cast<seconds>(net::corrected_now() - system_clock::now()).count();
  EXPECT_NEAR(static_cast<double>(ahead), 172800.0, 2.0);
  ntp->stop();
}

TEST_F(NtpTest, ServicePublishesTheOffset) {
  Env env;
  NtpResponder ntp(env.io, kTwoDays);
  run(env, service_body(&env, &ntp), 10s);
}

// ---- TLS goes by the NTP clock ---------------------------------------------------

config::AnyTlsInboundOptions server_with(const test::TestCert& cert) {
  auto o = server_options();
  o.tls.certificate = cert.cert_pem();
  o.tls.key = cert.key_pem();
  o.tls.certificate_path.clear();
  o.tls.key_path.clear();
  return o;
}

// dial + echo through a fresh client (no pooled session, no resumption)
// trusting `cert_pem`: "" when it worked.
asio::awaitable<std::string> try_client(Env* env, std::string cert_pem) {
  auto opts = client_options(env->server->port());
  opts.tls.certificate = std::move(cert_pem);
  auto& client = env->start_client(opts);
  std::string tick = "tick";
  auto echoing = dial_echo(&client, env->echo.port(), tick);
  auto problem = co_await std::move(echoing);
  client.stop();
  co_return problem;
}

// A connection with the machine's clock, then one with the NTP clock two
// days ahead: "" when it should work, else a part of the expected error.
asio::awaitable<void> by_clock_body(Env* env, std::string pem, std::string now_error, std::string ahead_error) {
  std::string before = co_await try_client(env, pem);
  if (now_error.empty()) EXPECT_EQ(before, "");
  else EXPECT_NE(before.find(now_error), std::string::npos) << before;
  net::set_clock_offset(kTwoDays);
  std::string after = co_await try_client(env, pem);
  if (ahead_error.empty()) EXPECT_EQ(after, "");
  else EXPECT_NE(after.find(ahead_error), std::string::npos) << after;
}

TEST_F(NtpTest, CertificateValidByNtpClockIsAccepted) {
  // Valid from tomorrow for three days: not yet by the machine's clock,
  // valid by the NTP clock.
  auto cert = test::TestCert::generate(24 * 3600, 4 * 24 * 3600);
  Env env(server_with(cert));
  run(env, by_clock_body(&env, cert.cert_pem(), "not yet valid", ""), 20s);
}

TEST_F(NtpTest, CertificateExpiredByNtpClockIsRefused) {
  // Valid for a day from an hour ago: expired two days ahead.
  auto cert = test::TestCert::generate(-3600, 24 * 3600);
  Env env(server_with(cert));
  run(env, by_clock_body(&env, cert.cert_pem(), "", "expired"), 20s);
}

}  // namespace
}  // namespace anytls::integ
