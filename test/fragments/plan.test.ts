import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { equalBytes } from '../../src/bytes.js';
import { type FragmentPlan, planFragments } from '../../src/fragments/plan.js';
import { initialReassembly, type ReassemblyOutput, step } from '../../src/fragments/reassembly.js';
import { propOptions } from '../support/props.js';

describe('planFragments examples', () => {
  it('cuts ping -s 60000 (60008 bytes of ICMP) at IPv4 MTU 1500 into 41 fragments, as Linux does', () => {
    const plan = planFragments(60_008, 1500, 20, 0);
    expect(plan).toHaveLength(41);
    expect(plan.slice(0, 40).every((p) => p.length === 1480 && p.more)).toBe(true);
    expect(plan[40]).toEqual({ offset: 59_200, length: 808, more: false });
  });

  it('puts an 8-byte Fragment header in every IPv6 fragment (RFC 8200 §4.5)', () => {
    expect(planFragments(3000, 1280, 40, 8)).toEqual([
      { offset: 0, length: 1232, more: true },
      { offset: 1232, length: 1232, more: true },
      { offset: 2464, length: 536, more: false },
    ]);
  });

  it('does not fragment what fits, and then needs no Fragment header (RFC 8021)', () => {
    expect(planFragments(1480, 1500, 20, 0)).toEqual([{ offset: 0, length: 1480, more: false }]);
    expect(planFragments(1240, 1280, 40, 8)).toEqual([{ offset: 0, length: 1240, more: false }]);
    expect(planFragments(0, 1280, 40, 8)).toEqual([{ offset: 0, length: 0, more: false }]);
  });

  it('lets later IPv4 fragments use a shorter header (options without the copied flag stay in the first)', () => {
    expect(planFragments(1200, 576, 60, 0, 24)).toEqual([
      { offset: 0, length: 512, more: true },
      { offset: 512, length: 552, more: true },
      { offset: 1064, length: 136, more: false },
    ]);
  });

  it.each([
    ['an MTU leaving less than 8 bytes', 100, 27, 20, 0, 20],
    ['an MTU leaving less than 8 bytes after the fragment header', 100, 35, 20, 8, 20],
    ['a later header too long for the MTU', 100, 68, 20, 0, 64],
    ['a negative length', -1, 1500, 20, 0, 20],
    ['a fractional MTU', 3000, 1500.5, 20, 0, 20],
    ['a payload over 65535', 65_536, 1500, 20, 0, 20],
  ])('throws a RangeError on %s', (_name, payload, mtu, header, frag, later) => {
    expect(() => planFragments(payload, mtu, header, frag, later)).toThrow(RangeError);
  });
});

/** A random IPv4 or IPv6 fragmentation problem within the protocols' limits. */
const problemArb = fc.oneof(
  fc
    .record({
      ihl: fc.integer({ min: 5, max: 15 }),
      laterIhl: fc.integer({ min: 5, max: 15 }),
      mtu: fc.integer({ min: 68, max: 9000 }),
      payloadLen: fc.nat(),
    })
    .map(({ ihl, laterIhl, mtu, payloadLen }) => ({
      v6: false,
      headerLen: ihl * 4,
      laterHeaderLen: Math.min(ihl, laterIhl) * 4,
      fragHeaderLen: 0,
      mtu,
      payloadLen: payloadLen % (65_535 - ihl * 4 + 1),
    })),
  fc
    .record({
      extra: fc.integer({ min: 0, max: 40 }),
      mtu: fc.integer({ min: 1280, max: 9000 }),
      payloadLen: fc.nat(),
    })
    .map(({ extra, mtu, payloadLen }) => ({
      v6: true,
      headerLen: 40 + extra * 8,
      laterHeaderLen: 40 + extra * 8,
      fragHeaderLen: 8,
      mtu,
      // RFC 8200 §4.5: the reassembled Payload Length (per-fragment extension headers included) <= 65535.
      payloadLen: payloadLen % (65_535 - extra * 8 + 1),
    })),
);

