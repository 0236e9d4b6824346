import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { readMac } from '../../src/addr.js';
import { fromHex, u16 } from '../../src/bytes.js';
import { IPPROTO_FRAGMENT, IPPROTO_HOPOPTS, IPPROTO_TCP, IPPROTO_UDP } from '../../src/ipproto.js';
import { applyForward4, applyForward6, clampMssFor } from '../../src/router/forward.js';
import { macArb } from '../ethernet/arb.js';
import { ipv4ReprArb } from '../ipv4/arb.js';
import { propOptions } from '../support/props.js';
import {
  frameOf,
  ipv4HeaderSum,
  ipv4Packet,
  ipv6Packet,
  MAC_A,
  MAC_B,
  refillIpv4,
  tcpPseudo4,
  tcpPseudo6,
  tcpSegment,
  tcpSum,
  v4,
  v6,
} from './forward-arb.js';

// Provenance (the same capture as test/ipv4/wire.test.ts): Linux 6.18.44, netns A (10.201.1.1) ->
// router netns R (net.ipv4.ip_forward=1) -> netns B (10.201.2.1), tx checksum offload off.
// `echo oasis | nc -u -w1 -p 40000 10.201.2.1 9` as A sent it, and its header as R forwarded it
// (quoted back in B's port unreachable): TTL 64 -> 63, checksum 7ca1 -> 7da1.
const UDP_SENT = fromHex('45000022 a5964000 40117ca1 0ac90101 0ac90201 9c400009000ef51f 6f617369730a');
const UDP_FORWARDED_HEADER = fromHex('45000022 a5964000 3f117da1 0ac90101 0ac90201');

const SRC4 = v4('10.0.1.7');
const DST4 = v4('10.0.2.9');
const SRC6 = v6('2001:db8:1::7');
const DST6 = v6('2001:db8:2::9');

function mssOption(mss: number): number[] {
  return [2, 4, mss >>> 8, mss & 0xff];
}

/** A forwarded IPv4 TCP frame; returns the frame and a view of its TCP segment. */
function tcpFrame4(
  options: number[],
  more: { syn?: boolean; ack?: boolean; mf?: boolean; fragOffset?: number } = {},
) {
  const seg = tcpSegment(
    { syn: more.syn ?? true, ack: more.ack ?? false, options: Uint8Array.from(options) },
    tcpPseudo4(SRC4, DST4),
  );
  const packet = ipv4Packet({
    src: SRC4,
    dst: DST4,
    protocol: IPPROTO_TCP,
    payload: seg,
    mf: more.mf ?? false,
    fragOffset: more.fragOffset ?? 0,
  });
  const frame = frameOf(packet, 0x0800);
  return { frame, seg: frame.subarray(14 + 20) };
}

describe('applyForward4', () => {
  it('rewrites a packet as Linux forwards it: MACs, TTL 64 -> 63, checksum 7ca1 -> 7da1 (RFC 1624)', () => {
    const frame = frameOf(UDP_SENT, 0x0800);
    expect(applyForward4(frame, MAC_A, MAC_B)).toBe(false);
    expect(readMac(frame, 0)).toBe(MAC_B);
    expect(readMac(frame, 6)).toBe(MAC_A);
    expect(frame.subarray(12, 14)).toEqual(Uint8Array.of(8, 0));
    expect(frame.subarray(14, 34)).toEqual(UDP_FORWARDED_HEADER);
    expect(frame.subarray(34)).toEqual(UDP_SENT.subarray(20));
  });

  it('forwards options untouched', () => {
    const opts = Uint8Array.of(7, 7, 4, 0, 0, 0, 0, 0x94, 4, 0, 0, 1);
    const p = ipv4Packet({ src: SRC4, dst: DST4, options: opts, ttl: 9 });
    const frame = frameOf(p, 0x0800);
    applyForward4(frame, MAC_A, MAC_B);
    expect(frame.subarray(14 + 20, 14 + 32)).toEqual(opts);
    expect(frame[14 + 8]).toBe(8);
    expect(ipv4HeaderSum(frame.subarray(14))).toBe(0xffff);
  });

  it('throws on TTL 0 (decide4 never forwards it) without touching the frame', () => {
    const frame = frameOf(ipv4Packet({ src: SRC4, dst: DST4, ttl: 0 }), 0x0800);
    const copy = frame.slice();
    expect(() => applyForward4(frame, MAC_A, MAC_B)).toThrow(RangeError);
    expect(frame).toEqual(copy);
    expect(() => applyForward4(new Uint8Array(30), MAC_A, MAC_B)).toThrow(RangeError);
  });

  it('keeps the incremental checksum equal to a recomputed one, and TTL goes down by exactly one', () => {
    fc.assert(
      fc.property(ipv4ReprArb, macArb, macArb, fc.uint8Array({ maxLength: 40 }), (repr, s, d, payload) => {
        const ttl = Math.max(1, repr.ttl);
        const p = ipv4Packet({ ...repr, df: repr.dontFragment, mf: repr.moreFragments, ttl, payload });
        const frame = frameOf(p, 0x0800);
        applyForward4(frame, s, d);
        const after = frame.subarray(14);
        expect(after[8]).toBe(ttl - 1);
        const recomputed = refillIpv4(after.slice());
        expect(u16(after, 10)).toBe(u16(recomputed, 10));
        // Nothing else moved.
        const expected = p.slice();
        expected[8] = ttl - 1;
        expected[10] = after[10]!;
        expected[11] = after[11]!;
        expect(after).toEqual(expected);
        expect(readMac(frame, 0)).toBe(d);
        expect(readMac(frame, 6)).toBe(s);
      }),
      propOptions(1000),
    );
  });

  it('leaves a wrong checksum exactly as wrong (RFC 1624 §5): the header sum does not change', () => {
    fc.assert(
      fc.property(ipv4ReprArb, fc.integer({ min: 1, max: 0xffff }), (repr, damage) => {
        const p = ipv4Packet({
          ...repr,
          df: repr.dontFragment,
          mf: repr.moreFragments,
          ttl: Math.max(1, repr.ttl),
        });
        p[10]! ^= damage >>> 8;
        p[11]! ^= damage & 0xff;
        const before = ipv4HeaderSum(p);
        expect(before).not.toBe(0xffff);
        const frame = frameOf(p, 0x0800);
        applyForward4(frame, MAC_A, MAC_B);
        expect(ipv4HeaderSum(frame.subarray(14))).toBe(before);
      }),
      propOptions(1000),
    );
  });
});

