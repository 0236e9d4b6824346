/**
 * iperf3's measurements and how it prints them: the interval and summary lines (the format strings
 * of iperf_locale.c and the adaptive units of units.c, 3.12) and the `--json` document's shape
 * (start / intervals / end). Pure: the numbers come in, strings and objects go out.
 */

/** One stream's figures over one interval (or the whole test). Times are seconds from the start. */
export interface StreamSample {
  readonly socket: number;
  readonly start: number;
  readonly end: number;
  readonly bytes: number;
  /** Whether the side that took this sample sent the data. */
  readonly sender: boolean;
  /** TCP sender: retransmitted segments (undefined when not known). */
  readonly retransmits?: number;
  /** UDP: datagrams sent (sender) or expected, i.e. the highest sequence number seen (receiver). */
  readonly packets?: number;
  /** UDP receiver: datagrams lost. */
  readonly lost?: number;
  /** UDP receiver: jitter in seconds. */
  readonly jitter?: number;
  readonly outOfOrder?: number;
}

export interface Interval {
  readonly streams: readonly StreamSample[];
  readonly sum: StreamSample;
}

/** Adds samples of several streams over the same period (jitter: the mean, as iperf3 does). */
export function sumSamples(samples: readonly StreamSample[], socket = 0): StreamSample {
  const first = samples[0];
  const add = (k: 'retransmits' | 'packets' | 'lost' | 'outOfOrder') =>
    samples.some((s) => s[k] !== undefined) ? samples.reduce((a, s) => a + (s[k] ?? 0), 0) : undefined;
  const jitters = samples.filter((s) => s.jitter !== undefined);
  const out: {
    -readonly [K in keyof StreamSample]: StreamSample[K];
  } = {
    socket,
    start: first?.start ?? 0,
    end: Math.max(0, ...samples.map((s) => s.end)),
    bytes: samples.reduce((a, s) => a + s.bytes, 0),
    sender: first?.sender ?? false,
  };
  const r = add('retransmits');
  const p = add('packets');
  const l = add('lost');
  const o = add('outOfOrder');
  if (r !== undefined) out.retransmits = r;
  if (p !== undefined) out.packets = p;
  if (l !== undefined) out.lost = l;
  if (o !== undefined) out.outOfOrder = o;
  if (jitters.length > 0) out.jitter = jitters.reduce((a, s) => a + (s.jitter ?? 0), 0) / jitters.length;
  return out;
}

export function seconds(s: StreamSample): number {
  return s.end - s.start;
}

export function bitsPerSecond(s: StreamSample): number {
  const t = seconds(s);
  return t > 0 ? (s.bytes * 8) / t : 0;
}

/** C's `%.Nf` for finite numbers. */
function fixed(x: number, digits: number): string {
  return (Object.is(x, -0) ? 0 : x).toFixed(digits);
}

/** C's `%.Pg`: P significant digits, trailing zeros dropped, exponent form outside [1e-4, 10^P). */
export function formatG(x: number, precision: number): string {
  if (x === 0 || !Number.isFinite(x)) return x === 0 ? '0' : String(x);
  const [mant, expText] = x.toExponential(precision - 1).split('e') as [string, string];
  const exp = Number(expText);
  const trim = (s: string) => (s.includes('.') ? s.replace(/0+$/, '').replace(/\.$/, '') : s);
  if (exp < -4 || exp >= precision) {
    const e = Math.abs(exp);
    return `${trim(mant)}e${exp < 0 ? '-' : '+'}${e < 10 ? `0${e}` : e}`;
  }
  return trim(x.toFixed(precision - 1 - exp));
}

const BYTE_LABELS = ['Byte', 'KByte', 'MByte', 'GByte', 'TByte'];
const BIT_LABELS = ['bit', 'Kbit', 'Mbit', 'Gbit', 'Tbit'];

/** units.c `unit_snprintf` adaptive: 1024-based for bytes, 1000-based for bits; always 4 places. */
function unit(n: number, base: number, labels: readonly string[]): string {
  let conv = 0;
  while (n >= base && conv < labels.length - 1) {
    n /= base;
    conv++;
  }
  const digits = n < 9.995 ? 2 : n < 99.95 ? 1 : 0;
  return `${fixed(n, digits).padStart(4)} ${labels[conv]}`;
}

