/**
 * How a TCP connection fails, Oasis against Linux as node:net reports it: no route (ENETUNREACH at
 * once), a neighbour that never answers ARP/NDP (EHOSTUNREACH after about 3 s), a SYN nobody answers
 * (ETIMEDOUT after Linux's 127 s, or 7 s with two retries), ICMP errors from a router (RFC 1122
 * §4.2.3.9: they end an opening connection, and are the error reported when an established one
 * times out), and connected UDP sockets hearing port unreachable.
 *
 * Oasis runs in simulation on virtual time. The expected shapes are what node:net gave against Linux
 * (written down below); when the tests run as root, the same scenarios also run against the kernel in
 * namespaces of their own and the two results are compared field by field.
 */
import dgram from 'node:dgram';
import { afterAll, describe, expect, it } from 'vitest';
import { type Ipv4Addr, type Ipv6Addr, parseIpv4Addr, parseIpv6Addr } from '../../src/addr.js';
import { VirtualScheduler } from '../../src/clock.js';
import { ETHERTYPE_IPV4, EthernetFrame } from '../../src/ethernet/wire.js';
import { emitIcmpv4, ICMPV4_HEADER_LEN } from '../../src/ipv4/icmp.js';
import { emitIpv4, Ipv4Packet } from '../../src/ipv4/wire.js';
import { IPPROTO_ICMP, IPPROTO_TCP } from '../../src/ipproto.js';
import { memoryPair } from '../../src/link/memory.js';
import { Router } from '../../src/router/driver.js';
import { Stack } from '../../src/stack/stack.js';
import type { TcpSocket } from '../../src/stack/tcp.js';
import { twoHosts } from '../../src/testing/index.js';
import { settle } from '../../src/testing/time.js';
import { Lab } from '../support/lab.js';
import { canTap, type NetNs, uniqueIfName } from '../support/netns.js';

const ip = (s: string): Ipv4Addr => parseIpv4Addr(s)!;
const ip6 = (s: string): Ipv6Addr => parseIpv6Addr(s)!;

/** A failed connection as comparable data: its events, the error's fields (HOST and PORT hidden). */
interface Outcome {
  readonly trace: string[];
  readonly error: Record<string, unknown> | undefined;
  /** ms from connect() to 'close'. */
  readonly ms: number;
}

/** An error's fields as node:net sets them (`keys` in Node's order). */
interface ErrorFields {
  readonly message: string;
  readonly keys: readonly string[];
  readonly code?: string | undefined;
  readonly errno?: number | undefined;
  readonly syscall?: string | undefined;
  readonly address?: string | undefined;
  readonly port?: number | undefined;
}

function fieldsOf(e: unknown): ErrorFields {
  const err = e as NodeJS.ErrnoException & { address?: string; port?: number };
  return {
    message: err.message,
    keys: Object.keys(err),
    code: err.code,
    errno: err.errno,
    syscall: err.syscall,
    address: err.address,
    port: err.port,
  };
}

/** The fields with this run's address and port replaced by HOST and PORT. */
function errorShape(f: ErrorFields, host: string, port: number): Record<string, unknown> {
  const hide = (s: string) => s.split(host).join('HOST').split(`:${port}`).join(':PORT');
  return {
    message: hide(f.message),
    keys: f.keys,
    code: f.code,
    errno: f.errno,
    syscall: f.syscall,
    ...(f.address === undefined ? {} : { address: hide(f.address) }),
    ...(f.port === undefined ? {} : { port: f.port === port ? 'PORT' : f.port }),
  };
}

/** What node:net gives against Linux (observed on Node 20 / Linux 6, and re-checked below as root). */
const CONNECT_ERROR = (code: string, errno: number, details = '') => ({
  message: `connect ${code} HOST:PORT${details}`,
  keys: ['errno', 'code', 'syscall', 'address', 'port'],
  code,
  errno,
  syscall: 'connect',
  address: 'HOST',
  port: 'PORT',
});
const READ_ERROR = (code: string, errno: number) => ({
  message: `read ${code}`,
  keys: ['errno', 'code', 'syscall'],
  code,
  errno,
  syscall: 'read',
});

