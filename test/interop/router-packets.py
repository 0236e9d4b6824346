#!/usr/bin/env python3
"""The differential router test's traffic: a fixed list of hand-made IPv4 and IPv6 packets sent as
raw Ethernet frames (AF_PACKET) from a host to its router, so that every byte the router receives is
the same in every run, through whichever router (router-diff.test.ts sends them through Linux and
through Oasis and compares what reaches B).

usage: router-packets.py IFNAME SRC_MAC ROUTER_MAC SRC4 DST4 SRC6 DST6
Prints one line: `sent N forwardable M` (the packets with TTL/hop limit 1 must not be forwarded).

       router-packets.py --syn-flood DST4 PORT SECONDS RATE
A SYN flood for the firewall test (router-attack.test.ts), what `hping3 --flood --rand-source -S`
does, but every source address drawn from 198.18.0.0/15 only (RFC 2544's benchmarking block): IPv4
TCP SYNs to DST4:PORT from random sources and ports, about RATE a second for SECONDS, through a raw
IPv4 socket (the kernel routes them, so run it in a namespace whose only way out is the router).
Prints one line: `sent N in S s`.
"""
import random
import socket
import struct
import sys
import time

from frames import csum, mac

BENCH_LO, BENCH_HI = 0xC6120000, 0xC613FFFF  # 198.18.0.0 - 198.19.255.255


def syn_flood(dst, port, seconds, rate):
    d4 = socket.inet_pton(socket.AF_INET, dst)
    s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
    sent = 0
    start = time.monotonic()
    end = start + seconds
    batch = 100
    while True:
        now = time.monotonic()
        if now >= end:
            break
        # Paced in batches: at most `rate` a second on average.
        ahead = sent / rate - (now - start)
        if ahead > 0:
            time.sleep(ahead)
        for _ in range(batch):
            src = random.randint(BENCH_LO + 1, BENCH_HI - 1)
            assert BENCH_LO <= src <= BENCH_HI
            s4 = struct.pack("!I", src)
            sport = random.randint(1024, 65535)
            hdr = struct.pack("!HHIIBBHHH", sport, port, random.getrandbits(32), 0, 5 << 4, 0x02, 64240, 0, 0)
            c = csum(s4 + d4 + struct.pack("!BBH", 0, 6, 20) + hdr)
            seg = hdr[:16] + struct.pack("!H", c) + hdr[18:]
            ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 40, random.getrandbits(16), 0x4000, 64, 6, 0, s4, d4)
            ip = ip[:10] + struct.pack("!H", csum(ip)) + ip[12:]
            try:
                s.sendto(ip + seg, (dst, 0))
                sent += 1
            except OSError:
                pass  # a full queue: the flood goes on
    print("sent %d in %.1f s" % (sent, time.monotonic() - start), flush=True)


if sys.argv[1] == "--syn-flood":
    syn_flood(sys.argv[2], int(sys.argv[3]), float(sys.argv[4]), float(sys.argv[5]))
    sys.exit(0)

ifname, src_mac, router_mac, src4, dst4, src6, dst6 = sys.argv[1:8]
S4, D4 = socket.inet_pton(socket.AF_INET, src4), socket.inet_pton(socket.AF_INET, dst4)
S6, D6 = socket.inet_pton(socket.AF_INET6, src6), socket.inet_pton(socket.AF_INET6, dst6)


def ph4(proto, length):
    return S4 + D4 + struct.pack("!BBH", 0, proto, length)


def ph6(proto, length):
    return S6 + D6 + struct.pack("!IxxxB", length, proto)


def udp(sport, dport, payload, ph, zero_sum=False):
    length = 8 + len(payload)
    hdr = struct.pack("!HHHH", sport, dport, length, 0)
    if zero_sum:
        return hdr + payload
    c = csum(ph(17, length) + hdr + payload) or 0xFFFF
    return struct.pack("!HHHH", sport, dport, length, c) + payload


def tcp(sport, dport, seq, ack, flags, options, payload, ph):
    off = (20 + len(options)) // 4
    hdr = struct.pack("!HHIIBBHHH", sport, dport, seq, ack, off << 4, flags, 64240, 0, 0) + options
    c = csum(ph(6, len(hdr) + len(payload)) + hdr + payload)
    return hdr[:16] + struct.pack("!H", c) + hdr[18:] + payload


def icmp_echo(ident, seq, payload, ptype=8, ph=None):
    body = struct.pack("!BBHHH", ptype, 0, 0, ident, seq) + payload
    c = csum((ph(58, len(body)) if ph else b"") + body)
    return body[:2] + struct.pack("!H", c) + body[4:]


