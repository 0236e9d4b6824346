/**
 * A simulated network: whole Oasis stacks joined by in-process links, all on one scheduler. On the
 * default `VirtualScheduler` nothing depends on the wall clock, so a run is a function of its seed:
 * the same seed gives the same frames, byte for byte, at the same virtual times.
 *
 * ```ts
 * const net = new SimNetwork({ seed: 7 });
 * const a = net.host({ name: 'a' });
 * const r = net.host({ name: 'r' });
 * const b = net.host({ name: 'b' });
 * // Each link is a segment with its own subnet: 10.0.0.0/24 and 2001:db8::/64 first, then 10.1.0.0/24
 * // and 2001:db8:1::/64...; the n-th interface attached to a segment gets host number n (.1, .2).
 * const [a0, r0] = net.link(a, r, { delay: 1, impair: { loss: 0.01 }, a: { gateway4: '10.0.0.2' } });
 * const [r1, b1] = net.link(r, b, { mtu: 1280, ipv6: true });
 * const reply = await net.settle(a.ipv4.ping(r0.ipv4[0]!.address));
 * ```
 *
 * What can be configured, and where:
 * - per host (`host()`): name, stack seed, TCP settings, a log sink;
 * - per link (`link()`, a point-to-point wire) or hub (`hub()`, a shared segment): MTU, propagation
 *   delay, line rate and queue (links), seeded impairments on the wire (links: each direction once),
 *   the segment's subnets;
 * - per interface (the `a`/`b` options of `link()`, the options of `SimHub.attach`): addresses
 *   (automatic, explicit or none, IPv4 and IPv6), gateways, MAC, MTU, IPv6 on or off, and seeded
 *   impairments at the interface (both ways by default, like netem on a NIC).
 *
 * Every seed that is not given is derived from the network's seed and the object's creation order
 * (host n, link n), so adding a host at the end changes nothing that came before it.
 *
 * Time: `settle(promise)`, `runUntil(condition)` and `runFor(ms)` move virtual time with an
 * event-loop turn before each timer (see time.ts); `scheduler.advance(ms)` / `runUntil(t)` fire
 * timers back to back without letting promises run, which is enough for code without streams.
 */
import {
  type Ipv4Addr,
  type Ipv6Addr,
  ipv4Mask,
  ipv4ToString,
  type Mac,
  parseIpv4Addr,
  parseIpv4Cidr,
  parseIpv6Addr,
  parseIpv6Cidr,
} from '../addr.js';
import { type Scheduler, VirtualScheduler } from '../clock.js';
import { type ImpairOptions, ImpairedLink, impair } from '../link/impair.js';
import type { Direction, Link } from '../link/link.js';
import { MemoryHub, memoryPair } from '../link/memory.js';
import { deriveSeed } from '../random.js';
import type { Interface, Ipv4Cidr, Ipv6Cidr } from '../stack/iface.js';
import { Stack, type StackOptions } from '../stack/stack.js';
import { type RunOptions, runFor, runUntil, settle } from './time.js';

/** What the network's capture hook is told about a frame besides its bytes. */
export interface CaptureInfo {
  /** Virtual (or real) time of the scheduler, ms. */
  readonly time: number;
  /** The port's name: `<host>.eth<n>` for an interface, the given name for a raw hub port. */
  readonly port: string;
  /** 'out': put on the medium by this port; 'in': taken off the medium for it. */
  readonly direction: Direction;
}

/**
 * Sees every frame on every medium of the network, at the medium (after the sender's interface
 * impairments, before the receiver's). `frame` is valid only during the call: copy what you keep.
 */
export type NetworkCapture = (frame: Uint8Array, info: CaptureInfo) => void;

