/**
 * The router's test network, for the interop tests (test/interop/router-*.test.ts) and the router
 * benchmark (bench/router.ts):
 *
 *            A (10.61.1.2, fd61:1::2)         B (10.61.2.2, SLAAC in fd61:2::/64)
 *                  | TAP, MTU 1500                  | TAP, MTU 1500
 *            +-----+--------------------------------+-----+
 *            | R: oasis router (10.61.{1,2,3}.1, fd61:{1,2,3}::1) |
 *            +---------------------+----------------------+
 *                                  | TAP, MTU 1280
 *                            C (10.61.3.2, SLAAC in fd61:3::/64)
 *
 * Oasis runs in namespace R and creates three TAPs there, moving each one's kernel end into A, B or
 * C (`--if NAME,netns=NS,host-ip=...`). A, B and C take IPv4 default routes through the router's
 * address on their link; A has a static IPv6 default route, B and C learn theirs (and their
 * addresses) from Oasis's Router Advertisements alone.
 *
 * The Linux reference router is the same picture with the kernel in the middle: a namespace L with
 * `ip_forward` and IPv6 forwarding on and a veth pair to each of A', B' (and C', MTU 1280), offloads
 * off on every end, the same addresses, static IPv6 addresses and routes everywhere (the kernel sends
 * no Router Advertisements).
 *
 * Every namespace is made by test/support/netns.ts (unique names, deleted by `delete()` and at exit).
 */
