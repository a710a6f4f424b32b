#!/usr/bin/env bash
# The benchmark suite in one command: builds anytls, the end-to-end driver
# and the micro-benchmarks (Release, in build-bench/), runs the
# micro-benchmarks, then the end-to-end run on loopback (anytls client and
# server as separate processes, plain OpenSSL TLS and plain TCP references),
# and prints the results table. Everything is saved under bench/out/
# (results.md, micro.json, work/ with the configs and process logs).
#   usage: scripts/bench.sh [--quick] [--no-build]
#     --quick     small sizes and counts (a ~20 s smoke run of the harness)
#     --no-build  use what build-bench/ already holds
#   env: BUILD_DIR (default build-bench), JOBS (default 2)
# A full run takes about 3 minutes (plus the build); the driver stops itself
# after 420 s whatever happens. Only 127.0.0.1 is used.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD_DIR:-$root/build-bench}
out=$root/bench/out
quick=()
build_it=1
for a in "$@"; do
  case "$a" in
    --quick) quick=(--quick) ;;
    --no-build) build_it=0 ;;
    *) echo "usage: $0 [--quick] [--no-build]" >&2; exit 1 ;;
  esac
done

t0=$(date +%s)
if [ "$build_it" -eq 1 ]; then
  cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DANYTLS_TESTS=OFF -DANYTLS_BENCH=ON >/dev/null
  ninja -C "$build" -j"${JOBS:-2}" anytls bench_driver bench_micro
fi

mkdir -p "$out"
rm -rf "$out/work" "$out/certs"
# A fresh self-signed certificate per run, never committed (bench/out/ is ignored).
"$build/anytls" generate tls-keypair localhost --out-dir "$out/certs" --file-name bench >/dev/null

t1=$(date +%s)
echo "== micro-benchmarks (bench_micro)" >&2
min_time=0.2
[ ${#quick[@]} -eq 0 ] || min_time=0.02
"$build/bench/bench_micro" --benchmark_min_time="$min_time" \
  --benchmark_out="$out/micro.json" --benchmark_out_format=json >&2

t2=$(date +%s)
echo "== end-to-end (bench_driver)" >&2
"$build/bench/bench_driver" run --anytls "$build/anytls" --cert "$out/certs/bench.crt" --key "$out/certs/bench.key" \
  --out "$out" "${quick[@]}" >/dev/null

python3 - "$out/micro.json" >> "$out/results.md" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
print("\n## Micro-benchmarks (bench_micro, one core)\n")
print("Frame codec over 1 MiB of PSH frames (argument: frame or write size, then read size); ")
print("shape_packet: packet number / bytes pending, default scheme (stop=8), internal PRNG.\n")
print("| benchmark | time/iter | throughput | counters |")
print("|---|---|---|---|")
for b in d["benchmarks"]:
    t = b["cpu_time"]; unit = b["time_unit"]
    bps = b.get("bytes_per_second")
    thr = f"{bps / 1e6:,.0f} MB/s" if bps else ""
    extra = ", ".join(f"{k} {b[k]:.0f}" for k in ("records", "wire_bytes") if k in b)
    print(f"| {b['name']} | {t:,.1f} {unit} | {thr} | {extra} |")
PY
t3=$(date +%s)
echo "Times: build $((t1 - t0)) s, micro-benchmarks $((t2 - t1)) s, end-to-end $((t3 - t2)) s." >> "$out/results.md"
echo
cat "$out/results.md"
