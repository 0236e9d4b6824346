import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { compactPacket, frameOf, LINK_HEADROOM, newPacket } from '../../src/stack/packet.js';
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
