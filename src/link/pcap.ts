/**
 * Classic libpcap capture files (format 2.4), as tcpdump, tshark and Wireshark read and write them.
 *
 *   global header (24 bytes)                      record header (16 bytes), then caplen bytes
 *   +-------+-------+-------+------+------+-----+  +--------+------------+--------+---------+------
 *   | magic | major | minor | zone | sigf | snap |  | ts sec | ts usec/ns | caplen | origlen | data
 *   | u32   | u16   | u16   | i32  | u32  | u32  |  | u32    | u32        | u32    | u32     |
 *   +-------+-------+-------+------+------+------+  +--------+------------+--------+---------+------
 *                                        linktype u32 closes the global header.
 *
 * (draft-ietf-opsawg-pcap §4, §5.) The magic, written in the writer's byte order, tells the byte
 * order of every other field: 0xa1b2c3d4 for microsecond timestamps, 0xa1b23c4d for nanosecond ones.
 *
 * Contract: `parsePcap` never throws on any bytes and returns frames that alias the input.
 * `readPcapFile` streams a file through the `pcap-parser` package (falling back to `parsePcap` for the
 * nanosecond magic, which that package does not know). `PcapWriter` appends records to a preallocated
 * buffer and writes it out with one `writeSync` when full, on `flush()`, on `close()` and, when
 * asked, every `flushIntervalMs`.
 *
 * Captures as people have them: `CaptureReader` (streaming), `parseCapture` (in memory) and
 * `readCaptureFile` read classic pcap and pcapng (pcapng.ts) alike, frame by frame with each frame's
 * link type, and keep every frame before a damaged or cut record, saying where the damage is, as
 * tcpdump does.
 */