/** Connects from `stack` and waits (moving virtual time) for the socket to close. */
async function oasisConnect(
  scheduler: VirtualScheduler,
  stack: Stack,
  host: string,
  port: number,
  onConnect?: (s: TcpSocket) => void,
): Promise<Outcome> {
  const t0 = scheduler.now();
  const trace: string[] = [];
  let error: unknown;
  const s = stack.tcp.connect({ host, port });
  s.on('connect', () => {
    trace.push('connect');
    onConnect?.(s);
  });
  s.on('error', (e) => {
    error = e;
    trace.push(`error:${(e as NodeJS.ErrnoException).code}`);
  });
  const closed = new Promise<void>((resolve) =>
    s.on('close', (hadError: boolean) => {
      trace.push(`close:${hadError}`);
      resolve();
    }),
  );
  await settle(scheduler, closed, { limitMs: 1_000_000 });
  return {
    trace,
    error: error === undefined ? undefined : errorShape(fieldsOf(error), host, port),
    ms: scheduler.now() - t0,
  };
}

/** A host 10.1.0.2 (and 2001:db8:1::2) behind a router to 10.2.0.0/24, where 10.2.0.2 listens on 80. */
function routed() {
  const scheduler = new VirtualScheduler();
  const [aEnd, raEnd] = memoryPair(scheduler, { mtu: 1500, delay: 0.5, names: ['a', 'r-a'] });
  const [rbEnd, bEnd] = memoryPair(scheduler, { mtu: 1500, delay: 0.5, names: ['r-b', 'b'] });
  const a = new Stack({ scheduler, seed: 1 });
  const b = new Stack({ scheduler, seed: 2 });
  const router = new Router({ scheduler, seed: 3 });
  router.addInterface({
    link: raEnd,
    ipv4: [{ address: ip('10.1.0.1'), prefixLen: 24 }],
    ipv6: [{ address: ip6('2001:db8:1::1'), prefixLen: 64 }],
    ndpRouter: { advertise: false },
  });
  router.addInterface({ link: rbEnd, ipv4: [{ address: ip('10.2.0.1'), prefixLen: 24 }] });
  a.addInterface({
    link: aEnd,
    ipv4: [{ address: ip('10.1.0.2'), prefixLen: 24 }],
    ipv6: [{ address: ip6('2001:db8:1::2'), prefixLen: 64 }],
    gateway4: ip('10.1.0.1'),
    gateway6: ip6('2001:db8:1::1'),
  });
  b.addInterface({
    link: bEnd,
    ipv4: [{ address: ip('10.2.0.2'), prefixLen: 24 }],
    gateway4: ip('10.2.0.1'),
  });
  b.tcp.createServer((s) => s.resume()).listen(80);
  return { scheduler, a, b, router };
}

describe('how a TCP connect fails, as Linux reports it to node:net', () => {
  it('ENETUNREACH at once without a route, with the unbound local end in the message', async () => {
    const { scheduler, a } = twoHosts();
    const r = await oasisConnect(scheduler, a, '10.9.9.9', 80);
    expect(r).toEqual({
      trace: ['error:ENETUNREACH', 'close:true'],
      error: CONNECT_ERROR('ENETUNREACH', -101, ' - Local (0.0.0.0:0)'),
      ms: 0,
    });
  });

  it.each([
    ['IPv4, ARP', '10.0.0.9', false],
    ['IPv6, NDP', '2001:db8::9', true],
  ])('EHOSTUNREACH after about 3 s when the neighbour never answers (%s)', async (_what, host, v6) => {
    const { scheduler, a } = twoHosts({ ipv6: v6 });
    const r = await oasisConnect(scheduler, a, host, 80);
    expect(r.trace).toEqual(['error:EHOSTUNREACH', 'close:true']);
    expect(r.error).toEqual(CONNECT_ERROR('EHOSTUNREACH', -113));
    // Linux: 3 probes a second apart (3.05-3.1 s measured); never a SYN timeout.
    expect(r.ms).toBeGreaterThanOrEqual(2900);
    expect(r.ms).toBeLessThanOrEqual(3500);
    expect(a.tcp.counters['icmp-aborted']).toBe(1);
  });

  it('ETIMEDOUT after 127 s when nothing answers the SYN (tcp_syn_retries 6, not four minutes)', async () => {
    // b is a host, not a router: what a sends through it vanishes without an ICMP error.
    const { scheduler, a } = twoHosts({ a: { gateway4: '10.0.0.2' } });
    const r = await oasisConnect(scheduler, a, '10.9.9.9', 80);
    expect(r).toEqual({
      trace: ['error:ETIMEDOUT', 'close:true'],
      error: CONNECT_ERROR('ETIMEDOUT', -110),
      ms: 127_000,
    });
  });

  it('ENETUNREACH at once when a router answers the SYN with Net Unreachable (RFC 1122 §4.2.3.9)', async () => {
    const { scheduler, a } = routed();
    const r = await oasisConnect(scheduler, a, '10.9.9.9', 80);
    expect(r.trace).toEqual(['error:ENETUNREACH', 'close:true']);
    expect(r.error).toEqual(CONNECT_ERROR('ENETUNREACH', -101));
    expect(r.ms).toBeLessThan(1000);
    expect(a.tcp.counters['icmp-aborted']).toBe(1);
  });

  it('ENETUNREACH over IPv6 when the router answers with No Route (ICMPv6 code 0, RFC 4443 §3.1)', async () => {
    const { scheduler, a } = routed();
    // Duplicate address detection first (RFC 4862 §5.4): the addresses are usable after about 2 s.
    scheduler.runUntil(3000);
    const r = await oasisConnect(scheduler, a, '2001:db8:9::9', 80);
    expect(r.trace).toEqual(['error:ENETUNREACH', 'close:true']);
    expect(r.error).toEqual(CONNECT_ERROR('ENETUNREACH', -101));
    expect(r.ms).toBeLessThan(1000);
  });

  it('ECONNREFUSED through the router, for comparison', async () => {
    const { scheduler, a } = routed();
    const r = await oasisConnect(scheduler, a, '10.2.0.2', 81);
    expect(r.error).toEqual(CONNECT_ERROR('ECONNREFUSED', -111));
  });
});

