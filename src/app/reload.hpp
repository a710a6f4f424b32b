// What a running box is made of (outbounds, router, inbounds), built from the
// options and rebuilt in place on SIGHUP:
//
//   - an inbound or outbound whose options did not change is kept as it is:
//     its listener, its connections and its pooled sessions carry on;
//   - a changed one is replaced: the old one drains (stops accepting, closes
//     idle pooled sessions; connections in use run to their end) and a new
//     one starts; a removed one drains; an added one starts;
//   - a direct outbound whose detour target is replaced is replaced too;
//   - the router is always rebuilt. Inbounds reach it through SwitchRouter,
//     so connections accepted after the reload route with the new rules.
//
// A drained inbound is freed when its last connection ends. Drained
// outbounds stay allocated until the process exits (connections dialled
// through them may still use them, and nothing counts those); they hold no
// pooled session and, once their connections end, no sockets. What is
// large goes at once: the replaced router, its rule sets and their updater
// once its download in flight has stopped, and the replaced DNS module with
// its cache once its last lookup or hijacked flow has ended.
#pragma once
#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include <asio/awaitable.hpp>
#include <asio/io_context.hpp>

#include "config/options.hpp"
#include "dns/fakeip_tables.hpp"
#include "inbound/inbound.hpp"
#include "net/default_interface.hpp"
#include "net/resolver.hpp"
#include "net/workers.hpp"
#include "outbound/group.hpp"
#include "outbound/outbound.hpp"
#include "route/router.hpp"
#include "route/rule_set_fetch.hpp"
#include "tun/interface_monitor.hpp"

namespace anytls::dns {
class Client;
}

namespace anytls::app {

// The DNS module in use; outbounds' lookups go through it, so a reload that
// builds a new one reaches outbounds that were kept.
struct DnsSlot {
  // Read by every worker, replaced by a reload on worker 0.
  std::shared_ptr<dns::Client> get() const {
    std::lock_guard lock(mu);
    return client;
  }
  void set(std::shared_ptr<dns::Client> c) {
    std::lock_guard lock(mu);
    client = std::move(c);
  }
  mutable std::mutex mu;
  std::shared_ptr<dns::Client> client;
  bool configured = false;  // a dns block exists (else lookups use the system resolver)
  config::RouteOptions route;  // default_domain_resolver, default_interface, default_mark
  // route.auto_detect_interface: the default interface dials bind to (null: off).
  std::shared_ptr<const net::DefaultInterface> auto_interface;
};

// A Router that forwards to a replaceable one.
class SwitchRouter final : public route::Router {
 public:
  // Every worker asks; a reload on worker 0 replaces the router. The one
  // asked stays alive until its decision is made. In Global mode, a member
  // picked in Clash's GLOBAL group takes every connection the rules route
  // (final included); rules with other actions (reject, sniff, resolve,
  // hijack-dns) still apply, so DNS hijacking and blocks keep working.
  route::Decision decide(const outbound::Metadata& md) override;
  bool needs_process() const override {
    auto r = get();
    return r && r->needs_process();
  }
  net::Resolver* resolver() const override {
    auto r = get();
    return r ? r->resolver() : nullptr;
  }
  std::shared_ptr<route::DnsHandler> dns() const override {
    auto r = get();
    return r ? r->dns() : nullptr;
  }
  void set(std::shared_ptr<route::Router> r) {
    std::lock_guard lock(mu_);
    current_ = std::move(r);
  }
  // GLOBAL's pick (null: none, the rules decide in Global mode too).
  void set_global(outbound::Outbound* o) { global_.store(o, std::memory_order_release); }

 private:
  std::shared_ptr<route::Router> get() const {
    std::lock_guard lock(mu_);
    return current_;
  }
  mutable std::mutex mu_;
  std::shared_ptr<route::Router> current_;
  // Read by every worker; an outbound a reload replaces stays allocated
  // (Components keeps drained ones), so a stale read is still safe.
  std::atomic<outbound::Outbound*> global_{nullptr};
};

// Clash's GLOBAL group, as the Clash API publishes it.
inline constexpr std::string_view kGlobalGroup = "GLOBAL";

class Components {
 public:
  // workers: inbounds get a shard on each (null or one worker: on io only).
  // io is worker 0.
  Components(asio::io_context& io, std::shared_ptr<net::Resolver> resolver, net::Workers* workers = nullptr);
  ~Components();

  struct Failure {
    int exit_code;  // 1 configuration, 2 runtime (listen failed)
    std::string message;
  };
  // Builds and starts everything. On failure what was started is stopped.
  std::optional<Failure> start(const config::Options& options);
  // Applies a new configuration that passed preflight(). Whatever cannot be
  // built is logged and the running objects it would have replaced are kept.
  // Returns one line per change ("outbound/anytls[proxy]: replaced ..."),
  // nullopt when nothing was applied (logged).
  std::optional<std::vector<std::string>> apply(const config::Options& options);
  // Stops everything, drained objects included. Idempotent.
  void stop();
  // Completes when every task of every object has finished (after stop():
  // the shutdown drain).
  asio::awaitable<void> join();

