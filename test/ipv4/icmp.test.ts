import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseIpv4Addr } from '../../src/addr.js';
import { fromHex } from '../../src/bytes.js';
import {
  emitIcmpv4,
  ICMPV4_ERROR_QUOTE_MAX,
  Icmpv4Packet,
  type Icmpv4Repr,
  icmpv4HeaderLen,
  isIcmpv4Error,
  parseIcmpv4,
  quoteDatagram,
} from '../../src/ipv4/icmp.js';
import { mutated, propOptions } from '../support/props.js';
import { icmpv4MessageArb, icmpv4ReprArb, ipv4PacketArb } from './arb.js';

// Provenance: Linux 6.18.44 (`uname -r`: 6.18.44-fc-v657), `tcpdump -i a0 -U -w` in a private netns A
// (a0: 10.201.1.1). Setup 1: A joined by veth to a router netns R (r0: 10.201.1.254, r1: 10.201.2.254,
// net.ipv4.ip_forward=1) and on to netns B (b0: 10.201.2.1). Setup 2: A, R (10.201.1.254) and C
// (10.201.1.3, owning 10.201.9.1) on one bridge, A routing 10.201.9.0/24 via R and R via C. Every veth
// has tx checksum offload off (`ethtool -K <dev> tx off`). Only the ICMP message (after the IP header)
// is kept; the command run in A is named per message.

/** iputils ping's data: byte i of the echo data is i & 0xff (the first 16 are its timestamp). */
function pingPattern(from: number, length: number): Uint8Array {
  return Uint8Array.from({ length }, (_, i) => (from + i) & 0xff);
}

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}

// Setup 1, `ping -c 1 -s 16 10.201.1.254`: request and reply.
const ECHO_DATA = fromHex('629b066b00000000 9078010000000000');
const ECHO_REQUEST = concat(fromHex('0800e120 1c5f0001'), ECHO_DATA);
const ECHO_REPLY = concat(fromHex('0000e920 1c5f0001'), ECHO_DATA);

// Setup 1, `echo oasis | nc -u -w1 -p 40000 10.201.2.1 9`: B's port unreachable quoting the whole
// 34-byte datagram (as it arrived: TTL 63).
const UDP_QUOTED = fromHex('45000022a59640003f117da10ac901010ac90201 9c400009000ef51f6f617369730a');
const PORT_UNREACH = concat(fromHex('030315b0 00000000'), UDP_QUOTED);

// Setup 1, `ping -c 1 -t 1 10.201.2.1`: R's time exceeded quoting the whole 84-byte echo request.
const TTL1_ECHO = fromHex(
  '45000054918440000101cf910ac901010ac90201 080012171c640001629b066b00000000a0aa010000000000' +
    '101112131415161718191a1b1c1d1e1f202122232425262728292a2b2c2d2e2f3031323334353637',
);
const TIME_EXCEEDED = concat(fromHex('0b00f4ff 00000000'), TTL1_ECHO);

// Setup 1, `ip link set r1 mtu 1280` in R, then `ping -c 1 -M do -s 1400 10.201.2.1`: the 1428-byte
// request and R's fragmentation needed (next-hop MTU 1280), which quotes its first 548 bytes so the
// error is 576 bytes long. Headers as captured; the ping data regenerated (checked equal to the capture).
const BIG_ECHO_HEAD = fromHex(
  '450005940000400040011cd60ac901010ac90201 0800e0aa1c670001629b066b0000000025ca010000000000',
);
const BIG_ECHO = concat(BIG_ECHO_HEAD, pingPattern(16, 1428 - 44));
const FRAG_NEEDED = concat(fromHex('03040ec9 00000500'), BIG_ECHO_HEAD, pingPattern(16, 548 - 44));

// Setup 2, `ping -c 1 -s 8 10.201.9.1`: R forwards back out of r0 and sends a host redirect to C.
const REDIRECT = fromHex(
  '0501ef32 0ac90103 45000024ee3e40003f012e070ac901010ac90901 0800ca3621b800010001020304050607',
);

// Setup 2: A sent an ICMP timestamp request (type 13) from a Python raw socket; R's reply (type 14).
const TIMESTAMP_REPLY = fromHex('0e007d15 4f410002 0123abcd 01d03a8b 01d03a8b');

// Constructed, not captured (Linux 6.18 counted IpInHdrErrors and stayed silent): a parameter problem
// pointing at byte 21, the length byte of a malformed timestamp option (type 0x44, length 3), quoting
// the datagram A sent through a raw socket in setup 2. Checksum computed independently in Python.
const BAD_OPTION_DATAGRAM = fromHex(
  '46000028123400004001060e0ac901010ac901fe 44030500 0800e2544f4100016f617369732d7070',
);
const PARAM_PROBLEM = concat(fromHex('0c00deff 15000000'), BAD_OPTION_DATAGRAM);

