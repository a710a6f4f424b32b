#!/usr/bin/env python3
"""Writes a sing-box binary rule set (.srs) from its published layout, for
the route tests and the fuzz corpus: written from the format description
(magic, version, zlib stream of rules; domains as a breadth-first LOUDS trie
of reversed names with '\\r' / '\\n' markers; IP sets as ranges), not from
sing-box's code.

  make_srs.py OUT.srs [BODY]   (BODY: the same rules uninflated, a fuzz seed)

The rule set written (version 2):
  rule 0: domain ["exact.example"], domain_suffix ["suffix.example",
          ".sub.example"], domain_keyword ["kw"], domain_regex ["^re[0-9]+\\."],
          port [443, 8443], port_range ["1000:2000"]
  rule 1: ip_cidr ["10.0.0.0/8", "192.168.1.0/24", "2001:db8::/32"]
  rule 2: logical or [ {network ["udp"]}, {source_ip_cidr ["172.16.0.0/12"]} ], invert
"""
import ipaddress
import struct
import sys
import zlib


def uvarint(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def strings(items):
    out = uvarint(len(items))
    for s in items:
        b = s.encode()
        out += uvarint(len(b)) + b
    return out


def ports(items):
    return uvarint(len(items)) + b"".join(struct.pack(">H", p) for p in items)


def ip_set(cidrs):
    ranges = []
    for c in cidrs:
        net = ipaddress.ip_network(c)
        ranges.append((net.network_address.packed, net.broadcast_address.packed))
    out = b"\x01" + struct.pack(">Q", len(ranges))
    for lo, hi in ranges:
        out += uvarint(len(lo)) + lo + uvarint(len(hi)) + hi
    return out


def bits_to_words(bits):
    words = [0] * ((len(bits) + 63) // 64)
    for i, b in enumerate(bits):
        if b:
            words[i >> 6] |= 1 << (i & 63)
    return words


def domain_trie(domains, suffixes):
    keys = set()
    for s in suffixes:
        if s.startswith("."):
            keys.add(s[::-1] + "\r")   # subdomains only
        else:
            keys.add(s[::-1] + "\n")   # itself and subdomains
    for d in domains:
        keys.add(d[::-1])
    keys = sorted(keys)
    # Breadth-first: each node lists its children's labels (a 0 bit each)
    # then a 1 bit; a node where a key ends is a leaf.
    leaves, bitmap, labels = [], [], bytearray()
    queue = [(0, len(keys), 0)]
    i = 0
    while i < len(queue):
        s, e, col = queue[i]
        leaf = col == len(keys[s])
        while len(leaves) <= i:
            leaves.append(0)
        if leaf:
            leaves[i] = 1
            s += 1
        j = s
        while j < e:
            frm = j
            while j < e and keys[j][col] == keys[frm][col]:
                j += 1
            queue.append((frm, j, col + 1))
            labels.append(ord(keys[frm][col]))
            bitmap.append(0)
        bitmap.append(1)
        i += 1
    lw, bw = bits_to_words(leaves), bits_to_words(bitmap)
    out = b"\x01" + uvarint(len(lw)) + b"".join(struct.pack(">Q", w) for w in lw)
    out += uvarint(len(bw)) + b"".join(struct.pack(">Q", w) for w in bw)
    out += uvarint(len(labels)) + bytes(labels)
    return out


def default_rule(items, invert=False):
    out = b"\x00" + b"".join(items) + b"\xff" + (b"\x01" if invert else b"\x00")
    return out


def main():
    r0 = default_rule([
        b"\x02" + domain_trie(["exact.example"], ["suffix.example", ".sub.example"]),
        b"\x03" + strings(["kw"]),
        b"\x04" + strings([r"^re[0-9]+\."]),
        b"\x09" + ports([443, 8443]),
        b"\x0a" + strings(["1000:2000"]),
    ])
    r1 = default_rule([b"\x06" + ip_set(["10.0.0.0/8", "192.168.1.0/24", "2001:db8::/32"])])
    sub_a = default_rule([b"\x01" + strings(["udp"])])
    sub_b = default_rule([b"\x05" + ip_set(["172.16.0.0/12"])])
    r2 = b"\x01" + b"\x01" + uvarint(2) + sub_a + sub_b + b"\x01"
    body = uvarint(3) + r0 + r1 + r2
    data = b"SRS" + bytes([2]) + zlib.compress(body, 9)
    with open(sys.argv[1], "wb") as f:
        f.write(data)
    if len(sys.argv) > 2:
        with open(sys.argv[2], "wb") as f:
            f.write(body)


if __name__ == "__main__":
    main()
