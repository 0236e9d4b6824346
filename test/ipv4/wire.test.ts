import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseIpv4Addr } from '../../src/addr.js';
import { fromHex } from '../../src/bytes.js';
import {
  decrementTtl,
  emitIpv4,
  Ipv4Packet,
  type Ipv4Repr,
  ipv4HeaderLen,
  parseIpv4,
} from '../../src/ipv4/wire.js';
import { mutated, propOptions } from '../support/props.js';
import { ipv4OptionsArb, ipv4PacketArb, ipv4ReprArb } from './arb.js';
import { IPPROTO_ICMP, IPPROTO_UDP } from '../../src/ipproto.js';

// Provenance: Linux 6.18.44 (`uname -r`: 6.18.44-fc-v657), `tcpdump -i a0 -U -w` in a private netns A
// (a0: 10.201.1.1) joined by veth to a router netns R (r0: 10.201.1.254, r1: 10.201.2.254,
// net.ipv4.ip_forward=1) and on to netns B (b0: 10.201.2.1); tx checksum offload off on every veth
// (`ethtool -K <dev> tx off`). Ethernet headers stripped. The commands run in A are named per packet.

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

const A = parseIpv4Addr('10.201.1.1')!;
const R = parseIpv4Addr('10.201.1.254')!;
const B = parseIpv4Addr('10.201.2.1')!;

// `ping -c 1 -s 16 10.201.1.254`: the echo request.
const ECHO_HEADER = fromHex('4500002c ec504000 400135f0 0ac90101 0ac901fe');
const ECHO_PAYLOAD = fromHex('0800e1201c5f0001 629b066b00000000 9078010000000000');
const ECHO = concat(ECHO_HEADER, ECHO_PAYLOAD);
const ECHO_REPR: Ipv4Repr = {
  src: A,
  dst: R,
  protocol: IPPROTO_ICMP,
  ttl: 64,
  dscp: 0,
  ecn: 0,
  ident: 60496,
  dontFragment: true,
  moreFragments: false,
  fragOffset: 0,
  options: new Uint8Array(0),
};

// `ping -c 1 -s 3000 10.201.2.1`: three fragments. The headers are as captured; the payloads are
// iputils' pattern, regenerated here (checked equal to the capture when this test was written).
const FRAG1 = concat(
  fromHex('450005dc 91832000 4001ab0a 0ac90101 0ac90201'),
  fromHex('08000f631c600001 629b066b00000000 8287010000000000'),
  pingPattern(16, 1500 - 44),
);
const FRAG2 = concat(fromHex('450005dc 918320b9 4001aa51 0ac90101 0ac90201'), pingPattern(1472, 1480));
const FRAG3 = fromHex(
  '45000044 91830172 4001cf30 0ac90101 0ac90201' +
    '88898a8b8c8d8e8f909192939495969798999a9b9c9d9e9fa0a1a2a3a4a5a6a7a8a9aaabacadaeafb0b1b2b3b4b5b6b7',
);

// `echo oasis | nc -u -w1 -p 40000 10.201.2.1 9`: the UDP datagram as A sent it (34 bytes; veth does
// not pad) ...
const UDP = fromHex('45000022 a5964000 40117ca1 0ac90101 0ac90201 9c400009000ef51f 6f617369730a');
// ... and the same header as R forwarded it (TTL 63, checksum patched), quoted back in B's port
// unreachable, which itself carries TOS 0xc0 (DSCP CS6, ECN 0).
const UDP_FORWARDED_HEADER = fromHex('45000022 a5964000 3f117da1 0ac90101 0ac90201');
const PORT_UNREACH = fromHex(
  '45c0003e fd430000 3f016528 0ac90201 0ac90101' +
    '030315b000000000 45000022a59640003f117da10ac901010ac902019c400009000ef51f6f617369730a',
);

// `ping -c 1 -R -s 8 10.201.2.1`: the reply, with a full Record Route option (type 7, length 39,
// pointer 24: five addresses recorded) and one EOL byte of padding: IHL 15.
const RR_OPTIONS = fromHex(
  '072718 0ac90101 0ac902fe 0ac90201 0ac90201 0ac901fe 00000000 00000000 00000000 00000000 00',
);
const RR_REPLY = concat(
  fromHex('4f00004c fd440000 3f015072 0ac90201 0ac90101'),
  RR_OPTIONS,
  fromHex('0000d7891c650001 0001020304050607'),
);