import { closeSync, openSync, readFileSync, writeSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { err, malformed, ok, type Result, unsupported, type WireError } from '../result.js';
import {
  PCAPNG_MAX_INTERFACES,
  PCAPNG_SHB,
  type PcapngInterface,
  readBlock,
  readBlockHeader,
  timestampMicros,
} from './pcapng.js';

/** LINKTYPE_ETHERNET (draft-ietf-opsawg-pcaplinktype §2.2): frames start at the destination MAC. */
export const LINKTYPE_ETHERNET = 1;
/** LINKTYPE_LINUX_SLL and LINKTYPE_LINUX_SLL2: `tcpdump -i any`'s Linux cooked headers (v1, v2). */
export const LINKTYPE_LINUX_SLL = 113;
export const LINKTYPE_LINUX_SLL2 = 276;

export const PCAP_GLOBAL_HEADER_LEN = 24;
export const PCAP_RECORD_HEADER_LEN = 16;

/** tcpdump's and Wireshark's default and largest snapshot length for Ethernet. */
export const PCAP_MAX_SNAPLEN = 262_144;

const MAGIC_MICROS = 0xa1b2c3d4;
const MAGIC_NANOS = 0xa1b23c4d;

export interface PcapRecord {
  /** Capture time in microseconds since the epoch (nanosecond files are rounded down). */
  readonly timestampMicros: number;
  /** The captured bytes: `originalLength` or fewer when the snapshot length cut the frame. */
  readonly bytes: Uint8Array;
  /** The frame's length on the wire. */
  readonly originalLength: number;
}

export interface PcapFile {
  readonly linkType: number;
  readonly snaplen: number;
  readonly frames: readonly PcapRecord[];
}

/**
 * Parses a whole capture held in memory. Both byte orders, microsecond and nanosecond magic.
 * Never throws; the frames are views into `bytes`.
 */
export function parsePcap(bytes: Uint8Array): Result<PcapFile> {
  if (bytes.length < PCAP_GLOBAL_HEADER_LEN) return malformed('pcap', 'truncated-header');
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const magicBe = view.getUint32(0, false);
  let little: boolean;
  let nanos: boolean;
  if (magicBe === MAGIC_MICROS || magicBe === MAGIC_NANOS) {
    little = false;
    nanos = magicBe === MAGIC_NANOS;
  } else {
    const magicLe = view.getUint32(0, true);
    if (magicLe === MAGIC_MICROS || magicLe === MAGIC_NANOS) {
      little = true;
      nanos = magicLe === MAGIC_NANOS;
    } else if (magicBe === PCAPNG_SHB) {
      return unsupported('pcap', 'pcapng');
    } else {
      return malformed('pcap', 'bad-magic');
    }
  }
  // Every reader since libpcap 0.4 writes 2.4; the minor number has never changed the layout.
  if (view.getUint16(4, little) !== 2) return unsupported('pcap', 'version');
  const snaplen = view.getUint32(16, little);
  // The upper bits of the link type field carry FCS length flags (pcap draft §4); keep the type.
  const linkType = view.getUint32(20, little) & 0x0fff_ffff;

  const frames: PcapRecord[] = [];
  let off = PCAP_GLOBAL_HEADER_LEN;
  while (off < bytes.length) {
    if (bytes.length - off < PCAP_RECORD_HEADER_LEN) return malformed('pcap', 'truncated-record-header');
    const sec = view.getUint32(off, little);
    const frac = view.getUint32(off + 4, little);
    const caplen = view.getUint32(off + 8, little);
    const originalLength = view.getUint32(off + 12, little);
    // Wireshark refuses records larger than its maximum for the link type; so do we, rather than
    // trusting a length that may come from garbage.
    if (caplen > PCAP_MAX_SNAPLEN) return malformed('pcap', 'record-too-large');
    const start = off + PCAP_RECORD_HEADER_LEN;
    if (bytes.length - start < caplen) return malformed('pcap', 'truncated-record');
    frames.push({
      timestampMicros: sec * 1_000_000 + (nanos ? Math.floor(frac / 1000) : frac),
      bytes: bytes.subarray(start, start + caplen),
      originalLength,
    });
    off = start + caplen;
  }
  return ok({ linkType, snaplen, frames });
}

/** The part of pcap-parser 0.2.1's API used here (the package ships no type declarations). */
interface PcapParserGlobalHeader {
  readonly snapshotLength: number;
  readonly linkLayerType: number;
}
interface PcapParserPacket {
  readonly header: {
    readonly timestampSeconds: number;
    readonly timestampMicroseconds: number;
    readonly capturedLength: number;
    readonly originalLength: number;
  };
  readonly data: Buffer;
}
interface PcapParser {
  on(event: 'globalHeader', f: (h: PcapParserGlobalHeader) => void): PcapParser;
  on(event: 'packet', f: (p: PcapParserPacket) => void): PcapParser;
  on(event: 'error', f: (e: Error) => void): PcapParser;
  on(event: 'end', f: () => void): PcapParser;
  /** Bytes received but not yet consumed (internal, stable in the pinned 0.2.1). */
  readonly buffer: Buffer | null;
  readonly stream: { destroy(): void };
}
const pcapParser = createRequire(import.meta.url)('pcap-parser') as { parse(path: string): PcapParser };

/**
 * Reads a capture file through pcap-parser. Rejects with an Error on a file that is not a complete
 * pcap; nanosecond-magic files (unknown to pcap-parser) go through `parsePcap`, pcapng files whose
 * frames share one link type through `parseCapture` (`readCaptureFile` reads any capture).
 */
export function readPcapFile(path: string): Promise<PcapFile> {
  return new Promise((resolve, reject) => {
    const parser = pcapParser.parse(path);
    let header: PcapParserGlobalHeader | undefined;
    const frames: PcapRecord[] = [];
    let settled = false;
    const fail = (why: string): void => {
      if (settled) return;
      settled = true;
      parser.stream.destroy();
      reject(new Error(`pcap: ${path}: ${why}`));
    };
    parser.on('globalHeader', (h) => {
      header = h;
    });
    parser.on('packet', (p) => {
      // Zero copy: a plain Uint8Array view over the Buffer pcap-parser sliced for this record.
      const bytes = new Uint8Array(p.data.buffer, p.data.byteOffset, p.data.byteLength);
      frames.push({
        timestampMicros: p.header.timestampSeconds * 1_000_000 + p.header.timestampMicroseconds,
        bytes,
        originalLength: p.header.originalLength,
      });
    });
    parser.on('error', (e) => {
      if (settled) return;
      if (e.message.startsWith('unknown magic number')) {
        settled = true;
        parser.stream.destroy();
        let parsed: Result<PcapFile, WireError & { offset?: number }>;
        try {
          parsed = pcapOrPcapng(readFileSync(path));
        } catch (readError) {
          reject(readError);
          return;
        }
        if (parsed.ok) resolve(parsed.value);
        else {
          const at = parsed.error.offset === undefined ? '' : ` at offset ${parsed.error.offset}`;
          reject(new Error(`pcap: ${path}: ${parsed.error.severity} ${parsed.error.kind}${at}`));
        }
        return;
      }
      fail(e.message);
    });
    parser.on('end', () => {
      if (settled) return;
      if (header === undefined) return fail('truncated-header');
      // pcap-parser stops silently on a partial record; a cut file is an error for us.
      if (parser.buffer !== null && parser.buffer.length > 0) return fail('truncated-record');
      settled = true;
      resolve({ linkType: header.linkLayerType & 0x0fff_ffff, snaplen: header.snapshotLength, frames });
    });
  });
}

// ---------------------------------------------------------------------------------------------------
// Reading captures as people have them: classic pcap or pcapng, whole or streamed, cut or not.

/** One frame of a capture, whichever its format. */
export interface CaptureFrame {
  /**
   * Capture time in microseconds since the epoch (finer resolutions are rounded down); undefined
   * for a pcapng Simple Packet Block, which carries no time.
   */
  readonly timestampMicros: number | undefined;
  /** The captured bytes: `originalLength` or fewer when the snapshot length cut the frame. */
  readonly bytes: Uint8Array;
  /** The frame's length on the wire. */
  readonly originalLength: number;
  /** Its link type (LINKTYPE_ETHERNET, LINKTYPE_LINUX_SLL...), from its interface in pcapng. */
  readonly linkType: number;
  /** The pcapng interface in its section (0 in a classic pcap). */
  readonly interfaceId: number;
  /** The pcapng section, counted from 0 (0 in a classic pcap). */
  readonly section: number;
}

export type CaptureFormat = 'pcap' | 'pcapng';

/** Why a capture could not be read (any further): what, and the file offset of the record or block. */
export interface CaptureError extends WireError {
  readonly offset: number;
}

/** Frames are lent to `onFrame` for the duration of the call; returning false stops the reading. */
export type CaptureFrameHandler = (frame: CaptureFrame) => boolean | undefined;

/** What a reader keeps per pcapng section. */
interface Section {
  readonly little: boolean;
  readonly interfaces: PcapngInterface[];
}

/**
 * A streaming reader of classic pcap (both byte orders, micro- and nanosecond magic) and pcapng
 * (sections in either byte order, several interfaces with their link types and if_tsresol, enhanced,
 * simple and obsolete packet blocks; other blocks skipped). Bytes come in chunks of any size, from
 * a file or a pipe; each complete frame is handed over as soon as it is whole. A damaged file yields
 * every frame before the damage, then one `CaptureError` with its offset; a file cut in the middle of
 * a record is reported by `end()`.
 *
 * Bounded: it holds at most one incomplete record or block (≤ PCAPNG_MAX_BLOCK bytes) and one
 * section's interface table (≤ PCAPNG_MAX_INTERFACES). Frames alias the chunk they arrived in when
 * they arrived whole; otherwise they are assembled once into the reader's own buffer. Never throws.
 */
export class CaptureReader {
  private fmt: CaptureFormat | undefined;
  /** Bytes received and not yet consumed (an incomplete record or block). */
  private pending: Uint8Array = new Uint8Array(0);
  /** File offset of pending[0]. */
  private consumed = 0;
  private failed: CaptureError | undefined;
  private stopped = false;
  // Classic pcap.
  private little = true;
  private nanos = false;
  private linkType = 0;
  private snaplenValue = 0;
  // pcapng.
  private section: Section | undefined;
  private sections = 0;
  private count = 0;

  /** 'pcap' or 'pcapng' once the first bytes told; undefined before. */
  get format(): CaptureFormat | undefined {
    return this.fmt;
  }

  /** Frames handed over so far. */
  get frames(): number {
    return this.count;
  }

  /** The classic pcap's snapshot length (its file header), or 0. */
  get snaplen(): number {
    return this.snaplenValue;
  }

  /** The error that stopped the reading, if one did. */
  get error(): CaptureError | undefined {
    return this.failed;
  }

  /**
   * Reads `chunk`, the bytes that follow those pushed before. Calls `onFrame` for every frame
   * completed. Returns the error that stops the reading (then and at every later call), if any.
   */
  push(chunk: Uint8Array, onFrame: CaptureFrameHandler): CaptureError | undefined {
    if (this.failed || this.stopped) return this.failed;
    let buf: Uint8Array;
    if (this.pending.length === 0) buf = chunk;
    else {
      // The rest of an incomplete record: assembled once (bounded by the record's length check).
      buf = new Uint8Array(this.pending.length + chunk.length);
      buf.set(this.pending, 0);
      buf.set(chunk, this.pending.length);
    }
    const used = this.consume(buf, onFrame);
    this.consumed += used;
    // Kept for the next chunk: a copy, since the caller may reuse its chunk.
    this.pending = used === buf.length ? new Uint8Array(0) : buf.slice(used);
    return this.failed;
  }

  /**
   * The input has ended: the error that stopped the reading, or a truncation error when the input
   * ended inside the file header, a record or a block; undefined when it ended cleanly.
   */
  end(): CaptureError | undefined {
    if (this.failed || this.stopped) return this.failed;
    const at = this.consumed;
    if (this.fmt === undefined) {
      this.failed = { ...truncated('truncated-header'), offset: 0 };
    } else if (this.pending.length > 0) {
      const kind =
        this.fmt === 'pcapng'
          ? 'truncated-block'
          : this.pending.length < PCAP_RECORD_HEADER_LEN
            ? 'truncated-record-header'
            : 'truncated-record';
      this.failed = { ...truncated(kind), offset: at };
    }
    return this.failed;
  }

  private fail(e: WireError, offset: number): number {
    this.failed = { ...e, offset };
    return 0;
  }

  /** Consumes what it can of `buf` (which starts at file offset `this.consumed`); returns how much. */
  private consume(buf: Uint8Array, onFrame: CaptureFrameHandler): number {
    let off = 0;
    if (this.fmt === undefined) {
      const first = this.detect(buf);
      if (first === undefined || first < 0) return 0;
      off = first;
    }
    const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
    while (!this.failed && !this.stopped) {
      const at = this.consumed + off;
      let n: number | undefined;
      if (this.fmt === 'pcap') n = this.pcapRecord(buf, view, off, at, onFrame);
      else n = this.pcapngBlock(buf, off, at, onFrame);
      if (n === undefined) break;
      off += n;
    }
    return off;
  }

  /** Reads the file header: its length, undefined when more bytes are needed, -1 on an error. */
  private detect(buf: Uint8Array): number | undefined {
    if (buf.length < 4) return undefined;
    const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
    const be = view.getUint32(0, false);
    const le = view.getUint32(0, true);
    if (be === PCAPNG_SHB) {
      this.fmt = 'pcapng';
      return 0;
    }
    if (be === MAGIC_MICROS || be === MAGIC_NANOS || le === MAGIC_MICROS || le === MAGIC_NANOS) {
      if (buf.length < PCAP_GLOBAL_HEADER_LEN) return undefined;
      this.little = le === MAGIC_MICROS || le === MAGIC_NANOS;
      this.nanos = (this.little ? le : be) === MAGIC_NANOS;
      if (view.getUint16(4, this.little) !== 2) {
        this.fail({ layer: 'pcap', kind: 'version', severity: 'unsupported' }, 0);
        return -1;
      }
      this.fmt = 'pcap';
      this.snaplenValue = view.getUint32(16, this.little);
      // The upper bits of the link type field carry FCS length flags (pcap draft §4); keep the type.
      this.linkType = view.getUint32(20, this.little) & 0x0fff_ffff;
      return PCAP_GLOBAL_HEADER_LEN;
    }
    this.fail({ layer: 'pcap', kind: 'bad-magic', severity: 'malformed' }, 0);
    return -1;
  }

  /** One classic record at `off`: bytes consumed, or undefined when it is not all there yet. */
  private pcapRecord(
    buf: Uint8Array,
    view: DataView,
    off: number,
    at: number,
    onFrame: CaptureFrameHandler,
  ): number | undefined {
    if (buf.length - off < PCAP_RECORD_HEADER_LEN) return undefined;
    const little = this.little;
    const caplen = view.getUint32(off + 8, little);
    if (caplen > PCAP_MAX_SNAPLEN) {
      this.fail({ layer: 'pcap', kind: 'record-too-large', severity: 'malformed' }, at);
      return undefined;
    }
    const start = off + PCAP_RECORD_HEADER_LEN;
    if (buf.length - start < caplen) return undefined;
    const sec = view.getUint32(off, little);
    const frac = view.getUint32(off + 4, little);
    this.deliver(onFrame, {
      timestampMicros: sec * 1_000_000 + (this.nanos ? Math.floor(frac / 1000) : frac),
      bytes: buf.subarray(start, start + caplen),
      originalLength: view.getUint32(off + 12, little),
      linkType: this.linkType,
      interfaceId: 0,
      section: 0,
    });
    return PCAP_RECORD_HEADER_LEN + caplen;
  }

  /** One pcapng block at `off`: bytes consumed, or undefined when it is not all there yet. */
  private pcapngBlock(
    buf: Uint8Array,
    off: number,
    at: number,
    onFrame: CaptureFrameHandler,
  ): number | undefined {
    const head = readBlockHeader(buf, off, this.section?.little ?? false);
    if (head === undefined) return undefined;
    if (!head.ok) {
      this.fail(head.error, at);
      return undefined;
    }
    const { type, length, little } = head.value;
    if (type !== PCAPNG_SHB && this.section === undefined) {
      // §4.1: every section starts with its header; a file that does not is not pcapng.
      this.fail({ layer: 'pcap', kind: 'bad-magic', severity: 'malformed' }, at);
      return undefined;
    }
    if (buf.length - off < length) return undefined;
    const interfaces = this.section?.interfaces ?? [];
    const r = readBlock(buf.subarray(off, off + length), type, little, interfaces);
    if (!r.ok) {
      this.fail(r.error, at);
      return undefined;
    }
    const b = r.value;
    switch (b.kind) {
      case 'section':
        this.section = { little: b.little, interfaces: [] };
        this.sections++;
        break;
      case 'interface':
        if (interfaces.length >= PCAPNG_MAX_INTERFACES) {
          this.fail({ layer: 'pcap', kind: 'pcapng-too-many-interfaces', severity: 'unsupported' }, at);
          return undefined;
        }
        interfaces.push(b.iface);
        break;
      case 'packet': {
        const iface = interfaces[b.interfaceId]!;
        this.deliver(onFrame, {
          timestampMicros: b.timestamp === undefined ? undefined : timestampMicros(iface, b.timestamp),
          bytes: b.data,
          originalLength: b.originalLength,
          linkType: iface.linkType,
          interfaceId: b.interfaceId,
          section: this.sections - 1,
        });
        break;
      }
      case 'other':
        break;
    }
    return length;
  }

  private deliver(onFrame: CaptureFrameHandler, frame: CaptureFrame): void {
    this.count++;
    if (onFrame(frame) === false) this.stopped = true;
  }
}

function truncated(kind: string): WireError {
  return { layer: 'pcap', kind, severity: 'malformed' };
}

/** A whole capture read from memory (see `parseCapture`). */
export interface Capture {
  readonly format: CaptureFormat;
  /** The frames before any damage; they alias the input. */
  readonly frames: readonly CaptureFrame[];
  /** Where and why the reading stopped before the end of the input, if it did. */
  readonly error?: CaptureError;
}

/**
 * Reads a whole capture held in memory, pcap or pcapng. A file that is not a capture at all is an
 * error; a damaged or cut one gives the frames before the damage and says where it is (`error`).
 * Never throws; the frames are views into `bytes`.
 */
export function parseCapture(bytes: Uint8Array): Result<Capture, CaptureError> {
  const reader = new CaptureReader();
  const frames: CaptureFrame[] = [];
  reader.push(bytes, (f) => {
    frames.push(f);
    return true;
  });
  const error = reader.end();
  if (reader.format === undefined) return err(error ?? { ...truncated('truncated-header'), offset: 0 });
  return ok({ format: reader.format, frames, ...(error === undefined ? {} : { error }) });
}

/**
 * Reads a capture file, pcap or pcapng, as `parseCapture` does. Rejects only when the file cannot
 * be read (ENOENT, EACCES...); what is wrong inside it is an error value.
 */
export async function readCaptureFile(path: string): Promise<Result<Capture, CaptureError>> {
  const bytes = await readFile(path);
  return parseCapture(new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength));
}

