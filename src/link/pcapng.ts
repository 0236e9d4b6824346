/**
 * pcapng blocks (draft-ietf-opsawg-pcapng, "PCAP Next Generation Dump File Format"), the format
 * tshark and dumpcap write by default. A file is a sequence of sections; each section is a Section
 * Header Block followed by blocks that refer to the section's interfaces by index.
 *
 *   every block (§3.1)                         Section Header Block (§4.1), type 0x0A0D0D0A
 *   +------------+--------------+------ ...    +-------------------+-------+-------+----------------+
 *   | type u32   | total len u32| body,        | byte-order magic  | major | minor | section length |
 *   +------------+--------------+ options      | 0x1A2B3C4D u32    | u16   | u16   | i64            |
 *   ... ------+---------------+                +-------------------+-------+-------+----------------+
 *             | total len u32 |                then options
 *   ----------+---------------+
 *
 *   Interface Description (§4.2, type 1): link type u16, reserved u16, snaplen u32, options
 *     (if_tsresol §4.2 code 9, if_tsoffset code 14).
 *   Enhanced Packet (§4.3, type 6): interface u32, timestamp high u32, low u32, captured u32,
 *     original u32, data padded to 32 bits, options.
 *   Simple Packet (§4.4, type 3): original u32, data (captured = min(original, snaplen of
 *     interface 0, what the block holds)); no interface field, no timestamp.
 *   Packet (Appendix, obsolete, type 2): interface u16, drops u16, then as an Enhanced Packet.
 *
 * Every field is in the byte order of its section, which the Section Header's magic tells (the
 * block type 0x0A0D0D0A reads the same both ways). Other blocks (name resolution, statistics,
 * decryption secrets, custom, local use) are skipped by their length.
 *
 * Contract: pure (no I/O); `readBlockHeader` and `readBlock` never throw, whatever the bytes, read
 * only inside them, and return packet data as views of the input.
 */
import { malformed, ok, type Result, unsupported } from '../result.js';

export const PCAPNG_SHB = 0x0a0d0d0a;
export const PCAPNG_BYTE_ORDER_MAGIC = 0x1a2b3c4d;
const BLOCK_IDB = 1;
const BLOCK_PACKET = 2;
const BLOCK_SPB = 3;
const BLOCK_EPB = 6;

/** Type, total length, and (for the trailer) the total length again. */
export const PCAPNG_BLOCK_OVERHEAD = 12;
/** The smallest Section Header Block: overhead, magic, versions, section length. */
const SHB_MIN_LEN = PCAPNG_BLOCK_OVERHEAD + 16;

/**
 * The largest block read (Wireshark refuses larger ones too): bounds what a streaming reader holds
 * while it waits for the rest of a block.
 */
export const PCAPNG_MAX_BLOCK = 16 * 1024 * 1024;
/** Interfaces per section at most: the table a reader keeps is bounded. */
export const PCAPNG_MAX_INTERFACES = 65_536;

const OPT_END = 0;
const OPT_IF_TSRESOL = 9;
const OPT_IF_TSOFFSET = 14;

/** An interface of the current section, as its Interface Description Block gives it. */
export interface PcapngInterface {
  readonly linkType: number;
  /** 0: no limit. */
  readonly snaplen: number;
  /**
   * if_tsresol (§4.2): timestamps count units of 10^-exponent s (`base` 10) or 2^-exponent s
   * (`base` 2). Default microseconds.
   */
  readonly tsBase: 2 | 10;
  readonly tsExponent: number;
  /** if_tsoffset (§4.2): seconds added to every timestamp. */
  readonly tsOffset: bigint;
}

export type PcapngBlock =
  | { readonly kind: 'section'; readonly little: boolean; readonly major: number; readonly minor: number }
  | { readonly kind: 'interface'; readonly iface: PcapngInterface }
  | {
      readonly kind: 'packet';
      /** Interface index in the section (0 for a Simple Packet Block). */
      readonly interfaceId: number;
      /** Timestamp units since the epoch, before if_tsoffset (undefined: a Simple Packet Block). */
      readonly timestamp: bigint | undefined;
      readonly data: Uint8Array;
      readonly originalLength: number;
    }
  | { readonly kind: 'other'; readonly type: number };

/**
 * The start of a block at `off`: its type and total length. For a Section Header Block the byte
 * order comes from its own magic (`little` is then ignored); `little` is the current section's
 * order otherwise. Returns undefined when fewer than 12 bytes (or, for a section header, its magic)
 * are there yet.
 */
export function readBlockHeader(
  bytes: Uint8Array,
  off: number,
  little: boolean,
): Result<{ type: number; length: number; little: boolean }> | undefined {
  if (bytes.length - off < PCAPNG_BLOCK_OVERHEAD) return undefined;
  const view = new DataView(bytes.buffer, bytes.byteOffset + off, bytes.length - off);
  const type = view.getUint32(0, little);
  let order = little;
  if (view.getUint32(0, false) === PCAPNG_SHB) {
    const magic = view.getUint32(8, false);
    if (magic === PCAPNG_BYTE_ORDER_MAGIC) order = false;
    else if (view.getUint32(8, true) === PCAPNG_BYTE_ORDER_MAGIC) order = true;
    else return malformed('pcap', 'pcapng-byte-order');
  }
  const length = view.getUint32(4, order);
  if (length < PCAPNG_BLOCK_OVERHEAD || length % 4 !== 0) return malformed('pcap', 'pcapng-block-length');
  if (type === PCAPNG_SHB && length < SHB_MIN_LEN) return malformed('pcap', 'pcapng-block-length');
  if (length > PCAPNG_MAX_BLOCK) return malformed('pcap', 'pcapng-block-too-large');
  return ok({ type: type === PCAPNG_SHB ? PCAPNG_SHB : type, length, little: order });
}

