// The DNS module: dns.servers, dns.rules, dns.final, the cache and the
// strategy. Two entry points:
//   exchange(): a query from a client (hijack-dns) -> the answer to send, or
//               nothing (reject with method drop);
//   lookup():   a name -> addresses, for the direct outbound and every
//               domain_resolver.
//
// A query goes to the first dns.rules entry that matches (the route
// matchers over {destination host = the queried name, inbound = where the
// query came from}, plus query_type), else to dns.final (default: the first
// server). route sends it to `server`; reject answers REFUSED (method drop:
// no answer). Answers are cached by question (and server with
// independent_cache) for their smallest TTL, bounded by cache_capacity.
// Each upstream exchange is bounded by a deadline (5 s).
//
// Single-threaded: it lives on one io_context thread (Deps::home); lookup()
// and answer() called from another worker hop there and back.
#pragma once
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <asio/awaitable.hpp>
#include <asio/ip/address.hpp>

#include "config/options.hpp"
#include "dns/cache.hpp"
#include "dns/fakeip_tables.hpp"
#include "dns/message.hpp"
#include "dns/transport.hpp"
#include "net/clock.hpp"
#include "net/default_interface.hpp"
#include "net/result.hpp"
#include "outbound/outbound.hpp"
#include "route/router.hpp"
#include "route/rule_matcher.hpp"

namespace anytls::dns {

class Client final : public route::DnsHandler {
 public:
  using OutboundLookup = std::function<outbound::Outbound*(std::string_view tag)>;
  struct Deps {
    OutboundLookup outbounds;                 // detour tags
    std::shared_ptr<net::Resolver> resolver;  // the local server, names of servers without domain_resolver
    net::Clock* clock = nullptr;              // cache time (null: the real clock)
    std::chrono::milliseconds timeout{5000};  // per upstream exchange
    std::string default_interface;            // route.default_interface
    std::uint32_t default_mark = 0;           // route.default_mark
    std::shared_ptr<const net::DefaultInterface> auto_interface;  // route.auto_detect_interface
    // The worker the client lives on; calls from other workers hop there
    // (net::run_on). Null: callers are on its thread already.
    asio::io_context* home = nullptr;
    // The route's rule sets, for dns.rules[].rule_set (null: none).
    std::shared_ptr<const route::RuleSets> rule_sets;
    // Where fakeip servers take their tables, kept across reloads (null:
    // each server a new table).
    std::shared_ptr<FakeIpTables> fakeip_tables;
  };

  // Throws std::invalid_argument naming the JSON path.
  Client(const config::DnsOptions& options, Deps deps);
  ~Client() override;

  // The answer to a client's query (with its id), nullopt for a silent
  // drop. A malformed query gets FORMERR when its id can be read.
  asio::awaitable<net::Result<std::optional<Bytes>>> exchange(std::span<const std::uint8_t> query,
                                                              const outbound::Metadata& md);

  // route::DnsHandler (hijack-dns): exchange().
  asio::awaitable<net::Result<std::optional<Bytes>>> answer(std::span<const std::uint8_t> query,
                                                            const outbound::Metadata& md) override;

  // host's addresses. server: a dns.servers tag (domain_resolver), empty =
  // by dns.rules. strategy: as_is = dns.strategy (or the server's own).
  // Errors read like Go's: "lookup x.invalid: no such host".
  asio::awaitable<net::Result<std::vector<asio::ip::address>>> lookup(std::string host, std::string server,
                                                                      config::DomainStrategy strategy);

  // A NameLookup bound to a server/strategy (for net::DialerOptions::lookup).
  NameLookup resolver_for(std::string server, config::DomainStrategy strategy);

  // route::DnsHandler: the fakeip servers' tables (dns/fakeip.hpp).
  std::optional<std::string> fake_name(const asio::ip::address& address) const override;
  void reset_fakeip() override;

  const Cache& cache() const { return cache_; }
  // Forgets every cached answer; lookups in flight still store theirs.
  void clear_cache() { cache_.clear(); }
  std::uint64_t upstream_queries() const { return upstream_queries_; }

 private:
  struct Server;
  struct Rule;
  struct Choice {
    Server* server = nullptr;  // null: reject
    bool drop = false;
    bool disable_cache = false;
    std::optional<ClientSubnet> subnet;
    config::DomainStrategy strategy = config::DomainStrategy::as_is;  // the rule's (route)
    std::optional<std::uint32_t> rewrite_ttl = std::nullopt;  // the answer's TTLs set to it
  };
  // allow_fakeip false (lookups to dial): rules that send to a fakeip
  // server are passed over.
  Choice choose(const Question& q, const outbound::Metadata& md, bool allow_fakeip = true) const;
  bool at_home() const;
  asio::awaitable<net::Result<std::vector<asio::ip::address>>> lookup_here(std::string host, std::string server,
                                                                           config::DomainStrategy strategy);
  Server* find(std::string_view tag) const;
  // Sends q (a parsed query) to choice.server, through the cache.
  asio::awaitable<net::Result<Bytes>> resolve(Message q, Choice choice);

  config::DnsOptions options_;
  Deps deps_;
  std::vector<std::unique_ptr<Server>> servers_;
  std::vector<Rule> rules_;
  Server* final_ = nullptr;
  std::optional<ClientSubnet> subnet_;
  Cache cache_;
  std::uint64_t upstream_queries_ = 0;
};

// "1.2.3.0/24", "::1" -> a ClientSubnet; nullopt when invalid.
std::optional<ClientSubnet> parse_client_subnet(std::string_view text);

}  // namespace anytls::dns
