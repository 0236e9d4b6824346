/**
 * TCP segments (RFC 9293 §3.1) and their options (RFC 9293 §3.2, RFC 7323 §2.2 and §3.2, RFC 2018 §2-3).
 *
 *    0                   1                   2                   3
 *    0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   |          Source Port          |       Destination Port        |
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   |                        Sequence Number                        |
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   |                    Acknowledgment Number                      |
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   |  Data |       |C|E|U|A|P|R|S|F|                               |
 *   | Offset| Rsrvd |W|C|R|C|S|S|Y|I|            Window             |
 *   |       |       |R|E|G|K|H|T|N|N|                               |
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   |           Checksum            |         Urgent Pointer        |
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   |                           [Options]                           |
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   |                             Data                              :
 *
 * Data Offset counts 32-bit WORDS (at least 5); `headerLen` is it in bytes (utcp crashed twice mixing
 * the two). The segment is the whole buffer: the IP layer hands over exactly its payload, so the
 * TCP length of the pseudo-header is `bytes.length`. The checksum covers the pseudo-header (RFC 9293
 * §3.1 Figure 2; RFC 8200 §8.1), header and data; it is never optional (MUST-2, MUST-3).
 *
 * Options on input:
 * - EOL ends the list; what follows is padding and is not read (MUST-69 asks senders for zeros).
 * - NOP is skipped; options need not be aligned (MUST-64).
 * - Known kinds must have their fixed length: MSS 4, window scale 3, SACK-permitted 2, timestamps
 *   10, SACK 2 + 8n with n in 1..4. Any other kind is skipped by its length (MUST-6).
 * - A length below 2, a length byte missing, or an option running past the header is malformed
 *   (MUST-7 asks to be prepared for illegal lengths; we drop the segment).
 * - A repeated option: the last one wins (as Linux's tcp_parse_options).
 * - Values are reported as received, whatever the segment: MSS or window scale outside a SYN are
 *   returned and the core ignores them (MUST-65, RFC 7323 §2.2), and a window-scale shift above 14 is
 *   kept (RFC 7323 §2.3: "the TCP SHOULD log the error but MUST use 14 instead"; the core clamps
 *   and counts it).
 *
 * Options on output, in Linux's order and layout (tcp_options_write), every one a multiple of 4:
 *   MSS `02 04 mss`; timestamps `01 01 08 0a val ecr`, or `04 02 08 0a val ecr` when SACK-permitted
 *   rides along; SACK-permitted alone `01 01 04 02`; window scale `01 03 03 shift`; SACK `01 01 05
 *   len blocks`. At most 40 bytes (more is a programmer error and throws).
 *
 * Contract: `TcpPacket.check` validates lengths and options once; afterwards no getter reads out of
 * bounds. `parseTcp` never throws. Views alias the bytes they were built over. `emitTcp` and
 * `tcpOptionsLen` throw only on programmer errors.
 */
import { setU16, setU32, u16, u32 } from '../bytes.js';
import { finish, type PseudoHeader, pseudoHeaderSum, sum16, verifies } from '../checksum/index.js';
import { malformed, ok, type Result } from '../result.js';
import type { Seq } from './seq.js';
import { IPPROTO_TCP } from '../ipproto.js';

/** IP protocol / IPv6 next-header number of TCP. */
/** Header without options (Data Offset 5). */
export const TCP_HEADER_LEN = 20;
/** Data Offset is 4 bits: at most 15 words, 40 of them option bytes. */
export const TCP_MAX_OPTIONS_LEN = 40;

export const TCP_OPT_EOL = 0;
export const TCP_OPT_NOP = 1;
export const TCP_OPT_MSS = 2;
export const TCP_OPT_WINDOW_SCALE = 3;
export const TCP_OPT_SACK_PERMITTED = 4;
export const TCP_OPT_SACK = 5;
export const TCP_OPT_TIMESTAMPS = 8;
/** RFC 2018 §3: 40 option bytes hold at most 4 blocks. */
export const TCP_MAX_SACK_BLOCKS = 4;

const SRC_PORT = 0;
const DST_PORT = 2;
const SEQ = 4;
const ACK = 8;
const DATA_OFFSET = 12;
const FLAGS = 13;
const WINDOW = 14;
const CHECKSUM = 16;
const URGENT = 18;

const FIN = 0x01;
const SYN = 0x02;
const RST = 0x04;
const PSH = 0x08;
const ACK_FLAG = 0x10;
const URG = 0x20;
const ECE = 0x40;
const CWR = 0x80;

