// Name resolution that never serialises the process behind one slow lookup.
//
// asio's ip::basic_resolver runs every getaddrinfo of an io_context on one
// internal thread, so a single slow name holds up all others. Resolver runs
// getaddrinfo on a small fixed pool of worker threads fed by a bounded queue
// and posts each result back to the awaiting coroutine's executor. IP
// literals resolve inline without touching a thread.
//
// Lifetime: stop() (or the destructor) must run before the io_contexts of the
// callers are destroyed: it completes queued lookups with operation_aborted
// and joins the workers (waiting for the getaddrinfo calls in flight).
#pragma once
#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <system_error>
#include <vector>

#include <asio/awaitable.hpp>
#include <asio/ip/address.hpp>

#include "net/result.hpp"

namespace anytls::net {

// What one blocking lookup produced. On failure `reason` is the Go-like tail
// of the message ("no such host"); the caller adds "lookup <host>: ".
struct LookupOutcome {
  std::error_code code;
  std::string reason;
  std::vector<asio::ip::address> addresses;
};

// A blocking lookup, run on a worker thread.
using BlockingLookup = std::function<LookupOutcome(const std::string& host)>;

// getaddrinfo(host) for TCP, both families, duplicates removed, system order
// kept. Never returns success with an empty list.
LookupOutcome system_lookup(const std::string& host);

struct ResolverOptions {
  std::size_t threads = 4;
  // Lookups waiting for a worker; one more fails at once with
  // "lookup <host>: resolver queue full".
  std::size_t max_queue = 1024;
  // Test hook: replaces system_lookup. Called on the worker threads.
  BlockingLookup lookup;
};

class Resolver {
 public:
  explicit Resolver(ResolverOptions options = {});
  ~Resolver();
  Resolver(const Resolver&) = delete;
  Resolver& operator=(const Resolver&) = delete;

  // Addresses of host (a name or an IP literal, no brackets). Errors read
  // like Go's: "lookup nosuch.invalid: no such host". Cancellation (e.g.
  // losing an `||`) completes at once with operation_aborted; the worker's
  // late answer is dropped. Safe to call after stop() (fails).
  asio::awaitable<Result<std::vector<asio::ip::address>>> lookup(std::string host);

  // Fails queued lookups, joins the workers. Idempotent.
  void stop();

  struct Impl;

 private:
  std::shared_ptr<Impl> impl_;
};

}  // namespace anytls::net