export interface SimNetworkOptions<S extends Scheduler = VirtualScheduler> {
  /** Seeds every choice not given explicitly: host seeds and impairment seeds (default 1). */
  readonly seed?: number;
  /**
   * The scheduler every stack and link runs on (default a new `VirtualScheduler` at time 0). A
   * real one (link/real-clock.ts) runs the same network on the wall clock, e.g. for Node's TLS, whose
   * crypto does not wait for virtual time; `settle`, `runUntil` and `runFor` then throw.
   */
  readonly scheduler?: S;
  /** Sees every frame on every medium (see `NetworkCapture`). */
  readonly capture?: NetworkCapture;
}

export interface HostOptions {
  /** For port names and logs (default `h<n>`, n counting hosts from 1). */
  readonly name?: string;
  /** The stack's seed: MACs, identifiers, ISNs, ports (default derived from the network's seed). */
  readonly seed?: number;
  /** TCP settings over the core's defaults (buffer sizes, MSL, options...). */
  readonly tcp?: StackOptions['tcp'];
  /** Receives every log event of this host. */
  readonly onLog?: StackOptions['onLog'];
}

/**
 * Addresses of one family on an interface: `true` for the segment's automatic one (host number n
 * for the n-th interface attached), `false` for none, or explicit ones as `addr/len` (a bare
 * address takes the segment's prefix length).
 */
export type AddressSpec = boolean | string | readonly string[];

export interface AttachOptions {
  /** IPv4 addresses (default true: the automatic one). */
  readonly ipv4?: AddressSpec;
  /**
   * Global IPv6 addresses (default false: none). The link-local address comes with `ipv6Enabled`,
   * and DAD makes every IPv6 address usable about 2 s after it is configured (RFC 4862 §5.4).
   */
  readonly ipv6?: AddressSpec;
  /** IPv6 at all: link-local address, DAD, router discovery (default true, as on Linux). */
  readonly ipv6Enabled?: boolean;
  /** Default IPv4 gateway through this interface. */
  readonly gateway4?: string;
  /** Default IPv6 gateway through this interface. */
  readonly gateway6?: string;
  /** The interface's MAC (default derived from the host's seed). */
  readonly mac?: Mac;
  /** The interface's IP MTU (default the medium's). */
  readonly mtu?: number;
  /**
   * Seeded impairments at this interface, like netem on a NIC: by default on what it sends and what
   * it receives (`direction`), each way with its own stream; the seed defaults to one derived from
   * the network's. Applied on top of the wire's own impairments.
   */
  readonly impair?: ImpairOptions;
}

export interface SegmentOptions {
  /** IP MTU of the medium (default 1500). */
  readonly mtu?: number;
  /** One-way propagation delay, ms (default 0: delivered on the next scheduler turn). */
  readonly delay?: number;
  /** The segment's IPv4 subnet for automatic addresses (default `10.<k>.0.0/24`, k counting segments from 0). */
  readonly subnet4?: string;
  /** The segment's IPv6 subnet for automatic addresses (default `2001:db8:<k>::/64`). */
  readonly subnet6?: string;
  /** Automatic IPv4 addresses for every interface attached, unless it says otherwise (default true). */
  readonly ipv4?: boolean;
  /** Automatic global IPv6 addresses for every interface attached, unless it says otherwise (default false). */
  readonly ipv6?: boolean;
  /** IPv6 at all on every interface attached, unless it says otherwise (default true). */
  readonly ipv6Enabled?: boolean;
}

export interface LinkOptions extends SegmentOptions {
  /** Line rate in bit/s: frames are serialised one after another (default unlimited). */
  readonly rate?: number;
  /** With `rate`: bytes that may wait for the wire before tail drop (default 64 KiB). */
  readonly queueBytes?: number;
  /**
   * Seeded impairments of the wire (link/impair.ts: loss, duplicate, reorder, corrupt, jitter...),
   * applied once to each direction, each with its own stream; the seed defaults to one derived from
   * the network's seed and the link's number.
   */
  readonly impair?: Omit<ImpairOptions, 'direction'>;
  /** Interface options of the first host's end. */
  readonly a?: AttachOptions;
  /** Interface options of the second host's end. */
  readonly b?: AttachOptions;
}

