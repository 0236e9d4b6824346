/**
 * formatFrame: exact lines for golden and constructed frames of every protocol and error path, and
 * every frame of test/golden/*.pcap against a line rendered from tshark's reading of it.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  type Ipv4Addr,
  type Ipv6Addr,
  type Mac,
  MAC_BROADCAST,
  MAC_ZERO,
  parseIpv4Addr,
  parseIpv6Addr,
  parseMac,
  solicitedNode,
} from '../src/addr.js';
import { type ArpRepr, emitArp } from '../src/arp/wire.js';
import { fromHex, setU16 } from '../src/bytes.js';
import { finish, type PseudoHeader, pseudoHeaderSum, sum16 } from '../src/checksum/index.js';
import {
  ETHERTYPE_ARP,
  ETHERTYPE_IPV4,
  ETHERTYPE_IPV6,
  emitEthernet,
  ethernetHeaderLen,
  type VlanTag,
} from '../src/ethernet/wire.js';
import { formatFrame } from '../src/format.js';
import { IPPROTO_HOPOPTS, IPPROTO_ICMP, IPPROTO_ICMPV6, IPPROTO_TCP, IPPROTO_UDP } from '../src/ipproto.js';
import { emitIcmpv4, type Icmpv4Repr } from '../src/ipv4/icmp.js';
import { emitIpv4, type Ipv4Repr, ipv4HeaderLen } from '../src/ipv4/wire.js';
import { emitFragmentHeader, emitRouterAlertHopByHop, type ExtHeader } from '../src/ipv6/ext.js';
import { emitIcmpv6, type Icmpv6Repr, icmpv6HeaderLen } from '../src/ipv6/icmp.js';
import { emitIpv6 } from '../src/ipv6/wire.js';
import { parsePcap } from '../src/link/pcap.js';
import { toSeq } from '../src/tcp/seq.js';
import { emitTcp, type TcpRepr, tcpFlags, tcpHeaderLen } from '../src/tcp/wire.js';
import { emitUdp } from '../src/udp/wire.js';
import { buildExtChain } from './ipv6/arb.js';

// ---------------------------------------------------------------------------------------------------
// Frame builders (emitters from src/, inside-out as the stack builds frames).

const v4 = (s: string) => parseIpv4Addr(s)! as Ipv4Addr;
const v6 = (s: string) => parseIpv6Addr(s)! as Ipv6Addr;
const mac = (s: string) => parseMac(s)! as Mac;
const MAC_A = mac('02:00:00:00:00:0a');
const MAC_B = mac('02:00:00:00:00:0b');
const A4 = v4('10.0.0.1');
const B4 = v4('10.0.0.2');
const PH4: PseudoHeader = { version: 4, src: A4, dst: B4 };
const A6 = v6('2001:db8::1');
const B6 = v6('2001:db8::2');
const PH6 = { version: 6 as const, src: A6, dst: B6 };

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}

function eth(
  ethertype: number,
  payload: Uint8Array,
  opts: { vlans?: VlanTag[]; src?: Mac; dst?: Mac; padTo?: number } = {},
): Uint8Array {
  const vlans = opts.vlans ?? [];
  const hl = ethernetHeaderLen({ vlans });
  const buf = new Uint8Array(Math.max(hl + payload.length, opts.padTo ?? 0));
  buf.set(payload, hl);
  emitEthernet({ dst: opts.dst ?? MAC_B, src: opts.src ?? MAC_A, vlans, ethertype }, buf);
  return buf;
}

function ip4(protocol: number, payload: Uint8Array, over: Partial<Ipv4Repr> = {}): Uint8Array {
  const repr: Ipv4Repr = {
    src: A4,
    dst: B4,
    protocol,
    ttl: 64,
    dscp: 0,
    ecn: 0,
    ident: 0x1234,
    dontFragment: false,
    moreFragments: false,
    fragOffset: 0,
    options: new Uint8Array(0),
    ...over,
  };
  const hl = ipv4HeaderLen(repr);
  const buf = new Uint8Array(hl + payload.length);
  buf.set(payload, hl);
  emitIpv4(repr, buf);
  return buf;
}

function ip6(nextHeader: number, payload: Uint8Array, src = A6, dst = B6, hopLimit = 64): Uint8Array {
  const buf = new Uint8Array(40 + payload.length);
  buf.set(payload, 40);
  emitIpv6({ trafficClass: 0, flowLabel: 0, nextHeader, hopLimit, src, dst }, buf);
  return buf;
}

function udp(srcPort: number, dstPort: number, data: Uint8Array, ph: PseudoHeader = PH4): Uint8Array {
  const buf = new Uint8Array(8 + data.length);
  buf.set(data, 8);
  emitUdp({ srcPort, dstPort }, buf, ph);
  return buf;
}

function tcp(over: Partial<TcpRepr>, data = new Uint8Array(0), ph: PseudoHeader = PH4): Uint8Array {
  const repr: TcpRepr = {
    srcPort: 40000,
    dstPort: 80,
    seq: toSeq(123),
    ack: toSeq(0),
    flags: tcpFlags(),
    window: 64240,
    urgentPointer: 0,
    options: {},
    ...over,
  };
  const hl = tcpHeaderLen(repr);
  const buf = new Uint8Array(hl + data.length);
  buf.set(data, hl);
  emitTcp(repr, buf, ph);
  return buf;
}

/** A TCP header with raw option bytes (a layout emitTcp does not write), checksum filled. */
function tcpRaw(optionsHex: string, flagBits: number, ph: PseudoHeader = PH4): Uint8Array {
  const opts = fromHex(optionsHex);
  const b = new Uint8Array(20 + opts.length);
  b.set(fromHex('9c400050 0000007b 00000000 0000faf0 00000000'));
  b[12] = ((20 + opts.length) / 4) << 4;
  b[13] = flagBits;
  b.set(opts, 20);
  setU16(b, 16, finish(sum16(b, pseudoHeaderSum(ph, IPPROTO_TCP, b.length))));
  return b;
}

function icmp4(repr: Icmpv4Repr, data: Uint8Array): Uint8Array {
  const buf = new Uint8Array(8 + data.length);
  buf.set(data, 8);
  emitIcmpv4(repr, buf);
  return buf;
}

function icmp6(repr: Icmpv6Repr, data: Uint8Array, ph = PH6): Uint8Array {
  const hl = icmpv6HeaderLen(repr);
  const buf = new Uint8Array(hl + data.length);
  buf.set(data, hl);
  emitIcmpv6(repr, buf, ph);
  return buf;
}