/** An IPv4 ICMP Destination Unreachable from `from` to `to`, quoting `quoted` (an IPv4 packet). */
function unreachable(from: Ipv4Addr, to: Ipv4Addr, code: number, quoted: Uint8Array): Uint8Array {
  const quote = quoted.subarray(0, Math.min(quoted.length, 28 + 32));
  const icmpLen = ICMPV4_HEADER_LEN + quote.length;
  const p = new Uint8Array(20 + icmpLen);
  p.set(quote, 20 + ICMPV4_HEADER_LEN);
  emitIcmpv4({ type: 'dest-unreachable', code, nextHopMtu: 0 }, p.subarray(20));
  emitIpv4(
    {
      src: from,
      dst: to,
      protocol: IPPROTO_ICMP,
      ttl: 64,
      dscp: 0,
      ecn: 0,
      ident: 1,
      dontFragment: false,
      moreFragments: false,
      fragOffset: 0,
      options: new Uint8Array(0),
    },
    p,
  );
  return p;
}

/**
 * a talks to b; then b vanishes (its wire goes dead) and a's next data goes unanswered, with an ICMP
 * Net Unreachable about it arriving from a router (10.0.0.254) that quotes `seqDelta` off the
 * segment's own sequence number. Three data retries, as Linux's tcp_retries2 = 3 in the kernel run.
 */
async function softError(seqDelta: number) {
  let lastData: Uint8Array | undefined;
  const { net, scheduler, a, b, ia, ib } = twoHosts({
    tcp: { dataRetries: 3 },
    capture: (frame, info) => {
      if (info.direction !== 'out' || !info.port.startsWith('a.')) return;
      const eth = EthernetFrame.check(frame);
      if (!eth.ok || eth.value.ethertype !== ETHERTYPE_IPV4) return;
      const p = Ipv4Packet.check(eth.value.payload);
      if (p.ok && p.value.protocol === IPPROTO_TCP && p.value.payload.length > 32)
        lastData = eth.value.payload.slice();
    },
  });
  b.tcp.createServer((s) => s.resume()).listen(80);
  let injected = false;
  const r = await oasisConnect(scheduler, a, '10.0.0.2', 80, (s) => {
    s.write('before');
    scheduler.at(scheduler.now() + 100, () => {
      // b's wire goes dead: nothing more in or out, not even a FIN (the kernel run loses a route).
      void ib.link.close();
      s.write('after');
    });
    scheduler.at(scheduler.now() + 300, () => {
      const quoted = lastData!.slice();
      // RFC 5927 §4.1: the error counts only if the quoted sequence number is in flight.
      const v = new DataView(quoted.buffer);
      v.setUint32(24, (v.getUint32(24) + seqDelta) >>> 0);
      a.ipv4.input(ia, unreachable(ip('10.0.0.254'), ip('10.0.0.1'), 0, quoted), false);
      injected = true;
    });
  });
  await net.close();
  return { r, injected, counters: a.tcp.counters };
}

