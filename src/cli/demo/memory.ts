/**
 * The in-process tour, for when the kernel cannot be the peer (no root, no /dev/net/tun, or
 * `--in-process`): two Oasis stacks on a memory link with the real clock — alice, the client, and
 * oasis, the server (HTTP on port 80, iperf3 on 5201) — take the TAP tour's steps with Oasis on both
 * ends: ARP, ping with fragments, NDP and ping6, a 20 MB HTTP GET and iperf3 both ways. Then the
 * router leg (routed-memory.ts): three more stacks, left — an Oasis router — right. Nothing
 * reaches a real network. The frames of the small steps are printed as alice's link sees them.
 */
import {
  type Ipv4Addr,
  type Ipv6Addr,
  ipv4ToString,
  type Mac,
  ipv6ToString,
  macToString,
  parseIpv4Addr,
  parseIpv6Addr,
} from '../../addr.js';
import { httpService } from '../../apps/http.js';
import { iperf3Client } from '../../apps/iperf3/client.js';
import { sides } from '../../apps/iperf3/report.js';
import { bitsPerSecond, sumSamples } from '../../apps/iperf3/results.js';
import { type Iperf3Server, iperf3Server } from '../../apps/iperf3/server.js';
import { formatFrame } from '../../format.js';
import { addresses, neighbour } from '../../ipv6/ndp.js';
import type { Link } from '../../link/link.js';
import { memoryPair } from '../../link/memory.js';
import { RealScheduler } from '../../link/real-clock.js';
import type { Interface } from '../../stack/iface.js';
import { Stack } from '../../stack/stack.js';
import { httpGet, nextServerTest, pings, rttText } from './clients.js';
import { routedLine, routerLeg } from './routed-memory.js';
import { OASIS4, OASIS6, PEER4, PEER6, PREFIX4, PREFIX6, Tour } from './tour.js';

const HTTP_BYTES = 20_000_000;
const IPERF3_SECONDS = 2;
/** Bounds each step, so a stuck step fails the tour instead of hanging it. */
const STEP_TIMEOUT_MS = 30_000;
/** Duplicate address detection takes 1–2 s (a random delay, then one solicitation and a second). */
const DAD_WAIT_MS = 10_000;

interface Host {
  readonly name: string;
  readonly stack: Stack;
  readonly iface: Interface;
}

/** Everything a step may use. */
interface Demo {
  readonly alice: Host;
  readonly oasis: Host;
  readonly wire: Wire;
  readonly tour: Tour;
  readonly iperf3: Iperf3Server;
  /** The ICMPv6 frames of the start (duplicate address detection, router solicitations). */
  readonly startup: readonly string[];
}

const v4 = (s: string): Ipv4Addr => parseIpv4Addr(s)!;
const v6 = (s: string): Ipv6Addr => parseIpv6Addr(s)!;

/** Shows the frames crossing alice's link while a step watches them, tcpdump-like. */
class Wire {
  private lines: string[] | undefined;
  private more = 0;
  private limit = 0;
  private only: (line: string) => boolean = () => true;

  constructor(link: Link) {
    link.capture = (frame, direction) => {
      if (this.lines === undefined) return;
      const line = formatFrame(frame);
      if (!this.only(line)) return;
      if (this.lines.length >= this.limit) return void this.more++;
      this.lines.push(`${direction === 'out' ? 'alice -> oasis' : 'oasis -> alice'}  ${line}`);
    };
  }

  /** Starts keeping the first `limit` frames (those `only` accepts), counting the rest. */
  watch(limit: number, only: (line: string) => boolean = () => true): void {
    this.lines = [];
    this.more = 0;
    this.limit = limit;
    this.only = only;
  }

  /** Stops watching; returns the lines kept, and how many more frames there were. */
  stop(): string[] {
    const lines = this.lines ?? [];
    if (this.more > 0) lines.push(`... and ${this.more} more`);
    this.lines = undefined;
    return lines;
  }
}

/** How much a counter grew on each host while `fn` ran. */
async function growth<T>(
  hosts: readonly Host[],
  key: string,
  fn: () => Promise<T>,
): Promise<{ result: T; by: number[] }> {
  const before = hosts.map((h) => h.stack.counters.get(key));
  const result = await fn();
  return { result, by: hosts.map((h, i) => h.stack.counters.get(key) - before[i]!) };
}

function fragmentsEachWay(sent: readonly number[], datagrams: number): string {
  const [out, back] = sent.map((n) => n / datagrams);
  return out === back ? `${out} fragments each way` : `${out} fragments out, ${back} back`;
}