import { type ChildProcess, execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { ipv4ToString, ipv6ToString } from '../../src/addr.js';
import { ETHERTYPE_IPV4, ETHERTYPE_IPV6, parseEthernet } from '../../src/ethernet/wire.js';
import { parseIpv4 } from '../../src/ipv4/wire.js';
import { parseIpv6 } from '../../src/ipv6/wire.js';
import { LINKTYPE_ETHERNET, parsePcap } from '../../src/link/pcap.js';
import { NetNs, uniqueIfName, waitFor } from './netns.js';
import { OASIS_BIN } from './oasis.js';

export type LinkName = 'a' | 'b' | 'c';
export const LINK_NAMES: readonly LinkName[] = ['a', 'b', 'c'];

/** One link's addressing; the same for Oasis's topology and for the Linux reference. */
export interface LinkPlan {
  readonly mtu: number;
  /** The router's address on the link, with the prefix length. */
  readonly router4: string;
  readonly router6: string;
  /** The host's static addresses, with the prefix length (B and C use the IPv6 one only under Linux). */
  readonly host4: string;
  readonly host6: string;
  /** The IPv6 prefix the router advertises, as `ip` prints it. */
  readonly prefix6: string;
}

export const PLAN: Readonly<Record<LinkName, LinkPlan>> = {
  a: plan(1, 1500),
  b: plan(2, 1500),
  // RFC 8200 §5: 1280 is the smallest MTU IPv6 allows, so one link at it exercises both
  // fragmentation by the router (IPv4) and Packet Too Big (IPv6).
  c: plan(3, 1280),
};

function plan(n: number, mtu: number): LinkPlan {
  return {
    mtu,
    router4: `10.61.${n}.1/24`,
    router6: `fd61:${n}::1/64`,
    host4: `10.61.${n}.2/24`,
    host6: `fd61:${n}::2/64`,
    prefix6: `fd61:${n}::/64`,
  };
}

/** The address part of `ADDR/LEN`. */
export function addrOf(cidr: string): string {
  return cidr.slice(0, cidr.indexOf('/'));
}

/** Documentation addresses (RFC 5737, RFC 3849) no router here has a route to. */
export const UNROUTED4 = '198.51.100.7';
export const UNROUTED6 = '2001:db8:ffff::7';

/** The RDNSS address Oasis advertises on C's link (RFC 8106). */
export const RDNSS_C = 'fd61:3::53';

/** A host on one of the router's links: its namespace and its interface towards the router. */
export interface Host {
  readonly link: LinkName;
  readonly ns: NetNs;
  readonly dev: string;
  readonly ip: string;
  /** Its global IPv6 address: static for A (and under Linux), learnt by SLAAC for B and C under Oasis. */
  ip6: string;
  /** The router's addresses on this host's link. */
  readonly router: string;
  readonly router6: string;
}

/** The MAC address of an interface in a namespace. */
export function macOf(ns: NetNs, dev: string): string {
  return ns.linkInfo(dev).address;
}

// ---- the oasis router process ----

export interface InterfaceStats {
  readonly framesIn: number;
  readonly framesOut: number;
  readonly bytesIn: number;
  readonly bytesOut: number;
  readonly drops: number;
}

/** The JSON `oasis router` prints on SIGINT/SIGTERM (and every `--stats-interval` seconds). */
export interface RouterStats {
  readonly counters: Record<string, number>;
  readonly interfaces: Record<string, InterfaceStats>;
  readonly copiedPayloadBytes: number;
  readonly reassemblyPeakBytes: number;
}

export interface OasisRouter {
  readonly child: ChildProcess;
  /** node's own pid: `ip netns exec` execs the command in place. */
  readonly pid: number;
  /** The `ready` line's `NAME=ADDR/LEN,ADDR6/LEN` fields. */
  readonly ready: Record<string, string>;
  output(): { stdout: string; stderr: string };
  /** SIGINT, then its exit code and the JSON it printed last. */
  stop(): Promise<{ code: number | string | null; stats: RouterStats }>;
}

/** The last line of `stdout` that parses as the router's statistics object. */
export function lastStats(stdout: string): RouterStats | undefined {
  const lines = stdout.split('\n').filter((l) => l.startsWith('{'));
  for (let i = lines.length - 1; i >= 0; i--) {
    try {
      const v = JSON.parse(lines[i]!) as RouterStats;
      if (typeof v === 'object' && v !== null && typeof v.counters === 'object') return v;
    } catch {
      // a line cut short, or not ours
    }
  }
  // Pretty-printed over several lines.
  const start = stdout.lastIndexOf('\n{');
  if (start >= 0) {
    try {
      return JSON.parse(stdout.slice(start + 1)) as RouterStats;
    } catch {
      return undefined;
    }
  }
  return undefined;
}

/**
 * Starts `oasis router ARGS` in `ns` and waits for its `ready` line. `bin` is the CLI to run
 * (test/support/oasis.ts's by default; the benchmark, compiled elsewhere, passes its own).
 */
export async function startRouter(
  ns: NetNs,
  args: readonly string[],
  opts: { bin?: string; timeoutMs?: number } = {},
): Promise<OasisRouter> {
  const child = ns.spawn(process.execPath, [opts.bin ?? OASIS_BIN, 'router', ...args]);
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (d: Buffer) => {
    stdout += d.toString();
  });
  child.stderr?.on('data', (d: Buffer) => {
    stderr = (stderr + d.toString()).slice(-20_000);
  });
  const exited = new Promise<number | string | null>((res) =>
    child.on('close', (code, signal) => res(code ?? signal)),
  );
  let gone = false;
  void exited.then(() => {
    gone = true;
  });
  const readyLine = () => stdout.split('\n').find((l) => l.startsWith('ready'));
  try {
    await waitFor(
      'oasis router to print ready',
      () => readyLine() !== undefined || gone,
      opts.timeoutMs ?? 15_000,
    );
  } catch (e) {
    child.kill('SIGKILL');
    throw new Error(`${(e as Error).message}:\n${stdout}\n${stderr}`);
  }
  const line = readyLine();
  if (line === undefined)
    throw new Error(`oasis router exited before ready (${await exited}):\n${stdout}\n${stderr}`);
  const ready = Object.fromEntries(
    line
      .split(' ')
      .slice(1)
      .filter((kv) => kv.includes('='))
      .map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)] as [string, string]),
  );
  return {
    child,
    pid: child.pid!,
    ready,
    output: () => ({ stdout, stderr }),
    async stop() {
      if (!gone) child.kill('SIGINT');
      const killer = setTimeout(() => child.kill('SIGKILL'), 15_000);
      const code = await exited;
      clearTimeout(killer);
      const stats = lastStats(stdout);
      if (stats === undefined)
        throw new Error(`oasis router printed no statistics (exit ${code}):\n${stderr}`);
      return { code, stats };
    },
  };
}

// ---- the two topologies ----

export interface Topology {
  readonly kind: 'oasis' | 'linux';
  /** Where the router runs: R (Oasis) or L (Linux). */
  readonly routerNs: NetNs;
  readonly hosts: Readonly<Record<LinkName, Host>>;
  /** The Oasis process (undefined for the Linux reference). */
  readonly router: OasisRouter | undefined;
  /** The `--if` name of each link (the TAP, or L's end of the veth). */
  readonly routerDevs: Readonly<Record<LinkName, string>>;
  /** Deletes every namespace (kills Oasis if it still runs). */
  delete(): void;
}

