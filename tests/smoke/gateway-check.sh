#!/usr/bin/env bash
# The gateway inbounds in network namespaces, as a router runs them:
#
#   LAN host ---veth--- router ---veth--- WAN
#   10.77.1.2           10.77.1.1 | 10.77.2.1      10.77.2.2, and on lo:
#   fd77:1::2           fd77:1::1 | fd77:2::1      198.51.100.10 / 2001:db8:100::10 (http :8080 :8081, udp echo :9000)
#                                                 198.51.100.53 / 2001:db8:100::53 (DNS :53)
#
# The LAN host's default route is the router, which does not forward: only
# `anytls run` there carries its traffic, through the nftables rules a
# homeproxy or tproxy guide writes (redirect: nat prerouting `redirect to
# :port`; tproxy: mangle prerouting `tproxy to :port meta mark set 1` with
# `ip rule fwmark 1 lookup 100` + `local default dev lo table 100`; DNS to
# the router's port 53: `redirect to` homeproxy's dns-in, answered by
# hijack-dns; port 5353: a direct inbound with override_address). The
# router runs homeproxy's generated client config (gateway-homeproxy.json,
# its proxy swapped for anytls) merged with a guide's tproxy inbound; its
# outbound is anytls to our own server in the WAN namespace. Checks, IPv4 and IPv6: HTTP by IP through redirect and
# tproxy (sha256 of 1 MiB), UDP echo through tproxy from a connected socket
# (a reply not from the original destination would not arrive), DNS through
# dns-in, and every nftables counter saw packets.
#   usage: [GATEWAY_BLOB_MB=N] gateway-check.sh ANYTLS_BIN   (root; exit 77 = skipped)
set -euo pipefail
bin=${1:?usage: gateway-check.sh ANYTLS_BIN}
here=$(cd "$(dirname "$0")" && pwd)
skip() { echo "SKIP: $*"; exit 77; }
[ "$(id -u)" -eq 0 ] || skip "needs root (network namespaces, nftables)"
command -v nft >/dev/null || skip "nft not installed (Debian nftables)"
command -v ip >/dev/null || skip "ip not installed (Debian iproute2)"

