// Chooses the outbound for a connection, from route.rules and route.final.
#pragma once
#include "outbound/outbound.hpp"

namespace anytls::route {

struct Decision {
  outbound::Outbound* outbound = nullptr;  // null with reject
  bool reject = false;
};

class Router {
 public:
  virtual ~Router() = default;
  virtual Decision decide(const outbound::Metadata& md) = 0;
};

}  // namespace anytls::route
