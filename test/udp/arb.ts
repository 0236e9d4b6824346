import fc from 'fast-check';
import type { PseudoHeader } from '../../src/checksum/index.js';
import { emitUdp, UDP_HEADER_LEN, type UdpRepr } from '../../src/udp/wire.js';

export const portArb = fc.integer({ min: 0, max: 0xffff });

/** Pseudo-header addresses for IPv4 or IPv6. */
export const pseudoHeaderArb: fc.Arbitrary<PseudoHeader> = fc.oneof(
  fc.record({
    version: fc.constant(4 as const),
    src: fc.nat({ max: 0xffff_ffff }),
    dst: fc.nat({ max: 0xffff_ffff }),
  }),
  fc.record({
    version: fc.constant(6 as const),
    src: fc.uint8Array({ minLength: 16, maxLength: 16 }),
    dst: fc.uint8Array({ minLength: 16, maxLength: 16 }),
  }),
);

export const udpReprArb: fc.Arbitrary<UdpRepr> = fc.record({ srcPort: portArb, dstPort: portArb });

export interface UdpDatagram {
  readonly repr: UdpRepr;
  readonly payload: Uint8Array;
  readonly ph: PseudoHeader;
  /** The emitted datagram (checksum filled). */
  readonly bytes: Uint8Array;
}

/** Valid datagrams with their pseudo-header, emitted by `emitUdp`. */
export const udpDatagramArb: fc.Arbitrary<UdpDatagram> = fc
  .record({ repr: udpReprArb, payload: fc.uint8Array({ maxLength: 200 }), ph: pseudoHeaderArb })
  .map(({ repr, payload, ph }) => {
    const bytes = new Uint8Array(UDP_HEADER_LEN + payload.length);
    bytes.set(payload, UDP_HEADER_LEN);
    emitUdp(repr, bytes, ph);
    return { repr, payload, ph, bytes };
  });

/** The pseudo-header as bytes (RFC 768; RFC 8200 §8.1), for naive reference checksums in tests. */
export function pseudoHeaderBytes(ph: PseudoHeader, protocol: number, length: number): Uint8Array {
  if (ph.version === 4) {
    const b = new Uint8Array(12);
    new DataView(b.buffer).setUint32(0, ph.src);
    new DataView(b.buffer).setUint32(4, ph.dst);
    b[9] = protocol;
    new DataView(b.buffer).setUint16(10, length);
    return b;
  }
  const b = new Uint8Array(40);
  b.set(ph.src, 0);
  b.set(ph.dst, 16);
  new DataView(b.buffer).setUint32(32, length);
  b[39] = protocol;
  return b;
}
