/**
 * `oasis router` configuration: from flags (`--if NAME,ip=A/L,...`) or a JSON file (`--config`),
 * checked as a whole before anything is opened. Every mistake is a `ConfigError`: one line, exit
 * code 2, never a stack trace.
 */
import { readFileSync } from 'node:fs';
import { randomInt } from 'node:crypto';
import { parseArgs } from 'node:util';
import {
  type Ipv4Addr,
  type Ipv6Addr,
  ipv4Mask,
  ipv4ToString,
  ipv6Equal,
  ipv6Prefix,
  ipv6ToString,
  isIpv6LinkLocal,
  parseIpv4Addr,
  parseIpv4Cidr,
  parseIpv6Addr,
  parseIpv6Cidr,
} from '../addr.js';
import { ipv6InPrefix } from '../stack/routes.js';
import { appendFirewallRules, firewallFromFlags, parseFirewallConfig } from '../router/firewall-config.js';
import type { FirewallConfig } from '../router/firewall.js';
import type { RouterFilterOptions } from '../router/driver.js';
import { ConfigError } from './command.js';

export interface RouterInterfaceSpec {
  readonly name: string;
  /**
   * 'tap': a TAP Oasis creates or attaches; 'packet': an existing interface taken over through
   * AF_PACKET with memory-mapped rings (docs/PACKET.md).
   */
  readonly kind: 'tap' | 'packet';
  /** kind=packet: the ring format, TPACKET_V3 (3, by blocks) or TPACKET_V2 (2, per frame). */
  readonly ring: 2 | 3;
  /**
   * Hand bursts to the kernel from a thread (PacketOptions.txThread, TapOptions.txThread: a TAP
   * without offloads only); unset: the link's default (packet: on with more than one CPU; tap: off).
   */
  readonly txThread?: boolean;
  readonly ipv4: readonly { address: Ipv4Addr; prefixLen: number }[];
  readonly ipv6: readonly { address: Ipv6Addr; prefixLen: number }[];
  readonly mtu: number;
  /** Move the TAP's kernel end into this namespace. */
  readonly netns?: string;
  readonly hostIp?: string;
  readonly hostIp6?: string;
  /** Send Router Advertisements for the prefixes of `ipv6`. */
  readonly ra: boolean;
  /** RDNSS servers announced in those advertisements (RFC 8106). */
  readonly rdns: readonly Ipv6Addr[];
  readonly rpFilter: 'off' | 'loose' | 'strict';
  /**
   * Open the TAP with vnet headers and offloads (docs/TAP.md "Offloads"): super-frames forwarded
   * whole. On unless `offload=off` or `--no-offload`.
   */
  readonly offload: boolean;
}

export interface StaticRoute<A> {
  readonly prefix: A;
  readonly prefixLen: number;
  readonly via: A;
  readonly metric?: number;
  /** The interface of a link-local gateway (IPv6). */
  readonly dev?: string;
}

export interface RouterConfig {
  readonly interfaces: readonly RouterInterfaceSpec[];
  readonly routes4: readonly StaticRoute<Ipv4Addr>[];
  readonly routes6: readonly StaticRoute<Ipv6Addr>[];
  readonly clampMss: boolean;
  readonly pcapDir?: string;
  readonly statsInterval?: number;
  readonly user?: string;
  readonly seed: number;
  /** Connection tracking, firewall and NAT, when any of them is asked for. */
  readonly filter?: Omit<RouterFilterOptions, 'secret'>;
}

