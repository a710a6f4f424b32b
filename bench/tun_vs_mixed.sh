#!/usr/bin/env bash
# The tun inbound against the mixed inbound, on the same client and server
# processes in the same run: two network namespaces joined by a veth pair
# (the topology of tests/smoke/tun-netns-check.sh); the client runs a tun
# and a mixed inbound, both to one anytls outbound; the destinations sit on
# the server namespace's lo.
#   - download of SIZE_MB (default 1024) from 10.99.0.1: through the tun
#     (curl to the IP) and through the mixed inbound (curl --socks5), RUNS
#     (default 5) of each in turn, each run and the medians, and the client
#     process's CPU time for each (on a shared machine the cost per byte
#     says more than the rate); then the same with a client whose tun has
#     auto_route and auto_redirect (its TCP redirected by nftables);
#   - TTFB of a small request by name, median of 20: through the tun (the
#     name resolves through fakeip/hijack-dns) and through mixed
#     (--socks5-hostname, which skips curl's own lookup); the same with
#     curl resolving for both (--socks5: the fake address the tun's DNS
#     gave); the same by IP (no DNS: the connection alone), and the DNS
#     query through the tun (hijack-dns) by itself; curl's name lookup
#     through the tun, and the same lookup in a third namespace without a
#     tun against a DNS server on its lo that answers at once (what curl's
#     lookup costs by itself);
#   - RSS of the client per open TCP connection: 400 idle connections
#     through the tun, through the tun with auto_redirect, then through
#     mixed, each in a fresh client process.
#   usage: bench/tun_vs_mixed.sh ANYTLS_BIN   (root)
set -euo pipefail
bin=${1:?usage: tun_vs_mixed.sh ANYTLS_BIN}
size_mb=${SIZE_MB:-1024}
conns=${CONNS:-400}
runs=${RUNS:-5}
work=$(mktemp -d)
cli=tunbench-cli-$$
srv=tunbench-srv-$$
base=tunbench-base-$$  # no tun: curl's own name lookup against an instant DNS server
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  ip netns del "$cli" 2>/dev/null || true
  ip netns del "$srv" 2>/dev/null || true
  ip netns del "$base" 2>/dev/null || true
  rm -rf "/etc/netns/$cli" "/etc/netns/$base" "$work"
}
trap cleanup EXIT
in_cli() { ip netns exec "$cli" "$@"; }
in_srv() { ip netns exec "$srv" "$@"; }
ip netns add "$cli"
ip netns add "$srv"
ip link add tbc$$ netns "$cli" type veth peer name tbs$$ netns "$srv"
in_cli ip link set lo up
in_srv ip link set lo up
in_cli ip addr add 10.201.0.1/24 dev tbc$$
in_srv ip addr add 10.201.0.2/24 dev tbs$$
in_cli ip link set tbc$$ up
in_srv ip link set tbs$$ up
in_srv ip addr add 10.99.0.1/32 dev lo

truncate -s "${size_mb}M" "$work/big"
echo small > "$work/small"
cat > "$work/source.py" <<'PY'
# A minimal HTTP source: GET /big or /small, the body by sendfile (no copy),
# so the source is not what is measured.
import os, socket, sys, threading
root = sys.argv[1]
def serve(c):
    with c:
        buf = b""
        while b"\r\n\r\n" not in buf:
            d = c.recv(4096)
            if not d: return
            buf += d
        path = os.path.join(root, buf.split(b" ")[1].decode().lstrip("/"))
        with open(path, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\nConnection: close\r\n\r\n" % size)
            c.sendfile(f)
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("10.99.0.1", 8080))
s.listen(4096)
print("listening", flush=True)
while True:
    c, _ = s.accept()
    threading.Thread(target=serve, args=(c,), daemon=True).start()
