#!/usr/bin/env bash
# Fault injection with real processes on loopback (issue 11):
#   web:    two local HTTP servers on one directory, one rate-limited (downloads that stay in flight)
#   server: anytls run (anytls inbound + direct, metrics)
#   relay:  freeze_relay.py between client and server (SIGUSR1 freezes the connections it has)
#   client: anytls run (mixed inbound + anytls outbound through the relay, ensure_idle_session 2,
#           heartbeat 2s, metrics)
#   curl through the client's mixed port, every request with --max-time.
# Scenarios, each asserting recovery with generous bounds and printing what it measured:
#   1. kill -9 the server mid-download: the download fails promptly; restart; requests succeed; pool whole
#   2. freeze the path: the next request still succeeds (< 3 s, hedging); the pool recovers (both frozen
#      sessions closed, idle == 2)
#   4. the server closes the frozen sessions (session_idle_timeout 6s); a load (8 rate-limited downloads
#      + 40 requests), then the server's fds (+4) and RSS (+30 MiB) are back near their baseline
#      (run before 3, which restarts the server)
#   3. SIGTERM under load: exit 0 within 5 s; the downloads error out, none hangs; restart; requests succeed
#   usage: [VERBOSE=1] fault-check.sh ANYTLS_BIN   (VERBOSE prints the logs at the end)
set -euo pipefail
bin=${1:?usage: fault-check.sh ANYTLS_BIN}
here=$(cd "$(dirname "$0")" && pwd)
source "$here/../smoke/lib.sh"  # $work, $pids, $server_pid, cleanup at exit, wait_for

failures=()
fail() {
  echo "FAIL: $*"
  for f in "${failures[@]}"; do echo "FAIL (earlier): $f"; done
  for f in server.log client.log relay.log; do echo "--- $f"; tail -n 60 "$work/$f" 2>/dev/null || true; done
  exit 1
}
# free_ports N: N free loopback ports (one python3 start: on a loaded machine each costs seconds).
free_ports() {
  python3 -c 'import socket, sys
socks = [socket.socket() for _ in range(int(sys.argv[1]))]
for s in socks: s.bind(("127.0.0.1", 0))
print(" ".join(str(s.getsockname()[1]) for s in socks))' "$1"
}
# Time in bash itself (no processes): microseconds now, milliseconds since, seconds as text.
now() { echo "${EPOCHREALTIME/./}"; }
ms_since() { echo $(( ($(now) - $1) / 1000 )); }
secs() { printf '%d.%03d' $(($1 / 1000)) $(($1 % 1000)); }
since() { secs "$(ms_since "$1")"; }
# fail_later MESSAGE: a failed assertion after which the remaining scenarios still tell something.
fail_later() {
  echo "FAIL: $*"
  failures+=("$*")
}
# metric PORT REGEX: the sum of the samples whose line matches REGEX (empty if the scrape fails).
metric() {
  curl -s --max-time 2 "http://127.0.0.1:$1/metrics" |
    awk -v re="$2" '$0 !~ /^#/ && $0 ~ re { s += $NF; n++ } END { if (n) printf "%d\n", s }'
}
# poll SECONDS COMMAND...: until COMMAND succeeds, every 0.1 s; 1 if it never did.
poll() {
  local deadline=$(( $(now) + $1 * 1000000 )); shift
  while :; do
    "$@" && return 0
    [ "$(now)" -lt "$deadline" ] || return 1
    sleep 0.1
  done
}
idle_is() { [ "$(metric "$cmetrics" '^anytls_pool_sessions[{].*state="idle"')" = "$1" ]; }
server_sessions() { metric "$smetrics" '^anytls_server_sessions[{]'; }
server_sessions_are() { [ "$(server_sessions)" = "$1" ]; }
heartbeats_answered() { metric "$cmetrics" '^anytls_heartbeat_responses_total'; }
# gone PID: the process has exited (a zombie not yet reaped counts as exited).
gone() { ! kill -0 "$1" 2>/dev/null || grep -q '^State:.*Z' "/proc/$1/status" 2>/dev/null; }
fds() { ls "/proc/$1/fd" | wc -l; }
rss_kib() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"; }

