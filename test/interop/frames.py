"""Byte helpers shared by the interop tests' raw-frame senders (router-packets.py, blind-attacker.py)."""

import struct


def mac(s):
    """A MAC written aa:bb:cc:dd:ee:ff, as 6 bytes."""
    return bytes(int(x, 16) for x in s.split(":"))


def csum(data):
    """The Internet checksum (RFC 1071) of `data`."""
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF
