#include "app/box.hpp"

#include <csignal>

#include <asio/experimental/awaitable_operators.hpp>
#include <asio/io_context.hpp>
#include <asio/signal_set.hpp>
#include <spdlog/spdlog.h>

#include "app/reload.hpp"
#include "net/coro.hpp"
#include "net/resolver.hpp"
#include "net/task_group.hpp"

namespace anytls::app {

namespace {

using namespace asio::experimental::awaitable_operators;

// How long connections get to unwind after a stop signal before the rest
// is abandoned.
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

// Runs until SIGINT/SIGTERM (SIGHUP reloads), then stops everything and
// waits (bounded) for every task to finish before stopping the event loop.
asio::awaitable<void> serve_until_signal(Box* box) {
  asio::signal_set signals(box->io, SIGINT, SIGTERM, SIGHUP);
  for (;;) {
    auto [ec, sig] = co_await signals.async_wait(net::use_tuple);
    if (ec) break;
    if (sig == SIGHUP) {
      if (box->read)
        reload(box->parts, box->read);
      else
        spdlog::warn("SIGHUP received: no configuration to reload from");
      continue;
    }
    spdlog::info("{} received, shutting down", sig == SIGINT ? "SIGINT" : "SIGTERM");
    break;
  }
  box->stop();
  auto drained = co_await (box->parts.join() || net::sleep_for(kShutdownGrace));
  if (drained.index() != 0)
    spdlog::warn("shutdown: tasks still running after {}s, leaving them", kShutdownGrace.count());
  box->io.stop();
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
  net::TaskGroup main_task(box.io.get_executor(), "box");
  main_task.spawn(serve_until_signal(&box), "signal handling");
  spdlog::info("anytls-cpp {} started ({} inbounds, {} outbounds)", ANYTLS_VERSION, box.parts.inbound_count(),
               box.parts.outbound_count());
  box.io.run();
  spdlog::info("stopped");
  return 0;
}

}  // namespace anytls::app
