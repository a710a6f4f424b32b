#!/usr/bin/env bash
# Profiles the anytls client and server processes under one load with perf
# (user space, cpu-clock, call graphs) and prints the top symbols of each.
#   usage: bench/profile.sh [download|upload|download16|streams] [seconds]
# Needs a built build-bench/ (scripts/bench.sh, or --no-build after it) and
# perf. Output: bench/out/profile-<load>-{client,server}.{data,txt}.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD_DIR:-$root/build-bench}
what=${1:-download}
secs=${2:-8}
out=$root/bench/out
mkdir -p "$out"
[ -f "$out/certs/bench.crt" ] ||
  "$build/anytls" generate tls-keypair localhost --out-dir "$out/certs" --file-name bench >/dev/null
fifo=$(mktemp -u); mkfifo "$fifo"
"$build/bench/bench_driver" load --anytls "$build/anytls" --cert "$out/certs/bench.crt" \
  --key "$out/certs/bench.key" --out "$out" --what "$what" --seconds "$secs" > "$fifo" &
driver=$!
read -r _ cpid _ spid < "$fifo"
rm -f "$fifo"
rec=$((secs - 1))
perf record -q -e cpu-clock -F 1999 -g -p "$cpid" -o "$out/profile-$what-client.data" -- sleep "$rec" 2>/dev/null &
p1=$!
perf record -q -e cpu-clock -F 1999 -g -p "$spid" -o "$out/profile-$what-server.data" -- sleep "$rec" 2>/dev/null &
p2=$!
wait "$p1" "$p2" || true
wait "$driver"
for side in client server; do
  perf report -i "$out/profile-$what-$side.data" --no-children --sort dso,symbol --stdio 2>/dev/null |
    grep -E '^ +[0-9]' | head -25 > "$out/profile-$what-$side.txt"
  echo "== $side ($what): top self time"
  cat "$out/profile-$what-$side.txt"
done
