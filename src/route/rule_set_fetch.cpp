#include "route/rule_set_fetch.hpp"

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>

#include <spdlog/spdlog.h>

#include "net/coro.hpp"

namespace anytls::route {

std::string default_state_dir() {
  if (const char* d = std::getenv("STATE_DIRECTORY"); d && *d) {
    std::string s(d);
    return s.substr(0, s.find(':'));  // systemd may list several
  }
  if (const char* d = std::getenv("XDG_STATE_HOME"); d && *d) return std::string(d) + "/anytls";
  if (const char* h = std::getenv("HOME"); h && *h) return std::string(h) + "/.local/state/anytls";
  return "/var/lib/anytls";
}

RuleSetUpdater::RuleSetUpdater(asio::io_context& io, std::shared_ptr<RuleSets> sets, std::vector<Remote> remotes,
                               std::string cache_dir, FetchLimits limits)
    : sets_(std::move(sets)), remotes_(std::move(remotes)), cache_dir_(std::move(cache_dir)), limits_(limits),
      tasks_(io.get_executor(), "rule-set updates") {}

void RuleSetUpdater::start() {
  for (std::size_t i = 0; i < remotes_.size(); ++i) tasks_.spawn(run(i), "rule-set[" + remotes_[i].options.tag + "]");
}

void RuleSetUpdater::stop() { tasks_.cancel(); }

asio::awaitable<void> RuleSetUpdater::join() { co_await tasks_.join(); }

asio::awaitable<void> RuleSetUpdater::run(std::size_t i) {
  const auto& o = remotes_[i].options;
  RuleSet* set = sets_->find(o.tag);
  if (set == nullptr || remotes_[i].via == nullptr) co_return;
  const std::string file = RuleSets::cache_path(cache_dir_, o);
  const auto interval = std::chrono::duration_cast<net::Clock::duration>(o.update_interval);
  // A cached copy younger than update_interval is used until it is that old.
  net::Clock::duration wait{0};
  std::error_code fec;
  auto mtime = std::filesystem::last_write_time(file, fec);
  if (!fec && set->size() > 0) {
    auto age = std::filesystem::file_time_type::clock::now() - mtime;
    auto left = std::chrono::duration_cast<net::Clock::duration>(o.update_interval) -
                std::chrono::duration_cast<net::Clock::duration>(age);
    if (left > net::Clock::duration::zero()) wait = left;
  }
  while (true) {
    // (Named awaitables: GCC 12 and temporaries in a co_await.)
    auto sleeping = net::sleep_for(wait, limits_.clock);
    bool waited = co_await std::move(sleeping);
    if (!waited) co_return;
    wait = interval;
    std::string url = o.url;
    // At most what the set may be read from (RuleSetBudget::kFile, 64 MiB).
    auto fetching = http_get(*remotes_[i].via, std::move(url), sets_->budget().file_bound(), limits_);
    auto got = co_await std::move(fetching);
    bool stopping = co_await net::cancelled();
    if (stopping) co_return;
    if (!got) {
      spdlog::warn("rule-set[{}]: {}", o.tag, got.error().text());
      // Retry sooner than a whole interval after a failure.
      wait = std::min(interval, std::chrono::duration_cast<net::Clock::duration>(std::chrono::minutes(5)));
      continue;
    }
    // Written aside first (the text is released while it is decoded),
    // renamed into place once the set has taken it, so a reader never sees
    // half a file nor one the set refused.
    const std::size_t size = got->size();
    std::error_code ec;
    std::filesystem::create_directories(cache_dir_, ec);
    const std::string tmp = file + ".tmp";
    {
      std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
      out.write(got->data(), static_cast<std::streamsize>(size));
      if (!out) ec = std::make_error_code(std::errc::io_error);
    }
    bool taken = true;
    try {
      set->replace(
          parse_rule_set(std::move(*got), o.format, "rule-set[" + o.tag + "] (" + o.url + ")", o.tag, sets_->budget()));
    } catch (const std::invalid_argument& e) {
      // Refused: the set keeps what it had until the next update.
      spdlog::warn("{}; keeping the rule set it has ({} rules)", e.what(), set->size());
      taken = false;
    }
    if (!taken) {
      std::error_code ig;
      std::filesystem::remove(tmp, ig);
      continue;
    }
    spdlog::info("rule-set[{}]: updated from {} ({} bytes, {} rules)", o.tag, o.url, size, set->size());
    if (!ec) std::filesystem::rename(tmp, file, ec);
    if (ec) spdlog::warn("rule-set[{}]: cannot keep a copy in {}: {}", o.tag, file, ec.message());
  }
}

}  // namespace anytls::route
