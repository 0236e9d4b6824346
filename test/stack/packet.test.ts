import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseIpv4Addr } from '../../src/addr.js';
import { VNET_F_DATA_VALID, VNET_F_NEEDS_CSUM } from '../../src/link/vnet.js';
import { compactPacket, finishForQuote, frameOf, LINK_HEADROOM, newPacket } from '../../src/stack/packet.js';
import { emitUdp, parseUdp } from '../../src/udp/wire.js';
import { propOptions } from '../support/props.js';

describe('newPacket', () => {
  it('hands out zeroed, disjoint packets with headroom, whatever the sizes', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 70_000 }), { minLength: 1, maxLength: 60 }), (sizes) => {
        const packets = sizes.map((n, i) => {
          const p = newPacket(n);
          expect(p.length).toBe(n);
          expect(p.byteOffset).toBeGreaterThanOrEqual(LINK_HEADROOM);
          expect(p.every((b) => b === 0)).toBe(true);
          p.fill(i + 1);
          frameOf(p).fill(i + 1, 0, LINK_HEADROOM);
          return p;
        });
        // Writing each packet and its headroom touched no other packet.
        packets.forEach((p, i) => {
          expect(p.every((b) => b === i + 1)).toBe(true);
          expect(
            frameOf(p)
              .subarray(0, LINK_HEADROOM)
              .every((b) => b === i + 1),
          ).toBe(true);
        });
      }),
      propOptions(),
    );
  });

  it('compactPacket copies a slab packet into a buffer of its own, headroom included', () => {
    const p = newPacket(100);
    p.set([1, 2, 3]);
    expect(p.buffer.byteLength).toBeGreaterThan(LINK_HEADROOM + 100);
    const c = compactPacket(p);
    expect(c.buffer.byteLength).toBe(LINK_HEADROOM + 100);
    expect([...c]).toEqual([...p]);
    expect(frameOf(c).length).toBe(LINK_HEADROOM + 100);
    expect(compactPacket(c)).toBe(c);
  });
});

describe('finishForQuote', () => {
  const src = parseIpv4Addr('10.0.0.1')!;
  const dst = parseIpv4Addr('10.0.0.2')!;
  const ph = { version: 4, src, dst } as const;
  /** An IPv4 packet (the IP header is not read here) carrying a UDP datagram with `payload`. */
  function udpPacket(payload: Uint8Array, checksum: 'fill' | 'offload'): Uint8Array {
    const packet = new Uint8Array(20 + 8 + payload.length);
    packet.set(payload, 28);
    emitUdp({ srcPort: 40000, dstPort: 9 }, packet.subarray(20), ph, {
      checksum,
    });
    return packet;
  }
  const link = (flags: number) => ({
    offloads: { csum: true },
    rxVnet: { flags, gsoType: 0, hdrLen: 0, gsoSize: 0, csumStart: 14 + 20, csumOffset: 6 },
  });

  it('finishes a partial checksum (NEEDS_CSUM) so the quoted datagram verifies, and leaves others alone', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 600 }), (payload) => {
        const partial = udpPacket(payload, 'offload');
        finishForQuote(link(VNET_F_NEEDS_CSUM), partial);
        expect(partial).toEqual(udpPacket(payload, 'fill'));
        expect(parseUdp(partial.subarray(20), ph).ok).toBe(true);
        // A checksum the kernel verified, or a link without offloads: nothing to do.
        const whole = udpPacket(payload, 'fill');
        finishForQuote(link(VNET_F_DATA_VALID), whole);
        finishForQuote({}, whole);
        expect(whole).toEqual(udpPacket(payload, 'fill'));
      }),
      propOptions(),
    );
  });
});
