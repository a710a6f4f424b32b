// A listener that accepts proxied connections and hands each to the router.
#pragma once
#include <string>
#include <system_error>

#include <asio/awaitable.hpp>

namespace anytls::inbound {

class Inbound {
 public:
  virtual ~Inbound() = default;
  virtual const std::string& tag() const = 0;
  // Binds and starts accepting (spawned on the io_context given at
  // construction). Errors are start-up errors (address in use, bad cert).
  virtual std::error_code start() = 0;
  // Stops accepting and closes every connection it owns. Idempotent; the
  // io_context runs out of work once everything has unwound.
  virtual void stop() = 0;
  // Completes when every task of the inbound (listener, connections,
  // streams) has finished; after stop() that is a bounded drain.
  virtual asio::awaitable<void> join() = 0;
  // Reload: stops accepting, while established connections carry on until
  // they end (the object must stay alive until then). Default: stop().
  virtual void drain() { stop(); }
};

}  // namespace anytls::inbound
