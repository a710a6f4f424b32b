#include "app/ntp_service.hpp"

#include <spdlog/spdlog.h>

#include "app/go_time.hpp"
#include "net/clock_offset.hpp"
#include "net/coro.hpp"
#include "outbound/dial_options.hpp"
#include "outbound/direct.hpp"
#include "outbound/ntp_query.hpp"

namespace anytls::app {

NtpService::NtpService(asio::io_context& io, const config::NtpOptions& options, outbound::Outbound* via,
                       std::shared_ptr<net::Resolver> resolver)
    : options_(options), via_(via), tasks_(io.get_executor(), "ntp") {
  if (!via_) {
    own_ = std::make_unique<outbound::DirectOutbound>(
        "ntp-direct", net::Dialer(outbound::make_dialer_options(options_.dial), std::move(resolver)));
    via_ = own_.get();
  }
}

NtpService::~NtpService() { tasks_.cancel(); }

void NtpService::start() { tasks_.spawn(run(this), "ntp"); }

void NtpService::stop() { tasks_.cancel(); }

asio::awaitable<void> NtpService::join() { co_await tasks_.join(); }

asio::awaitable<void> NtpService::run(NtpService* self) {
  const net::Address server{self->options_.server, self->options_.server_port};
  const auto interval = std::chrono::duration_cast<net::Clock::duration>(self->options_.interval);
  bool first = true;
  for (;;) {
    auto asking = outbound::ntp_query(*self->via_, server, kNtpQueryTimeout);
    auto got = co_await std::move(asking);
    bool stopping = co_await net::cancelled();
    if (stopping) co_return;
    net::Clock::duration wait = interval;
    if (got) {
      net::set_clock_offset(got->offset);
      const double offset_s = std::chrono::duration<double>(got->offset).count();
      // As sing-box: the first at info, the periodic ones at debug.
      spdlog::log(first ? spdlog::level::info : spdlog::level::debug, "ntp: updated time: {} (offset {:+.3f}s from {})",
                  format_go_time(net::corrected_now(), kGoTimeLayout), offset_s, server.to_string());
      first = false;
    } else {
      spdlog::warn("ntp: update time: {}", got.error().text());
      wait = std::min(interval, std::chrono::duration_cast<net::Clock::duration>(kNtpRetry));
    }
    auto sleeping = net::sleep_for(wait);
    bool waited = co_await std::move(sleeping);
    if (!waited) co_return;
  }
}

}  // namespace anytls::app
