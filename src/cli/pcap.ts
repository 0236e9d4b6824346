/**
 * `oasis pcap FILE [--hex] [-c N]`: one line per frame of a capture, as `tcpdump -nn -r FILE` prints
 * it: the frame number, the time since the first frame (seconds.microseconds) and `formatFrame`'s
 * summary. `--hex` adds a hex and ASCII dump of every frame, laid out as `tcpdump -XX`.
 *
 * Reads classic pcap and pcapng (link/pcap.ts `CaptureReader`), from a file or from standard input
 * (`-`), frame by frame as the bytes arrive, so a pipe from a live capture prints as it goes and
 * `-c N` stops reading after N frames. Ethernet frames and Linux cooked captures (`tcpdump -i any`:
 * LINKTYPE_LINUX_SLL and LINUX_SLL2) are decoded; frames of other link types are listed as such.
 *
 * Exit codes: 0 when every frame was read; 1 when the input is not a capture, cannot be read, or is
 * damaged or cut short (then every complete frame before the damage is printed first, and the
 * damage is named with its offset, as tcpdump warns of a truncated dump file); 2 for a usage error.
 */
import { createReadStream } from 'node:fs';
import { parseArgs } from 'node:util';
import { formatFrame } from '../format.js';
import {
  type CaptureError,
  type CaptureFrame,
  CaptureReader,
  LINKTYPE_ETHERNET,
  LINKTYPE_LINUX_SLL,
  LINKTYPE_LINUX_SLL2,
  PCAP_MAX_SNAPLEN,
} from '../link/pcap.js';
import { type Command, UsageError } from './command.js';

const USAGE = `Usage: oasis pcap FILE [--hex] [-c N]

Prints every frame of a capture (pcap or pcapng; FILE '-' reads standard input) on one line: its
number, its time in seconds since the first frame, and a tcpdump-like summary (checksums verified).
Ethernet and Linux cooked captures (tcpdump -i any) are decoded.

Options:
  -x, --hex      also dump each frame in hex and ASCII (as tcpdump -XX)
  -c, --count N  stop after N frames
  -h, --help     show this help

Exit codes: 0 every frame read; 1 not a capture, unreadable, or damaged or cut short (the frames
before the damage are printed, then where it is); 2 usage error.`;

/** Lines are written in batches: one console.log per frame is slow on big captures. */
const BATCH = 1000;

export const pcapCommand: Command = {
  summary: 'print the frames of a pcap or pcapng capture, one line each',
  usage: USAGE,
  async run(args: string[]): Promise<number> {
    const { values, positionals } = parseArgs({
      args,
      options: {
        hex: { type: 'boolean', short: 'x', default: false },
        count: { type: 'string', short: 'c' },
      },
      allowPositionals: true,
      strict: true,
    });
    if (positionals.length !== 1) throw new UsageError('expected exactly one FILE (or - for standard input)');
    const file = positionals[0]!;
    const limit = values.count === undefined ? Number.POSITIVE_INFINITY : Number(values.count);
    if (values.count !== undefined && !(Number.isSafeInteger(limit) && limit >= 1))
      throw new UsageError(`-c: not a positive integer: ${values.count}`);

    const reader = new CaptureReader();
    let first: number | undefined;
    let out: string[] = [];
    watchOutput();
    const flush = () => {
      if (out.length > 0 && !outputGone) console.log(out.join('\n'));
      out = [];
    };
    const onFrame = (f: CaptureFrame): boolean => {
      first ??= f.timestampMicros;
      const time = f.timestampMicros === undefined ? '-' : seconds(f.timestampMicros - (first ?? 0));
      out.push(`${reader.frames}  ${time}  ${summary(f)}`);
      if (values.hex) out.push(hexDump(f.bytes));
      if (out.length >= BATCH) flush();
      return reader.frames < limit;
    };

    const input = file === '-' ? process.stdin : createReadStream(file);
    let error: CaptureError | undefined;
    try {
      for await (const chunk of input) {
        const bytes = chunk as Buffer;
        error = reader.push(new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength), onFrame);
        if (error !== undefined || reader.frames >= limit || outputGone) break;
      }
    } catch (e) {
      flush();
      console.error(`oasis pcap: ${file}: ${e instanceof Error ? e.message : String(e)}`);
      return 1;
    }
    flush();
    if (outputGone) return 0;
    if (reader.frames >= limit && error === undefined) return 0;
    error ??= reader.end();
    if (error === undefined) return 0;
    console.error(`oasis pcap: ${file === '-' ? 'standard input' : file}: ${whyNot(error, reader.frames)}`);
    return 1;
  },
};

/** Standard output's reader went away (`oasis pcap big.pcapng | head`): stop quietly, as tcpdump. */
let outputGone = false;
let watching = false;

/** Once per process: EPIPE on standard output ends the listing instead of throwing a stack trace. */
function watchOutput(): void {
  if (watching) return;
  watching = true;
  process.stdout.on('error', (e: NodeJS.ErrnoException) => {
    if (e.code !== 'EPIPE') throw e;
    outputGone = true;
  });
}