PY
ip netns exec "$srv" python3 "$work/source.py" "$work" > "$work/source.log" 2>&1 &
pids+=($!)
"$bin" generate tls-keypair localhost --out-dir "$work" --file-name b >/dev/null 2>&1
cat > "$work/server.json" <<JSON
{"log": {"level": "warn"},
 "dns": {"servers": [{"type": "hosts", "tag": "hosts", "predefined": {"web.test": "10.99.0.1"}}]},
 "inbounds": [{"type": "anytls", "tag": "in", "listen": "10.201.0.2", "listen_port": 8443,
               "users": [{"name": "u", "password": "p"}],
               "tls": {"enabled": true, "certificate_path": "$work/b.crt", "key_path": "$work/b.key"}}],
 "outbounds": [{"type": "direct", "tag": "direct", "domain_resolver": "hosts"}]}
JSON
cat > "$work/client.json" <<JSON
{"log": {"level": "warn"},
 "dns": {"servers": [{"type": "hosts", "tag": "hosts", "predefined": {"x.test": "10.201.0.2"}},
                     {"type": "fakeip", "tag": "fakeip", "inet4_range": "198.18.0.0/15"}],
         "rules": [{"query_type": ["A", "AAAA"], "server": "fakeip"}]},
 "inbounds": [{"type": "tun", "tag": "tun-in", "interface_name": "tbtun0", "address": "172.19.0.1/30", "mtu": 9000},
              {"type": "mixed", "tag": "mixed-in", "listen": "127.0.0.1", "listen_port": 1080}],
 "outbounds": [{"type": "anytls", "tag": "out", "server": "10.201.0.2", "server_port": 8443, "password": "p",
                "tls": {"enabled": true, "server_name": "localhost", "certificate_path": "$work/b.crt"}}],
 "route": {"rules": [{"action": "sniff"}, {"protocol": "dns", "action": "hijack-dns"}], "final": "out"}}
JSON
# The same client with auto_route (the bench's three ranges only, so the
# anytls connection stays outside) and auto_redirect: the tun's TCP taken
# by nftables before the device.
sed 's|"mtu": 9000}|"mtu": 9000, "auto_route": true, "auto_redirect": true, "route_address": ["10.99.0.0/24", "198.18.0.0/15", "10.53.0.0/24"]}|' \
  "$work/client.json" > "$work/client-redirect.json"
ip netns exec "$srv" "$bin" run -c "$work/server.json" > "$work/server.log" 2>&1 &
pids+=($!)
client=
start_client() {  # [CONFIG]: a fresh client process (and its tun, with the routes through it)
  if [ -n "$client" ]; then kill "$client"; wait "$client" 2>/dev/null || true; fi
  ip netns exec "$cli" "$bin" run -c "${1:-$work/client.json}" >> "$work/client.log" 2>&1 &
  client=$!
  pids+=($client)
  for _ in $(seq 100); do in_cli ip link show tbtun0 >/dev/null 2>&1 && grep -q listening "$work/source.log" && break; sleep 0.1; done
  sleep 0.5
  in_cli ip route add 10.99.0.0/24 dev tbtun0
  in_cli ip route add 198.18.0.0/15 dev tbtun0
  in_cli ip route add 10.53.0.0/24 dev tbtun0
}
start_client
mkdir -p "/etc/netns/$cli"
echo "nameserver 10.53.0.53" > "/etc/netns/$cli/resolv.conf"

cat > "$work/hold.py" <<'PY'
# Opens N connections (to 10.99.0.1:8080 directly, or through a SOCKS5
# proxy), sends nothing more and holds them until stdin closes.
import socket, struct, sys
n, proxy = int(sys.argv[1]), sys.argv[2] if len(sys.argv) > 2 else None
held = []
for _ in range(n):
    if proxy:
        s = socket.create_connection(("127.0.0.1", int(proxy)))
        s.sendall(b"\x05\x01\x00"); s.recv(2)
        s.sendall(b"\x05\x01\x00\x01" + socket.inet_aton("10.99.0.1") + struct.pack("!H", 8080)); s.recv(10)
    else:
        s = socket.create_connection(("10.99.0.1", 8080))
    held.append(s)