describe('ICMP errors about an established connection are soft (RFC 1122 §4.2.3.9, RFC 5927)', () => {
  it('keeps the connection, and reports the error as read ENETUNREACH when it times out', async () => {
    const { r, injected, counters } = await softError(0);
    expect(injected).toBe(true);
    expect(r.trace).toEqual(['connect', 'error:ENETUNREACH', 'close:true']);
    expect(r.error).toEqual(READ_ERROR('ENETUNREACH', -101));
    expect(counters['icmp-soft-error']).toBe(1);
    expect(counters['rexmt-exceeded']).toBe(1);
  });

  it('ignores an error quoting a sequence number not in flight: plain ETIMEDOUT', async () => {
    const { r, counters } = await softError(100_000);
    expect(r.error).toEqual(READ_ERROR('ETIMEDOUT', -110));
    expect(counters['icmp-out-of-window']).toBe(1);
  });
});

/**
 * a connects to b, turns keep-alive on with a 1 s delay, and b vanishes: Node's libuv then has Linux
 * probe 10 times, 1 s apart.
 */
async function keepAliveLost() {
  const { net, scheduler, a, b, ib } = twoHosts();
  b.tcp.createServer((s) => s.resume()).listen(80);
  const r = await oasisConnect(scheduler, a, '10.0.0.2', 80, (s) => {
    s.setKeepAlive(true, 1000);
    // b's wire goes dead once the handshake is over: nothing more in or out, not even a FIN.
    scheduler.at(scheduler.now() + 10, () => void ib.link.close());
  });
  await net.close();
  return { r, counters: a.tcp.counters };
}

describe('keep-alive, as setKeepAlive(true, 1000) on Linux (idle 1 s, then 10 probes 1 s apart)', () => {
  it('reports read ETIMEDOUT about 11 s after the peer vanished', async () => {
    const { r, counters } = await keepAliveLost();
    expect(r.trace).toEqual(['connect', 'error:ETIMEDOUT', 'close:true']);
    expect(r.error).toEqual(READ_ERROR('ETIMEDOUT', -110));
    expect(counters['keepalive-probe']).toBe(10);
    expect(r.ms).toBeGreaterThan(10_900);
    expect(r.ms).toBeLessThan(11_500);
  });
});

describe('connected UDP sockets hear ICMP port unreachable, as node:dgram on Linux', () => {
  type Shape = { trace: string[]; error: Record<string, unknown> };
  async function scenario(
    make: () => dgram.Socket | import('../../src/stack/udp.js').UdpSocket,
    host: string,
    port: number,
    run: (p: Promise<void>) => Promise<void>,
  ): Promise<Shape> {
    const u = make();
    const trace: string[] = [];
    let error: unknown;
    u.on('connect', () => trace.push('connect'));
    u.on('listening', () => trace.push('listening'));
    const got = new Promise<void>((resolve) =>
      u.on('error', (e: Error) => {
        error = e;
        trace.push(`error:${(e as NodeJS.ErrnoException).code}`);
        resolve();
      }),
    );
    u.connect(port, host, () =>
      (u as dgram.Socket).send('x', (e, n) => trace.push(`sent:${e?.message ?? n}`)),
    );
    await run(got);
    const closed = new Promise<void>((resolve) => u.close(() => resolve()));
    await run(closed);
    return { trace, error: errorShape(fieldsOf(error), host, port) };
  }

  it('emits recvmsg ECONNREFUSED after a send to a port nobody has', async () => {
    const nodeSide = await scenario(
      () => dgram.createSocket('udp4'),
      '127.0.0.1',
      9,
      (p) => p,
    );
    const { net, a } = twoHosts();
    const oasisSide = await scenario(
      () => a.udp.createSocket('udp4'),
      '10.0.0.2',
      9,
      (p) => net.settle(p),
    );
    expect(nodeSide).toEqual({
      trace: ['listening', 'connect', 'sent:1', 'error:ECONNREFUSED'],
      error: {
        message: 'recvmsg ECONNREFUSED',
        keys: ['errno', 'code', 'syscall'],
        code: 'ECONNREFUSED',
        errno: -111,
        syscall: 'recvmsg',
      },
    });
    expect(oasisSide).toEqual(nodeSide);
  });
});

