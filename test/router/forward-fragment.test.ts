import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { equalBytes, fromHex, u16 } from '../../src/bytes.js';
import { initialReassembly, type ReassemblyState, step } from '../../src/fragments/reassembly.js';
import { IPPROTO_ICMP } from '../../src/ipproto.js';
import { fragmentForward4 } from '../../src/router/forward.js';
import { propOptions } from '../support/props.js';
import { ipv4HeaderSum, ipv4Packet, refillIpv4, v4 } from './forward-arb.js';

const alloc = (len: number) => new Uint8Array(len);

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

// Provenance (the capture of test/ipv4/wire.test.ts): Linux 6.18.44, `ping -c 1 -s 3000 10.201.2.1`
// from netns A: the three fragments as A sent them at MTU 1500. The payloads are iputils' pattern.
const ICMP_HEAD = fromHex('08000f631c600001 629b066b00000000 8287010000000000');
const FRAG1 = concat(
  fromHex('450005dc 91832000 4001ab0a 0ac90101 0ac90201'),
  ICMP_HEAD,
  pingPattern(16, 1456),
);
const FRAG2 = concat(fromHex('450005dc 918320b9 4001aa51 0ac90101 0ac90201'), pingPattern(1472, 1480));
const FRAG3 = concat(fromHex('45000044 91830172 4001cf30 0ac90101 0ac90201'), pingPattern(2952, 48));

/** Fields of a fragment: [total length, flags word, TTL, options]. */
function fields(f: Uint8Array) {
  const hl = (f[0]! & 0x0f) * 4;
  return {
    total: u16(f, 2),
    more: (f[6]! & 0x20) !== 0,
    offset: (u16(f, 6) & 0x1fff) * 8,
    ttl: f[8]!,
    options: f.subarray(20, hl),
    payload: f.subarray(hl, u16(f, 2)),
  };
}

describe('fragmentForward4: examples', () => {
  it('cuts a 3028-byte echo at MTU 1500 exactly as Linux did (RFC 791 §3.2), TTL 65 -> 64', () => {
    // The datagram those fragments came from, one hop earlier (TTL 65).
    const whole = concat(
      fromHex('45000bd4 91830000 41010000 0ac90101 0ac90201'),
      FRAG1.subarray(20),
      FRAG2.subarray(20),
      FRAG3.subarray(20),
    );
    refillIpv4(whole);
    const out = fragmentForward4(whole, 1500, alloc);
    expect(out).toEqual([FRAG1, FRAG2, FRAG3]);
  });

  it('writes into the buffers alloc gives (with headroom) and returns views of exactly the fragment', () => {
    const whole = ipv4Packet({ src: v4('10.0.1.7'), dst: v4('10.0.2.9'), payload: new Uint8Array(2000) });
    const backing: Uint8Array[] = [];
    const out = fragmentForward4(whole, 1000, (len) => {
      const b = new Uint8Array(14 + len + 16);
      backing.push(b);
      return b.subarray(14);
    })!;
    expect(out.map((f) => f.length)).toEqual([996, 996, 68]);
    out.forEach((f, i) => {
      expect(f.buffer).toBe(backing[i]!.buffer);
      expect(f.byteOffset).toBe(14);
    });
  });

  it('keeps every option in the first fragment and only the copied ones (LSRR) in the others', () => {
    const rr = [7, 7, 4, 0, 0, 0, 0];
    const lsrr = [131, 7, 4, 10, 0, 2, 9];
    const nop = [1];
    const options = Uint8Array.from([...rr, ...nop, ...lsrr, 0]);
    const whole = ipv4Packet({
      src: v4('10.0.1.7'),
      dst: v4('10.0.2.9'),
      options,
      payload: pingPattern(0, 1200),
      ttl: 9,
    });
    const out = fragmentForward4(whole, 576, alloc)!;
    expect(fields(out[0]!).options).toEqual(options);
    for (const f of out.slice(1)) expect(fields(f).options).toEqual(Uint8Array.from([...lsrr, 0]));
    expect(out.map((f) => fields(f).ttl)).toEqual(out.map(() => 8));
    expect(out.every((f) => ipv4HeaderSum(f) === 0xffff)).toBe(true);
  });

  it('copies the reserved flag bit and the type of service into every fragment (RFC 1812 §5.2.5)', () => {
    const whole = ipv4Packet({
      src: v4('10.0.1.7'),
      dst: v4('10.0.2.9'),
      payload: new Uint8Array(3000),
      tos: 0xb9,
    });
    whole[6]! |= 0x80;
    refillIpv4(whole);
    for (const f of fragmentForward4(whole, 1500, alloc)!) {
      expect(f[1]).toBe(0xb9);
      expect(f[6]! & 0x80).toBe(0x80);
    }
  });

  it('refuses DF, TTL 1, bad options, a broken header and an MTU with no room for 8 octets', () => {
    const base = { src: v4('10.0.1.7'), dst: v4('10.0.2.9'), payload: new Uint8Array(2000) };
    expect(fragmentForward4(ipv4Packet({ ...base, df: true }), 1500, alloc)).toBeUndefined();
    expect(fragmentForward4(ipv4Packet({ ...base, ttl: 1 }), 1500, alloc)).toBeUndefined();
    expect(
      fragmentForward4(ipv4Packet({ ...base, options: Uint8Array.of(0x44, 1, 0, 0) }), 1500, alloc),
    ).toBeUndefined();
    expect(fragmentForward4(new Uint8Array(19), 1500, alloc)).toBeUndefined();
    expect(fragmentForward4(ipv4Packet(base), 27, alloc)).toBeUndefined();
  });

  it('returns a packet that fits as one piece with the TTL decremented', () => {
    const whole = ipv4Packet({
      src: v4('10.0.1.7'),
      dst: v4('10.0.2.9'),
      payload: new Uint8Array(100),
      ttl: 5,
    });
    const [only, ...rest] = fragmentForward4(whole, 1500, alloc)!;
    expect(rest).toEqual([]);
    expect(fields(only!).ttl).toBe(4);
    expect(only!.subarray(20)).toEqual(whole.subarray(20));
  });
});

