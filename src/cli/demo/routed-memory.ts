/**
 * The in-process tour's router leg: three more Oasis stacks on two in-process links, left — router —
 * right, the router an Oasis `Router` (src/router/driver.ts). Left has static addresses and the
 * router as its gateways; right has a static IPv4 address and configures IPv6 by itself, by SLAAC
 * from the router's Router Advertisements. Steps: a traceroute from left to right (UDP probes with
 * TTL 1, 2: the router answers the first), ping and ping6 through the router, a TCP transfer through
 * it with its throughput, a masqueraded fetch (the router reloaded with a masquerade, right without
 * its route back), and the router's counters.
 */
import { createHash } from 'node:crypto';
import {
  type Ipv4Addr,
  type Ipv6Addr,
  ipv4ToString,
  ipv6ToString,
  macToString,
  parseIpv4Addr,
  parseIpv6Addr,
} from '../../addr.js';
import type { Scheduler } from '../../clock.js';
import { addresses, defaultRouter } from '../../ipv6/ndp.js';
import { memoryPair } from '../../link/memory.js';
import { Router } from '../../router/driver.js';
import type { Interface } from '../../stack/iface.js';
import type { LogEvent } from '../../stack/log.js';
import { RouteTable } from '../../stack/routes.js';
import { osSecret, Stack } from '../../stack/stack.js';
import { pings, rttText } from './clients.js';
import {
  LEFT4,
  LEFT6,
  PREFIX4,
  PREFIX6,
  RIGHT_PREFIX6,
  RIGHT4,
  ROUTER_LEFT4,
  ROUTER_LEFT6,
  ROUTER_RIGHT4,
  ROUTER_RIGHT6,
  type Tour,
} from './tour.js';
import { formatHop, TRACE_FIRST_PORT, traceroute4 } from './trace.js';

/** Bytes of the TCP transfer from left to right. */
export const ROUTED_TCP_BYTES = 20_000_000;
const TCP_PORT = 9;
/** Right's SLAAC: its link-local DAD, a solicitation, the router's answer, DAD of the new address. */
const SLAAC_WAIT_MS = 10_000;
/** Lines of the three stacks' logs held until the leg starts (the rest are counted). */
const HELD_LOG_LINES = 40;

const v4 = (s: string): Ipv4Addr => parseIpv4Addr(s)!;
const v6 = (s: string): Ipv6Addr => parseIpv6Addr(s)!;

export interface RoutedHost {
  readonly name: string;
  readonly stack: Stack;
  readonly iface: Interface;
}

/** The leg's network, built at the start of the tour so that DAD and SLAAC run meanwhile. */
export interface RoutedLine {
  readonly left: RoutedHost;
  readonly right: RoutedHost;
  readonly router: Router;
  /** The router's interfaces towards left and right. */
  readonly routerIfaces: readonly [Interface, Interface];
  /** Prints the log lines held so far, and every later one as it comes. */
  releaseLog(): void;
  close(): Promise<void>;
}

/**
 * Builds left — router — right on two in-process links of `scheduler`. Log lines are `[t name]
 * message` (t in seconds since `epoch`), held until `releaseLog`.
 */