export const ROUTER_USAGE = `Usage: oasis router --if NAME[,kind=tap|packet][,ip=A/L][,ip6=A/L][,mtu=N][,netns=NS][,host-ip=A/L][,host-ip6=A/L][,ra][,rdns=A]
                    --if ... [options]

Forwards IPv4 and IPv6 between two or more interfaces: TAP devices (each created, or attached if
it exists) or existing interfaces taken over through AF_PACKET (kind=packet), and answers ARP,
NDP and ping on each of its addresses.

Interface options (comma-separated after the name; ip and ip6 may repeat):
  kind=tap|packet     tap (default): a TAP device; packet: the existing interface NAME (a veth end,
                      a NIC) through AF_PACKET rings, promiscuous, the kernel's ARP and IPv6 off
                      there until exit, refused while the kernel has addresses on it; its peer
                      must have TSO/GSO off (netns, host-ip, host-ip6 and offload do not apply)
  ring=v3|v2          kind=packet: TPACKET_V3 rings (default: frames by blocks, a lone frame waits
                      for its block's timer, a few ms) or TPACKET_V2 (woken per frame)
  tx-thread=on|off    hand bursts to the kernel from a thread of their own, so its work for them
                      runs on another CPU: kind=packet (default on with more than one CPU), or a
                      TAP with offload=off (default off: each frame is then copied once)
  ip=A/L, ip6=A/L     the router's addresses on that link
  mtu=N               IP MTU of the link, both ends (default 1500)
  netns=NS            move the TAP's kernel end into network namespace NS
  host-ip=A/L         put this IPv4 address on the kernel end and bring it up (host-ip6 likewise)
  ra                  send Router Advertisements for the link's ip6 prefixes (with the MTU option)
  rdns=A              announce A as a DNS server in those advertisements (RFC 8106; repeatable)
  rp-filter=MODE      reverse-path filter: loose (default), strict or off
  offload=off         open this TAP without vnet headers (no TSO/checksum offload; on by default)

Options:
  --route PREFIX,via=GW[,metric=N]      a static IPv4 route (0.0.0.0/0 for the default route)
  --route6 PREFIX,via=GW[,dev=NAME][,metric=N]  a static IPv6 route (dev= for a link-local gateway)
  --clamp-mss          lower the MSS of forwarded TCP SYNs to what the egress MTU allows
  --no-offload         open every TAP without vnet headers: frames of at most the MTU, each
                       its own read() and write() (by default super-frames are forwarded whole)
  --pcap-dir DIR       write DIR/NAME.pcap for each interface
  --config FILE.json   the same configuration as JSON (docs/ROUTER.md); flags add to it
  --stats-interval S   print the counters as one JSON line every S seconds
  --masquerade IN,OUT  IPv4 NAT: flows from interface IN leaving by OUT take OUT's address
  --forward OUT,tcp:PORT=ADDR:PORT  a port of OUT's address forwarded to an inside server (or udp)
  --allow IF,tcp:22    accept new connections arriving on IF (to the router or through it); also
                       udp:53, tcp:8000-8100, icmp, icmp6; connection tracking is then on
  --policy IF,drop     drop what else arrives on IF as new connections (accept: the default)
  --conntrack-max N    at most N tracked flows (default 65536; the oldest unassured goes first)
  --user NAME          drop root privileges once the TAPs are open (a TAP whose device goes
                       away can then not be made again)
  --seed N             seed for the router's random choices (default: random)
  -h, --help           show this help`;

const OPTIONS = {
  if: { type: 'string', multiple: true },
  route: { type: 'string', multiple: true },
  route6: { type: 'string', multiple: true },
  'clamp-mss': { type: 'boolean' },
  'no-offload': { type: 'boolean' },
  'pcap-dir': { type: 'string' },
  config: { type: 'string' },
  'stats-interval': { type: 'string' },
  user: { type: 'string' },
  seed: { type: 'string' },
  masquerade: { type: 'string', multiple: true },
  forward: { type: 'string', multiple: true },
  allow: { type: 'string', multiple: true },
  policy: { type: 'string', multiple: true },
  'conntrack-max': { type: 'string' },
} as const;

/** JSON keys beside the flags' own: the `firewall` section (src/router/firewall-config.ts). */
const FILE_ONLY = ['firewall'];

function fail(message: string): never {
  throw new ConfigError(message);
}

/** `NAME,key=value,flag,...` into the name and its key/value pairs (a bare key is `true`). */
function splitSpec(spec: string, what: string): { head: string; pairs: [string, string | true][] } {
  const [head, ...rest] = spec.split(',');
  if (head === undefined || head === '') fail(`${what}: empty: '${spec}'`);
  return {
    head,
    pairs: rest.map((p) => {
      const eq = p.indexOf('=');
      return eq < 0 ? [p, true] : [p.slice(0, eq), p.slice(eq + 1)];
    }),
  };
}

function text(v: string | true, key: string, what: string): string {
  if (v === true || v === '') fail(`${what}: ${key} needs a value`);
  return v;
}