read -r mixed server relay web slow smetrics cmetrics <<< "$(free_ports 7)"

"$bin" generate tls-keypair localhost --out-dir "$work/certs" --file-name server >/dev/null 2>&1
cat > "$work/server.json" <<JSON
{
  "log": {"level": "info", "timestamp": true},
  "inbounds": [{"type": "anytls", "tag": "in", "listen": "127.0.0.1", "listen_port": $server,
                "users": [{"name": "fault", "password": "fault-pw"}],
                "session_idle_timeout": "6s",
                "tls": {"enabled": true, "server_name": "localhost",
                        "certificate_path": "$work/certs/server.crt", "key_path": "$work/certs/server.key"}}],
  "outbounds": [{"type": "direct", "tag": "direct"}],
  "experimental": {"metrics": {"listen": "127.0.0.1:$smetrics"}}
}
JSON
# min_idle_session 2 with a short idle timeout: the pool sheds what a load
# left idle beyond its two, without churning the two.
cat > "$work/client.json" <<JSON
{
  "log": {"level": "debug", "timestamp": true},
  "inbounds": [{"type": "mixed", "tag": "mixed-in", "listen": "127.0.0.1", "listen_port": $mixed}],
  "outbounds": [{"type": "anytls", "tag": "proxy", "server": "127.0.0.1", "server_port": $relay,
                 "password": "fault-pw", "ensure_idle_session": 2, "min_idle_session": 2,
                 "heartbeat": "2s", "idle_session_check_interval": "1s", "idle_session_timeout": "3s",
                 "tls": {"enabled": true, "server_name": "localhost",
                         "certificate_path": "$work/certs/server.crt"}}],
  "experimental": {"metrics": {"listen": "127.0.0.1:$cmetrics"}}
}
JSON
"$bin" check -c "$work/server.json" >/dev/null
"$bin" check -c "$work/client.json" >/dev/null

mkdir -p "$work/www"
echo "hello through anytls" > "$work/www/hello.txt"
head -c $((16 * 1024 * 1024)) /dev/urandom > "$work/www/16m.bin"
head -c $((4 * 1024 * 1024)) /dev/urandom > "$work/www/4m.bin"
want_hello=$(md5sum < "$work/www/hello.txt" | cut -d' ' -f1)
want_4m=$(md5sum < "$work/www/4m.bin" | cut -d' ' -f1)
(cd "$work/www" && exec python3 -m http.server "$web" --bind 127.0.0.1 >/dev/null 2>&1) &
pids+=($!)
# 1 MiB/s per response: a 16 MiB download stays in flight for 16 s.
python3 "$here/../smoke/throttled_http.py" "$slow" "$work/www" $((1024 * 1024)) >/dev/null 2>&1 &
pids+=($!)
python3 "$here/freeze_relay.py" "$relay" "$server" > "$work/relay.log" 2>&1 &
relay_pid=$!; pids+=($relay_pid)

starts=0
start_server() {  # every start appends to server.log
  starts=$((starts + 1))
  "$bin" run -c "$work/server.json" >> "$work/server.log" 2>&1 &
  server_pid=$!
  wait_for "$work/server.log" " started (" "$starts"
}
start_server
"$bin" run -c "$work/client.json" > "$work/client.log" 2>&1 &
client_pid=$!; pids+=($client_pid)
wait_for "$work/client.log" "started"
wait_for "$work/relay.log" "relay 127.0.0.1"
for _ in $(seq 50); do
  curl -s -o /dev/null --max-time 1 "http://127.0.0.1:$web/hello.txt" &&
    curl -s -o /dev/null --max-time 1 "http://127.0.0.1:$slow/hello.txt" && break
  sleep 0.1