export interface OasisTopologyOptions {
  readonly clampMss?: boolean;
  readonly pcapDir?: string;
  /** `net.ipv6.conf.*.router_solicitations=0` in C: only unsolicited RAs can configure it. */
  readonly unsolicitedOnlyC?: boolean;
  /** Wait for SLAAC in B and C before returning (default true); at most this long. */
  readonly slaacTimeoutMs?: number;
  readonly wantSlaac?: boolean;
  readonly extraArgs?: readonly string[];
  /** More options for every `--if` (`tx-thread=on`). */
  readonly ifOptions?: readonly string[];
  readonly bin?: string;
}

/** The `--if` argument for one link. */
export function ifSpec(name: string, link: LinkName, ns: NetNs): string {
  const p = PLAN[link];
  const parts = [
    name,
    `ip=${p.router4}`,
    `ip6=${p.router6}`,
    `mtu=${p.mtu}`,
    `netns=${ns.name}`,
    `host-ip=${p.host4}`,
  ];
  // A keeps a static address and route; B and C configure theirs from the RA (RFC 4862 §5.5).
  if (link === 'a') parts.push(`host-ip6=${p.host6}`);
  else parts.push('ra');
  if (link === 'c') parts.push(`rdns=${RDNSS_C}`);
  return parts.join(',');
}

/** Namespaces made one by one, deleted together if a later step fails. */
function namespaces(n: number): NetNs[] {
  const made: NetNs[] = [];
  try {
    for (let i = 0; i < n; i++) made.push(NetNs.create());
    return made;
  } catch (e) {
    for (const ns of made) ns.delete();
    throw e;
  }
}

/**
 * R, A, B, C and `oasis router` in R with a TAP into each of A, B, C; default routes in A, B, C;
 * then (unless `wantSlaac: false`) waits until B and C hold a SLAAC address and a default route from
 * the RA, recording their addresses in `hosts.b.ip6` and `hosts.c.ip6`.
 */
export async function createOasisTopology(opts: OasisTopologyOptions = {}): Promise<Topology> {
  const [r, a, b, c] = namespaces(4) as [NetNs, NetNs, NetNs, NetNs];
  const spaces = { a, b, c };
  const devs = { a: uniqueIfName(), b: uniqueIfName(), c: uniqueIfName() };
  let router: OasisRouter | undefined;
  const del = () => {
    if (router && router.child.exitCode === null) router.child.kill('SIGKILL');
    for (const ns of [a, b, c, r]) ns.delete();
  };
  try {
    for (const ns of [a, b, c]) {
      // The TAP's kernel end arrives in each namespace after the namespace is made: it takes the
      // namespace's `default` settings. A needs no RA; B and C must accept them (RFC 4862 §5.5).
      ns.run('sysctl', '-qw', `net.ipv6.conf.default.accept_ra=${ns === a ? 0 : 1}`);
      ns.run('sysctl', '-qw', 'net.ipv6.conf.default.autoconf=1');
    }
    if (opts.unsolicitedOnlyC) c.run('sysctl', '-qw', 'net.ipv6.conf.default.router_solicitations=0');
    const args = [
      ...LINK_NAMES.flatMap((l) => [
        '--if',
        [ifSpec(devs[l], l, spaces[l]), ...(opts.ifOptions ?? [])].join(','),
      ]),
      ...(opts.clampMss ? ['--clamp-mss'] : []),
      ...(opts.pcapDir === undefined ? [] : ['--pcap-dir', opts.pcapDir]),
      ...(opts.extraArgs ?? []),
    ];
    router = await startRouter(r, args, opts.bin === undefined ? {} : { bin: opts.bin });
    const hosts = makeHosts(spaces, devs);
    if (opts.unsolicitedOnlyC) c.run('sysctl', '-qw', `net.ipv6.conf.${devs.c}.router_solicitations=0`);
    for (const l of LINK_NAMES) {
      const h = hosts[l];
      h.ns.run('ip', 'route', 'replace', 'default', 'via', h.router, 'dev', h.dev);
    }
    a.run('ip', '-6', 'route', 'replace', 'default', 'via', hosts.a.router6, 'dev', devs.a);
    await waitFor('A to finish DAD on its static address', () => !tentative(a, devs.a), 10_000);
    if (opts.wantSlaac ?? true) {
      const timeout = opts.slaacTimeoutMs ?? 40_000;
      hosts.b.ip6 = await awaitSlaac(hosts.b, timeout);
      hosts.c.ip6 = await awaitSlaac(hosts.c, timeout);
    }
    return { kind: 'oasis', routerNs: r, hosts, router, routerDevs: devs, delete: del };
  } catch (e) {
    del();
    throw e;
  }
}

