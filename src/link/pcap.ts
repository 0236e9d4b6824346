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
 * buffer and writes it out with one `writeSync` when full, on `flush()` and on `close()`.
 */
import { closeSync, openSync, readFileSync, writeSync } from 'node:fs';
import { createRequire } from 'node:module';
import { malformed, ok, type Result, unsupported } from '../result.js';

/** LINKTYPE_ETHERNET (draft-ietf-opsawg-pcaplinktype §2.2): frames start at the destination MAC. */
export const LINKTYPE_ETHERNET = 1;

export const PCAP_GLOBAL_HEADER_LEN = 24;
export const PCAP_RECORD_HEADER_LEN = 16;

/** tcpdump's and Wireshark's default and largest snapshot length for Ethernet. */
export const PCAP_MAX_SNAPLEN = 262_144;

const MAGIC_MICROS = 0xa1b2c3d4;
const MAGIC_NANOS = 0xa1b23c4d;
/** A pcapng Section Header Block type, read in either byte order. */
const PCAPNG_SHB = 0x0a0d0d0a;

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
 * pcap; nanosecond-magic files (unknown to pcap-parser) go through `parsePcap`.
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
        let parsed: Result<PcapFile>;
        try {
          parsed = parsePcap(readFileSync(path));
        } catch (readError) {
          reject(readError);
          return;
        }
        if (parsed.ok) resolve(parsed.value);
        else reject(new Error(`pcap: ${path}: ${parsed.error.severity} ${parsed.error.kind}`));
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

export interface PcapWriterOptions {
  /** Frames longer than this are cut (their original length is still recorded). Default 262144. */
  readonly snaplen?: number;
  /** Size of the record buffer in bytes. Default 256 KiB. */
  readonly bufferSize?: number;
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
