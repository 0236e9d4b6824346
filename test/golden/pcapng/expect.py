#!/usr/bin/env python3
"""Writes expected.json: what tshark reads in each capture, frame by frame, so the tests compare
Oasis's reader with tshark without running it. Usage: expect.py DIR FILE...

Per frame: its number, section and interface (pcapng), time (tshark's epoch string, to the
nanosecond; empty when the block has none), lengths, link type, and the addresses and protocol
fields a one-line summary must show. tshark lists a pcapng custom block as a record of its own:
it is kept with "record": "custom" (it holds no frame; readers skip it, as tcpdump does).
"""
import json
import subprocess
import sys

FIELDS = [
    'frame.number', 'frame.section_number', 'frame.interface_id', 'frame.time_epoch', 'frame.len',
    'frame.cap_len', 'frame.encap_type', 'eth.src', 'eth.dst', 'ip.src', 'ip.dst', 'ipv6.src',
    'ipv6.dst', 'arp.opcode', 'icmp.type', 'icmpv6.type', 'udp.srcport', 'udp.dstport',
    'sll.pkttype', 'sll.ifindex', 'sll.etype',
]
# Wireshark's encapsulation numbers (wtap.h) to LINKTYPE_ values (tcpdump.org/linktypes.html).
LINKTYPES = {'1': 1, '25': 113, '210': 276}


def tshark_version():
    out = subprocess.run(['tshark', '--version'], capture_output=True, text=True).stdout
    return out.splitlines()[0]


def read(path):
    args = ['tshark', '-r', path, '-T', 'fields', '-E', 'occurrence=f', '-o', 'ip.defragment:FALSE',
            '-o', 'ipv6.defragment:FALSE']
    for f in FIELDS:
        args += ['-e', f]
    out = subprocess.run(args, capture_output=True, text=True, check=True).stdout
    frames = []
    for line in out.splitlines():
        v = dict(zip(FIELDS, line.split('\t')))
        frame = {
            'number': int(v['frame.number']),
            'section': int(v['frame.section_number']) if v['frame.section_number'] else 1,
            'interface': int(v['frame.interface_id']) if v['frame.interface_id'] else 0,
            'time': v['frame.time_epoch'],
            'length': int(v['frame.len']),
            'capturedLength': int(v['frame.cap_len']),
        }
        if not v['frame.encap_type']:
            frame['record'] = 'custom'
            frames.append(frame)
            continue
        frame['linkType'] = LINKTYPES[v['frame.encap_type']]
        for key, field in [('ethSrc', 'eth.src'), ('ethDst', 'eth.dst'), ('ipSrc', 'ip.src'),
                           ('ipDst', 'ip.dst'), ('ipv6Src', 'ipv6.src'), ('ipv6Dst', 'ipv6.dst'),
                           ('sllEtype', 'sll.etype')]:
            if v[field]:
                frame[key] = v[field]
        for key, field in [('arpOpcode', 'arp.opcode'), ('icmpType', 'icmp.type'),
                           ('icmpv6Type', 'icmpv6.type'), ('udpSrcPort', 'udp.srcport'),
                           ('udpDstPort', 'udp.dstport'), ('sllPacketType', 'sll.pkttype'),
                           ('sllIfindex', 'sll.ifindex')]:
            if v[field]:
                frame[key] = int(v[field])
        frames.append(frame)
    return frames


def main():
    out_dir, files = sys.argv[1], sys.argv[2:]
    doc = {'tshark': tshark_version(), 'files': {}}
    for name in files:
        path = f'{out_dir}/{name}'
        magic = open(path, 'rb').read(4)
        doc['files'][name] = {
            'format': 'pcapng' if magic == b'\x0a\x0d\x0d\x0a' else 'pcap',
            'frames': read(path),
        }
    with open(f'{out_dir}/expected.json', 'w') as f:
        json.dump(doc, f, indent=1)
        f.write('\n')


main()