function makeHosts(spaces: Record<LinkName, NetNs>, devs: Record<LinkName, string>): Record<LinkName, Host> {
  const host = (l: LinkName): Host => ({
    link: l,
    ns: spaces[l],
    dev: devs[l],
    ip: addrOf(PLAN[l].host4),
    ip6: addrOf(PLAN[l].host6),
    router: addrOf(PLAN[l].router4),
    router6: addrOf(PLAN[l].router6),
  });
  return { a: host('a'), b: host('b'), c: host('c') };
}

interface AddrInfo {
  family: string;
  local: string;
  prefixlen: number;
  scope: string;
  tentative?: boolean;
  dynamic?: boolean;
}

function addrInfo(ns: NetNs, dev: string): AddrInfo[] {
  const [info] = JSON.parse(ns.run('ip', '-j', 'addr', 'show', 'dev', dev)) as { addr_info: AddrInfo[] }[];
  return info?.addr_info ?? [];
}

function tentative(ns: NetNs, dev: string): boolean {
  return addrInfo(ns, dev).some((x) => x.family === 'inet6' && x.tentative === true);
}

/** The host's SLAAC address in its link's prefix (not tentative), if it has one. */
export function slaacAddress(h: Host): string | undefined {
  const prefix = PLAN[h.link].prefix6.replace('::/64', ':');
  return addrInfo(h.ns, h.dev).find(
    (x) =>
      x.family === 'inet6' &&
      x.scope === 'global' &&
      x.dynamic === true &&
      x.tentative !== true &&
      x.local.startsWith(prefix),
  )?.local;
}

export interface Route6 {
  dst: string;
  gateway?: string;
  protocol?: string;
  dev?: string;
  expires?: number;
  metrics?: { mtu?: number }[];
}

/** `ip -6 -j route show default dev DEV`. */
export function defaultRoutes6(h: Host): Route6[] {
  return JSON.parse(h.ns.run('ip', '-6', '-j', 'route', 'show', 'default', 'dev', h.dev)) as Route6[];
}

/** Waits until the host holds a SLAAC address and an RA-learnt default route; returns the address. */
export async function awaitSlaac(h: Host, timeoutMs: number): Promise<string> {
  await waitFor(
    `SLAAC on ${h.link.toUpperCase()}`,
    () => slaacAddress(h) !== undefined && defaultRoutes6(h).some((r) => r.protocol === 'ra'),
    timeoutMs,
  );
  return slaacAddress(h)!;
}

export interface PacketTopologyOptions {
  /** The receive ring: TPACKET_V2 (a slot per frame) or V3 (blocks). */
  readonly ring: 'v2' | 'v3';
  /** `tx-thread=on|off` on both interfaces (unset: the router's default). */
  readonly txThread?: boolean;
  /** More router arguments, given the router's veth end of each link. */
  readonly extraArgs?: (routerDevs: Readonly<Record<'a' | 'b', string>>) => readonly string[];
  readonly bin?: string;
}

/**
 * The Linux reference's picture (A and B, veth pairs, offloads off on every end) with `oasis router`
 * in the middle namespace on its veth ends through AF_PACKET (`kind=packet`). C is A (two links).
 */