function arp(repr: ArpRepr): Uint8Array {
  const buf = new Uint8Array(28);
  emitArp(repr, buf);
  return buf;
}

const frame4 = (protocol: number, payload: Uint8Array, over: Partial<Ipv4Repr> = {}) =>
  eth(ETHERTYPE_IPV4, ip4(protocol, payload, over));
const frame6 = (nextHeader: number, payload: Uint8Array, src = A6, dst = B6) =>
  eth(ETHERTYPE_IPV6, ip6(nextHeader, payload, src, dst));
/** Flips one bit at `at` (counted from the end when negative). */
function corrupt(b: Uint8Array, at: number): Uint8Array {
  const out = b.slice();
  const i = at < 0 ? out.length + at : at;
  out[i]! ^= 0x01;
  return out;
}
const bytes = (n: number, from = 0) => Uint8Array.from({ length: n }, (_, i) => (from + i) & 0xff);
const ECHO = { type: 'echo-request' as const, ident: 5, seq: 1 };

// ---------------------------------------------------------------------------------------------------
// Golden bytes copied from the wire tests (provenance there and below).

// test/arp/wire.test.ts: Linux 6.18, `ping -c 1 -s 16 10.201.1.254` in netns A (a0 10.201.1.1,
// 02:00:00:00:0a:01) towards R (10.201.1.254, 02:00:00:00:0a:fe); veth, no padding.
const ARP_REQUEST = fromHex('0001 0800 06 04 0001 020000000a01 0ac90101 000000000000 0ac901fe');
const ARP_REPLY = fromHex('0001 0800 06 04 0002 020000000afe 0ac901fe 020000000a01 0ac90101');
// test/ipv4/wire.test.ts: `echo oasis | nc -u -w1 -p 40000 10.201.2.1 9` and B's port unreachable.
const UDP_DATAGRAM = fromHex('45000022 a5964000 40117ca1 0ac90101 0ac90201 9c400009000ef51f 6f617369730a');
const PORT_UNREACH = fromHex(
  '45c0003e fd430000 3f016528 0ac90201 0ac90101' +
    '030315b000000000 45000022a59640003f117da10ac901010ac902019c400009000ef51f6f617369730a',
);
// test/ipv4/wire.test.ts: `ping -c 1 -R -s 8 10.201.2.1`, the reply with a full Record Route option.
const RR_REPLY = fromHex(
  '4f00004c fd440000 3f015072 0ac90201 0ac90101' +
    '072718 0ac90101 0ac902fe 0ac90201 0ac90201 0ac901fe 00000000 00000000 00000000 00000000 00' +
    '0000d7891c650001 0001020304050607',
);
// test/tcp/wire.test.ts: Linux 6.18 between 10.77.0.1 and 10.77.0.2, checksums as sent.
const TCP_A = v4('10.77.0.1');
const TCP_B = v4('10.77.0.2');
const TCP_SYN = fromHex(
  'c6a41389 b11a1487 00000000 a002faf0 eaf10000 020405b4 0402080a d1bddbf0 00000000 0103030a',
);
const TCP_DATA = fromHex(
  'c6a41389 b11a1488 d4fe9150 8018003f 363e0000 0101080a d1bddbf0 bd1f20da 68656c6c6f206f617369730a',
);
const TCP_SACK = fromHex(
  '138d9104 07363dae e6a3a228 f0100015 da8d0000 0101080a 34630add 19bc760c 0101051a' +
    'e6a3c418 e6a3d1e0 e6a3b8c8 e6a3be70 e6a3a7d0 e6a3b320',
);
// test/ipv6/wire.test.ts: `ping -6 -c1 fd00::2` from fd00::1, Linux 6.18.
const ECHO6 = fromHex(
  '600edceb00403a40fd000000000000000000000000000001fd000000000000000000000000000002' +
    '800090bd1ead0001a29b066b00000000693b050000000000101112131415161718191a1b1c1d1e1f' +
    '202122232425262728292a2b2c2d2e2f3031323334353637',
);
// test/ipv6/icmp.test.ts: radvd 2.19 on B, and the DAD probe with Linux's nonce option.
const RA = fromHex(
  '600d135a00403afffe80000000000000000000fffe00000bff0200000000000000000000000000018600e435404007080000' +
    '7530000003e8030440c0000151800000384000000000fd01000200000000000000000000000005010000000005c801010200' +
    '0000000b',
);
const DAD_NS = fromHex(
  '6000000000203aff00000000000000000000000000000000ff0200000000000000000001ff00000a8700981800000000fe80' +
    '000000000000000000fffe00000a0e01b1abee9f36a6',
);
// test/ipv6/ext.test.ts: the MLDv2 report Linux sends at link up (hop-by-hop Router Alert, type 143).
const MLD_REPORT = fromHex(
  '600000000038000100000000000000000000000000000000ff020000000000000000000000000016' +
    '3a00050200000100' +
    '8f006d650000000204000000ff0200000000000000000001ff00000a04000000ff0200000000000000000001ff000001',
);

