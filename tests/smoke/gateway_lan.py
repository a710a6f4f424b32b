"""The LAN host of gateway-check.sh: plain sockets to WAN addresses, which
only the router's redirect / tproxy / direct inbounds can carry (the router
does not forward). Prints one "ok ..." line per check, exits 1 at the first
failure.
  usage: gateway_lan.py ADDR DNS_SERVER EXPECTED_SHA256 [label]"""
import hashlib
import os
import socket
import struct
import sys
import time

addr, dns_server, expected = sys.argv[1], sys.argv[2], sys.argv[3]
label = sys.argv[4] if len(sys.argv) > 4 else ""
family = socket.AF_INET6 if ":" in addr else socket.AF_INET


def fail(what):
    print("FAIL " + label + what, flush=True)
    sys.exit(1)


def http_get(port, path):
    with socket.create_connection((addr, port), timeout=5) as s:
        host = f"[{addr}]:{port}" if ":" in addr else f"{addr}:{port}"
        s.sendall(f"GET {path} HTTP/1.0\r\nHost: {host}\r\n\r\n".encode())
        parts = []
        while True:
            chunk = s.recv(1 << 20)
            if not chunk:
                break
            parts.append(chunk)
        data = b"".join(parts)
    head, _, body = data.partition(b"\r\n\r\n")
    if not head.startswith(b"HTTP/1.0 200"):
        fail(f"tcp {addr}:{port}: {head[:40]!r}")
    return body


for port, via in ((8080, "redirect"), (8081, "tproxy"), (5336, "tproxy, to the port the inbound listens on")):
    start = time.monotonic()
    body = http_get(port, "/blob.bin")
    took = time.monotonic() - start
    got = hashlib.sha256(body).hexdigest()
    if got != expected:
        fail(f"tcp {addr}:{port} via {via}: {len(body)} bytes, sha256 differs")
    rate = len(body) / took / 1e6 if took > 0 else 0
    print(f"ok   {label}tcp {addr}:{port} via {via}: {len(body)} bytes, sha256 equal ({took:.2f} s, {rate:.0f} MB/s)",
          flush=True)

# UDP through tproxy: the socket is connected, so a reply from any other
# address than the one sent to would never arrive here.
u = socket.socket(family, socket.SOCK_DGRAM)
u.settimeout(3)
u.connect((addr, 9000))
sent = 0
for i, size in enumerate((1, 100, 1200, 1400, 8000, 30000) * 4):
    payload = os.urandom(size)
    u.send(payload)
    try:
        reply = u.recv(65535)
    except socket.timeout:
        fail(f"udp {addr}:9000 via tproxy: datagram {i} ({size} bytes) got no reply")
    if reply != payload:
        fail(f"udp {addr}:9000 via tproxy: datagram {i} came back different")
    sent += size
print(f"ok   {label}udp {addr}:9000 via tproxy: 24 datagrams, {sent} bytes each way, replies from {addr}", flush=True)

# DNS to the router: port 53 is redirected to dns-in (homeproxy's: routed to
# the dns outbound, answered by the DNS module), port 5353 to a direct
# inbound that sends it to its override_address.
for port, via in ((53, "dns-in (hijack-dns)"), (5353, "direct (override_address)")):
    d = socket.socket(socket.AF_INET6 if ":" in dns_server else socket.AF_INET, socket.SOCK_DGRAM)
    d.settimeout(3)
    d.connect((dns_server, port))
    name = b"".join(bytes([len(p)]) + p for p in b"example.lan".split(b".")) + b"\0"
    d.send(struct.pack("!HHHHHH", 0x1234, 0x0100, 1, 0, 0, 0) + name + struct.pack("!HH", 1, 1))
    try:
        answer = d.recv(4096)
    except socket.timeout:
        fail(f"dns {dns_server}:{port} via {via}: no answer")
    if answer[:2] != b"\x12\x34" or socket.inet_aton("203.0.113.7") not in answer:
        fail(f"dns {dns_server}:{port} via {via}: unexpected answer {answer!r}")
    print(f"ok   {label}dns {dns_server}:{port} via {via}: example.lan A 203.0.113.7", flush=True)
