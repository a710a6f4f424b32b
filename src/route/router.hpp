// Chooses the outbound for a connection, from route.rules and route.final.
#pragma once
#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include "outbound/outbound.hpp"

namespace anytls::route {

// Answers DNS queries that a hijack-dns rule takes (dns::Client).
class DnsHandler {
 public:
  virtual ~DnsHandler() = default;
  // The answer to send, or nullopt for none (a silent drop).
  virtual asio::awaitable<net::Result<std::optional<std::vector<std::uint8_t>>>> answer(
      std::span<const std::uint8_t> query, const outbound::Metadata& md) = 0;
};

struct Decision {
  outbound::Outbound* outbound = nullptr;  // null with reject
  bool reject = false;
  DnsHandler* hijack_dns = nullptr;        // set: DNS queries answered here
};

class Router {
 public:
  virtual ~Router() = default;
  virtual Decision decide(const outbound::Metadata& md) = 0;
};

}  // namespace anytls::route