/** The eight control bits (RFC 9293 §3.1); the four reserved bits are ignored on input, zero on output. */
export interface TcpFlags {
  readonly fin: boolean;
  readonly syn: boolean;
  readonly rst: boolean;
  readonly psh: boolean;
  readonly ack: boolean;
  readonly urg: boolean;
  readonly ece: boolean;
  readonly cwr: boolean;
}

/** One SACK block: the data `[left, right)` was received (RFC 2018 §3). */
export interface SackBlock {
  readonly left: Seq;
  readonly right: Seq;
}

export interface TcpTimestamps {
  readonly tsVal: number;
  readonly tsEcr: number;
}

/** Options present in a segment; an absent property means the option was absent. */
export interface TcpOptions {
  readonly mss?: number;
  /** Shift count as received (0..255); RFC 7323 §2.3's clamp to 14 is the core's job. */
  readonly windowScale?: number;
  /** Present (true) or absent: SACK-permitted carries no value. */
  readonly sackPermitted?: true;
  /** 1 to 4 blocks, in the order of the option. */
  readonly sack?: readonly SackBlock[];
  readonly timestamps?: TcpTimestamps;
}

export interface TcpRepr {
  readonly srcPort: number;
  readonly dstPort: number;
  readonly seq: Seq;
  /** The Acknowledgment Number field as sent, meaningful only with `flags.ack`. */
  readonly ack: Seq;
  readonly flags: TcpFlags;
  /** Unscaled, as on the wire. */
  readonly window: number;
  readonly urgentPointer: number;
  readonly options: TcpOptions;
}

export interface TcpParseOptions {
  /** 'ignore' when the checksum was already verified (virtio DATA_VALID) or is not wanted. Default 'verify'. */
  readonly checksum?: 'verify' | 'ignore';
}

export interface TcpEmitOptions {
  /**
   * 'fill' (default) writes the full checksum; 'offload' writes the uncomplemented pseudo-header sum
   * for a device to finish (virtio NEEDS_CSUM: csum_start = the TCP header, csum_offset = 16).
   */
  readonly checksum?: 'fill' | 'offload';
}

const NO_FLAGS: TcpFlags = {
  fin: false,
  syn: false,
  rst: false,
  psh: false,
  ack: false,
  urg: false,
  ece: false,
  cwr: false,
};

/** A complete flags object from the flags that are set, e.g. `tcpFlags({ syn: true, ack: true })`. */
export function tcpFlags(set: Partial<TcpFlags> = {}): TcpFlags {
  return { ...NO_FLAGS, ...set };
}

/** Flags from the control-bits byte (byte 13 of the header). */
export function tcpFlagsFromBits(bits: number): TcpFlags {
  return {
    fin: (bits & FIN) !== 0,
    syn: (bits & SYN) !== 0,
    rst: (bits & RST) !== 0,
    psh: (bits & PSH) !== 0,
    ack: (bits & ACK_FLAG) !== 0,
    urg: (bits & URG) !== 0,
    ece: (bits & ECE) !== 0,
    cwr: (bits & CWR) !== 0,
  };
}

/** The control-bits byte for `flags`. */
export function tcpFlagBits(flags: TcpFlags): number {
  return (
    (flags.fin ? FIN : 0) |
    (flags.syn ? SYN : 0) |
    (flags.rst ? RST : 0) |
    (flags.psh ? PSH : 0) |
    (flags.ack ? ACK_FLAG : 0) |
    (flags.urg ? URG : 0) |
    (flags.ece ? ECE : 0) |
    (flags.cwr ? CWR : 0)
  );
}

type MutableOptions = { -readonly [K in keyof TcpOptions]: TcpOptions[K] };