export function routedLine(scheduler: Scheduler, epoch: number, print: (line: string) => void): RoutedLine {
  let held: string[] | undefined = [];
  let more = 0;
  const onLog = (name: string) => (e: LogEvent) => {
    const line = `[${((e.time - epoch) / 1000).toFixed(3)} ${name}] ${e.message}`;
    if (held === undefined) print(line);
    else if (held.length < HELD_LOG_LINES) held.push(line);
    else more++;
  };
  const [leftLink, routerLeftLink] = memoryPair(scheduler, { mtu: 1500, names: ['left0', 'router0'] });
  const [routerRightLink, rightLink] = memoryPair(scheduler, { mtu: 1500, names: ['router1', 'right0'] });
  const router = new Router({ scheduler, seed: 4, onLog: onLog('router') });
  const routerLeft = router.addInterface({
    link: routerLeftLink,
    ipv4: [{ address: v4(ROUTER_LEFT4), prefixLen: PREFIX4 }],
    ipv6: [{ address: v6(ROUTER_LEFT6), prefixLen: PREFIX6 }],
    ndpRouter: { advertise: false },
  });
  const routerRight = router.addInterface({
    link: routerRightLink,
    ipv4: [{ address: v4(ROUTER_RIGHT4), prefixLen: PREFIX4 }],
    ipv6: [{ address: v6(ROUTER_RIGHT6), prefixLen: PREFIX6 }],
    // RFC 4861 §6.2: the router advertises the right prefix, with L and A set (RFC 4862 §5.5.3).
    ndpRouter: {
      advertise: true,
      prefixes: [{ prefix: v6(RIGHT_PREFIX6), prefixLen: PREFIX6 }],
      mtu: 1500,
    },
  });
  const leftStack = new Stack({ scheduler, seed: 3, onLog: onLog('left') });
  const left = {
    name: 'left',
    stack: leftStack,
    iface: leftStack.addInterface({
      link: leftLink,
      ipv4: [{ address: v4(LEFT4), prefixLen: PREFIX4 }],
      ipv6: [{ address: v6(LEFT6), prefixLen: PREFIX6 }],
      gateway4: v4(ROUTER_LEFT4),
      gateway6: v6(ROUTER_LEFT6),
    }),
  };
  const rightStack = new Stack({ scheduler, seed: 5, onLog: onLog('right') });
  const right = {
    name: 'right',
    stack: rightStack,
    // No IPv6 address of its own beyond link-local: SLAAC gives it one (RFC 4862 §5.5).
    iface: rightStack.addInterface({
      link: rightLink,
      ipv4: [{ address: v4(RIGHT4), prefixLen: PREFIX4 }],
      gateway4: v4(ROUTER_RIGHT4),
    }),
  };
  return {
    left,
    right,
    router,
    routerIfaces: [routerLeft, routerRight],
    releaseLog() {
      const lines = held ?? [];
      held = undefined;
      for (const line of lines) print(line);
      if (more > 0) print(`... and ${more} more log lines`);
    },
    async close() {
      await leftStack.close();
      await rightStack.close();
      await router.close();
    },
  };
}

/** Right's address from SLAAC once it is preferred and right has a default router, else undefined. */
export function slaacAddress(h: RoutedHost): { address: Ipv6Addr; prefixLen: number } | undefined {
  if (defaultRouter(h.iface.ndp) === undefined) return undefined;
  return addresses(h.iface.ndp).find((a) => a.origin === 'slaac' && a.state === 'preferred');
}

async function traceStep(line: RoutedLine, tour: Tour): Promise<string> {
  const maxHops = 5;
  tour.note(
    `traceroute -n ${RIGHT4}, ${maxHops} hops max, 60 byte packets to UDP ports ${TRACE_FIRST_PORT}+`,
  );
  const hops = await traceroute4(line.left.stack, v4(RIGHT4), { maxHops, timeoutMs: 1000 });
  for (const hop of hops) tour.note(formatHop(hop));
  const who = hops.map((h) => (h.from === undefined ? '*' : ipv4ToString(h.from)));
  if (!hops.at(-1)?.reached) throw new Error(`${RIGHT4} not reached in ${maxHops} hops: ${who.join(' ')}`);
  // The router answers from the address of the interface the probe came in on (RFC 1812 §4.3.2.4).
  if (who.join(' ') !== `${ROUTER_LEFT4} ${RIGHT4}`)
    throw new Error(`hops ${who.join(' ')}, expected ${ROUTER_LEFT4} then ${RIGHT4}`);
  return `hop 1 ${ROUTER_LEFT4} (the router: Time Exceeded), hop 2 ${RIGHT4} (right: Port Unreachable)`;
}

async function pingStep(line: RoutedLine): Promise<string> {
  const ttls: number[] = [];
  const rtts = await pings(3, 56, async (o) => {
    const reply = await line.left.stack.ipv4.ping(v4(RIGHT4), o);
    if (reply !== undefined) ttls.push(reply.ttl);
    return reply;
  });
  // Oasis sends with TTL 64; RFC 1812 §5.3.1: the router takes one off.
  if (ttls.some((t) => t !== 63)) throw new Error(`TTLs ${ttls.join(', ')}, expected 63 after one hop`);
  return `3/3 replies from ${RIGHT4}, ttl 63 (64 less the router's hop); ${rttText(rtts)}`;
}