const cases: [string, Uint8Array, Icmpv4Repr, Uint8Array][] = [
  ['echo request', ECHO_REQUEST, { type: 'echo-request', ident: 7263, seq: 1 }, ECHO_DATA],
  ['echo reply', ECHO_REPLY, { type: 'echo-reply', ident: 7263, seq: 1 }, ECHO_DATA],
  ['port unreachable', PORT_UNREACH, { type: 'dest-unreachable', code: 3, nextHopMtu: 0 }, UDP_QUOTED],
  ['time exceeded', TIME_EXCEEDED, { type: 'time-exceeded', code: 0 }, TTL1_ECHO],
  [
    'fragmentation needed',
    FRAG_NEEDED,
    { type: 'dest-unreachable', code: 4, nextHopMtu: 1280 },
    FRAG_NEEDED.subarray(8),
  ],
  [
    'host redirect',
    REDIRECT,
    { type: 'redirect', code: 1, gateway: parseIpv4Addr('10.201.1.3')! },
    REDIRECT.subarray(8),
  ],
  [
    'timestamp reply (other)',
    TIMESTAMP_REPLY,
    { type: 'other', icmpType: 14, code: 0, rest: 0x4f410002 },
    TIMESTAMP_REPLY.subarray(8),
  ],
  [
    'parameter problem',
    PARAM_PROBLEM,
    { type: 'parameter-problem', code: 0, pointer: 21 },
    BAD_OPTION_DATAGRAM,
  ],
];

function view(bytes: Uint8Array): Icmpv4Packet {
  const r = Icmpv4Packet.check(bytes);
  if (!r.ok) throw new Error(`${r.error.layer}/${r.error.kind}`);
  return r.value;
}

describe('Icmpv4Packet', () => {
  it('reads every field of a golden echo request', () => {
    const p = view(ECHO_REQUEST);
    expect(p.icmpType).toBe(8);
    expect(p.code).toBe(0);
    expect(p.checksum).toBe(0xe120);
    expect(p.rest).toBe(0x1c5f0001);
    expect(p.ident).toBe(7263);
    expect(p.seq).toBe(1);
    expect(p.payload).toEqual(ECHO_DATA);
    expect(p.verifyChecksum()).toBe(true);
  });

  it('reads the type-specific fields of golden errors', () => {
    expect(view(FRAG_NEEDED).nextHopMtu).toBe(1280);
    expect(view(FRAG_NEEDED).payload.length).toBe(548);
    expect(view(REDIRECT).gateway).toBe(parseIpv4Addr('10.201.1.3'));
    expect(view(PARAM_PROBLEM).pointer).toBe(21);
    expect(view(TIMESTAMP_REPLY).icmpType).toBe(14);
  });

  it.each(cases)('parses a %s', (_name, bytes, repr, payload) => {
    const r = parseIcmpv4(bytes);
    if (!r.ok) throw new Error(r.error.kind);
    expect(r.value.repr).toEqual(repr);
    expect(r.value.payload).toEqual(payload);
  });

  it.each(
    cases,
  )('emits a %s byte for byte over a buffer pre-filled with 0xa5', (_name, bytes, repr, payload) => {
    const buf = new Uint8Array(bytes.length).fill(0xa5);
    buf.set(payload, icmpv4HeaderLen(repr));
    expect(emitIcmpv4(repr, buf)).toBe(8);
    expect(buf).toEqual(bytes);
  });

  it('ignores the unused bits of a port unreachable', () => {
    // RFC 1191 §4: the MTU field is only meaningful with code 4.
    const b = PORT_UNREACH.slice();
    b[7] = 0x99;
    const r = parseIcmpv4(b, { checksum: 'ignore' });
    expect(r.ok && r.value.repr).toEqual({ type: 'dest-unreachable', code: 3, nextHopMtu: 0 });
  });

  it('accepts an echo with a non-zero code, as Linux does', () => {
    const b = ECHO_REQUEST.slice();
    b[1] = 7;
    const p = Icmpv4Packet.check(b, { checksum: 'ignore' });
    if (!p.ok) throw new Error(p.error.kind);
    expect(p.value.verifyChecksum()).toBe(false);
    p.value.fillChecksum();
    expect(parseIcmpv4(b)).toMatchObject({
      ok: true,
      value: { repr: { type: 'echo-request', ident: 7263 } },
    });
  });

  it('parses unknown types as other, not as an error', () => {
    const buf = new Uint8Array(8);
    emitIcmpv4({ type: 'other', icmpType: 200, code: 9, rest: 0xdeadbeef }, buf);
    expect(parseIcmpv4(buf)).toEqual({
      ok: true,
      value: {
        repr: { type: 'other', icmpType: 200, code: 9, rest: 0xdeadbeef },
        payload: new Uint8Array(0),
      },
    });
  });

  it('classifies error types (RFC 1122 §3.2.2)', () => {
    expect([0, 3, 4, 5, 8, 11, 12, 13, 14, 255].filter(isIcmpv4Error)).toEqual([3, 4, 5, 11, 12]);
  });

  it('accepts a bad checksum when told to ignore it', () => {
    const b = ECHO_REQUEST.slice();
    b[9]! ^= 0x40;
    expect(parseIcmpv4(b, { checksum: 'ignore' }).ok).toBe(true);
  });

  it('throws when the buffer is too small (a programmer error)', () => {
    expect(() => emitIcmpv4({ type: 'echo-request', ident: 1, seq: 1 }, new Uint8Array(7))).toThrow(
      RangeError,
    );
  });

  it.each([
    ['empty', new Uint8Array(0), 'truncated'],
    ['7 bytes', ECHO_REQUEST.subarray(0, 7), 'truncated'],
    [
      'a flipped payload bit',
      Uint8Array.from(ECHO_REQUEST, (v, i) => (i === 20 ? v ^ 1 : v)),
      'bad-checksum',
    ],
    ['a message cut short', ECHO_REQUEST.subarray(0, 18), 'bad-checksum'],
    [
      'a zeroed checksum',
      Uint8Array.from(ECHO_REQUEST, (v, i) => (i === 2 || i === 3 ? 0 : v)),
      'bad-checksum',
    ],
  ])('rejects %s', (_name, bytes, kind) => {
    const r = parseIcmpv4(bytes);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.error).toEqual({ layer: 'icmpv4', kind, severity: 'malformed' });
  });
});