def ip4(proto, payload, ident, ttl=64, tos=0, df=True, mf=False, frag_off=0, options=b""):
    ihl = 5 + len(options) // 4
    flags = (0x4000 if df else 0) | (0x2000 if mf else 0) | (frag_off // 8)
    hdr = struct.pack("!BBHHHBBH4s4s", 0x40 | ihl, tos, ihl * 4 + len(payload), ident, flags, ttl, proto, 0, S4, D4)
    hdr += options
    return hdr[:10] + struct.pack("!H", csum(hdr)) + hdr[12:] + payload


def ip6(nh, payload, hlim=64, tc=0, flow=0):
    return struct.pack("!IHBB", (6 << 28) | (tc << 20) | flow, len(payload), nh, hlim) + S6 + D6 + payload


def pattern(n, seed):
    return bytes((seed + i * 7) & 0xFF for i in range(n))


SYN_OPTS = bytes([2, 4, 0x05, 0xB4, 4, 2, 8, 10, 0, 0, 0x12, 0x34, 0, 0, 0, 0, 1, 3, 3, 7])
SYN6_OPTS = bytes([2, 4, 0x05, 0xA0]) + SYN_OPTS[4:]

packets = []  # (ethertype, ip packet, forwardable)


def v4(pkt, fwd=True):
    packets.append((0x0800, pkt, fwd))


def v6(pkt, fwd=True):
    packets.append((0x86DD, pkt, fwd))


# IPv4
v4(ip4(17, udp(40001, 9, pattern(100, 1), ph4), 0x1001))
v4(ip4(17, udp(40002, 9, pattern(1472, 2), ph4), 0x1002))  # exactly the 1500-byte MTU
v4(ip4(17, udp(40003, 9, pattern(1, 3), ph4), 0x1003))  # a frame shorter than Ethernet's minimum
v4(ip4(17, udp(40004, 9, pattern(64, 4), ph4), 0x1004, tos=0xB8 | 0x02))  # DSCP EF, ECT(0)
v4(ip4(17, udp(40005, 9, pattern(64, 5), ph4, zero_sum=True), 0x1005))  # RFC 768: no checksum
v4(ip4(1, icmp_echo(0x4242, 1, pattern(56, 6)), 0x1006))
v4(ip4(6, tcp(40007, 9, 1000, 0, 0x02, SYN_OPTS, b"", ph4), 0x1007))
v4(ip4(6, tcp(40008, 9, 5000, 7000, 0x18, b"", pattern(500, 8), ph4), 0x1008))
v4(ip4(17, udp(40009, 9, pattern(64, 9), ph4), 0x1009, options=bytes([1, 1, 1, 0])))  # NOPs, EOL
big = udp(40010, 9, pattern(1992, 10), ph4)  # 2000 bytes of UDP in two fragments, DF clear
v4(ip4(17, big[:1480], 0x100A, df=False, mf=True))
v4(ip4(17, big[1480:], 0x100A, df=False, frag_off=1480))
v4(ip4(253, pattern(64, 11), 0x100B))  # RFC 3692 experimental protocol: forwarded all the same
v4(ip4(17, udp(40012, 9, pattern(32, 12), ph4), 0x100C, ttl=2))  # arrives with TTL 1
v4(ip4(17, udp(40013, 9, pattern(32, 13), ph4), 0x100D, ttl=1), fwd=False)  # Time Exceeded instead

# IPv6
v6(ip6(17, udp(40101, 9, pattern(100, 21), ph6)))
v6(ip6(17, udp(40102, 9, pattern(1452, 22), ph6)))  # exactly the 1500-byte MTU
v6(ip6(17, udp(40103, 9, pattern(64, 23), ph6), tc=0xB8 | 0x01, flow=0x12345))
v6(ip6(58, icmp_echo(0x4343, 1, pattern(56, 24), ptype=128, ph=ph6)))
v6(ip6(6, tcp(40105, 9, 1000, 0, 0x02, SYN6_OPTS, b"", ph6)))
v6(ip6(6, tcp(40106, 9, 5000, 7000, 0x18, b"", pattern(500, 26), ph6)))
big6 = udp(40107, 9, pattern(1992, 27), ph6)  # a fragmented datagram: routers pass fragments on


def frag6(nh, off, more, ident, chunk):
    return struct.pack("!BBHI", nh, 0, off | (1 if more else 0), ident) + chunk


v6(ip6(44, frag6(17, 0, True, 0x6001, big6[:1400])))
v6(ip6(44, frag6(17, 1400, False, 0x6001, big6[1400:])))
hbh = struct.pack("!BB", 17, 0) + bytes([1, 4, 0, 0, 0, 0])  # hop-by-hop options: PadN only
v6(ip6(0, hbh + udp(40108, 9, pattern(64, 28), ph6)))
dst_opts = struct.pack("!BB", 17, 0) + bytes([1, 4, 0, 0, 0, 0])  # for B, not for the router
v6(ip6(60, dst_opts + udp(40109, 9, pattern(64, 29), ph6)))
v6(ip6(253, pattern(64, 30)))  # RFC 3692 experimental next header
v6(ip6(17, udp(40111, 9, pattern(32, 31), ph6), hlim=2))  # arrives with hop limit 1
v6(ip6(17, udp(40112, 9, pattern(32, 32), ph6), hlim=1), fwd=False)  # Time Exceeded instead

s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
s.bind((ifname, 0))
for ethertype, pkt, _ in packets:
    s.send(mac(router_mac) + mac(src_mac) + struct.pack("!H", ethertype) + pkt)
    # One at a time: the comparison is packet by packet, and neither router should see a burst.
    time.sleep(0.01)
print("sent %d forwardable %d" % (len(packets), sum(1 for p in packets if p[2])), flush=True)