function interfaceFromSpec(spec: string): RouterInterfaceSpec {
  const { head: name, pairs } = splitSpec(spec, '--if');
  const what = `--if ${name}`;
  const ipv4: { address: Ipv4Addr; prefixLen: number }[] = [];
  const ipv6: { address: Ipv6Addr; prefixLen: number }[] = [];
  const rdns: Ipv6Addr[] = [];
  let mtu = 1500;
  let netns: string | undefined;
  let hostIp: string | undefined;
  let hostIp6: string | undefined;
  let ra = false;
  let rpFilter: RouterInterfaceSpec['rpFilter'] = 'loose';
  let offload = true;
  let kind: RouterInterfaceSpec['kind'] = 'tap';
  let ring: RouterInterfaceSpec['ring'] = 3;
  let txThread: boolean | undefined;
  for (const [key, v] of pairs) {
    switch (key) {
      case 'kind': {
        const k = text(v, key, what);
        if (k !== 'tap' && k !== 'packet') fail(`${what}: kind: tap or packet`);
        kind = k;
        break;
      }
      case 'ring': {
        const r = text(v, key, what);
        if (r !== 'v2' && r !== 'v3') fail(`${what}: ring: v2 or v3`);
        ring = r === 'v2' ? 2 : 3;
        break;
      }
      case 'tx-thread': {
        const mode = text(v, key, what);
        if (mode !== 'on' && mode !== 'off') fail(`${what}: tx-thread: on or off`);
        txThread = mode === 'on';
        break;
      }
      case 'ip':
        ipv4.push(cidr4(text(v, key, what), `${what}: ip`));
        break;
      case 'ip6':
        ipv6.push(cidr6(text(v, key, what), `${what}: ip6`));
        break;
      case 'mtu':
        mtu = Number(text(v, key, what));
        if (!Number.isInteger(mtu) || mtu < 576 || mtu > 65521)
          fail(`${what}: mtu between 576 and 65521: ${v}`);
        break;
      case 'netns':
        netns = text(v, key, what);
        break;
      case 'host-ip':
        hostIp = text(v, key, what);
        cidr4(hostIp, `${what}: host-ip`);
        break;
      case 'host-ip6':
        hostIp6 = text(v, key, what);
        cidr6(hostIp6, `${what}: host-ip6`);
        break;
      case 'ra':
        if (v !== true) fail(`${what}: ra takes no value`);
        ra = true;
        break;
      case 'rdns':
        rdns.push(parseIpv6Addr(text(v, key, what)) ?? fail(`${what}: rdns: not an IPv6 address: ${v}`));
        break;
      case 'rp-filter': {
        const mode = text(v, key, what);
        if (mode !== 'off' && mode !== 'loose' && mode !== 'strict')
          fail(`${what}: rp-filter: off, loose or strict`);
        rpFilter = mode;
        break;
      }
      case 'offload': {
        const mode = text(v, key, what);
        if (mode !== 'on' && mode !== 'off') fail(`${what}: offload: on or off`);
        offload = mode === 'on';
        break;
      }
      default:
        fail(`${what}: unknown option '${key}'`);
    }
  }
  if (name.length > 15 || /[\s/]/.test(name))
    fail(`${what}: interface names are at most 15 characters, no spaces or '/'`);
  if (kind !== 'packet' && ring !== 3) fail(`${what}: ring applies to kind=packet only`);
  if (kind === 'packet') {
    if (netns !== undefined)
      fail(`${what}: netns does not apply to kind=packet (the interface stays where it is)`);
    if (hostIp !== undefined || hostIp6 !== undefined)
      fail(
        `${what}: host-ip/host-ip6 do not apply to kind=packet: Oasis owns it, the kernel has no address there`,
      );
  }
  if (ra && ipv6.length === 0) fail(`${what}: ra needs an ip6 prefix to advertise`);
  if (rdns.length > 0 && !ra) fail(`${what}: rdns needs ra`);
  if (ipv6.length > 0 && mtu < 1280) fail(`${what}: IPv6 needs an MTU of at least 1280 (RFC 8200 §5)`);
  return {
    name,
    kind,
    ring,
    ipv4,
    ipv6,
    mtu,
    ra,
    rdns,
    rpFilter,
    // AF_PACKET carries wire frames only (docs/PACKET.md).
    offload: kind === 'tap' && offload,
    ...(txThread === undefined ? {} : { txThread }),
    ...(netns === undefined ? {} : { netns }),
    ...(hostIp === undefined ? {} : { hostIp }),
    ...(hostIp6 === undefined ? {} : { hostIp6 }),
  };
}

