// Chooses what happens to a connection, from route.rules and route.final.
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "config/options.hpp"
#include "net/resolver.hpp"
#include "outbound/outbound.hpp"

namespace anytls::route {

// Answers DNS queries that a hijack-dns rule takes (dns::Client).
class DnsHandler {
 public:
  virtual ~DnsHandler() = default;
  // The answer to send, or nullopt for none (a silent drop).
  virtual asio::awaitable<net::Result<std::optional<std::vector<std::uint8_t>>>> answer(
      std::span<const std::uint8_t> query, const outbound::Metadata& md) = 0;
  // An address of a fakeip range: the name it was handed out for, or ""
  // when the table does not hold it (the connection is refused). nullopt:
  // not a fake address. Safe from any worker.
  virtual std::optional<std::string> fake_name(const asio::ip::address&) const { return std::nullopt; }
  // Forgets every fake address (the Clash API's /cache/fakeip/flush).
  virtual void reset_fakeip() {}
};

// sing-box's rule actions. route, reject and hijack_dns end matching; sniff,
// resolve and route_options are done by the dispatch, which then asks again
// with Metadata::rule_index = next.
enum class Action { route, reject, hijack_dns, sniff, resolve, route_options };

struct Decision {
  outbound::Outbound* outbound = nullptr;  // with route
  bool reject = false;                     // true: action reject
  Action action = Action::route;
  bool drop = false;                       // reject: silently (method drop, or no_drop's rate rule)
  const config::RouteRule* rule = nullptr; // the rule that matched (action options); null for final
  std::size_t next = 0;                    // the rule after it
  // hijack_dns: DNS queries answered here (null: none configured). Shared:
  // a hijacked flow keeps the DNS module it started with alive across a
  // reload that replaces it.
  std::shared_ptr<DnsHandler> hijack_dns = nullptr;
};

class Router {
 public:
  virtual ~Router() = default;
  // The first rule from md.rule_index on that matches decides; none: final.
  virtual Decision decide(const outbound::Metadata& md) = 0;
  // Whether a rule looks at the local process (the dispatch then looks it up).
  virtual bool needs_process() const { return false; }
  // What the resolve action looks names up with (null: the action is
  // skipped with a warning). The DNS module takes this over.
  virtual net::Resolver* resolver() const { return nullptr; }
  // The DNS module (its fakeip tables); null when none.
  virtual std::shared_ptr<DnsHandler> dns() const { return nullptr; }
};

}  // namespace anytls::route