export type HubOptions = SegmentOptions;

/** A segment's addressing plan and the defaults of its interfaces. */
interface Segment {
  readonly v4: { readonly network: number; readonly prefixLen: number };
  readonly v6: { readonly network: Ipv6Addr; readonly prefixLen: number };
  readonly defaults: {
    readonly ipv4: boolean | undefined;
    readonly ipv6: boolean | undefined;
    readonly ipv6Enabled: boolean | undefined;
  };
  attached: number;
}

interface HostRecord {
  readonly name: string;
  interfaces: number;
}

// Streams of the network seed (deriveSeed), one per kind of object.
const HOST_SEEDS = 1;
const WIRE_SEEDS = 2;
const INTERFACE_SEEDS = 3;

/**
 * A network of stacks on one scheduler. Create hosts with `host()`, join them with `link()` (two
 * hosts) or `hub()` (any number), run time with `settle()`, `runUntil()`, `runFor()`, and end with
 * `close()`.
 */
export class SimNetwork<S extends Scheduler = VirtualScheduler> {
  readonly scheduler: S;
  readonly seed: number;
  /** Every host, in creation order. */
  readonly hosts: Stack[] = [];
  private readonly records = new Map<Stack, HostRecord>();
  private readonly capture: NetworkCapture | undefined;
  private segments = 0;
  private links = 0;
  private attachments = 0;

  constructor(opts: SimNetworkOptions<S> = {}) {
    // Without a scheduler S is its default, VirtualScheduler: the cast only names that.
    this.scheduler = opts.scheduler ?? (new VirtualScheduler() as unknown as S);
    this.seed = opts.seed ?? 1;
    this.capture = opts.capture;
  }

  /** The virtual scheduler, or a clear error when the network runs on another clock. */
  get virtual(): VirtualScheduler {
    const s = this.scheduler as Scheduler;
    if (!(s instanceof VirtualScheduler))
      throw new Error('SimNetwork: settle/runUntil/runFor need the network to run on a VirtualScheduler');
    return s;
  }

  /** Current time of the network's scheduler, ms. */
  now(): number {
    return this.scheduler.now();
  }

  /** A new stack on the network's scheduler, with no interface yet. */
  host(opts: HostOptions = {}): Stack {
    const n = this.hosts.length;
    const name = opts.name ?? `h${n + 1}`;
    for (const r of this.records.values())
      if (r.name === name) throw new Error(`SimNetwork.host: a host is already named ${name}`);
    const stack = new Stack({
      scheduler: this.scheduler,
      seed: opts.seed ?? deriveSeed(deriveSeed(this.seed, HOST_SEEDS), n),
      ...(opts.tcp === undefined ? {} : { tcp: opts.tcp }),
      ...(opts.onLog === undefined ? {} : { onLog: opts.onLog }),
    });
    this.hosts.push(stack);
    this.records.set(stack, { name, interfaces: 0 });
    return stack;
  }

  /** The name a host was given. */
  nameOf(host: Stack): string {
    return this.record(host).name;
  }

  /**
   * Joins `a` and `b` with a point-to-point wire and returns their new interfaces, in that order
   * (`a` is attached first, so it gets host number 1 on the segment and `b` number 2).
   */
  link(a: Stack, b: Stack, opts: LinkOptions = {}): [Interface, Interface] {
    if (a === b) throw new Error('SimNetwork.link: a host cannot be linked to itself');
    const seg = this.segment(opts);
    const k = this.links++;
    const wire = opts.impair;
    const [la, lb] = memoryPair(this.scheduler, {
      ...(opts.mtu === undefined ? {} : { mtu: opts.mtu }),
      ...(opts.delay === undefined ? {} : { delay: opts.delay }),
      ...(opts.rate === undefined ? {} : { rate: opts.rate }),
      ...(opts.queueBytes === undefined ? {} : { queueBytes: opts.queueBytes }),
      names: [this.portName(a), this.portName(b)],
      ...(wire === undefined
        ? {}
        : { impair: { ...wire, seed: wire.seed ?? deriveSeed(deriveSeed(this.seed, WIRE_SEEDS), k) } }),
    });
    return [this.attach(a, la, seg, opts.a ?? {}), this.attach(b, lb, seg, opts.b ?? {})];
  }

