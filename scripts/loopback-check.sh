#!/usr/bin/env bash
# Runs `anytls run` on a loopback config (client and server in one process),
# puts a local HTTP server behind it and fetches files through the SOCKS5 and
# HTTP proxy of its mixed inbound, comparing checksums. Only loopback
# addresses are used.
#   usage: loopback-check.sh ANYTLS_BIN [--keep]
#   env: UTLS=1 turns tls.utls on in the client (Chrome's ClientHello)
set -euo pipefail
bin=${1:?usage: loopback-check.sh ANYTLS_BIN [--keep]}
keep=${2:-}
root=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
mixed=$(free_port); server=$(free_port); web=$(free_port)

# The certificate is made on first use, never committed.
"$bin" generate tls-keypair localhost --out-dir "$work" --file-name loopback >/dev/null 2>&1
sed -e "s#examples/certs/#$work/#g" -e "s/\"listen_port\": 2080/\"listen_port\": $mixed/" \
    -e "s/8443/$server/g" "$root/examples/loopback.json" > "$work/loopback.json"
if [ "${UTLS:-0}" = 1 ]; then
  # The client sends Chrome's ClientHello (tls.utls, the BoringSSL module).
  python3 - "$work/loopback.json" <<'PY'
import sys
p = sys.argv[1]
s = open(p).read()
tls = s.index('"tls"', s.index('"outbounds"'))
brace = s.index('{', tls)
s = s[:brace + 1] + ' "utls": {"enabled": true, "fingerprint": "chrome"},' + s[brace + 1:]
open(p, 'w').write(s)
PY
fi
"$bin" check -c "$work/loopback.json"

mkdir -p "$work/www"
echo "hello through anytls" > "$work/www/hello.txt"
: > "$work/www/empty.txt"
head -c 1024 /dev/urandom > "$work/www/1k.bin"
head -c $((100 * 1024 * 1024)) /dev/urandom > "$work/www/100m.bin"
(cd "$work/www" && exec python3 -m http.server "$web" --bind 127.0.0.1 >/dev/null 2>&1) &
pids+=($!)
"$bin" run -c "$work/loopback.json" > "$work/anytls.log" 2>&1 &
anytls_pid=$!
pids+=($anytls_pid)

for _ in $(seq 50); do
  curl -s -o /dev/null --max-time 1 "http://127.0.0.1:$web/hello.txt" &&
    curl -s -o /dev/null --max-time 1 --socks5-hostname "127.0.0.1:$mixed" "http://127.0.0.1:$web/hello.txt" && break
  sleep 0.1
done

fail=0
check() {  # check NAME CURL-PROXY-ARGS...
  local name=$1; shift
  local want got
  want=$(md5sum < "$work/www/$name" | cut -d' ' -f1)
  got=$(curl -sS --max-time 120 "$@" "http://127.0.0.1:$web/$name" | md5sum | cut -d' ' -f1)
  if [ "$want" = "$got" ]; then echo "ok   $name via $*"; else echo "FAIL $name via $*"; fail=1; fi
}
for f in hello.txt empty.txt 1k.bin 100m.bin; do
  check "$f" --socks5-hostname "127.0.0.1:$mixed"
  check "$f" --socks4a "127.0.0.1:$mixed"
  check "$f" -x "http://127.0.0.1:$mixed"
  check "$f" -p -x "http://127.0.0.1:$mixed"
done

if [ -n "$keep" ]; then
  echo
  echo "anytls is running: try  curl --socks5-hostname 127.0.0.1:$mixed http://127.0.0.1:$web/hello.txt"
  echo "log: $work/anytls.log   (Ctrl-C stops)"
  wait "$anytls_pid"
fi

kill -TERM "$anytls_pid"
wait "$anytls_pid" && rc=0 || rc=$?
echo "anytls exited with $rc after SIGTERM"
[ "$rc" -eq 0 ] || fail=1
if [ "$fail" -ne 0 ]; then
  echo "--- anytls log"; cat "$work/anytls.log"
  exit 1
fi
echo "loopback demo: traffic flows (mixed inbound -> anytls client -> TLS -> anytls server -> direct)"
