#!/usr/bin/env python3
"""Writes two small hostile .srs files (the layout of make_srs.py) for the
route tests and the fuzz corpus: each decodes into far more memory than its
size, and a decoder must refuse it within a bounded amount of memory.

  make_hostile_srs.py DIR

chain.srs   one rule whose domain trie is a single chain of 65535 labels
            'a', every node a leaf: 65535 keys of lengths 1..65535, about
            2 GiB if each key is spelled out (131 bytes compressed).
broom.srs   one rule whose trie is a chain of 230 labels, then four levels
            of 62, 62, 62 and 20 children: 4.8 million names of 234 bytes,
            each no longer than a DNS name, 1.2 GiB spelled out (51 KB).
ipv6.srs    one rule with ip_cidr: the IPv6 range [::1, ffff:..:fffe] 25000
            times; written as CIDRs it is 254 prefixes each, 6.35 million
            prefix strings (~500 MB) from a 1.6 KB file.
"""
import os
import struct
import sys
import zlib

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_srs import uvarint  # noqa: E402


def words(bits, count):
    w = [0] * ((count + 63) // 64)
    for i in bits:
        w[i >> 6] |= 1 << (i & 63)
    return b"".join(struct.pack(">Q", x) for x in w)


def pack(bitstring):
    """'0'/'1' per bit, bit i first, as big-endian u64 words (bit i of word i // 64)."""
    n = (len(bitstring) + 63) // 64
    le = int(bitstring[::-1], 2).to_bytes(n * 8, "little") if bitstring else b""
    return b"".join(le[8 * j:8 * j + 8][::-1] for j in range(n)), n


def broom_trie(chain, fanouts):
    alphabet = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
    # Breadth-first: the chain's nodes, then each level's nodes in turn.
    bitmap, labels = ["01" * chain], bytearray(b"a" * chain)
    width = 1
    for f in fanouts:
        bitmap.append(("0" * f + "1") * width)
        labels += alphabet[:f] * width
        width *= f
    bitmap.append("1" * width)  # the last level: no children
    total = len(labels) + 1
    leaves = "0" * (total - width) + "1" * width
    lw, nl = pack(leaves)
    bw, nb = pack("".join(bitmap))
    return b"\x01" + uvarint(nl) + lw + uvarint(nb) + bw + uvarint(len(labels)) + bytes(labels)


def chain_trie(n):
    # Nodes 0..n breadth-first; node k < n has one child (a 0 bit then the
    # 1 bit ending its run), node n none (a lone 1 bit).
    bitmap_bits = 2 * n + 1
    ones = [2 * k + 1 for k in range(n)] + [2 * n]
    leaves = range(1, n + 1)
    lw = words(leaves, n + 1)
    bw = words(ones, bitmap_bits)
    out = b"\x01" + uvarint(len(lw) // 8) + lw + uvarint(len(bw) // 8) + bw
    out += uvarint(n) + b"a" * n
    return out


def ipv6_ranges(n):
    out = b"\x01" + struct.pack(">Q", n)
    lo = (1).to_bytes(16, "big")                # ::1 ...
    hi = ((1 << 128) - 2).to_bytes(16, "big")   # ... to ffff:...:fffe
    for _ in range(n):
        out += uvarint(16) + lo + uvarint(16) + hi
    return out


def rule(item):
    return b"\x00" + item + b"\xff\x00"


def write(path, body):
    with open(path, "wb") as f:
        f.write(b"SRS" + bytes([2]) + zlib.compress(body, 9))


def main():
    out = sys.argv[1]
    write(os.path.join(out, "chain.srs"), uvarint(1) + rule(b"\x02" + chain_trie(65535)))
    write(os.path.join(out, "broom.srs"), uvarint(1) + rule(b"\x02" + broom_trie(230, [62, 62, 62, 20])))
    write(os.path.join(out, "ipv6.srs"), uvarint(1) + rule(b"\x06" + ipv6_ranges(25000)))


if __name__ == "__main__":
    main()
