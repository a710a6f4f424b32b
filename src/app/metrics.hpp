// What /metrics shows: reads the stats structs of the anytls outbounds (the
// pool) and the anytls inbounds (the server) at scrape time and writes the
// anytls_* families, plus the process_* ones. Objects that share a tag (one
// outbound or inbound split over workers) are summed by the exposition, so
// counting stays plain integer increments on each object's own thread. With
// worker threads, call collect_anytls() on each worker (posted to it) for the
// objects it owns, and Exposition::add() the results on the endpoint's loop:
// every counter is then read only by the thread that writes it.
#pragma once
#include <cstddef>
#include <optional>
#include <string>
#include <vector>

#include "metrics/exposition.hpp"

namespace anytls::outbound {
class AnyTlsOutbound;
}
namespace anytls::inbound {
class AnyTlsServer;
}

namespace anytls::app {

// The DNS cache's size, read on the DNS module's worker (0).
struct DnsCacheSize {
  std::size_t entries = 0;
  std::size_t bytes = 0;
};

struct MetricsSources {
  std::vector<const outbound::AnyTlsOutbound*> outbounds;
  std::vector<const inbound::AnyTlsServer*> inbounds;
  // Worker 0 only (the DNS module lives there); absent elsewhere.
  std::optional<DnsCacheSize> dns_cache;
  // Collecting on a worker other than 0: the outbounds add only their live
  // sessions on it (worker 0 adds the pools' own counters).
  bool worker_share = false;
};

// Adds every anytls_* family (declared even without samples, so a scrape
// always lists them) for the given objects.
void collect_anytls(metrics::Exposition& e, const MetricsSources& src);

// The whole scrape: anytls_* and process_* in the text format.
std::string render_metrics(const MetricsSources& src);

}  // namespace anytls::app