/** An address with its prefix length, which must be given (a bare address is refused, not /32). */
function cidr4(s: string, what: string): { address: Ipv4Addr; prefixLen: number } {
  if (!s.includes('/')) fail(`${what}: give the prefix length: ${s}/LEN`);
  return parseIpv4Cidr(s) ?? fail(`${what}: not an IPv4 ADDR/LEN: ${s}`);
}

function cidr6(s: string, what: string): { address: Ipv6Addr; prefixLen: number } {
  if (!s.includes('/')) fail(`${what}: give the prefix length: ${s}/LEN`);
  return parseIpv6Cidr(s) ?? fail(`${what}: not an IPv6 ADDR/LEN: ${s}`);
}

function route4FromSpec(spec: string): StaticRoute<Ipv4Addr> {
  const { head, pairs } = splitSpec(spec, '--route');
  const p = cidr4(head, '--route');
  if ((p.address & ~ipv4Mask(p.prefixLen)) >>> 0 !== 0) fail(`--route: host bits set in ${head}`);
  let via: Ipv4Addr | undefined;
  let metric: number | undefined;
  for (const [key, v] of pairs) {
    if (key === 'via')
      via = parseIpv4Addr(text(v, key, '--route')) ?? fail(`--route ${head}: via: not an IPv4 address: ${v}`);
    else if (key === 'metric') metric = metricOf(v, `--route ${head}`);
    else fail(`--route ${head}: unknown option '${key}'`);
  }
  if (via === undefined) fail(`--route ${head}: via=GW is required`);
  return { prefix: p.address, prefixLen: p.prefixLen, via, ...(metric === undefined ? {} : { metric }) };
}

function route6FromSpec(spec: string): StaticRoute<Ipv6Addr> {
  const { head, pairs } = splitSpec(spec, '--route6');
  const p = cidr6(head, '--route6');
  let via: Ipv6Addr | undefined;
  let metric: number | undefined;
  let dev: string | undefined;
  for (const [key, v] of pairs) {
    if (key === 'via')
      via =
        parseIpv6Addr(text(v, key, '--route6')) ?? fail(`--route6 ${head}: via: not an IPv6 address: ${v}`);
    else if (key === 'metric') metric = metricOf(v, `--route6 ${head}`);
    else if (key === 'dev') dev = text(v, key, '--route6');
    else fail(`--route6 ${head}: unknown option '${key}'`);
  }
  if (via === undefined) fail(`--route6 ${head}: via=GW is required`);
  if (!ipv6Equal(ipv6Prefix(p.address, p.prefixLen), p.address)) fail(`--route6: host bits set in ${head}`);
  return {
    prefix: p.address,
    prefixLen: p.prefixLen,
    via,
    ...(metric === undefined ? {} : { metric }),
    ...(dev === undefined ? {} : { dev }),
  };
}

function metricOf(v: string | true, what: string): number {
  const n = Number(v);
  if (v === true || !Number.isInteger(n) || n < 0 || n > 0xffff_ffff)
    fail(`${what}: metric: not a number: ${v}`);
  return n;
}

/** The JSON form: the flags' values under the flags' names (`if`, `route`, `route6`, ...). */
function valuesFromFile(path: string): Record<string, unknown> {
  let raw: string;
  try {
    raw = readFileSync(path, 'utf8');
  } catch (e) {
    fail(`--config: cannot read ${path}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`);
  }
  try {
    const v = JSON.parse(raw) as unknown;
    if (typeof v !== 'object' || v === null || Array.isArray(v)) fail(`--config: ${path}: not a JSON object`);
    return v as Record<string, unknown>;
  } catch (e) {
    if (e instanceof ConfigError) throw e;
    fail(`--config: ${path}: ${(e as Error).message}`);
  }
}

function strings(v: unknown, key: string): string[] {
  if (v === undefined) return [];
  if (!Array.isArray(v) || v.some((x) => typeof x !== 'string'))
    fail(`--config: '${key}' must be a list of strings`);
  return v as string[];
}

