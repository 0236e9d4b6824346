/**
 * A live world for stack-level fuzzing: three Oasis stacks (a, b, c) on one simulated Ethernet hub,
 * on virtual time, with everything a hostile frame could disturb already in motion:
 * - three TCP connections in the middle of transfers in both directions, with known byte streams:
 *   b -> a:80 over IPv4, c -> a:80 over IPv6 (c's reader paused, so a's window towards it is shut),
 *   a -> c:7 over IPv4;
 * - listeners (a:80 with a backlog of 4, so SYN cookies take over early; c:7) and UDP sockets;
 * - IPv4 and IPv6 reassembly in progress on every host (a first fragment held, the rest never sent);
 * - unresolved neighbours: each host keeps sending to a silent address (ARP and NDP pending);
 * - small tables where the stack lets a test set them (TCP connections, ARP and NDP caches), so
 *   that a storm can reach the bounds.
 *
 * After every frame `check()` returns the violated invariants: every table within its bound (TCP
 * connections, IPv4/IPv6 reassembly bytes, ARP entries and queues, NDP neighbours, queues, routers,
 * prefixes and addresses, counter names, log events), every TCP connection's invariants
 * (test/tcp/core/invariants.ts `checkConnection`), and `checkStep` for every step the TCP core took
 * (each step is replayed through the pure core to get its outputs). UDP has no queue to bound: a
 * datagram is handed to its socket's 'message' listeners at once, as node:dgram does.
 */
import {
  type Ipv4Addr,
  type Ipv6Addr,
  ipv4ToString,
  ipv6ToString,
  parseIpv4Addr,
  parseIpv6Addr,
} from '../../src/addr.js';
import { DEFAULT_REASSEMBLY_CONFIG } from '../../src/fragments/reassembly.js';
import type { Stack } from '../../src/stack/stack.js';
import type { TcpLayer, TcpSocket } from '../../src/stack/tcp.js';
import type { UdpSocket } from '../../src/stack/udp.js';
import { type Tcb, type TcpStack, tcpConnections, tcpStep } from '../../src/tcp/core/index.js';
import { SimNetwork } from '../../src/testing/index.js';
import { checkConnection, checkStep } from '../tcp/core/invariants.js';
import type { Endpoint, LiveTcb, Target } from './mutate.js';

/** Bounds the world sets, small enough for a storm of a few dozen frames to reach them. */
export const BOUNDS = {
  maxConnections: 24,
  backlog: 4,
  arpEntries: 6,
  ndpNeighbours: 6,
  /** Distinct counter names a host may have: a counter keyed by attacker data would grow past it. */
  counterKeys: 400,
  /** Events in a stack's log (src/stack/stack.ts: EventLog(256)). */
  logEvents: 256,
} as const;

const TCP = { msl: 2_000, rcvBuf: 32 * 1024, sndBuf: 32 * 1024, maxConnections: BOUNDS.maxConnections };

/** A byte stream of `n` bytes named by `seed` (xorshift32), so that a mix-up of streams shows. */
export function streamBytes(n: number, seed: number): Buffer {
  const b = Buffer.allocUnsafe(n);
  let x = seed | 1;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    b[i] = x & 0xff;
  }
  return b;
}

/** One direction of a connection: what was written, and what the reader got. */
export interface Stream {
  readonly name: string;
  readonly written: Buffer;
  readonly chunks: Buffer[];
  ended: boolean;
  error: Error | undefined;
}

/** The TCP core behind a stack's TCP layer (private there: read for the invariants only). */
export function coreOf(layer: TcpLayer): TcpStack | undefined {
  return (layer as unknown as { core: TcpStack | undefined }).core;
}

function v4(s: string): Ipv4Addr {
  return parseIpv4Addr(s)!;
}
function v6(s: string): Ipv6Addr {
  return parseIpv6Addr(s)!;
}