/** A whole classic pcap, or a complete pcapng file of one link type, as a `PcapFile`. */
function pcapOrPcapng(bytes: Uint8Array): Result<PcapFile, WireError & { offset?: number }> {
  if (bytes.length < 4 || new DataView(bytes.buffer, bytes.byteOffset, 4).getUint32(0) !== PCAPNG_SHB)
    return parsePcap(bytes);
  const r = parseCapture(bytes);
  if (!r.ok) return r;
  if (r.value.error) return err(r.value.error);
  const linkTypes = new Set(r.value.frames.map((f) => f.linkType));
  if (linkTypes.size > 1) return unsupported('pcap', 'pcapng-several-link-types');
  return ok({
    linkType: linkTypes.values().next().value ?? LINKTYPE_ETHERNET,
    snaplen: 0,
    frames: r.value.frames.map((f) => ({
      timestampMicros: f.timestampMicros ?? 0,
      bytes: f.bytes,
      originalLength: f.originalLength,
    })),
  });
}

export interface PcapWriterOptions {
  /** Frames longer than this are cut (their original length is still recorded). Default 262144. */
  readonly snaplen?: number;
  /** Size of the record buffer in bytes. Default 256 KiB. */
  readonly bufferSize?: number;
  /**
   * Also write out what is buffered every this many milliseconds, so that a reader following the
   * file (`tail -f | tshark -i -`, `tshark -r` again) sees a live capture. Default: only when the
   * buffer is full, on `flush()` and on `close()`. The timer does not keep the process alive.
   */
  readonly flushIntervalMs?: number;
}