export function parseRouterArgs(args: string[]): RouterConfig {
  const { values } = parseArgs({ args, options: OPTIONS, strict: true, allowPositionals: false });
  const file = values.config === undefined ? {} : valuesFromFile(values.config);
  for (const key of Object.keys(file))
    if ((!(key in OPTIONS) && !FILE_ONLY.includes(key)) || key === 'config')
      fail(`--config: unknown key '${key}'`);
  const ifs = [...strings(file.if, 'if'), ...(values.if ?? [])];
  const noOffload = (values['no-offload'] ?? (file['no-offload'] as boolean | undefined)) === true;
  const interfaces = ifs.map(interfaceFromSpec).map((i) => (noOffload ? { ...i, offload: false } : i));
  for (const i of interfaces)
    if (i.kind === 'tap' && i.offload && i.txThread === true)
      fail(`--if ${i.name}: tx-thread=on needs offload=off (or --no-offload) on a TAP`);
  if (interfaces.length < 2) fail('give at least two --if (a router joins links)');
  const names = new Set<string>();
  for (const i of interfaces) {
    if (names.has(i.name)) fail(`--if ${i.name}: given twice`);
    names.add(i.name);
  }
  checkOverlaps(interfaces);
  const routes4 = [...strings(file.route, 'route'), ...(values.route ?? [])].map(route4FromSpec);
  const routes6 = [...strings(file.route6, 'route6'), ...(values.route6 ?? [])].map(route6FromSpec);
  for (const r of routes4)
    if (!interfaces.some((i) => i.ipv4.some((c) => ((c.address ^ r.via) & ipv4Mask(c.prefixLen)) === 0)))
      fail(
        `--route ${ipv4ToString(r.prefix)}/${r.prefixLen}: gateway ${ipv4ToString(r.via)} is not on any interface's subnet`,
      );
  for (const r of routes6) {
    const linkLocal = isIpv6LinkLocal(r.via);
    if (
      linkLocal
        ? r.dev === undefined || !names.has(r.dev)
        : !interfaces.some((i) => i.ipv6.some((c) => ipv6InPrefix(r.via, c.address, c.prefixLen)))
    )
      fail(
        `--route6 ${ipv6ToString(r.prefix)}/${r.prefixLen}: gateway ${ipv6ToString(r.via)} is ${linkLocal ? 'link-local: give dev=NAME of one of the --if' : 'not on any interface prefix'}`,
      );
  }
  const flag = <T>(key: keyof typeof OPTIONS, v: T | undefined): T | undefined =>
    v ?? (file[key] as T | undefined);
  const statsText = flag<string | number>('stats-interval', values['stats-interval']);
  const statsInterval = statsText === undefined ? undefined : Number(statsText);
  if (statsInterval !== undefined && !(statsInterval > 0))
    fail(`--stats-interval: a positive number of seconds: ${statsText}`);
  const seedText = flag<string | number>('seed', values.seed);
  const seed = seedText === undefined ? randomInt(2 ** 31) : Number(seedText);
  if (!Number.isInteger(seed)) fail(`--seed: not an integer: ${seedText}`);
  const pcapDir = flag<string>('pcap-dir', values['pcap-dir']);
  const user = flag<string>('user', values.user);
  const ctText = flag<string | number>('conntrack-max', values['conntrack-max']);
  const conntrackMax = ctText === undefined ? undefined : Number(ctText);
  if (
    conntrackMax !== undefined &&
    !(Number.isInteger(conntrackMax) && conntrackMax >= 16 && conntrackMax <= 1 << 24)
  )
    fail(`--conntrack-max: a number of flows from 16 to 16777216: ${ctText}`);
  const filter = filterFrom(file, values, [...names], conntrackMax);
  return {
    interfaces,
    routes4,
    routes6,
    clampMss: flag<boolean>('clamp-mss', values['clamp-mss']) ?? false,
    seed,
    ...(pcapDir === undefined ? {} : { pcapDir }),
    ...(statsInterval === undefined ? {} : { statsInterval }),
    ...(user === undefined ? {} : { user }),
    ...(filter === undefined ? {} : { filter }),
  };
}