describe('formatFrame on golden bytes', () => {
  it.each([
    [
      'ARP request',
      eth(ETHERTYPE_ARP, ARP_REQUEST, { src: mac('02:00:00:00:0a:01'), dst: MAC_BROADCAST }),
      '02:00:00:00:0a:01 > ff:ff:ff:ff:ff:ff, ARP, Request who-has 10.201.1.254 tell 10.201.1.1, length 28',
    ],
    [
      'ARP reply',
      eth(ETHERTYPE_ARP, ARP_REPLY, { src: mac('02:00:00:00:0a:fe'), dst: mac('02:00:00:00:0a:01') }),
      '02:00:00:00:0a:fe > 02:00:00:00:0a:01, ARP, Reply 10.201.1.254 is-at 02:00:00:00:0a:fe, length 28',
    ],
    ['UDP datagram', eth(ETHERTYPE_IPV4, UDP_DATAGRAM), 'IP 10.201.1.1.40000 > 10.201.2.1.9: UDP, length 6'],
    [
      'port unreachable quoting it',
      eth(ETHERTYPE_IPV4, PORT_UNREACH),
      'IP 10.201.2.1 > 10.201.1.1: ICMP 10.201.2.1 udp port 9 unreachable, length 42',
    ],
    [
      'echo reply with Record Route options',
      eth(ETHERTYPE_IPV4, RR_REPLY),
      'IP 10.201.2.1 > 10.201.1.1: ICMP echo reply, id 7269, seq 1, length 16',
    ],
    [
      'TCP SYN in Linux layout',
      frame4(IPPROTO_TCP, TCP_SYN, { src: TCP_A, dst: TCP_B }),
      'IP 10.77.0.1.50852 > 10.77.0.2.5001: Flags [S], seq 2971276423, win 64240, ' +
        'options [mss 1460,sackOK,TS val 3518880752 ecr 0,nop,wscale 10], length 0',
    ],
    [
      'TCP data with PSH',
      frame4(IPPROTO_TCP, TCP_DATA, { src: TCP_A, dst: TCP_B }),
      'IP 10.77.0.1.50852 > 10.77.0.2.5001: Flags [P.], seq 2971276424:2971276436, ack 3573453136, ' +
        'win 63, options [nop,nop,TS val 3518880752 ecr 3172933850], length 12',
    ],
    [
      'TCP ACK with three SACK blocks',
      frame4(IPPROTO_TCP, TCP_SACK, { src: TCP_B, dst: TCP_A }),
      'IP 10.77.0.2.5005 > 10.77.0.1.37124: Flags [.], ack 3869483560, win 21, options [nop,nop,TS val ' +
        '878906077 ecr 431781388,nop,nop,sack 3 {3869492248:3869495776}{3869489352:3869490800}' +
        '{3869485008:3869487904}], length 0',
    ],
    [
      'ICMPv6 echo request',
      eth(ETHERTYPE_IPV6, ECHO6),
      'IP6 fd00::1 > fd00::2: ICMP6, echo request, id 7853, seq 1, length 64',
    ],
    [
      'router advertisement',
      eth(ETHERTYPE_IPV6, RA),
      'IP6 fe80::ff:fe00:b > ff02::1: ICMP6, router advertisement, length 64',
    ],
    [
      'DAD neighbor solicitation with a nonce option',
      eth(ETHERTYPE_IPV6, DAD_NS),
      'IP6 :: > ff02::1:ff00:a: ICMP6, neighbor solicitation, who has fe80::ff:fe00:a, length 32',
    ],
    [
      'MLDv2 report behind a hop-by-hop header',
      eth(ETHERTYPE_IPV6, MLD_REPORT),
      'IP6 :: > ff02::16: HBH ICMP6, multicast listener report v2, length 48',
    ],
  ])('%s', (_name, frame, line) => {
    expect(formatFrame(frame)).toBe(line);
  });
});

// ---------------------------------------------------------------------------------------------------