export async function createPacketTopology(opts: PacketTopologyOptions): Promise<Topology> {
  const [r, a, b] = [NetNs.create(), NetNs.create(), NetNs.create()];
  let router: OasisRouter | undefined;
  const del = () => {
    if (router && router.child.exitCode === null) router.child.kill('SIGKILL');
    for (const ns of [a, b, r]) ns.delete();
  };
  try {
    const hosts = {} as Record<LinkName, Host>;
    const routerDevs = {} as Record<LinkName, string>;
    const args: string[] = [];
    for (const [link, ns] of [
      ['a', a],
      ['b', b],
    ] as const) {
      const p = PLAN[link];
      const [rd, hd] = [uniqueIfName(), uniqueIfName()];
      r.run('ip', 'link', 'add', rd, 'mtu', `${p.mtu}`, 'type', 'veth', 'peer', 'name', hd, 'netns', ns.name);
      ns.run('ip', 'link', 'set', hd, 'mtu', `${p.mtu}`);
      offloadsOff(r, rd);
      offloadsOff(ns, hd);
      ns.run('ip', 'addr', 'add', p.host4, 'dev', hd);
      ns.run('ip', 'link', 'set', hd, 'up');
      ns.run('ip', 'route', 'add', 'default', 'via', addrOf(p.router4));
      const thread = opts.txThread === undefined ? '' : `,tx-thread=${opts.txThread ? 'on' : 'off'}`;
      args.push('--if', `${rd},kind=packet,ring=${opts.ring}${thread},ip=${p.router4},mtu=${p.mtu}`);
      routerDevs[link] = rd;
      hosts[link] = {
        link,
        ns,
        dev: hd,
        ip: addrOf(p.host4),
        ip6: addrOf(p.host6),
        router: addrOf(p.router4),
        router6: addrOf(p.router6),
      };
    }
    hosts.c = hosts.a;
    routerDevs.c = routerDevs.a;
    args.push(...(opts.extraArgs?.(routerDevs) ?? []));
    router = await startRouter(r, args, opts.bin === undefined ? {} : { bin: opts.bin });
    return { kind: 'oasis', routerNs: r, hosts, router, routerDevs, delete: del };
  } catch (e) {
    del();
    throw e;
  }
}

export interface LinuxTopologyOptions {
  /** Also C' behind a 1280-byte veth (default true). */
  readonly withC?: boolean;
  /** The kernel's counterpart of `--clamp-mss`: nftables sets forwarded SYNs' MSS from the route MTU. */
  readonly clampMss?: boolean;
}

const OFFLOADS = ['tx', 'rx', 'sg', 'tso', 'gso', 'gro'];

/**
 * `ethtool -K DEV tx off rx off sg off tso off gso off gro off`, one at a time: a device may have some
 * of them fixed (a TAP), and the others should still go off (record what it has with
 * bench/system.ts `offloadFeatures`). Both routers then see what went on the wire.
 */
export function offloadsOff(ns: NetNs, dev: string): void {
  for (const o of OFFLOADS) {
    try {
      ns.run('ethtool', '-K', dev, o, 'off');
    } catch {
      // fixed on this device
    }
  }
}

/**
 * The Linux reference router: L with a veth pair to A', B' (and C'), forwarding on, offloads off on
 * every end, the addressing of PLAN, static IPv6 everywhere. Synchronous: nothing to wait for but DAD,
 * which `nodad` skips.
 */
export function createLinuxTopology(opts: LinuxTopologyOptions = {}): Topology {
  const links: LinkName[] = opts.withC === false ? ['a', 'b'] : ['a', 'b', 'c'];
  const [l, ...rest] = namespaces(1 + links.length) as [NetNs, ...NetNs[]];
  const all = [l, ...rest];
  const del = () => {
    for (const ns of all) ns.delete();
  };
  try {
    l.run('sysctl', '-qw', 'net.ipv4.ip_forward=1', 'net.ipv6.conf.all.forwarding=1');
    const spaces = {} as Record<LinkName, NetNs>;
    const devs = {} as Record<LinkName, string>;
    const routerDevs = {} as Record<LinkName, string>;
    links.forEach((link, i) => {
      const ns = rest[i]!;
      const p = PLAN[link];
      const [ld, hd] = [uniqueIfName(), uniqueIfName()];
      spaces[link] = ns;
      devs[link] = hd;
      routerDevs[link] = ld;
      l.run('ip', 'link', 'add', ld, 'mtu', `${p.mtu}`, 'type', 'veth', 'peer', 'name', hd, 'netns', ns.name);
      ns.run('ip', 'link', 'set', hd, 'mtu', `${p.mtu}`);
      for (const [space, dev, v4, v6] of [
        [l, ld, p.router4, p.router6],
        [ns, hd, p.host4, p.host6],
      ] as const) {
        offloadsOff(space, dev);
        space.run('ip', 'addr', 'add', v4, 'dev', dev);
        space.run('ip', '-6', 'addr', 'add', v6, 'dev', dev, 'nodad');
        space.run('ip', 'link', 'set', dev, 'up');
      }
      ns.run('ip', 'route', 'add', 'default', 'via', addrOf(p.router4));
      ns.run('ip', '-6', 'route', 'add', 'default', 'via', addrOf(p.router6));
    });
    if (opts.clampMss) {
      l.run('nft', 'add table inet oasis_clamp');
      l.run('nft', 'add chain inet oasis_clamp clamp { type filter hook forward priority mangle; }');
      l.run('nft', 'add rule inet oasis_clamp clamp tcp flags syn tcp option maxseg size set rt mtu');
    }
    // Without C' the record still needs a C: A' stands in, and tests that use C do not run on it.
    if (!links.includes('c')) {
      spaces.c = spaces.a;
      devs.c = devs.a;
      routerDevs.c = routerDevs.a;
    }
    const hosts = makeHosts(spaces, devs);
    return { kind: 'linux', routerNs: l, hosts, router: undefined, routerDevs, delete: del };
  } catch (e) {
    del();
    throw e;
  }
}