export class World {
  readonly net: SimNetwork;
  readonly hosts: readonly Stack[];
  readonly endpoints: readonly Endpoint[];
  readonly streams: Stream[] = [];
  /** Frames the hosts put on the hub while the world was being set up (copies). */
  readonly captured: Uint8Array[] = [];
  /** Invariant violations found by the TCP step checker since the last `check()`. */
  private readonly stepViolations: string[] = [];
  private readonly paused: TcpSocket[] = [];
  private readonly udp: UdpSocket[] = [];
  private readonly held: Target['held4'][] = [];
  private readonly held6: Target['held6'][] = [];
  private capturing = true;
  /** Datagrams the UDP sockets received. */
  udpMessages = 0;
  /** TCP steps checked. */
  steps = 0;
  /** The largest size each table reached at a check, over every host (to see that floods fill them). */
  readonly peaks = {
    tcpConnections: 0,
    arpEntries: 0,
    ndpNeighbours: 0,
    reassembly4: 0,
    reassembly6: 0,
    counterKeys: 0,
  };

  private constructor(readonly seed: number) {
    this.net = new SimNetwork({
      seed,
      capture: (frame, info) => {
        if (this.capturing && info.direction === 'out' && this.captured.length < 2_000)
          this.captured.push(frame.slice());
      },
    });
    const hub = this.net.hub({ ipv6: true, delay: 2 });
    const hosts = ['a', 'b', 'c'].map((name) => this.net.host({ name, tcp: TCP }));
    for (const h of hosts) {
      const iface = hub.attach(h);
      // Tables small enough to fill (the stack takes the defaults; the cores take any config).
      iface.arp = { ...iface.arp, config: { ...iface.arp.config, maxEntries: BOUNDS.arpEntries } };
      iface.ndp = { ...iface.ndp, config: { ...iface.ndp.config, maxNeighbours: BOUNDS.ndpNeighbours } };
      this.watchSteps(h, this.net.nameOf(h));
    }
    this.hosts = hosts;
    this.endpoints = hosts.map((h) => {
      const i = h.interfaces[0]!;
      return { mac: i.mac, v4: i.ipv4[0]!.address, v6: i.ipv6[0]!.address, ll6: i.ndp.addresses[0]!.address };
    });
  }

  /** Builds the world and runs it until every transfer is under way (DAD done, handshakes over). */
  static async create(seed: number): Promise<World> {
    const w = new World(seed);
    const [a, b, c] = w.hosts as [Stack, Stack, Stack];
    // RFC 4862 §5.4: global addresses are usable once DAD is over.
    w.net.virtual.runUntil(3_000);
    w.serve(a, 80, BOUNDS.backlog);
    w.serve(c, 7, undefined);
    w.transfer(b, a, 4, 80, 400_000, 300_000, false);
    w.transfer(c, a, 6, 80, 100_000, 200_000, true);
    w.transfer(a, c, 4, 7, 200_000, 100_000, false);
    for (const h of w.hosts) {
      const s = h.udp.createSocket('udp6');
      s.on('message', () => w.udpMessages++);
      s.on('error', () => undefined);
      s.bind(53);
      w.udp.push(s);
    }
    w.pokeSilent();
    await w.net.runFor(8);
    w.capturing = false;
    return w;
  }

  /** Sends to the silent neighbours (a resolution stays pending, or fails and starts again). */
  pokeSilent(): void {
    for (const s of this.udp) {
      s.send(Buffer.from('anyone?'), 9, '10.0.0.99');
      s.send(Buffer.from('anyone?'), 9, '2001:db8::99');
    }
  }

  /**
   * Holds a datagram in reassembly on `victim`: `first4` and `first6` are first fragments (more to
   * come) from the peer `from`, whose ids are `ids`; the rest never comes.
   */
  holdFragments(
    victim: number,
    from: number,
    frames: readonly Uint8Array[],
    ids: readonly [number, number],
  ): void {
    const h = this.hosts[victim]!;
    for (const f of frames) h.receive(h.interfaces[0]!, f);
    this.held[victim] = { src: this.endpoints[from]!.v4, id: ids[0] };
    this.held6[victim] = { src: this.endpoints[from]!.v6, id: ids[1] };
  }