describe('formatFrame on constructed frames', () => {
  const SYN_OPTIONS = {
    mss: 1460,
    sackPermitted: true as const,
    timestamps: { tsVal: 1, tsEcr: 0 },
    windowScale: 7,
  };

  it.each([
    [
      'ARP request to broadcast',
      eth(
        ETHERTYPE_ARP,
        arp({
          operation: 'request',
          senderMac: mac('2e:b0:c9:a8:6d:01'),
          senderIp: A4,
          targetMac: MAC_ZERO,
          targetIp: B4,
        }),
        { src: mac('2e:b0:c9:a8:6d:01'), dst: MAC_BROADCAST },
      ),
      '2e:b0:c9:a8:6d:01 > ff:ff:ff:ff:ff:ff, ARP, Request who-has 10.0.0.2 tell 10.0.0.1, length 28',
    ],
    [
      'ARP padded to 60 bytes (the length counts the padding, as tcpdump)',
      eth(
        ETHERTYPE_ARP,
        arp({ operation: 'reply', senderMac: MAC_A, senderIp: A4, targetMac: MAC_B, targetIp: B4 }),
        { padTo: 60 },
      ),
      '02:00:00:00:00:0a > 02:00:00:00:00:0b, ARP, Reply 10.0.0.1 is-at 02:00:00:00:00:0a, length 46',
    ],
    [
      'ICMP echo request',
      frame4(IPPROTO_ICMP, icmp4(ECHO, bytes(56))),
      'IP 10.0.0.1 > 10.0.0.2: ICMP echo request, id 5, seq 1, length 64',
    ],
    [
      'TCP SYN',
      frame4(IPPROTO_TCP, tcp({ flags: tcpFlags({ syn: true }), options: SYN_OPTIONS })),
      'IP 10.0.0.1.40000 > 10.0.0.2.80: Flags [S], seq 123, win 64240, options [mss 1460,sackOK,TS val 1 ecr 0,nop,wscale 7], length 0',
    ],
    [
      'TCP with every flag and the urgent pointer',
      frame4(
        IPPROTO_TCP,
        tcp(
          {
            flags: tcpFlags({
              fin: true,
              syn: true,
              rst: true,
              psh: true,
              ack: true,
              urg: true,
              ece: true,
              cwr: true,
            }),
            ack: toSeq(7),
            urgentPointer: 3,
          },
          bytes(5),
        ),
      ),
      'IP 10.0.0.1.40000 > 10.0.0.2.80: Flags [FSRP.UEW], seq 123:128, ack 7, win 64240, urg 3, length 5',
    ],
    [
      'TCP with no flag',
      frame4(IPPROTO_TCP, tcp({})),
      'IP 10.0.0.1.40000 > 10.0.0.2.80: Flags [none], win 64240, length 0',
    ],
    [
      'TCP sequence range across 2^32',
      frame4(
        IPPROTO_TCP,
        tcp({ seq: toSeq(0xffff_fffe), flags: tcpFlags({ ack: true }), ack: toSeq(1) }, bytes(4)),
      ),
      'IP 10.0.0.1.40000 > 10.0.0.2.80: Flags [.], seq 4294967294:2, ack 1, win 64240, length 4',
    ],
    [
      'TCP options in another layout are listed in order, without padding',
      frame4(IPPROTO_TCP, tcpRaw('020405b4 01030308 0101080a 00000001 00000002 04020000', 0x02)),
      'IP 10.0.0.1.40000 > 10.0.0.2.80: Flags [S], seq 123, win 64240, options [mss 1460,wscale 8,TS val 1 ecr 2,sackOK], length 0',
    ],
    [
      'TCP options of unknown kinds only',
      frame4(IPPROTO_TCP, tcpRaw('fe04abcd', 0x10)),
      'IP 10.0.0.1.40000 > 10.0.0.2.80: Flags [.], ack 0, win 64240, options [4 bytes], length 0',
    ],
    ['UDP', frame4(IPPROTO_UDP, udp(5000, 53, bytes(12))), 'IP 10.0.0.1.5000 > 10.0.0.2.53: UDP, length 12'],
    [
      'UDP without a checksum (allowed over IPv4)',
      frame4(IPPROTO_UDP, fromHex('13880035 000a 0000 6869')),
      'IP 10.0.0.1.5000 > 10.0.0.2.53: UDP, length 2',
    ],
    [
      'first fragment',
      frame4(IPPROTO_ICMP, bytes(1480), { ident: 4660, moreFragments: true }),
      'IP 10.0.0.1 > 10.0.0.2: ICMP (frag 4660:1480@0+)',
    ],
    [
      'middle fragment',
      frame4(IPPROTO_ICMP, bytes(1480), { ident: 4660, moreFragments: true, fragOffset: 1480 }),
      'IP 10.0.0.1 > 10.0.0.2: ip-proto-1 (frag 4660:1480@1480+)',
    ],
    [
      'last fragment',
      frame4(IPPROTO_UDP, bytes(48), { ident: 4660, fragOffset: 2960 }),
      'IP 10.0.0.1 > 10.0.0.2: ip-proto-17 (frag 4660:48@2960)',
    ],
    ['another IPv4 protocol', frame4(47, bytes(20)), 'IP 10.0.0.1 > 10.0.0.2: GRE, length 20'],
    ['an unassigned IPv4 protocol', frame4(253, bytes(3)), 'IP 10.0.0.1 > 10.0.0.2: ip-proto-253, length 3'],
    [
      '802.1Q tag',
      eth(ETHERTYPE_IPV4, ip4(IPPROTO_UDP, udp(5000, 53, bytes(12))), {
        vlans: [{ tpid: 0x8100, pcp: 5, dei: false, vid: 10 }],
      }),
      'vlan 10, p 5, IP 10.0.0.1.5000 > 10.0.0.2.53: UDP, length 12',
    ],
    [
      'QinQ tags, DEI set, ARP inside',
      eth(
        ETHERTYPE_ARP,
        arp({ operation: 'reply', senderMac: MAC_A, senderIp: A4, targetMac: MAC_B, targetIp: B4 }),
        {
          vlans: [
            { tpid: 0x88a8, pcp: 0, dei: true, vid: 100 },
            { tpid: 0x8100, pcp: 0, dei: false, vid: 10 },
          ],
        },
      ),
      '02:00:00:00:00:0a > 02:00:00:00:00:0b, vlan 100, p 0, DEI, vlan 10, p 0, ARP, Reply 10.0.0.1 is-at 02:00:00:00:00:0a, length 28',
    ],
    [
      'unknown EtherType (LLDP)',
      eth(0x88cc, bytes(46)),
      '02:00:00:00:00:0a > 02:00:00:00:00:0b, ethertype 0x88cc, length 46',
    ],
  ])('%s', (_name, frame, line) => {
    expect(formatFrame(frame)).toBe(line);
  });

  describe('ICMP errors name what they quote', () => {
    const quotedUdp = ip4(IPPROTO_UDP, udp(40000, 9, bytes(9)), { src: A4, dst: B4 });
    const bigUdp = ip4(IPPROTO_UDP, udp(40000, 9, bytes(1000)));
    const quotedTcp = ip4(IPPROTO_TCP, tcp({ flags: tcpFlags({ syn: true }), options: SYN_OPTIONS }));
    const err = (repr: Icmpv4Repr, quote: Uint8Array) =>
      frame4(IPPROTO_ICMP, icmp4(repr, quote), { src: B4, dst: A4 });
    const unreach = (code: number, quote = quotedUdp, nextHopMtu = 0) =>
      err({ type: 'dest-unreachable', code, nextHopMtu }, quote);

    it.each([
      ['port, UDP', unreach(3), `ICMP 10.0.0.2 udp port 9 unreachable, length ${8 + quotedUdp.length}`],
      [
        'port, UDP quoted in part (548 of 1028 bytes)',
        unreach(3, bigUdp.subarray(0, 548)),
        'ICMP 10.0.0.2 udp port 9 unreachable, length 556',
      ],
      [
        'port, TCP',
        unreach(3, quotedTcp),
        `ICMP 10.0.0.2 tcp port 80 unreachable, length ${8 + quotedTcp.length}`,
      ],
      ['port, quote unreadable', unreach(3, bytes(28)), 'ICMP ? ip port ? unreachable, length 36'],
      ['net', unreach(0), 'ICMP net 10.0.0.2 unreachable, length 45'],
      ['host', unreach(1), 'ICMP host 10.0.0.2 unreachable, length 45'],
      ['protocol', unreach(2), 'ICMP 10.0.0.2 protocol 17 unreachable, length 45'],
      [
        'need to frag',
        unreach(4, bigUdp.subarray(0, 548), 1400),
        'ICMP 10.0.0.2 unreachable - need to frag (mtu 1400), length 556',
      ],
      [
        'admin prohibited filter',
        unreach(13),
        'ICMP host 10.0.0.2 unreachable - admin prohibited filter, length 45',
      ],
      ['an unassigned code', unreach(99), 'ICMP 10.0.0.2 unreachable - #99, length 45'],
      [
        'time exceeded in transit',
        err({ type: 'time-exceeded', code: 0 }, quotedUdp),
        'ICMP time exceeded in-transit, length 45',
      ],
      [
        'reassembly time exceeded',
        err({ type: 'time-exceeded', code: 1 }, quotedUdp),
        'ICMP ip reassembly time exceeded, length 45',
      ],
      [
        'parameter problem',
        err({ type: 'parameter-problem', code: 0, pointer: 21 }, quotedUdp),
        'ICMP parameter problem - octet 21, length 45',
      ],
      [
        'parameter problem, option missing',
        err({ type: 'parameter-problem', code: 1, pointer: 0 }, quotedUdp),
        'ICMP parameter problem - code 1, length 45',
      ],
      [
        'host redirect',
        err({ type: 'redirect', code: 1, gateway: v4('10.0.0.3') }, quotedUdp),
        'ICMP redirect 10.0.0.2 to host 10.0.0.3, length 45',
      ],
      [
        'TOS net redirect',
        err({ type: 'redirect', code: 2, gateway: v4('10.0.0.3') }, quotedUdp),
        'ICMP redirect-tos 10.0.0.2 to net 10.0.0.3, length 45',
      ],
      [
        'source quench',
        err({ type: 'other', icmpType: 4, code: 0, rest: 0 }, quotedUdp),
        'ICMP source quench, length 45',
      ],
      [
        'timestamp request',
        err({ type: 'other', icmpType: 13, code: 0, rest: 0 }, bytes(12)),
        'ICMP time stamp request, length 20',
      ],
      [
        'an unassigned type',
        err({ type: 'other', icmpType: 99, code: 0, rest: 0 }, bytes(0)),
        'ICMP type-#99, length 8',
      ],
    ])('%s', (_name, frame, text) => {
      expect(formatFrame(frame)).toBe(`IP 10.0.0.2 > 10.0.0.1: ${text}`);
    });
  });

  describe('IPv6', () => {
    const LL1 = v6('fe80::1');
    const LL2 = v6('fe80::2');
    const SN2 = solicitedNode(LL2);
    const ll = { version: 6 as const, src: LL1, dst: SN2 };
    const quotedUdp6 = ip6(IPPROTO_UDP, udp(40000, 9, bytes(9), { version: 6, src: A6, dst: B6 }));
    const bigUdp6 = ip6(IPPROTO_UDP, udp(40000, 9, bytes(2000), { version: 6, src: A6, dst: B6 }));
    const quotedTcp6 = ip6(IPPROTO_TCP, tcp({ flags: tcpFlags({ syn: true }) }, undefined, PH6));
    const err6 = (repr: Icmpv6Repr, quote: Uint8Array) =>
      frame6(IPPROTO_ICMPV6, icmp6(repr, quote, { version: 6, src: B6, dst: A6 }), B6, A6);
    const unreach6 = (code: number, quote = quotedUdp6) => err6({ kind: 'dest-unreachable', code }, quote);
    const q = 8 + quotedUdp6.length;

    it.each([
      [
        'neighbor solicitation',
        frame6(
          IPPROTO_ICMPV6,
          icmp6(
            {
              kind: 'neighbor-solicitation',
              target: LL2,
              options: [{ kind: 'source-link-addr', mac: MAC_A }],
            },
            new Uint8Array(0),
            ll,
          ),
          LL1,
          SN2,
        ),
        'IP6 fe80::1 > ff02::1:ff00:2: ICMP6, neighbor solicitation, who has fe80::2, length 32',
      ],
      [
        'neighbor advertisement',
        frame6(
          IPPROTO_ICMPV6,
          icmp6(
            {
              kind: 'neighbor-advertisement',
              router: false,
              solicited: true,
              override: true,
              target: LL2,
              options: [],
            },
            new Uint8Array(0),
            { version: 6, src: LL2, dst: LL1 },
          ),
          LL2,
          LL1,
        ),
        'IP6 fe80::2 > fe80::1: ICMP6, neighbor advertisement, tgt is fe80::2, length 24',
      ],
      [
        'router solicitation',
        frame6(IPPROTO_ICMPV6, icmp6({ kind: 'router-solicitation', options: [] }, new Uint8Array(0))),
        'IP6 2001:db8::1 > 2001:db8::2: ICMP6, router solicitation, length 8',
      ],
      [
        'redirect',
        frame6(
          IPPROTO_ICMPV6,
          icmp6(
            { kind: 'redirect', target: LL2, destination: v6('2001:db8:9::9'), options: [] },
            new Uint8Array(0),
          ),
        ),
        'IP6 2001:db8::1 > 2001:db8::2: ICMP6, redirect, 2001:db8:9::9 to fe80::2, length 40',
      ],
      [
        'echo reply',
        frame6(IPPROTO_ICMPV6, icmp6({ kind: 'echo-reply', ident: 9, seq: 2 }, bytes(4))),
        'IP6 2001:db8::1 > 2001:db8::2: ICMP6, echo reply, id 9, seq 2, length 12',
      ],
      [
        'multicast listener query',
        frame6(IPPROTO_ICMPV6, icmp6({ kind: 'other', icmpType: 130, code: 0 }, bytes(20))),
        'IP6 2001:db8::1 > 2001:db8::2: ICMP6, multicast listener query, length 24',
      ],
      [
        'an ND type with a non-zero code',
        frame6(IPPROTO_ICMPV6, icmp6({ kind: 'other', icmpType: 135, code: 1 }, bytes(20))),
        'IP6 2001:db8::1 > 2001:db8::2: ICMP6, type 135, code 1, length 24',
      ],
      [
        'UDP',
        frame6(IPPROTO_UDP, udp(5000, 53, bytes(12), PH6)),
        'IP6 2001:db8::1.5000 > 2001:db8::2.53: UDP, length 12',
      ],
      [
        'TCP',
        frame6(
          IPPROTO_TCP,
          tcp(
            { flags: tcpFlags({ syn: true, ack: true }), ack: toSeq(9), options: { mss: 1440 } },
            undefined,
            PH6,
          ),
        ),
        'IP6 2001:db8::1.40000 > 2001:db8::2.80: Flags [S.], seq 123, ack 9, win 64240, options [mss 1440], length 0',
      ],
      [
        'hop-by-hop, destination options and routing headers before UDP',
        frame6(
          IPPROTO_HOPOPTS,
          buildExtChain(
            [
              { kind: 'hop-by-hop', nextHeader: 60, options: [] },
              { kind: 'destination-options', nextHeader: 43, options: [{ type: 0x1e, data: bytes(2) }] },
              { kind: 'routing', nextHeader: IPPROTO_UDP, routingType: 4, segmentsLeft: 0, data: bytes(4) },
            ] satisfies ExtHeader[],
            udp(5000, 53, bytes(3), PH6),
          ),
        ),
        'IP6 2001:db8::1.5000 > 2001:db8::2.53: HBH DSTOPT srcrt (type 4, segleft 0) UDP, length 3',
      ],
      [
        'an atomic fragment',
        frame6(44, concat(fragmentHeader(IPPROTO_UDP, 0, false), udp(5000, 53, bytes(3), PH6))),
        'IP6 2001:db8::1.5000 > 2001:db8::2.53: frag (0|11) UDP, length 3',
      ],
      [
        'first fragment',
        frame6(44, concat(fragmentHeader(IPPROTO_ICMPV6, 0, true), bytes(1448))),
        'IP6 2001:db8::1 > 2001:db8::2: frag (0|1448) ICMP6',
      ],
      [
        'later fragment',
        frame6(44, concat(fragmentHeader(IPPROTO_ICMPV6, 1448, false), bytes(100))),
        'IP6 2001:db8::1 > 2001:db8::2: frag (1448|100)',
      ],
      [
        'MLD behind a Router Alert',
        frame6(
          IPPROTO_HOPOPTS,
          concat(routerAlert(IPPROTO_ICMPV6), icmp6({ kind: 'other', icmpType: 143, code: 0 }, bytes(24))),
        ),
        'IP6 2001:db8::1 > 2001:db8::2: HBH ICMP6, multicast listener report v2, length 28',
      ],
      [
        'No Next Header',
        frame6(59, new Uint8Array(0)),
        'IP6 2001:db8::1 > 2001:db8::2: no next header, length 0',
      ],
      [
        'port unreachable, UDP',
        unreach6(4),
        `IP6 2001:db8::2 > 2001:db8::1: ICMP6, destination unreachable, unreachable port, 2001:db8::2 udp port 9, length ${q}`,
      ],
      [
        'port unreachable, UDP quoted in part',
        unreach6(4, bigUdp6.subarray(0, 1232)),
        'IP6 2001:db8::2 > 2001:db8::1: ICMP6, destination unreachable, unreachable port, 2001:db8::2 udp port 9, length 1240',
      ],
      [
        'port unreachable, TCP',
        unreach6(4, quotedTcp6),
        'IP6 2001:db8::2 > 2001:db8::1: ICMP6, destination unreachable, unreachable port, 2001:db8::2 tcp port 80, length 68',
      ],
      [
        'no route',
        unreach6(0),
        `IP6 2001:db8::2 > 2001:db8::1: ICMP6, destination unreachable, unreachable route 2001:db8::2, length ${q}`,
      ],
      [
        'address unreachable',
        unreach6(3),
        `IP6 2001:db8::2 > 2001:db8::1: ICMP6, destination unreachable, unreachable address 2001:db8::2, length ${q}`,
      ],
      [
        'reject route',
        unreach6(6),
        `IP6 2001:db8::2 > 2001:db8::1: ICMP6, destination unreachable, unknown unreach code (6), length ${q}`,
      ],
      [
        'unreadable quote',
        unreach6(3, bytes(20)),
        'IP6 2001:db8::2 > 2001:db8::1: ICMP6, destination unreachable, unreachable address ?, length 28',
      ],
      [
        'packet too big',
        err6({ kind: 'packet-too-big', mtu: 1280 }, quotedUdp6),
        `IP6 2001:db8::2 > 2001:db8::1: ICMP6, packet too big, mtu 1280, length ${q}`,
      ],
      [
        'time exceeded',
        err6({ kind: 'time-exceeded', code: 0 }, quotedUdp6),
        `IP6 2001:db8::2 > 2001:db8::1: ICMP6, time exceeded in-transit for 2001:db8::2, length ${q}`,
      ],
      [
        'reassembly time exceeded',
        err6({ kind: 'time-exceeded', code: 1 }, quotedUdp6),
        `IP6 2001:db8::2 > 2001:db8::1: ICMP6, time exceeded in-transit (reassembly), length ${q}`,
      ],
      [
        'parameter problem',
        err6({ kind: 'parameter-problem', code: 1, pointer: 40 }, quotedUdp6),
        `IP6 2001:db8::2 > 2001:db8::1: ICMP6, parameter problem, next header - octet 40, length ${q}`,
      ],
      [
        'parameter problem, incomplete chain',
        err6({ kind: 'parameter-problem', code: 3, pointer: 0 }, quotedUdp6),
        `IP6 2001:db8::2 > 2001:db8::1: ICMP6, parameter problem, incomplete header chain - octet 0, length ${q}`,
      ],
    ])('%s', (_name, frame, line) => {
      expect(formatFrame(frame)).toBe(line);
    });
  });
});

