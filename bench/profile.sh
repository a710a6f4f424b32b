#!/usr/bin/env bash
# Profiles the anytls client and server processes under one load with perf
# (user space, cpu-clock, call graphs) and prints the top symbols of each.
#   usage: bench/profile.sh [download|upload|download16|streams] [seconds]
# Needs a built build-bench/ (scripts/bench.sh, or --no-build after it) and
# perf. Output: bench/out/profile-<load>-{client,server}.{data,txt}.
set -euo pipefail
what=${1:-download}
secs=${2:-8}
. "$(dirname "$0")/load.sh"
rec=$((secs - 1))
perf record -q -e cpu-clock -F 1999 -g -p "$cpid" -o "$out/profile-$what-client.data" -- sleep "$rec" 2>/dev/null &
p1=$!
perf record -q -e cpu-clock -F 1999 -g -p "$spid" -o "$out/profile-$what-server.data" -- sleep "$rec" 2>/dev/null &
p2=$!
wait "$p1" "$p2" || true
wait "$driver" || true  # its status is the load's, not the profile's
for side in client server; do
  perf report -i "$out/profile-$what-$side.data" --no-children --sort dso,symbol --stdio 2>/dev/null |
    grep -E '^ +[0-9]' | head -25 > "$out/profile-$what-$side.txt" || true  # head ends the pipe early
  echo "== $side ($what): top self time"
  cat "$out/profile-$what-$side.txt"
done