  private serve(host: Stack, port: number, backlog: number | undefined): void {
    const server = host.tcp.createServer((s) => {
      const want = this.streams.find((x) => x.name === `${this.net.nameOf(host)}:${port}<-${s.remotePort}`);
      s.on('error', () => undefined);
      if (want === undefined) {
        // A connection a forger completed: read and close it.
        s.resume();
        s.end();
        return;
      }
      this.collect(s, want, false);
      const back = this.streams.find((x) => x.name === `${this.net.nameOf(host)}:${port}->${s.remotePort}`)!;
      s.end(back.written);
    });
    server.on('error', () => undefined);
    server.listen({ port, ...(backlog === undefined ? {} : { backlog }) });
  }

  private transfer(
    client: Stack,
    server: Stack,
    family: 4 | 6,
    port: number,
    up: number,
    down: number,
    pause: boolean,
  ): void {
    const iface = server.interfaces[0]!;
    const host = family === 4 ? ipv4ToString(iface.ipv4[0]!.address) : ipv6ToString(iface.ipv6[0]!.address);
    // A fixed local port: the server tells the legitimate connection from forged ones by it.
    const lp = 40_001 + this.streams.length / 2;
    const s = client.tcp.connect({ host, port, localPort: lp });
    s.on('error', () => undefined);
    const sName = this.net.nameOf(server);
    const seed = this.seed ^ (port * 7919) ^ lp;
    const stream = (name: string, n: number, k: number): Stream => ({
      name,
      written: streamBytes(n, seed + k),
      chunks: [],
      ended: false,
      error: undefined,
    });
    const upStream = stream(`${sName}:${port}<-${lp}`, up, 0);
    const downStream = stream(`${sName}:${port}->${lp}`, down, 1);
    this.streams.push(upStream, downStream);
    this.collect(s, downStream, pause);
    s.end(upStream.written);
  }

  private collect(s: TcpSocket, stream: Stream, pause: boolean): void {
    if (pause) {
      s.pause();
      this.paused.push(s);
    }
    s.on('data', (c: Buffer) => stream.chunks.push(c));
    s.on('end', () => {
      stream.ended = true;
    });
    s.on('error', (e: Error) => {
      stream.error = e;
    });
  }

  /** Readers paused at the start read again. */
  resume(): void {
    for (const s of this.paused) s.resume();
  }

  get allEnded(): boolean {
    return this.streams.every((s) => s.ended || s.error !== undefined);
  }

  /** Wraps the host's TCP layer so that every step of its core is checked (src/stack/tcp.ts `step`). */
  private watchSteps(host: Stack, name: string): void {
    const layer = host.tcp;
    const step = layer.step.bind(layer);
    layer.step = (event) => {
      const before = coreOf(layer);
      const reply = step(event);
      if (before !== undefined) {
        // The core is pure: stepping the same state with the same event gives the layer's outputs.
        const r = tcpStep(before, event);
        this.steps++;
        for (const v of checkStep(before, r.state, r.outputs))
          this.stepViolations.push(`${name} ${event.kind} at ${event.now} ms: ${v}`);
      }
      return reply;
    };
  }

  /** What a forger sees of `victim` now. */
  target(victim: number): Target {
    const h = this.hosts[victim]!;
    const core = coreOf(h.tcp);
    const conns: LiveTcb[] = core === undefined ? [] : tcpConnections(core).map(live);
    const held4 = this.held[victim];
    const held6 = this.held6[victim];
    return {
      victim: this.endpoints[victim]!,
      peers: this.endpoints.filter((_, i) => i !== victim),
      conns,
      tcpPorts: victim === 0 ? [80] : victim === 2 ? [7] : [],
      udpPorts: [53],
      ...(held4 === undefined ? {} : { held4 }),
      ...(held6 === undefined ? {} : { held6 }),
      silent4: v4('10.0.0.99'),
      silent6: v6('2001:db8::99'),
    };
  }