function summary(f: CaptureFrame): string {
  const cut =
    f.bytes.length < f.originalLength ? ` [captured ${f.bytes.length} of ${f.originalLength} bytes]` : '';
  switch (f.linkType) {
    case LINKTYPE_ETHERNET:
      return `${formatFrame(f.bytes)}${cut}`;
    case LINKTYPE_LINUX_SLL:
    case LINKTYPE_LINUX_SLL2:
      return `${cookedText(f.bytes, f.linkType)}${cut}`;
    default:
      return `link type ${f.linkType} not supported, length ${f.bytes.length}${cut}`;
  }
}

/** sll_pkttype (linux/if_packet.h) as tcpdump names it. */
const PACKET_TYPES = ['In', 'B', 'M', 'P', 'Out'];

/** The MACs of the Ethernet header `cookedText` puts in front, and what they print as. */
const NO_MACS = '00:00:00:00:00:00 > 00:00:00:00:00:00, ';

/**
 * A Linux cooked frame (https://www.tcpdump.org/linktypes/LINKTYPE_LINUX_SLL.html and
 * LINKTYPE_LINUX_SLL2.html):
 *
 *   SLL  (16 bytes): packet type u16, ARPHRD type u16, address length u16, address 8 bytes, protocol u16
 *   SLL2 (20 bytes): protocol u16, reserved u16, interface index u32, ARPHRD type u16,
 *                    packet type u8, address length u8, address 8 bytes
 *
 * all big-endian. When the protocol is an EtherType, what follows is the network-layer packet: it is
 * summarised by `formatFrame` behind a blank Ethernet header (whose MACs are not shown, as tcpdump
 * shows none for cooked frames). As tcpdump, SLL2 lines start with the interface and direction.
 */
function cookedText(bytes: Uint8Array, linkType: number): string {
  const v2 = linkType === LINKTYPE_LINUX_SLL2;
  const headerLen = v2 ? 20 : 16;
  if (bytes.length < headerLen) return `malformed linux cooked: truncated, length ${bytes.length}`;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const protocol = view.getUint16(v2 ? 0 : 14);
  const packetType = v2 ? view.getUint8(10) : view.getUint16(0);
  const payload = bytes.subarray(headerLen);
  const direction = PACKET_TYPES[packetType] ?? `type ${packetType}`;
  const prefix = v2 ? `ifindex ${view.getUint32(4)} ${direction} ` : '';
  // Below 0x0600 the field is not an EtherType (IEEE 802.3): LINUX_SLL_P_802_2, CAN, netlink...
  if (protocol < 0x0600)
    return `${prefix}linux cooked, protocol 0x${protocol.toString(16).padStart(4, '0')}, length ${payload.length}`;
  const frame = new Uint8Array(14 + payload.length);
  frame[12] = protocol >> 8;
  frame[13] = protocol & 0xff;
  frame.set(payload, 14);
  const line = formatFrame(frame);
  return prefix + (line.startsWith(NO_MACS) ? line.slice(NO_MACS.length) : line);
}

/** What stopped the reading, in words. */
function whyNot(e: CaptureError, frames: number): string {
  const before = `${frames} frame${frames === 1 ? '' : 's'} before it printed`;
  switch (e.kind) {
    case 'bad-magic':
      return e.offset === 0
        ? 'not a pcap or pcapng capture (unknown magic number)'
        : `damaged: no pcapng section header at offset ${e.offset}; ${before}`;
    case 'truncated-header':
      return 'not a capture (shorter than the 24-byte file header)';
    case 'version':
      return 'a pcap capture of a version other than 2.x, not supported';
    case 'pcapng-version':
      return `a pcapng section of a version other than 1.x at offset ${e.offset}, not supported; ${before}`;
    case 'truncated-record-header':
    case 'truncated-record':
    case 'truncated-block':
      return `cut short: the capture ends in the middle of a record at offset ${e.offset} (${e.kind}); ${before}`;
    case 'record-too-large':
      return `damaged: the record at offset ${e.offset} claims more than ${PCAP_MAX_SNAPLEN} bytes; ${before}`;
    default:
      return `damaged at offset ${e.offset} (${e.severity} ${e.kind}); ${before}`;
  }
}

/** `12.000345`: microseconds as seconds, exactly (no float rounding), with a sign when negative. */
function seconds(micros: number): string {
  const abs = Math.abs(micros);
  const s = `${Math.floor(abs / 1_000_000)}.${String(abs % 1_000_000).padStart(6, '0')}`;
  return micros < 0 ? `-${s}` : s;
}

/**
 * tcpdump -XX's layout: per 16 bytes, a tab, the offset, the bytes in groups of two, and the
 * graphic ASCII characters (others, space included, as `.`).
 */
function hexDump(bytes: Uint8Array): string {
  const rows: string[] = [];
  for (let off = 0; off < bytes.length; off += 16) {
    const row = bytes.subarray(off, off + 16);
    let hex = '';
    let ascii = '';
    for (let i = 0; i < row.length; i++) {
      const b = row[i]!;
      if (i > 0 && i % 2 === 0) hex += ' ';
      hex += b.toString(16).padStart(2, '0');
      ascii += b > 0x20 && b < 0x7f ? String.fromCharCode(b) : '.';
    }
    rows.push(`\t0x${off.toString(16).padStart(4, '0')}:  ${hex.padEnd(39)}  ${ascii}`);
  }
  return rows.join('\n');
}