function fragmentHeader(nextHeader: number, fragOffset: number, moreFragments: boolean): Uint8Array {
  const b = new Uint8Array(8);
  emitFragmentHeader({ nextHeader, fragOffset, moreFragments, ident: 0xabcd }, b);
  return b;
}

function routerAlert(nextHeader: number): Uint8Array {
  const b = new Uint8Array(8);
  emitRouterAlertHopByHop(nextHeader, 0, b);
  return b;
}

// ---------------------------------------------------------------------------------------------------

describe('formatFrame on broken frames', () => {
  const udpFrame = frame4(IPPROTO_UDP, udp(5000, 53, bytes(12)));
  const tcpFrame = frame4(IPPROTO_TCP, tcp({ flags: tcpFlags({ syn: true }) }));
  const echoFrame = frame4(IPPROTO_ICMP, icmp4(ECHO, bytes(56)));
  const echo6Frame = frame6(IPPROTO_ICMPV6, icmp6({ kind: 'echo-request', ident: 5, seq: 1 }, bytes(8)));
  const udp6Frame = frame6(IPPROTO_UDP, udp(5000, 53, bytes(12), PH6));

  it.each([
    ['empty', new Uint8Array(0), 'malformed ethernet: truncated'],
    ['five bytes', bytes(5), 'malformed ethernet: truncated'],
    [
      'an 802.3 length field',
      fromHex('ffffffffffff 02000000000a 0040 aaaa03'),
      'malformed ethernet: length-not-ethertype',
    ],
    [
      'a truncated ARP packet',
      eth(ETHERTYPE_ARP, ARP_REQUEST.subarray(0, 20)),
      '02:00:00:00:00:0a > 02:00:00:00:00:0b, ARP, malformed arp: truncated',
    ],
    [
      'an ARP opcode we do not speak (RARP)',
      eth(ETHERTYPE_ARP, concat(ARP_REQUEST.subarray(0, 6), fromHex('0003'), ARP_REQUEST.subarray(8))),
      '02:00:00:00:00:0a > 02:00:00:00:00:0b, ARP, unsupported arp: operation',
    ],
    [
      'IPv4 with version 5',
      eth(ETHERTYPE_IPV4, concat(fromHex('55'), ip4(IPPROTO_UDP, bytes(8)).subarray(1))),
      'IP malformed ipv4: bad-version',
    ],
    [
      'IPv4 cut short',
      eth(ETHERTYPE_IPV4, ip4(IPPROTO_UDP, bytes(40)).subarray(0, 30)),
      'IP malformed ipv4: truncated-payload',
    ],
    [
      'a bad IPv4 header checksum',
      corrupt(udpFrame, 14 + 10),
      'IP 10.0.0.1.5000 > 10.0.0.2.53: UDP, length 12 [bad ip cksum]',
    ],
    [
      'a bad UDP checksum',
      corrupt(udpFrame, -1),
      'IP 10.0.0.1.5000 > 10.0.0.2.53: UDP, length 12 [bad udp cksum]',
    ],
    [
      'a bad TCP checksum',
      corrupt(tcpFrame, 14 + 20 + 16),
      'IP 10.0.0.1.40000 > 10.0.0.2.80: Flags [S], seq 123, win 64240, length 0 [bad tcp cksum]',
    ],
    [
      'a bad ICMP checksum',
      corrupt(echoFrame, -1),
      'IP 10.0.0.1 > 10.0.0.2: ICMP echo request, id 5, seq 1, length 64 [bad icmp cksum]',
    ],
    [
      'a bad ICMPv6 checksum',
      corrupt(echo6Frame, -1),
      'IP6 2001:db8::1 > 2001:db8::2: ICMP6, echo request, id 5, seq 1, length 16 [bad icmp6 cksum]',
    ],
    [
      'a bad UDP checksum over IPv6',
      corrupt(udp6Frame, -1),
      'IP6 2001:db8::1.5000 > 2001:db8::2.53: UDP, length 12 [bad udp cksum]',
    ],
    [
      'a zero UDP checksum over IPv6',
      frame6(IPPROTO_UDP, fromHex('13880035 000a 0000 6869')),
      'IP6 2001:db8::1 > 2001:db8::2: malformed udp: zero-checksum-ipv6',
    ],
    [
      'a UDP length below 8',
      frame4(IPPROTO_UDP, fromHex('13880035 0004 0000')),
      'IP 10.0.0.1 > 10.0.0.2: malformed udp: length-too-small',
    ],
    [
      'a TCP option running past the header',
      frame4(IPPROTO_TCP, tcpRaw('020405b4 0103030a 08ff0000', 0x02)),
      'IP 10.0.0.1 > 10.0.0.2: malformed tcp: option-overruns-header',
    ],
    [
      'a TCP data offset below 5',
      frame4(IPPROTO_TCP, concat(bytes(12), fromHex('40'), bytes(7))),
      'IP 10.0.0.1 > 10.0.0.2: malformed tcp: data-offset-too-small',
    ],
    [
      'a short ICMP message',
      frame4(IPPROTO_ICMP, fromHex('0800f7ff')),
      'IP 10.0.0.1 > 10.0.0.2: malformed icmpv4: truncated',
    ],
    [
      'IPv6 cut short',
      eth(ETHERTYPE_IPV6, ip6(IPPROTO_UDP, bytes(8)).subarray(0, 30)),
      'IP6 malformed ipv6: truncated',
    ],
    [
      'an IPv6 jumbogram',
      eth(ETHERTYPE_IPV6, ip6(IPPROTO_HOPOPTS, new Uint8Array(0))),
      'IP6 unsupported ipv6: jumbogram',
    ],
    [
      'an unknown IPv6 option whose action is to discard',
      frame6(IPPROTO_HOPOPTS, fromHex('11 00 4102 0000 0100')),
      'IP6 2001:db8::1 > 2001:db8::2: unsupported ipv6: unknown-option',
    ],
    [
      'an NDP option of length zero',
      frame6(
        IPPROTO_ICMPV6,
        icmp6({ kind: 'router-solicitation', options: [] }, fromHex('0100 000000000000')),
      ),
      'IP6 2001:db8::1 > 2001:db8::2: malformed ndp: option-length-zero',
    ],
  ])('%s', (_name, frame, line) => {
    expect(formatFrame(frame)).toBe(line);
  });
});

