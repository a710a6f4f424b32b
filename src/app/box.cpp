#include "app/box.hpp"

#include <algorithm>
#include <chrono>
#include <csignal>

#include <asio/experimental/awaitable_operators.hpp>
#include <asio/io_context.hpp>
#include <asio/signal_set.hpp>
#include <spdlog/spdlog.h>

#include "app/cache_file.hpp"
#include "app/clash_api.hpp"
#include "app/clash_server.hpp"
#include "app/external_ui_download.hpp"
#include "app/log_buffer.hpp"
#include "app/metrics.hpp"
#include "inbound/tracker.hpp"
#include "route/clash_mode.hpp"
#include "app/metrics_server.hpp"
#include "app/ntp_service.hpp"
#include "app/reload.hpp"
#include "dns/client.hpp"
#include "inbound/anytls_server.hpp"
#include "inbound/sharded.hpp"
#include "metrics/exposition.hpp"
#include "metrics/process.hpp"
#include "net/heap_trim.hpp"
#include "net/workers.hpp"
#include "net/coro.hpp"
#include "outbound/anytls.hpp"
#include "net/resolver.hpp"
#include "net/task_group.hpp"

namespace anytls::app {

namespace {

using namespace asio::experimental::awaitable_operators;

// How long connections get to unwind after a stop signal before the rest
// is abandoned.
constexpr auto kShutdownGrace = std::chrono::seconds(3);

struct Box {
  explicit Box(std::size_t n) : workers(io, n) {}

  asio::io_context io{1};  // worker 0: this thread
  net::Workers workers;
  // After a burst of handshakes (a pool filling, clients reconnecting).
  net::HeapTrim heap_trim{io.get_executor()};
  std::shared_ptr<net::Resolver> resolver = std::make_shared<net::Resolver>();
  Components parts{io, resolver, &workers};
  ConfigReader read;  // SIGHUP; empty: reload unavailable
  std::unique_ptr<MetricsServer> metrics;  // experimental.metrics
  std::unique_ptr<CacheFile> cache;        // experimental.cache_file
  // experimental.clash_api
  std::unique_ptr<inbound::ConnectionTracker> tracker;
  std::shared_ptr<LogBuffer> logs;
  std::unique_ptr<ClashApi> clash;
  std::unique_ptr<ClashServer> clash_server;
  std::unique_ptr<NtpService> ntp;
  // clash_api.external_ui_download_url (after parts: it downloads through one of its outbounds)
  std::unique_ptr<net::TaskGroup> ui_download;  // ntp (declared after parts: it may query through one of its outbounds)
  bool stopping = false;

  ~Box() {
    inbound::set_connection_tracker(nullptr);
    if (logs) {
      auto& sinks = spdlog::default_logger()->sinks();
      sinks.erase(std::remove(sinks.begin(), sinks.end(), logs), sinks.end());
    }
  }

