/**
 * The scratch state of one NDP step (copy on first write, the input state is never touched), the
 * constants, the address helpers shared by the modules, and the deadline.
 */
import { type Ipv6Addr, ipv6Equal, ipv6MulticastMac, type Mac, parseIpv6Addr } from '../../addr.js';
import { splitmix32 } from '../../random.js';
import { assertNever } from '../../result.js';
import type { Icmpv6Repr, NdpOption } from '../icmp.js';
import type {
  DefaultRouter,
  NdpAddress,
  NdpCounterName,
  NdpOutput,
  NdpState,
  NeighbourEntry,
} from './types.js';

/** RFC 4291 §2.7.1. */
export const ALL_NODES = parseIpv6Addr('ff02::1')!;
export const ALL_ROUTERS = parseIpv6Addr('ff02::2')!;
/** RFC 4861 §4.6.2: a lifetime of all one bits is infinity. */
export const INFINITE_LIFETIME = 0xffff_ffff;
/** RFC 4862 §5.5.3 (e). */
export const TWO_HOURS = 2 * 3600 * 1000;
/** RFC 4861 §6.3.2 MIN_RANDOM_FACTOR, MAX_RANDOM_FACTOR. */
export const MIN_RANDOM_FACTOR = 0.5;
export const MAX_RANDOM_FACTOR = 1.5;
/** RFC 4861 §6.3.4: ReachableTime "re-computed at least once every few hours". */
export const REACHABLE_TIME_REDRAW = TWO_HOURS;
/** RFC 4861 §6.2.1: AdvReachableTime "MUST be no greater than 3,600,000 milliseconds". */
export const MAX_REACHABLE_TIME = 3_600_000;
/** The "Assigned Numbers" default hop limit (RFC 4861 §6.3.2 CurHopLimit). */
export const DEFAULT_HOP_LIMIT = 64;

/** Fields a step may replace; the neighbour map and the counters have their own copy-on-write. */
type Fields = Omit<NdpState, 'config' | 'now' | 'neighbours' | 'counters' | 'deadline'>;
type Patch = { -readonly [K in keyof Fields]?: Fields[K] };

/** Fields whose change can move the deadline. */
const TIMED: ReadonlySet<keyof Fields> = new Set<keyof Fields>([
  'addresses',
  'routers',
  'prefixes',
  'rs',
  'ra',
]);

export class Draft {
  readonly out: NdpOutput[] = [];
  private readonly patch: Patch = {};
  private nb: Map<string, NeighbourEntry> | null = null;
  private ctr: Record<NdpCounterName, number> | null = null;
  private changed = false;
  private timersChanged = false;

  constructor(
    readonly s: NdpState,
    readonly now: number,
  ) {}

  get config(): NdpState['config'] {
    return this.s.config;
  }

  get<K extends keyof Fields>(k: K): Fields[K] {
    return Object.hasOwn(this.patch, k) ? (this.patch[k] as Fields[K]) : this.s[k];
  }

  set<K extends keyof Fields>(k: K, v: Fields[K]): void {
    this.patch[k] = v;
    this.changed = true;
    if (TIMED.has(k)) this.timersChanged = true;
  }

  get neighbours(): ReadonlyMap<string, NeighbourEntry> {
    return this.nb ?? this.s.neighbours;
  }

  private writable(): Map<string, NeighbourEntry> {
    this.changed = true;
    this.timersChanged = true;
    this.nb ??= new Map(this.s.neighbours);
    return this.nb;
  }

  setNeighbour(key: string, e: NeighbourEntry): void {
    this.countIncomplete(this.neighbours.get(key), e);
    this.writable().set(key, e);
  }

  deleteNeighbour(key: string): void {
    this.countIncomplete(this.neighbours.get(key), undefined);
    this.writable().delete(key);
  }

  clearNeighbours(): void {
    this.writable().clear();
    this.set('incomplete', 0);
  }

  /** Keeps `incomplete` equal to the INCOMPLETE entries in the map as `was` becomes `next`. */
  private countIncomplete(was: NeighbourEntry | undefined, next: NeighbourEntry | undefined): void {
    const delta = (next?.state === 'incomplete' ? 1 : 0) - (was?.state === 'incomplete' ? 1 : 0);
    if (delta !== 0) this.set('incomplete', this.get('incomplete') + delta);
  }

  count(name: NdpCounterName, by = 1): void {
    if (by === 0) return;
    this.changed = true;
    this.ctr ??= { ...this.s.counters };
    this.ctr[name] += by;
  }

