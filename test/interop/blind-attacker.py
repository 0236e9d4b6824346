#!/usr/bin/env python3
"""An off-path attacker against one live TCP connection (issue 14, blind-fuzz.test.ts).

It knows what an attacker who guessed the ports knows: both hosts' addresses, the victim's MAC, and
the connection's 4-tuple; never its sequence or acknowledgement numbers. From the segment the
connection runs on (an AF_PACKET socket on the TAP's kernel side) it sends Oasis a stream of frames,
each with every checksum right so that it reaches the protocol cores:
- tcp:   segments on the live 4-tuple, random SEQ/ACK, random flags (RST, SYN, FIN, data, URG, any
         mix), options valid and mutated (bad lengths, SACK blocks, window scale, timestamps,
         unknown kinds, lengths 0/1, running past the header), sometimes a lying data offset;
- icmp:  Destination Unreachable (every code), Fragmentation Needed / Packet Too Big with tiny and
         silly MTUs, Time Exceeded, Parameter Problem, quoting a segment of the live connection
         (Oasis -> kernel) with a random sequence number;
- frag:  IPv4 fragments (or IPv6 Fragment headers) with random offsets, ids, MF bits and lengths,
         some ids from a small pool so that reassembly holds several pieces and sees overlaps;
- nd:    (reported as arp or nd) ARP replies and gratuitous announcements for other addresses of the subnet (IPv4), or
         unsolicited Neighbor Advertisements for other addresses (IPv6): never the kernel's or
         Oasis's own (taking over a live neighbour's binding is an on-path attack, not a blind
         one).

usage: blind-attacker.py blind IFNAME OASIS_MAC PEER_MAC FAMILY PEER_IP OASIS_IP PEER_PORT OASIS_PORT
                         RATE SECONDS SEED [KINDS]
    Sends about RATE frames a second until SECONDS pass or SIGTERM/SIGINT arrives, then prints one
    JSON line: {"sent": N, "seconds": S, "rate": R, "kinds": {...}, "errors": E, "seed": SEED}.
    KINDS (default all) narrows the storm to some of tcp,icmp,frag,nd (nd: ARP or NDP), to chase one.
       blind-attacker.py sweep IFNAME OASIS_MAC PEER_MAC FAMILY PEER_IP OASIS_IP PEER_PORT OASIS_PORT
                         RATE STEP SEED
    RFC 5961 §1.1's blind in-window attack: a RST every STEP bytes of the whole sequence space from a
    random start, and a SYN between each two, about RATE frames a second, one pass (or until
    SIGTERM); prints {"sent": N, "steps": I, "of": STEPS, "seconds": S, "rate": R, ...}.
       blind-attacker.py rst IFNAME OASIS_MAC PEER_MAC FAMILY PEER_IP OASIS_IP PEER_PORT OASIS_PORT
    The injector's sanity check, an on-path forger: waits for the 50th segment the peer sends on the
    4-tuple, then sends a RST whose SEQ is exactly the peer's SND.NXT (RFC 5961 §3.2: accepted).
    Prints one JSON line {"rst": SEQ}.

Random source addresses, where one is used, come from 198.18.0.0/15 and 2001:db8:ffff::/48 only
(RFC 2544 benchmarking, RFC 3849 documentation); the test runs this inside its own namespace, whose
only interface besides lo is the TAP.
"""
import json
import random
import signal
import socket
import struct
import sys
import time

from frames import csum, mac

ETH_IP4, ETH_ARP, ETH_IP6 = 0x0800, 0x0806, 0x86DD
FIN, SYN, RST, PSH, ACK, URG, ECE, CWR = 0x01, 0x02, 0x04, 0x08, 0x10, 0x20, 0x40, 0x80
BENCH_LO = 0xC6120000  # 198.18.0.0/15
KINDS = ("tcp", "icmp", "frag", "nd")