  /** Every invariant violated now (empty when all hold). */
  check(): string[] {
    const v = this.stepViolations.splice(0);
    for (const h of this.hosts) {
      const name = this.net.nameOf(h);
      const core = coreOf(h.tcp);
      if (core !== undefined) {
        const conns = tcpConnections(core);
        this.peaks.tcpConnections = Math.max(this.peaks.tcpConnections, conns.length);
        if (conns.length > core.config.maxConnections)
          v.push(`${name}: ${conns.length} TCP connections > ${core.config.maxConnections}`);
        for (const t of conns) v.push(...checkConnection(t, core).map((x) => `${name}: ${x}`));
      }
      const budget = DEFAULT_REASSEMBLY_CONFIG.budgetBytes;
      this.peaks.reassembly4 = Math.max(this.peaks.reassembly4, h.ipv4.reassemblyBytes);
      this.peaks.reassembly6 = Math.max(this.peaks.reassembly6, h.ipv6.reassemblyBytes);
      if (h.ipv4.reassemblyBytes > budget)
        v.push(`${name}: IPv4 reassembly ${h.ipv4.reassemblyBytes} > ${budget}`);
      if (h.ipv6.reassemblyBytes > budget)
        v.push(`${name}: IPv6 reassembly ${h.ipv6.reassemblyBytes} > ${budget}`);
      for (const i of h.interfaces) {
        const arp = i.arp;
        const ac = arp.config;
        this.peaks.arpEntries = Math.max(this.peaks.arpEntries, arp.entries.size);
        this.peaks.ndpNeighbours = Math.max(this.peaks.ndpNeighbours, i.ndp.neighbours.size);
        if (arp.entries.size > ac.maxEntries)
          v.push(`${name}: ARP entries ${arp.entries.size} > ${ac.maxEntries}`);
        if (arp.pendingBytes > ac.maxPendingTotalBytes)
          v.push(`${name}: ARP pending ${arp.pendingBytes} bytes`);
        for (const e of arp.entries.values()) {
          if (e.state !== 'incomplete') continue;
          if (e.queue.length > ac.pendingPerNeighbour || e.queueBytes > ac.pendingBytesPerNeighbour)
            v.push(`${name}: ARP queue ${e.queue.length} packets / ${e.queueBytes} bytes`);
        }
        const ndp = i.ndp;
        const nc = ndp.config;
        if (ndp.neighbours.size > nc.maxNeighbours)
          v.push(`${name}: NDP neighbours ${ndp.neighbours.size} > ${nc.maxNeighbours}`);
        if (ndp.pendingBytes > nc.maxPendingTotalBytes)
          v.push(`${name}: NDP pending ${ndp.pendingBytes} bytes`);
        if (ndp.routers.length > nc.maxRouters) v.push(`${name}: ${ndp.routers.length} default routers`);
        if (ndp.prefixes.length > nc.maxPrefixes) v.push(`${name}: ${ndp.prefixes.length} on-link prefixes`);
        const maxAddrs = 1 + nc.staticAddresses.length + nc.maxAutoconfAddresses;
        if (ndp.addresses.length > maxAddrs) v.push(`${name}: ${ndp.addresses.length} IPv6 addresses`);
      }
      const keys = Object.keys(h.counters.snapshot()).length;
      this.peaks.counterKeys = Math.max(this.peaks.counterKeys, keys);
      if (keys > BOUNDS.counterKeys) v.push(`${name}: ${keys} counter names`);
      if (h.log.recent().length > BOUNDS.logEvents) v.push(`${name}: ${h.log.recent().length} log events`);
    }
    return v;
  }

