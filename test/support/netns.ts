/**
 * Private network namespaces for interop tests (docs/STYLE.md §14): every namespace and TAP gets a unique
 * name (`oasis-<pid>-<n>`, `oa<pid>t<n>`), every command runs inside a namespace we created, and
 * everything is deleted in `delete()` (call it from finally/afterAll), with a last-resort sweep when
 * the process exits.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';

/** Root, a TUN/TAP device node and iproute2: the TAP interop tests can run. */
export const canTap: boolean =
  process.platform === 'linux' &&
  process.getuid?.() === 0 &&
  existsSync('/dev/net/tun') &&
  process.env.OASIS_NO_TAP === undefined &&
  (() => {
    try {
      execFileSync('ip', ['-V'], { stdio: 'ignore' });
      return true;
    } catch {
      return false;
    }
  })();

let counter = 0;

/** A namespace name unique to this process: `oasis-<pid>-<n>`. */
export function uniqueNsName(): string {
  return `oasis-${process.pid}-${++counter}`;
}

/** An interface name unique to this process that fits IFNAMSIZ (15 bytes): `oa<pid>t<n>`. */
export function uniqueIfName(): string {
  const name = `oa${process.pid}t${++counter}`;
  if (name.length > 15) throw new Error(`interface name too long: ${name}`);
  return name;
}

export interface RunResult {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

const live = new Set<NetNs>();

export class NetNs {
  private readonly children = new Set<ChildProcess>();
  private deleted = false;

  private constructor(readonly name: string) {}

  /** Creates a fresh namespace with its loopback up. */
  static create(): NetNs {
    const ns = new NetNs(uniqueNsName());
    execFileSync('ip', ['netns', 'add', ns.name], { stdio: 'pipe' });
    live.add(ns);
    ns.run('ip', 'link', 'set', 'lo', 'up');
    return ns;
  }

  /** Runs a command inside the namespace synchronously; throws (with its stderr) if it fails. */
  run(cmd: string, ...args: string[]): string {
    try {
      return execFileSync('ip', ['netns', 'exec', this.name, cmd, ...args], {
        encoding: 'utf8',
        stdio: 'pipe',
      });
    } catch (e) {
      const err = e as { stderr?: string; message: string };
      throw new Error(`[${this.name}] ${cmd} ${args.join(' ')}: ${err.stderr?.trim() || err.message}`);
    }
  }

  /** Starts a command inside the namespace (the event loop keeps running); killed by delete(). */
  spawn(cmd: string, args: readonly string[]): ChildProcess {
    const child = spawn('ip', ['netns', 'exec', this.name, cmd, ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.children.add(child);
    child.on('exit', () => this.children.delete(child));
    return child;
  }

  /** Runs a command inside the namespace to completion without blocking the event loop. */
  exec(cmd: string, args: readonly string[], timeoutMs = 10_000): Promise<RunResult> {
    const child = this.spawn(cmd, args);
    return collect(child, timeoutMs);
  }

  /** Moves an interface of the root namespace into this one (an open TAP fd keeps working). */
  adopt(ifname: string): void {
    execFileSync('ip', ['link', 'set', ifname, 'netns', this.name], { stdio: 'pipe' });
  }

  /** `ip -j link show dev IF` inside the namespace. */
  linkInfo(ifname: string): { address: string; mtu: number; operstate: string; flags: string[] } {
    const [info] = JSON.parse(this.run('ip', '-j', 'link', 'show', 'dev', ifname));
    return info;
  }

  /** Kernel rx/tx counters of an interface in the namespace (`ip -s -j link show`). */
  linkStats(ifname: string): { rxPackets: number; rxBytes: number; txPackets: number; txBytes: number } {
    const [info] = JSON.parse(this.run('ip', '-s', '-j', 'link', 'show', 'dev', ifname));
    const s = info.stats64;
    return { rxPackets: s.rx.packets, rxBytes: s.rx.bytes, txPackets: s.tx.packets, txBytes: s.tx.bytes };
  }

  /** Kills children we started and deletes the namespace (its virtual interfaces go with it). */
  delete(): void {
    if (this.deleted) return;
    this.deleted = true;
    live.delete(this);
    for (const c of this.children) if (c.pid !== undefined && c.exitCode === null) c.kill('SIGKILL');
    try {
      execFileSync('ip', ['netns', 'del', this.name], { stdio: 'ignore' });
    } catch {
      // already gone
    }
  }
}

/** Deletes an interface in the root namespace if it still exists. */
export function deleteLink(ifname: string): void {
  try {
    execFileSync('ip', ['link', 'del', ifname], { stdio: 'ignore' });
  } catch {
    // not there
  }
}

/** Whether an interface of that name exists in the root namespace. */
export function linkExists(ifname: string): boolean {
  try {
    execFileSync('ip', ['link', 'show', 'dev', ifname], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** Waits for a child to exit, collecting its output; kills it after `timeoutMs`. */
export function collect(child: ChildProcess, timeoutMs = 10_000): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    let stdout = '';
    let stderr = '';
    child.stdout?.on('data', (d: Buffer) => {
      stdout += d.toString();
    });
    child.stderr?.on('data', (d: Buffer) => {
      stderr += d.toString();
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/**
 * Starts `python3 -c script ...args` in `ns`: a listener that prints `listening` once it listens
 * and, when it is done, `heard` and the numbers it heard. Resolves once it listens, to those numbers.
 */
export async function listenFor(
  ns: NetNs,
  script: string,
  args: readonly string[],
): Promise<{ heard: Promise<number[]> }> {
  const child = ns.spawn('python3', ['-c', script, ...args]);
  let out = '';
  child.stdout?.on('data', (d: Buffer) => {
    out += d.toString();
  });
  const done = collect(child, 20_000);
  await waitFor('the listener', () => out.includes('listening'), 10_000);
  const heard = done.then((r) => {
    const line = out.split('\n').find((l) => l.startsWith('heard'));
    if (line === undefined) throw new Error(`listener: ${r.stderr}`);
    return line.split(' ').slice(1).map(Number);
  });
  return { heard };
}

/** Polls `cond` every few ms until it holds; rejects after `timeoutMs` with `what`. */
export async function waitFor(what: string, cond: () => boolean, timeoutMs = 5000): Promise<void> {
  const end = performance.now() + timeoutMs;
  while (!cond()) {
    if (performance.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

// Last resort if a test forgot (or crashed before) its finally: never leave namespaces behind.
process.on('exit', () => {
  for (const ns of [...live]) ns.delete();
});