done

fetch() {  # fetch NAME [MAX-TIME]: through the client's SOCKS5 port, prints the md5 (fails if curl fails)
  curl -sS --max-time "${2:-10}" --socks5-hostname "127.0.0.1:$mixed" "http://127.0.0.1:$web/$1" -o "$work/fetch.out" \
    2>> "$work/curl.err" || return 1
  md5sum < "$work/fetch.out" | cut -d' ' -f1
}
[ "$(fetch hello.txt)" = "$want_hello" ] || fail "no traffic through client, relay and server"
poll 20 idle_is 2 || fail "the client's pool never reached 2 idle sessions"
echo "ok   traffic flows; client pool: 2 idle sessions"

# -------------------------------------------------------------- 1. kill -9 mid-transfer
curl -sS --max-time 60 --socks5-hostname "127.0.0.1:$mixed" -o "$work/dl1.out" \
  "http://127.0.0.1:$slow/16m.bin" 2> "$work/dl1.err" &
dl=$!
big_enough() { [ "$(stat -c %s "$1" 2>/dev/null || echo 0)" -ge $((256 * 1024)) ]; }
poll 20 big_enough "$work/dl1.out" || fail "scenario 1: the download did not start"
before=$(stat -c %s "$work/dl1.out")
t0=$(now)
kill -9 "$server_pid"
wait "$server_pid" 2>/dev/null || true
server_pid=
poll 10 gone "$dl" ||
  fail "scenario 1: the download still hangs 10 s after the server was killed"
ms_fail=$(ms_since "$t0"); t_fail=$(secs "$ms_fail")
wait "$dl" && rc=0 || rc=$?
[ "$rc" -ne 0 ] || fail "scenario 1: the download reported success though the server died mid-transfer"
[ "$ms_fail" -lt 5000 ] || fail "scenario 1: the download took ${t_fail}s to fail (bound 5 s)"
echo "ok   1. kill -9 mid-download ($before bytes in): curl failed after ${t_fail}s (rc $rc: $(tr -d '\n' < "$work/dl1.err"))"
t0=$(now)
start_server
t_start=$(since "$t0")
t0=$(now)
[ "$(fetch hello.txt)" = "$want_hello" ] || fail "scenario 1: the first request after the restart failed: $(tail -n1 "$work/curl.err")"
t_req=$(since "$t0")
poll 20 idle_is 2 || fail "scenario 1: the pool is not whole 20 s after the restart (idle $(metric "$cmetrics" '^anytls_pool_sessions[{].*state="idle"'))"
t_pool=$(since "$t0")
echo "ok   1. restarted in ${t_start}s; first request ok in ${t_req}s; pool idle == 2 after ${t_pool}s"

# -------------------------------------------------------------- 2. freeze the path
# Both pooled sessions have answered heartbeats (their round trips are known).
hb0=$(heartbeats_answered)
hb_more() { [ "$(heartbeats_answered)" -ge $((hb0 + 2)) ]; }
poll 10 hb_more || fail "scenario 2: no heartbeat responses on the pool"
retries0=$(metric "$cmetrics" '^anytls_pool_stream_retries_total')
closed0=$(metric "$cmetrics" '^anytls_pool_sessions_closed_total')
frozen_before=$(grep -c "^frozen" "$work/relay.log" || true)
kill -USR1 "$relay_pid"
wait_for "$work/relay.log" "^frozen" $((frozen_before + 1))
nfrozen=$(grep "^frozen" "$work/relay.log" | tail -n1 | awk '{print $2}')
[ "$nfrozen" -ge 2 ] || fail "scenario 2: the relay froze $nfrozen connections, expected the 2 pooled sessions"
t0=$(now)
if got=$(fetch hello.txt 10); then
  ms_req=$(ms_since "$t0"); t_req=$(secs "$ms_req")
  [ "$got" = "$want_hello" ] || fail "scenario 2: wrong bytes after the freeze"
  [ "$ms_req" -lt 3000 ] || fail_later "scenario 2: the request on the frozen pool took ${t_req}s (bound 3 s)"
  req="request ok in ${t_req}s"; status=ok