function addressList(h: Host): string {
  const four = h.iface.ipv4.map((c) => `${ipv4ToString(c.address)}/${c.prefixLen}`);
  const six = addresses(h.iface.ndp).map((a) => `${ipv6ToString(a.address)}/${a.prefixLen} (${a.origin})`);
  return [...four, ...six].join(', ');
}

/** A neighbour cache entry (ARP or NDP) as `MAC state`. */
function cacheText(entry: { readonly state: string; readonly mac?: Mac } | undefined): string {
  if (entry === undefined) return 'no entry';
  return entry.mac === undefined ? entry.state : `${macToString(entry.mac)} ${entry.state}`;
}

async function arp({ alice, oasis, wire, tour }: Demo): Promise<string> {
  wire.watch(6);
  const rtts = await pings(3, 56, (o) => alice.stack.ipv4.ping(v4(OASIS4), o));
  for (const line of wire.stop()) tour.note(line);
  const requests = alice.iface.arp.counters['request-sent'];
  const replies = oasis.iface.arp.counters['reply-sent'];
  const entry = cacheText(alice.iface.arp.entries.get(v4(OASIS4)));
  return `${rtts.length}/3 replies; alice's ARP cache: ${OASIS4} at ${entry} (ARP requests from alice: ${requests}, replies from oasis: ${replies})`;
}

async function fragments({ alice, oasis, wire, tour }: Demo): Promise<string> {
  const parts: string[] = [];
  const rtts: number[] = [];
  wire.watch(4);
  for (const [size, count] of [
    [3000, 2],
    [60000, 1],
  ] as const) {
    const { result, by } = await growth([alice, oasis], 'ipv4/fragments-sent', () =>
      pings(count, size, (o) => alice.stack.ipv4.ping(v4(OASIS4), o)),
    );
    rtts.push(...result);
    parts.push(`${result.length}/${count} of ${size} bytes, ${fragmentsEachWay(by, count)}`);
  }
  for (const line of wire.stop()) tour.note(line);
  return `${parts.join('; ')}; ${rttText(rtts)}`;
}

async function ndp({ alice, oasis, wire, tour, startup }: Demo): Promise<string> {
  const both = [alice, oasis];
  for (const h of both) {
    const unsettled = addresses(h.iface.ndp).find((a) => a.state !== 'preferred');
    if (unsettled) throw new Error(`${h.name}: ${ipv6ToString(unsettled.address)} is ${unsettled.state}`);
  }
  const probes = both.map((h) => `${h.name} ${h.iface.ndp.counters['dad-ns-sent']}`).join(', ');
  const rs = both.map((h) => `${h.name} ${h.iface.ndp.counters['rs-sent']}`).join(', ');
  tour.note(`at the start, DAD: solicitations (${probes}) went unanswered, so every address is preferred;`);
  tour.note(`router solicitations (${rs}) too: no router on this link, so no SLAAC address.`);
  for (const line of startup) tour.note(line);
  tour.note(`then alice resolves ${OASIS6} and pings it:`);
  wire.watch(6);
  const rtts = await pings(3, 3000, (o) => alice.stack.ipv6.ping(v6(OASIS6), o));
  for (const line of wire.stop()) tour.note(line);
  const { by } = await growth(both, 'ipv6/fragments-sent', () =>
    pings(1, 60000, (o) => alice.stack.ipv6.ping(v6(OASIS6), o)),
  );
  const linkLocal = addresses(oasis.iface.ndp).find((a) => a.origin === 'link-local')!.address;
  await pings(1, 56, (o) => alice.stack.ipv6.ping(linkLocal, o));
  const entry = cacheText(neighbour(alice.iface.ndp, v6(OASIS6)));
  return (
    `${rtts.length}/3 replies of 3000 bytes; 1/1 of 60000, ${fragmentsEachWay(by, 1)}; ` +
    `1/1 from ${ipv6ToString(linkLocal)}; alice's neighbour cache: ${OASIS6} at ${entry}`
  );
}

async function http({ alice }: Demo): Promise<string> {
  const started = performance.now();
  const r = await httpGet(alice.stack, OASIS4, `/bytes/${HTTP_BYTES}`);
  const seconds = (performance.now() - started) / 1000;
  if (r.bytes !== HTTP_BYTES) throw new Error(`${r.bytes} bytes instead of ${HTTP_BYTES}`);
  if (r.header === undefined) throw new Error('no x-sha256 header');
  if (r.sha256 !== r.header) throw new Error('SHA-256 mismatch with x-sha256');
  const mbps = (r.bytes * 8) / seconds / 1e6;
  return `${r.bytes} bytes in ${seconds.toFixed(2)} s (${mbps.toFixed(0)} Mbit/s), SHA-256 verified against x-sha256`;
}