/**
 * Writes an Ethernet (link type 1) capture with microsecond timestamps in little-endian order, the
 * order libpcap uses on x86. Single-threaded and synchronous: meant for a driver's hot path, where
 * a write is a copy into memory and the file sees one `writeSync` per full buffer.
 */
export class PcapWriter {
  private readonly view: DataView;
  private used = 0;
  private fd: number | undefined;
  private count = 0;
  private timer: ReturnType<typeof setInterval> | undefined;

  private constructor(
    fd: number,
    private readonly snaplen: number,
    private readonly buf: Uint8Array,
  ) {
    this.fd = fd;
    this.view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  }

  /** Creates (or truncates) `path` and writes the global header into the buffer. Throws on I/O errors. */
  static open(path: string, opts: PcapWriterOptions = {}): PcapWriter {
    const snaplen = opts.snaplen ?? PCAP_MAX_SNAPLEN;
    if (!Number.isInteger(snaplen) || snaplen < 1 || snaplen > PCAP_MAX_SNAPLEN) {
      throw new RangeError(`PcapWriter: snaplen ${snaplen} outside 1..${PCAP_MAX_SNAPLEN}`);
    }
    const size = opts.bufferSize ?? 256 * 1024;
    if (!Number.isInteger(size) || size < PCAP_GLOBAL_HEADER_LEN + PCAP_RECORD_HEADER_LEN) {
      throw new RangeError(`PcapWriter: bufferSize ${size} too small`);
    }
    const every = opts.flushIntervalMs;
    if (every !== undefined && !(Number.isInteger(every) && every >= 1)) {
      throw new RangeError(`PcapWriter: flushIntervalMs ${every} is not a positive integer`);
    }
    const w = new PcapWriter(openSync(path, 'w'), snaplen, new Uint8Array(size));
    const v = w.view;
    v.setUint32(0, MAGIC_MICROS, true);
    v.setUint16(4, 2, true);
    v.setUint16(6, 4, true);
    v.setInt32(8, 0, true); // thiszone: always 0 (UTC)
    v.setUint32(12, 0, true); // sigfigs: always 0
    v.setUint32(16, snaplen, true);
    v.setUint32(20, LINKTYPE_ETHERNET, true);
    w.used = PCAP_GLOBAL_HEADER_LEN;
    if (every !== undefined) {
      // A failed write is thrown again by the next write() or close(), where the caller sees it.
      w.timer = setInterval(() => {
        try {
          w.flush();
        } catch {}
      }, every);
      w.timer.unref();
    }
    return w;
  }

