#!/usr/bin/env bash
# Burst latency over a long path (issue 29): a browser-like burst of N
# parallel requests for a small file (2 KiB) through the anytls client
# (mixed inbound + anytls outbound, ensure_idle_session = N), a relay that
# adds RTT ms between client and server (bench/wan_relay.cpp, bench_relay: every
# chunk delivered RTT/2 later in each direction), the anytls server (+ direct) and
# a local HTTP server. TTFB = from the burst's start (connect to the SOCKS
# port) to a response's first byte; per burst its median and its max.
#   cold: the first burst on a freshly filled pool (each session has sent
#         Settings and heard ServerSettings, none has carried a stream)
#   warm: later bursts on the same sessions, back in the pool
#   ideal (same run): one request/response on an established plain TCP
#         connection through the same relay (one round trip, no proxy)
#   usage: bench/latency.sh [--rounds R] [--rtt MS] [--bursts 1,6,20] [--warm W]
#                           [--anytls NAME=BINARY ...] [--rt] [--no-build]
# --rt runs every process of the measurement under SCHED_FIFO (chrt -f 1,
# root only): on a machine busy with other work, a thread woken by a packet
# otherwise waits milliseconds for a core, and that, not the path, decides
# the figures (with the relay's own timers as late as anything else).
# Several --anytls builds are measured interleaved (each with its own client,
# server and relay) so that two builds compare under the same load.
# BINARY@W runs that client with --workers W.
#   env: BUILD_DIR (default build-bench), BURST_BIN, RELAY (default: its
#   bench_burst and bench_relay; RELAY=/work/shared/tools/wan_relay.py runs
#   the Python relay of the same semantics instead)
# Output: the table on stdout and in bench/out/latency.md (raw figures in
# latency.json); configs and logs in bench/out/latency/. Only 127.0.0.1.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD_DIR:-$root/build-bench}
build_it=1
rt=()
args=()
builds=()
while [ $# -gt 0 ]; do
  case "$1" in
    --rounds|--rtt|--bursts|--warm) args+=("$1" "$2"); shift 2 ;;
    --anytls) builds+=(--anytls "$2"); shift 2 ;;
    --no-build) build_it=0; shift ;;
    --rt) rt=(chrt -f 1); shift ;;
    *) echo "usage: $0 [--rounds R] [--rtt MS] [--bursts 1,6,20] [--warm W] [--anytls NAME=BIN ...] [--rt] [--no-build]" >&2; exit 1 ;;
  esac
done
targets=(bench_burst bench_relay)
[ ${#builds[@]} -gt 0 ] || targets+=(anytls)
if [ "$build_it" -eq 1 ]; then
  cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DANYTLS_TESTS=OFF -DANYTLS_BENCH=ON >/dev/null
  ninja -C "$build" -j"${JOBS:-2}" "${targets[@]}"
fi
[ ${#builds[@]} -gt 0 ] || builds=(--anytls "anytls=$build/anytls")
first=${builds[1]#*=}
first=${first%@*}
out=$root/bench/out
work=$out/latency
rm -rf "$work"
mkdir -p "$work"
"$first" generate tls-keypair localhost --out-dir "$work" --file-name lat >/dev/null
exec "${rt[@]}" python3 "$root/bench/latency.py" "${builds[@]}" --burst "${BURST_BIN:-$build/bench/bench_burst}" \
  --relay "${RELAY:-$build/bench/bench_relay}" --work "$work" --out "$out/latency.md" "${args[@]}"