  /** A broadcast segment (an Ethernet hub) that hosts join with `attach()`. */
  hub(opts: HubOptions = {}): SimHub {
    const seg = this.segment(opts);
    const medium = new MemoryHub(this.scheduler, {
      ...(opts.mtu === undefined ? {} : { mtu: opts.mtu }),
      ...(opts.delay === undefined ? {} : { delay: opts.delay }),
    });
    return new SimHub(
      medium,
      (host, o) => this.attach(host, medium.port(this.portName(host)), seg, o),
      (name) => this.watch(medium.port(name)),
    );
  }

  /** Runs virtual time until `promise` settles (see time.ts `settle`). */
  settle<T>(promise: Promise<T>, opts: RunOptions = {}): Promise<T> {
    return settle(this.virtual, promise, opts);
  }

  /** Runs virtual time until `condition()` holds; returns whether it did (see time.ts `runUntil`). */
  runUntil(condition: () => boolean, opts: RunOptions = {}): Promise<boolean> {
    return runUntil(this.virtual, condition, opts);
  }

  /** Runs virtual time for `ms`, letting promises run between timers (see time.ts `runFor`). */
  runFor(ms: number): Promise<void> {
    return runFor(this.virtual, ms);
  }

  /** Closes every host (its sockets, timer and links). */
  async close(): Promise<void> {
    await Promise.all(this.hosts.map((h) => h.close()));
  }

  private record(host: Stack): HostRecord {
    const r = this.records.get(host);
    if (r === undefined) throw new Error('SimNetwork: that stack is not a host of this network');
    return r;
  }

  private portName(host: Stack): string {
    const r = this.record(host);
    return `${r.name}.eth${r.interfaces}`;
  }

  private segment(opts: SegmentOptions): Segment {
    const k = this.segments++;
    const v4 = parseSubnet4(opts.subnet4 ?? `10.${k}.0.0/24`);
    const v6 = parseSubnet6(opts.subnet6 ?? `2001:db8:${k.toString(16)}::/64`);
    const { ipv4, ipv6, ipv6Enabled } = opts;
    return { v4, v6, defaults: { ipv4, ipv6, ipv6Enabled }, attached: 0 };
  }

  /** Wraps the port's medium end with the capture hook (the end under any impairment wrapper). */
  private watch<L extends Link>(port: L): L {
    const hook = this.capture;
    if (hook !== undefined) {
      const medium = port instanceof ImpairedLink ? port.inner : port;
      const name = medium.name;
      medium.capture = (frame, direction) =>
        hook(frame, { time: this.scheduler.now(), port: name, direction });
    }
    return port;
  }

  private attach(host: Stack, port: Link, seg: Segment, o: AttachOptions): Interface {
    const record = this.record(host);
    const n = ++seg.attached;
    const a = this.attachments++;
    this.watch(port);
    const link =
      o.impair === undefined
        ? port
        : impair(port, this.scheduler, {
            ...o.impair,
            seed: o.impair.seed ?? deriveSeed(deriveSeed(this.seed, INTERFACE_SEEDS), a),
          });
    const ipv6Enabled = o.ipv6Enabled ?? seg.defaults.ipv6Enabled;
    const iface = host.addInterface({
      link,
      ipv4: addresses4(o.ipv4 ?? seg.defaults.ipv4 ?? true, seg, n),
      ipv6: addresses6(o.ipv6 ?? seg.defaults.ipv6 ?? false, seg, n),
      ...(ipv6Enabled === undefined ? {} : { ipv6Enabled }),
      ...(o.gateway4 === undefined ? {} : { gateway4: address4(o.gateway4) }),
      ...(o.gateway6 === undefined ? {} : { gateway6: address6(o.gateway6) }),
      ...(o.mac === undefined ? {} : { mac: o.mac }),
      ...(o.mtu === undefined ? {} : { mtu: o.mtu }),
    });
    record.interfaces++;
    return iface;
  }
}

