// Remote rule sets: downloaded over HTTP through a named outbound
// (download_detour), kept on disk, refreshed every update_interval.
#pragma once
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <asio/awaitable.hpp>
#include <asio/io_context.hpp>

#include "config/options.hpp"
#include "net/result.hpp"
#include "net/task_group.hpp"
#include "outbound/outbound.hpp"
#include "route/rule_set.hpp"

namespace anytls::route {

// GET url (http:// only) through `via`; the body (Content-Length, chunked
// or up to the close), at most max_bytes. Errors name the URL.
asio::awaitable<net::Result<std::string>> http_get(outbound::Outbound& via, std::string url, std::size_t max_bytes);

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
                 std::string cache_dir);
  // One task per remote set: download now (or when its cached copy is
  // update_interval old), then every update_interval.
  void start();
  void stop();
  asio::awaitable<void> join();

 private:
  asio::awaitable<void> run(std::size_t i);

  std::shared_ptr<RuleSets> sets_;
  std::vector<Remote> remotes_;
  std::string cache_dir_;
  net::TaskGroup tasks_;
};

}  // namespace anytls::route