/** The firewall (file section, then `--allow`/`--policy`) and NAT (`--masquerade`, `--forward`). */
function filterFrom(
  file: Record<string, unknown>,
  values: { masquerade?: string[]; forward?: string[]; allow?: string[]; policy?: string[] },
  names: readonly string[],
  conntrackMax: number | undefined,
): Omit<RouterFilterOptions, 'secret'> | undefined {
  const list = (key: 'masquerade' | 'forward' | 'allow' | 'policy') => [
    ...strings(file[key], key),
    ...(values[key] ?? []),
  ];
  const masquerade = list('masquerade').map((spec) => {
    const [inside, outside, extra] = spec.split(',');
    if (extra !== undefined || inside === undefined || outside === undefined)
      fail(`--masquerade ${spec}: INSIDE,OUTSIDE`);
    for (const n of [inside, outside]) if (!names.includes(n)) fail(`--masquerade ${spec}: no --if ${n}`);
    return { inside, outside };
  });
  const forwards = list('forward').map(forwardFromSpec);
  for (const f of forwards) if (!names.includes(f.outside)) fail(`--forward: no --if ${f.outside}`);
  const allow = list('allow');
  const policy = list('policy');
  let firewall: FirewallConfig | undefined;
  if (file.firewall !== undefined) {
    const r = parseFirewallConfig(file.firewall, names);
    if (!r.ok) fail(`--config: ${r.error}`);
    firewall = r.value;
  }
  if (allow.length > 0 || policy.length > 0) {
    const flags = firewallFromFlags(allow, policy, names);
    if (!flags.ok) fail(flags.error);
    if (firewall === undefined) firewall = flags.value;
    else {
      const both = appendFirewallRules(firewall, flags.value);
      if (!both.ok) fail(both.error);
      firewall = both.value;
    }
  }
  if (
    firewall === undefined &&
    masquerade.length === 0 &&
    forwards.length === 0 &&
    conntrackMax === undefined
  )
    return undefined;
  return {
    masquerade,
    forwards,
    ...(firewall === undefined ? {} : { firewall }),
    ...(conntrackMax === undefined ? {} : { conntrackMax }),
  };
}

/** `OUTSIDE,tcp:8080=10.1.0.5:80`. */
function forwardFromSpec(spec: string): NonNullable<RouterFilterOptions['forwards']>[number] {
  const m = /^([^,]+),(tcp|udp):(\d+)=([\d.]+):(\d+)$/.exec(spec);
  if (m === null) fail(`--forward ${spec}: OUTSIDE,tcp:PORT=ADDR:PORT (or udp)`);
  const port = Number(m[3]);
  const toPort = Number(m[5]);
  const to = parseIpv4Addr(m[4]!);
  if (to === undefined) fail(`--forward ${spec}: not an IPv4 address: ${m[4]}`);
  for (const p of [port, toPort]) if (p < 1 || p > 65535) fail(`--forward ${spec}: not a port: ${p}`);
  return { outside: m[1]!, protocol: m[2] as 'tcp' | 'udp', port, to, toPort };
}

/** Two interfaces on overlapping prefixes would make the connected routes ambiguous. */
function checkOverlaps(interfaces: readonly RouterInterfaceSpec[]): void {
  const v4 = interfaces.flatMap((i) => i.ipv4.map((c) => ({ name: i.name, ...c })));
  for (let a = 0; a < v4.length; a++)
    for (let b = a + 1; b < v4.length; b++) {
      const x = v4[a]!;
      const y = v4[b]!;
      const len = Math.min(x.prefixLen, y.prefixLen);
      if (x.name !== y.name && ((x.address ^ y.address) & ipv4Mask(len)) === 0)
        fail(
          `--if ${y.name}: ${ipv4ToString(y.address)}/${y.prefixLen} overlaps ${ipv4ToString(x.address)}/${x.prefixLen} of ${x.name}`,
        );
    }
  const v6 = interfaces.flatMap((i) => i.ipv6.map((c) => ({ name: i.name, ...c })));
  for (let a = 0; a < v6.length; a++)
    for (let b = a + 1; b < v6.length; b++) {
      const x = v6[a]!;
      const y = v6[b]!;
      if (x.name !== y.name && ipv6InPrefix(x.address, y.address, Math.min(x.prefixLen, y.prefixLen)))
        fail(
          `--if ${y.name}: ${ipv6ToString(y.address)}/${y.prefixLen} overlaps ${ipv6ToString(x.address)}/${x.prefixLen} of ${x.name}`,
        );
    }
}