  /** TCP segments all hosts have sent so far. */
  segmentsOut(): number {
    return this.hosts.reduce((n, h) => n + (h.tcp.counters['segments-out'] ?? 0), 0);
  }

  /** Every host's TCP counters, keyed `host/name`. */
  tcpCounters(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const h of this.hosts)
      for (const [k, v] of Object.entries(h.tcp.counters)) out[`${this.net.nameOf(h)}/${k}`] = v;
    return out;
  }

  /** The TCP counters that grew since `before` (from `tcpCounters`), largest growth first. */
  tcpCountersSince(before: Record<string, number>): string[] {
    return Object.entries(this.tcpCounters())
      .map(([k, v]) => [k, v - (before[k] ?? 0)] as const)
      .filter(([, d]) => d > 0)
      .sort((x, y) => y[1] - x[1])
      .slice(0, 12)
      .map(([k, d]) => `${k} +${d}`);
  }

  /** Each connection's state and sequence variables, for a failure report. */
  describeConnections(): string[] {
    const out: string[] = [];
    for (const h of this.hosts) {
      const core = coreOf(h.tcp);
      if (core === undefined) continue;
      for (const t of tcpConnections(core))
        out.push(
          `${this.net.nameOf(h)} ${t.key} ${t.state}: SND.UNA ${t.sndUna} NXT ${t.sndNxt} MAX ${t.sndMax} ` +
            `WND ${t.sndWnd} sndq ${t.sndq.length}; RCV.NXT ${t.rcvNxt} ADV ${t.rcvAdv}; ` +
            `timer ${t.rexmt?.mode ?? 'none'}; TS.Recent ${t.tsRecent}`,
        );
    }
    return out;
  }

  /** The TCP trace lines (src/tcp/core/trace.ts) of every host for the next `ms` of virtual time. */
  async traceFor(ms: number): Promise<string[]> {
    const lines: string[] = [];
    for (const h of this.hosts) h.tcp.trace = (l) => lines.push(`${this.net.nameOf(h)} ${l}`);
    await this.net.runFor(ms);
    for (const h of this.hosts) h.tcp.trace = undefined;
    return lines;
  }

  /** Connections the hosts' TCP cores still hold, as `host: state local -> remote`. */
  connectionsLeft(): string[] {
    const out: string[] = [];
    for (const h of this.hosts) {
      const core = coreOf(h.tcp);
      if (core === undefined) continue;
      for (const t of tcpConnections(core)) out.push(`${this.net.nameOf(h)}: ${t.state} ${t.key}`);
    }
    return out;
  }

  /** Streams whose reader did not get exactly the bytes written, with why. */
  brokenStreams(): string[] {
    const out: string[] = [];
    for (const s of this.streams) {
      const got = Buffer.concat(s.chunks);
      if (s.error !== undefined)
        out.push(`${s.name}: ${s.error.message} after ${got.length} of ${s.written.length} bytes`);
      else if (!s.ended) out.push(`${s.name}: no EOF after ${got.length} of ${s.written.length} bytes`);
      else if (!got.equals(s.written)) {
        let at = 0;
        while (at < got.length && got[at] === s.written[at]) at++;
        out.push(
          `${s.name}: ${got.length} bytes read, ${s.written.length} written, first difference at ${at}`,
        );
      }
    }
    return out;
  }

  async close(): Promise<void> {
    await this.net.close();
  }
}

function live(t: Tcb): LiveTcb {
  return {
    v6: typeof t.local !== 'number',
    local: t.local as Ipv4Addr | Ipv6Addr,
    localPort: t.localPort,
    remote: t.remote as Ipv4Addr | Ipv6Addr,
    remotePort: t.remotePort,
    sndUna: t.sndUna,
    sndNxt: t.sndNxt,
    sndMax: t.sndMax,
    maxSndWnd: t.maxSndWnd,
    rcvNxt: t.rcvNxt,
    rcvAdv: t.rcvAdv,
    tsRecent: t.tsRecent,
  };
}
