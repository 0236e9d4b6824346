/**
 * What the benchmarks measure alike: the CPU Oasis and the machine used during a measurement
 * (proc(5)), iperf3 runs with their median, the bookkeeping of figures that may have failed, and a
 * full garbage collection before memory is read.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import type { NetNs } from '../test/support/netns.js';
import { round } from './summary.js';
import { message } from './system.js';

/** A measurement that could not be made, and why. */
export type Failed = { readonly error: string };

export interface TcpFigure {
  readonly gbps: number;
  readonly runs: readonly number[];
  readonly retransmits?: number;
  /** Oasis's CPU, percent of one core, during the median run. */
  readonly oasisCpuPercent?: number;
  /** The machine's busy share, percent of all its cores, during the median run. */
  readonly machineBusyPercent: number;
}

const CLK_TCK = (() => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  } catch {
    return 100;
  }
})();

/** utime + stime of a process, in clock ticks (proc(5): fields 14 and 15, counted after the `)`). */
function processTicks(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return Number(fields[11]) + Number(fields[12]);
}

/** The machine's busy and total ticks over all CPUs (first line of /proc/stat; idle and iowait idle). */
function machineTicks(): { busy: number; total: number } {
  const cpu = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
  const total = cpu.slice(0, 8).reduce((s, x) => s + x, 0);
  return { busy: total - cpu[3]! - cpu[4]!, total };
}

/** Runs `f` and reports the CPU Oasis (if `pid`) and the machine used meanwhile. */
export async function withCpu<T>(
  pid: number | undefined,
  f: () => Promise<T>,
): Promise<{ value: T; oasisCpuPercent?: number; machineBusyPercent: number }> {
  const p0 = pid === undefined ? 0 : processTicks(pid);
  const m0 = machineTicks();
  const t0 = performance.now();
  const value = await f();
  const seconds = (performance.now() - t0) / 1000;
  const m1 = machineTicks();
  const machineBusyPercent = round((100 * (m1.busy - m0.busy)) / Math.max(1, m1.total - m0.total));
  if (pid === undefined) return { value, machineBusyPercent };
  const oasisCpuPercent = round((100 * (processTicks(pid) - p0)) / CLK_TCK / seconds);
  return { value, oasisCpuPercent, machineBusyPercent };
}

export function median<T>(xs: readonly T[], key: (x: T) => number): T {
  return [...xs].sort((a, b) => key(a) - key(b))[Math.floor(xs.length / 2)]!;
}

interface IperfDoc {
  end?: { sum_received?: { bits_per_second?: number }; sum_sent?: { retransmits?: number } };
  error?: string;
}

/**
 * `repeat` runs of `iperf3 -c dst -t seconds` from `client` (a server must listen at `dst`), each with
 * the CPU used; the median run, with every run's Gbit/s.
 */
export async function iperf3Figure(
  client: NetNs,
  dst: string,
  seconds: number,
  repeat: number,
  pid: number | undefined,
): Promise<TcpFigure> {
  const runs: Omit<TcpFigure, 'runs'>[] = [];
  for (let i = 0; i < repeat; i++) {
    const { value: r, ...cpu } = await withCpu(pid, () =>
      client.exec('iperf3', ['-c', dst, '-t', `${seconds}`, '-J'], (seconds + 30) * 1000),
    );
    const doc = JSON.parse(r.stdout || '{}') as IperfDoc;
    const bps = doc.end?.sum_received?.bits_per_second;
    if (r.code !== 0 || bps === undefined) throw new Error(`iperf3: ${doc.error ?? r.stderr.trim()}`);
    const retr = doc.end?.sum_sent?.retransmits;
    runs.push({ gbps: round(bps / 1e9), ...(retr === undefined ? {} : { retransmits: retr }), ...cpu });
  }
  return { ...median(runs, (r) => r.gbps), runs: runs.map((r) => r.gbps) };
}

/** `f`'s figure, logged under `bench: what`; a failure is logged and kept as `Failed`. */
export async function attempt<T>(bench: string, what: string, f: () => Promise<T>): Promise<T | Failed> {
  try {
    const v = await f();
    console.log(`${bench}: ${what}: ${JSON.stringify(v)}`);
    return v;
  } catch (e) {
    console.log(`${bench}: ${what} failed: ${message(e)}`);
    return { error: message(e) };
  }
}

/** The figure, or undefined when it failed or is missing. */
export function value<T extends object>(x: T | Failed | undefined): T | undefined {
  return x === undefined || 'error' in x ? undefined : (x as T);
}

/** Oasis over Linux, or null when either is missing. */
export function ratio(o: number | undefined, l: number | undefined): number | null {
  return o === undefined || l === undefined || l === 0 ? null : round(o / l);
}

/** `model name` of /proc/cpuinfo, for every result file. */
export function cpuModel(): string {
  try {
    return /^model name\s*:\s*(.*)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1]?.trim() ?? '?';
  } catch {
    return cpus()[0]?.model ?? '?';
  }
}

/** A full collection: `gc` from `node --expose-gc`, or one obtained by setting the flag at run time. */
export function collector(): (() => void) | undefined {
  if (globalThis.gc !== undefined) return globalThis.gc;
  try {
    setFlagsFromString('--expose-gc');
    return runInNewContext('gc') as () => void;
  } catch {
    return undefined;
  }
}