/** A shared segment of a `SimNetwork`: every frame sent by one port reaches every other port. */
export class SimHub {
  constructor(
    /** The medium itself (its `size` is the number of open ports). */
    readonly medium: MemoryHub,
    private readonly attachHost: (host: Stack, opts: AttachOptions) => Interface,
    private readonly rawPort: (name: string) => Link,
  ) {}

  /** Attaches `host` with a new interface; the n-th attached gets host number n on the segment. */
  attach(host: Stack, opts: AttachOptions = {}): Interface {
    return this.attachHost(host, opts);
  }

  /**
   * A bare port with no stack behind it: what it sends reaches every attached interface, and it
   * receives (through `onFrame`) everything they send. For injecting hand-made frames.
   */
  port(name: string): Link {
    return this.rawPort(name);
  }
}

function parseSubnet4(s: string): Segment['v4'] {
  const c = parseIpv4Cidr(s);
  // Past 256 segments the default (10.<k>.0.0/24) runs out: such a network names its subnets.
  if (c === undefined || !s.includes('/')) throw new Error(`SimNetwork: bad IPv4 subnet ${s}`);
  return { network: (c.address & ipv4Mask(c.prefixLen)) >>> 0, prefixLen: c.prefixLen };
}

function parseSubnet6(s: string): Segment['v6'] {
  const c = parseIpv6Cidr(s);
  if (c === undefined || !s.includes('/')) throw new Error(`SimNetwork: bad IPv6 subnet ${s}`);
  const network = new Uint8Array(16) as Ipv6Addr;
  for (let i = 0; i < 16; i++) {
    const bits = Math.max(0, Math.min(8, c.prefixLen - 8 * i));
    network[i] = c.address[i]! & ((0xff << (8 - bits)) & 0xff);
  }
  return { network, prefixLen: c.prefixLen };
}

function specList(spec: AddressSpec): readonly string[] {
  return typeof spec === 'string' ? [spec] : spec === true || spec === false ? [] : spec;
}

function addresses4(spec: AddressSpec, seg: Segment, n: number): Ipv4Cidr[] {
  const { network, prefixLen } = seg.v4;
  if (spec === true) {
    const hosts = 2 ** (32 - prefixLen);
    if (n >= hosts - 1)
      throw new Error(
        `SimNetwork: no automatic address for host ${n} in ${ipv4ToString(network as Ipv4Addr)}`,
      );
    return [{ address: ((network + n) >>> 0) as Ipv4Addr, prefixLen }];
  }
  return specList(spec).map((s) => {
    const c = parseIpv4Cidr(s.includes('/') ? s : `${s}/${prefixLen}`);
    if (c === undefined) throw new Error(`SimNetwork: bad IPv4 address ${s}`);
    return c;
  });
}

function addresses6(spec: AddressSpec, seg: Segment, n: number): Ipv6Cidr[] {
  const { network, prefixLen } = seg.v6;
  if (spec === true) {
    if (prefixLen > 112) throw new Error('SimNetwork: automatic IPv6 addresses need a /112 or wider');
    const address = network.slice() as Ipv6Addr;
    address[14] = (n >>> 8) & 0xff;
    address[15] = n & 0xff;
    return [{ address, prefixLen }];
  }
  return specList(spec).map((s) => {
    const c = parseIpv6Cidr(s.includes('/') ? s : `${s}/${prefixLen}`);
    if (c === undefined) throw new Error(`SimNetwork: bad IPv6 address ${s}`);
    return c;
  });
}