/** "1.09 GBytes" (the format appends the plural s). */
export function formatBytes(bytes: number): string {
  return `${unit(bytes, 1024, BYTE_LABELS)}s`;
}

/** "9.37 Gbits/sec". */
export function formatBitrate(bitsPerSec: number): string {
  return `${unit(bitsPerSec, 1000, BIT_LABELS)}s/sec`;
}

function id(socket: number | 'SUM'): string {
  return socket === 'SUM' ? '[SUM]' : `[${String(socket).padStart(3)}]`;
}

function span(s: StreamSample): string {
  return `${fixed(s.start, 2).padStart(6)}-${fixed(s.end, 2).padEnd(6)} sec`;
}

export type LineKind = 'tcp' | 'tcp-retr' | 'udp-recv' | 'udp-send';

export const SEPARATOR = '- - - - - - - - - - - - - - - - - - - - - - - - -';

export function header(kind: LineKind): string {
  const base = '[ ID] Interval           Transfer     Bitrate';
  switch (kind) {
    case 'tcp':
      return base;
    case 'tcp-retr':
      return `${base}         Retr`;
    case 'udp-recv':
      return `${base}         Jitter    Lost/Total Datagrams`;
    case 'udp-send':
      return `${base}         Total Datagrams`;
  }
}

/**
 * One report line (report_bw_format and friends). `role` is the trailing word: 'sender',
 * 'receiver' or '' for interval lines; `socket` 'SUM' makes a [SUM] line.
 */
export function formatLine(kind: LineKind, s: StreamSample, role: string, socket: number | 'SUM'): string {
  const head = `${id(socket)} ${span(s)}  ${formatBytes(s.bytes)}  ${formatBitrate(bitsPerSecond(s))}`;
  switch (kind) {
    case 'tcp':
      return `${head}                  ${role}`;
    case 'tcp-retr':
      return `${head}  ${String(Math.max(0, s.retransmits ?? 0)).padStart(3)}             ${role}`;
    case 'udp-recv': {
      const lost = s.lost ?? 0;
      const total = s.packets ?? 0;
      const pct = total > 0 ? (100 * lost) / total : 0;
      const jitterMs = fixed((s.jitter ?? 0) * 1000, 3).padStart(5);
      return `${head}  ${jitterMs} ms  ${lost}/${total} (${formatG(pct, 2)}%)  ${role}`;
    }
    case 'udp-send':
      return `${head}  ${s.packets ?? 0}  ${role}`;
  }
}

/** Interval lines for every stream, a [SUM] line when there are several, and the separator. */
export function intervalLines(kind: LineKind, iv: Interval): string[] {
  const lines = iv.streams.map((s) => formatLine(kind, s, '', s.socket));
  if (iv.streams.length > 1) lines.push(formatLine(kind, iv.sum, '', 'SUM'));
  if (iv.streams.length > 1) lines.push(SEPARATOR);
  return lines;
}

/** Seconds with iperf3's microsecond resolution (and no float noise like 0.9999999999999999). */
export function usec(t: number): number {
  return Math.round(t * 1e6) / 1e6;
}

/** The JSON of one sample, with iperf3's keys; `socket` 0 (a sum) has no socket key. */
export function sampleJson(s: StreamSample, udp: boolean, extra: Record<string, unknown> = {}): object {
  const o: Record<string, unknown> = {
    ...(s.socket === 0 ? {} : { socket: s.socket }),
    start: usec(s.start),
    end: usec(s.end),
    seconds: usec(seconds(s)),
    bytes: s.bytes,
    bits_per_second: bitsPerSecond(s),
  };
  if (s.retransmits !== undefined && !udp) o.retransmits = s.retransmits;
  if (udp) {
    const lost = s.lost ?? 0;
    const packets = s.packets ?? 0;
    if (s.jitter !== undefined || s.lost !== undefined) {
      o.jitter_ms = (s.jitter ?? 0) * 1000;
      o.lost_packets = lost;
    }
    o.packets = packets;
    if (s.jitter !== undefined || s.lost !== undefined)
      o.lost_percent = packets > 0 ? (100 * lost) / packets : 0;
  }
  return { ...o, ...extra, sender: s.sender };
}