else
  # A bug in anytls, not in this script: the pool's one retry goes to an idle
  # session "heard from lately" (src/outbound/anytls.cpp heard_lately: within
  # max(2 s, 1.5 x heartbeat)), which behind a path that froze as a whole is
  # the other frozen session, so the retry dies too and the user sees an error.
  fail_later "scenario 2: the request on the frozen pool failed after $(since "$t0")s: $(tail -n1 "$work/curl.err")
      if the client log below shows the retry dying of silence too, this is the anytls bug: the one retry
      went to another pooled session of the same frozen path (heard from within max(2 s, 1.5 x heartbeat)):
$(grep -E 'no frame from the server|retrying the stream' "$work/client.log" | sed 's/^/        /')"
  req="request FAILED"; status=FAIL
fi
# Recovered: both frozen sessions closed (by the probe of a request, or by the
# heartbeat: dead after max(heartbeat, 5 s) of silence), 2 live idle ones.
t0=$(now)
closed_since_freeze() { echo $(( $(metric "$cmetrics" '^anytls_pool_sessions_closed_total') - closed0 )); }
recovered() { [ "$(closed_since_freeze)" -ge 2 ] && idle_is 2; }
poll 20 recovered ||
  fail "scenario 2: the pool has not recovered 20 s after the freeze ($(closed_since_freeze) sessions closed since, idle $(metric "$cmetrics" '^anytls_pool_sessions[{].*state="idle"'))"
t_pool=$(since "$t0")
retries=$(( $(metric "$cmetrics" '^anytls_pool_stream_retries_total') - retries0 ))
closed=$(closed_since_freeze)
echo "$status   2. froze $nfrozen connections: $req ($retries retried); pool recovered ($closed sessions closed, idle == 2) ${t_pool}s later"

# -------------------------------------------------------------- 4. fds and RSS back to baseline after a load
# The server holds the 2 frozen sessions until its session_idle_timeout (6 s) closes them.
t0=$(now)
poll 20 server_sessions_are 2 ||
  fail "scenario 4: the server still has $(server_sessions) sessions, expected the client's 2 (frozen ones not closed by session_idle_timeout?)"
echo "ok   4. the server closed the frozen client sessions (session_idle_timeout 6s) within $(since "$t0")s; 2 sessions left"
spid=$server_pid
base_fds=$(fds "$spid"); base_rss=$(rss_kib "$spid")
# The load: 8 rate-limited 4 MiB downloads (4 s each, all in flight at once)
# and 40 small requests meanwhile; the peak is sampled while they run.
loaders=()
for i in $(seq 8); do
  curl -sS --max-time 60 --socks5-hostname "127.0.0.1:$mixed" -o "$work/load$i.out" \
    "http://127.0.0.1:$slow/4m.bin" 2> "$work/load$i.err" &
  loaders+=($!)
done
peak_fds=0; peak_rss=0; peak_sessions=0
for i in $(seq 40); do
  [ "$(fetch hello.txt)" = "$want_hello" ] || fail "scenario 4: small request $i failed under load: $(tail -n1 "$work/curl.err")"
  if [ $((i % 5)) -eq 0 ]; then
    f=$(fds "$spid"); r=$(rss_kib "$spid"); n=$(server_sessions)
    [ "$f" -gt "$peak_fds" ] && peak_fds=$f
    [ "$r" -gt "$peak_rss" ] && peak_rss=$r
    [ "${n:-0}" -gt "$peak_sessions" ] && peak_sessions=$n
  fi
done
for i in $(seq 8); do
  wait "${loaders[$((i - 1))]}" || fail "scenario 4: download $i failed: $(cat "$work/load$i.err")"
  [ "$(md5sum < "$work/load$i.out" | cut -d' ' -f1)" = "$want_4m" ] || fail "scenario 4: download $i is not byte-exact"