// ---------------------------------------------------------------------------------------------
// The same failures on the kernel, as root: node:net in namespaces of our own.

/** Runs in a namespace: connects, optionally writes every 500 ms once connected, prints the outcome. */
const KERNEL_CLIENT = `
import net from 'node:net';
const [host, port, mode] = [process.argv[1], Number(process.argv[2]), process.argv[3]];
const t0 = performance.now();
const trace = [];
let error;
const s = net.connect({ host, port });
s.on('connect', () => {
  trace.push('connect');
  process.stderr.write('connected\\n');
  if (mode === 'write') { s.write('before'); setInterval(() => { if (!s.destroyed) s.write('after'); }, 500).unref(); }
  if (mode === 'keepalive') s.setKeepAlive(true, 1000);
});
s.on('error', (e) => { error = e; trace.push('error:' + e.code); });
s.on('close', (hadError) => {
  trace.push('close:' + hadError);
  const e = error && { message: error.message, keys: Object.keys(error), code: error.code, errno: error.errno, syscall: error.syscall, address: error.address, port: error.port };
  console.log(JSON.stringify({ trace, error: e, ms: performance.now() - t0 }));
});
`;

interface KernelOutcome {
  readonly trace: string[];
  readonly error: ErrorFields;
  readonly ms: number;
}

function kernelOutcome(stdout: string, host: string, port: number): Outcome {
  const out = JSON.parse(stdout) as KernelOutcome;
  return { trace: out.trace, error: errorShape(out.error, host, port), ms: out.ms };
}

async function kernelConnect(ns: NetNs, host: string, port: number): Promise<Outcome> {
  const r = await ns.exec(
    process.execPath,
    ['--input-type=module', '-e', KERNEL_CLIENT, host, String(port)],
    20_000,
  );
  return kernelOutcome(r.stdout, host, port);
}