async function ping6Step(line: RoutedLine, tour: Tour): Promise<string> {
  const { right, left, router } = line;
  let slaac = slaacAddress(right);
  for (let waited = 0; slaac === undefined && waited < SLAAC_WAIT_MS; waited += 50) {
    await new Promise((r) => setTimeout(r, 50));
    slaac = slaacAddress(right);
  }
  if (slaac === undefined) throw new Error(`right has no SLAAC address after ${SLAAC_WAIT_MS / 1000} s`);
  const ras = router.stack.counters.get('icmpv6/out-router-advertisement');
  tour.note(
    `right configured ${ipv6ToString(slaac.address)}/${slaac.prefixLen} by SLAAC from the router's ` +
      `advertisements of ${RIGHT_PREFIX6}/${PREFIX6} (${ras} sent so far),`,
  );
  tour.note(
    `and its default route via the router's link-local ${ipv6ToString(defaultRouter(right.iface.ndp)!)}`,
  );
  const hops: number[] = [];
  const rtts = await pings(3, 56, async (o) => {
    const reply = await left.stack.ipv6.ping(slaac.address, o);
    if (reply !== undefined) hops.push(reply.hopLimit);
    return reply;
  });
  // RFC 8200 §3: the router decrements the hop limit by one.
  if (hops.some((h) => h !== 63)) throw new Error(`hop limits ${hops.join(', ')}, expected 63 after one hop`);
  return `3/3 replies from ${ipv6ToString(slaac.address)}, hop limit 63; ${rttText(rtts)}`;
}

/** 64 KiB of a byte pattern that differs from chunk to chunk, so a misplaced segment changes the hash. */
function patternChunk(index: number, length: number): Uint8Array {
  const chunk = new Uint8Array(length + ((4 - (length % 4)) % 4));
  const words = new Uint32Array(chunk.buffer);
  let x = (index * 2654435761) >>> 0;
  for (let i = 0; i < words.length; i++) {
    x = (Math.imul(x, 1664525) + 1013904223) >>> 0;
    words[i] = x;
  }
  return chunk.subarray(0, length);
}

/**
 * Sends `bytes` from `from` to a server on `to` that hashes what it receives and answers with the
 * count and SHA-256 when the sender closes. Resolves with both hashes and the time it took.
 */
export async function tcpTransfer(
  from: Stack,
  to: Stack,
  host: string,
  bytes: number,
): Promise<{ seconds: number; sentSha: string; reply: string }> {
  const server = to.tcp
    .createServer((s) => {
      const hash = createHash('sha256');
      let n = 0;
      s.on('data', (c: Buffer) => {
        n += c.length;
        hash.update(c);
      });
      s.on('end', () => s.end(`${n} ${hash.digest('hex')}`));
      s.on('error', () => s.destroy());
    })
    .listen(TCP_PORT);
  try {
    const started = performance.now();
    const sentHash = createHash('sha256');
    const reply = await new Promise<string>((resolve, reject) => {
      const socket = from.tcp.connect({ host, port: TCP_PORT });
      let answer = '';
      socket.on('data', (c: Buffer) => {
        answer += c.toString();
      });
      socket.on('end', () => resolve(answer));
      socket.on('error', reject);
      let sent = 0;
      let index = 0;
      const pump = () => {
        while (sent < bytes) {
          const chunk = patternChunk(index++, Math.min(65536, bytes - sent));
          sent += chunk.length;
          sentHash.update(chunk);
          if (!socket.write(chunk)) return void socket.once('drain', pump);
        }
        socket.end();
      };
      pump();
    });
    return { seconds: (performance.now() - started) / 1000, sentSha: sentHash.digest('hex'), reply };
  } finally {
    server.close();
  }
}

async function tcpStep(line: RoutedLine): Promise<string> {
  const r = await tcpTransfer(line.left.stack, line.right.stack, RIGHT4, ROUTED_TCP_BYTES);
  const [count, sha] = r.reply.split(' ');
  if (Number(count) !== ROUTED_TCP_BYTES)
    throw new Error(`right received ${count} bytes of ${ROUTED_TCP_BYTES}`);
  if (sha !== r.sentSha) throw new Error('SHA-256 mismatch');
  const gbps = (ROUTED_TCP_BYTES * 8) / r.seconds / 1e9;
  return `${ROUTED_TCP_BYTES} bytes left -> right in ${r.seconds.toFixed(2)} s: ${gbps.toFixed(2)} Gbit/s through the router, SHA-256 verified`;
}

/** Port of right's one-line server for the masqueraded fetch. */
const FETCH_PORT = 8080;

