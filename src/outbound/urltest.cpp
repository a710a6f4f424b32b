#include "outbound/urltest.hpp"

#include <spdlog/spdlog.h>

#include "net/coro.hpp"
#include "net/duration.hpp"
#include "net/workers.hpp"

namespace anytls::outbound {

UrlTestOutbound::UrlTestOutbound(asio::io_context& io, std::string tag, const config::UrlTestOutboundOptions& options,
                                 net::Clock* clock)
    : Group(tag, options.outbounds, options.interrupt_exist_connections),
      io_(io),
      clock_(clock),
      url_text_(options.url),
      url_(ProbeUrl::parse(options.url)),
      interval_(options.interval),
      tolerance_(options.tolerance_ms),
      idle_timeout_(options.idle_timeout),
      tasks_(io.get_executor(), "outbound/urltest[" + tag + "]"),
      wake_(io.get_executor(), clock) {
  if (!url_) throw std::invalid_argument("url: expected an http:// or https:// URL with a host: " + options.url);
}

UrlTestOutbound::~UrlTestOutbound() { stop(); }

void UrlTestOutbound::set_members(std::vector<Outbound*> members) {
  Group::set_members(std::move(members));
  delays_.clear();
  set_selected(this->members().empty() ? nullptr : this->members().front());
}

void UrlTestOutbound::start() {
  if (started_ || stopped_) return;
  started_ = true;
  // As sing-box after start: one round of probes, so the first connections
  // already go to the fastest member.
  last_used_ = net::clock_or_system(clock_).now();
  tasks_.spawn(check_spawned(this), "first probe round");
}

void UrlTestOutbound::stop() {
  if (stopped_) return;
  stopped_ = true;
  wake_.cancel();
  tasks_.cancel();
}

asio::awaitable<void> UrlTestOutbound::join() { co_await tasks_.join(); }

void UrlTestOutbound::touch() {
  const auto now = net::clock_or_system(clock_).now();
  last_used_ = now;
  if (loop_running_ || !started_ || stopped_) return;
  loop_running_ = true;
  // Back in use after a pause: results older than the interval are stale,
  // so a round starts now (as sing-box does), then the loop.
  if (now - last_check_ >= interval_) tasks_.spawn(check_spawned(this), "probe round after idle");
  tasks_.spawn(loop(this), "probe loop");
}

asio::awaitable<void> UrlTestOutbound::loop(UrlTestOutbound* self) {
  auto& clk = net::clock_or_system(self->clock_);
  while (!self->stopped_) {
    self->wake_.expires_after(self->interval_);
    auto ec = co_await self->wake_.wait();
    if (ec || self->stopped_) break;
    if (clk.now() - self->last_used_ > self->idle_timeout_) {
      spdlog::debug("outbound/urltest[{}]: idle for {}, probes pause until the next connection", self->tag(),
                    net::format_duration(self->idle_timeout_));
      break;
    }
    co_await self->check_all();
  }
  self->loop_running_ = false;
}

asio::awaitable<void> UrlTestOutbound::check_spawned(UrlTestOutbound* self) { co_await self->check_all(); }

asio::awaitable<void> UrlTestOutbound::probe_one(UrlTestOutbound* self, Outbound* member, std::shared_ptr<int> pending,
                                                 std::shared_ptr<net::Timer> done) {
  auto r = co_await probe_url(*member, *self->url_, std::chrono::milliseconds(kProbeTimeout), self->clock_);
  if (r) {
    spdlog::debug("outbound/urltest[{}]: {} {} ms", self->tag(), member->tag(), r.value());
    self->delays_[member] = r.value();
  } else {
    spdlog::debug("outbound/urltest[{}]: {} failed: {}", self->tag(), member->tag(), r.error().text());
    self->delays_.erase(member);
  }
  if (--*pending == 0) done->cancel();
}

asio::awaitable<void> UrlTestOutbound::check_all() {
  // One round at a time; a caller arriving during a round does not start
  // another (it would measure the same thing).
  if (checking_ || stopped_ || members().empty()) co_return;
  checking_ = true;
  ++checks_;
  last_check_ = net::clock_or_system(clock_).now();
  auto pending = std::make_shared<int>(static_cast<int>(members().size()));
  auto done = std::make_shared<net::Timer>(io_.get_executor(), clock_);
  done->expires_at(net::Clock::time_point::max());
  for (auto* m : members()) tasks_.spawn(probe_one(this, m, pending, done), "probe " + m->tag());
  if (*pending > 0) {
    // Ends when the last probe cancels it, or when this coroutine is
    // cancelled (stop()); the probes have their own time limit.
    auto ec = co_await done->wait();
    (void)ec;
  }
  checking_ = false;
  reselect();
}

void UrlTestOutbound::record(const Outbound* member, std::optional<std::uint16_t> delay) {
  if (delay)
    delays_[member] = *delay;
  else
    delays_.erase(member);
  reselect();
}

std::optional<std::uint16_t> UrlTestOutbound::delay_of(const Outbound* member) const {
  auto it = delays_.find(member);
  if (it == delays_.end()) return std::nullopt;
  return it->second;
}

void UrlTestOutbound::reselect() {
  // sing-box's rule: start from the current member if it has a delay; a
  // member replaces it only when faster by more than the tolerance.
  Outbound* pick = nullptr;
  int min = -1;
  if (selected_) {
    if (auto d = delay_of(selected_)) {
      pick = selected_;
      min = *d;
    }
  }
  for (auto* m : members()) {
    auto d = delay_of(m);
    if (!d) continue;
    if (min < 0 || min > static_cast<int>(*d) + tolerance_) {
      min = *d;
      pick = m;
    }
  }
  if (!pick || pick == selected_) return;
  Outbound* old = selected_;
  set_selected(pick);
  spdlog::info("outbound/urltest[{}]: now {} ({} ms)", tag(), pick->tag(), min);
  changed_from(old);
}

Outbound* UrlTestOutbound::best(const Outbound* except) const {
  Outbound* pick = nullptr;
  int min = -1;
  for (auto* m : members()) {
    if (m == except) continue;
    auto d = delay_of(m);
    if (d && (min < 0 || *d < min)) {
      min = *d;
      pick = m;
    }
  }
  if (pick) return pick;
  // No other member has a delay yet: the next one in order.
  const auto& ms = members();
  for (std::size_t i = 0; i < ms.size(); ++i)
    if (ms[i] == except && ms.size() > 1) return ms[(i + 1) % ms.size()];
  return nullptr;
}

// The group's state lives on its io_context (worker 0); a dial from another
// worker hops there for the choice and for a failure, and dials the member
// itself where it was asked (the connection belongs to that worker).
void UrlTestOutbound::set_selected(Outbound* m) {
  std::lock_guard lock(mu_);
  selected_ = m;
}

Outbound* UrlTestOutbound::now() const {
  std::lock_guard lock(mu_);
  return selected_;
}

bool UrlTestOutbound::at_home() const { return io_.get_executor().running_in_this_thread(); }

asio::awaitable<Outbound*> UrlTestOutbound::pick_at_home(UrlTestOutbound* self) {
  self->touch();
  co_return self->selected_;
}

asio::awaitable<Outbound*> UrlTestOutbound::failed_at_home(UrlTestOutbound* self, Outbound* out, std::string why) {
  // The chosen member fails: forget its delay, re-test everything now, and
  // give this connection one more chance on the best other member.
  spdlog::warn("outbound/urltest[{}]: {} failed ({}), re-testing", self->tag(), out->tag(), why);
  self->delays_.erase(out);
  if (!self->stopped_) self->tasks_.spawn(check_spawned(self), "re-test after a failed dial");
  Outbound* alt = self->best(out);
  if (alt && self->selected_ == out) {
    self->set_selected(alt);
    spdlog::info("outbound/urltest[{}]: now {} (failover)", self->tag(), alt->tag());
    self->changed_from(out);
  }
  co_return alt;
}

asio::awaitable<Outbound*> UrlTestOutbound::pick() {
  if (at_home()) co_return co_await pick_at_home(this);
  auto op = pick_at_home(this);
  co_return co_await net::run_on(io_.get_executor(), std::move(op));
}

asio::awaitable<Outbound*> UrlTestOutbound::failed(Outbound* out, std::string why) {
  if (at_home()) co_return co_await failed_at_home(this, out, std::move(why));
  auto op = failed_at_home(this, out, std::move(why));
  co_return co_await net::run_on(io_.get_executor(), std::move(op));
}

asio::awaitable<net::Result<std::unique_ptr<net::Conn>>> UrlTestOutbound::dial(const Metadata& md) {
  Outbound* out = co_await pick();
  if (!out) co_return net::Error{std::make_error_code(std::errc::network_unreachable), "urltest has no member"};
  auto conn = co_await out->dial(md);
  if (conn) co_return connections().track(std::move(*conn), out);
  Outbound* alt = co_await failed(out, conn.error().text());
  if (!alt) co_return conn.error();
  auto retry = co_await alt->dial(md);
  if (!retry) co_return retry.error();
  co_return connections().track(std::move(*retry), alt);
}

asio::awaitable<net::Result<std::unique_ptr<net::PacketConn>>> UrlTestOutbound::listen_packet(const Metadata& md) {
  Outbound* out = co_await pick();
  if (!out) co_return net::Error{std::make_error_code(std::errc::network_unreachable), "urltest has no member"};
  auto conn = co_await out->listen_packet(md);
  if (!conn) co_return conn.error();
  co_return connections().track(std::move(*conn), out);
}

}  // namespace anytls::outbound