/** Parses the options area `b[start..end)` (RFC 9293 §3.1 "Options"). */
function parseOptions(b: Uint8Array, start: number, end: number): Result<TcpOptions> {
  const o: MutableOptions = {};
  let off = start;
  while (off < end) {
    const kind = b[off]!;
    if (kind === TCP_OPT_EOL) break;
    if (kind === TCP_OPT_NOP) {
      off++;
      continue;
    }
    // Every other kind has a length byte that counts kind and length (MUST-68).
    if (off + 1 >= end) return malformed('tcp', 'option-length-missing');
    const len = b[off + 1]!;
    if (len < 2) return malformed('tcp', 'option-length-too-small');
    if (off + len > end) return malformed('tcp', 'option-overruns-header');
    switch (kind) {
      case TCP_OPT_MSS:
        if (len !== 4) return malformed('tcp', 'bad-mss-length');
        o.mss = u16(b, off + 2);
        break;
      case TCP_OPT_WINDOW_SCALE:
        if (len !== 3) return malformed('tcp', 'bad-window-scale-length');
        o.windowScale = b[off + 2]!;
        break;
      case TCP_OPT_SACK_PERMITTED:
        if (len !== 2) return malformed('tcp', 'bad-sack-permitted-length');
        o.sackPermitted = true;
        break;
      case TCP_OPT_SACK: {
        // n = 1..4 blocks; n > 4 (len >= 42) cannot fit in 40 bytes and was caught as an overrun.
        if (len < 10 || (len - 2) % 8 !== 0) return malformed('tcp', 'bad-sack-length');
        const blocks: SackBlock[] = [];
        for (let p = off + 2; p < off + len; p += 8) {
          blocks.push({ left: u32(b, p) as Seq, right: u32(b, p + 4) as Seq });
        }
        o.sack = blocks;
        break;
      }
      case TCP_OPT_TIMESTAMPS:
        if (len !== 10) return malformed('tcp', 'bad-timestamps-length');
        o.timestamps = { tsVal: u32(b, off + 2), tsEcr: u32(b, off + 6) };
        break;
      default:
        // Unknown options are skipped by their length (MUST-6).
        break;
    }
    off += len;
  }
  return ok(o);
}

export class TcpPacket {
  private constructor(
    readonly bytes: Uint8Array,
    /** Parsed once by `check`, which had to walk them to validate them. */
    readonly options: TcpOptions,
  ) {}

  static check(bytes: Uint8Array): Result<TcpPacket> {
    if (bytes.length < TCP_HEADER_LEN) return malformed('tcp', 'truncated');
    const dataOffset = bytes[DATA_OFFSET]! >>> 4;
    if (dataOffset < 5) return malformed('tcp', 'data-offset-too-small');
    const headerLen = dataOffset * 4;
    if (headerLen > bytes.length) return malformed('tcp', 'header-exceeds-buffer');
    const options = parseOptions(bytes, TCP_HEADER_LEN, headerLen);
    if (!options.ok) return options;
    return ok(new TcpPacket(bytes, options.value));
  }

  get srcPort(): number {
    return u16(this.bytes, SRC_PORT);
  }

  get dstPort(): number {
    return u16(this.bytes, DST_PORT);
  }

  get seq(): Seq {
    return u32(this.bytes, SEQ) as Seq;
  }

  get ack(): Seq {
    return u32(this.bytes, ACK) as Seq;
  }

  /** Header length in 32-bit words (5..15). */
  get dataOffset(): number {
    return this.bytes[DATA_OFFSET]! >>> 4;
  }

  /** Header length in bytes (20..60). */
  get headerLen(): number {
    return (this.bytes[DATA_OFFSET]! >>> 4) * 4;
  }

  /** The raw control-bits byte (CWR..FIN). */
  get flagBits(): number {
    return this.bytes[FLAGS]!;
  }

  get flags(): TcpFlags {
    return tcpFlagsFromBits(this.bytes[FLAGS]!);
  }

  get window(): number {
    return u16(this.bytes, WINDOW);
  }

  get checksum(): number {
    return u16(this.bytes, CHECKSUM);
  }

  get urgentPointer(): number {
    return u16(this.bytes, URGENT);
  }

  /** The options area as sent, padding included. */
  get optionBytes(): Uint8Array {
    return this.bytes.subarray(TCP_HEADER_LEN, this.headerLen);
  }

  get payload(): Uint8Array {
    return this.bytes.subarray(this.headerLen);
  }

  /** True when the checksum verifies over pseudo-header, header and data. */
  verifyChecksum(ph: PseudoHeader): boolean {
    return verifies(sum16(this.bytes, pseudoHeaderSum(ph, IPPROTO_TCP, this.bytes.length)));
  }

  repr(): TcpRepr {
    return {
      srcPort: this.srcPort,
      dstPort: this.dstPort,
      seq: this.seq,
      ack: this.ack,
      flags: this.flags,
      window: this.window,
      urgentPointer: this.urgentPointer,
      options: this.options,
    };
  }
}

/** Parses a segment carried between the addresses of `ph`; verifies its checksum unless told not to. */
export function parseTcp(
  bytes: Uint8Array,
  ph: PseudoHeader,
  opts?: TcpParseOptions,
): Result<{ repr: TcpRepr; payload: Uint8Array }> {
  const r = TcpPacket.check(bytes);
  if (!r.ok) return r;
  const p = r.value;
  if (opts?.checksum !== 'ignore' && !p.verifyChecksum(ph)) return malformed('tcp', 'bad-checksum');
  return ok({ repr: p.repr(), payload: p.payload });
}

