// Outbound "urltest", with sing-box's semantics:
//   - every member is probed (url_probe.hpp) at start and then every
//     `interval`, but only while the group is in use: a connection through
//     it wakes the test loop (with a round at once when the last one is
//     older than `interval`), which stops once nothing used the group for
//     `idle_timeout`;
//   - new connections go to the member with the lowest delay; the current
//     one is kept while its delay is within `tolerance` of the best;
//   - a failed dial on the chosen member drops its delay, starts a re-test
//     at once, and the connection is tried once more on the best other
//     member that has a delay (failover without waiting for the interval);
//   - interrupt_exist_connections: when the choice changes, connections
//     through the old member are closed.
#pragma once
#include <mutex>
#include <map>
#include <memory>
#include <string>

#include <asio/io_context.hpp>

#include "config/options.hpp"
#include "net/clock.hpp"
#include "net/task_group.hpp"
#include "net/timer.hpp"
#include "outbound/group.hpp"
#include "outbound/url_probe.hpp"

namespace anytls::outbound {

class UrlTestOutbound final : public Group {
 public:
  // clock: injectable for tests (null = the real one).
  UrlTestOutbound(asio::io_context& io, std::string tag, const config::UrlTestOutboundOptions& options,
                  net::Clock* clock = nullptr);
  ~UrlTestOutbound() override;

  std::string_view type() const override { return "urltest"; }
  void set_members(std::vector<Outbound*> members) override;
  // Read by every worker (the Clash API's chains); changed on worker 0.
  Outbound* now() const override;
  void start() override;
  void stop() override;
  void drain() override { stop(); }
  asio::awaitable<void> join() override;

  asio::awaitable<net::Result<std::unique_ptr<net::Conn>>> dial(const Metadata& md) override;
  asio::awaitable<net::Result<std::unique_ptr<net::PacketConn>>> listen_packet(const Metadata& md) override;

  // Probes every member now (also what the Clash API's group delay does);
  // completes when all answered or timed out. Results are kept and the
  // choice updated.
  asio::awaitable<void> check_all();
  // Last measured delay of a member, in ms (nullopt: none or failed).
  std::optional<std::uint16_t> delay_of(const Outbound* member) const;
  const std::string& url() const { return url_text_; }
  // Probes run so far (tests: a failover triggers one).
  std::uint64_t checks() const { return checks_; }
  bool checking() const { return checking_; }
  // Whether the probe loop runs (the group was used within idle_timeout).
  bool in_use() const { return loop_running_; }
  // Records a result measured elsewhere (Clash API's per-proxy delay).
  void record(const Outbound* member, std::optional<std::uint16_t> delay);

 private:
  // The loop of probes; runs while the group is in use.
  static asio::awaitable<void> loop(UrlTestOutbound* self);
  static asio::awaitable<void> check_spawned(UrlTestOutbound* self);
  static asio::awaitable<void> probe_one(UrlTestOutbound* self, Outbound* member, std::shared_ptr<int> pending,
                                         std::shared_ptr<net::Timer> done);
  void touch();
  void reselect();
  // dial's steps that touch the group's state, run on its io_context.
  bool at_home() const;
  asio::awaitable<Outbound*> pick();
  asio::awaitable<Outbound*> failed(Outbound* out, std::string why);
  static asio::awaitable<Outbound*> pick_at_home(UrlTestOutbound* self);
  static asio::awaitable<Outbound*> failed_at_home(UrlTestOutbound* self, Outbound* out, std::string why);
  // Best member with a delay other than `except`; null when none.
  Outbound* best(const Outbound* except) const;

  asio::io_context& io_;
  net::Clock* clock_;
  std::string url_text_;
  std::optional<ProbeUrl> url_;
  config::Duration interval_;
  std::uint16_t tolerance_;
  config::Duration idle_timeout_;
  net::TaskGroup tasks_;
  net::Timer wake_;  // the loop sleeps on it between probes
  std::map<const Outbound*, std::uint16_t> delays_;
  void set_selected(Outbound* m);
  mutable std::mutex mu_;  // selected_: written here, read by every worker
  Outbound* selected_ = nullptr;
  net::Clock::time_point last_used_{};
  net::Clock::time_point last_check_{};
  bool loop_running_ = false;
  bool checking_ = false;
  bool started_ = false;
  bool stopped_ = false;
  std::uint64_t checks_ = 0;
};

}  // namespace anytls::outbound
