// Remote rule sets: downloaded over HTTP through a named outbound
// (download_detour), kept on disk, refreshed every update_interval.
#pragma once
#include <chrono>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <asio/awaitable.hpp>
#include <asio/io_context.hpp>

#include "config/options.hpp"
#include "net/clock.hpp"
#include "net/result.hpp"
#include "net/task_group.hpp"
#include "outbound/http_get.hpp"
#include "outbound/outbound.hpp"
#include "route/rule_set.hpp"

namespace anytls::route {

// The download itself is outbound::http_get (outbound/http_get.hpp).
using FetchLimits = outbound::HttpLimits;
using outbound::http_get;

// Where remote rule sets are cached: $STATE_DIRECTORY (systemd), else
// $XDG_STATE_HOME/anytls, else ~/.local/state/anytls, else /var/lib/anytls.
std::string default_state_dir();

class RuleSetUpdater {
 public:
  struct Remote {
    config::RuleSetOptions options;
    outbound::Outbound* via = nullptr;  // must outlive the updater's tasks
  };
  RuleSetUpdater(asio::io_context& io, std::shared_ptr<RuleSets> sets, std::vector<Remote> remotes,
                 std::string cache_dir, FetchLimits limits = {});
  // One task per remote set: download now (or when its cached copy is
  // update_interval old), then every update_interval. A download that
  // fails is logged and tried again after min(update_interval, 5 min); a
  // download the set refuses (bad content, over its memory bound) is logged
  // and the set keeps what it had until the next update_interval. Every
  // wait is on limits.clock.
  void start();
  void stop();
  asio::awaitable<void> join();

 private:
  asio::awaitable<void> run(std::size_t i);

  std::shared_ptr<RuleSets> sets_;
  std::vector<Remote> remotes_;
  std::string cache_dir_;
  FetchLimits limits_;
  net::TaskGroup tasks_;
};

}  // namespace anytls::route
