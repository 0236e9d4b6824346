import fc from 'fast-check';
import type { Mac } from '../../src/addr.js';
import type { EthernetRepr } from '../../src/ethernet/wire.js';

export const macArb = fc.integer({ min: 0, max: 2 ** 48 - 1 }).map((n) => n as Mac);
export const ethernetReprArb: fc.Arbitrary<EthernetRepr> = fc.record({
  dst: macArb,
  src: macArb,
  vlans: fc.array(
    fc.record({
      tpid: fc.constantFrom(0x8100, 0x88a8),
      pcp: fc.integer({ min: 0, max: 7 }),
      dei: fc.boolean(),
      vid: fc.integer({ min: 0, max: 4095 }),
    }),
    { maxLength: 2 },
  ),
  ethertype: fc.integer({ min: 0x0600, max: 0xffff }).filter((t) => t !== 0x8100 && t !== 0x88a8),
});
