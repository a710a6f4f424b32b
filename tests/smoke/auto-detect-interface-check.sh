#!/usr/bin/env bash
# route.auto_detect_interface in a real process, in two network namespaces:
#   client ns: veth0 192.0.2.2/24, default via 192.0.2.1; a tun (tun0, no
#              reader) takes everything else through table 2022, as
#              auto_route would (rule 9000 lookup 2022: default dev tun0)
#   peer ns:   veth0p 192.0.2.1/24 and 198.51.100.1 with an HTTP server
# A plain curl to 198.51.100.1 goes into the tun and times out; through
# anytls (mixed inbound, direct outbound, auto_detect_interface) it arrives,
# since the direct dial is bound to veth0, the default route's interface.
# The log says "updated default interface veth0, index N".
#   usage: auto-detect-interface-check.sh [ANYTLS_BIN]   (exit 77: not root / no ip netns)
set -euo pipefail
bin=${1:-${ANYTLS_BIN:?usage: auto-detect-interface-check.sh ANYTLS_BIN}}
[ "$(id -u)" -eq 0 ] || { echo "skip: needs root (network namespaces)"; exit 77; }
ip netns list >/dev/null 2>&1 || { echo "skip: no ip netns"; exit 77; }
source "$(dirname "$0")/lib.sh"  # $work, $pids, cleanup at exit, wait_for
source "$(dirname "$0")/netns.sh"
fail() {
  echo "FAIL: $*"
  for f in "$work"/*.log; do echo "--- $f"; cat "$f"; done
  exit 1
}
a=anytls-tun-route-adi-$$
b=anytls-tun-route-adi-peer-$$
trap 'netns_end $a $b; cleanup' EXIT
ip netns add "$a"
ip netns add "$b"
in_a() { ip netns exec "$a" "$@"; }
in_b() { ip netns exec "$b" "$@"; }
ip -n "$a" link add veth0 type veth peer name veth0p netns "$b"
ip -n "$a" link set lo up
ip -n "$a" link set veth0 up
ip -n "$a" addr add 192.0.2.2/24 dev veth0
ip -n "$a" route add default via 192.0.2.1 dev veth0
ip -n "$a" tuntap add dev tun0 mode tun
ip -n "$a" addr add 172.19.0.1/30 dev tun0
ip -n "$a" link set tun0 up
ip -n "$a" route add default dev tun0 table 2022
ip -n "$a" rule add pref 9000 lookup 2022
ip -n "$b" link set lo up
ip -n "$b" link set veth0p up
ip -n "$b" addr add 192.0.2.1/24 dev veth0p
ip -n "$b" addr add 198.51.100.1/32 dev lo

mkdir -p "$work/www"
echo "reached over veth0" > "$work/www/hello.txt"
in_b python3 -m http.server 8000 --bind 198.51.100.1 --directory "$work/www" >/dev/null 2>&1 &
pids+=($!)
for _ in $(seq 50); do in_b curl -s -o /dev/null --max-time 1 http://198.51.100.1:8000/hello.txt && break; sleep 0.1; done

if in_a curl -s -o /dev/null --max-time 1 http://198.51.100.1:8000/hello.txt; then
  fail "without binding, the request should have gone into the tun"
fi
echo "ok   an unbound connection goes into the tun (no answer)"

cat > "$work/client.json" <<JSON
{
  "log": {"level": "info"},
  "inbounds": [{"type": "mixed", "tag": "mixed-in", "listen": "127.0.0.1", "listen_port": 1080}],
  "outbounds": [{"type": "direct", "tag": "direct"}],
  "route": {"auto_detect_interface": true, "final": "direct"}
}
JSON
in_a "$bin" run -c "$work/client.json" > "$work/client.log" 2>&1 &
pids+=($!)
wait_for "$work/client.log" "started"
grep -q "updated default interface veth0, index" "$work/client.log" || fail "no 'updated default interface veth0' in the log"
got=$(in_a curl -sS --max-time 5 --socks5-hostname 127.0.0.1:1080 http://198.51.100.1:8000/hello.txt) ||
  fail "the request through anytls failed"
[ "$got" = "reached over veth0" ] || fail "unexpected answer: $got"
echo "ok   through anytls with auto_detect_interface the dial is bound to veth0: $(grep -o 'updated default interface.*' "$work/client.log" | head -1)"
