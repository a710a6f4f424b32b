#!/usr/bin/env bash
# Drives the Clash API from a real browser: two anytls servers and a client
# (urltest + selector over them, clash_api serving tests/browser/ as
# external_ui, cache_file), a download through the client's mixed inbound
# for live traffic, and headless Chromium loading tests/browser/index.html:
# it lists the group and its members, switches the selector, measures
# delays and reads /traffic and /connections over WebSocket. The DOM is
# checked and a screenshot kept (tests/browser/cdp.py).
#
# Not part of scripts/test.sh (Chromium is too heavy for CI); run by hand:
#   tests/browser/run.sh [build-dir] [out-dir]
# Installs Debian's chromium if it is missing (root).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
build=$(cd "${1:-$here/../../build}" && pwd)
out=${2:-$(mktemp -d /tmp/anytls-browser.XXXXXX)}
mkdir -p "$out"
bin="$build/anytls"
[ -x "$bin" ] || { echo "no anytls binary at $bin" >&2; exit 1; }
if ! command -v chromium >/dev/null; then
  apt-get install -y chromium >/dev/null
fi

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
PA=$(free_port); PB=$(free_port); PM=$(free_port); PC=$(free_port); PH=$(free_port)
secret=browser-secret
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT

"$bin" generate tls-keypair 127.0.0.1 --out-dir "$out/keys" >/dev/null
mkdir -p "$out/www"
head -c $((64 << 20)) /dev/zero > "$out/www/big.bin"
: > "$out/www/generate_204"
python3 -m http.server "$PH" --bind 127.0.0.1 --directory "$out/www" >/dev/null 2>&1 &
pids+=($!)

cat > "$out/servers.json" <<JSON
{
  "log": {"level": "warn"},
  "inbounds": [
    {"type": "anytls", "tag": "a", "listen": "127.0.0.1", "listen_port": $PA, "users": [{"name": "u", "password": "pw"}],
     "tls": {"enabled": true, "certificate_path": "$out/keys/127.0.0.1.crt", "key_path": "$out/keys/127.0.0.1.key"}},
    {"type": "anytls", "tag": "b", "listen": "127.0.0.1", "listen_port": $PB, "users": [{"name": "u", "password": "pw"}],
     "tls": {"enabled": true, "certificate_path": "$out/keys/127.0.0.1.crt", "key_path": "$out/keys/127.0.0.1.key"}}
  ],
  "outbounds": [{"type": "direct"}]
}
JSON
cat > "$out/client.json" <<JSON
{
  "log": {"level": "info"},
  "inbounds": [{"type": "mixed", "tag": "mixed-in", "listen": "127.0.0.1", "listen_port": $PM}],
  "outbounds": [
    {"type": "selector", "tag": "select", "outbounds": ["auto", "server-a", "server-b"], "default": "auto"},
    {"type": "urltest", "tag": "auto", "outbounds": ["server-a", "server-b"],
     "url": "http://127.0.0.1:$PH/generate_204", "interval": "30s"},
    {"type": "anytls", "tag": "server-a", "server": "127.0.0.1", "server_port": $PA, "password": "pw",
     "ensure_idle_session": 1,
     "tls": {"enabled": true, "server_name": "127.0.0.1", "certificate_path": "$out/keys/127.0.0.1.crt"}},
    {"type": "anytls", "tag": "server-b", "server": "127.0.0.1", "server_port": $PB, "password": "pw",
     "ensure_idle_session": 1,
     "tls": {"enabled": true, "server_name": "127.0.0.1", "certificate_path": "$out/keys/127.0.0.1.crt"}}
  ],
  "route": {"final": "select"},
  "experimental": {
    "clash_api": {"external_controller": "127.0.0.1:$PC", "secret": "$secret", "external_ui": "$here"},
    "cache_file": {"enabled": true, "path": "$out/cache.json"}
  }
}
JSON
"$bin" run -c "$out/servers.json" > "$out/servers.log" 2>&1 &
pids+=($!)
"$bin" run -c "$out/client.json" > "$out/client.log" 2>&1 &
pids+=($!)
for _ in $(seq 50); do
  curl -s -o /dev/null "http://127.0.0.1:$PC/" -H "Authorization: Bearer $secret" && break
  sleep 0.1
done

# Live traffic while the page watches: a rate-limited download through the
# proxy, repeated.
( while true; do curl -s -o /dev/null --limit-rate 4M -x "http://127.0.0.1:$PM" "http://127.0.0.1:$PH/big.bin" || true; done ) &
pids+=($!)
sleep 1

url="http://127.0.0.1:$PC/ui/index.html?secret=$secret&group=select&pick=server-b&delay_url=$(python3 -c "import urllib.parse,sys; print(urllib.parse.quote(sys.argv[1], safe=''))" "http://127.0.0.1:$PH/generate_204")"
# The page is loaded once and read when it says it is done: DOM and
# screenshot through the DevTools protocol (cdp.py says why not
# --dump-dom / --screenshot).
python3 "$here/cdp.py" "$url" "$out/dom.html" "$out/dashboard.png" 40 --user-data-dir="$out/profile" || true

echo "output in $out"
grep -o '<div id="status"[^<]*</div>' "$out/dom.html" || true
fail=0
grep -q '<div id="status" class="ok">all checks passed</div>' "$out/dom.html" ||
  { echo "FAIL: the page's checks did not all pass"; fail=1; }
grep -q 'data-name="server-b"' "$out/dom.html" || { echo "FAIL: members not listed"; fail=1; }
grep -q '<span class="now" id="group-now">server-b</span>' "$out/dom.html" || { echo "FAIL: selector not switched"; fail=1; }
now=$(curl -s -H "Authorization: Bearer $secret" "http://127.0.0.1:$PC/proxies/select" | python3 -c 'import json,sys; print(json.load(sys.stdin)["now"])')
[ "$now" = server-b ] || { echo "FAIL: the API says now=$now"; fail=1; }
grep -q '"select": "server-b"' "$out/cache.json" || { echo "FAIL: choice not in cache_file"; fail=1; }
[ -s "$out/dashboard.png" ] || { echo "FAIL: no screenshot"; fail=1; }
[ $fail = 0 ] && echo "browser check passed; screenshot: $out/dashboard.png"
exit $fail
