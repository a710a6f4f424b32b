// The `ntp` section at run time: asks the NTP server through the detour (or
// a direct path built from ntp's dial fields) at start and every interval,
// logs the time as sing-box does, and publishes the clock offset
// (net/clock_offset) that TLS certificate checks use. Unlike sing-box, a
// first query that fails does not stop the start: it is logged and tried
// again after kNtpRetry (the system clock is used meanwhile).
#pragma once
#include <chrono>
#include <memory>
#include <string>

#include <asio/awaitable.hpp>
#include <asio/io_context.hpp>

#include "config/options.hpp"
#include "net/resolver.hpp"
#include "net/task_group.hpp"
#include "outbound/outbound.hpp"

namespace anytls::app {

// One query's limit (sing-box's: C.TCPTimeout-like), and how soon a failed
// query is tried again (sooner than a whole interval).
inline constexpr std::chrono::seconds kNtpQueryTimeout{5};
inline constexpr std::chrono::seconds kNtpRetry{60};

class NtpService {
 public:
  // via: the detour outbound (must outlive the service), or null for a
  // direct path from options.dial.
  NtpService(asio::io_context& io, const config::NtpOptions& options, outbound::Outbound* via,
             std::shared_ptr<net::Resolver> resolver);
  ~NtpService();
  void start();
  // Stops querying; the last offset stays in use.
  void stop();
  asio::awaitable<void> join();

 private:
  static asio::awaitable<void> run(NtpService* self);

  config::NtpOptions options_;
  outbound::Outbound* via_;
  std::unique_ptr<outbound::Outbound> own_;
  net::TaskGroup tasks_;
};

}  // namespace anytls::app
