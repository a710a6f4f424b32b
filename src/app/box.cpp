#include "app/box.hpp"

#include <csignal>
#include <map>

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/io_context.hpp>
#include <asio/signal_set.hpp>
#include <asio/use_awaitable.hpp>
#include <spdlog/spdlog.h>

#include "app/metrics.hpp"
#include "app/metrics_server.hpp"
#include "inbound/anytls_server.hpp"
#include "inbound/http.hpp"
#include "inbound/mixed.hpp"
#include "inbound/socks.hpp"
#include "net/resolver.hpp"
#include "outbound/anytls.hpp"
#include "outbound/block.hpp"
#include "outbound/dial_options.hpp"
#include "outbound/direct.hpp"
#include "route/rule_router.hpp"

namespace anytls::app {

namespace {

constexpr auto kShutdownGrace = std::chrono::seconds(3);

struct Box {
  asio::io_context io{1};
  std::shared_ptr<net::Resolver> resolver = std::make_shared<net::Resolver>();
  std::vector<std::unique_ptr<outbound::Outbound>> outbounds;
  std::map<std::string, outbound::Outbound*, std::less<>> by_tag;
  std::unique_ptr<route::RuleRouter> router;
  std::vector<std::unique_ptr<inbound::Inbound>> inbounds;
  std::unique_ptr<MetricsServer> metrics;  // experimental.metrics
  bool stopping = false;

  void stop() {
    if (stopping) return;
    stopping = true;
    if (metrics) metrics->stop();
    for (auto& in : inbounds) in->stop();
    for (auto& out : outbounds) out->stop();
    resolver->stop();
  }
};

asio::awaitable<void> wait_for_signal(Box& box) {
  asio::signal_set signals(box.io, SIGINT, SIGTERM);
  auto [ec, sig] = co_await signals.async_wait(asio::experimental::as_tuple(asio::use_awaitable));
  if (ec) co_return;
  spdlog::info("{} received, shutting down", sig == SIGINT ? "SIGINT" : "SIGTERM");
  box.stop();
}

// Builds the outbounds; returns an error text naming the outbound.
std::string build_outbounds(Box& box, const config::Options& options) {
  for (std::size_t i = 0; i < options.outbounds.size(); ++i) {
    const auto& o = options.outbounds[i];
    std::unique_ptr<outbound::Outbound> out;
    if (const auto* a = std::get_if<config::AnyTlsOutboundOptions>(&o.options)) {
      net::Dialer dialer(outbound::make_dialer_options(a->dial), box.resolver);
      auto r = outbound::AnyTlsOutbound::create(box.io, o.tag, *a, std::move(dialer));
      if (!r) return fmt::format("outbounds[{}] ({}): {}", i, o.tag, r.error().text());
      out = std::move(*r);
    } else if (const auto* d = std::get_if<config::DirectOutboundOptions>(&o.options)) {
      out = std::make_unique<outbound::DirectOutbound>(o.tag, *d, box.resolver);
    } else {
      out = std::make_unique<outbound::BlockOutbound>(o.tag);
    }
    box.by_tag[o.tag] = out.get();
    box.outbounds.push_back(std::move(out));
  }
  for (auto& out : box.outbounds) {
    auto* direct = dynamic_cast<outbound::DirectOutbound*>(out.get());
    if (!direct || direct->detour_tag().empty()) continue;
    auto it = box.by_tag.find(direct->detour_tag());
    if (it == box.by_tag.end()) return fmt::format("outbound {}: detour not found: {}", out->tag(), direct->detour_tag());
    direct->set_detour(it->second);
  }
  return {};
}

}  // namespace

int run_box(const config::Options& options) {
  Box box;
  if (auto err = build_outbounds(box, options); !err.empty()) {
    spdlog::critical("{}", err);
    return 1;
  }
  try {
    box.router = std::make_unique<route::RuleRouter>(
        options.route, box.outbounds.front()->tag(), [&box](std::string_view tag) -> outbound::Outbound* {
          auto it = box.by_tag.find(tag);
          return it == box.by_tag.end() ? nullptr : it->second;
        });
  } catch (const std::exception& e) {
    spdlog::critical("{}", e.what());
    return 1;
  }

  for (const auto& in : options.inbounds) {
    if (const auto* a = std::get_if<config::AnyTlsInboundOptions>(&in.options)) {
      auto server = std::make_unique<inbound::AnyTlsServer>(box.io, in.tag, *a, *box.router);
      if (server->start()) {
        spdlog::critical("inbound {}: {}", in.tag, server->start_error());
        box.stop();
        return 2;
      }
      box.inbounds.push_back(std::move(server));
      continue;
    }
    const auto& m = std::get<config::MixedInboundOptions>(in.options);
    std::unique_ptr<inbound::Inbound> proxy;
    if (in.type == "socks")
      proxy = std::make_unique<inbound::SocksInbound>(box.io, in.tag, m, *box.router);
    else if (in.type == "http")
      proxy = std::make_unique<inbound::HttpInbound>(box.io, in.tag, m, *box.router);
    else
      proxy = std::make_unique<inbound::MixedInbound>(box.io, in.tag, m, *box.router);
    if (auto ec = proxy->start()) {
      spdlog::critical("inbound {}: listen {}:{}: {}", in.tag, m.listen.listen, m.listen.listen_port, ec.message());
      box.stop();
      return 2;
    }
    box.inbounds.push_back(std::move(proxy));
  }
  if (options.metrics) {
    // Read at scrape time, on this thread: the objects the box owns.
    MetricsSources sources;
    for (auto& out : box.outbounds)
      if (auto* a = dynamic_cast<const outbound::AnyTlsOutbound*>(out.get())) sources.outbounds.push_back(a);
    for (auto& in : box.inbounds)
      if (auto* a = dynamic_cast<const inbound::AnyTlsServer*>(in.get())) sources.inbounds.push_back(a);
    box.metrics = std::make_unique<MetricsServer>(box.io, *options.metrics,
                                                  [sources] { return render_metrics(sources); });
    if (box.metrics->start()) {
      spdlog::critical("experimental.metrics: {}", box.metrics->start_error());
      box.stop();
      return 2;
    }
  }
  for (auto& out : box.outbounds) out->start();
  asio::co_spawn(box.io, wait_for_signal(box), asio::detached);
  spdlog::info("anytls-cpp {} started ({} inbounds, {} outbounds)", ANYTLS_VERSION, box.inbounds.size(),
               box.outbounds.size());

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