async function iperf3({ alice, iperf3: server }: Demo, reverse: boolean): Promise<string> {
  const served = nextServerTest(server);
  // Awaited below; until then a rejection must not count as unhandled.
  served.catch(() => undefined);
  const report = await iperf3Client(alice.stack, {
    host: OASIS4,
    time: IPERF3_SECONDS,
    reverse,
    timeoutMs: 10_000,
  });
  await served;
  const bps = bitsPerSecond(sumSamples(sides(report).received));
  if (!(bps > 0)) throw new Error('no data received');
  return `${(bps / 1e9).toFixed(2)} Gbit/s ${reverse ? 'oasis -> alice' : 'alice -> oasis'}`;
}

const STEPS: readonly (readonly [string, string, (d: Demo) => Promise<string>])[] = [
  ['ARP', `alice resolves ${OASIS4} and pings it`, arp],
  ['fragments', 'ping -s 3000 and -s 60000: fragmented by each side, reassembled by the other', fragments],
  [
    'NDP',
    `ping6 ${OASIS6} (-s 3000, -s 60000) and oasis's link-local address, after duplicate address detection`,
    ndp,
  ],
  [
    'HTTP',
    `alice GETs http://${OASIS4}/bytes/${HTTP_BYTES} (Node's http client and server on Oasis sockets)`,
    http,
  ],
  [
    'iperf3',
    `alice's iperf3 client -c ${OASIS4} -t ${IPERF3_SECONDS} against oasis's iperf3 server`,
    (d) => iperf3(d, false),
  ],
  [
    'iperf3 -R',
    `alice's iperf3 client -c ${OASIS4} -t ${IPERF3_SECONDS} -R against oasis's iperf3 server`,
    (d) => iperf3(d, true),
  ],
];

/** Runs the tour; `reason` says why the kernel is not the peer. Returns the exit code. */
export async function inProcessTour(reason: string): Promise<number> {
  console.log(
    `In-process tour, because ${reason}: two Oasis hosts on an in-process link, Oasis as its own peer\n` +
      '(as root with /dev/net/tun the peer is the Linux kernel), then two more through an Oasis router.\n' +
      'Nothing reaches a real network.\n',
  );
  const started = performance.now();
  const scheduler = new RealScheduler();
  const [aliceLink, oasisLink] = memoryPair(scheduler, { mtu: 1500, names: ['alice0', 'oasis0'] });
  const wire = new Wire(aliceLink);
  wire.watch(8, (line) => line.includes('ICMP6'));
  const host = (name: string, link: Link, seed: number, ip4: string, ip6: string): Host => {
    const stack = new Stack({
      scheduler,
      seed,
      onLog: (e) => console.log(`[${((e.time - started) / 1000).toFixed(3)} ${name}] ${e.message}`),
    });
    const iface = stack.addInterface({
      link,
      ipv4: [{ address: v4(ip4), prefixLen: PREFIX4 }],
      ipv6: [{ address: v6(ip6), prefixLen: PREFIX6 }],
    });
    return { name, stack, iface };
  };
  const alice = host('alice', aliceLink, 1, PEER4, PEER6);
  const oasis = host('oasis', oasisLink, 2, OASIS4, OASIS6);
  httpService(oasis.stack, 80);
  const server = iperf3Server(oasis.stack, 5201, { log: () => {} });
  // Built now so that its DAD and SLAAC happen during the first steps; its log is held until its turn.
  const line = routedLine(scheduler, started, (l) => console.log(l));
  const tour = new Tour();
  try {
    // Like `oasis up`, the hosts are ready once their IPv6 addresses have passed DAD.
    const tentative = () =>
      [alice, oasis].some((h) => addresses(h.iface.ndp).some((a) => a.state === 'tentative'));
    for (let waited = 0; tentative() && waited < DAD_WAIT_MS; waited += 50) {
      await new Promise((r) => setTimeout(r, 50));
    }
    const demo: Demo = { alice, oasis, wire, tour, iperf3: server, startup: wire.stop() };
    console.log(`\nalice, the client: mac ${macToString(alice.iface.mac)}, ${addressList(alice)}`);
    console.log(
      `oasis, the server (HTTP on 80, iperf3 on 5201): mac ${macToString(oasis.iface.mac)}, ${addressList(oasis)}`,
    );
    for (const [name, what, run] of STEPS) await tour.step(name, what, () => run(demo), STEP_TIMEOUT_MS);
    await routerLeg(line, tour, STEP_TIMEOUT_MS);
  } finally {
    server.close();
    await alice.stack.close();
    await oasis.stack.close();
    await line.close();
    scheduler.cancelAll();
  }
  return tour.summary(`Summary (in process, Oasis to Oasis: ${reason})`);
}
