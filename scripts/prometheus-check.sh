#!/usr/bin/env bash
# A real Prometheus scrapes a real anytls: the loopback box (mixed inbound,
# anytls client with a pool, anytls server, direct) with experimental.metrics
# on, Debian's `prometheus` scraping it every second, some requests through
# the proxy, then every query of the Grafana dashboard
# (contrib/grafana/anytls.json) run against Prometheus's HTTP API: each must
# parse, and the pool/traffic ones must return data.
#   usage: scripts/prometheus-check.sh [ANYTLS_BINARY]   (default: $ANYTLS_BIN or build/anytls)
# Exit 0 pass, 1 fail, 77 skipped (no prometheus installed; the ctest
# smoke_prometheus reports that as skipped).
# Only 127.0.0.1 is used; everything runs in a temporary directory that is
# removed at the end.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bin=${1:-${ANYTLS_BIN:-$root/build/anytls}}
command -v prometheus >/dev/null || { echo "SKIP: prometheus not installed (scripts/deps.sh installs it)" >&2; exit 77; }
[ -x "$bin" ] || { echo "no anytls binary at $bin" >&2; exit 1; }
work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
mixed=$(port); server=$(port); metrics=$(port); prom=$(port); web=$(port)
"$bin" generate tls-keypair localhost --out-dir "$work" --file-name t >/dev/null
cat > "$work/box.json" <<JSON
{
  "log": {"level": "warn"},
  "inbounds": [
    {"type": "mixed", "tag": "mixed-in", "listen": "127.0.0.1", "listen_port": $mixed},
    {"type": "anytls", "tag": "anytls-in", "listen": "127.0.0.1", "listen_port": $server,
     "users": [{"name": "alice", "password": "pw"}],
     "tls": {"enabled": true, "certificate_path": "$work/t.crt", "key_path": "$work/t.key"}}
  ],
  "outbounds": [
    {"type": "anytls", "tag": "proxy", "server": "127.0.0.1", "server_port": $server, "password": "pw",
     "ensure_idle_session": 3, "heartbeat": "1s", "idle_session_check_interval": "1s",
     "max_connection_lifetime": "4s", "connection_lifetime_jitter": "1s",
     "tls": {"enabled": true, "server_name": "localhost", "certificate_path": "$work/t.crt"}},
    {"type": "direct", "tag": "direct"}
  ],
  "route": {"rules": [{"inbound": ["anytls-in"], "outbound": "direct"}], "final": "proxy"},
  "experimental": {"metrics": {"listen": "127.0.0.1:$metrics", "secret": "scrape-token"}}
}
JSON
cat > "$work/prometheus.yml" <<YAML
global: {scrape_interval: 1s, evaluation_interval: 1s}
scrape_configs:
  - job_name: anytls
    authorization: {type: Bearer, credentials: scrape-token}
    static_configs: [{targets: ["127.0.0.1:$metrics"]}]
YAML
promtool check config "$work/prometheus.yml" >/dev/null
"$bin" run -c "$work/box.json" 2>"$work/anytls.log" & pids+=($!)
mkdir -p "$work/www" && head -c 1000000 /dev/urandom > "$work/www/blob"
python3 -m http.server "$web" --bind 127.0.0.1 --directory "$work/www" >/dev/null 2>&1 & pids+=($!)
prometheus --config.file="$work/prometheus.yml" --storage.tsdb.path="$work/data" \
  --web.listen-address="127.0.0.1:$prom" >"$work/prometheus.log" 2>&1 & pids+=($!)
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$prom/-/ready" >/dev/null && break; sleep 0.1; done
for _ in $(seq 50); do curl -sf "http://127.0.0.1:$web/blob" -o /dev/null && break; sleep 0.1; done
# Traffic through the pool for ~20 s while Prometheus scrapes every second.
end=$((SECONDS + 20))
n=0
while [ $SECONDS -lt $end ]; do
  curl -sf --socks5-hostname "127.0.0.1:$mixed" "http://127.0.0.1:$web/blob" -o /dev/null && n=$((n + 1))
  sleep 0.2
done
echo "requests through the proxy: $n"
python3 - "$prom" "$root/contrib/grafana/anytls.json" <<'PY'
import json, sys, urllib.parse, urllib.request
prom, dash = sys.argv[1], sys.argv[2]
def api(path, **q):
    url = f"http://127.0.0.1:{prom}/api/v1/{path}?" + urllib.parse.urlencode(q)
    with urllib.request.urlopen(url, timeout=10) as r:
        return json.load(r)
targets = api("targets")["data"]["activeTargets"]
for t in targets:
    print(f"target {t['scrapeUrl']}: health {t['health']} {t.get('lastError', '')}")
ok = all(t["health"] == "up" for t in targets) and targets
# Series Prometheus has stored for each family.
for name in ("anytls_pool_sessions", "anytls_pool_sessions_closed_total", "anytls_handshake_seconds_bucket",
             "anytls_server_sessions", "anytls_bytes_total", "process_resident_memory_bytes"):
    n = len(api("query", query=name)["data"]["result"])
    print(f"{name}: {n} series")
    ok = ok and n > 0
# Every dashboard query.
# Panels that must show data after this run (the rest may be legitimately empty here).
must = ("Pool sessions by state", "Session creations and closings", "Heartbeats", "Handshake time",
        "Session age at close", "Client traffic", "Wire bytes", "Server sessions by user", "Server traffic by user",
        "Process")
for p in json.load(open(dash))["panels"]:
    for t in p.get("targets", []):
        q = t["expr"].replace("$instance", ".*").replace("$outbound", ".*").replace("$__rate_interval", "10s")
        r = api("query", query=q)
        n = len(r["data"]["result"])
        needed = p["title"].startswith(must)
        flag = "ok" if r["status"] == "success" and (n > 0 or not needed) else "FAIL"
        ok = ok and flag == "ok"
        print(f"{flag:4} {n:3} series  {p['title']}: {t['legendFormat']}")
closed = api("query", query='sum by (reason) (anytls_pool_sessions_closed_total)')["data"]["result"]
print("closed by reason:", {r["metric"]["reason"]: r["value"][1] for r in closed})
print("PASS" if ok else "FAIL")
sys.exit(0 if ok else 1)
PY