describe.skipIf(!canTap)('the same failures on Linux (root: namespaces of our own)', () => {
  const lab = new Lab();
  afterAll(() => lab.close());

  /** Client C — router R — server S, each in its own namespace, on two fresh subnets. */
  function topology(opts: { forwarding: boolean }) {
    const [c, r, s] = [lab.namespace(), lab.namespace(), lab.namespace()];
    const [n1, n2] = [lab.subnet(), lab.subnet()];
    const [c0, r0, r1, s0] = [uniqueIfName(), uniqueIfName(), uniqueIfName(), uniqueIfName()];
    c.run('ip', 'link', 'add', c0, 'type', 'veth', 'peer', 'name', r0, 'netns', r.name);
    r.run('ip', 'link', 'add', r1, 'type', 'veth', 'peer', 'name', s0, 'netns', s.name);
    c.run('ip', 'addr', 'add', n1.cidr4(1), 'dev', c0);
    c.run('ip', '-6', 'addr', 'add', n1.cidr6(1), 'dev', c0, 'nodad');
    c.run('ip', 'link', 'set', c0, 'up');
    c.run('ip', 'route', 'add', 'default', 'via', n1.ip4(2));
    r.run('ip', 'addr', 'add', n1.cidr4(2), 'dev', r0);
    r.run('ip', 'link', 'set', r0, 'up');
    r.run('ip', 'addr', 'add', n2.cidr4(1), 'dev', r1);
    r.run('ip', 'link', 'set', r1, 'up');
    s.run('ip', 'addr', 'add', n2.cidr4(2), 'dev', s0);
    s.run('ip', 'link', 'set', s0, 'up');
    s.run('ip', 'route', 'add', 'default', 'via', n2.ip4(1));
    r.run('sysctl', '-qw', `net.ipv4.ip_forward=${opts.forwarding ? 1 : 0}`);
    return { c, r, s, n1, n2 };
  }

  it('ENETUNREACH without a route: the same error', async () => {
    const c = lab.namespace();
    const linux = await kernelConnect(c, '10.9.9.9', 80);
    const { scheduler, a } = twoHosts();
    const oasis = await oasisConnect(scheduler, a, '10.9.9.9', 80);
    expect({ ...oasis, ms: 0 }).toEqual({ ...linux, ms: 0 });
  });

  it('EHOSTUNREACH when ARP and NDP go unanswered: the same error, within half a second of Linux', async () => {
    const { c, n1 } = topology({ forwarding: true });
    // R answers for .2 only: .9 on the client's own subnet never answers.
    for (const [host, oasisHost, v6] of [
      [n1.ip4(9), '10.0.0.9', false],
      [n1.ip6(9), '2001:db8::9', true],
    ] as const) {
      const linux = await kernelConnect(c, host, 80);
      const { scheduler, a } = twoHosts({ ipv6: v6 });
      const oasis = await oasisConnect(scheduler, a, oasisHost, 80);
      expect(oasis.trace).toEqual(linux.trace);
      expect(oasis.error).toEqual(linux.error);
      expect(Math.abs(oasis.ms - linux.ms)).toBeLessThan(500);
    }
  }, 30_000);

  it('ETIMEDOUT when nothing answers the SYN: with two retries, 7 s on both', async () => {
    const { c, n2 } = topology({ forwarding: false });
    c.run('sysctl', '-qw', 'net.ipv4.tcp_syn_retries=2');
    const linux = await kernelConnect(c, n2.ip4(2), 80);
    const { scheduler, a } = twoHosts({ a: { gateway4: '10.0.0.2' }, tcp: { synRetries: 2 } });
    const oasis = await oasisConnect(scheduler, a, '10.9.9.9', 80);
    expect(oasis.trace).toEqual(linux.trace);
    expect(oasis.error).toEqual(linux.error);
    expect(Math.abs(oasis.ms - linux.ms)).toBeLessThan(500);
    expect(c.run('sysctl', '-n', 'net.ipv4.tcp_syn_retries').trim()).toBe('2');
  }, 30_000);

  it('ENETUNREACH from a router without a route: the same error', async () => {
    const { c } = topology({ forwarding: true });
    const linux = await kernelConnect(c, '10.9.9.9', 80);
    const { scheduler, a } = routed();
    const oasis = await oasisConnect(scheduler, a, '10.9.9.9', 80);
    expect({ ...oasis, ms: 0 }).toEqual({ ...linux, ms: 0 });
  });

  it('an established connection whose route goes away: read ENETUNREACH when it times out', async () => {
    const { c, r, s, n2 } = topology({ forwarding: true });
    c.run('sysctl', '-qw', 'net.ipv4.tcp_retries2=3');
    s.spawn(process.execPath, ['-e', "require('net').createServer((s) => s.resume()).listen(80)"]);
    await new Promise((resolve) => setTimeout(resolve, 300));
    const child = c.spawn(process.execPath, [
      '--input-type=module',
      '-e',
      KERNEL_CLIENT,
      n2.ip4(2),
      '80',
      'write',
    ]);
    let out = '';
    child.stdout?.on('data', (d: Buffer) => {
      out += d.toString();
    });
    await new Promise<void>((resolve) => child.stderr?.on('data', () => resolve()));
    // The router loses its route to the server: it answers the client's data with Net Unreachable.
    r.run('ip', 'route', 'del', n2.v4Prefix);
    await new Promise<void>((resolve) => child.on('close', () => resolve()));
    const linux = kernelOutcome(out, n2.ip4(2), 80);
    const { r: oasis } = await softError(0);
    expect(oasis.trace).toEqual(linux.trace);
    expect(oasis.error).toEqual(linux.error);
  }, 30_000);

  it("keep-alive after the route went away: read ETIMEDOUT at the same time (the probes' errors are out of window)", async () => {
    const { c, r, s, n2 } = topology({ forwarding: true });
    s.spawn(process.execPath, ['-e', "require('net').createServer((s) => s.resume()).listen(80)"]);
    await new Promise((resolve) => setTimeout(resolve, 300));
    const child = c.spawn(process.execPath, [
      '--input-type=module',
      '-e',
      KERNEL_CLIENT,
      n2.ip4(2),
      '80',
      'keepalive',
    ]);
    let out = '';
    child.stdout?.on('data', (d: Buffer) => {
      out += d.toString();
    });
    await new Promise<void>((resolve) => child.stderr?.on('data', () => resolve()));
    r.run('ip', 'route', 'del', n2.v4Prefix);
    await new Promise<void>((resolve) => child.on('close', () => resolve()));
    const linux = kernelOutcome(out, n2.ip4(2), 80);
    const { r: oasis } = await keepAliveLost();
    expect(oasis.trace).toEqual(linux.trace);
    expect(oasis.error).toEqual(linux.error);
    expect(Math.abs(oasis.ms - linux.ms)).toBeLessThan(500);
  }, 30_000);
});
