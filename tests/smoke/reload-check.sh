#!/usr/bin/env bash
# SIGHUP reload with real processes on loopback:
#   server: anytls -D <dir> -C conf.d run   (sing-box's unit command line)
#   client: anytls run -c client.json        (mixed inbound + anytls outbound)
# 1. A rate-limited download (8 MiB at 1 MiB/s) runs through client and server. Meanwhile the
#    server's config gains a user (its anytls inbound is replaced) and the
#    client's outbound switches to that user (replaced too); both get SIGHUP.
#    The download keeps flowing on the drained objects and completes
#    byte-exact; new connections use the new user.
# 2. A broken config (bad JSON, then a missing certificate) + SIGHUP: the
#    error is logged and the server keeps serving.
# 3. SIGHUP reopens a log file (logrotate).
# 4. SIGTERM: both exit 0.
#   usage: [VERBOSE=1] reload-check.sh ANYTLS_BIN   (VERBOSE prints both logs)
set -euo pipefail
bin=${1:?usage: reload-check.sh ANYTLS_BIN}
source "$(dirname "$0")/lib.sh"  # $work, $pids, cleanup at exit, free_port, wait_for

fail() {
  echo "FAIL: $*"
  echo "--- server log"; cat "$work/server.log" || true
  echo "--- client log"; cat "$work/client.log.1" "$work/client.log" "$work/client.stderr" 2>/dev/null || true
  exit 1
}
mixed=$(free_port); server=$(free_port); web=$(free_port)

mkdir -p "$work/srv/conf.d" "$work/www"
"$bin" generate tls-keypair localhost --out-dir "$work/srv/certs" --file-name server >/dev/null 2>&1

server_config() {  # server_config USERS-JSON
  cat > "$work/srv/conf.d/server.json" <<JSON
{
  "log": {"level": "info", "timestamp": true},
  "inbounds": [{"type": "anytls", "tag": "in", "listen": "127.0.0.1", "listen_port": $server,
                "users": $1,
                "tls": {"enabled": true, "server_name": "localhost",
                        "certificate_path": "certs/server.crt", "key_path": "certs/server.key"}}],
  "outbounds": [{"type": "direct", "tag": "direct"}]
}
JSON
}
client_config() {  # client_config PASSWORD
  cat > "$work/client.json" <<JSON
{
  "log": {"level": "info", "output": "$work/client.log"},
  "inbounds": [{"type": "mixed", "tag": "mixed-in", "listen": "127.0.0.1", "listen_port": $mixed}],
  "outbounds": [{"type": "anytls", "tag": "proxy", "server": "127.0.0.1", "server_port": $server,
                 "password": "$1", "ensure_idle_session": 1,
                 "tls": {"enabled": true, "server_name": "localhost",
                         "certificate_path": "$work/srv/certs/server.crt"}}]
}
JSON
}
server_config '[{"name": "alice", "password": "alice-pw"}]'
client_config alice-pw

echo "hello through anytls" > "$work/www/hello.txt"
head -c $((8 * 1024 * 1024)) /dev/urandom > "$work/www/8m.bin"
# Every response at 1 MiB/s: 8 MiB take 8 s.
python3 "$(dirname "$0")/throttled_http.py" "$web" "$work/www" $((1024 * 1024)) >/dev/null 2>&1 &
pids+=($!)
# -D is created if missing; -C is read relative to it.
"$bin" -D "$work/srv" -C conf.d run > "$work/server.log" 2>&1 &
server_pid=$!; pids+=($server_pid)
"$bin" run -c "$work/client.json" > "$work/client.stderr" 2>&1 &
client_pid=$!; pids+=($client_pid)
wait_for "$work/server.log" "started"
wait_for "$work/client.log" "started"
# sing-box's start lines: one per inbound (not one per worker's shard), and
# what started in how long.
[ "$(grep -c "inbound/mixed\[mixed-in\]: tcp server started at 127.0.0.1:$mixed\$" "$work/client.log")" = 1 ] ||
  fail "not one start line for the mixed inbound"
grep -q "anytls-cpp .* started ([0-9.]*s): 1 inbounds, 1 outbounds" "$work/client.log" || fail "no start line with its time"

