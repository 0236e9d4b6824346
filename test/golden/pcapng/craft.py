#!/usr/bin/env python3
"""Crafts crafted.pcapng, a pcapng file no capture tool writes as a whole: a big-endian section,
then a little-endian one, holding every block a reader meets (draft-ietf-opsawg-pcapng):

  section 1, big-endian ('>'):
    Interface 0: Ethernet, snaplen 262144, if_tsresol 9 (nanoseconds)
    Interface 1: Ethernet, snaplen 96, if_tsresol 0x94 (2^-20 s), if_name
    Enhanced Packet Blocks on both interfaces (one with an epb_flags option, one cut to 96 bytes),
    a Simple Packet Block (interface 0, no timestamp), an obsolete Packet Block (type 2,
    interface 1), and blocks a reader skips: Name Resolution, Interface Statistics, a custom block
    (type 0x00000BAD) and a local-use block (type 0x80000001)
  section 2, little-endian ('<'):
    Interface 0: Ethernet, default resolution (microseconds); Enhanced Packet Blocks

The frames themselves are Linux traffic from the golden captures (udp.pcap, arp.pcap); only the
containers are made here. Usage: craft.py GOLDEN_DIR OUT_FILE
"""
import struct
import sys


def pcap_frames(path):
    """(seconds, microseconds, bytes, original length) of a little-endian microsecond pcap."""
    b = open(path, 'rb').read()
    assert struct.unpack_from('<I', b, 0)[0] == 0xA1B2C3D4, path
    off, out = 24, []
    while off < len(b):
        sec, usec, cap, orig = struct.unpack_from('<IIII', b, off)
        out.append((sec, usec, b[off + 16:off + 16 + cap], orig))
        off += 16 + cap
    return out


def pad(data):
    return data + b'\0' * (-len(data) % 4)


def block(o, btype, body):
    body = pad(body)
    total = 12 + len(body)
    return struct.pack(o + 'II', btype, total) + body + struct.pack(o + 'I', total)


def opt(o, code, value):
    return struct.pack(o + 'HH', code, len(value)) + pad(value)


def end(o):
    return struct.pack(o + 'HH', 0, 0)


def shb(o, app):
    return block(o, 0x0A0D0D0A, struct.pack(o + 'IHHq', 0x1A2B3C4D, 1, 0, -1) + opt(o, 4, app) + end(o))


def idb(o, linktype, snaplen, opts=b''):
    return block(o, 1, struct.pack(o + 'HHI', linktype, 0, snaplen) + opts + (end(o) if opts else b''))


def epb(o, iface, ts, data, orig, opts=b''):
    hi, lo = ts >> 32, ts & 0xFFFFFFFF
    return block(o, 6, struct.pack(o + 'IIIII', iface, hi, lo, len(data), orig) + pad(data) + opts)


def main():
    golden, out = sys.argv[1], sys.argv[2]
    udp = pcap_frames(f'{golden}/udp.pcap')
    arp = pcap_frames(f'{golden}/arp.pcap')
    o = '>'
    f = shb(o, b'oasis test/golden/pcapng/craft.py')
    f += idb(o, 1, 262144, opt(o, 9, b'\x09'))
    f += idb(o, 1, 96, opt(o, 9, b'\x94') + opt(o, 2, b'crafted1'))
    # Nanoseconds on interface 0: the capture's microseconds, and 789 ns more.
    for sec, usec, data, orig in udp[:2]:
        f += epb(o, 0, (sec * 1_000_000 + usec) * 1000 + 789, data, orig)
    # 2^-20 s on interface 1: the same instants, in units of 1/1048576 s (rounded down).
    sec, usec, data, orig = udp[2]
    f += epb(o, 1, ((sec * 1_000_000 + usec) << 20) // 1_000_000, data, orig, opt(o, 2, struct.pack(o + 'I', 1)) + end(o))
    f += block(o, 4, struct.pack(o + 'HH', 1, 12) + bytes([192, 0, 2, 2]) + b'gold-b\0\0' + struct.pack(o + 'HH', 0, 0))
    sec, usec, data, orig = udp[3]
    # Cut to interface 1's snaplen, as a capture with -s 96 would.
    f += epb(o, 1, ((sec * 1_000_000 + usec) << 20) // 1_000_000, data[:96], orig)
    sec, usec, data, orig = arp[0]
    f += block(o, 3, struct.pack(o + 'I', orig) + data)  # Simple Packet Block: interface 0, no time
    f += block(o, 0x00000BAD, struct.pack(o + 'I', 32473) + b'oasis custom block')
    f += block(o, 0x80000001, b'local use')
    sec, usec, data, orig = arp[1]
    ts = ((sec * 1_000_000 + usec) << 20) // 1_000_000
    f += block(o, 2, struct.pack(o + 'HHIIII', 1, 0, ts >> 32, ts & 0xFFFFFFFF, len(data[:96]), orig) + data[:96])
    f += block(o, 5, struct.pack(o + 'III', 0, 0, 0) + opt(o, 4, struct.pack(o + 'Q', 5)) + end(o))
    o = '<'
    f += shb(o, b'oasis test/golden/pcapng/craft.py, second section')
    f += idb(o, 1, 262144)
    for sec, usec, data, orig in arp[2:5]:
        f += epb(o, 0, sec * 1_000_000 + usec, data, orig)
    open(out, 'wb').write(f)


main()