/**
 * Which router the interop tests exercise: Oasis, or with `OASIS_ROUTER_UNDER_TEST=linux` the Linux
 * reference in its place (checks the tests themselves; Oasis-only checks are skipped then).
 */
export const routerUnderTest: 'oasis' | 'linux' =
  process.env.OASIS_ROUTER_UNDER_TEST === 'linux' ? 'linux' : 'oasis';

/** The topology for the router under test. */
export function createTopology(opts: OasisTopologyOptions = {}): Promise<Topology> {
  return routerUnderTest === 'linux'
    ? Promise.resolve(createLinuxTopology(opts.clampMss ? { clampMss: true } : {}))
    : createOasisTopology(opts);
}

// ---- tools run in the hosts ----

/** What `ping` said: its transmitted and received counts, and its whole output. */
export interface PingSummary {
  readonly transmitted: number;
  readonly received: number;
  readonly output: string;
}

export async function ping(
  ns: NetNs,
  target: string,
  args: readonly string[] = [],
  timeoutMs = 20_000,
): Promise<PingSummary> {
  const v6 = target.includes(':');
  const r = await ns.exec('ping', [v6 ? '-6' : '-4', '-n', ...args, target], timeoutMs);
  const output = r.stdout + r.stderr;
  const m = /(\d+) packets transmitted, (\d+) received/.exec(output);
  return { transmitted: Number(m?.[1] ?? 0), received: Number(m?.[2] ?? 0), output };
}

/** A running tcpdump writing a capture; `stop()` ends it and waits until the file is complete. */
export interface Capture {
  readonly file: string;
  stop(): Promise<void>;
}

/**
 * tcpdump in `ns` on `dev`, once it says it is listening. `--immediate-mode`: otherwise frames wait in
 * a TPACKET_V3 ring block until it fills or times out, and those still waiting at SIGINT are lost.
 */
export async function capture(
  ns: NetNs,
  dev: string,
  file: string,
  filter: readonly string[] = [],
): Promise<Capture> {
  const child = ns.spawn('tcpdump', [
    '-i',
    dev,
    '-n',
    '--immediate-mode',
    '-U',
    '-s',
    '0',
    '-w',
    file,
    ...filter,
  ]);
  let err = '';
  child.stderr?.on('data', (d: Buffer) => {
    err += d.toString();
  });
  const closed = new Promise<void>((res) => child.on('close', () => res()));
  let gone = false;
  void closed.then(() => {
    gone = true;
  });
  await waitFor(`tcpdump on ${dev}`, () => err.includes('listening on') || gone, 10_000);
  if (gone) throw new Error(`tcpdump failed: ${err}`);
  return {
    file,
    async stop() {
      // Let the last frames through the kernel's capture buffer first.
      await new Promise((r) => setTimeout(r, 200));
      child.kill('SIGINT');
      const killer = setTimeout(() => child.kill('SIGKILL'), 5000);
      await closed;
      clearTimeout(killer);
    },
  };
}

/** A python3 TCP sink: accepts one connection, prints `listening`, then `<sha256> <bytes>` at EOF. */
const SINK_PY = `
import hashlib, socket, sys
addr, port = sys.argv[1], int(sys.argv[2])
s = socket.socket(socket.AF_INET6 if ':' in addr else socket.AF_INET)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((addr, port)); s.listen(1); s.settimeout(60)
print('listening', flush=True)
c, _ = s.accept(); c.settimeout(60)
h = hashlib.sha256(); n = 0
while True:
    d = c.recv(1 << 20)
    if not d: break
    h.update(d); n += len(d)
print(h.hexdigest(), n, flush=True)
`;

/** A python3 TCP source: connects and sends a file, then closes. */
const SOURCE_PY = `
import socket, sys
addr, port, path = sys.argv[1], int(sys.argv[2]), sys.argv[3]
s = socket.create_connection((addr, port), timeout=60)
with open(path, 'rb') as f: s.sendfile(f)
s.close()
`;

