import fc from 'fast-check';
import type { PseudoHeader } from '../../src/checksum/index.js';
import { type Seq, toSeq } from '../../src/tcp/seq.js';
import {
  emitTcp,
  type SackBlock,
  TCP_MAX_OPTIONS_LEN,
  type TcpFlags,
  type TcpOptions,
  type TcpRepr,
  tcpHeaderLen,
  tcpOptionsLen,
} from '../../src/tcp/wire.js';
import { portArb, pseudoHeaderArb } from '../udp/arb.js';

const u32Arb = fc.nat({ max: 0xffff_ffff });

/** Numbers near the points where sequence arithmetic breaks if done wrong (docs/TCP-NOTES.md §6). */
export const WRAP_POINTS: readonly number[] = [0, 0x7fff_ffff, 0x8000_0000, 0xffff_ffff];

/** Sequence numbers, biased to within 1000 of 0, 2^31 and 2^32. */
export const seqArb: fc.Arbitrary<Seq> = fc
  .oneof(
    u32Arb,
    fc.tuple(fc.constantFrom(...WRAP_POINTS), fc.integer({ min: -1000, max: 1000 })).map(([p, d]) => p + d),
  )
  .map(toSeq);

export const tcpFlagsArb: fc.Arbitrary<TcpFlags> = fc.record({
  fin: fc.boolean(),
  syn: fc.boolean(),
  rst: fc.boolean(),
  psh: fc.boolean(),
  ack: fc.boolean(),
  urg: fc.boolean(),
  ece: fc.boolean(),
  cwr: fc.boolean(),
});

export const sackBlockArb: fc.Arbitrary<SackBlock> = fc.record({ left: seqArb, right: seqArb });

/** Every combination of options (each present or absent), SACK blocks as many as still fit in 40 bytes. */
export const tcpOptionsArb: fc.Arbitrary<TcpOptions> = fc
  .record(
    {
      mss: fc.integer({ min: 0, max: 0xffff }),
      windowScale: fc.integer({ min: 0, max: 255 }),
      sackPermitted: fc.constant(true as const),
      timestamps: fc.record({ tsVal: u32Arb, tsEcr: u32Arb }),
    },
    { requiredKeys: [] },
  )
  .chain((base: TcpOptions) => {
    const room = Math.min(4, Math.floor((TCP_MAX_OPTIONS_LEN - tcpOptionsLen(base) - 4) / 8));
    if (room < 1) return fc.constant(base);
    return fc
      .option(fc.array(sackBlockArb, { minLength: 1, maxLength: room }), { nil: undefined })
      .map((sack) => (sack === undefined ? base : { ...base, sack }));
  });

export const tcpReprArb: fc.Arbitrary<TcpRepr> = fc.record({
  srcPort: portArb,
  dstPort: portArb,
  seq: seqArb,
  ack: seqArb,
  flags: tcpFlagsArb,
  window: fc.integer({ min: 0, max: 0xffff }),
  urgentPointer: fc.integer({ min: 0, max: 0xffff }),
  options: tcpOptionsArb,
});

export interface TcpSegment {
  readonly repr: TcpRepr;
  readonly payload: Uint8Array;
  readonly ph: PseudoHeader;
  /** The emitted segment (checksum filled). */
  readonly bytes: Uint8Array;
}

/** Valid segments with their pseudo-header, emitted by `emitTcp`. */
export const tcpSegmentArb: fc.Arbitrary<TcpSegment> = fc
  .record({ repr: tcpReprArb, payload: fc.uint8Array({ maxLength: 200 }), ph: pseudoHeaderArb })
  .map(({ repr, payload, ph }) => {
    const headerLen = tcpHeaderLen(repr);
    const bytes = new Uint8Array(headerLen + payload.length);
    bytes.set(payload, headerLen);
    emitTcp(repr, bytes, ph);
    return { repr, payload, ph, bytes };
  });