function address4(s: string): Ipv4Addr {
  const a = parseIpv4Addr(s);
  if (a === undefined) throw new Error(`SimNetwork: bad IPv4 address ${s}`);
  return a;
}

function address6(s: string): Ipv6Addr {
  const a = parseIpv6Addr(s);
  if (a === undefined) throw new Error(`SimNetwork: bad IPv6 address ${s}`);
  return a;
}

// ---------------------------------------------------------------------------------------------
// Two hosts on one wire: the shape most tests need.

export interface TwoHostsOptions<S extends Scheduler = VirtualScheduler>
  extends SimNetworkOptions<S>,
    Omit<LinkOptions, 'a' | 'b'> {
  /** Host and interface options of `a` (default name 'a'). */
  readonly a?: HostOptions & AttachOptions;
  /** Host and interface options of `b` (default name 'b'). */
  readonly b?: HostOptions & AttachOptions;
  /** TCP settings of both hosts unless one says otherwise. */
  readonly tcp?: StackOptions['tcp'];
  /**
   * Runs the clock to this time before returning, firing timers back to back (default 3000 when an
   * end has a global IPv6 address, so that DAD is over, else 0).
   */
  readonly warmUpMs?: number;
}

export interface TwoHosts<S extends Scheduler = VirtualScheduler> {
  readonly net: SimNetwork<S>;
  readonly scheduler: S;
  readonly a: Stack;
  readonly b: Stack;
  /** `a`'s interface on the wire. */
  readonly ia: Interface;
  /** `b`'s interface on the wire. */
  readonly ib: Interface;
}

/**
 * Two hosts, `a` and `b`, on one wire of a new network: 10.0.0.1 and 10.0.0.2 by default, global
 * IPv6 2001:db8::1 and ::2 with `ipv6: true`. Each of `opts.a` / `opts.b` takes the host options
 * (seed, tcp, onLog, name) and the interface options (addresses, impair at the interface...); the
 * rest are the network's and the wire's.
 *
 * ```ts
 * const { net, a, b } = twoHosts({ delay: 0.5, ipv6: true, a: { impair: { loss: 0.02, seed: 3 } } });
 * b.tcp.createServer((s) => s.pipe(s)).listen(7);
 * ```
 */
export function twoHosts<S extends Scheduler = VirtualScheduler>(opts: TwoHostsOptions<S> = {}): TwoHosts<S> {
  const net = new SimNetwork<S>(opts);
  const side = (o: (HostOptions & AttachOptions) | undefined, name: string) => {
    const host = net.host({
      name: o?.name ?? name,
      ...(o?.seed === undefined ? {} : { seed: o.seed }),
      ...((o?.tcp ?? opts.tcp) === undefined ? {} : { tcp: o?.tcp ?? opts.tcp }),
      ...(o?.onLog === undefined ? {} : { onLog: o.onLog }),
    });
    const { name: _n, seed: _s, tcp: _t, onLog: _l, ...attach } = o ?? {};
    return { host, attach };
  };
  const sa = side(opts.a, 'a');
  const sb = side(opts.b, 'b');
  const { a: _a, b: _b, seed: _s, scheduler: _sch, capture: _c, tcp: _t, warmUpMs, ...wire } = opts;
  const [ia, ib] = net.link(sa.host, sb.host, { ...wire, a: sa.attach, b: sb.attach });
  const v6 = ia.ipv6.length > 0 || ib.ipv6.length > 0;
  const warm = warmUpMs ?? (v6 ? 3000 : 0);
  if (warm > 0) {
    const s = net.scheduler as Scheduler;
    if (!(s instanceof VirtualScheduler)) throw new Error('twoHosts: warmUpMs needs a VirtualScheduler');
    s.runUntil(warm);
  }
  return { net, scheduler: net.scheduler, a: sa.host, b: sb.host, ia, ib };
}