  /** Uniform in [0, 1), advancing the seed held in the state. */
  random(): number {
    const [value, next] = splitmix32(this.get('rng'));
    this.set('rng', next);
    return value / 0x1_0000_0000;
  }

  /** ReachableTime, redrawn if it is older than a few hours (RFC 4861 §6.3.4). */
  reachableTime(): number {
    if (this.now - this.get('reachableTimeDrawnAt') >= REACHABLE_TIME_REDRAW) drawReachableTime(this);
    return this.get('reachableTime');
  }

  finish(): [NdpState, readonly NdpOutput[]] {
    if (!this.changed) return [this.s, this.out];
    const base: Omit<NdpState, 'deadline'> = {
      ...this.s,
      ...this.patch,
      now: this.now,
      neighbours: this.neighbours,
      counters: this.ctr ?? this.s.counters,
    };
    return [{ ...base, deadline: this.timersChanged ? computeDeadline(base) : this.s.deadline }, this.out];
  }
}

/** RFC 4861 §6.3.2: ReachableTime uniform in [MIN_RANDOM_FACTOR, MAX_RANDOM_FACTOR) x BaseReachableTime. */
export function drawReachableTime(d: Draft): void {
  const factor = MIN_RANDOM_FACTOR + (MAX_RANDOM_FACTOR - MIN_RANDOM_FACTOR) * d.random();
  d.set('reachableTime', Math.max(1, Math.floor(d.get('baseReachableTime') * factor)));
  d.set('reachableTimeDrawnAt', d.now);
}

/** A random delay in [0, MAX_RTR_SOLICITATION_DELAY) (RFC 4861 §6.3.7, RFC 4862 §5.4.2). */
export function randomDelay(d: Draft): number {
  return Math.floor(d.random() * d.config.maxRtrSolicitationDelay);
}

// ---- deadline ----

export function computeDeadline(s: Omit<NdpState, 'deadline'>): number | null {
  let t = Math.min(s.rs?.due ?? Number.POSITIVE_INFINITY, s.ra?.due ?? Number.POSITIVE_INFINITY);
  for (const a of s.addresses) t = Math.min(t, addressDue(a));
  for (const r of s.routers) t = Math.min(t, r.expires);
  for (const p of s.prefixes) t = Math.min(t, p.expires);
  for (const e of s.neighbours.values()) t = Math.min(t, neighbourDue(e));
  return t === Number.POSITIVE_INFINITY ? null : t;
}

export function addressDue(a: NdpAddress): number {
  const dad = a.dad?.due ?? Number.POSITIVE_INFINITY;
  const deprecate = a.state === 'preferred' ? a.preferredUntil : Number.POSITIVE_INFINITY;
  return Math.min(dad, deprecate, a.validUntil);
}

export function neighbourDue(e: NeighbourEntry): number {
  switch (e.state) {
    case 'incomplete':
      return e.nextSolicit;
    case 'reachable':
      return e.expires;
    case 'stale':
      return Number.POSITIVE_INFINITY;
    case 'delay':
      return e.probeAt;
    case 'probe':
      return e.nextProbe;
    default:
      return assertNever(e);
  }
}

// ---- addresses and prefixes ----

/**
 * The Neighbour Cache key of an address: its eight 16-bit groups as UTF-16 code units. Formatting
 * the text form (`ipv6Key`) costs about a microsecond, which would dominate `resolve`.
 */
export function neighbourKey(a: Uint8Array): string {
  return String.fromCharCode(
    (a[0]! << 8) | a[1]!,
    (a[2]! << 8) | a[3]!,
    (a[4]! << 8) | a[5]!,
    (a[6]! << 8) | a[7]!,
    (a[8]! << 8) | a[9]!,
    (a[10]! << 8) | a[11]!,
    (a[12]! << 8) | a[13]!,
    (a[14]! << 8) | a[15]!,
  );
}

export function isUnspecified(a: Uint8Array): boolean {
  for (let i = 0; i < 16; i++) if (a[i] !== 0) return false;
  return true;
}

/** ::1 (RFC 4291 §2.5.3). */
export function isLoopback(a: Uint8Array): boolean {
  for (let i = 0; i < 15; i++) if (a[i] !== 0) return false;
  return a[15] === 1;
}

/** ff02::1:ffXX:XXXX (RFC 4291 §2.7.1). */
export function isSolicitedNode(a: Uint8Array): boolean {
  if (a[0] !== 0xff || a[1] !== 0x02) return false;
  for (let i = 2; i < 11; i++) if (a[i] !== 0) return false;
  return a[11] === 0x01 && a[12] === 0xff;
}

