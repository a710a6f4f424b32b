#!/usr/bin/env bash
# System calls of the anytls client and server under one load: runs
# `bench_driver load` and attaches `strace -c -f` to both processes for all
# but the last second, then prints the driver's MB/s and CPU s/GB (slowed by
# strace: only the counts mean something) and the top calls of each side.
#   usage: bench/syscalls.sh [download|upload|download16] [seconds]
# Needs a built build-bench/ (scripts/bench.sh) and strace. Output:
# bench/out/syscalls-<load>-{client,server}.txt. Only 127.0.0.1 is used.
set -euo pipefail
what=${1:-download}
secs=${2:-6}
driver_log=$(cd "$(dirname "$0")/.." && pwd)/bench/out/syscalls-driver.err
mkdir -p "$(dirname "$driver_log")"
. "$(dirname "$0")/load.sh"
timeout $((secs - 1)) strace -c -f -p "$cpid" -o "$out/syscalls-$what-client.txt" 2>/dev/null &
timeout $((secs - 1)) strace -c -f -p "$spid" -o "$out/syscalls-$what-server.txt" 2>/dev/null &
wait "$driver" || true
wait || true
grep -E "MB/s" "$out/syscalls-driver.err" | tail -1
for side in client server; do
  echo "== $side ($what)"
  head -8 "$out/syscalls-$what-$side.txt"
done