# Debian's python3 first: a pyenv shim costs a second per start.
py=$( [ -x /usr/bin/python3 ] && echo /usr/bin/python3 || command -v python3 )
lan=gateway-lan-$$ rtr=gateway-rtr-$$ wan=gateway-wan-$$
work=$(mktemp -d)
pids=()
source "$here/netns.sh"
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  netns_end "$lan" "$rtr" "$wan"
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
fail() {
  echo "FAIL: $*"
  netns_end "$lan" "$rtr" "$wan"  # the logs complete
  for f in "$work"/*.log; do echo "--- $f"; tail -n 60 "$f"; done
  exit 1
}
ip netns add "$lan" 2>/dev/null || skip "ip netns add failed (no namespaces here)"
ip netns add "$rtr"
ip netns add "$wan"
in_ns() { local ns=$1; shift; ip netns exec "$ns" "$@"; }

# Links are created inside the namespaces: nothing touches the host's own.
ip link add lan0 netns "$lan" type veth peer name rlan netns "$rtr"
ip link add rwan netns "$rtr" type veth peer name wan0 netns "$wan"
in_ns "$lan" sh -e -c '
  ip link set lo up; ip link set lan0 up
  ip addr add 10.77.1.2/24 dev lan0; ip -6 addr add fd77:1::2/64 dev lan0 nodad
  ip route add default via 10.77.1.1; ip -6 route add default via fd77:1::1'
in_ns "$rtr" sh -e -c '
  ip link set lo up; ip link set rlan up; ip link set rwan up
  ip addr add 10.77.1.1/24 dev rlan; ip -6 addr add fd77:1::1/64 dev rlan nodad
  ip addr add 10.77.2.1/24 dev rwan; ip -6 addr add fd77:2::1/64 dev rwan nodad
  ip route add 198.51.100.0/24 via 10.77.2.2; ip -6 route add 2001:db8:100::/64 via fd77:2::2
  sysctl -qw net.ipv4.ip_forward=0 net.ipv6.conf.all.forwarding=0
  sysctl -qw net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.rlan.rp_filter=0
  ip rule add fwmark 1 lookup 100; ip route add local default dev lo table 100
  ip -6 rule add fwmark 1 lookup 100; ip -6 route add local default dev lo table 100'
in_ns "$wan" sh -e -c '
  ip link set lo up; ip link set wan0 up
  ip addr add 10.77.2.2/24 dev wan0; ip -6 addr add fd77:2::2/64 dev wan0 nodad
  ip addr add 198.51.100.10/32 dev lo; ip addr add 198.51.100.53/32 dev lo
  ip -6 addr add 2001:db8:100::10/128 dev lo nodad; ip -6 addr add 2001:db8:100::53/128 dev lo nodad'

in_ns "$rtr" nft -f - <<'NFT'
table inet anytls_gateway_test {
  counter redirect_v4 {}
  counter redirect_v6 {}
  counter dns_v4 {}
  counter dns_v6 {}
  counter dns_override_v4 {}
  counter dns_override_v6 {}
  counter tproxy_tcp_v4 {}
  counter tproxy_tcp_v6 {}
  counter tproxy_udp_v4 {}
  counter tproxy_udp_v6 {}
  chain dstnat {
    type nat hook prerouting priority dstnat; policy accept;
    iifname "rlan" meta nfproto ipv4 tcp dport 8080 counter name "redirect_v4" redirect to :5331
    iifname "rlan" meta nfproto ipv6 tcp dport 8080 counter name "redirect_v6" redirect to :5331
    iifname "rlan" meta nfproto ipv4 udp dport 53 counter name "dns_v4" redirect to :5333
    iifname "rlan" meta nfproto ipv6 udp dport 53 counter name "dns_v6" redirect to :5333
    iifname "rlan" meta nfproto ipv4 udp dport 5353 counter name "dns_override_v4" redirect to :5335
    iifname "rlan" meta nfproto ipv6 udp dport 5353 counter name "dns_override_v6" redirect to :5335
  }
  chain mangle_prerouting {
    type filter hook prerouting priority mangle; policy accept;
    iifname "rlan" meta nfproto ipv4 tcp dport { 8081, 5336 } counter name "tproxy_tcp_v4" tproxy ip to :5336 meta mark set 1 accept
    iifname "rlan" meta nfproto ipv6 tcp dport { 8081, 5336 } counter name "tproxy_tcp_v6" tproxy ip6 to :5336 meta mark set 1 accept
    iifname "rlan" meta nfproto ipv4 udp dport 9000 counter name "tproxy_udp_v4" tproxy ip to :5332 meta mark set 1 accept
    iifname "rlan" meta nfproto ipv6 udp dport 9000 counter name "tproxy_udp_v6" tproxy ip6 to :5332 meta mark set 1 accept
  }
}
NFT

# Without CAP_NET_ADMIN / CAP_NET_RAW, IP_TRANSPARENT is refused: the start
# fails at once, naming the inbound and the reason.
if command -v setpriv >/dev/null; then
  cat > "$work/nocap.json" <<'JSON'
{"inbounds": [{"type": "tproxy", "tag": "tproxy-in", "listen": "127.0.0.1", "listen_port": 0}],
 "outbounds": [{"type": "direct", "tag": "direct"}]}
JSON
  set +e
  timeout 10 setpriv --bounding-set -net_admin,-net_raw --inh-caps -net_admin,-net_raw \
    "$bin" run -c "$work/nocap.json" > "$work/nocap.log" 2>&1
  rc=$?
  set -e
  [ "$rc" -ne 0 ] && [ "$rc" -ne 124 ] || fail "tproxy without CAP_NET_ADMIN: exit $rc"
  grep -q "inbound tproxy-in: .*IP_TRANSPARENT needs CAP_NET_ADMIN" "$work/nocap.log" ||
    fail "tproxy without CAP_NET_ADMIN: the error does not name the inbound and the reason"
  echo "ok   without CAP_NET_ADMIN: exit $rc, $(grep -m1 FATAL "$work/nocap.log")"
fi

"$bin" generate tls-keypair gateway.test --out-dir "$work" --file-name gw >/dev/null
cat > "$work/wan.json" <<JSON
{
  "log": {"level": "info"},
  "inbounds": [{"type": "anytls", "tag": "anytls-in", "listen": "10.77.2.2", "listen_port": 8443,
                "users": [{"name": "router", "password": "gateway-test"}],
                "tls": {"enabled": true, "server_name": "gateway.test",
                        "certificate_path": "$work/gw.crt", "key_path": "$work/gw.key"}}],
  "outbounds": [{"type": "direct", "tag": "direct"}]
}
JSON
# The router: homeproxy's generated client config (redirect-in, tproxy-in for
# UDP, dns-in routed to the dns outbound, i.e. hijack-dns) with its proxy
# swapped for anytls, plus what a tproxy guide writes (one tproxy inbound
# for TCP and UDP) and a direct inbound with override_address, merged in.
sed -e "s#@LOG@#$work/router.log#" -e "s#@CERT@#$work/gw.crt#" "$here/gateway-homeproxy.json" > "$work/homeproxy.json"
cat > "$work/router.json" <<JSON
{
  "log": {"level": "debug"},
  "inbounds": [
    {"type": "tproxy", "tag": "tproxy-guide-in", "listen": "::", "listen_port": 5336, "network": ["tcp", "udp"]},
    {"type": "direct", "tag": "dns-override-in", "listen": "::", "listen_port": 5335, "network": "udp",
     "override_address": "198.51.100.53", "override_port": 53}
  ]
}
JSON
"$bin" check -c "$work/homeproxy.json" -c "$work/router.json" || fail "anytls check refused the router's config"

mkdir -p "$work/www"
# GATEWAY_BLOB_MB: a larger download, to measure (default 1 MiB).
head -c $((${GATEWAY_BLOB_MB:-1} * 1024 * 1024)) /dev/urandom > "$work/www/blob.bin"
sum=$(sha256sum "$work/www/blob.bin" | cut -d' ' -f1)
for a in "198.51.100.10 198.51.100.53" "2001:db8:100::10 2001:db8:100::53"; do
  set -- $a
  in_ns "$wan" "$py" "$here/gateway_wan.py" "$work/www" "$1" "$2" > "$work/wan-py-$1.log" 2>&1 &
  pids+=($!)
done
in_ns "$wan" "$bin" run -c "$work/wan.json" > "$work/wan.log" 2>&1 &
pids+=($!)
in_ns "$rtr" "$bin" run -c "$work/homeproxy.json" -c "$work/router.json" > "$work/router-stderr.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do
  [ "$(cat "$work"/wan-py-*.log | grep -c ready)" -eq 2 ] && grep -q "started" "$work/wan.log" &&
    grep -q "started" "$work/router.log" && break
  sleep 0.1
done
grep -q "started" "$work/router.log" || fail "the router's anytls did not start"
grep -q "inbound/tproxy\[tproxy-in\]: udp server started at \[::\]:5332" "$work/router.log" ||
  fail "no 'udp server started' line for tproxy-in"
! grep -q "inbound/tproxy\[tproxy-in\]: tcp server" "$work/router.log" || fail "tproxy-in (network udp) listens on TCP"

in_ns "$lan" "$py" "$here/gateway_lan.py" 198.51.100.10 10.77.1.1 "$sum" "IPv4 " || fail "IPv4 through the router"
in_ns "$lan" "$py" "$here/gateway_lan.py" 2001:db8:100::10 fd77:1::1 "$sum" "IPv6 " || fail "IPv6 through the router"

for c in redirect_v4 redirect_v6 dns_v4 dns_v6 dns_override_v4 dns_override_v6 tproxy_tcp_v4 tproxy_tcp_v6 tproxy_udp_v4 tproxy_udp_v6; do
  packets=$(in_ns "$rtr" nft list counter inet anytls_gateway_test "$c" | sed -n 's/.*packets \([0-9]*\).*/\1/p')
  [ "${packets:-0}" -gt 0 ] || fail "nftables counter $c saw no packets"
  echo "ok   nftables counter $c: $packets packets"
done
udp=$(in_ns "$rtr" nft list counter inet anytls_gateway_test tproxy_udp_v4 | sed -n 's/.*packets \([0-9]*\).*/\1/p')
[ "$udp" -eq 24 ] || fail "tproxy_udp_v4 counted $udp datagrams, the LAN host sent 24"
for line in "inbound/redirect\[redirect-in\]: inbound connection to 198.51.100.10:8080" \
            "inbound/redirect\[redirect-in\]: sniffed protocol: http" \
            "inbound/tproxy\[tproxy-guide-in\]: inbound connection to 198.51.100.10:8081" \
            "inbound/tproxy\[tproxy-guide-in\]: inbound connection to 198.51.100.10:5336" \
            "inbound/tproxy\[tproxy-in\]: inbound packet connection to 198.51.100.10:9000" \
            "inbound/tproxy\[tproxy-in\]: inbound packet connection to \[2001:db8:100::10\]:9000" \
            "inbound/direct\[dns-in\]: inbound packet connection to \[::\]:5333" \
            "inbound/direct\[dns-in\]: packet connection to \[::\]:5333 hijacked by the DNS module" \
            "inbound/direct\[dns-override-in\]: inbound packet connection to 198.51.100.53:53"; do
  grep -q "$line" "$work/router.log" || fail "the router's log has no line matching: $line"
done
echo "ok   the router's log names each inbound and destination"