/** Feeds fragments to the reassembly core; returns the reassembled payload, if any. */
function reassemble(frags: Uint8Array[]): Uint8Array | undefined {
  // MTU 68 cuts 6000 bytes into hundreds of fragments: raise the per-datagram limit.
  let state: ReassemblyState = initialReassembly({ maxFragments: 4096 });
  let result: Uint8Array | undefined;
  for (const f of frags) {
    const x = fields(f);
    const hl = (f[0]! & 0x0f) * 4;
    const [next, outputs] = step(state, {
      kind: 'fragment',
      now: 0,
      key: 'k',
      offset: x.offset,
      data: x.payload,
      more: x.more,
      header: f.subarray(0, hl),
    });
    state = next;
    for (const o of outputs) if (o.kind === 'reassembled') result = o.data;
  }
  return result;
}

const COPIED = [131, 7, 4, 1, 2, 3, 4];
const NOT_COPIED = [7, 7, 4, 0, 0, 0, 0];

/** Mostly common MTUs; small ones (many fragments, slow to reassemble) now and then. */
const mtuArb = fc.oneof(
  { weight: 1, arbitrary: fc.integer({ min: 68, max: 300 }) },
  { weight: 3, arbitrary: fc.constantFrom(576, 1280, 1500) },
  { weight: 3, arbitrary: fc.integer({ min: 300, max: 9000 }) },
);

const problemArb = fc.record({
  payload: fc.integer({ min: 0, max: 6000 }).chain((n) => fc.uint8Array({ minLength: n, maxLength: n })),
  /** Groups of option bytes: a copied and an uncopied known option, a NOP, a copied and an uncopied unknown one. */
  options: fc.subarray([COPIED, NOT_COPIED, [1], [0x94, 4, 0, 0], [0x14, 2]]),
  mtu: mtuArb,
  second: mtuArb,
  ttl: fc.integer({ min: 3, max: 255 }),
  reserved: fc.boolean(),
  shuffle: fc.infiniteStream(fc.nat()),
});