  std::size_t inbound_count() const { return inbounds_.size(); }
  // The running objects (not drained ones), in config order.
  std::vector<const inbound::Inbound*> inbounds() const;
  std::vector<const outbound::Outbound*> outbounds() const;
  std::size_t outbound_count() const { return outbounds_.size(); }
  // The running objects (tests: a kept one is the same object after a reload).
  inbound::Inbound* inbound(std::string_view tag) const;
  outbound::Outbound* outbound(std::string_view tag) const;
  route::Router& router() { return router_; }
  // The DNS module in use (null before start()); it lives on worker 0.
  std::shared_ptr<dns::Client> dns_client() const { return dns_->get(); }
  // Where selectors keep their choice (experimental.cache_file); set before
  // start(), must outlive this. Null: nowhere.
  void set_selection_store(outbound::SelectionStore* store) { store_ = store; }
  // The fakeip servers' tables: kept across reloads; given a memory
  // (experimental.cache_file.store_fakeip), across restarts.
  dns::FakeIpTables& fakeip_tables() { return *fakeip_tables_; }

  // What the Clash API shows and changes (worker 0).
  // Clash's GLOBAL group: the outbound picked for Global mode (SwitchRouter),
  // kept in the selection store and across reloads while its tag exists.
  // False: no such outbound.
  bool select_global(std::string_view tag);
  // The pick, or "" when none was made.
  const std::string& global_choice() const { return global_tag_; }
  // route.final, or the first outbound.
  const std::string& final_tag() const { return final_tag_; }
  const std::vector<config::RouteRule>& route_rules() const { return route_rules_; }
  // Running inbounds by type, with the port each listens on (0: not known).
  struct InboundPort {
    std::string type;
    std::uint16_t port = 0;
  };
  std::vector<InboundPort> inbound_ports() const;

 private:
  struct Out {
    config::OutboundOptions options;
    std::unique_ptr<outbound::Outbound> object;
  };
  struct In {
    config::InboundOptions options;
    std::unique_ptr<inbound::Inbound> object;
  };

  // Builds (does not start) an outbound; error text on failure.
  std::string build_outbound(const config::OutboundOptions& o, std::unique_ptr<outbound::Outbound>& out);
  // Builds and starts an inbound; error text on failure.
  std::string start_inbound(const config::InboundOptions& o, std::unique_ptr<inbound::Inbound>& out);
  // Gives a group outbound its members (no-op for other outbounds).
  void wire_group(Out& o, const std::map<std::string, Out*, std::less<>>& by_tag);
  // The route over `sets` (the rule sets both it and the DNS rules use).
  std::shared_ptr<route::Router> build_router(const config::Options& options,
                                              const std::map<std::string, Out*, std::less<>>& outs,
                                              std::shared_ptr<route::RuleSets> sets);
  // The DNS module for options, its detours from outs, its rules over the
  // route's rule sets (throws std::invalid_argument).
  std::shared_ptr<dns::Client> build_dns(const config::Options& options,
                                         const std::map<std::string, Out*, std::less<>>& outs,
                                         std::shared_ptr<const route::RuleSets> sets);

  // Makes the updater build_router() prepared the current one (the previous
  // one stops: its router is being replaced).
  void install_updater();
  // After the outbounds or the route changed: the router's GLOBAL pick, the
  // final tag and rules the Clash API shows.
  void bind_route(const config::Options& options);
  // route.auto_detect_interface (without default_interface): starts or stops
  // the monitor and tells the dialers built next (dns_->auto_interface).
  void follow_default_interface(const config::RouteOptions& route);

  asio::io_context& io_;
  std::shared_ptr<net::Resolver> resolver_;
  net::Workers* workers_ = nullptr;
  SwitchRouter router_;
  std::vector<Out> outbounds_;  // in config order
  std::vector<In> inbounds_;    // in config order
  // Drained inbounds, owned by tasks of retiring_ until their connections end.
  std::shared_ptr<std::set<inbound::Inbound*>> draining_inbounds_ = std::make_shared<std::set<inbound::Inbound*>>();
  std::vector<std::unique_ptr<outbound::Outbound>> drained_outbounds_;
  // Remote rule sets of the current router; those of replaced routers are
  // owned by a task of retiring_ until their downloads have stopped.
  // Declared after the outbounds they download through, so they go first.
  std::unique_ptr<route::RuleSetUpdater> updater_;
  std::unique_ptr<route::RuleSetUpdater> pending_updater_;
  net::TaskGroup retiring_;
  std::shared_ptr<DnsSlot> dns_ = std::make_shared<DnsSlot>();
  std::unique_ptr<tun::DefaultInterfaceMonitor> interface_monitor_;
  outbound::SelectionStore* store_ = nullptr;
  std::shared_ptr<dns::FakeIpTables> fakeip_tables_ = std::make_shared<dns::FakeIpTables>();
  std::string global_tag_;
  std::string final_tag_;
  std::vector<config::RouteRule> route_rules_;
  bool stopped_ = false;
};

// Reads the configuration again and checks it as `check` does (load +
// preflight); throws config::ConfigError.
using ConfigReader = std::function<config::Options()>;

// SIGHUP (and the Clash API's PUT /configs): a configuration that fails to
// read or check is logged and the running one stays; a good one is applied
// and its changes logged. Returns "" when applied, else why not.
std::string reload(Components& parts, const ConfigReader& read);

}  // namespace anytls::app
