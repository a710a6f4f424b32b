#!/usr/bin/env bash
# The seed's "Performance Metrics" table, measured: for every
# examples/strategy-*.json, the anytls client (that strategy's pool) and an
# anytls server run on 127.0.0.1 for a fixed window with no user traffic,
# and /metrics (experimental.metrics) says what the pool cost:
#   pool RSS          client process_resident_memory_bytes minus the same
#                     client with an empty pool (mean over the window)
#   wire bytes / h    anytls_wire_bytes_total, up + down: TLS records on the
#                     pool's TCP connections, handshakes included
#   new TLS conns / h anytls_pool_sessions_created_total
#   heartbeats / h    anytls_heartbeats_sent_total
# Time is compressed: every duration of the strategy (heartbeat, timeouts,
# check interval, lifetimes) is divided by SCALE, so a WINDOW-second run
# covers WINDOW*SCALE seconds of pool life (default 45 s x 80 = 1 hour per
# strategy, about 5 minutes in all). Counts per hour are the window's counts
# times 3600 / (WINDOW*SCALE). Use --scale 1 --window 3600 for real time.
#   usage: bench/pool_cost.sh [--scale K] [--window S] [--no-build]
# Each client holds 20 copies of the strategy's outbound (20 pools), so that a
# pool's RSS stands out of the process's own noise; every figure is per pool.
#   env: ANYTLS_BIN (default: build-bench/anytls, built here if missing)
# Output: the table on stdout and in bench/out/pool_cost.md; configs and
# logs in bench/out/pool_cost/. Only 127.0.0.1 is used.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD_DIR:-$root/build-bench}
scale=80
window=45
build_it=1
while [ $# -gt 0 ]; do
  case "$1" in
    --scale) scale=$2; shift 2 ;;
    --window) window=$2; shift 2 ;;
    --no-build) build_it=0; shift ;;
    *) echo "usage: $0 [--scale K] [--window S] [--no-build]" >&2; exit 1 ;;
  esac
done
bin=${ANYTLS_BIN:-$build/anytls}
if [ -z "${ANYTLS_BIN:-}" ] && [ "$build_it" -eq 1 ]; then
  cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DANYTLS_TESTS=OFF -DANYTLS_BENCH=ON >/dev/null
  ninja -C "$build" -j"${JOBS:-2}" anytls
fi
[ -x "$bin" ] || { echo "no anytls binary at $bin" >&2; exit 1; }
out=$root/bench/out
work=$out/pool_cost
rm -rf "$work"
mkdir -p "$work"
"$bin" generate tls-keypair localhost --out-dir "$work" --file-name pool >/dev/null
python3 "$root/bench/pool_cost.py" --anytls "$bin" --work "$work" --scale "$scale" --window "$window" \
  --out "$out/pool_cost.md" "$root"/examples/strategy-*.json
