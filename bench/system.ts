/**
 * What the system benches (iperf3.ts, ping.ts, rss.ts) share: the skip rule (root, TAP, the tools),
 * results written even when a bench fails, veth pairs for the kernel reference and `oasis` processes.
 * Namespaces come from test/support/netns.ts (unique names, deleted in `delete()` and at exit).
 */
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { canTap, NetNs, uniqueIfName, waitFor } from '../test/support/netns.js';
import { writeResults } from './summary.js';

/** The built CLI; npm scripts run from the package root. */
export const OASIS_BIN = join(process.cwd(), 'bin', 'oasis.js');

/** Why the system benches cannot run here, or undefined when they can. */
function systemSkipReason(commands: readonly string[]): string | undefined {
  if (!canTap) return 'needs root, /dev/net/tun and iproute2 (and OASIS_NO_TAP unset)';
  for (const c of commands) {
    try {
      execFileSync('sh', ['-c', `command -v ${c}`], { stdio: 'ignore' });
    } catch {
      return `${c} is not installed`;
    }
  }
  return undefined;
}

let signalsHandled = false;

/** Ctrl-C ends through process.exit, so the exit sweep of netns.ts deletes our namespaces. */
function exitOnSignals(): void {
  if (signalsHandled) return;
  signalsHandled = true;
  for (const sig of ['SIGINT', 'SIGTERM'] as const) process.once(sig, () => process.exit(130));
}

export function message(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/** The offload features of a device as `ethtool -k` shows them (the ones the benchmarks set). */
export function offloadFeatures(ns: NetNs, dev: string): string {
  try {
    const k = ns.run('ethtool', '-k', dev);
    const want = [
      ['tx-checksumming', 'tx'],
      ['rx-checksumming', 'rx'],
      ['scatter-gather', 'sg'],
      ['tcp-segmentation-offload', 'tso'],
      ['generic-segmentation-offload', 'gso'],
      ['generic-receive-offload', 'gro'],
    ] as const;
    return want
      .map(([f, short]) => `${short} ${new RegExp(`^${f}: (\\w+)`, 'm').exec(k)?.[1] ?? '?'}`)
      .join(', ');
  } catch (e) {
    return `unknown (${message(e)})`;
  }
}

/**
 * Runs a system bench and writes bench/results/<name>.json: `{ skipped }` where it cannot run and
 * `{ error }` when it failed, so that one broken bench stops neither the others nor the summary.
 */
export async function systemBench(
  name: string,
  commands: readonly string[],
  body: () => Promise<unknown>,
): Promise<unknown> {
  const skipped = systemSkipReason(commands);
  let results: unknown;
  if (skipped !== undefined) {
    console.log(`${name}: skipped (${skipped})`);
    results = { skipped };
  } else {
    exitOnSignals();
    try {
      results = await body();
    } catch (e) {
      console.log(`${name}: failed: ${message(e)}`);
      results = { error: message(e) };
    }
  }
  writeResults(name, results);
  return results;
}

const OFFLOADS = ['tx', 'rx', 'sg', 'tso', 'gso', 'gro'];

/**
 * Two fresh namespaces joined by a veth pair: `${net}.1` in the first, `${net}.2` in the second.
 * Without `offloads` both ends segment, checksum and coalesce in software, as Oasis on a TAP does.
 */
export function vethPair(net: string, mtu = 1500, offloads = true): [NetNs, NetNs] {
  const a = NetNs.create();
  const b = NetNs.create();
  try {
    const [ifA, ifB] = [uniqueIfName(), uniqueIfName()];
    a.run('ip', 'link', 'add', ifA, 'mtu', `${mtu}`, 'type', 'veth', 'peer', 'name', ifB, 'netns', b.name);
    b.run('ip', 'link', 'set', ifB, 'mtu', `${mtu}`);
    for (const [ns, dev, host] of [
      [a, ifA, 1],
      [b, ifB, 2],
    ] as const) {
      ns.run('ip', 'addr', 'add', `${net}.${host}/24`, 'dev', dev);
      if (!offloads) ns.run('ethtool', '-K', dev, ...OFFLOADS.flatMap((o) => [o, 'off']));
      ns.run('ip', 'link', 'set', dev, 'up');
    }
    return [a, b];
  } catch (e) {
    a.delete();
    b.delete();
    throw e;
  }
}

export interface OasisProcess {
  readonly pid: number;
  /** Stops it with SIGINT and returns the JSON it prints on the way out. */
  stop(): Promise<Record<string, unknown>>;
}

/**
 * Starts the CLI in `ns` (or another Node program of the benchmarks, `bin`) and waits for its
 * `ready` line.
 */
export async function startOasis(
  ns: NetNs,
  args: readonly string[],
  timeoutMs = 15_000,
  bin = OASIS_BIN,
): Promise<OasisProcess> {
  const child = ns.spawn(process.execPath, [bin, ...args]);
  let out = '';
  let err = '';
  child.stdout?.on('data', (d: Buffer) => {
    out += d.toString();
  });
  child.stderr?.on('data', (d: Buffer) => {
    err = (err + d.toString()).slice(-4000);
  });
  const closed = new Promise<void>((resolve) => child.on('close', () => resolve()));
  let exited = false;
  void closed.then(() => {
    exited = true;
  });
  await waitFor('oasis to print ready', () => out.includes('ready') || exited, timeoutMs);
  if (!out.includes('ready')) throw new Error(`oasis exited before ready: ${err.trim()}`);
  return {
    // `ip netns exec` execs the command in place, so this is node's own pid.
    pid: child.pid!,
    async stop() {
      child.kill('SIGINT');
      const killer = setTimeout(() => child.kill('SIGKILL'), 20_000);
      await closed;
      clearTimeout(killer);
      const start = out.indexOf('{', out.indexOf('ready'));
      try {
        return JSON.parse(out.slice(start)) as Record<string, unknown>;
      } catch {
        throw new Error(`oasis printed no counters (exit ${child.exitCode}): ${err.trim()}`);
      }
    },
  };
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