  /** Records written so far. */
  get framesWritten(): number {
    return this.count;
  }

  /** Appends one frame captured at `timestampMicros` (microseconds since the epoch). */
  write(bytes: Uint8Array, timestampMicros: number): void {
    if (this.fd === undefined) throw new Error('PcapWriter: write after close');
    if (!(timestampMicros >= 0 && timestampMicros < 2 ** 32 * 1_000_000)) {
      throw new RangeError(`PcapWriter: timestamp ${timestampMicros} outside the u32 seconds range`);
    }
    const caplen = Math.min(bytes.length, this.snaplen);
    const recordLen = PCAP_RECORD_HEADER_LEN + caplen;
    if (this.used + recordLen > this.buf.length) this.flush();
    const micros = Math.floor(timestampMicros);
    const sec = Math.floor(micros / 1_000_000);
    const v = this.view;
    const at = this.used;
    v.setUint32(at, sec, true);
    v.setUint32(at + 4, micros - sec * 1_000_000, true);
    v.setUint32(at + 8, caplen, true);
    v.setUint32(at + 12, bytes.length, true);
    this.used += PCAP_RECORD_HEADER_LEN;
    const data = caplen === bytes.length ? bytes : bytes.subarray(0, caplen);
    if (recordLen <= this.buf.length) {
      this.buf.set(data, this.used);
      this.used += caplen;
    } else {
      // A record larger than the whole buffer: header out, then the frame straight from its view.
      this.flush();
      writeAll(this.fd, data);
    }
    this.count++;
  }

  /** Writes out everything buffered so far. */
  flush(): void {
    if (this.fd === undefined || this.used === 0) return;
    writeAll(this.fd, this.buf.subarray(0, this.used));
    this.used = 0;
  }

  /** Flushes and closes the file; later calls do nothing. */
  close(): void {
    if (this.fd === undefined) return;
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
    try {
      this.flush();
    } finally {
      closeSync(this.fd);
      this.fd = undefined;
    }
  }
}

function writeAll(fd: number, data: Uint8Array): void {
  let done = 0;
  while (done < data.length) done += writeSync(fd, data, done, data.length - done);
}