// ---------------------------------------------------------------------------------------------------
// Every frame of the golden captures against a line written from tshark's reading of it
// (test/golden/expected/*.json, tshark 4.0 with every checksum verified).

const GOLDEN = resolve(import.meta.dirname, 'golden');
const goldenFiles = readdirSync(GOLDEN).filter((f) => f.endsWith('.pcap'));

describe.skipIf(goldenFiles.length === 0)('formatFrame on the golden captures', () => {
  it.each(goldenFiles)('%s: every frame reads as tshark reads it', (file) => {
    const pcap = parsePcap(readFileSync(join(GOLDEN, file)));
    if (!pcap.ok) throw new Error(`${file}: ${pcap.error.kind}`);
    const expected = JSON.parse(
      readFileSync(join(GOLDEN, 'expected', file.replace(/\.pcap$/, '.json')), 'utf8'),
    );
    expect(pcap.value.frames.length).toBe(expected.frameCount);
    const got = pcap.value.frames.map((f) => formatFrame(f.bytes));
    const want = (expected.frames as TsharkFrame[]).map(lineFromTshark);
    expect(got).toEqual(want);
  });
});

/** The parts of scripts/golden-expect.mjs's output used here. */
interface TsharkFrame {
  readonly number: number;
  readonly length: number;
  readonly protocols: string;
  readonly eth: { src: string; dst: string; type: number };
  readonly arp?: { opcode: number; senderMac: string; senderIp: string; targetMac: string; targetIp: string };
  readonly ipv4?: TsharkIpv4;
  readonly ipv6?: TsharkIpv6;
  readonly icmpv4?: {
    type: number;
    code: number;
    id?: number;
    seq?: number;
    mtu?: number;
    quoted?: { ipv4?: TsharkIpv4; udp?: { dstPort: number }; tcp?: { dstPort: number } };
  };
  readonly icmpv6?: {
    type: number;
    code: number;
    id?: number;
    seq?: number;
    mtu?: number;
    target?: string;
    quoted?: { ipv6?: TsharkIpv6; udp?: { dstPort: number }; tcp?: { dstPort: number } };
  };
  readonly udp?: { srcPort: number; dstPort: number; payloadLength: number };
  readonly tcp?: TsharkTcp;
}
interface TsharkIpv4 {
  headerLength: number;
  totalLength: number;
  id: number;
  mf: boolean;
  fragmentOffset: number;
  protocol: number;
  src: string;
  dst: string;
}
interface TsharkIpv6 {
  payloadLength: number;
  nextHeader: number;
  src: string;
  dst: string;
  extensions: { type: string; length?: number; offset?: number; more?: boolean; nextHeader: number }[];
}
interface TsharkTcp {
  srcPort: number;
  dstPort: number;
  seq: number;
  ack: number;
  flags: number;
  window: number;
  urgent: number;
  payloadLength: number;
  options: {
    name: string;
    mss?: number;
    shift?: number;
    tsval?: number;
    tsecr?: number;
    blocks?: { left: number; right: number }[];
  }[];
}