  void stop() {
    if (stopping) return;
    stopping = true;
    if (metrics) metrics->stop();
    if (clash_server) clash_server->stop();
    if (ntp) ntp->stop();
    if (ui_download) ui_download->cancel();
    parts.stop();
    resolver->stop();
    if (cache) parts.fakeip_tables().save_changed();  // no memory set: nothing
  }
};

// experimental.cache_file.store_fakeip: the tables go to the cache file
// while they change, at most once per kFakeIpSaveInterval (a burst of new
// names is one write), and at stop.
constexpr auto kFakeIpSaveInterval = std::chrono::seconds(10);

asio::awaitable<void> keep_fakeip(Box* box) {
  while (!box->stopping) {
    co_await net::sleep_for(kFakeIpSaveInterval);
    if (!box->stopping) box->parts.fakeip_tables().save_changed();
  }
}

asio::awaitable<void> join_all(Box* box) {
  co_await box->parts.join();
  if (box->metrics) co_await box->metrics->join();
  if (box->clash_server) co_await box->clash_server->join();
  if (box->ntp) co_await box->ntp->join();
  if (box->ui_download) co_await box->ui_download->join();
}

// Runs until SIGINT/SIGTERM (SIGHUP reloads), then stops everything and
// waits (bounded) for every task to finish before stopping the event loop.
asio::awaitable<void> serve_until_signal(Box* box) {
  asio::signal_set signals(box->io, SIGINT, SIGTERM, SIGHUP);
  for (;;) {
    auto [ec, sig] = co_await signals.async_wait(net::use_tuple);
    if (ec) break;
    if (sig == SIGHUP) {
      if (box->read) {
        spdlog::info("SIGHUP received, reloading the configuration");
        reload(box->parts, box->read);
      } else
        spdlog::warn("SIGHUP received: no configuration to reload from");
      continue;
    }
    spdlog::info("{} received, shutting down", sig == SIGINT ? "SIGINT" : "SIGTERM");
    break;
  }
  box->stop();
  auto drained = co_await (join_all(box) || net::sleep_for(kShutdownGrace));
  if (drained.index() != 0)
    spdlog::warn("shutdown: tasks still running after {}s, leaving them", kShutdownGrace.count());
  box->io.stop();
}

// The DNS module's cache (it lives on worker 0; call there).
std::optional<DnsCacheSize> dns_cache_size(const Components& parts) {
  auto dns = parts.dns_client();
  if (!dns) return std::nullopt;
  DnsCacheSize size;
  size.entries = dns->cache().size();
  size.bytes = dns->cache().bytes();
  return size;
}

// The dashboard, downloaded while the API already serves; a failure is
// logged and the API keeps serving (without /ui/ files).
asio::awaitable<void> fetch_dashboard(outbound::Outbound* via, config::ClashApiOptions options) {
  const std::string url = options.external_ui_download_url;
  const std::string dir = options.external_ui;
  spdlog::info("clash-api: downloading the dashboard from {} into {}", url, dir);
  auto downloading = download_external_ui(*via, std::move(options), DashboardLimits{});
  std::string err = co_await std::move(downloading);
  bool stopping = co_await net::cancelled();
  if (stopping) co_return;
  if (err.empty()) spdlog::info("clash-api: dashboard unpacked into {}", dir);
  else spdlog::error("clash-api: download external ui: {}", err);
}

// One worker's share of a scrape, collected on that worker's thread (each
// object's counters are read by the thread that writes them).
asio::awaitable<void> collect_here(Components* parts, std::size_t k, metrics::Exposition* e) {
  MetricsSources sources;
  sources.worker_share = k != 0;
  if (k == 0) sources.dns_cache = dns_cache_size(*parts);
  for (auto* out : parts->outbounds())
    if (auto* a = dynamic_cast<const outbound::AnyTlsOutbound*>(out)) sources.outbounds.push_back(a);
  for (auto* in : parts->inbounds()) {
    if (auto* sh = dynamic_cast<const inbound::ShardedInbound*>(in)) in = &sh->shard(k);
    else if (k != 0) continue;
    if (auto* a = dynamic_cast<const inbound::AnyTlsServer*>(in)) sources.inbounds.push_back(a);
  }
  collect_anytls(*e, sources);
  co_return;
}

// The scrape: every worker in turn, then the process.
asio::awaitable<std::string> render_all(Box* box) {
  metrics::Exposition e;
  for (std::size_t k = 0; k < box->workers.size(); ++k) {
    if (k == 0) {
      co_await collect_here(&box->parts, 0, &e);
      continue;
    }
    auto op = collect_here(&box->parts, k, &e);
    co_await net::run_on(box->workers.at(k).get_executor(), std::move(op));
  }
  metrics::add_process_metrics(e, metrics::read_process_stats());
  co_return e.text();
}

}  // namespace

int run_box(const config::Options& options, ConfigReader read, std::size_t workers) {
  const auto began = std::chrono::steady_clock::now();
  Box box(workers ? workers : net::default_worker_count());
  box.read = std::move(read);
  // The Clash mode and the selectors' choices must be known before the
  // outbounds and the router are built.
  route::set_clash_mode(options.clash_api ? options.clash_api->default_mode
                                          : std::string(config::defaults::kClashDefaultMode));
  if (options.cache_file.enabled) {
    box.cache = std::make_unique<CacheFile>(options.cache_file);
    if (auto err = box.cache->open(); !err.empty()) spdlog::error("{}", err);
    if (auto mode = box.cache->load_mode(); mode && options.clash_api) route::set_clash_mode(*mode);
    box.parts.set_selection_store(box.cache.get());
    if (options.cache_file.store_fakeip) box.parts.fakeip_tables().set_memory(box.cache.get());
  }
  if (options.clash_api) {
    box.tracker = std::make_unique<inbound::ConnectionTracker>();
    inbound::set_connection_tracker(box.tracker.get());
    box.logs = std::make_shared<LogBuffer>();
    spdlog::default_logger()->sinks().push_back(box.logs);
  }
  // The worker threads start once the log sinks are in place: the inbound
  // shards are built on them; they end when run_box() returns (after the
  // drain below).
  box.workers.start();
  struct StopWorkers {
    net::Workers& w;
    ~StopWorkers() { w.stop(); }
  } stop_workers{box.workers};
  if (auto failure = box.parts.start(options)) {
    spdlog::critical("{}", failure->message);
    box.stop();
    return failure->exit_code;
  }
  if (options.ntp.enabled) {
    outbound::Outbound* via = options.ntp.dial.detour.empty() ? nullptr : box.parts.outbound(options.ntp.dial.detour);
    box.ntp = std::make_unique<NtpService>(box.io, options.ntp, via, box.resolver);
    box.ntp->start();
  }
  if (options.metrics) {
    // Read at scrape time, from the objects running then (a reload may
    // have replaced some), each on its own worker.
    MetricsServer::Render render = [b = &box] { return render_all(b); };
    box.metrics = std::make_unique<MetricsServer>(box.io, *options.metrics, std::move(render));
    if (box.metrics->start()) {
      spdlog::critical("experimental.metrics: {}", box.metrics->start_error());
      box.stop();
      return 2;
    }
  }
  if (options.clash_api) {
    ClashSources sources{&box.parts, box.tracker.get(), box.cache.get(), box.logs.get()};
    box.clash = std::make_unique<ClashApi>(*options.clash_api, sources);
    box.clash->set_modes(clash_modes(options));
    if (box.read) {
      // PUT /configs: as SIGHUP (on worker 0, where the signal is handled).
      ClashApi::Reload again = [b = &box] {
        spdlog::info("clash-api: reloading the configuration");
        return reload(b->parts, b->read);
      };
      box.clash->set_reload(std::move(again));
    }
    box.clash_server = std::make_unique<ClashServer>(box.io, *box.clash);
    if (box.clash_server->start()) {
      spdlog::critical("experimental.clash_api: {}", box.clash_server->start_error());
      box.stop();
      return 2;
    }
    const auto& api = *options.clash_api;
    if (!api.external_ui.empty() && !api.external_ui_download_url.empty() && external_ui_missing(api.external_ui)) {
      const std::string& tag = api.external_ui_download_detour.empty() ? box.parts.final_tag() : api.external_ui_download_detour;
      if (outbound::Outbound* via = box.parts.outbound(tag)) {
        box.ui_download = std::make_unique<net::TaskGroup>(box.io.get_executor(), "external-ui");
        box.ui_download->spawn(fetch_dashboard(via, api), "external_ui download");
      }
    }
  }
  net::TaskGroup main_task(box.io.get_executor(), "box");
  main_task.spawn(serve_until_signal(&box), "signal handling");
  if (box.cache && options.cache_file.store_fakeip) main_task.spawn(keep_fakeip(&box), "fakeip store");
  const std::chrono::duration<double> took = std::chrono::steady_clock::now() - began;
  spdlog::info("anytls-cpp {} started ({:.2f}s): {} inbounds, {} outbounds, {} workers", ANYTLS_VERSION, took.count(),
               box.parts.inbound_count(), box.parts.outbound_count(), box.workers.size());
  box.io.run();
  spdlog::info("stopped");
  return 0;
}

}  // namespace anytls::app