describe('quoteDatagram', () => {
  it('quotes what Linux quoted in its fragmentation needed', () => {
    const q = quoteDatagram(BIG_ECHO);
    expect(q.length).toBe(ICMPV4_ERROR_QUOTE_MAX);
    expect(q).toEqual(FRAG_NEEDED.subarray(8));
    expect(8 + q.length + 20).toBe(576);
    expect(q.buffer).toBe(BIG_ECHO.buffer);
  });

  it('quotes a short datagram whole, without link padding', () => {
    expect(quoteDatagram(TTL1_ECHO)).toEqual(TTL1_ECHO);
    const padded = concat(UDP_QUOTED, new Uint8Array(12));
    expect(quoteDatagram(padded)).toEqual(UDP_QUOTED);
  });

  it('honours a smaller limit and refuses one below header + 8', () => {
    expect(quoteDatagram(BIG_ECHO, 68).length).toBe(68);
    expect(() => quoteDatagram(BIG_ECHO, 27)).toThrow(RangeError);
  });
});

describe('icmpv4 properties', () => {
  it('parse(emit(r)) equals r', () => {
    fc.assert(
      fc.property(icmpv4ReprArb, fc.uint8Array({ maxLength: 96 }), (repr, payload) => {
        const buf = new Uint8Array(8 + payload.length);
        buf.set(payload, 8);
        emitIcmpv4(repr, buf);
        const r = parseIcmpv4(buf);
        if (!r.ok) throw new Error(r.error.kind);
        expect(r.value.repr).toEqual(repr);
        expect(r.value.payload).toEqual(payload);
      }),
      propOptions(),
    );
  });

  it('parse is total on arbitrary and mutated bytes', () => {
    fc.assert(
      fc.property(
        mutated(icmpv4MessageArb),
        fc.constantFrom('verify' as const, 'ignore' as const),
        (bytes, checksum) => {
          const r = parseIcmpv4(bytes, { checksum });
          if (!r.ok) {
            expect(r.error.layer).toBe('icmpv4');
            return;
          }
          expect(r.value.payload.length).toBe(bytes.length - 8);
          // A verified message re-emits to the same bytes unless it carried non-zero unused bits.
          if (checksum === 'verify') {
            const out = bytes.slice();
            emitIcmpv4(r.value.repr, out);
            const again = parseIcmpv4(out);
            expect(again.ok && again.value.repr).toEqual(r.value.repr);
          }
        },
      ),
      propOptions(500),
    );
  });

  it('quoteDatagram is a prefix of at most maxLen bytes and at least header + 8', () => {
    fc.assert(
      fc.property(
        fc.oneof(ipv4PacketArb, fc.uint8Array({ maxLength: 700 })),
        fc.integer({ min: 68, max: 1500 }),
        (ip, maxLen) => {
          const q = quoteDatagram(ip, maxLen);
          expect(q.length).toBeLessThanOrEqual(Math.min(maxLen, ip.length));
          expect(q).toEqual(ip.subarray(0, q.length));
          const hl = ((ip[0] ?? 0) & 0x0f) * 4;
          if (ip.length >= hl + 8 && ip[0]! >>> 4 === 4 && ((ip[2]! << 8) | ip[3]!) >= hl + 8)
            expect(q.length).toBeGreaterThanOrEqual(hl + 8);
        },
      ),
      propOptions(),
    );
  });
});
