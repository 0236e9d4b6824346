/**
 * The kernel tour's router leg (root): two more network namespaces, left and right, whose kernels
 * reach each other only through `oasis router`, run as a child process (node bin/oasis.js router)
 * with one TAP into each namespace. Left has static addresses; right a static IPv4 address and,
 * for IPv6, whatever its kernel configures by SLAAC from the router's Router Advertisements. Both
 * route by default through the router. Steps: `traceroute -n` from left to right, ping and ping6
 * through the router, kernel iperf3 from left to right, then a masqueraded fetch: the router's
 * `--config` file gains a masquerade, SIGHUP reloads it, right loses its route back to left, and left
 * still fetches a page from right, which sees the router's address; last the counters the router
 * prints on SIGINT. The namespaces and the config file are deleted at the end whatever happens; the
 * TAPs go with the router.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { oasisBin } from '../bin.js';
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
  Tour,
} from './tour.js';

const run = promisify(execFile);

/** The router answers once DAD of its IPv6 addresses is over (1–2 s). */
const READY_WAIT_MS = 15_000;
/** The right kernel's SLAAC: link-local DAD, a solicitation, the answer, DAD of the new address. */
const SLAAC_WAIT_MS = 10_000;
const STEP_TIMEOUT_MS = 30_000;
const IPERF3_SECONDS = 2;

/** A child process and what it printed so far. */
interface Child {
  readonly process: ChildProcess;
  readonly exited: Promise<number | null>;
  stdout: string;
  stderr: string;
}

function start(command: string, args: readonly string[]): Child {
  const p = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  const child: Child = {
    process: p,
    stdout: '',
    stderr: '',
    exited: new Promise((ok) => {
      p.on('close', (code) => ok(code));
      p.on('error', () => ok(null));
    }),
  };
  p.stdout?.on('data', (d: Buffer) => {
    child.stdout += d.toString();
  });
  p.stderr?.on('data', (d: Buffer) => {
    child.stderr += d.toString();
  });
  return child;
}

/** Stops `child` with `signal` unless it is gone, and waits (at most `ms`, then SIGKILL) for it. */
async function stop(child: Child, signal: NodeJS.Signals, ms: number): Promise<number | null> {
  if (child.process.exitCode === null && child.process.signalCode === null) child.process.kill(signal);
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<'late'>((ok) => {
    timer = setTimeout(() => ok('late'), ms);
  });
  const code = await Promise.race([child.exited, late]).finally(() => clearTimeout(timer));
  if (code !== 'late') return code;
  child.process.kill('SIGKILL');
  await child.exited;
  return null;
}