const NAMES: Record<number, string> = { 1: 'ICMP', 6: 'TCP', 17: 'UDP', 58: 'ICMP6' };

/** tcpdump's wording of what tshark read, in formatFrame's conventions (see src/format.ts). */
function lineFromTshark(f: TsharkFrame): string {
  if (f.arp) {
    const a = f.arp;
    const op =
      a.opcode === 1
        ? `Request who-has ${a.targetIp}${a.targetMac === '00:00:00:00:00:00' ? '' : ` (${a.targetMac})`} tell ${a.senderIp}`
        : `Reply ${a.senderIp} is-at ${a.senderMac}`;
    return `${f.eth.src} > ${f.eth.dst}, ARP, ${op}, length ${f.length - 14}`;
  }
  if (f.ipv4) {
    const ip = f.ipv4;
    const len = ip.totalLength - ip.headerLength;
    if (ip.mf || ip.fragmentOffset > 0) {
      const what = ip.fragmentOffset === 0 ? NAMES[ip.protocol] : `ip-proto-${ip.protocol}`;
      return `IP ${ip.src} > ${ip.dst}: ${what} (frag ${ip.id}:${len}@${ip.fragmentOffset}${ip.mf ? '+' : ''})`;
    }
    return `IP ${upper(f, ip.src, ip.dst, '', len)}`;
  }
  if (f.ipv6) {
    const ip = f.ipv6;
    let notes = '';
    let len = ip.payloadLength;
    for (const x of ip.extensions) {
      if (x.type === 'fragment') {
        len -= 8;
        if (x.offset !== 0 || x.more) {
          const what = x.offset === 0 ? ` ${NAMES[x.nextHeader]}` : '';
          return `IP6 ${ip.src} > ${ip.dst}: ${notes}frag (${x.offset}|${len})${what}`;
        }
        notes += `frag (0|${len}) `;
      } else {
        len -= x.length ?? 0;
        notes += x.type === 'hop-by-hop' ? 'HBH ' : x.type === 'destination' ? 'DSTOPT ' : '';
      }
    }
    return `IP6 ${upper(f, ip.src, ip.dst, notes, len)}`;
  }
  throw new Error(`frame ${f.number}: no expectation for ${f.protocols}`);
}