describe('MSS clamping (applyForward4/6 with clampMssTo)', () => {
  it('computes the clamp from the MTU: 1500 -> 1460 (IPv4) / 1440 (IPv6)', () => {
    expect(clampMssFor(1500, 4)).toBe(1460);
    expect(clampMssFor(1500, 6)).toBe(1440);
    expect(clampMssFor(576, 4)).toBe(536);
    expect(clampMssFor(1280, 6)).toBe(1220);
    expect(clampMssFor(68, 4)).toBe(28);
    expect(() => clampMssFor(67, 4)).toThrow(RangeError);
    expect(() => clampMssFor(1279, 6)).toThrow(RangeError);
    expect(() => clampMssFor(1500.5, 4)).toThrow(RangeError);
  });

  it('leaves a SYN with MSS 1460 towards a 1500 link untouched', () => {
    const { frame } = tcpFrame4([...mssOption(1460), 1, 3, 3, 7]);
    const before = frame.slice();
    expect(applyForward4(frame, MAC_A, MAC_B, clampMssFor(1500, 4))).toBe(false);
    expect(frame.subarray(34)).toEqual(before.subarray(34));
  });

  it('lowers MSS 1460 to 1360 towards a 1400 link, and the TCP checksum still verifies', () => {
    const { frame, seg } = tcpFrame4([...mssOption(1460), 4, 2, 1, 1]);
    expect(applyForward4(frame, MAC_A, MAC_B, clampMssFor(1400, 4))).toBe(true);
    expect(u16(seg, 22)).toBe(1360);
    expect(tcpSum(seg, tcpPseudo4(SRC4, DST4))).toBe(0xffff);
  });

  it('handles an MSS option at an odd offset (after one NOP, RFC 9293 MUST-64) and a SYN-ACK', () => {
    const { frame, seg } = tcpFrame4([1, ...mssOption(9000), 1, 1, 1], { ack: true });
    expect(applyForward4(frame, MAC_A, MAC_B, 1200)).toBe(true);
    expect(u16(seg, 23)).toBe(1200);
    expect(tcpSum(seg, tcpPseudo4(SRC4, DST4))).toBe(0xffff);
  });

  it('leaves non-SYN segments, fragments and other protocols alone', () => {
    for (const more of [{ syn: false, ack: true }, { mf: true }]) {
      const { frame, seg } = tcpFrame4(mssOption(1460), more);
      const before = seg.slice();
      expect(applyForward4(frame, MAC_A, MAC_B, 500)).toBe(false);
      expect(seg).toEqual(before);
    }
    const udp = frameOf(
      ipv4Packet({ src: SRC4, dst: DST4, protocol: IPPROTO_UDP, payload: new Uint8Array(24) }),
      0x0800,
    );
    udp[14 + 20 + 13] = 0x02;
    expect(applyForward4(udp, MAC_A, MAC_B, 500)).toBe(false);
  });

  it('IPv6: decrements the hop limit and clamps behind a hop-by-hop header, not behind a Fragment header', () => {
    const seg = tcpSegment({ options: Uint8Array.from(mssOption(8940)) }, tcpPseudo6(SRC6, DST6));
    const hbh = Uint8Array.of(IPPROTO_TCP, 0, 1, 4, 0, 0, 0, 0);
    const frame = frameOf(
      ipv6Packet({
        src: SRC6,
        dst: DST6,
        nextHeader: IPPROTO_HOPOPTS,
        hopLimit: 64,
        payload: Uint8Array.of(...hbh, ...seg),
      }),
      0x86dd,
    );
    expect(applyForward6(frame, MAC_A, MAC_B, clampMssFor(1500, 6))).toBe(true);
    expect(frame[14 + 7]).toBe(63);
    expect(readMac(frame, 0)).toBe(MAC_B);
    const out = frame.subarray(14 + 48);
    expect(u16(out, 22)).toBe(1440);
    expect(tcpSum(out, tcpPseudo6(SRC6, DST6))).toBe(0xffff);

    const frag = Uint8Array.of(IPPROTO_TCP, 0, 0, 1, 0, 0, 0, 7);
    const fragmented = frameOf(
      ipv6Packet({
        src: SRC6,
        dst: DST6,
        nextHeader: IPPROTO_FRAGMENT,
        payload: Uint8Array.of(...frag, ...seg),
      }),
      0x86dd,
    );
    expect(applyForward6(fragmented, MAC_A, MAC_B, 1000)).toBe(false);
    expect(u16(fragmented, 14 + 48 + 22)).toBe(8940);
  });

  it('IPv6: throws on hop limit 0 without touching the frame', () => {
    const frame = frameOf(ipv6Packet({ src: SRC6, dst: DST6, hopLimit: 0 }), 0x86dd);
    const copy = frame.slice();
    expect(() => applyForward6(frame, MAC_A, MAC_B)).toThrow(RangeError);
    expect(frame).toEqual(copy);
  });

  /** Random option areas: NOPs, MSS, window scale, SACK-permitted, timestamps, unknown, junk. */
  const optionsArb = fc
    .array(
      fc.oneof(
        fc.constant([1]),
        fc.integer({ min: 0, max: 0xffff }).map(mssOption),
        fc.constant([3, 3, 7]),
        fc.constant([4, 2]),
        fc.constant([8, 10, 1, 2, 3, 4, 5, 6, 7, 8]),
        fc.constant([0xfd, 3, 0]),
        fc.uint8Array({ maxLength: 3 }).map((a) => Array.from(a)),
      ),
      { maxLength: 8 },
    )
    .map((parts) => {
      const flat = parts.flat().slice(0, 40);
      while (flat.length % 4 !== 0) flat.push(0);
      return flat;
    });

  /** The MSS values a parse (RFC 9293 §3.1 option rules) would see, in order. */
  function mssValues(seg: Uint8Array): number[] {
    const hl = (seg[12]! >>> 4) * 4;
    const out: number[] = [];
    for (let p = 20; p < hl; ) {
      const k = seg[p]!;
      if (k === 0) break;
      if (k === 1) {
        p++;
        continue;
      }
      if (p + 1 >= hl || seg[p + 1]! < 2 || p + seg[p + 1]! > hl) break;
      if (k === 2 && seg[p + 1] === 4) out.push(u16(seg, p + 2));
      p += seg[p + 1]!;
    }
    return out;
  }

  it('never raises an MSS, lowers each one to the limit exactly, and keeps the checksum (both versions)', () => {
    fc.assert(
      fc.property(
        optionsArb,
        fc.integer({ min: 0, max: 0xffff }),
        fc.boolean(),
        fc.boolean(),
        fc.uint8Array({ maxLength: 31 }),
        (options, limit, syn, v6packet, data) => {
          const pseudo = v6packet ? tcpPseudo6(SRC6, DST6) : tcpPseudo4(SRC4, DST4);
          const seg = tcpSegment({ syn, options: Uint8Array.from(options), data }, pseudo);
          const frame = v6packet
            ? frameOf(ipv6Packet({ src: SRC6, dst: DST6, nextHeader: IPPROTO_TCP, payload: seg }), 0x86dd)
            : frameOf(ipv4Packet({ src: SRC4, dst: DST4, protocol: IPPROTO_TCP, payload: seg }), 0x0800);
          const at = 14 + (v6packet ? 40 : 20);
          const before = mssValues(seg);
          const lowered = v6packet
            ? applyForward6(frame, MAC_A, MAC_B, limit)
            : applyForward4(frame, MAC_A, MAC_B, limit);
          const out = frame.subarray(at);
          const after = mssValues(out);
          expect(after).toEqual(syn ? before.map((m) => Math.min(m, limit)) : before);
          expect(lowered).toBe(syn && before.some((m) => m > limit));
          expect(tcpSum(out, pseudo)).toBe(0xffff);
          // Only MSS values and the checksum may differ.
          const changed = [...out.keys()].filter((i) => out[i] !== seg[i]);
          for (const i of changed) expect(i === 16 || i === 17 || i >= 20).toBe(true);
          expect(out.subarray((seg[12]! >>> 4) * 4)).toEqual(seg.subarray((seg[12]! >>> 4) * 4));
        },
      ),
      propOptions(1000),
    );
  });
});