class Attacker:
    def __init__(self, args, rng):
        (self.ifname, oasis_mac, peer_mac, family, peer_ip, oasis_ip, peer_port, oasis_port) = args
        self.rng = rng
        self.v6 = family == "6"
        self.af = socket.AF_INET6 if self.v6 else socket.AF_INET
        self.oasis_mac, self.peer_mac = mac(oasis_mac), mac(peer_mac)
        self.peer = socket.inet_pton(self.af, peer_ip)
        self.oasis = socket.inet_pton(self.af, oasis_ip)
        self.peer_port, self.oasis_port = int(peer_port), int(oasis_port)
        # A few ids reused on purpose: reassembly then holds several pieces of one datagram.
        self.id_pool = [rng.getrandbits(32) for _ in range(6)]
        self.kinds = KINDS

    # --- helpers ---------------------------------------------------------------------------------

    def r32(self):
        return self.rng.getrandbits(32)

    def random_mac(self):
        # Locally administered unicast: never the kernel's or Oasis's.
        return bytes([0x0A]) + bytes(self.rng.getrandbits(8) for _ in range(5))

    def other_addr(self):
        """An address of the subnet that is neither the kernel's (host 1) nor Oasis's (host 2)."""
        if self.v6:
            iid = self.rng.getrandbits(64) | 0x100  # never ::1 or ::2
            return self.peer[:8] + struct.pack("!Q", iid)
        return self.peer[:3] + bytes([self.rng.randint(3, 254)])

    def bench_src(self):
        if self.v6:
            return bytes([0x20, 0x01, 0x0D, 0xB8, 0xFF, 0xFF]) + bytes(self.rng.getrandbits(8) for _ in range(10))
        return struct.pack("!I", BENCH_LO + self.rng.randrange(0x20000))

    def eth(self, payload, ethertype, dst=None, src=None):
        return (dst or self.oasis_mac) + (src or self.peer_mac) + struct.pack("!H", ethertype) + payload

    def ph(self, src, dst, proto, length):
        if self.v6:
            return src + dst + struct.pack("!IxxxB", length, proto)
        return src + dst + struct.pack("!BBH", 0, proto, length)

    def ip(self, proto, payload, src=None, dst=None, ident=None, frag=0x4000, hlim=64):
        src, dst = src or self.peer, dst or self.oasis
        if self.v6:
            return struct.pack("!IHBB", 6 << 28, len(payload), proto, hlim) + src + dst + payload
        ident = self.rng.getrandbits(16) if ident is None else ident
        hdr = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(payload), ident, frag, hlim, proto, 0, src, dst)
        return hdr[:10] + struct.pack("!H", csum(hdr)) + hdr[12:] + payload

    def tcp(self, src_port, dst_port, seq, ack, flags, options, payload, window, urg=0, off=None, src=None, dst=None):
        src, dst = src or self.peer, dst or self.oasis
        doff = (20 + len(options)) // 4 if off is None else off
        hdr = struct.pack("!HHIIBBHHH", src_port, dst_port, seq, ack, (doff & 0xF) << 4, flags, window, 0, urg) + options
        c = csum(self.ph(src, dst, 6, len(hdr) + len(payload)) + hdr + payload)
        return hdr[:16] + struct.pack("!H", c) + hdr[18:] + payload

    # --- TCP on the live 4-tuple -----------------------------------------------------------------

    def option(self):
        rng = self.rng
        k = rng.randrange(18)
        if k == 0:
            return bytes([2, 4]) + struct.pack("!H", rng.choice([0, 1, 48, 88, 536, 1460, 65535]))
        if k == 1:
            return bytes([2, rng.choice([2, 3, 5, 6])]) + b"\x05\xb4"  # MSS, length wrong
        if k == 2:
            return bytes([3, 3, rng.choice([0, 7, 14, 15, 200, 255])])
        if k == 3:
            return bytes([3, rng.choice([2, 4]), rng.getrandbits(8)])  # window scale, length wrong
        if k == 4:
            return bytes([4, 2])
        if k == 5:
            return bytes([4, rng.choice([3, 4])]) + b"\0\0"  # SACK-permitted, length wrong
        if k in (6, 7, 8):
            n = rng.randint(1, 4)
            blocks = b"".join(struct.pack("!II", self.r32(), self.r32()) for _ in range(n))
            if rng.random() < 0.3:  # edges close together: tiny blocks, left > right
                left = self.r32()
                blocks = b"".join(
                    struct.pack("!II", (left + i * 2) & 0xFFFFFFFF, (left + i * 2 + rng.randint(-2, 2)) & 0xFFFFFFFF)
                    for i in range(n)
                )
            return bytes([5, 2 + 8 * n]) + blocks
        if k == 9:
            n = rng.randint(0, 4)
            # SACK with a length that is no multiple of 8, or shorter than a block.
            return bytes([5, rng.choice([2, 3, 9, 10, 17, 33, 2 + 8 * n + rng.randint(1, 7)])]) + bytes(8 * n)
        if k in (10, 11):
            return bytes([8, 10]) + struct.pack("!II", self.r32(), rng.choice([0, self.r32()]))
        if k == 12:
            return bytes([8, rng.choice([2, 6, 9, 11, 12])]) + struct.pack("!II", self.r32(), self.r32())
        if k == 13:
            return bytes([1]) * rng.randint(1, 4)
        if k == 14:
            return bytes([0]) + bytes(rng.getrandbits(8) for _ in range(rng.randint(0, 6)))  # EOL, garbage
        if k == 15:
            kind = rng.choice([6, 7, 19, 28, 29, 30, 34, 253, 254, rng.randint(9, 252)])
            n = rng.randint(2, 12)
            return bytes([kind, n]) + bytes(rng.getrandbits(8) for _ in range(n - 2))
        if k == 16:
            return bytes([rng.choice([2, 3, 5, 8, 99]), rng.choice([0, 1])])  # a length that cannot be
        return bytes([rng.choice([2, 5, 8, 30]), rng.choice([41, 60, 255])])  # runs past the header

    def valid_options(self):
        """Well-formed options only, timestamps mostly: once they are on, RFC 7323 §3.2 drops a
        non-RST segment without them, and a random TSval passes PAWS half the time."""
        rng = self.rng
        out = b""
        if rng.random() < 0.8:
            out += b"\x01\x01" + bytes([8, 10]) + struct.pack("!II", self.r32(), self.r32())
        if rng.random() < 0.5:
            n = rng.randint(1, 3 if out else 4)
            out += b"\x01\x01" + bytes([5, 2 + 8 * n]) + b"".join(struct.pack("!II", self.r32(), self.r32()) for _ in range(n))
        if rng.random() < 0.1 and len(out) <= 36:
            out += bytes([2, 4]) + struct.pack("!H", rng.choice([48, 536, 1460]))
        if rng.random() < 0.1 and len(out) <= 36:
            out += bytes([1, 3, 3, rng.randint(0, 14)])
        return out

    def options(self):
        rng = self.rng
        x = rng.random()
        if x < 0.2:
            return b""
        if x < 0.6:
            return self.valid_options()
        out = b""
        for _ in range(rng.randint(1, 5)):
            out += self.option()
        out = out[:40]
        while len(out) % 4:
            out += rng.choice([b"\x01", b"\x00", bytes([rng.getrandbits(8)])])
        return out

    def tcp_frame(self):
        rng = self.rng
        flags = rng.choice(
            [
                RST, RST | ACK, RST | ACK, SYN, SYN | ACK, FIN | ACK, FIN, ACK, ACK, PSH | ACK, PSH | ACK,
                URG | ACK, URG | PSH | ACK, FIN | PSH | ACK, SYN | FIN, SYN | RST, RST | PSH, 0, ECE | CWR | ACK,
                rng.getrandbits(8),
            ]
        )
        data = (flags & (PSH | URG)) != 0 or (flags & RST and rng.random() < 0.2) or rng.random() < 0.15
        opts = self.options()
        room = (1440 if self.v6 else 1460) - len(opts)  # a 1500-byte MTU
        payload = bytes(rng.getrandbits(8) for _ in range(rng.randint(1, room))) if data else b""
        urg = rng.getrandbits(16) if flags & URG or rng.random() < 0.05 else 0
        off = None
        if rng.random() < 0.05:  # a data offset that lies: below 5, or past the segment's end
            off = rng.choice([0, 1, 4, 15, (20 + len(opts)) // 4 + 1])
        seg = self.tcp(self.peer_port, self.oasis_port, self.r32(), self.r32(), flags, opts, payload,
                       rng.getrandbits(16), urg, off)
        return "tcp", self.eth(self.ip(6, seg), ETH_IP6 if self.v6 else ETH_IP4)

    # --- ICMP errors quoting the live connection ---------------------------------------------------

    def quoted(self):
        """The start of a segment Oasis might have sent on the connection, with a random SEQ."""
        rng = self.rng
        seq = self.r32()
        if rng.random() < 0.1:  # the other direction: not a segment Oasis sent
            tcp = self.tcp(self.peer_port, self.oasis_port, seq, self.r32(), ACK, b"", b"", 502)
            src, dst = self.peer, self.oasis
        else:
            tcp = self.tcp(self.oasis_port, self.peer_port, seq, self.r32(), rng.choice([ACK, PSH | ACK, SYN | ACK, FIN | ACK]),
                           b"", b"", rng.getrandbits(16), src=self.oasis, dst=self.peer)
            src, dst = self.oasis, self.peer
        # RFC 792: the IP header and 8 bytes; RFC 1812 §4.3.2.3 / RFC 4443: as much as fits.
        keep = rng.choice([8, 8, 8, 20, 20, rng.randint(0, 7)])
        body = tcp[:keep] + (bytes(rng.getrandbits(8) for _ in range(rng.randint(0, 200))) if keep == 20 else b"")
        total = rng.choice([1500, 1500, 1480, 40 + rng.randint(0, 1460), 576])
        if self.v6:
            return struct.pack("!IHBB", 6 << 28, total - 40, 6, 64) + src + dst + body
        hdr = struct.pack("!BBHHHBBH4s4s", 0x45, 0, total, rng.getrandbits(16), 0x4000, 64, 6, 0, src, dst)
        return hdr[:10] + struct.pack("!H", csum(hdr)) + hdr[12:] + body

    def icmp_frame(self):
        rng = self.rng
        src = rng.choice([self.peer, self.bench_src()])
        tiny = rng.choice([0, 1, 48, 68, 69, 100, 296, 576, 1006, 1279, 1280, 1492, 1500, 9000, rng.getrandbits(16)])
        if self.v6:
            kind = rng.choice(["unreach", "unreach", "ptb", "ptb", "ptb", "time", "param"])
            if kind == "unreach":
                t, code, rest = 1, rng.randint(0, 7), 0
            elif kind == "ptb":
                t, code, rest = 2, 0, rng.choice([tiny, self.r32()])
            elif kind == "time":
                t, code, rest = 3, rng.randint(0, 1), 0
            else:
                t, code, rest = 4, rng.randint(0, 3), rng.randint(0, 60)
            body = struct.pack("!BBHI", t, code, 0, rest) + self.quoted()
            body = body[:1232]  # RFC 4443 §2.4(c): the error fits the minimum MTU
            c = csum(self.ph(src, self.oasis, 58, len(body)) + body)
            msg = body[:2] + struct.pack("!H", c) + body[4:]
            return "icmp-" + kind, self.eth(self.ip(58, msg, src=src), ETH_IP6)
        kind = rng.choice(["unreach", "unreach", "fragneeded", "fragneeded", "fragneeded", "time", "param", "quench"])
        if kind == "unreach":
            t, code, rest = 3, rng.choice([0, 1, 2, 3, 5, 6, 7, 9, 10, 11, 12, 13, 14, 15]), 0
        elif kind == "fragneeded":
            t, code, rest = 3, 4, tiny & 0xFFFF  # RFC 1191 §4: the next-hop MTU in the low 16 bits
        elif kind == "time":
            t, code, rest = 11, rng.randint(0, 1), 0
        elif kind == "param":
            t, code, rest = 12, rng.randint(0, 2), rng.getrandbits(8) << 24
        else:
            t, code, rest = 4, 0, 0
        body = struct.pack("!BBHI", t, code, 0, rest) + self.quoted()
        msg = body[:2] + struct.pack("!H", csum(body)) + body[4:]
        return "icmp-" + kind, self.eth(self.ip(1, msg, src=src), ETH_IP4)

    # --- fragments ----------------------------------------------------------------------------------

    def frag_frame(self):
        rng = self.rng
        src = rng.choice([self.peer, self.peer, self.bench_src()])
        pooled = rng.random() < 0.5
        ident = rng.choice(self.id_pool) if pooled else self.r32()
        offset = rng.choice([0, 0, rng.randrange(8192), rng.randrange(8192), 8191, 8000, 185])  # 8-byte units
        # A first piece always has MF: offset 0 without it is a whole datagram (or, for IPv6, an atomic
        # fragment, RFC 6946), made below with a checksum that holds.
        more = offset == 0 or rng.random() < 0.75
        n = 8 * rng.randint(1, 181)
        proto = rng.choice([6, 6, 17, 1, 58, 59, 253])
        if offset == 0 and proto == 6 and rng.random() < 0.5:
            # A first fragment carrying a segment of the live 4-tuple (its checksum covers the whole).
            head = self.tcp(self.peer_port, self.oasis_port, self.r32(), self.r32(), rng.choice([RST, ACK, SYN, FIN | ACK]),
                            b"", b"", rng.getrandbits(16), src=src)
            payload = head + bytes(rng.getrandbits(8) for _ in range(max(0, n - len(head))))
        else:
            payload = bytes(rng.getrandbits(8) for _ in range(n))
        if not more and rng.random() < 0.3:
            payload = payload[: len(payload) - rng.randint(1, 7)]  # a last piece need not be a multiple of 8
        if self.v6:
            if proto == 1:
                proto = 58
            if rng.random() < 0.1:
                # RFC 6946 atomic fragment: offset 0, M clear, a whole segment on the live 4-tuple.
                seg = self.tcp(self.peer_port, self.oasis_port, self.r32(), self.r32(), rng.choice([RST, ACK, SYN, RST | ACK]),
                               self.options(), b"", rng.getrandbits(16))
                fh = struct.pack("!BBHI", 6, 0, 0, ident)
                return "frag", self.eth(self.ip(44, fh + seg), ETH_IP6)
            fh = struct.pack("!BBHI", proto, 0, (offset << 3) | (1 if more else 0), ident)
            return "frag", self.eth(self.ip(44, fh + payload, src=src), ETH_IP6)
        if proto == 58:
            proto = 1
        flags = (0x2000 if more else 0) | offset
        if rng.random() < 0.05:
            flags |= 0x4000  # DF on a fragment: a contradiction
        return "frag", self.eth(self.ip(proto, payload, src=src, ident=ident & 0xFFFF, frag=flags), ETH_IP4)

    # --- neighbours ---------------------------------------------------------------------------------

    def neighbour_frame(self):
        rng = self.rng
        hw, addr = self.random_mac(), self.other_addr()
        if self.v6:
            flags = rng.choice([0x20000000, 0x60000000, 0xE0000000, 0x40000000, 0])  # O, S|O, R|S|O, S
            opts = bytes([2, 1]) + hw if rng.random() < 0.9 else bytes([2, 0]) + hw  # TLLA (length 0: bad)
            to_all = rng.random() < 0.5
            dst = bytes([0xFF, 2] + [0] * 13 + [1]) if to_all else self.oasis
            src = bytes([0xFE, 0x80] + [0] * 6) + addr[8:] if rng.random() < 0.5 else addr
            body = struct.pack("!BBHI", 136, 0, 0, flags) + addr + opts
            c = csum(self.ph(src, dst, 58, len(body)) + body)
            msg = body[:2] + struct.pack("!H", c) + body[4:]
            dmac = bytes([0x33, 0x33, 0, 0, 0, 1]) if to_all else self.oasis_mac
            # RFC 4861 §7.1.2: hop limit 255, or the advertisement is dropped before it is read.
            return "nd", self.eth(self.ip(58, msg, src=src, dst=dst, hlim=255), ETH_IP6, dst=dmac, src=hw)
        gratuitous = rng.random() < 0.3
        op = rng.choice([1, 2]) if gratuitous else 2
        target_hw = b"\xff" * 6 if gratuitous and op == 2 else (b"\0" * 6 if gratuitous else self.oasis_mac)
        target_ip = addr if gratuitous else self.oasis
        arp = struct.pack("!HHBBH", 1, ETH_IP4, 6, 4, op) + hw + addr + target_hw + target_ip
        dmac = b"\xff" * 6 if gratuitous else self.oasis_mac
        return "arp", self.eth(arp, ETH_ARP, dst=dmac, src=hw)

    def frame(self):
        x = self.rng.random()
        if x < 0.50 and "tcp" in self.kinds:
            return self.tcp_frame()
        if x < 0.75 and "icmp" in self.kinds:
            return self.icmp_frame()
        if x < 0.92 and "frag" in self.kinds:
            return self.frag_frame()
        if "nd" in self.kinds:
            return self.neighbour_frame()
        return self.frame()


def blind(args):
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    signal.signal(signal.SIGINT, lambda *_: stop.append(1))
    rate, seconds, seed = float(args[8]), float(args[9]), int(args[10])
    rng = random.Random(seed)
    a = Attacker(args[:8], rng)
    if len(args) > 11:
        a.kinds = tuple(k for k in args[11].split(",") if k in KINDS) or KINDS
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
    s.bind((a.ifname, 0))
    kinds, sent, errors = {}, 0, 0
    start = time.monotonic()
    print("started", flush=True)
    while not stop:
        now = time.monotonic()
        if now - start >= seconds:
            break
        # Paced in batches of 20: RATE a second on average.
        ahead = sent / rate - (now - start)
        if ahead > 0:
            time.sleep(min(ahead, 0.05))
            continue
        for _ in range(20):
            kind, f = a.frame()
            try:
                s.send(f)
                sent += 1
                kinds[kind] = kinds.get(kind, 0) + 1
            except OSError:
                errors += 1  # a full queue: the storm goes on
    took = time.monotonic() - start
    print(json.dumps({"sent": sent, "seconds": round(took, 3), "rate": round(sent / max(took, 1e-9)),
                      "kinds": kinds, "errors": errors, "seed": seed}), flush=True)


def sweep(args):
    """RFC 5961 §1.1 "blind in-window attacks" (Watson's "Slipping in the Window"): without knowing
    RCV.NXT, a RST and a SYN every STEP bytes of the whole sequence space; each of them lands in any
    receive window of at least STEP once per pass. Before RFC 5961 that reset the connection."""
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    signal.signal(signal.SIGINT, lambda *_: stop.append(1))
    rate, step, seed = float(args[8]), int(args[9]), int(args[10])
    rng = random.Random(seed)
    a = Attacker(args[:8], rng)
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
    s.bind((a.ifname, 0))
    ethertype = ETH_IP6 if a.v6 else ETH_IP4
    base, ts, steps = a.r32(), a.r32(), (1 << 32) // step
    sent, errors, i = 0, 0, 0
    start = time.monotonic()
    print("started", flush=True)
    while not stop and i < steps:
        ahead = sent / rate - (time.monotonic() - start)
        if ahead > 0:
            time.sleep(min(ahead, 0.05))
            continue
        for _ in range(10):
            if i >= steps:
                break
            seq = (base + i * step) & 0xFFFFFFFF
            i += 1
            # The SYN half a step further on, so that the two lattices interleave. It carries a
            # timestamp (RFC 7323 §3.2 drops a non-RST segment without one), TSval alternating
            # between two halves of the space: of two SYNs in a row one passes PAWS, whatever
            # TS.Recent is.
            syn_ts = bytes([1, 1, 8, 10]) + struct.pack("!II", (ts + (i & 1) * 0x80000000) & 0xFFFFFFFF, 0)
            for flags, at, opts in ((RST, seq, b""), (SYN, (seq + step // 2) & 0xFFFFFFFF, syn_ts)):
                seg = a.tcp(a.peer_port, a.oasis_port, at, 0, flags, opts, b"", 65535)
                try:
                    s.send(a.eth(a.ip(6, seg), ethertype))
                    sent += 1
                except OSError:
                    errors += 1
    took = time.monotonic() - start
    print(json.dumps({"sent": sent, "steps": i, "of": steps, "seconds": round(took, 3),
                      "rate": round(sent / max(took, 1e-9)), "errors": errors, "seed": seed}), flush=True)


def rst(args):
    a = Attacker(args[:8], random.Random(0))
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x0003))
    s.bind((a.ifname, 0))
    ethertype = ETH_IP6 if a.v6 else ETH_IP4
    print("started", flush=True)
    seen = 0
    while True:
        f = s.recv(65536)
        if f[:6] != a.oasis_mac or struct.unpack("!H", f[12:14])[0] != ethertype:
            continue
        if a.v6:
            if f[20] != 6 or f[22:38] != a.peer or f[38:54] != a.oasis:
                continue
            l4, ip_len = f[54:], 40 + struct.unpack("!H", f[18:20])[0]
            hl = 40
        else:
            hl = (f[14] & 0x0F) * 4
            if f[23] != 6 or f[26:30] != a.peer or f[30:34] != a.oasis:
                continue
            l4, ip_len = f[14 + hl:], struct.unpack("!H", f[16:18])[0]
        sport, dport, seq = struct.unpack("!HHI", l4[:8])
        if sport != a.peer_port or dport != a.oasis_port or l4[13] & (SYN | RST | FIN):
            continue
        # Strike well into the transfer: the request is sent and the peer is acknowledging data.
        seen += 1
        if seen < 50:
            continue
        data = ip_len - hl - (l4[12] >> 4) * 4
        nxt = (seq + data) & 0xFFFFFFFF  # the peer's SND.NXT: Oasis's RCV.NXT
        seg = a.tcp(a.peer_port, a.oasis_port, nxt, 0, RST, b"", b"", 0)
        s.send(a.eth(a.ip(6, seg), ethertype))
        print(json.dumps({"rst": nxt}), flush=True)
        return


if __name__ == "__main__":
    if sys.argv[1] == "blind":
        blind(sys.argv[2:])
    elif sys.argv[1] == "sweep":
        sweep(sys.argv[2:])
    elif sys.argv[1] == "rst":
        rst(sys.argv[2:])
    else:
        sys.exit("usage: blind-attacker.py blind|sweep|rst IFNAME ...")
