/**
 * The one way interop tests set up and tear down what they need from the kernel (docs/STYLE.md §14): a
 * `Lab` hands out namespaces, TAP names, subnets (support/subnets.ts: never the same for two live
 * processes), temporary folders, `oasis up` hosts and in-process TAPs, and `close()` undoes all of it
 * in reverse order, whatever failed in between.
 *
 * ```ts
 * describe.skipIf(!canTap)('something against Linux', () => {
 *   const lab = useLab(); // closed in afterAll
 *   let o: OasisOnTap;
 *   beforeAll(async () => {
 *     o = await lab.oasisOnTap({ ipv6: true, args: ['--echo', '7'], pcap: 'run.pcap' });
 *   });
 *   it('answers ping', async () => {
 *     expect((await o.ns.exec('ping', ['-c', '1', o.oasis4])).code).toBe(0);
 *   });
 * });
 * ```
 *
 * Conventions: on a subnet the kernel's side is host 1 and Oasis host 2. A test that needs its own
 * life cycle makes a `new Lab()` and calls `close()` in its finally.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll } from 'vitest';
import { TapLink } from '../../src/link/tap.js';
import { deleteLink, NetNs, uniqueIfName } from './netns.js';
import { type OasisHost, startOasis } from './oasis.js';
import { RoutedPath } from './routed.js';
import { allocateSubnet, type Subnet } from './subnets.js';

/** When set, the interop tests keep their temporary folders (captures) for inspection. */
export const keepCaptures = process.env.OASIS_KEEP_CAPTURES !== undefined;

export interface OasisOnTapOptions {
  /** The namespace the TAP and `oasis up` live in (default a new one). */
  readonly ns?: NetNs;
  /** The TAP's name (default a new unique one). */
  readonly tap?: string;
  /** The TAP's subnet (default a new one). */
  readonly subnet?: Subnet;
  /** IPv4: Oasis `--ip` host 2, the kernel `--host-ip` host 1 (default true). */
  readonly ipv4?: boolean;
  /** IPv6: Oasis `--ip6` host 2, the kernel `--host-ip6` host 1 (default false). */
  readonly ipv6?: boolean;
  /** A capture file name: `--pcap` into the lab's folder (default none). */
  readonly pcap?: string;
  /** More `oasis up` arguments: services, `--gateway`, `--impair`... */
  readonly args?: readonly string[];
  /** How long `oasis up` may take to print `ready` (default 10 s). */
  readonly timeoutMs?: number;
}

/** `oasis up` on a TAP whose kernel side is configured, and the addresses of both sides. */
export interface OasisOnTap {
  readonly ns: NetNs;
  readonly tap: string;
  readonly subnet: Subnet;
  readonly host: OasisHost;
  /** Oasis's IPv4 address (host 2). */
  readonly oasis4: string;
  /** The kernel's IPv4 address on the TAP (host 1). */
  readonly kernel4: string;
  /** Oasis's global IPv6 address (host 2). */
  readonly oasis6: string;
  /** The kernel's IPv6 address on the TAP (host 1). */
  readonly kernel6: string;
  /** The capture's path, when one was asked for. */
  readonly pcap: string | undefined;
}

export class Lab {
  /** Undo actions, run last first by close(). */
  private readonly undo: (() => void | Promise<void>)[] = [];
  private folder: string | undefined;

  /** Registers a clean-up step; close() runs them in reverse order of registration. */
  defer(fn: () => void | Promise<void>): void {
    this.undo.push(fn);
  }

  /** A fresh namespace with its loopback up, deleted (with its interfaces and children) on close. */
  namespace(): NetNs {
    const ns = NetNs.create();
    this.defer(() => ns.delete());
    return ns;
  }

  /** A fresh subnet no other live process holds, given back on close. */
  subnet(): Subnet {
    const s = allocateSubnet();
    this.defer(() => s.release());
    return s;
  }