describe('planFragments properties', () => {
  it('tiles the payload, keeps non-last lengths multiples of 8, and fits every fragment in the MTU', () => {
    fc.assert(
      fc.property(problemArb, (p) => {
        const plan = planFragments(p.payloadLen, p.mtu, p.headerLen, p.fragHeaderLen, p.laterHeaderLen);
        const bad: string[] = []; // plain checks: one expect per fragment is slow over ~1000 fragments
        let next = 0;
        plan.forEach((f: FragmentPlan, i) => {
          const last = i === plan.length - 1;
          const header = i === 0 ? p.headerLen : p.laterHeaderLen;
          const size = plan.length === 1 ? p.headerLen + f.length : header + p.fragHeaderLen + f.length;
          if (f.offset !== next) bad.push(`${i}: offset ${f.offset}, expected ${next}`);
          if (f.more === last) bad.push(`${i}: more flag`);
          if (!last && f.length % 8 !== 0) bad.push(`${i}: length ${f.length} not a multiple of 8`);
          if (plan.length > 1 && f.length === 0) bad.push(`${i}: empty`);
          if (size > p.mtu) bad.push(`${i}: ${size} bytes over MTU ${p.mtu}`);
          // Maximal: a non-last fragment could not take 8 more bytes (RFC 791 §3.2 procedure).
          if (!last && size + 8 <= p.mtu) bad.push(`${i}: ${size} bytes, room left`);
          next = f.offset + f.length;
        });
        if (next !== p.payloadLen) bad.push(`covers ${next} of ${p.payloadLen}`);
        expect(bad).toEqual([]);
      }),
      propOptions(),
    );
  });

  it('reassembling the planned fragments, in any order, gives the payload back', () => {
    // At most ~256 fragments per datagram keeps the run short (each insert copies the fragment list).
    const capped = problemArb.map((p) => ({
      ...p,
      payloadLen: p.payloadLen % (256 * (p.mtu - p.headerLen - p.fragHeaderLen) + 1),
    }));
    const arb = capped.chain((p) =>
      fc.tuple(
        fc.constant(p),
        fc.integer({ min: 0, max: 255 }),
        fc.uint8Array({ minLength: p.headerLen, maxLength: p.headerLen }),
      ),
    );
    fc.assert(
      fc.property(arb, fc.nat(), ([p, seed, header], rotate) => {
        const payload = Uint8Array.from({ length: p.payloadLen }, (_, i) => (i * 31 + seed) & 0xff);
        const plan = planFragments(p.payloadLen, p.mtu, p.headerLen, p.fragHeaderLen, p.laterHeaderLen);
        const config = p.v6
          ? { maxDatagramLen: 65_535 + 40, minHeaderLen: 40, maxFragments: 8192 }
          : { maxDatagramLen: 65_535, minHeaderLen: 20, maxFragments: 8192 };
        // Rotate the arrival order so the last fragment is not always last.
        const k = rotate % plan.length;
        const order = [...plan.slice(k), ...plan.slice(0, k)];
        let s = initialReassembly(config);
        const outputs: ReassemblyOutput[] = [];
        for (const f of order) {
          const data = payload.subarray(f.offset, f.offset + f.length);
          const [next, out] = step(s, {
            kind: 'fragment',
            now: 0,
            key: 'k',
            offset: f.offset,
            data,
            more: f.more,
            header,
          });
          outputs.push(...out);
          s = next;
        }
        // equalBytes: vitest's deep equality is slow on 64 KiB arrays.
        expect(outputs).toHaveLength(1);
        const o = outputs[0]!;
        expect(o.kind === 'reassembled' && equalBytes(o.data, payload) && equalBytes(o.header, header)).toBe(
          true,
        );
      }),
      propOptions(100),
    );
  });
});