/**
 * Sends `file` over TCP from `from` to `to` (listening on `toAddr:port`); returns what the sink
 * received: its SHA-256 and length, and the seconds the transfer took.
 */
export async function tcpTransfer(
  from: NetNs,
  to: NetNs,
  toAddr: string,
  port: number,
  file: string,
  timeoutMs = 60_000,
): Promise<{ sha: string; length: number; seconds: number }> {
  const sink = to.spawn('python3', ['-c', SINK_PY, toAddr, `${port}`]);
  let out = '';
  sink.stdout?.on('data', (d: Buffer) => {
    out += d.toString();
  });
  let err = '';
  sink.stderr?.on('data', (d: Buffer) => {
    err += d.toString();
  });
  const closed = new Promise<void>((res) => sink.on('close', () => res()));
  await waitFor('the TCP sink to listen', () => out.includes('listening') || sink.exitCode !== null, 10_000);
  const t0 = performance.now();
  const src = await from.exec('python3', ['-c', SOURCE_PY, toAddr, `${port}`, file], timeoutMs);
  const timer = setTimeout(() => sink.kill('SIGKILL'), 10_000);
  await closed;
  clearTimeout(timer);
  const seconds = (performance.now() - t0) / 1000;
  const m = /^([0-9a-f]{64}) (\d+)$/m.exec(out);
  if (src.code !== 0 || !m) throw new Error(`TCP transfer to ${toAddr}:${port} failed: ${src.stderr} ${err}`);
  return { sha: m[1]!, length: Number(m[2]), seconds };
}

/** Starts `iperf3 -s` in `ns` and waits until it listens. */
export async function iperf3Server(ns: NetNs, args: readonly string[] = []): Promise<ChildProcess> {
  const child = ns.spawn('iperf3', ['-s', ...args]);
  await waitFor('iperf3 -s to listen', () => ns.run('ss', '-ltnH', 'sport = :5201').includes('5201'), 10_000);
  return child;
}

// ---- reading captures ----

/** One IPv4 or IPv6 packet of a capture, as seen by Oasis's own parsers. */
export interface IpPacket {
  readonly version: 4 | 6;
  readonly src: string;
  readonly dst: string;
  /** IPv4 protocol, or the IPv6 header's Next Header. */
  readonly protocol: number;
  /** TTL or hop limit. */
  readonly hopLimit: number;
  /** The IP packet's length (headers included); Ethernet padding is not counted. */
  readonly length: number;
  /** An IPv4 fragment (MF or an offset), or an IPv6 packet whose first extension is a Fragment header. */
  readonly fragment: boolean;
  /** The MSS option of a TCP SYN (no extension headers under IPv6), when there is one. */
  readonly synMss?: number;
  /** The IP packet's bytes (a view into the capture). */
  readonly bytes: Uint8Array;
}

const IPPROTO_TCP = 6;
const IPV6_FRAGMENT = 44;

/** The MSS option (RFC 9293 §3.2, kind 2, length 4) of a TCP segment if it is a SYN. */
function synMss(tcp: Uint8Array): number | undefined {
  if (tcp.length < 20 || (tcp[13]! & 0x02) === 0) return undefined;
  const end = Math.min(tcp.length, (tcp[12]! >>> 4) * 4);
  for (let i = 20; i < end; ) {
    const kind = tcp[i]!;
    if (kind === 0) break;
    if (kind === 1) {
      i++;
      continue;
    }
    const len = tcp[i + 1] ?? 0;
    if (len < 2) break;
    if (kind === 2 && len === 4 && i + 4 <= end) return (tcp[i + 2]! << 8) | tcp[i + 3]!;
    i += len;
  }
  return undefined;
}