function view(bytes: Uint8Array): Ipv4Packet {
  const r = Ipv4Packet.check(bytes);
  if (!r.ok) throw new Error(`${r.error.layer}/${r.error.kind}`);
  return r.value;
}

/** Recomputes the header checksum of bytes whose fields a test has edited. */
function refill(bytes: Uint8Array): Uint8Array {
  const r = Ipv4Packet.check(bytes, { checksum: 'ignore' });
  if (!r.ok) throw new Error(`${r.error.layer}/${r.error.kind}`);
  r.value.fillChecksum();
  return bytes;
}

function edit(edits: Record<number, number>, bytes = ECHO): Uint8Array {
  const b = bytes.slice();
  for (const [at, v] of Object.entries(edits)) b[Number(at)] = v;
  return b;
}

describe('Ipv4Packet', () => {
  it('reads every field of a golden echo request', () => {
    const p = view(ECHO);
    expect(p.version).toBe(4);
    expect(p.headerLen).toBe(20);
    expect(p.dscp).toBe(0);
    expect(p.ecn).toBe(0);
    expect(p.totalLen).toBe(44);
    expect(p.ident).toBe(60496);
    expect(p.dontFragment).toBe(true);
    expect(p.moreFragments).toBe(false);
    expect(p.fragOffset).toBe(0);
    expect(p.isFragment).toBe(false);
    expect(p.ttl).toBe(64);
    expect(p.protocol).toBe(IPPROTO_ICMP);
    expect(p.checksum).toBe(0x35f0);
    expect(p.src).toBe(A);
    expect(p.dst).toBe(R);
    expect(p.options.length).toBe(0);
    expect(p.payload).toEqual(ECHO_PAYLOAD);
    expect(p.verifyChecksum()).toBe(true);
    expect(p.repr()).toEqual(ECHO_REPR);
  });

  it.each([
    ['first', FRAG1, 0, true, 1480],
    ['middle', FRAG2, 1480, true, 1480],
    ['last', FRAG3, 2960, false, 48],
  ])('reads the %s fragment of a 3000-byte ping', (_name, bytes, offset, more, payloadLen) => {
    const p = view(bytes);
    expect(p.ident).toBe(37251);
    expect(p.dontFragment).toBe(false);
    expect(p.moreFragments).toBe(more);
    expect(p.fragOffset).toBe(offset);
    expect(p.isFragment).toBe(true);
    expect(p.dst).toBe(B);
    expect(p.payload.length).toBe(payloadLen);
  });

  it('reads DSCP and ECN from TOS 0xc0', () => {
    const p = view(PORT_UNREACH);
    expect(p.dscp).toBe(48);
    expect(p.ecn).toBe(0);
    expect(p.ttl).toBe(63);
    expect(p.src).toBe(B);
  });

  it('reads options and the payload after them', () => {
    const p = view(RR_REPLY);
    expect(p.headerLen).toBe(60);
    expect(p.totalLen).toBe(76);
    expect(p.options).toEqual(RR_OPTIONS);
    expect(p.payload).toEqual(fromHex('0000d7891c650001 0001020304050607'));
  });

  it('cuts Ethernet padding from the payload', () => {
    // A 48-byte frame is padded to 60 on a real NIC: 12 bytes after the 34-byte datagram.
    const padded = concat(UDP, new Uint8Array(12).fill(0x5a));
    const r = parseIpv4(padded);
    if (!r.ok) throw new Error(r.error.kind);
    expect(r.value.repr.protocol).toBe(IPPROTO_UDP);
    expect(r.value.payload).toEqual(UDP.subarray(20));
  });

  it('ignores the reserved flag on receive and clears it on emit', () => {
    const evil = ECHO.slice();
    evil[6]! |= 0x80;
    refill(evil);
    const r = parseIpv4(evil);
    if (!r.ok) throw new Error(r.error.kind);
    expect(r.value.repr).toEqual(ECHO_REPR);
    const out = ECHO.slice();
    emitIpv4(r.value.repr, out);
    expect(out).toEqual(ECHO);
  });

  it('accepts a bad checksum when told to ignore it', () => {
    const bad = ECHO.slice();
    bad[11]! ^= 1;
    expect(parseIpv4(bad).ok).toBe(false);
    expect(parseIpv4(bad, { checksum: 'ignore' }).ok).toBe(true);
    const p = Ipv4Packet.check(bad, { checksum: 'ignore' });
    if (!p.ok) throw new Error(p.error.kind);
    expect(p.value.verifyChecksum()).toBe(false);
    p.value.fillChecksum();
    expect(bad).toEqual(ECHO);
  });

  it('emits the echo request byte for byte over a buffer pre-filled with 0xa5', () => {
    const buf = new Uint8Array(ECHO.length).fill(0xa5);
    buf.set(ECHO_PAYLOAD, ipv4HeaderLen(ECHO_REPR));
    expect(emitIpv4(ECHO_REPR, buf)).toBe(20);
    expect(buf).toEqual(ECHO);
  });

  it('emits options byte for byte, padding them with EOL', () => {
    const repr = view(RR_REPLY).repr();
    // Drop the EOL byte the capture carries: emit must put it back as padding.
    const unpadded = { ...repr, options: RR_OPTIONS.subarray(0, 39) };
    expect(ipv4HeaderLen(unpadded)).toBe(60);
    const buf = new Uint8Array(RR_REPLY.length).fill(0xa5);
    buf.set(RR_REPLY.subarray(60), 60);
    expect(emitIpv4(unpadded, buf)).toBe(60);
    expect(buf).toEqual(RR_REPLY);
  });

  it('emits the fragment fields', () => {
    const repr = view(FRAG2).repr();
    const buf = new Uint8Array(FRAG2.length).fill(0xa5);
    buf.set(FRAG2.subarray(20), 20);
    emitIpv4(repr, buf);
    expect(buf).toEqual(FRAG2);
  });

  it.each([
    ['options over 40 bytes', { ...ECHO_REPR, options: new Uint8Array(41) }, 100],
    ['a buffer smaller than the header', { ...ECHO_REPR, options: new Uint8Array(4) }, 23],
    ['a datagram over 65535 bytes', ECHO_REPR, 65536],
    ['an unaligned fragment offset', { ...ECHO_REPR, fragOffset: 12 }, 40],
    ['a fragment offset over 65528', { ...ECHO_REPR, fragOffset: 65536 }, 40],
  ])('throws on emit with %s (a programmer error)', (_name, repr, len) => {
    expect(() => emitIpv4(repr, new Uint8Array(len))).toThrow(RangeError);
  });

  it.each([
    ['empty', new Uint8Array(0), 'truncated'],
    ['19 bytes', ECHO.subarray(0, 19), 'truncated'],
    ['version 6', edit({ 0: 0x65 }), 'bad-version'],
    ['version 0', edit({ 0: 0x05 }), 'bad-version'],
    ['IHL 4', edit({ 0: 0x44 }), 'bad-header-length'],
    ['IHL 0', edit({ 0: 0x40 }), 'bad-header-length'],
    ['IHL 15 in 44 bytes', edit({ 0: 0x4f }), 'truncated'],
    ['IHL 15 in 59 bytes', RR_REPLY.subarray(0, 59), 'truncated'],
    ['total length 19', edit({ 2: 0, 3: 19 }), 'bad-total-length'],
    ['total length below the options', edit({ 2: 0, 3: 56 }, RR_REPLY), 'bad-total-length'],
    ['total length 45 in 44 bytes', edit({ 2: 0, 3: 45 }), 'truncated-payload'],
    ['a frame cut short', FRAG2.subarray(0, 1000), 'truncated-payload'],
    ['a flipped bit', edit({ 15: 0x02 }), 'bad-checksum'],
    ['a zeroed checksum', edit({ 10: 0, 11: 0 }), 'bad-checksum'],
  ])('rejects %s', (_name, bytes, kind) => {
    const r = parseIpv4(bytes);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.error).toEqual({ layer: 'ipv4', kind, severity: 'malformed' });
  });
});

