#!/usr/bin/env bash
# Throughput with the metrics endpoint on vs off: the same anytls binary,
# client and server on loopback (bench_driver load), with no
# experimental.metrics ("off") or with it on in both processes and each
# scraped every SCRAPE seconds during the load ("on"; default 1 s, 15-60x
# more often than a Prometheus server would). Rounds alternate off/on so
# both see the same machine. The counters themselves are always compiled in
# (plain integer increments at session/stream events; the byte path only
# adds to the per-session byte counts it already kept), so "off" is the
# binary without an endpoint, not a binary without counters.
#   usage: bench/metrics_cost.sh [--rounds N] [--seconds S] [--scrape S] [--no-build]
#   env: BUILD_DIR (default build-bench)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD_DIR:-$root/build-bench}
rounds=3
seconds=6
scrape=1
build_it=1
while [ $# -gt 0 ]; do
  case "$1" in
    --rounds) rounds=$2; shift 2 ;;
    --seconds) seconds=$2; shift 2 ;;
    --scrape) scrape=$2; shift 2 ;;
    --no-build) build_it=0; shift ;;
    *) echo "usage: $0 [--rounds N] [--seconds S] [--scrape S] [--no-build]" >&2; exit 1 ;;
  esac
done
if [ "$build_it" -eq 1 ]; then
  cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DANYTLS_TESTS=OFF -DANYTLS_BENCH=ON >/dev/null
  ninja -C "$build" -j"${JOBS:-2}" anytls bench_driver
fi
out=$root/bench/out
mkdir -p "$out/metrics_cost"
[ -f "$out/certs/bench.crt" ] ||
  "$build/anytls" generate tls-keypair localhost --out-dir "$out/certs" --file-name bench >/dev/null
results=$out/metrics_cost/raw.txt
: > "$results"
for r in $(seq "$rounds"); do
  for what in download streams; do
    for mode in off on; do
      extra=()
      [ "$mode" = on ] && extra=(--metrics-scrape "$scrape")
      line=$("$build/bench/bench_driver" load --anytls "$build/anytls" --cert "$out/certs/bench.crt" \
        --key "$out/certs/bench.key" --out "$out/metrics_cost" --what "$what" --seconds "$seconds" "${extra[@]}" \
        2>&1 >/dev/null | grep -E "MB/s|streams/s|scrapes" | tr '\n' ' ')
      echo "round $r $what $mode: $line" | tee -a "$results" >&2
    done
  done
done
# What one scrape costs the process: a box with 100 pooled sessions (client
# and server in one process, so both halves render), 2000 scrapes over one
# keep-alive connection, the process's CPU time from /proc before and after.
python3 - "$build/anytls" "$out/certs/bench.crt" "$out/certs/bench.key" "$out/metrics_cost" \
  > "$out/metrics_cost/scrape_cost.txt" <<'PY'
import http.client, json, os, socket, subprocess, sys, time
anytls, crt, key, work = sys.argv[1:5]
def port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0)); return s.getsockname()[1]
sp, mp, xp = port(), port(), port()
cfg = {"log": {"level": "warn"},
       "inbounds": [{"type": "mixed", "tag": "mixed-in", "listen": "127.0.0.1", "listen_port": xp},
                    {"type": "anytls", "tag": "anytls-in", "listen": "127.0.0.1", "listen_port": sp,
                     "users": [{"name": "u%d" % i, "password": "pw%d" % i} for i in range(10)],
                     "tls": {"enabled": True, "certificate_path": crt, "key_path": key}}],
       "outbounds": [{"type": "anytls", "tag": "proxy", "server": "127.0.0.1", "server_port": sp, "password": "pw0",
                      "ensure_idle_session": 100, "tls": {"enabled": True, "server_name": "localhost",
                                                           "certificate_path": crt}},
                     {"type": "direct", "tag": "direct"}],
       "route": {"rules": [{"inbound": ["anytls-in"], "outbound": "direct"}], "final": "proxy"},
       "experimental": {"metrics": {"listen": f"127.0.0.1:{mp}"}}}
path = os.path.join(work, "scrape-box.json")
json.dump(cfg, open(path, "w"))
proc = subprocess.Popen([anytls, "run", "-c", path], stderr=open(os.path.join(work, "scrape-box.log"), "w"))
def cpu():
    f = open(f"/proc/{proc.pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(f[11]) + int(f[12])) / os.sysconf("SC_CLK_TCK")
try:
    for _ in range(200):
        try:
            c = http.client.HTTPConnection("127.0.0.1", mp, timeout=5); c.request("GET", "/metrics")
            body = c.getresponse().read().decode()
            if 'state="idle"} 100' in body: break
        except OSError:
            pass
        time.sleep(0.05)
    c = http.client.HTTPConnection("127.0.0.1", mp, timeout=5)
    n = 2000
    c0, t0 = cpu(), time.time()
    for _ in range(n):
        c.request("GET", "/metrics"); body = c.getresponse().read()
    c1, t1 = cpu(), time.time()
    print(f"{n} scrapes of {len(body)} bytes (100 pooled sessions, 10 users): "
          f"{(c1 - c0) / n * 1e6:.0f} us of anytls CPU and {(t1 - t0) / n * 1e6:.0f} us wall per scrape")
finally:
    proc.terminate(); proc.wait()
PY
cat "$out/metrics_cost/scrape_cost.txt" >&2
python3 - "$results" "$scrape" "$seconds" <<'PY'
import re, statistics, sys
rows = {}
for line in open(sys.argv[1]):
    m = re.match(r"round \d+ (\w+) (on|off): (.*)", line)
    if not m:
        continue
    what, mode, rest = m.groups()
    d = rows.setdefault((what, mode), {"v": [], "cc": [], "sc": [], "scrapes": []})
    if what == "download":
        x = re.search(r"([\d.]+) MB/s, CPU s/GB client ([\d.]+) server ([\d.]+)", rest)
        if x:
            d["v"].append(float(x[1])); d["cc"].append(float(x[2])); d["sc"].append(float(x[3]))
    else:
        x = re.search(r"([\d.]+) streams/s", rest)
        if x:
            d["v"].append(float(x[1]))
    s = re.search(r"metrics: (\d+) scrapes \((\d+) failed\)", rest)
    if s:
        d["scrapes"].append((int(s[1]), int(s[2])))
def med(v):
    return statistics.median(v) if v else float("nan")
print(f"Metrics on (scraped every {sys.argv[2]} s, client and server) vs off; {sys.argv[3]} s per load, "
      "median of the rounds (all rounds in bench/out/metrics_cost/raw.txt).\n")
print("| load | off | on | on / off |")
print("|---|---|---|---|")
for what, unit in (("download", "MB/s, 1 stream"), ("streams", "new streams/s, 4 workers")):
    off, on = rows.get((what, "off"), {"v": []}), rows.get((what, "on"), {"v": []})
    a, b = med(off["v"]), med(on["v"])
    print(f"| {what} ({unit}) | {a:.0f} | {b:.0f} | {100 * b / a:.1f}% |")
    if what == "download" and off.get("cc") and on.get("cc"):
        print(f"| download CPU s/GB client / server | {med(off['cc']):.2f} / {med(off['sc']):.2f} | "
              f"{med(on['cc']):.2f} / {med(on['sc']):.2f} | |")
fails = sum(f for d in rows.values() for _, f in d.get("scrapes", []))
total = sum(n for d in rows.values() for n, _ in d.get("scrapes", []))
print(f"\nScrapes during the 'on' loads: {total}, failed: {fails}.")
PY
echo
cat "$out/metrics_cost/scrape_cost.txt"