/** Polls `probe` every 50 ms until it gives a value; rejects with `what` after `ms`. */
async function waitFor<T>(what: string, ms: number, probe: () => Promise<T | undefined>): Promise<T> {
  const deadline = performance.now() + ms;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (performance.now() > deadline) throw new Error(`${what}: nothing after ${ms / 1000} s`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const lastLine = (text: string) => text.trim().split('\n').at(-1) ?? '';

interface Leg {
  readonly tour: Tour;
  readonly left: string;
  readonly right: string;
  readonly tapLeft: string;
  readonly tapRight: string;
  /** The namespaces made so far: deleted at the end. */
  readonly created: string[];
  /** The router's `--config` file (in a directory of its own, deleted at the end). */
  readonly config: string;
  router?: Child;
  iperf3?: Child;
  page?: Child;
}

const inNs = (ns: string, command: string, args: readonly string[], timeout = STEP_TIMEOUT_MS) =>
  run('ip', ['netns', 'exec', ns, command, ...args], { timeout, maxBuffer: 1 << 24 });

async function routerUp(leg: Leg): Promise<string> {
  const { left, right, tapLeft, tapRight } = leg;
  for (const ns of [left, right]) {
    await run('ip', ['netns', 'add', ns]);
    leg.created.push(ns);
    await run('ip', ['-n', ns, 'link', 'set', 'lo', 'up']);
  }
  // The kernel ends arrive in the namespaces after they are made and take their `default` settings:
  // left is configured by hand, right accepts advertisements and autoconfigures (RFC 4862 §5.5).
  await inNs(left, 'sysctl', ['-qw', 'net.ipv6.conf.default.accept_ra=0']);
  await inNs(right, 'sysctl', [
    '-qw',
    'net.ipv6.conf.default.accept_ra=1',
    'net.ipv6.conf.default.autoconf=1',
  ]);
  const args = [
    oasisBin(),
    'router',
    '--if',
    `${tapLeft},ip=${ROUTER_LEFT4}/${PREFIX4},ip6=${ROUTER_LEFT6}/${PREFIX6},netns=${left},host-ip=${LEFT4}/${PREFIX4},host-ip6=${LEFT6}/${PREFIX6}`,
    '--if',
    `${tapRight},ip=${ROUTER_RIGHT4}/${PREFIX4},ip6=${ROUTER_RIGHT6}/${PREFIX6},netns=${right},host-ip=${RIGHT4}/${PREFIX4},ra`,
    // Empty for now: the masqueraded fetch adds a masquerade to it and reloads it with SIGHUP.
    '--config',
    leg.config,
  ];
  writeFileSync(leg.config, '{}\n');
  leg.tour.note(`node bin/oasis.js ${args.slice(1).join(' ')}`);
  const started = performance.now();
  const router = start(process.execPath, args);
  leg.router = router;
  const ready = await waitFor('oasis router to print ready', READY_WAIT_MS, async () => {
    const line = router.stdout.split('\n').find((l) => l.startsWith('ready '));
    if (line !== undefined) return line;
    if (router.process.exitCode !== null)
      throw new Error(`oasis router exited with ${router.process.exitCode}`);
    return undefined;
  }).catch((e: Error) => {
    throw new Error(`${e.message} (its last log line: ${lastLine(router.stderr) || 'none'})`);
  });
  const seconds = (performance.now() - started) / 1000;
  leg.tour.note(ready);
  await run('ip', ['-n', left, 'route', 'add', 'default', 'via', ROUTER_LEFT4]);
  await run('ip', ['-n', left, '-6', 'route', 'add', 'default', 'via', ROUTER_LEFT6]);
  await run('ip', ['-n', right, 'route', 'add', 'default', 'via', ROUTER_RIGHT4]);
  leg.tour.note(`default routes: left via ${ROUTER_LEFT4} and ${ROUTER_LEFT6}, right via ${ROUTER_RIGHT4}`);
  leg.tour.note("(right's IPv6 default route is to come from the router's advertisements)");
  return `ready after ${seconds.toFixed(1)} s, kernel ends ${tapLeft} in left and ${tapRight} in right`;
}

/** `traceroute -n` output lines as [hop, first address]; lines without an address are skipped. */
export function tracerouteHops(output: string): [number, string][] {
  const hops: [number, string][] = [];
  for (const line of output.split('\n')) {
    const m = /^\s*(\d+)\s+(?:\*\s+)*([0-9a-f.:]+)\s/.exec(line);
    if (m) hops.push([Number(m[1]), m[2]!]);
  }
  return hops;
}

async function traceroute(leg: Leg): Promise<string> {
  // One probe at a time (-N 1), as the in-process traceroute does.
  const r = await inNs(leg.left, 'traceroute', ['-n', '-N', '1', '-m', '5', '-w', '2', RIGHT4]);
  for (const line of r.stdout.trimEnd().split('\n')) leg.tour.note(line);
  const hops = tracerouteHops(r.stdout).map(([, a]) => a);
  // RFC 1812 §4.3.2.4: the router's Time Exceeded comes from the interface the probe came in on.
  if (hops.join(' ') !== `${ROUTER_LEFT4} ${RIGHT4}`)
    throw new Error(`hops ${hops.join(' ') || 'none'}, expected ${ROUTER_LEFT4} then ${RIGHT4}`);
  return `hop 1 ${ROUTER_LEFT4} (Oasis: Time Exceeded), hop 2 ${RIGHT4} (right's kernel: Port Unreachable)`;
}

/** `ping` from left; checks every reply came after one hop (TTL / hop limit 64 less one). */
async function pingThrough(leg: Leg, target: string, v6: boolean): Promise<string> {
  const r = await inNs(leg.left, 'ping', [v6 ? '-6' : '-4', '-c', '3', '-i', '0.2', '-W', '2', target]);
  const received = Number(/(\d+) received/.exec(r.stdout)?.[1] ?? 0);
  const ttls = [...r.stdout.matchAll(/ttl=(\d+)/g)].map((m) => Number(m[1]));
  if (received !== 3) throw new Error(`${received}/3 replies`);
  // Linux sends with 64; RFC 1812 §5.3.1 and RFC 8200 §3: the router takes one off.
  if (ttls.some((t) => t !== 63)) throw new Error(`ttl ${ttls.join(', ')}, expected 63 after one hop`);
  const rtt = /rtt \S+ = (\S+)/.exec(r.stdout)?.[1] ?? '?';
  return `3/3 replies from ${target}, ${v6 ? 'hop limit' : 'ttl'} 63 (one hop); rtt min/avg/max/mdev ${rtt} ms`;
}

interface AddrInfo {
  readonly family: string;
  readonly local: string;
  readonly prefixlen: number;
  readonly scope: string;
  readonly dynamic?: boolean;
  readonly tentative?: boolean;
}

/** Right's SLAAC address in the advertised prefix and its RA-learnt default route, once both exist. */
async function rightSlaac(
  leg: Leg,
): Promise<{ address: string; prefixLen: number; via: string } | undefined> {
  const addrs = await run('ip', ['-n', leg.right, '-j', '-6', 'addr', 'show', 'dev', leg.tapRight]);
  const info = (JSON.parse(addrs.stdout) as { addr_info?: AddrInfo[] }[])[0]?.addr_info ?? [];
  const slaac = info.find(
    (a) =>
      a.family === 'inet6' &&
      a.scope === 'global' &&
      a.dynamic === true &&
      a.tentative !== true &&
      a.local.startsWith(RIGHT_PREFIX6.replace(/::$/, ':')),
  );
  if (slaac === undefined) return undefined;
  const routes = await run('ip', ['-n', leg.right, '-j', '-6', 'route', 'show', 'default']);
  const ra = (JSON.parse(routes.stdout) as { gateway?: string; protocol?: string }[]).find(
    (r) => r.protocol === 'ra',
  );
  if (ra?.gateway === undefined) return undefined;
  return { address: slaac.local, prefixLen: slaac.prefixlen, via: ra.gateway };
}

async function ping6(leg: Leg): Promise<string> {
  const slaac = await waitFor("right's SLAAC address", SLAAC_WAIT_MS, () => rightSlaac(leg));
  leg.tour.note(
    `right's kernel configured ${slaac.address}/${slaac.prefixLen} by SLAAC from Oasis's Router ` +
      `Advertisement of ${RIGHT_PREFIX6}/${PREFIX6},`,
  );
  leg.tour.note(`and its default route via the router's link-local ${slaac.via} (proto ra)`);
  return pingThrough(leg, slaac.address, true);
}

async function iperf3(leg: Leg): Promise<string> {
  // -1: the server exits after one test.
  const server = start('ip', ['netns', 'exec', leg.right, 'iperf3', '-s', '-1']);
  leg.iperf3 = server;
  // Its "Server listening" line sits in a stdio buffer when stdout is a pipe: ask the socket table.
  await waitFor('iperf3 -s in right to listen', 5_000, async () => {
    if (server.process.exitCode !== null) throw new Error(`iperf3 -s exited: ${lastLine(server.stderr)}`);
    const ss = await run('ip', ['netns', 'exec', leg.right, 'ss', '-ltnH', 'sport = :5201']);
    return ss.stdout.includes('5201') ? true : undefined;
  });
  const r = await inNs(leg.left, 'iperf3', ['-c', RIGHT4, '-t', String(IPERF3_SECONDS), '--json']);
  const end = (JSON.parse(r.stdout) as { end: { sum_received: { bits_per_second: number } } }).end;
  const bps = end.sum_received.bits_per_second;
  if (!(bps > 0)) throw new Error('no data received');
  return `${(bps / 1e9).toFixed(2)} Gbit/s left -> right through the Oasis router (kernel iperf3 at both ends)`;
}

/** Port of the page right serves to the masqueraded fetch. */
const FETCH_PORT = 8080;

/** A one-page HTTP server (node's own) that tells each client the address it came from. */
const PAGE_SERVER = `require('http').createServer((q, s) => s.end('hello from right; you came from ' + q.socket.remoteAddress + '\\n')).listen(${FETCH_PORT}, '${RIGHT4}', () => console.log('listening'))`;

/** GET the page; prints the body, or the error and exit 1. */
const PAGE_CLIENT = `require('http').get('http://${RIGHT4}:${FETCH_PORT}/', (r) => { let b = ''; r.on('data', (c) => (b += c)); r.on('end', () => console.log(b.trim())) }).on('error', (e) => { console.error(e.message); process.exit(1) })`;

/**
 * NAT by a reload: the config file gains `masquerade` (left behind the router's right address),
 * SIGHUP applies it without a restart, right's IPv4 default route goes, and left fetches a page
 * from right all the same: right answers the router's address, which the router translates back.
 */
async function masqueradedFetch(leg: Leg): Promise<string> {
  const router = leg.router!;
  writeFileSync(leg.config, `${JSON.stringify({ masquerade: [`${leg.tapLeft},${leg.tapRight}`] })}\n`);
  leg.tour.note(
    `${leg.config}: {"masquerade": ["${leg.tapLeft},${leg.tapRight}"]}, then SIGHUP to the router`,
  );
  router.process.kill('SIGHUP');
  const reloaded = await waitFor('the router to reload', 5_000, async () => {
    const line = router.stderr.split('\n').find((l) => /reload/.test(l));
    return line;
  });
  if (!/reloaded/.test(reloaded)) throw new Error(reloaded);
  leg.tour.note(reloaded.replace(/^\[[\d.]+\] /, 'router: '));
  await run('ip', ['-n', leg.right, 'route', 'del', 'default']);
  // Right has no way back to left's prefix now: only the masquerade can carry the fetch.
  const back = await run('ip', ['-n', leg.right, 'route', 'get', LEFT4]).then(
    (r) => r.stdout.trim(),
    (e: { stderr?: string }) => (e.stderr ?? '').trim(),
  );
  if (!/unreachable/i.test(back)) throw new Error(`right still has a route to ${LEFT4}: ${back}`);
  leg.tour.note(`right: ip route get ${LEFT4}: ${back}`);
  const server = start('ip', ['netns', 'exec', leg.right, process.execPath, '-e', PAGE_SERVER]);
  leg.page = server;
  await waitFor('the page server in right', 5_000, async () => {
    if (server.process.exitCode !== null)
      throw new Error(`the page server exited: ${lastLine(server.stderr)}`);
    return server.stdout.includes('listening') ? true : undefined;
  });
  const r = await inNs(leg.left, process.execPath, ['-e', PAGE_CLIENT]);
  const body = r.stdout.trim();
  leg.tour.note(`left: GET http://${RIGHT4}:${FETCH_PORT}/ -> ${body}`);
  if (!body.endsWith(`you came from ${ROUTER_RIGHT4}`))
    throw new Error(`right saw ${body || 'nothing'}, expected the router's ${ROUTER_RIGHT4}`);
  return `left fetched from right, which has no route back: right saw ${ROUTER_RIGHT4} (masquerade, loaded by SIGHUP)`;
}

/** The JSON `oasis router` prints on SIGINT (the part of it shown here). */
interface RouterStatus {
  readonly counters: Record<string, number>;
  readonly copiedPayloadBytes: number;
  readonly lentFramesCopied: number;
  readonly filter?: { readonly nat: { readonly translated: number } };
}

async function routerCounters(leg: Leg): Promise<string> {
  const router = leg.router!;
  const code = await stop(router, 'SIGINT', 5_000);
  if (code !== 0) throw new Error(`oasis router exited with ${code} on SIGINT: ${lastLine(router.stderr)}`);
  const json = router.stdout.slice(router.stdout.indexOf('\n{') + 1);
  const status = JSON.parse(json) as RouterStatus;
  const forwarded = status.counters['router/forwarded'] ?? 0;
  if (forwarded === 0) throw new Error('the router forwarded nothing');
  return (
    `exit 0; forwarded ${forwarded} frames (router/forwarded), Time Exceeded sent ` +
    `${status.counters['icmpv4/out-time-exceeded'] ?? 0}, copiedPayloadBytes ${status.copiedPayloadBytes}, ` +
    `lentFramesCopied ${status.lentFramesCopied}, NAT translated ${status.filter?.nat.translated ?? 0} packets`
  );
}

const STEPS: readonly (readonly [string, string, (leg: Leg) => Promise<string>])[] = [
  ['router up', 'oasis router with a TAP into each namespace, and default routes through it', routerUp],
  ['traceroute', `traceroute -n ${RIGHT4} in left: Oasis is hop 1`, traceroute],
  ['routed ping', `ping ${RIGHT4} in left, through Oasis`, (leg) => pingThrough(leg, RIGHT4, false)],
  [
    'routed ping6',
    "ping6 from left to the address right's kernel took by SLAAC from Oasis's advertisements",
    ping6,
  ],
  [
    'routed iperf3',
    `iperf3 -c ${RIGHT4} -t ${IPERF3_SECONDS} in left, to iperf3 -s in right, through Oasis`,
    iperf3,
  ],
  [
    'masqueraded fetch',
    `masquerade left behind ${ROUTER_RIGHT4} by SIGHUP; right loses its route back; left fetches from right`,
    masqueradedFetch,
  ],
  ['router', 'SIGINT to oasis router: its counters', routerCounters],
];

/**
 * Runs the router leg in namespaces named after `id`, deleting them whatever happens; prints its
 * own summary and returns its exit code (0 only if every step passed).
 */
export async function routerLeg(id: string): Promise<number> {
  const left = `oasis-demo-left-${id}`;
  const right = `oasis-demo-right-${id}`;
  const dir = mkdtempSync(join(tmpdir(), 'oasis-demo-'));
  const leg: Leg = {
    tour: new Tour(),
    config: join(dir, 'router.json'),
    left,
    right,
    // IFNAMSIZ: 15 characters; the side letter comes first so that truncation keeps them apart.
    tapLeft: `oademol${id}`.slice(0, 15),
    tapRight: `oademor${id}`.slice(0, 15),
    created: [],
  };
  let interrupted = false;
  const onSigint = () => {
    interrupted = true;
  };
  process.on('SIGINT', onSigint);
  console.log(
    `\nRouter leg: two more namespaces, ${left} (left: ${LEFT4}, ${LEFT6}) and\n` +
      `${right} (right: ${RIGHT4}, IPv6 by SLAAC), reach each other only through\n` +
      `oasis router (${ROUTER_LEFT4} | ${ROUTER_RIGHT4}), a child process with a TAP into each.`,
  );
  try {
    for (const [name, what, fn] of STEPS) {
      if (interrupted) break;
      const ok = await leg.tour.step(name, what, () => fn(leg), STEP_TIMEOUT_MS);
      // Without the router and the routes, no later step can work.
      if (!ok && name === 'router up') break;
    }
  } finally {
    process.off('SIGINT', onSigint);
    if (leg.iperf3) await stop(leg.iperf3, 'SIGTERM', 2_000);
    if (leg.page) await stop(leg.page, 'SIGTERM', 2_000);
    if (leg.router) await stop(leg.router, 'SIGINT', 5_000);
    for (const ns of leg.created) await run('ip', ['netns', 'del', ns]).catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
    if (leg.created.length > 0)
      console.log(`\nDeleted ${leg.created.join(' and ')} (the TAPs went with the router).`);
  }
  if (interrupted) console.log('Interrupted.');
  return leg.tour.summary('Summary (router leg: two kernels through oasis router)');
}
