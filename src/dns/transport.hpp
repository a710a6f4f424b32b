// How one dns.servers entry answers a query: udp, tcp (through an outbound:
// the `detour` one, or a direct one of the server's own dial fields), tls
// (DoT) and https (DoH, outbound/http_get's client) on a TCP connection of their own,
// local (the system resolver), hosts (predefined + hosts files), fakeip
// (dns/fakeip.hpp) and rcode (a fixed answer, legacy "rcode://").
//
// A transport gets the query as bytes and returns the answer as bytes; the
// client (dns/client.hpp) bounds it with a deadline and checks the answer.
// Every query opens its own socket/connection: nothing is kept between
// queries, so nothing is shared between coroutines.
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <asio/awaitable.hpp>
#include <asio/ip/address.hpp>

#include "config/options.hpp"
#include "dns/fakeip.hpp"
#include "net/default_interface.hpp"
#include "net/resolver.hpp"
#include "net/result.hpp"
#include "outbound/outbound.hpp"

namespace anytls::dns {

using Bytes = std::vector<std::uint8_t>;
// Resolves a DNS server's own name (its domain_resolver, or the system).
using NameLookup = std::function<asio::awaitable<net::Result<std::vector<asio::ip::address>>>(const std::string& host)>;

class Transport {
 public:
  virtual ~Transport() = default;
  virtual asio::awaitable<net::Result<Bytes>> exchange(Bytes query) = 0;
};

struct TransportDeps {
  outbound::Outbound* detour = nullptr;  // the server's detour, if any
  std::shared_ptr<net::Resolver> resolver;
  NameLookup lookup;                     // for `server` names; null = resolver
  // route.default_interface / default_mark, for dials that set none.
  std::string default_interface;
  std::uint32_t default_mark = 0;
  std::shared_ptr<const net::DefaultInterface> auto_interface;  // route.auto_detect_interface
  std::shared_ptr<FakeIpStore> fakeip;   // type fakeip: its table
};

// Throws std::invalid_argument naming `path` (a TLS context that cannot be
// built, an unreadable hosts file).
std::unique_ptr<Transport> make_transport(const config::DnsServerOptions& server, const std::string& path,
                                          TransportDeps deps);

// The hosts-file format: "address name [aliases...]", '#' comments.
// Appends to `table` (lower-case name -> addresses in order).
void parse_hosts(std::string_view text, std::vector<std::pair<std::string, std::vector<asio::ip::address>>>& table);

}  // namespace anytls::dns
