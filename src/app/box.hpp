// The running instance: builds inbounds, outbounds and the router from the
// options (app/reload.hpp), runs them until SIGINT/SIGTERM, then shuts down
// cleanly. SIGHUP reloads the configuration through `read`.
#pragma once
#include <cstddef>

#include "app/reload.hpp"
#include "config/options.hpp"

namespace anytls::app {

// Blocks until a stop signal. Returns the process exit code: 0 after a clean
// stop, 2 when something fails at runtime (e.g. a listen address in use).
// workers: event-loop threads (net/workers.hpp); 0 = one per CPU.
int run_box(const config::Options& options, ConfigReader read = {}, std::size_t workers = 0);

}  // namespace anytls::app