print("held", flush=True)
sys.stdin.read()
PY
rss() { awk '/VmRSS/ {print $2}' "/proc/$client/status"; }
per_conn() {  # CONFIG hold.py args: sets kib, the client's RSS per held connection, in a fresh client
  local before after
  start_client "$1"
  shift
  before=$(rss)
  exec 3> >(in_cli python3 "$work/hold.py" "$@" > "$work/hold.log")
  for _ in $(seq 200); do grep -q held "$work/hold.log" 2>/dev/null && break; sleep 0.1; done
  sleep 1
  after=$(rss)
  exec 3>&-
  sleep 1
  kib=$(( (after - before) / conns ))
}
per_conn "$work/client.json" "$conns"
tun_kib=$kib
per_conn "$work/client-redirect.json" "$conns"
redirect_kib=$kib
per_conn "$work/client.json" "$conns" 1080
echo "client RSS per open TCP connection ($conns idle, each in a fresh client): tun $tun_kib KiB," \
  "tun+auto_redirect $redirect_kib KiB, mixed $kib KiB"

# The downloads in one client process, one after the other.
start_client
ticks() {  # the client's CPU time (user + system, all threads), in clock ticks
  cat /proc/"$client"/task/*/stat | awk '{t += $14 + $15} END {print t}'
}
rate() {  # curl args...: MB/s of the download; sets cpu_ms, the client's CPU time for it
  local before r
  before=$(ticks)
  r=$(in_cli curl -sS -o /dev/null -w '%{speed_download}' "$@" | awk '{printf "%.0f", $1 / 1048576}')
  cpu_ms=$(( ($(ticks) - before) * 1000 / $(getconf CLK_TCK) ))
  echo "$r"
}
# The source file is sparse: its first read zero-fills every page in the
# source's sendfile (a third of the machine in a profile), which only the
# first download would pay. Read once here, it is in the page cache for all.
cat "$work/big" > /dev/null
median() { sort -n | awk '{a[NR] = $1} END {print a[int((NR + 1) / 2)]}'; }
downloads() {  # LABEL: RUNS downloads through the tun and through mixed, in turn
  local i tun_rate tun_cpu mixed_rate mixed_cpu
  : > "$work/tun_rates"; : > "$work/mixed_rates"; : > "$work/tun_cpus"; : > "$work/mixed_cpus"
  for i in $(seq "$runs"); do  # in turn, so drift on the machine hits both
    rate http://10.99.0.1:8080/big > "$work/rate"
    tun_rate=$(cat "$work/rate") tun_cpu=$cpu_ms
    rate --socks5 127.0.0.1:1080 http://10.99.0.1:8080/big > "$work/rate"
    mixed_rate=$(cat "$work/rate") mixed_cpu=$cpu_ms
    echo "$tun_rate" >> "$work/tun_rates"; echo "$mixed_rate" >> "$work/mixed_rates"
    echo "$tun_cpu" >> "$work/tun_cpus"; echo "$mixed_cpu" >> "$work/mixed_cpus"
    echo "download ${size_mb} MiB, run $i: $1 ${tun_rate} MB/s, mixed ${mixed_rate} MB/s ($(( 100 * tun_rate / (mixed_rate > 0 ? mixed_rate : 1) )) %);" \
      "client CPU: $1 ${tun_cpu} ms, mixed ${mixed_cpu} ms"
  done
  tun_rate=$(median < "$work/tun_rates") mixed_rate=$(median < "$work/mixed_rates")
  echo "download ${size_mb} MiB, median of $runs: $1 ${tun_rate} MB/s, mixed ${mixed_rate} MB/s ($(( 100 * tun_rate / (mixed_rate > 0 ? mixed_rate : 1) )) %);" \
    "client CPU: $1 $(median < "$work/tun_cpus") ms, mixed $(median < "$work/mixed_cpus") ms"
}
downloads tun
# auto_redirect: a fresh client with it, against mixed again.
start_client "$work/client-redirect.json"
downloads "tun+auto_redirect"
start_client  # the TTFB rows: the plain tun
ttfb() {  # curl args...: median time to first byte over 20 requests, in ms (TIMER= another curl timer)
  for _ in $(seq 20); do in_cli curl -sS -o /dev/null -w "%{${TIMER:-time_starttransfer}}\n" "$@"; done |
    sort -n | awk '{a[NR] = $1} END {printf "%.2f", a[int((NR + 1) / 2)] * 1000}'
}
echo "TTFB by name (median of 20): tun $(ttfb -4 http://web.test:8080/small) ms, mixed $(ttfb --socks5-hostname 127.0.0.1:1080 http://web.test:8080/small) ms"
# The same lookup on both sides: curl resolves the name through the tun's
# DNS (a fake address) and hands mixed that address (--socks5, not -hostname).
echo "TTFB by name, curl resolving for both (median of 20): tun $(ttfb -4 http://web.test:8080/small) ms, mixed $(ttfb -4 --socks5 127.0.0.1:1080 http://web.test:8080/small) ms"
echo "TTFB by IP (median of 20): tun $(ttfb http://10.99.0.1:8080/small) ms, mixed $(ttfb --socks5 127.0.0.1:1080 http://10.99.0.1:8080/small) ms"
cat > "$work/dns.py" <<'PY'
# One A query for web.test through the tun, timed: the median of 20, in ms.
import socket, struct, time
q = struct.pack("!HHHHHH", 0x4242, 0x0100, 1, 0, 0, 0) + b"\x03web\x04test\x00" + struct.pack("!HH", 1, 1)
times = []
for _ in range(20):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)  # a new port each time, as a resolver does
    s.settimeout(5)
    t = time.perf_counter()
    s.sendto(q, ("10.53.0.53", 53))
    s.recv(4096)
    times.append(time.perf_counter() - t)
    s.close()
print("%.2f" % (sorted(times)[10] * 1000))
PY
echo "DNS query through the tun (hijack-dns, fakeip), median of 20: $(in_cli python3 "$work/dns.py") ms;" \
  "curl's name lookup by it: $(TIMER=time_namelookup ttfb -4 http://web.test:8080/small) ms"
start_client "$work/client-redirect.json"
echo "TTFB through tun+auto_redirect (median of 20): by name $(ttfb -4 http://web.test:8080/small) ms," \
  "by IP $(ttfb http://10.99.0.1:8080/small) ms"
# What curl's lookup costs by itself: a namespace without the tun whose
# resolver is a DNS server on its own lo that answers at once.
cat > "$work/instant_dns.py" <<'PY'
import socket, struct
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("127.0.0.53", 53))
print("ready", flush=True)
while True:
    q, peer = s.recvfrom(512)
    end = 12
    while q[end]:
        end += 1 + q[end]
    end += 5
    a = struct.unpack("!H", q[end - 4:end - 2])[0] == 1
    answer = b"\xc0\x0c" + struct.pack("!HHIH", 1, 1, 60, 4) + socket.inet_aton("10.99.0.1") if a else b""
    s.sendto(q[:2] + b"\x81\x80" + struct.pack("!HHHH", 1, int(a), 0, 0) + q[12:end] + answer, peer)
PY
ip netns add "$base"
ip -n "$base" link set lo up
mkdir -p "/etc/netns/$base"
echo "nameserver 127.0.0.53" > "/etc/netns/$base/resolv.conf"
ip netns exec "$base" python3 "$work/instant_dns.py" > "$work/instant_dns.log" 2>&1 &
pids+=($!)
for _ in $(seq 50); do grep -q ready "$work/instant_dns.log" && break; sleep 0.1; done
base_lookup=$(for _ in $(seq 20); do ip netns exec "$base" curl -4 -sS -o /dev/null --max-time 2 -w "%{time_namelookup}\n" http://web.test:8080/ 2>/dev/null || true; done |
  sort -n | awk '{a[NR] = $1} END {printf "%.2f", a[int((NR + 1) / 2)] * 1000}')
echo "curl's name lookup against an instant DNS server, no tun (median of 20): $base_lookup ms"