function upper(f: TsharkFrame, src: string, dst: string, notes: string, len: number): string {
  if (f.udp)
    return `${src}.${f.udp.srcPort} > ${dst}.${f.udp.dstPort}: ${notes}UDP, length ${f.udp.payloadLength}`;
  if (f.tcp) return `${src}.${f.tcp.srcPort} > ${dst}.${f.tcp.dstPort}: ${notes}${tcpFromTshark(f.tcp)}`;
  if (f.icmpv4) return `${src} > ${dst}: ${notes}ICMP ${icmpv4FromTshark(f.icmpv4)}, length ${len}`;
  if (f.icmpv6) return `${src} > ${dst}: ${notes}ICMP6, ${icmpv6FromTshark(f.icmpv6)}, length ${len}`;
  throw new Error(`frame ${f.number}: no expectation for ${f.protocols}`);
}

function tcpFromTshark(t: TsharkTcp): string {
  const letters = [
    [0x01, 'F'],
    [0x02, 'S'],
    [0x04, 'R'],
    [0x08, 'P'],
    [0x10, '.'],
    [0x20, 'U'],
    [0x40, 'E'],
    [0x80, 'W'],
  ] as const;
  const flags = letters.map(([bit, l]) => (t.flags & bit ? l : '')).join('') || 'none';
  const parts = [`Flags [${flags}]`];
  if (t.payloadLength > 0 || t.flags & 0x07)
    parts.push(t.payloadLength > 0 ? `seq ${t.seq}:${(t.seq + t.payloadLength) % 2 ** 32}` : `seq ${t.seq}`);
  if (t.flags & 0x10) parts.push(`ack ${t.ack}`);
  parts.push(`win ${t.window}`);
  if (t.flags & 0x20) parts.push(`urg ${t.urgent}`);
  if (t.options.length > 0) {
    const o = t.options.map((x) => {
      switch (x.name) {
        case 'mss':
          return `mss ${x.mss}`;
        case 'wscale':
          return `wscale ${x.shift}`;
        case 'sack-permitted':
          return 'sackOK';
        case 'timestamps':
          return `TS val ${x.tsval} ecr ${x.tsecr}`;
        case 'sack':
          return `sack ${x.blocks?.length} ${x.blocks?.map((b) => `{${b.left}:${b.right}}`).join('')}`;
        default:
          return x.name;
      }
    });
    parts.push(`options [${o.join(',')}]`);
  }
  parts.push(`length ${t.payloadLength}`);
  return parts.join(', ');
}

function icmpv4FromTshark(m: NonNullable<TsharkFrame['icmpv4']>): string {
  const qdst = m.quoted?.ipv4?.dst;
  if (m.type === 8 || m.type === 0)
    return `echo ${m.type === 8 ? 'request' : 'reply'}, id ${m.id}, seq ${m.seq}`;
  if (m.type === 3 && m.code === 0) return `net ${qdst} unreachable`;
  if (m.type === 3 && m.code === 1) return `host ${qdst} unreachable`;
  if (m.type === 3 && m.code === 3) {
    const [proto, port] = m.quoted?.udp ? ['udp', m.quoted.udp.dstPort] : ['tcp', m.quoted?.tcp?.dstPort];
    return `${qdst} ${proto} port ${port} unreachable`;
  }
  if (m.type === 3 && m.code === 4) return `${qdst} unreachable - need to frag (mtu ${m.mtu})`;
  if (m.type === 11 && m.code === 0) return 'time exceeded in-transit';
  throw new Error(`no expectation for ICMP type ${m.type} code ${m.code}`);
}

function icmpv6FromTshark(m: NonNullable<TsharkFrame['icmpv6']>): string {
  const qdst = m.quoted?.ipv6?.dst;
  switch (m.type) {
    case 1:
      if (m.code === 4) {
        const [proto, port] = m.quoted?.udp ? ['udp', m.quoted.udp.dstPort] : ['tcp', m.quoted?.tcp?.dstPort];
        return `destination unreachable, unreachable port, ${qdst} ${proto} port ${port}`;
      }
      return `destination unreachable, ${['unreachable route', 'unreachable prohibited', 'beyond scope', 'unreachable address'][m.code]} ${qdst}`;
    case 2:
      return `packet too big, mtu ${m.mtu}`;
    case 3:
      if (m.code === 0) return `time exceeded in-transit for ${qdst}`;
      break;
    case 128:
    case 129:
      return `echo ${m.type === 128 ? 'request' : 'reply'}, id ${m.id}, seq ${m.seq}`;
    case 133:
      return 'router solicitation';
    case 134:
      return 'router advertisement';
    case 135:
      return `neighbor solicitation, who has ${m.target}`;
    case 136:
      return `neighbor advertisement, tgt is ${m.target}`;
    case 143:
      return 'multicast listener report v2';
  }
  throw new Error(`no expectation for ICMPv6 type ${m.type} code ${m.code}`);
}
