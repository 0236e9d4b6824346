import fc from 'fast-check';
import { type ArpRepr, emitArp } from '../../src/arp/wire.js';
import { macArb } from '../ethernet/arb.js';
import { ipv4AddrArb } from '../ipv4/arb.js';

export const arpReprArb: fc.Arbitrary<ArpRepr> = fc.record({
  operation: fc.constantFrom('request' as const, 'reply' as const),
  senderMac: macArb,
  senderIp: ipv4AddrArb,
  targetMac: macArb,
  targetIp: ipv4AddrArb,
});

/** An ARP packet followed by up to 18 bytes of arbitrary padding (a 60-byte frame pads it to 46). */
export const arpPacketArb: fc.Arbitrary<Uint8Array> = fc
  .tuple(arpReprArb, fc.uint8Array({ maxLength: 18 }))
  .map(([repr, pad]) => {
    const buf = new Uint8Array(28 + pad.length);
    buf.set(pad, 28);
    emitArp(repr, buf);
    return buf;
  });