done
[ "$peak_sessions" -gt 2 ] || fail "scenario 4: the server never had more than 2 sessions: no load was measured"
# The extra idle sessions the load left go after the client's idle timeout (3 s).
t0=$(now)
poll 20 server_sessions_are 2 || fail "scenario 4: the server still has $(server_sessions) sessions 20 s after the load"
fds_ok() { [ "$(fds "$spid")" -le $((base_fds + 4)) ]; }
rss_ok() { [ "$(rss_kib "$spid")" -le $((base_rss + 30 * 1024)) ]; }
poll 10 fds_ok || fail "scenario 4: server fds $(fds "$spid"), baseline $base_fds (bound +4)"
poll 10 rss_ok || fail "scenario 4: server RSS $(rss_kib "$spid") KiB, baseline $base_rss KiB (bound +30 MiB)"
echo "ok   4. 8 x 4 MiB + 40 requests: server fds $base_fds -> $peak_fds -> $(fds "$spid"), RSS $base_rss -> $peak_rss -> $(rss_kib "$spid") KiB ($peak_sessions sessions at peak, 2 again after $(since "$t0")s)"

# -------------------------------------------------------------- 3. SIGTERM under load
loaders=()
for i in 1 2 3 4; do
  curl -sS --max-time 60 --socks5-hostname "127.0.0.1:$mixed" -o "$work/term$i.out" \
    "http://127.0.0.1:$slow/16m.bin" 2> "$work/term$i.err" &
  loaders+=($!)
done
for i in 1 2 3 4; do poll 20 big_enough "$work/term$i.out" || fail "scenario 3: download $i did not start"; done
t0=$(now)
kill -TERM "$server_pid"
poll 10 gone "$server_pid" || fail "scenario 3: the server is still running 10 s after SIGTERM"
ms_exit=$(ms_since "$t0"); t_exit=$(secs "$ms_exit")
wait "$server_pid" && rc=0 || rc=$?
server_pid=
[ "$rc" -eq 0 ] || fail "scenario 3: the server exited with $rc after SIGTERM"
[ "$ms_exit" -lt 5000 ] || fail "scenario 3: the server took ${t_exit}s to exit (bound 5 s)"
all_done() { for p in "${loaders[@]}"; do gone "$p" || return 1; done; return 0; }
poll 10 all_done || fail "scenario 3: a download still hangs 10 s after the server exited"
t_dl=$(since "$t0")
for i in 1 2 3 4; do
  wait "${loaders[$((i - 1))]}" && fail "scenario 3: download $i reported success though the server stopped mid-transfer"
done
echo "ok   3. SIGTERM with 4 downloads in flight: server exited 0 in ${t_exit}s; all 4 downloads failed within ${t_dl}s"
t0=$(now)
start_server
[ "$(fetch hello.txt)" = "$want_hello" ] || fail "scenario 3: the first request after the restart failed: $(tail -n1 "$work/curl.err")"
t_req=$(since "$t0")
poll 20 idle_is 2 || fail "scenario 3: the pool is not whole 20 s after the restart"
echo "ok   3. restarted; first request ok ${t_req}s after the restart began; pool idle == 2 after $(since "$t0")s"

kill -TERM "$client_pid"
wait "$client_pid" && rc=0 || rc=$?
[ "$rc" -eq 0 ] || fail "the client exited with $rc after SIGTERM"
if [ -n "${VERBOSE:-}" ]; then
  for f in server.log client.log relay.log; do echo "--- $f"; cat "$work/$f"; done
fi
if [ "${#failures[@]}" -ne 0 ]; then
  echo "fault suite: ${#failures[@]} assertion(s) failed:"
  for f in "${failures[@]}"; do echo "  $f"; done
  exit 1
fi
echo "fault suite: ok"
