#include "app/box.hpp"

#include <csignal>

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/io_context.hpp>
#include <asio/signal_set.hpp>
#include <asio/use_awaitable.hpp>
#include <spdlog/spdlog.h>

#include "app/reload.hpp"
#include "net/resolver.hpp"

namespace anytls::app {

namespace {

constexpr auto kShutdownGrace = std::chrono::seconds(3);

struct Box {
  asio::io_context io{1};
  std::shared_ptr<net::Resolver> resolver = std::make_shared<net::Resolver>();
  Components parts{io, resolver};
  ConfigReader read;  // SIGHUP; empty: reload unavailable
  bool stopping = false;

  void stop() {
    if (stopping) return;
    stopping = true;
    parts.stop();
    resolver->stop();
  }
};

asio::awaitable<void> wait_for_signal(Box& box) {
  asio::signal_set signals(box.io, SIGINT, SIGTERM, SIGHUP);
  for (;;) {
    auto [ec, sig] = co_await signals.async_wait(asio::experimental::as_tuple(asio::use_awaitable));
    if (ec) co_return;
    if (sig == SIGHUP) {
      if (box.read) reload(box.parts, box.read);
      else spdlog::warn("SIGHUP received: no configuration to reload from");
      continue;
    }
    spdlog::info("{} received, shutting down", sig == SIGINT ? "SIGINT" : "SIGTERM");
    box.stop();
    co_return;
  }
}

}  // namespace

int run_box(const config::Options& options, ConfigReader read) {
  Box box;
  box.read = std::move(read);
  if (auto failure = box.parts.start(options)) {
    spdlog::critical("{}", failure->message);
    box.stop();
    return failure->exit_code;
  }
  asio::co_spawn(box.io, wait_for_signal(box), asio::detached);
  spdlog::info("anytls-cpp {} started ({} inbounds, {} outbounds)", ANYTLS_VERSION, box.parts.inbound_count(),
               box.parts.outbound_count());

  // Run until a signal; then give connections a moment to unwind and stop.
  while (!box.stopping && box.io.run_one() > 0) {
  }
  auto deadline = std::chrono::steady_clock::now() + kShutdownGrace;
  while (box.io.run_one_until(deadline) > 0) {
  }
  box.io.stop();
  spdlog::info("stopped");
  return 0;
}

}  // namespace anytls::app