describe('decrementTtl', () => {
  it('patches the checksum exactly as the Linux router did', () => {
    const bytes = UDP.slice();
    expect(decrementTtl(bytes)).toBe(63);
    expect(bytes.subarray(0, 20)).toEqual(UDP_FORWARDED_HEADER);
    expect(bytes.subarray(20)).toEqual(UDP.subarray(20));
  });

  it('goes down to 0 and refuses to go further', () => {
    const bytes = edit({ 8: 1 });
    refill(bytes);
    expect(decrementTtl(bytes)).toBe(0);
    expect(view(bytes).ttl).toBe(0);
    expect(() => decrementTtl(bytes)).toThrow(RangeError);
    expect(() => decrementTtl(new Uint8Array(19))).toThrow(RangeError);
  });
});

describe('ipv4 properties', () => {
  it('parse(emit(r)) equals r', () => {
    fc.assert(
      fc.property(ipv4ReprArb, fc.uint8Array({ maxLength: 64 }), (repr, payload) => {
        const hl = ipv4HeaderLen(repr);
        const buf = new Uint8Array(hl + payload.length);
        buf.set(payload, hl);
        expect(emitIpv4(repr, buf)).toBe(hl);
        const r = parseIpv4(buf);
        if (!r.ok) throw new Error(r.error.kind);
        expect(r.value.repr).toEqual(repr);
        expect(r.value.payload).toEqual(payload);
      }),
      propOptions(),
    );
  });

  it('emit pads options of any length with EOL', () => {
    fc.assert(
      fc.property(ipv4ReprArb, ipv4OptionsArb, (base, options) => {
        const repr = { ...base, options };
        const hl = ipv4HeaderLen(repr);
        expect(hl % 4).toBe(0);
        expect(hl - 20 - options.length).toBeLessThan(4);
        const buf = new Uint8Array(hl + 3).fill(0xa5);
        emitIpv4(repr, buf);
        const r = parseIpv4(buf);
        if (!r.ok) throw new Error(r.error.kind);
        const padded = new Uint8Array(hl - 20);
        padded.set(options);
        expect(r.value.repr).toEqual({ ...repr, options: padded });
        expect(r.value.payload).toEqual(Uint8Array.of(0xa5, 0xa5, 0xa5));
      }),
      propOptions(),
    );
  });

  it('decrementTtl equals recomputing the checksum', () => {
    fc.assert(
      fc.property(ipv4PacketArb, (bytes) => {
        fc.pre(bytes[8]! > 0);
        const ttl = bytes[8]!;
        const fast = bytes.slice();
        expect(decrementTtl(fast)).toBe(ttl - 1);
        const slow = bytes.slice();
        slow[8] = ttl - 1;
        refill(slow);
        expect(fast).toEqual(slow);
        expect(view(fast).verifyChecksum()).toBe(true);
      }),
      propOptions(),
    );
  });

  it('parse is total on arbitrary and mutated bytes, and what it accepts is consistent', () => {
    fc.assert(
      fc.property(
        mutated(ipv4PacketArb),
        fc.constantFrom('verify' as const, 'ignore' as const),
        (bytes, checksum) => {
          const r = Ipv4Packet.check(bytes, { checksum });
          if (!r.ok) {
            expect(r.error.layer).toBe('ipv4');
            expect(r.error.severity).toBe('malformed');
            return;
          }
          const p = r.value;
          expect(p.headerLen).toBeGreaterThanOrEqual(20);
          expect(p.headerLen).toBeLessThanOrEqual(p.totalLen);
          expect(p.totalLen).toBeLessThanOrEqual(bytes.length);
          expect(p.payload.length).toBe(p.totalLen - p.headerLen);
          expect(p.options.length).toBe(p.headerLen - 20);
          if (checksum === 'verify') expect(p.verifyChecksum()).toBe(true);
          // Re-emitting what was parsed gives the same header, less the reserved flag.
          const out = bytes.slice(0, p.totalLen);
          emitIpv4(p.repr(), out);
          const expected = bytes.slice(0, p.totalLen);
          expected[6]! &= 0x7f;
          refill(expected);
          expect(out).toEqual(expected);
        },
      ),
      propOptions(500),
    );
  });
});