/**
 * Decodes the whole block `block` (exactly its total length, as `readBlockHeader` gave it) in byte
 * order `little`, against the interfaces of the current section.
 */
export function readBlock(
  block: Uint8Array,
  type: number,
  little: boolean,
  interfaces: readonly PcapngInterface[],
): Result<PcapngBlock> {
  const v = new DataView(block.buffer, block.byteOffset, block.byteLength);
  const len = block.length;
  if (v.getUint32(len - 4, little) !== len) return malformed('pcap', 'pcapng-trailer-length');
  const body = len - PCAPNG_BLOCK_OVERHEAD;
  switch (type) {
    case PCAPNG_SHB: {
      const major = v.getUint16(12, little);
      // §4.1: a reader must not read a major version it does not know (1 is the only one).
      if (major !== 1) return unsupported('pcap', 'pcapng-version');
      return ok({ kind: 'section', little, major, minor: v.getUint16(14, little) });
    }
    case BLOCK_IDB: {
      if (body < 8) return malformed('pcap', 'pcapng-block-length');
      const opts = interfaceOptions(block.subarray(16, len - 4), little);
      if (!opts.ok) return opts;
      return ok({
        kind: 'interface',
        iface: { linkType: v.getUint16(8, little), snaplen: v.getUint32(12, little), ...opts.value },
      });
    }
    case BLOCK_EPB:
    case BLOCK_PACKET: {
      if (body < 20) return malformed('pcap', 'pcapng-block-length');
      const interfaceId = type === BLOCK_EPB ? v.getUint32(8, little) : v.getUint16(8, little);
      const caplen = v.getUint32(20, little);
      if (caplen > body - 20) return malformed('pcap', 'pcapng-captured-length');
      if (interfaceId >= interfaces.length) return malformed('pcap', 'pcapng-unknown-interface');
      const high = v.getUint32(12, little);
      const low = v.getUint32(16, little);
      return ok({
        kind: 'packet',
        interfaceId,
        timestamp: (BigInt(high) << 32n) | BigInt(low),
        data: block.subarray(28, 28 + caplen),
        originalLength: v.getUint32(24, little),
      });
    }
    case BLOCK_SPB: {
      if (body < 4) return malformed('pcap', 'pcapng-block-length');
      // §4.4: the Simple Packet Block belongs to the first interface of the section.
      const iface = interfaces[0];
      if (iface === undefined) return malformed('pcap', 'pcapng-unknown-interface');
      const originalLength = v.getUint32(8, little);
      let caplen = Math.min(originalLength, body - 4);
      if (iface.snaplen > 0) caplen = Math.min(caplen, iface.snaplen);
      return ok({
        kind: 'packet',
        interfaceId: 0,
        timestamp: undefined,
        data: block.subarray(12, 12 + caplen),
        originalLength,
      });
    }
    default:
      return ok({ kind: 'other', type });
  }
}

/** The options of an Interface Description Block that change how its packets are read. */
function interfaceOptions(
  opts: Uint8Array,
  little: boolean,
): Result<Pick<PcapngInterface, 'tsBase' | 'tsExponent' | 'tsOffset'>> {
  const v = new DataView(opts.buffer, opts.byteOffset, opts.byteLength);
  let tsBase: 2 | 10 = 10;
  let tsExponent = 6;
  let tsOffset = 0n;
  let off = 0;
  // §3.5: options run to opt_endofopt or to the end of the block; each value padded to 32 bits.
  while (opts.length - off >= 4) {
    const code = v.getUint16(off, little);
    const len = v.getUint16(off + 2, little);
    if (code === OPT_END) break;
    const value = off + 4;
    if (value + len > opts.length) return malformed('pcap', 'pcapng-option-length');
    if (code === OPT_IF_TSRESOL && len >= 1) {
      const r = opts[value]!;
      tsBase = r & 0x80 ? 2 : 10;
      tsExponent = r & 0x7f;
    } else if (code === OPT_IF_TSOFFSET && len >= 8) {
      tsOffset = v.getBigInt64(value, little);
    }
    off = value + ((len + 3) & ~3);
  }
  return ok({ tsBase, tsExponent, tsOffset });
}

const TEN = 10n;

/** A timestamp of `iface` in microseconds since the epoch (rounded down), if_tsoffset included. */
export function timestampMicros(iface: PcapngInterface, units: bigint): number {
  const offset = iface.tsOffset * 1_000_000n;
  if (iface.tsBase === 10 && iface.tsExponent === 6) return Number(units + offset);
  let micros: bigint;
  if (iface.tsBase === 10) {
    micros =
      iface.tsExponent >= 6
        ? units / TEN ** BigInt(iface.tsExponent - 6)
        : units * TEN ** BigInt(6 - iface.tsExponent);
  } else {
    micros = (units * 1_000_000n) >> BigInt(iface.tsExponent);
  }
  return Number(micros + offset);
}