/** Bytes the options take on output (a multiple of 4). Throws past 40 bytes or on 0 or > 4 SACK blocks. */
export function tcpOptionsLen(options: TcpOptions): number {
  let n = 0;
  if (options.mss !== undefined) n += 4;
  // Timestamps absorb SACK-permitted into their two leading pad bytes.
  if (options.timestamps !== undefined) n += 12;
  else if (options.sackPermitted) n += 4;
  if (options.windowScale !== undefined) n += 4;
  if (options.sack !== undefined) {
    const blocks = options.sack.length;
    if (blocks < 1 || blocks > TCP_MAX_SACK_BLOCKS) throw new RangeError(`tcp: ${blocks} SACK blocks (1..4)`);
    n += 4 + 8 * blocks;
  }
  if (n > TCP_MAX_OPTIONS_LEN) throw new RangeError(`tcp: options take ${n} bytes (at most 40)`);
  return n;
}

export function tcpHeaderLen(repr: Pick<TcpRepr, 'options'>): number {
  return TCP_HEADER_LEN + tcpOptionsLen(repr.options);
}

/** Writes `options` at `off` in Linux's layout; returns the offset after them. */
function writeOptions(b: Uint8Array, off: number, o: TcpOptions): number {
  let p = off;
  if (o.mss !== undefined) {
    b[p] = TCP_OPT_MSS;
    b[p + 1] = 4;
    setU16(b, p + 2, o.mss);
    p += 4;
  }
  if (o.timestamps !== undefined) {
    if (o.sackPermitted) {
      b[p] = TCP_OPT_SACK_PERMITTED;
      b[p + 1] = 2;
    } else {
      b[p] = TCP_OPT_NOP;
      b[p + 1] = TCP_OPT_NOP;
    }
    b[p + 2] = TCP_OPT_TIMESTAMPS;
    b[p + 3] = 10;
    setU32(b, p + 4, o.timestamps.tsVal);
    setU32(b, p + 8, o.timestamps.tsEcr);
    p += 12;
  } else if (o.sackPermitted) {
    b[p] = TCP_OPT_NOP;
    b[p + 1] = TCP_OPT_NOP;
    b[p + 2] = TCP_OPT_SACK_PERMITTED;
    b[p + 3] = 2;
    p += 4;
  }
  if (o.windowScale !== undefined) {
    b[p] = TCP_OPT_NOP;
    b[p + 1] = TCP_OPT_WINDOW_SCALE;
    b[p + 2] = 3;
    b[p + 3] = o.windowScale;
    p += 4;
  }
  if (o.sack !== undefined) {
    b[p] = TCP_OPT_NOP;
    b[p + 1] = TCP_OPT_NOP;
    b[p + 2] = TCP_OPT_SACK;
    b[p + 3] = 2 + 8 * o.sack.length;
    p += 4;
    for (const blk of o.sack) {
      setU32(b, p, blk.left);
      setU32(b, p + 4, blk.right);
      p += 8;
    }
  }
  return p;
}

/**
 * Writes the header at the start of `buf`, whose length is the segment's (header + payload, the
 * payload already placed at `buf[tcpHeaderLen(repr)..]`), and its checksum. Returns the header length.
 */
export function emitTcp(repr: TcpRepr, buf: Uint8Array, ph: PseudoHeader, opts?: TcpEmitOptions): number {
  const headerLen = tcpHeaderLen(repr);
  if (buf.length < headerLen) throw new RangeError('emitTcp: buffer too small');
  setU16(buf, SRC_PORT, repr.srcPort);
  setU16(buf, DST_PORT, repr.dstPort);
  setU32(buf, SEQ, repr.seq);
  setU32(buf, ACK, repr.ack);
  buf[DATA_OFFSET] = (headerLen >>> 2) << 4;
  buf[FLAGS] = tcpFlagBits(repr.flags);
  setU16(buf, WINDOW, repr.window);
  setU16(buf, URGENT, repr.urgentPointer);
  writeOptions(buf, TCP_HEADER_LEN, repr.options);
  const phSum = pseudoHeaderSum(ph, IPPROTO_TCP, buf.length);
  if (opts?.checksum === 'offload') {
    setU16(buf, CHECKSUM, phSum);
  } else {
    setU16(buf, CHECKSUM, 0);
    setU16(buf, CHECKSUM, finish(sum16(buf, phSum)));
  }
  return headerLen;
}