  /** A unique interface name; if it is left in the root namespace, it is deleted on close. */
  tapName(): string {
    const name = uniqueIfName();
    this.defer(() => deleteLink(name));
    return name;
  }

  /** The lab's temporary folder, made on first use; removed on close unless OASIS_KEEP_CAPTURES. */
  dir(): string {
    if (this.folder === undefined) {
      const dir = mkdtempSync(join(tmpdir(), 'oasis-interop-'));
      this.folder = dir;
      this.defer(() => {
        if (keepCaptures) console.log(`interop files kept in ${dir}`);
        else rmSync(dir, { recursive: true, force: true });
      });
    }
    return this.folder;
  }

  /** Runs the `oasis` CLI in `ns` until its `ready` line; stopped on close if still running. */
  async oasis(ns: NetNs, args: readonly string[], timeoutMs?: number): Promise<OasisHost> {
    const host = await startOasis(ns, args, timeoutMs);
    this.defer(async () => {
      if (host.child.exitCode === null && host.child.signalCode === null)
        await host.stop().catch(() => undefined);
    });
    return host;
  }

  /** `oasis up` on a TAP with both sides addressed (see OasisOnTapOptions). */
  async oasisOnTap(opts: OasisOnTapOptions = {}): Promise<OasisOnTap> {
    const ns = opts.ns ?? this.namespace();
    const tap = opts.tap ?? this.tapName();
    const subnet = opts.subnet ?? this.subnet();
    const pcap = opts.pcap === undefined ? undefined : join(this.dir(), opts.pcap);
    const args = ['up', '--tap', tap];
    if (opts.ipv4 ?? true) args.push('--ip', subnet.cidr4(2), '--host-ip', subnet.cidr4(1));
    if (opts.ipv6 ?? false) args.push('--ip6', subnet.cidr6(2), '--host-ip6', subnet.cidr6(1));
    if (pcap !== undefined) args.push('--pcap', pcap);
    args.push(...(opts.args ?? []));
    const host = await this.oasis(ns, args, opts.timeoutMs);
    return {
      ns,
      tap,
      subnet,
      host,
      oasis4: subnet.ip4(2),
      kernel4: subnet.ip4(1),
      oasis6: subnet.ip6(2),
      kernel6: subnet.ip6(1),
      pcap,
    };
  }

  /**
   * A TAP for an in-process stack: opened here, moved into `ns` (the fd keeps working), the kernel's
   * side given host 1 of `subnet` (and its IPv6 host 1 with `ipv6`, without DAD) and set up. The
   * stack that takes the link owns it; close() closes it too (idempotent).
   */
  openTap(ns: NetNs, subnet: Subnet, opts: { mtu?: number; ipv6?: boolean } = {}): TapLink {
    const name = this.tapName();
    const link = TapLink.open(name, { mtu: opts.mtu ?? 1500 });
    this.defer(() => link.close());
    ns.adopt(name);
    ns.run('ip', 'addr', 'add', subnet.cidr4(1), 'dev', name);
    if (opts.ipv6) ns.run('ip', '-6', 'addr', 'add', subnet.cidr6(1), 'dev', name, 'nodad');
    ns.run('ip', 'link', 'set', name, 'up');
    return link;
  }

  /** Two namespaces behind a Linux router (support/routed.ts), deleted on close. */
  routedPath(): RoutedPath {
    const path = RoutedPath.create();
    this.defer(() => path.delete());
    return path;
  }

  /**
   * Undoes everything, last first. Every step runs even if an earlier one failed; the first
   * failure is thrown at the end.
   */
  async close(): Promise<void> {
    let failure: unknown;
    for (let fn = this.undo.pop(); fn !== undefined; fn = this.undo.pop()) {
      try {
        await fn();
      } catch (e) {
        failure ??= e;
      }
    }
    this.folder = undefined;
    if (failure !== undefined) throw failure;
  }
}

/** A lab for the enclosing `describe`, closed in its afterAll. */
export function useLab(): Lab {
  const lab = new Lab();
  afterAll(() => lab.close());
  return lab;
}
