/**
 * `oasis pcap FILE [--hex]`: one line per frame of a pcap capture, as `tcpdump -nn -r FILE` prints
 * it: the frame number, the time since the first frame (seconds.microseconds) and `formatFrame`'s
 * summary. `--hex` adds a hex and ASCII dump of every frame, laid out as `tcpdump -XX`.
 *
 * A file that is not a complete classic pcap is refused with one clear message and exit code 1.
 * Frames of a link type other than Ethernet are listed as such, one line each.
 */
import { readFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { formatFrame } from '../format.js';
import { LINKTYPE_ETHERNET, PCAP_MAX_SNAPLEN, type PcapRecord, parsePcap } from '../link/pcap.js';
import type { WireError } from '../result.js';
import { type Command, UsageError } from './command.js';

const USAGE = `Usage: oasis pcap FILE [--hex]

Prints every frame of a pcap capture on one line: its number, its time in seconds
since the first frame, and a tcpdump-like summary (checksums verified).

Options:
  -x, --hex    also dump each frame in hex and ASCII (as tcpdump -XX)
  -h, --help   show this help`;

/** Lines are written in batches: one console.log per frame is slow on big captures. */
const BATCH = 1000;

export const pcapCommand: Command = {
  summary: 'print the frames of a pcap capture, one line each',
  usage: USAGE,
  async run(args: string[]): Promise<number> {
    const { values, positionals } = parseArgs({
      args,
      options: { hex: { type: 'boolean', short: 'x', default: false } },
      allowPositionals: true,
      strict: true,
    });
    if (positionals.length !== 1) throw new UsageError('expected exactly one FILE');
    const file = positionals[0]!;
    const parsed = parsePcap(await readFile(file));
    if (!parsed.ok) {
      console.error(`oasis pcap: ${file}: ${whyNotPcap(parsed.error)}`);
      return 1;
    }
    const { linkType, frames } = parsed.value;
    const first = frames[0]?.timestampMicros ?? 0;
    const width = String(frames.length).length;
    let out: string[] = [];
    frames.forEach((f, i) => {
      out.push(
        `${String(i + 1).padStart(width)}  ${seconds(f.timestampMicros - first)}  ${summary(linkType, f)}`,
      );
      if (values.hex) out.push(hexDump(f.bytes));
      if (out.length >= BATCH) {
        console.log(out.join('\n'));
        out = [];
      }
    });
    if (out.length > 0) console.log(out.join('\n'));
    return 0;
  },
};

function summary(linkType: number, f: PcapRecord): string {
  const cut =
    f.bytes.length < f.originalLength ? ` [captured ${f.bytes.length} of ${f.originalLength} bytes]` : '';
  if (linkType !== LINKTYPE_ETHERNET)
    return `link type ${linkType} not supported, length ${f.bytes.length}${cut}`;
  return `${formatFrame(f.bytes)}${cut}`;
}

/** What `parsePcap` refused, in words. */
function whyNotPcap(e: WireError): string {
  switch (e.kind) {
    case 'bad-magic':
      return 'not a pcap capture (unknown magic number)';
    case 'truncated-header':
      return 'not a pcap capture (shorter than the 24-byte file header)';
    case 'pcapng':
      return 'a pcapng capture, which is not supported (convert it: editcap -F pcap IN OUT)';
    case 'version':
      return 'a pcap capture of a version other than 2.x, not supported';
    case 'truncated-record-header':
    case 'truncated-record':
      return `a damaged pcap capture: it ends in the middle of a record (${e.kind})`;
    case 'record-too-large':
      return `a damaged pcap capture: a record claims more than ${PCAP_MAX_SNAPLEN} bytes`;
    default:
      return `not a readable pcap capture (${e.severity} ${e.kind})`;
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
