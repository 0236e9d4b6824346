#!/usr/bin/env python3
"""Sends a flood of overlapping and incomplete IPv4 fragments on an interface (AF_PACKET).

Usage: fragment-flood.py IFACE DST_MAC SRC_IP DST_IP COUNT SEED
Runs inside a test's own network namespace; every frame goes to the Oasis host under test.
"""
import random
import socket
import struct
import sys


def checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def fragment(src, dst, ident, offset, more, payload):
    flags = (0x2000 if more else 0) | (offset // 8)
    header = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(payload), ident, flags, 64, 17, 0, src, dst)
    header = header[:10] + struct.pack("!H", checksum(header)) + header[12:]
    return header + payload


def main():
    iface, dst_mac, src_ip, dst_ip, count, seed = sys.argv[1:7]
    rng = random.Random(int(seed))
    mac = bytes.fromhex(dst_mac.replace(":", ""))
    with open(f"/sys/class/net/{iface}/address") as f:
        src_mac = bytes.fromhex(f.read().strip().replace(":", ""))
    src, dst = socket.inet_aton(src_ip), socket.inet_aton(dst_ip)
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
    s.bind((iface, 0))
    eth = mac + src_mac + b"\x08\x00"
    for i in range(int(count)):
        ident = rng.randrange(65536)
        if i % 2 == 0:
            # Overlap: two fragments that share bytes, plus a last one.
            frames = [fragment(src, dst, ident, 0, True, bytes(1480)), fragment(src, dst, ident, 1000, True, bytes(1480)),
                      fragment(src, dst, ident, 2960, False, bytes(100))]
        else:
            # Incomplete: a middle fragment only, so the datagram waits until it expires.
            frames = [fragment(src, dst, ident, 8 * rng.randrange(1, 8000), True, bytes(1480))]
        for fr in frames:
            s.send(eth + fr)


main()
