// The running instance: builds inbounds, outbounds and the router from the
// options, runs them until SIGINT/SIGTERM, then shuts down cleanly.
#pragma once
#include "config/options.hpp"

namespace anytls::app {

// Blocks until a stop signal. Returns the process exit code: 0 after a clean
// stop, 2 when something fails at runtime (e.g. a listen address in use).
int run_box(const config::Options& options);

}  // namespace anytls::app