fetch() {  # fetch NAME: through the client's SOCKS5 port, prints the md5
  curl -sS --max-time 60 --socks5-hostname "127.0.0.1:$mixed" "http://127.0.0.1:$web/$1" | md5sum | cut -d' ' -f1
}
for _ in $(seq 50); do curl -s -o /dev/null --max-time 1 "http://127.0.0.1:$web/hello.txt" && break; sleep 0.1; done
want_hello=$(md5sum < "$work/www/hello.txt" | cut -d' ' -f1)
[ "$(fetch hello.txt)" = "$want_hello" ] || fail "no traffic before the reload"
echo "ok   traffic flows before the reload"

# 1. Reload while a download flows.
curl -sS --max-time 120 --socks5-hostname "127.0.0.1:$mixed" \
  -o "$work/8m.out" "http://127.0.0.1:$web/8m.bin" 2> "$work/curl.err" &
curl_pid=$!
for _ in $(seq 100); do [ -s "$work/8m.out" ] && break; sleep 0.1; done
[ -s "$work/8m.out" ] || fail "download did not start"
server_config '[{"name": "alice", "password": "alice-pw"}, {"name": "bob", "password": "bob-pw"}]'
kill -HUP "$server_pid"
wait_for "$work/server.log" "reload: done"
grep -q "reload: inbound/anytls\[in\]: replaced" "$work/server.log" || fail "server did not replace its inbound"
client_config bob-pw
kill -HUP "$client_pid"
wait_for "$work/client.log" "reload: done"
grep -q "reload: outbound/anytls\[proxy\]: replaced" "$work/client.log" || fail "client did not replace its outbound"
grep -q "reload: inbound/mixed\[mixed-in\]" "$work/client.log" && fail "client replaced an unchanged inbound"
kill -0 "$curl_pid" 2>/dev/null || fail "the download ended before both reloads were done: nothing was tested"
echo "ok   both reloaded while the download is in flight ($(stat -c %s "$work/8m.out") bytes so far)"
# New connections use the new outbound, i.e. bob, whom only the reloaded server knows.
[ "$(fetch hello.txt)" = "$want_hello" ] || fail "the new user does not get through after the reload"
grep -q "authentication failed" "$work/server.log" && fail "server refused a client"
echo "ok   new connections authenticate as the added user"
wait "$curl_pid" || fail "download failed: $(cat "$work/curl.err")"
cmp -s "$work/8m.out" "$work/www/8m.bin" || fail "download is not byte-exact ($(stat -c %s "$work/8m.out") bytes)"
echo "ok   the download begun before the reload completed byte-exact"

# 2. Broken configs: logged, the server keeps serving.
echo '{ "inbounds": [ broken' > "$work/srv/conf.d/server.json"
kill -HUP "$server_pid"
wait_for "$work/server.log" "keeping the running configuration"
grep "keeping the running configuration" "$work/server.log" | grep "conf.d/server.json: parse error" >/dev/null ||
  fail "bad JSON was not named in the log"
[ "$(fetch hello.txt)" = "$want_hello" ] || fail "server stopped serving after a broken reload"
echo "ok   broken JSON: logged, still serving"
server_config '[{"name": "bob", "password": "bob-pw"}]'
sed -i 's#certs/server.crt#certs/missing.crt#' "$work/srv/conf.d/server.json"
kill -HUP "$server_pid"
wait_for "$work/server.log" "keeping the running configuration" 2
grep -q "inbounds\[0\].tls.certificate_path: cannot read file certs/missing.crt; keeping the running configuration" \
  "$work/server.log" || fail "missing certificate was not named in the log"
[ "$(fetch hello.txt)" = "$want_hello" ] || fail "server stopped serving after a reload with a missing certificate"
echo "ok   missing certificate: logged, still serving"

# 3. The client logs to a file: SIGHUP reopens it (logrotate moves it away first).
mv "$work/client.log" "$work/client.log.1"
kill -HUP "$client_pid"
wait_for "$work/client.log" "reload: done, 0 changed"
echo "ok   SIGHUP reopens the log file"

# 4. Clean exit.
kill -TERM "$server_pid" "$client_pid"
wait "$server_pid" && rc1=0 || rc1=$?
wait "$client_pid" && rc2=0 || rc2=$?
[ "$rc1" -eq 0 ] && [ "$rc2" -eq 0 ] || fail "exit codes after SIGTERM: server $rc1, client $rc2"
if [ -n "${VERBOSE:-}" ]; then
  echo "--- server log"; cat "$work/server.log"
  echo "--- client log"; cat "$work/client.log"
fi
echo "reload smoke test: ok"