/** Every IP packet of an Ethernet capture, in order; other frames are left out. */
export function ipPackets(file: string): IpPacket[] {
  const pcap = parsePcap(new Uint8Array(readFileSync(file)));
  if (!pcap.ok) throw new Error(`${file}: ${pcap.error.layer}/${pcap.error.kind}`);
  if (pcap.value.linkType !== LINKTYPE_ETHERNET) throw new Error(`${file}: link type ${pcap.value.linkType}`);
  const out: IpPacket[] = [];
  for (const f of pcap.value.frames) {
    const eth = parseEthernet(f.bytes);
    if (!eth.ok) continue;
    if (eth.value.repr.ethertype === ETHERTYPE_IPV4) {
      // Checksums are tshark's to judge; here the header only has to be readable.
      const ip = parseIpv4(eth.value.payload, { checksum: 'ignore' });
      if (!ip.ok) continue;
      const r = ip.value.repr;
      const length = ip.value.payload.byteOffset - eth.value.payload.byteOffset + ip.value.payload.length;
      const mss = r.protocol === IPPROTO_TCP && r.fragOffset === 0 ? synMss(ip.value.payload) : undefined;
      out.push({
        version: 4,
        src: ipv4ToString(r.src),
        dst: ipv4ToString(r.dst),
        protocol: r.protocol,
        hopLimit: r.ttl,
        length,
        fragment: r.moreFragments || r.fragOffset > 0,
        ...(mss === undefined ? {} : { synMss: mss }),
        bytes: eth.value.payload.subarray(0, length),
      });
    } else if (eth.value.repr.ethertype === ETHERTYPE_IPV6) {
      const ip = parseIpv6(eth.value.payload);
      if (!ip.ok) continue;
      const r = ip.value.repr;
      const length = 40 + ip.value.payload.length;
      const mss = r.nextHeader === IPPROTO_TCP ? synMss(ip.value.payload) : undefined;
      out.push({
        version: 6,
        src: ipv6ToString(r.src),
        dst: ipv6ToString(r.dst),
        protocol: r.nextHeader,
        hopLimit: r.hopLimit,
        length,
        fragment: r.nextHeader === IPV6_FRAGMENT,
        ...(mss === undefined ? {} : { synMss: mss }),
        bytes: eth.value.payload.subarray(0, length),
      });
    }
  }
  return out;
}

/**
 * A packet as a router must pass it on, for the differential test: the IP packet with what a router
 * rewrites blanked: the TTL and header checksum (RFC 1812 §5.3.1, §5.2.2) or the hop limit
 * (RFC 8200 §3). Everything else, payload checksums included, must arrive as it was sent.
 */
export function forwardedForm(p: IpPacket): string {
  const b = Uint8Array.from(p.bytes);
  if (p.version === 4) {
    b[8] = 0;
    b[10] = 0;
    b[11] = 0;
  } else {
    b[7] = 0;
  }
  return Buffer.from(b).toString('hex');
}

/**
 * Frames of a capture that tshark dissects as malformed or with a bad IPv4, TCP, UDP, ICMP or ICMPv6
 * checksum: their numbers and tshark's summary, one a line (empty when all is well). Every frame is
 * judged, whoever sent it. TCP streams are not reassembled (per-frame checks only, and much faster).
 */
export function tsharkProblems(file: string): string {
  return execFileSync(
    'tshark',
    [
      ...['-r', file, '-o', 'tcp.desegment_tcp_streams:FALSE'],
      ...['-o', 'ip.check_checksum:TRUE', '-o', 'tcp.check_checksum:TRUE', '-o', 'udp.check_checksum:TRUE'],
      '-Y',
      '_ws.malformed || ip.checksum.status == "Bad" || tcp.checksum.status == "Bad" || ' +
        'udp.checksum.status == "Bad" || icmp.checksum.status == "Bad" || icmpv6.checksum.status == "Bad"',
      ...['-T', 'fields', '-e', 'frame.number', '-e', '_ws.col.Info'],
    ],
    { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 64 << 20 },
  ).trim();
}

/** tshark's values of some fields for the frames matching a display filter, one line per frame. */
export function tsharkFields(file: string, filter: string, fields: readonly string[]): string[][] {
  const out = execFileSync(
    'tshark',
    ['-r', file, '-Y', filter, '-T', 'fields', ...fields.flatMap((f) => ['-e', f])],
    { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 64 << 20 },
  ).trim();
  return out === '' ? [] : out.split('\n').map((l) => l.split('\t'));
}

/** Opens a TCP connection from `ns` to `addr:port` (a closed port is fine: only the SYN matters). */
export async function sendSyn(ns: NetNs, addr: string, port: number): Promise<void> {
  const py =
    'import socket, sys\n' +
    "s = socket.socket(socket.AF_INET6 if ':' in sys.argv[1] else socket.AF_INET)\n" +
    's.settimeout(3)\n' +
    'try:\n    s.connect((sys.argv[1], int(sys.argv[2])))\nexcept OSError:\n    pass\n';
  await ns.exec('python3', ['-c', py, addr, `${port}`], 10_000);
}