/**
 * NAT by a reload, as SIGHUP does in `oasis router`: the router masquerades left behind its right
 * address from now on, right loses its default route (so no way back to left's prefix), and left
 * fetches a line from right all the same: right answers the router, which translates back.
 */
async function masqueradeStep(line: RoutedLine, tour: Tour): Promise<string> {
  const [l, r] = line.routerIfaces;
  const refused = line.router.reloadFilter({ masquerade: [{ inside: l.name, outside: r.name }] }, osSecret());
  if (refused !== undefined) throw new Error(refused);
  tour.note(
    `the router reloaded with masquerade ${l.name},${r.name}: left's flows leave as ${ROUTER_RIGHT4}`,
  );
  const routes = line.right.stack.routes4;
  if (routes instanceof RouteTable) routes.remove(0 as Ipv4Addr, 0);
  if (line.right.stack.ipv4.route(v4(LEFT4)) !== undefined)
    throw new Error(`right still has a route to ${LEFT4}`);
  tour.note(`right's default route deleted: right has no route to ${LEFT4}`);
  const server = line.right.stack.tcp
    .createServer((s) => s.end(`hello from right; you came from ${s.remoteAddress}`))
    .listen(FETCH_PORT);
  try {
    const body = await new Promise<string>((resolve, reject) => {
      const socket = line.left.stack.tcp.connect({ host: RIGHT4, port: FETCH_PORT });
      let text = '';
      socket.on('data', (c: Buffer) => {
        text += c.toString();
      });
      socket.on('end', () => resolve(text));
      socket.on('error', reject);
    });
    tour.note(`left: connect ${RIGHT4}:${FETCH_PORT} -> ${body}`);
    if (!body.endsWith(`you came from ${ROUTER_RIGHT4}`))
      throw new Error(`right saw ${body || 'nothing'}, expected the router's ${ROUTER_RIGHT4}`);
  } finally {
    server.close();
  }
  return `left fetched from right, which has no route back: right saw ${ROUTER_RIGHT4} (masquerade, reloaded)`;
}

async function routerStep(line: RoutedLine): Promise<string> {
  const c = line.router.stack.counters;
  const forwarded = c.get('router/forwarded');
  const expired = c.get('router/ttl-expired');
  if (forwarded === 0) throw new Error('the router forwarded nothing');
  const nat = (line.router.filterStats() as { nat?: { translated: number } } | undefined)?.nat;
  return (
    `forwarded ${forwarded} frames (router/forwarded), answered ${expired} with Time Exceeded, ` +
    `copiedPayloadBytes ${line.router.copiedPayloadBytes}, NAT translated ${nat?.translated ?? 0} packets`
  );
}

export const ROUTED_STEPS: readonly (readonly [
  string,
  string,
  (line: RoutedLine, tour: Tour) => Promise<string>,
])[] = [
  [
    'traceroute',
    `left traces the path to ${RIGHT4}: UDP probes with TTL 1, 2, ..., and who answers`,
    traceStep,
  ],
  ['routed ping', `left pings ${RIGHT4} through the router`, pingStep],
  ['routed ping6', "left pings right's IPv6 address, which right configured by SLAAC", ping6Step],
  [
    'routed TCP',
    `left sends ${ROUTED_TCP_BYTES} bytes to right over TCP through the router, hashed at both ends`,
    tcpStep,
  ],
  [
    'masqueraded fetch',
    `the router masquerades left behind ${ROUTER_RIGHT4}; right loses its route back; left fetches from right`,
    masqueradeStep,
  ],
  ['router', "the router's counters", routerStep],
];

/** Announces the leg, prints the stacks' logs so far and runs its steps on `tour`. */
export async function routerLeg(line: RoutedLine, tour: Tour, stepTimeoutMs: number): Promise<void> {
  const [l, r] = line.routerIfaces;
  console.log(
    `\nRouter leg: three more Oasis stacks on two in-process links: left (${LEFT4}, ${LEFT6})\n` +
      `<-> router (${ROUTER_LEFT4} | ${ROUTER_RIGHT4}) <-> right (${RIGHT4}, IPv6 by SLAAC from the router).` +
      `\nThe router's MACs: ${macToString(l.mac)} towards left, ${macToString(r.mac)} towards right.`,
  );
  line.releaseLog();
  for (const [name, what, run] of ROUTED_STEPS)
    await tour.step(name, what, () => run(line, tour), stepTimeoutMs);
}
