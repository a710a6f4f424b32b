#!/usr/bin/env bash
# `anytls tools` and the dashboard download, with real processes on loopback:
#   tools fetch      a local HTTP server, direct (no config: sing-box's empty
#                    default; a 301 followed) and through an anytls server
#                    (-c client.json -o proxy)
#   tools connect    a local TCP echo server through standard input/output
#   tools synctime   a local NTP responder two days ahead; -w refused
#   external_ui_download_url  a zip from the local HTTP server unpacked into
#                    external_ui and served under /ui/; a zip with a "../"
#                    entry refused with nothing written, the API still serving
#   usage: tools-check.sh [ANYTLS_BIN]   (default: $ANYTLS_BIN)
set -euo pipefail
bin=${1:-${ANYTLS_BIN:?usage: tools-check.sh ANYTLS_BIN}}
source "$(dirname "$0")/lib.sh"  # $work, $pids, cleanup at exit, free_port, wait_for
fail() {
  echo "FAIL: $*"
  for f in "$work"/*.log; do echo "--- $f"; cat "$f"; done
  exit 1
}
cd "$work"  # no config.json here: tools run with sing-box's empty default
web=$(free_port); echo_port=$(free_port); ntp=$(free_port); server=$(free_port); api=$(free_port); api2=$(free_port)

mkdir -p www
echo "hello from the web server" > www/hello.txt
mkdir -p www/sub && echo "after a redirect" > www/sub/index.html  # GET /sub: 301 to /sub/
python3 - "$work/www" <<'PY'
import sys, zipfile
d = sys.argv[1]
with zipfile.ZipFile(d + "/ui.zip", "w", zipfile.ZIP_DEFLATED) as z:
    z.writestr("metacubexd-gh-pages/index.html", "<html>dashboard</html>")
    z.writestr("metacubexd-gh-pages/assets/app.js", "console.log(1)")
with zipfile.ZipFile(d + "/evil.zip", "w") as z:
    z.writestr("index.html", "ok")
    z.writestr("../evil.txt", "escaped")
PY
python3 -m http.server "$web" --bind 127.0.0.1 --directory "$work/www" > http.log 2>&1 &
pids+=($!)
python3 - "$echo_port" > echo.log 2>&1 <<'PY' &
import socket, sys, threading
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen()
def serve(c):
    while True:
        b = c.recv(65536)
        if not b: break
        c.sendall(b)
    c.close()
while True:
    c, _ = s.accept(); threading.Thread(target=serve, args=(c,), daemon=True).start()
PY
pids+=($!)
# SNTP responder, two days ahead of this machine.
python3 - "$ntp" > ntp.log 2>&1 <<'PY' &
import socket, struct, sys, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1", int(sys.argv[1])))
while True:
    req, peer = s.recvfrom(512)
    now = time.time() + 2 * 86400 + 2208988800
    ts = struct.pack("!II", int(now), int((now % 1) * 2**32))
    s.sendto(bytes([0x24, 1]) + bytes(22) + req[40:48] + ts + ts, peer)
PY
pids+=($!)
for _ in $(seq 50); do curl -s -o /dev/null --max-time 1 "http://127.0.0.1:$web/hello.txt" && break; sleep 0.1; done

# ---- tools fetch -----------------------------------------------------------------
out=$("$bin" tools fetch "http://127.0.0.1:$web/hello.txt" 2> fetch.log) || fail "tools fetch (direct) failed"
[ "$out" = "hello from the web server" ] || fail "tools fetch (direct) printed '$out'"
echo "ok   tools fetch, direct: $out"
out=$("$bin" tools fetch "http://127.0.0.1:$web/sub" 2> fetch-redirect.log) || fail "tools fetch of a redirect failed"
[ "$out" = "after a redirect" ] || fail "tools fetch /sub (301 to /sub/) printed '$out'"
echo "ok   tools fetch follows a 301 (relative Location): $out"
set +e
"$bin" tools fetch "ftp://127.0.0.1/x" > /dev/null 2> fetch-bad.log; rc=$?
set -e
[ "$rc" -eq 1 ] && grep -q "unsupported scheme: ftp" fetch-bad.log || fail "tools fetch ftp:// exited $rc"
echo "ok   tools fetch ftp:// exits 1: $(cat fetch-bad.log)"

"$bin" generate tls-keypair 127.0.0.1 -o "$work/tls" 2>/dev/null
cat > server.json <<JSON
{"log": {"level": "debug"},
 "inbounds": [{"type": "anytls", "tag": "anytls-in", "listen": "127.0.0.1", "listen_port": $server,
   "users": [{"name": "u", "password": "smoke"}],
   "tls": {"enabled": true, "certificate_path": "$work/tls/127.0.0.1.crt", "key_path": "$work/tls/127.0.0.1.key"}}]}
JSON
cat > client.json <<JSON
{"outbounds": [{"type": "direct", "tag": "direct"},
   {"type": "anytls", "tag": "proxy", "server": "127.0.0.1", "server_port": $server, "password": "smoke",
    "tls": {"enabled": true, "certificate_path": "$work/tls/127.0.0.1.crt"}}]}
JSON
"$bin" run -c server.json > server.log 2>&1 &
pids+=($!)
wait_for server.log "started"
out=$("$bin" tools fetch -c client.json -o proxy "http://127.0.0.1:$web/hello.txt" 2> fetch-proxy.log) ||
  fail "tools fetch through the anytls outbound failed"
[ "$out" = "hello from the web server" ] || fail "tools fetch (proxy) printed '$out'"
wait_for server.log "127.0.0.1:$web"
echo "ok   tools fetch -o proxy, through the anytls server: $out"
set +e
"$bin" tools fetch -c client.json -o nope "http://127.0.0.1:$web/hello.txt" > /dev/null 2> fetch-nope.log; rc=$?
set -e
[ "$rc" -ne 0 ] && grep -q "outbound not found: nope" fetch-nope.log || fail "tools fetch -o nope exited $rc"
echo "ok   tools fetch -o nope: $(cat fetch-nope.log)"

# ---- tools connect ---------------------------------------------------------------
out=$(printf 'ping over stdin\n' | timeout 10 "$bin" tools connect "127.0.0.1:$echo_port" 2> connect.log) ||
  fail "tools connect failed"
[ "$out" = "ping over stdin" ] || fail "tools connect printed '$out'"
echo "ok   tools connect: the echo came back: $out"

# ---- tools synctime --------------------------------------------------------------
want1=$(date -d '+2 days' +%Y-%m-%d)
out=$(timeout 10 "$bin" tools synctime -s "127.0.0.1:$ntp" -f "2006-01-02" 2> sync.log) || fail "tools synctime failed"
want2=$(date -d '+2 days' +%Y-%m-%d)
[ "$out" = "$want1" ] || [ "$out" = "$want2" ] || fail "tools synctime printed '$out', not $want1"
echo "ok   tools synctime: the responder's date, two days ahead: $out"
set +e
"$bin" tools synctime -w -s "127.0.0.1:$ntp" > /dev/null 2> sync-w.log; rc=$?
set -e
[ "$rc" -eq 1 ] && grep -q "not supported" sync-w.log || fail "tools synctime -w exited $rc"
echo "ok   tools synctime -w refused: $(cut -c1-80 sync-w.log)..."

# ---- external_ui_download_url ----------------------------------------------------
api_config() {  # api_config FILE PORT UI ZIP
  cat > "$1" <<JSON
{"log": {"level": "info"},
 "ntp": {"enabled": true, "server": "127.0.0.1", "server_port": $ntp, "detour": "direct"},
 "experimental": {"clash_api": {"external_controller": "127.0.0.1:$2", "external_ui": "$3",
   "external_ui_download_url": "http://127.0.0.1:$web/$4", "external_ui_download_detour": "direct"}},
 "outbounds": [{"type": "direct", "tag": "direct"}]}
JSON
}
api_config ui.json "$api" "$work/ui" ui.zip
"$bin" run -c ui.json > ui.log 2>&1 &
pids+=($!)
wait_for ui.log "dashboard unpacked"
page=$(curl -sS --max-time 5 "http://127.0.0.1:$api/ui/index.html") || fail "GET /ui/index.html failed"
[ "$page" = "<html>dashboard</html>" ] || fail "GET /ui/index.html: '$page'"
[ -f "$work/ui/assets/app.js" ] || fail "assets/app.js not unpacked (top folder not stripped?)"
echo "ok   external_ui downloaded and unpacked (top folder stripped), served: $page"
wait_for ui.log "ntp: updated time"
echo "ok   ntp section: $(grep -o 'ntp: updated time.*' ui.log | head -1)"

api_config evil.json "$api2" "$work/evil-ui" evil.zip
"$bin" run -c evil.json > evil.log 2>&1 &
pids+=($!)
wait_for evil.log "download external ui"
grep -q '"\.\." in \.\./evil.txt' evil.log || fail "the ../ entry was not named in the error"
[ ! -e "$work/evil.txt" ] && [ ! -e "$work/evil-ui" ] || fail "the hostile zip left files behind"
ls -a "$work" | grep '\.evil-ui\.tmp' >/dev/null && fail "the temporary directory was left behind"
curl -sS --max-time 5 "http://127.0.0.1:$api2/version" | grep version >/dev/null || fail "the API stopped serving"
echo "ok   a zip with ../ refused, nothing written, the API serves: $(grep 'download external ui' evil.log | sed 's/.*: //' | head -1)"
