#include "app/reload.hpp"

#include <set>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "inbound/anytls_server.hpp"
#include "inbound/gateway.hpp"
#include "inbound/http.hpp"
#include "inbound/sharded.hpp"
#include "inbound/mixed.hpp"
#include "inbound/socks.hpp"
#include "inbound/tun.hpp"
#include "outbound/anytls.hpp"
#include "outbound/block.hpp"
#include "outbound/dial_options.hpp"
#include "outbound/direct.hpp"
#include "outbound/group.hpp"
#include "outbound/selector.hpp"
#include "outbound/urltest.hpp"
#include "route/clash_mode.hpp"
#include "route/rule_router.hpp"

#include "config/load.hpp"
#include "dns/client.hpp"

namespace anytls::app {

namespace {

std::string name_of(std::string_view kind, const std::string& type, const std::string& tag) {
  return fmt::format("{}/{}[{}]", kind, type, tag);
}

const std::string* detour_of(const config::OutboundOptions& o) {
  if (const auto* a = std::get_if<config::AnyTlsOutboundOptions>(&o.options))
    return a->dial.detour.empty() ? nullptr : &a->dial.detour;
  const auto* d = std::get_if<config::DirectOutboundOptions>(&o.options);
  return d && !d->dial.detour.empty() ? &d->dial.detour : nullptr;
}

void set_detour(outbound::Outbound& o, outbound::Outbound* detour) {
  if (auto* a = dynamic_cast<outbound::AnyTlsOutbound*>(&o)) a->set_detour(detour);
  else if (auto* d = dynamic_cast<outbound::DirectOutbound*>(&o)) d->set_detour(detour);
}

// A lookup through the DNS module in the slot (the system resolver while
// there is none). Holds the client for the lookup's duration: a reload may
// replace it meanwhile.
asio::awaitable<net::Result<std::vector<asio::ip::address>>> slot_lookup(std::shared_ptr<DnsSlot> slot,
                                                                         std::shared_ptr<net::Resolver> fallback,
                                                                         std::string host, std::string server,
                                                                         config::DomainStrategy strategy) {
  std::shared_ptr<dns::Client> client = slot->get();
  // The call outside any branch (GCC 12: no temporaries in a co_await in a branch).
  // The DNS module hops to its own worker when called from another.
  auto op = client ? client->lookup(host, server, strategy) : fallback->lookup(host);
  co_return co_await std::move(op);
}

struct SlotLookup {
  std::shared_ptr<DnsSlot> slot;
  std::shared_ptr<net::Resolver> fallback;
  std::string server;
  config::DomainStrategy strategy;
  asio::awaitable<net::Result<std::vector<asio::ip::address>>> operator()(const std::string& host) const {
    return slot_lookup(slot, fallback, host, server, strategy);
  }
};

// An outbound's dialer: its dial fields, route's defaults, and the DNS
// module for names when there is a dns block.
net::DialerOptions dialer_options(const config::DialOptions& dial, const std::shared_ptr<DnsSlot>& slot,
                                  const std::shared_ptr<net::Resolver>& resolver) {
  net::DialerOptions o = outbound::make_dialer_options(dial);
  const auto& route = slot->route;
  if (o.bind_interface.empty()) o.bind_interface = route.default_interface;
  if (o.bind_interface.empty()) o.default_interface = slot->auto_interface;
  if (o.routing_mark == 0 && route.default_mark != 0) {
    o.routing_mark = route.default_mark;
    o.mark_best_effort = true;
  }
  if (slot->configured) {
    std::string server = dial.domain_resolver.empty() ? route.default_domain_resolver : dial.domain_resolver;
    auto strategy = dial.domain_resolver.empty() ? route.default_domain_resolver_strategy : dial.domain_resolver_strategy;
    o.lookup = SlotLookup{slot, resolver, server, strategy};
  }
  return o;
}

// The tags an outbound holds pointers to: its detour, a group's members.
std::vector<std::string> references_of(const config::OutboundOptions& o) {
  if (const auto* d = detour_of(o)) return {*d};
  if (const auto* s = std::get_if<config::SelectorOutboundOptions>(&o.options)) return s->outbounds;
  if (const auto* u = std::get_if<config::UrlTestOutboundOptions>(&o.options)) return u->outbounds;
  return {};
}

}  // namespace

namespace {

// A replaced updater is freed, with the rule sets it holds, as soon as its
// tasks (a download in flight) have seen the stop: a reload does not keep
// the old sets until exit.
asio::awaitable<void> retire(std::unique_ptr<route::RuleSetUpdater> updater) { co_await updater->join(); }

// A drained inbound is freed once its last connection has ended (join()).
asio::awaitable<void> retire_inbound(std::unique_ptr<inbound::Inbound> in,
                                     std::shared_ptr<std::set<inbound::Inbound*>> draining) {
  co_await in->join();
  draining->erase(in.get());
}

// Where remote rule sets keep their copy (empty: no remote set).
std::string rule_set_state_dir(const config::Options& options) {
  for (const auto& rs : options.route.rule_set)
    if (rs.type == "remote") return route::default_state_dir();
  return {};
}

}  // namespace

Components::Components(asio::io_context& io, std::shared_ptr<net::Resolver> resolver, net::Workers* workers)
    : io_(io), resolver_(std::move(resolver)), workers_(workers), retiring_(io.get_executor(), "reload") {
}

Components::~Components() { stop(); }

std::string Components::build_outbound(const config::OutboundOptions& o, std::unique_ptr<outbound::Outbound>& out) {
  try {
    if (const auto* a = std::get_if<config::AnyTlsOutboundOptions>(&o.options)) {
      net::Dialer dialer(dialer_options(a->dial, dns_, resolver_), resolver_);
      auto r = outbound::AnyTlsOutbound::create(io_, o.tag, *a, std::move(dialer), nullptr, workers_);
      if (!r) return r.error().text();
      out = std::move(*r);
    } else if (const auto* d = std::get_if<config::DirectOutboundOptions>(&o.options)) {
      out = std::make_unique<outbound::DirectOutbound>(o.tag, net::Dialer(dialer_options(d->dial, dns_, resolver_), resolver_));
    } else if (const auto* s = std::get_if<config::SelectorOutboundOptions>(&o.options)) {
      out = std::make_unique<outbound::SelectorOutbound>(o.tag, *s, store_);
    } else if (const auto* u = std::get_if<config::UrlTestOutboundOptions>(&o.options)) {
      out = std::make_unique<outbound::UrlTestOutbound>(io_, o.tag, *u);
    } else {
      out = std::make_unique<outbound::BlockOutbound>(o.tag);
    }
  } catch (const std::exception& e) {
    return e.what();
  }
  return {};
}

namespace {

// Builds and starts one inbound on io (one shard when port is set).
// limits/shards: what the shards of one anytls inbound share.
std::string start_one(asio::io_context& io, config::InboundOptions in, route::Router& router,
                      const std::shared_ptr<net::Resolver>& resolver, std::uint16_t port, bool sharded,
                      std::unique_ptr<inbound::Inbound>& out,
                      const std::shared_ptr<inbound::UserLimits>& limits = nullptr, std::size_t shards = 1) {
  // Shards share one port: SO_REUSEPORT (reuse_addr) on each of them. The
  // first (port 0 here) claims the address alone before it joins the group,
  // so an address another process listens on is refused as sing-box refuses
  // it, instead of silently sharing its connections; an explicit reuse_addr
  // asks for that sharing and keeps it.
  auto apply = [&](config::ListenOptions& l) {
    if (!sharded) return;
    if (!l.reuse_addr && port == 0) l.claim_port = true;
    l.reuse_addr = true;
    if (port) l.listen_port = port;
  };
  if (auto* a = std::get_if<config::AnyTlsInboundOptions>(&in.options)) {
    apply(a->listen);
    auto server = std::make_unique<inbound::AnyTlsServer>(io, in.tag, *a, router, resolver);
    if (limits) server->share(limits, shards);
    if (server->start()) return server->start_error();
    out = std::move(server);
    return {};
  }
  if (auto* g = std::get_if<config::GatewayInboundOptions>(&in.options)) {
    apply(g->listen);
    // UDP on the first shard only: a flow's datagrams must reach one worker.
    auto gateway = std::make_unique<inbound::GatewayInbound>(io, in.type, in.tag, *g, router, !sharded || port == 0);
    if (gateway->start()) return gateway->start_error();
    out = std::move(gateway);
    return {};
  }
  auto& m = std::get<config::MixedInboundOptions>(in.options);
  apply(m.listen);
  std::unique_ptr<inbound::ProxyInbound> proxy;
  if (in.type == "socks")
    proxy = std::make_unique<inbound::SocksInbound>(io, in.tag, m, router);
  else if (in.type == "http")
    proxy = std::make_unique<inbound::HttpInbound>(io, in.tag, m, router);
  else
    proxy = std::make_unique<inbound::MixedInbound>(io, in.tag, m, router);
  if (auto ec = proxy->start())
    return fmt::format("listen {}:{}: {}", m.listen.listen, m.listen.listen_port, ec.message());
  out = std::move(proxy);
  return {};
}

std::uint16_t port_of(const inbound::Inbound& i) {
  if (const auto* a = dynamic_cast<const inbound::AnyTlsServer*>(&i)) return a->port();
  if (const auto* p = dynamic_cast<const inbound::ProxyInbound*>(&i)) return p->port();
  if (const auto* g = dynamic_cast<const inbound::GatewayInbound*>(&i)) return g->port();
  if (const auto* s = dynamic_cast<const inbound::ShardedInbound*>(&i)) return s->port();
  return 0;
}

}  // namespace

std::string Components::start_inbound(const config::InboundOptions& in, std::unique_ptr<inbound::Inbound>& out) {
  std::string err;
  // A tun device is one queue: its inbound runs on worker 0 alone.
  if (const auto* t = std::get_if<config::TunInboundOptions>(&in.options)) {
    auto tun = std::make_unique<inbound::TunInbound>(io_, in.tag, *t, router_);
    tun->set_outbound_mark(dns_->route.default_mark);  // auto_route lets marked dials skip the tun
    if (tun->start()) return tun->start_error();
    out = std::move(tun);
    return {};  // it logs its device, not a "tcp server started" line
  }
  if (!workers_ || workers_->size() <= 1) {
    err = start_one(io_, in, router_, resolver_, 0, false, out);
  } else {
    std::shared_ptr<inbound::UserLimits> limits;
    if (const auto* a = std::get_if<config::AnyTlsInboundOptions>(&in.options))
      limits = std::make_shared<inbound::UserLimits>(a->users.size());
    const std::size_t n = workers_->size();
    auto make = [&](asio::io_context& io, std::uint16_t port, std::unique_ptr<inbound::Inbound>& shard) {
      return start_one(io, in, router_, resolver_, port, true, shard, limits, n);
    };
    err = inbound::ShardedInbound::create(*workers_, in.tag, make, port_of, out);
  }
  if (err.empty()) {
    // Once per inbound, not once per worker's shard.
    const auto& listen = in.listen();
    const auto* g = std::get_if<config::GatewayInboundOptions>(&in.options);
    const auto at = net::Address{listen.listen, port_of(*out)}.to_string();
    if (!g || g->tcp) spdlog::info("inbound/{}[{}]: tcp server started at {}", in.type, in.tag, at);
    if (g && g->udp) spdlog::info("inbound/{}[{}]: udp server started at {}", in.type, in.tag, at);
  }
  return err;
}

void Components::wire_group(Out& o, const std::map<std::string, Out*, std::less<>>& by_tag) {
  auto* group = dynamic_cast<outbound::Group*>(o.object.get());
  if (!group) return;
  std::vector<outbound::Outbound*> members;
  for (const auto& tag : group->member_tags()) members.push_back(by_tag.at(tag)->object.get());  // checked by load
  group->set_members(std::move(members));
}

std::shared_ptr<route::Router> Components::build_router(const config::Options& options,
                                                        const std::map<std::string, Out*, std::less<>>& outs,
                                                        std::shared_ptr<route::RuleSets> sets) {
  auto lookup = [&outs](std::string_view tag) -> outbound::Outbound* {
    auto it = outs.find(tag);
    return it == outs.end() ? nullptr : it->second->object.get();
  };
  // Remote rule sets start from their copy on disk; the updater downloads them.
  const std::string state_dir = rule_set_state_dir(options);
  std::vector<route::RuleSetUpdater::Remote> remotes;
  for (const auto& rs : options.route.rule_set) {
    if (rs.type != "remote") continue;
    const std::string& via = rs.download_detour.empty() ? options.outbounds.front().tag : rs.download_detour;
    remotes.push_back({rs, lookup(via)});
  }
  auto router = std::make_shared<route::RuleRouter>(options.route, options.outbounds.front().tag, lookup, sets);
  router->set_resolver(resolver_);  // the resolve action's lookups
  pending_updater_.reset();
  if (!remotes.empty()) pending_updater_ = std::make_unique<route::RuleSetUpdater>(io_, sets, std::move(remotes), state_dir);
  router->set_dns(dns_->client);
  return router;
}

std::shared_ptr<dns::Client> Components::build_dns(const config::Options& options,
                                                   const std::map<std::string, Out*, std::less<>>& outs,
                                                   std::shared_ptr<const route::RuleSets> sets) {
  dns::Client::Deps deps;
  deps.rule_sets = std::move(sets);
  deps.fakeip_tables = fakeip_tables_;
  deps.outbounds = [&outs](std::string_view tag) -> outbound::Outbound* {
    auto it = outs.find(tag);
    return it == outs.end() ? nullptr : it->second->object.get();
  };
  deps.resolver = resolver_;
  deps.default_interface = options.route.default_interface;
  deps.default_mark = options.route.default_mark;
  deps.auto_interface = dns_->auto_interface;
  deps.home = &io_;
  // Without a dns block: the system resolver, for hijack-dns.
  return std::make_shared<dns::Client>(options.dns.value_or(config::DnsOptions{}), std::move(deps));
}

void Components::follow_default_interface(const config::RouteOptions& route) {
  bool wanted = route.auto_detect_interface && route.default_interface.empty();
  if (!wanted) {
    interface_monitor_.reset();
  } else if (!interface_monitor_) {
    auto m = tun::DefaultInterfaceMonitor::start(std::make_shared<net::DefaultInterface>());
    if (m) {
      interface_monitor_ = std::move(*m);
    } else {
      spdlog::warn("route.auto_detect_interface: {}; outbound connections are not bound to an interface",
                   m.error().text());
    }
  }
  dns_->auto_interface = interface_monitor_ ? interface_monitor_->target() : nullptr;
}

std::optional<Components::Failure> Components::start(const config::Options& options) {
  dns_->configured = options.dns.has_value();
  dns_->route = options.route;
  follow_default_interface(options.route);
  std::map<std::string, Out*, std::less<>> by_tag;
  outbounds_.reserve(options.outbounds.size());
  for (std::size_t i = 0; i < options.outbounds.size(); ++i) {
    const auto& o = options.outbounds[i];
    Out entry{o, nullptr};
    if (auto err = build_outbound(o, entry.object); !err.empty())
      return Failure{1, fmt::format("outbounds[{}] ({}): {}", i, o.tag, err)};
    outbounds_.push_back(std::move(entry));
  }
  for (auto& o : outbounds_) by_tag[o.options.tag] = &o;
  for (auto& o : outbounds_) {
    const std::string* detour = detour_of(o.options);
    if (!detour) continue;
    auto it = by_tag.find(*detour);
    if (it == by_tag.end()) return Failure{1, fmt::format("outbound {}: detour not found: {}", o.options.tag, *detour)};
    set_detour(*o.object, it->second->object.get());
  }
  for (auto& o : outbounds_) wire_group(o, by_tag);
  try {
    // One copy of the rule sets, for the route rules and the DNS rules.
    auto sets = std::make_shared<route::RuleSets>(options.route.rule_set, rule_set_state_dir(options));
    dns_->set(build_dns(options, by_tag, sets));
    router_.set(build_router(options, by_tag, sets));
  } catch (const std::exception& e) {
    return Failure{1, e.what()};
  }
  if (store_)
    if (auto kept = store_->load_selected(kGlobalGroup)) global_tag_ = *kept;
  bind_route(options);
  install_updater();
  for (std::size_t i = 0; i < options.inbounds.size(); ++i) {
    const auto& in = options.inbounds[i];
    In entry{in, nullptr};
    if (auto err = start_inbound(in, entry.object); !err.empty()) {
      stop();
      return Failure{2, fmt::format("inbounds[{}]: inbound {}: {}", i, in.tag, err)};
    }
    inbounds_.push_back(std::move(entry));
  }
  for (auto& o : outbounds_) o.object->start();
  return std::nullopt;
}

std::optional<std::vector<std::string>> Components::apply(const config::Options& options) {
  std::vector<std::string> changes;
  // Outbounds built below see the new dns block and route defaults; the
  // DNS client itself is replaced once the outbounds are in place.
  dns_->configured = options.dns.has_value();
  dns_->route = options.route;
  follow_default_interface(options.route);

  // ---- outbounds: which are kept, which are built anew
  std::map<std::string, Out*, std::less<>> old_by_tag;
  for (auto& o : outbounds_) old_by_tag[o.options.tag] = &o;
  std::set<std::string, std::less<>> fresh;  // tags built anew (added or replaced)
  for (const auto& o : options.outbounds) {
    auto it = old_by_tag.find(o.tag);
    if (it == old_by_tag.end() || !(it->second->options == o)) fresh.insert(o.tag);
  }
  // A direct outbound holds a pointer to its detour, a group to its
  // members: replaced with them.
  for (bool more = true; more;) {
    more = false;
    for (const auto& o : options.outbounds)
      for (const auto& ref : references_of(o))
        if (fresh.count(ref) && fresh.insert(o.tag).second) more = true;
  }

  std::vector<Out> next;
  next.reserve(options.outbounds.size());
  for (std::size_t i = 0; i < options.outbounds.size(); ++i) {
    const auto& o = options.outbounds[i];
    Out entry{o, nullptr};
    if (fresh.count(o.tag)) {
      if (auto err = build_outbound(o, entry.object); !err.empty()) {
        spdlog::error("reload: outbounds[{}] ({}): {}; keeping the running configuration", i, o.tag, err);
        return std::nullopt;
      }
    }
    next.push_back(std::move(entry));
  }
  // From here on nothing fails: move the kept objects over.
  std::map<std::string, Out*, std::less<>> by_tag;
  for (auto& o : next) {
    if (!o.object) o.object = std::move(old_by_tag.at(o.options.tag)->object);
    by_tag[o.options.tag] = &o;
  }
  for (auto& o : next) {
    const std::string* detour = detour_of(o.options);
    if (detour && fresh.count(o.options.tag))
      set_detour(*o.object, by_tag.at(*detour)->object.get());
  }
  for (auto& o : next) {
    if (!fresh.count(o.options.tag)) continue;
    wire_group(o, by_tag);
    // A rebuilt selector keeps the member chosen at run time.
    auto* now = dynamic_cast<outbound::SelectorOutbound*>(o.object.get());
    auto old = old_by_tag.find(o.options.tag);
    if (now && old != old_by_tag.end() && old->second->object)
      if (auto* before = dynamic_cast<outbound::SelectorOutbound*>(old->second->object.get()); before && before->now())
        now->select(before->now()->tag());
  }
  std::shared_ptr<route::Router> router;
  std::shared_ptr<dns::Client> old_dns = dns_->client;
  try {
    // One copy of the rule sets, for the route rules and the DNS rules.
    auto sets = std::make_shared<route::RuleSets>(options.route.rule_set, rule_set_state_dir(options));
    dns_->set(build_dns(options, by_tag, sets));
    router = build_router(options, by_tag, sets);
  } catch (const std::exception& e) {
    // preflight() builds the same router; only a bug gets here. Put the
    // kept objects back.
    spdlog::error("reload: {}; keeping the running configuration", e.what());
    dns_->set(old_dns);
    for (auto& o : next)
      if (!fresh.count(o.options.tag)) old_by_tag.at(o.options.tag)->object = std::move(o.object);
    return std::nullopt;
  }
  for (auto& o : outbounds_) {
    if (!o.object) continue;  // kept: moved into next
    const bool replaced = by_tag.count(o.options.tag) > 0;
    changes.push_back(fmt::format("{}: {}", name_of("outbound", o.options.type, o.options.tag),
                                  replaced ? "replaced (old connections drain)" : "removed (its connections drain)"));
    o.object->drain();
    drained_outbounds_.push_back(std::move(o.object));
  }
  for (auto& o : next) {
    if (!fresh.count(o.options.tag)) continue;
    if (!old_by_tag.count(o.options.tag))
      changes.push_back(fmt::format("{}: added", name_of("outbound", o.options.type, o.options.tag)));
    o.object->start();
  }
  outbounds_ = std::move(next);
  router_.set(std::move(router));
  bind_route(options);
  install_updater();
  // The old DNS module (and its cache) goes once nothing uses it: lookups
  // in flight and hijacked flows hold it (shared), nothing else does.
  old_dns.reset();

  // ---- inbounds
  std::map<std::string, In*, std::less<>> old_in;
  for (auto& in : inbounds_) old_in[in.options.tag] = &in;
  std::set<std::string, std::less<>> new_tags;
  for (const auto& in : options.inbounds) new_tags.insert(in.tag);
  auto drain_in = [this](In& in) {
    in.object->drain();
    draining_inbounds_->insert(in.object.get());
    retiring_.spawn(retire_inbound(std::move(in.object), draining_inbounds_), "retire a drained inbound");
  };
  // Removed first, so an added inbound may take over their address.
  for (auto& in : inbounds_) {
    if (new_tags.count(in.options.tag)) continue;
    changes.push_back(fmt::format("{}: removed (its connections drain)",
                                  name_of("inbound", in.options.type, in.options.tag)));
    drain_in(in);
  }
  std::vector<In> next_in;
  for (const auto& in : options.inbounds) {
    auto it = old_in.find(in.tag);
    In* old = it == old_in.end() ? nullptr : it->second;
    const std::string name = name_of("inbound", in.type, in.tag);
    if (old && old->options == in) {
      next_in.push_back(std::move(*old));
      continue;
    }
    In entry{in, nullptr};
    if (!old) {
      if (auto err = start_inbound(in, entry.object); !err.empty()) {
        spdlog::error("reload: {}: {}", name, err);
        continue;
      }
      changes.push_back(name + ": added");
      next_in.push_back(std::move(entry));
      continue;
    }
    // Replaced. On the same address the old listener must go first; on a new
    // one the old inbound stays if the new one cannot listen.
    const auto& ol = old->options.listen();
    const auto& nl = in.listen();
    const bool same_address = ol.listen == nl.listen && ol.listen_port == nl.listen_port;
    if (same_address) drain_in(*old);
    if (auto err = start_inbound(in, entry.object); !err.empty()) {
      if (same_address) {
        spdlog::error("reload: {}: {}; it is down until the next reload", name, err);
      } else {
        spdlog::error("reload: {}: {}; keeping the running one", name, err);
        next_in.push_back(std::move(*old));
      }
      continue;
    }
    if (!same_address) drain_in(*old);
    changes.push_back(name + ": replaced (old connections drain)");
    next_in.push_back(std::move(entry));
  }
  inbounds_ = std::move(next_in);
  return changes;
}

inbound::Inbound* Components::inbound(std::string_view tag) const {
  for (const auto& in : inbounds_)
    if (in.options.tag == tag) return in.object.get();
  return nullptr;
}

outbound::Outbound* Components::outbound(std::string_view tag) const {
  for (const auto& o : outbounds_)
    if (o.options.tag == tag) return o.object.get();
  return nullptr;
}

std::string reload(Components& parts, const ConfigReader& read) {
  config::Options options;
  try {
    options = read();
  } catch (const std::exception& e) {
    spdlog::error("reload: {}; keeping the running configuration", e.what());
    return e.what();
  }
  for (const auto& w : options.warnings) spdlog::warn("{}", w);
  auto changes = parts.apply(options);
  if (!changes) return "the configuration could not be applied (see the log); the running one stays";
  for (const auto& c : *changes) spdlog::info("reload: {}", c);
  spdlog::info("reload: done, {} changed, {} inbounds, {} outbounds", changes->size(), parts.inbound_count(),
               parts.outbound_count());
  return {};
}

// ---- what the Clash API shows and changes

route::Decision SwitchRouter::decide(const outbound::Metadata& md) {
  auto d = get()->decide(md);
  if (d.action != route::Action::route || d.reject || !d.outbound) return d;
  auto* pick = global_.load(std::memory_order_acquire);
  if (pick && route::clash_mode_is("global")) d.outbound = pick;
  return d;
}

void Components::bind_route(const config::Options& options) {
  final_tag_ = options.route.final.empty() ? options.outbounds.front().tag : options.route.final;
  route_rules_ = options.route.rules;
  auto* pick = global_tag_.empty() ? nullptr : outbound(global_tag_);
  if (!pick) global_tag_.clear();  // the picked outbound is gone
  router_.set_global(pick);
}

bool Components::select_global(std::string_view tag) {
  auto* pick = outbound(tag);
  if (!pick) return false;
  global_tag_ = std::string(tag);
  router_.set_global(pick);
  if (store_) store_->save_selected(kGlobalGroup, tag);
  return true;
}

std::vector<Components::InboundPort> Components::inbound_ports() const {
  std::vector<InboundPort> v;
  for (const auto& in : inbounds_) {
    if (!in.object) continue;
    std::uint16_t port = 0;
    if (auto* sh = dynamic_cast<const inbound::ShardedInbound*>(in.object.get())) port = sh->port();
    else if (auto* p = dynamic_cast<const inbound::ProxyInbound*>(in.object.get())) port = p->port();
    v.push_back(InboundPort{in.options.type, port});
  }
  return v;
}

std::vector<const inbound::Inbound*> Components::inbounds() const {
  std::vector<const inbound::Inbound*> v;
  for (const auto& in : inbounds_)
    if (in.object) v.push_back(in.object.get());
  return v;
}

std::vector<const outbound::Outbound*> Components::outbounds() const {
  std::vector<const outbound::Outbound*> v;
  for (const auto& out : outbounds_)
    if (out.object) v.push_back(out.object.get());
  return v;
}


void Components::install_updater() {
  if (updater_) {
    updater_->stop();
    retiring_.spawn(retire(std::move(updater_)), "retire a rule-set updater");
  }
  updater_ = std::move(pending_updater_);
  if (updater_ && !stopped_) updater_->start();
}

asio::awaitable<void> Components::join() {
  // Everything, drained objects included, to the last task.
  if (updater_) co_await updater_->join();
  co_await retiring_.join();
  for (auto& in : inbounds_)
    if (in.object) co_await in.object->join();
  for (auto& out : outbounds_)
    if (out.object) co_await out.object->join();
  for (auto& out : drained_outbounds_) co_await out->join();
}

void Components::stop() {
  if (stopped_) return;
  stopped_ = true;
  if (updater_) updater_->stop();
  for (auto& in : inbounds_)
    if (in.object) in.object->stop();
  // Copied: a drained inbound that finishes leaves the set.
  const auto draining = *draining_inbounds_;
  for (auto* in : draining) in->stop();
  for (auto& o : outbounds_)
    if (o.object) o.object->stop();
  for (auto& o : drained_outbounds_) o->stop();
}

}  // namespace anytls::app