describe('fragmentForward4 properties', () => {
  it('reassembles to the original; fragments fit the MTU; offsets are multiples of 8; headers check', () => {
    fc.assert(
      fc.property(problemArb, (pr) => {
        const options = Uint8Array.from(pr.options.flat());
        const copied = pr.options.filter((o) => (o[0]! & 0x80) !== 0).flat();
        while (copied.length % 4 !== 0) copied.push(0);
        const whole = ipv4Packet({
          src: v4('10.0.1.7'),
          dst: v4('10.0.2.9'),
          protocol: IPPROTO_ICMP,
          options,
          payload: pr.payload,
          ttl: pr.ttl,
        });
        if (pr.reserved) refillIpv4(Object.assign(whole, { 6: whole[6]! | 0x80 }));
        const out = fragmentForward4(whole, pr.mtu, alloc);
        expect(out).toBeDefined();
        const frags = out!;
        for (const [i, f] of frags.entries()) {
          const x = fields(f);
          expect(f.length).toBeLessThanOrEqual(pr.mtu);
          expect(x.total).toBe(f.length);
          expect(x.offset % 8).toBe(0);
          expect(x.more).toBe(i < frags.length - 1);
          expect(x.ttl).toBe(pr.ttl - 1);
          expect(ipv4HeaderSum(f)).toBe(0xffff);
          expect(f.subarray(1, 2)).toEqual(whole.subarray(1, 2));
          expect(f.subarray(4, 6)).toEqual(whole.subarray(4, 6));
          expect(f.subarray(9, 10)).toEqual(whole.subarray(9, 10));
          expect(f.subarray(12, 20)).toEqual(whole.subarray(12, 20));
          expect(f[6]! & 0xc0).toBe(whole[6]! & 0xc0);
          if (i === 0)
            expect(f.subarray(20, (whole[0]! & 0x0f) * 4)).toEqual(
              whole.subarray(20, (whole[0]! & 0x0f) * 4),
            );
          else expect(Array.from(x.options)).toEqual(copied);
        }
        // Arrival order does not matter to reassembly.
        const order = frags.map((f, i) => ({ f, k: pr.shuffle.next().value as number, i }));
        order.sort((a, b) => a.k - b.k || a.i - b.i);
        if (frags.length > 1) expect(equalBytes(reassemble(order.map((o) => o.f))!, pr.payload)).toBe(true);
        else expect(equalBytes(frags[0]!.subarray(whole.length - pr.payload.length), pr.payload)).toBe(true);
      }),
      propOptions(300),
    );
  });

  it('fragments fragments: offsets add, MF kept but on the very last piece, and all of it reassembles', () => {
    fc.assert(
      fc.property(problemArb, (pr) => {
        const options = Uint8Array.from(pr.options.flat());
        const whole = ipv4Packet({
          src: v4('10.0.1.7'),
          dst: v4('10.0.2.9'),
          options,
          payload: pr.payload,
          ttl: pr.ttl,
        });
        const [big, small] = pr.mtu >= pr.second ? [pr.mtu, pr.second] : [pr.second, pr.mtu];
        const first = fragmentForward4(whole, big, alloc)!;
        const pieces = first.flatMap((f) => {
          const again = fragmentForward4(f, small, alloc)!;
          expect(again).toBeDefined();
          const x = fields(f);
          const ys = again.map(fields);
          expect(ys[0]!.offset).toBe(x.offset);
          for (const [i, y] of ys.entries()) expect(y.more).toBe(i < ys.length - 1 || x.more);
          return again;
        });
        for (const p of pieces) {
          expect(p.length).toBeLessThanOrEqual(small);
          expect(fields(p).ttl).toBe(pr.ttl - 2);
        }
        if (pieces.length > 1) expect(equalBytes(reassemble(pieces)!, pr.payload)).toBe(true);
      }),
      propOptions(300),
    );
  });
});
