#!/usr/bin/env bash
# A taken port fails, as in sing-box. Real processes on loopback:
#   first:  anytls run --workers 2 -c first.json   (mixed inbound, one
#           SO_REUSEPORT listener per worker)
#   second: anytls run -c second.json              (same address)
# The second exits at once with code 2 and "address already in use" (it does
# not join the first one's SO_REUSEPORT group and share its connections),
# with one worker and with two; the first keeps serving throughout.
#   usage: taken-port-check.sh [ANYTLS_BIN]   (default: $ANYTLS_BIN)
set -euo pipefail
bin=${1:-${ANYTLS_BIN:?usage: taken-port-check.sh ANYTLS_BIN}}
source "$(dirname "$0")/lib.sh"  # $work, $pids, cleanup at exit, free_port, wait_for
fail() {
  echo "FAIL: $*"
  for f in "$work"/*.log; do echo "--- $f"; cat "$f"; done
  exit 1
}
mixed=$(free_port); web=$(free_port)

config() {  # config FILE
  cat > "$1" <<JSON
{
  "log": {"level": "info"},
  "inbounds": [{"type": "mixed", "tag": "mixed-in", "listen": "127.0.0.1", "listen_port": $mixed}],
  "outbounds": [{"type": "direct", "tag": "direct"}]
}
JSON
}
config "$work/first.json"
config "$work/second.json"

mkdir -p "$work/www"
echo "served by the first process" > "$work/www/hello.txt"
python3 -m http.server "$web" --bind 127.0.0.1 --directory "$work/www" >/dev/null 2>&1 &
pids+=($!)

"$bin" run --workers 2 -c "$work/first.json" > "$work/first.log" 2>&1 &
first=$!; pids+=($first)
for _ in $(seq 300); do grep -q "started" "$work/first.log" && break; sleep 0.1; done
grep -q "started" "$work/first.log" || fail "the first process did not start"
for _ in $(seq 50); do curl -s -o /dev/null --max-time 1 "http://127.0.0.1:$web/hello.txt" && break; sleep 0.1; done
fetch() { curl -sS --max-time 10 --socks5-hostname "127.0.0.1:$mixed" "http://127.0.0.1:$web/hello.txt"; }
[ "$(fetch)" = "served by the first process" ] || fail "no traffic through the first process"
echo "ok   the first process serves on 127.0.0.1:$mixed with two workers"

for workers in 2 1; do
  log="$work/second-$workers.log"
  start=$(date +%s%N)
  set +e
  timeout 10 "$bin" run --workers "$workers" -c "$work/second.json" > "$log" 2>&1
  rc=$?
  set -e
  ms=$(( ($(date +%s%N) - start) / 1000000 ))
  [ "$rc" -ne 124 ] || fail "the second process (--workers $workers) was still running after 10 s"
  [ "$rc" -eq 2 ] || fail "the second process (--workers $workers) exited $rc, not 2"
  grep -qi "listen 127.0.0.1:$mixed: address already in use" "$log" ||
    fail "the second process (--workers $workers) did not say the address is in use"
  [ "$ms" -lt 3000 ] || fail "the second process (--workers $workers) took $ms ms to fail"
  echo "ok   a second process (--workers $workers) exits 2 in $ms ms: $(grep -i "already in use" "$log" | head -1)"
done

kill -0 "$first" 2>/dev/null || fail "the first process died"
for _ in 1 2 3 4 5 6; do
  [ "$(fetch)" = "served by the first process" ] || fail "the first process stopped serving"
done
echo "ok   the first process still serves"
kill -TERM "$first"
wait "$first" || fail "the first process did not exit 0 on SIGTERM"
echo "ok   SIGTERM: the first process exits 0"