/** `a` with the bits past `len` cleared (RFC 4861 §4.6.2: they are "ignored by the receiver"). */
export function maskPrefix(a: Uint8Array, len: number): Ipv6Addr {
  const out = new Uint8Array(16);
  for (let i = 0; i < 16; i++) {
    const bits = Math.min(8, Math.max(0, len - 8 * i));
    out[i] = a[i]! & ((0xff << (8 - bits)) & 0xff);
  }
  return out as Ipv6Addr;
}

/** Whether the first `len` bits of `a` and `prefix` are equal. */
export function prefixMatch(a: Uint8Array, prefix: Uint8Array, len: number): boolean {
  const full = len >> 3;
  for (let i = 0; i < full; i++) if (a[i] !== prefix[i]) return false;
  const rest = len & 7;
  if (rest === 0) return true;
  const mask = (0xff << (8 - rest)) & 0xff;
  return (a[full]! & mask) === (prefix[full]! & mask);
}

/** A lifetime in seconds (RFC 4861 §4.6.2) as milliseconds, all ones being infinity. */
export function lifetimeMs(seconds: number): number {
  return seconds === INFINITE_LIFETIME ? Number.POSITIVE_INFINITY : seconds * 1000;
}

export function findAddress(addrs: readonly NdpAddress[], a: Uint8Array): NdpAddress | undefined {
  return addrs.find((x) => ipv6Equal(x.address, a));
}

/** RFC 4862 §2: a preferred or deprecated address is assigned and may be used. */
export function isAssigned(a: NdpAddress): boolean {
  return a.state === 'preferred' || a.state === 'deprecated';
}

// ---- messages ----

export function sendNd(d: Draft, dst: Ipv6Addr, src: Ipv6Addr, dstMac: Mac, message: Icmpv6Repr): void {
  d.out.push({ kind: 'send', dst, src, dstMac, hopLimit: 255, message });
}

export function sendMulticast(d: Draft, dst: Ipv6Addr, src: Ipv6Addr, message: Icmpv6Repr): void {
  sendNd(d, dst, src, ipv6MulticastMac(dst), message);
}

export function sourceLinkAddr(d: Draft): NdpOption {
  return { kind: 'source-link-addr', mac: d.config.mac };
}

export function firstLinkAddr(
  options: readonly NdpOption[],
  kind: 'source-link-addr' | 'target-link-addr',
): Mac | undefined {
  for (const o of options) if (o.kind === kind) return o.mac;
  return undefined;
}

/**
 * `a` became one of our addresses: a Neighbour Cache entry for it is dropped, and packets queued
 * for it are dropped as `invalid-address` (local delivery is the driver's loopback).
 */
export function forgetNeighbour(d: Draft, a: Uint8Array): void {
  const key = neighbourKey(a);
  const e = d.neighbours.get(key);
  if (e === undefined) return;
  d.deleteNeighbour(key);
  if (e.state !== 'incomplete') return;
  for (const q of e.queue)
    d.out.push({
      kind: 'dropped',
      reason: 'invalid-address',
      addr: e.addr,
      bytes: q.bytes,
      packet: q.packet,
    });
  d.count('invalid-address', e.queue.length);
  d.set('pendingBytes', d.get('pendingBytes') - e.queueBytes);
}

// ---- default router list (RFC 4861 §6.3.4-§6.3.6) ----

export function routerIndex(routers: readonly DefaultRouter[], addr: Uint8Array): number {
  return routers.findIndex((r) => ipv6Equal(r.addr, addr));
}

/** Removes `addr` from the Default Router List, if it is there. */
export function removeRouter(d: Draft, addr: Uint8Array): void {
  const routers = d.get('routers');
  const i = routerIndex(routers, addr);
  if (i < 0) return;
  d.set(
    'routers',
    routers.filter((_, j) => j !== i),
  );
  d.out.push({ kind: 'router', router: routers[i]!.addr, state: 'removed' });
  d.count('router-removed');
}

/** §6.3.6 (2): a router that failed goes to the end, so the next selection tries another one. */
export function rotateRouter(d: Draft, addr: Uint8Array): void {
  const routers = d.get('routers');
  const i = routerIndex(routers, addr);
  if (i < 0 || i === routers.length - 1) return;
  d.set('routers', [...routers.slice(0, i), ...routers.slice(i + 1), routers[i]!]);
}

export function removePrefixAt(d: Draft, i: number): void {
  const prefixes = d.get('prefixes');
  const p = prefixes[i]!;
  d.set(
    'prefixes',
    prefixes.filter((_, j) => j !== i),
  );
  d.out.push({ kind: 'prefix', prefix: p.prefix, prefixLen: p.prefixLen, state: 'removed' });
  d.count('prefix-removed');
}
