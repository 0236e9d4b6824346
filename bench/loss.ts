/**
 * TCP under loss (issue #10): Oasis beside Linux on one routed path, same run, same machine.
 *
 *   C (client) --veth-- R (Linux router, forwarding) --veth-- S (kernel `iperf3 -s`, python HTTP)
 *                        R --TAP-- `oasis up --iperf3 --http 80` (CUBIC, the default)
 *                        R --TAP-- `oasis up --iperf3 --cc bbr`
 *
 * nftables in R drops a share of the IPv4 frames at each of R's ingress hooks (netdev family,
 * `numgen random mod 100 < N drop`; this kernel has no netem): a frame lost there has left its sender,
 * so the sender's TCP must find out, as on a real path. Loss 0, 1 and 3 %. Every veth end and the
 * TAP's kernel end run with offloads off (tx, rx, sg, tso, gso, gro); Oasis opens its TAP without
 * vnet headers (`--no-offload` where the build has offloads), so it has none either. MTU 1500.
 * - iperf3 3.12 from C, both directions (`-R`: the server sends), OASIS_LOSS_SECONDS (5) per run, the
 *   median of OASIS_LOSS_REPEAT (3) runs made in rounds that visit every case once; Gbit/s at the
 *   receiver and iperf3's `sum_sent.retransmits`.
 * - Every cell twice, with the sender running CUBIC and BBR (`iperf3 -C` sets Linux's side, on the
 *   client or, with -R, on the kernel server; Oasis sends with the algorithm its process runs): the
 *   issue's Linux figures were the kernel's default here, BBR, which random loss does not slow, and
 *   CUBIC under the same loss keeps a few percent — only the same algorithm on both sides compares.
 * - Per server, algorithm and direction the share of its own clean throughput kept at 1 and 3 %, and
 *   the issue's goals: the Oasis sender keeps ≥ 0.8× the share Linux keeps, the Oasis receiver ≥ 0.9×.
 * - curl from C: 50 MB GET and POST through 3 % loss against Oasis (`/bytes/N`, `POST /sha256`) and a
 *   python3 server in S doing the same; seconds reported, SHA-256 checked, nothing asserted.
 * Writes bench/results/loss.json, or `{ skipped }` where TAPs cannot be made.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { cpus, release, tmpdir } from 'node:os';
import { join } from 'node:path';
import { NetNs, uniqueIfName, waitFor } from '../test/support/netns.js';
import { curlGet, curlPost, sha256File } from '../test/support/routed.js';
import { iperf3Server, offloadsOff, ping } from '../test/support/topology.js';
import { cpuModel, type Failed, median, type TcpFigure, value, withCpu } from './measure.js';
import { brief, type ChartGroup, fmt, type Goal, isRecord, round, table } from './summary.js';
import { message, type OasisProcess, offloadFeatures, sleep, startOasis, systemBench } from './system.js';

const MTU = 1500;
export const LOSSES = [0, 1, 3] as const;
const CURL_LOSS = 3;
const CURL_BYTES = 50_000_000;
/**
 * Per curl transfer: the Oasis GET through 3 % loss took 30-39 s here (31-35 s in
 * test/interop/tcp-routed.test.ts); past this it is reported as failed, to keep the bench near 6 minutes.
 */
const CURL_MS = 90_000;
const BUSY_TRIES = 10;
const TABLE = 'oasis_loss';
/** The subnets, inside the namespaces made here only: C–R, R–S and R–Oasis (a TAP per algorithm). */
const NET = { client: '10.93.1', linux: '10.93.2', cubic: '10.93.3', bbr: '10.93.4' } as const;
const LINUX_SERVER = `${NET.linux}.2`;

/** The goals: the share of its clean throughput Oasis keeps, over the share Linux keeps. */
export const TARGET = { sender: 0.8, receiver: 0.9 } as const;

export type Server = 'linux' | 'oasis';
/** `server-sends` is `iperf3 -c -R` (Oasis, as the server, is the sender). */
export type Direction = 'server-sends' | 'server-receives';
/** The sender's congestion control. */
export type Algorithm = 'cubic' | 'bbr';
export const SERVERS: readonly Server[] = ['linux', 'oasis'];
export const DIRECTIONS: readonly Direction[] = ['server-sends', 'server-receives'];
export const ALGORITHMS: readonly Algorithm[] = ['cubic', 'bbr'];
/** Every cell of a round, for each loss level. */
const CELLS = SERVERS.flatMap((server) =>
  ALGORITHMS.flatMap((algorithm) => DIRECTIONS.map((direction) => [server, algorithm, direction] as const)),
);

/** IPv4 frames that reached R's ingress hooks, and those the rules dropped. */
export interface FrameCount {
  readonly ipv4: number;
  readonly dropped: number;
}

export interface LossFigure extends TcpFigure {
  /** Runs that failed (timeouts, iperf3 errors); the median is over the others. */
  readonly failedRuns?: readonly string[];
}

export interface LossCell {
  readonly server: Server;
  readonly direction: Direction;
  readonly algorithm: Algorithm;
  readonly lossPercent: number;
  readonly figure: LossFigure | Failed;
  /** Over every run of the cell; the drop share actually applied. */
  readonly frames?: FrameCount;
}

export interface Share {
  readonly server: Server;
  readonly direction: Direction;
  readonly algorithm: Algorithm;
  readonly lossPercent: number;
  /** Gbit/s at this loss over Gbit/s at 0 %, or null when either is missing. */
  readonly share: number | null;
}

export interface LossGoal {
  /** Oasis's role: the sender when the server sends. */
  readonly role: 'sender' | 'receiver';
  /** The sender's algorithm, on both sides. */
  readonly algorithm: Algorithm;
  readonly lossPercent: number;
  readonly oasisShare: number | null;
  readonly linuxShare: number | null;
  /** oasisShare / linuxShare. */
  readonly ratio: number | null;
  readonly target: number;
  readonly met: boolean | null;
}

export interface CurlFigure {
  readonly seconds: number;
  readonly bytes: number;
  /** SHA-256 of what arrived equals what was sent. */
  readonly intact: boolean;
  readonly frames: FrameCount;
}

export interface CurlSide {
  readonly get: CurlFigure | Failed;
  readonly post: CurlFigure | Failed;
}

export interface LossResults {
  readonly date: string;
  readonly cpuModel: string;
  readonly cpus: number;
  readonly kernel: string;
  readonly node: string;
  readonly iperf3: string;
  /** The checkout measured: HEAD, `+dirty` when files differ from it (other work in progress). */
  readonly commit: string;
  readonly mtu: number;
  readonly seconds: number;
  readonly repeat: number;
  readonly losses: readonly number[];
  readonly path: string;
  readonly offloads: { readonly veth: string; readonly tap: string };
  readonly cells: readonly LossCell[];
  readonly shares: readonly Share[];
  readonly goals: readonly LossGoal[];
  /** The kernel's default congestion control in the server namespace (what the issue measured). */
  readonly linuxCongestion?: string;
  readonly curl: {
    readonly lossPercent: number;
    readonly bytes: number;
    readonly oasis: CurlSide | Failed;
    readonly linux: CurlSide | Failed;
  };
  /** Oasis's TCP counters that are not zero when it stopped, per process (every run together). */
  readonly oasisTcpCounters?: Partial<Record<Algorithm, Record<string, number>>>;
}

// ---- pure helpers ----

/** The nft commands that install the drop rules on every device's ingress hook (`pct` 0: count only). */
export function dropRules(devices: readonly string[], pct: number): string[] {
  if (!Number.isInteger(pct) || pct < 0 || pct > 100) throw new Error(`loss: not a whole percent: ${pct}`);
  // The first counter sees every IPv4 frame, the second only those dropped: their ratio is the loss
  // actually applied. ARP and IPv6 pass untouched, so neighbours stay resolved.
  const verdict = pct === 0 ? '' : ` numgen random mod 100 < ${pct} counter drop`;
  return [
    `add table netdev ${TABLE}`,
    ...devices.flatMap((dev, i) => [
      `add chain netdev ${TABLE} in${i} { type filter hook ingress device "${dev}" priority 0 ; }`,
      `add rule netdev ${TABLE} in${i} meta protocol ip counter${verdict}`,
    ]),
  ];
}

/** Sums the two counters of each rule in `nft -j list table` output. */
export function frameCount(listing: unknown): FrameCount {
  let ipv4 = 0;
  let dropped = 0;
  const objects = isRecord(listing) && Array.isArray(listing.nftables) ? listing.nftables : [];
  for (const o of objects) {
    const rule = isRecord(o) && isRecord(o.rule) ? o.rule : undefined;
    const expr = rule !== undefined && Array.isArray(rule.expr) ? rule.expr : [];
    const counters = expr
      .filter(isRecord)
      .flatMap((x) =>
        isRecord(x.counter) && typeof x.counter.packets === 'number' ? [x.counter.packets] : [],
      );
    ipv4 += counters[0] ?? 0;
    dropped += counters[1] ?? 0;
  }
  return { ipv4, dropped };
}

function gbpsOf(
  cells: readonly LossCell[],
  s: Server,
  a: Algorithm,
  d: Direction,
  loss: number,
): number | undefined {
  const cell = cells.find(
    (c) => c.server === s && c.algorithm === a && c.direction === d && c.lossPercent === loss,
  );
  return value(cell?.figure)?.gbps;
}

/** For every server, algorithm, direction and loss above zero: the share of its own clean throughput kept. */
export function sharesOf(cells: readonly LossCell[], losses: readonly number[] = LOSSES): Share[] {
  return SERVERS.flatMap((server) =>
    ALGORITHMS.flatMap((algorithm) =>
      DIRECTIONS.flatMap((direction) =>
        losses
          .filter((l) => l > 0)
          .map((lossPercent) => {
            const clean = gbpsOf(cells, server, algorithm, direction, 0);
            const lossy = gbpsOf(cells, server, algorithm, direction, lossPercent);
            const share =
              clean === undefined || lossy === undefined || clean === 0 ? null : round(lossy / clean);
            return { server, algorithm, direction, lossPercent, share };
          }),
      ),
    ),
  );
}

/** The goals from the shares: Oasis's share over Linux's, per role, algorithm and loss. */
export function lossGoals(shares: readonly Share[]): LossGoal[] {
  const at = (s: Server, a: Algorithm, d: Direction, l: number) =>
    shares.find((x) => x.server === s && x.algorithm === a && x.direction === d && x.lossPercent === l)
      ?.share ?? null;
  const losses = [...new Set(shares.map((s) => s.lossPercent))].sort((a, b) => a - b);
  return (['sender', 'receiver'] as const).flatMap((role) =>
    ALGORITHMS.flatMap((algorithm) =>
      losses.map((lossPercent) => {
        const d: Direction = role === 'sender' ? 'server-sends' : 'server-receives';
        const oasisShare = at('oasis', algorithm, d, lossPercent);
        const linuxShare = at('linux', algorithm, d, lossPercent);
        const ratio =
          oasisShare === null || linuxShare === null || linuxShare === 0
            ? null
            : round(oasisShare / linuxShare);
        const target = TARGET[role];
        return {
          role,
          algorithm,
          lossPercent,
          oasisShare,
          linuxShare,
          ratio,
          target,
          met: ratio === null ? null : ratio >= target,
        };
      }),
    ),
  );
}

// ---- the path ----

interface Path {
  readonly c: NetNs;
  readonly r: NetNs;
  readonly s: NetNs;
  /** R's ends of the two veth pairs. */
  readonly rToC: string;
  readonly rToS: string;
  readonly cDev: string;
  /** Oasis's TAPs, in R, one per algorithm; made by `oasis up`. */
  readonly taps: Record<Algorithm, string>;
  delete(): void;
}

function createPath(): Path {
  const spaces: NetNs[] = [];
  const del = () => {
    for (const ns of spaces) ns.delete();
  };
  try {
    const [c, r, s] = [NetNs.create(), NetNs.create(), NetNs.create()];
    spaces.push(c, r, s);
    const [rToC, cDev, rToS, sDev] = [uniqueIfName(), uniqueIfName(), uniqueIfName(), uniqueIfName()];
    r.run('sysctl', '-qw', 'net.ipv4.ip_forward=1');
    for (const [far, near, farDev, net] of [
      [c, rToC, cDev, NET.client],
      [s, rToS, sDev, NET.linux],
    ] as const) {
      r.run(
        'ip',
        'link',
        'add',
        near,
        'mtu',
        `${MTU}`,
        'type',
        'veth',
        'peer',
        'name',
        farDev,
        'netns',
        far.name,
      );
      far.run('ip', 'link', 'set', farDev, 'mtu', `${MTU}`);
      for (const [ns, dev, host] of [
        [r, near, 1],
        [far, farDev, 2],
      ] as const) {
        offloadsOff(ns, dev);
        ns.run('ip', 'addr', 'add', `${net}.${host}/24`, 'dev', dev);
        ns.run('ip', 'link', 'set', dev, 'up');
      }
      far.run('ip', 'route', 'add', 'default', 'via', `${net}.1`);
    }
    return { c, r, s, rToC, rToS, cDev, taps: { cubic: uniqueIfName(), bbr: uniqueIfName() }, delete: del };
  } catch (e) {
    del();
    throw e;
  }
}

/** The drop rules in R, replaced for each measurement so that their counters are the measurement's. */
class Dropper {
  private installed = false;

  constructor(
    private readonly r: NetNs,
    private readonly devices: readonly string[],
  ) {}

  set(pct: number): void {
    this.clear();
    for (const cmd of dropRules(this.devices, pct)) this.r.run('nft', cmd);
    this.installed = true;
  }

  count(): FrameCount {
    return frameCount(JSON.parse(this.r.run('nft', '-j', 'list', 'table', 'netdev', TABLE)));
  }

  clear(): void {
    if (!this.installed) return;
    this.r.run('nft', 'delete', 'table', 'netdev', TABLE);
    this.installed = false;
  }
}

// ---- measurements ----

let started = performance.now();

/** A progress line with the seconds since the bench started. */
function log(text: string): void {
  console.log(`loss [${Math.round((performance.now() - started) / 1000)} s]: ${text}`);
}

/** `f`'s figure, logged; a failure is logged and kept as `Failed`. */
async function logged<T>(what: string, f: () => Promise<T>): Promise<T | Failed> {
  log(`${what}...`);
  try {
    const v = await f();
    log(`${what}: ${JSON.stringify(v)}`);
    return v;
  } catch (e) {
    log(`${what} failed: ${message(e)}`);
    return { error: message(e) };
  }
}

interface IperfDoc {
  end?: { sum_received?: { bits_per_second?: number }; sum_sent?: { retransmits?: number } };
  error?: string;
}

type Run = Omit<TcpFigure, 'runs'>;

/** One iperf3 run from C against `dst`, with the CPU used meanwhile; throws when it fails. */
async function iperf3Run(
  c: NetNs,
  dst: string,
  reverse: boolean,
  seconds: number,
  pid: number | undefined,
  extra: readonly string[],
): Promise<Run> {
  const args = ['-c', dst, '-t', `${seconds}`, '-J', '--connect-timeout', '5000', ...(reverse ? ['-R'] : [])];
  args.push(...extra);
  // A server still closing the last test answers "busy": give it up to BUSY_TRIES seconds.
  for (let tries = 1; ; tries++) {
    const { value: r, ...cpu } = await withCpu(pid, () => c.exec('iperf3', args, (seconds + 25) * 1000));
    let doc: IperfDoc;
    try {
      doc = JSON.parse(r.stdout || '{}') as IperfDoc;
    } catch {
      doc = { error: `no JSON (exit ${r.code}): ${r.stderr.trim() || r.stdout.slice(0, 200)}` };
    }
    const bps = doc.end?.sum_received?.bits_per_second;
    if (doc.error?.includes('busy') && tries < BUSY_TRIES) {
      await sleep(1000);
      continue;
    }
    if (r.code !== 0 || bps === undefined || doc.error !== undefined)
      throw new Error(doc.error ?? (r.stderr.trim() || `exit ${r.code}`));
    const retr = doc.end?.sum_sent?.retransmits;
    return { gbps: round(bps / 1e9), ...(retr === undefined ? {} : { retransmits: retr }), ...cpu };
  }
}

/** The median run by Gbit/s, with every run's figure and the failures beside it. */
function figureOf(runs: readonly Run[], failed: readonly string[]): LossFigure | Failed {
  if (runs.length === 0) return { error: `every run failed: ${failed.join('; ')}` };
  return {
    ...median(runs, (x) => x.gbps),
    runs: runs.map((x) => x.gbps),
    ...(failed.length > 0 ? { failedRuns: [...failed] } : {}),
  };
}

/** The Linux side of the curl test: GET /bytes/N with x-sha256 and POST /sha256, like Oasis's server. */
const HTTP_SERVER = `
import hashlib, os, sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
size = int(sys.argv[1])
data = os.urandom(size)
digest = hashlib.sha256(data).hexdigest()
class Handler(BaseHTTPRequestHandler):
    protocol_version = 'HTTP/1.1'
    def log_message(self, *args):
        pass
    def do_GET(self):
        if self.path != '/bytes/%d' % size:
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header('content-length', str(size))
        self.send_header('x-sha256', digest)
        self.end_headers()
        self.wfile.write(data)
    def do_POST(self):
        n = int(self.headers.get('content-length', '0'))
        h = hashlib.sha256()
        left = n
        while left > 0:
            chunk = self.rfile.read(min(left, 1 << 20))
            if not chunk:
                break
            h.update(chunk)
            left -= len(chunk)
        body = ('%s  %d\\n' % (h.hexdigest(), n - left)).encode()
        self.send_response(200)
        self.send_header('content-length', str(len(body)))
        self.end_headers()
        self.wfile.write(body)
ThreadingHTTPServer(('0.0.0.0', 80), Handler).serve_forever()
`;

/** GET and POST of CURL_BYTES from C through CURL_LOSS % loss, each with the frames R saw. */
async function curlSide(
  name: string,
  c: NetNs,
  dropper: Dropper,
  server: string,
  upload: { file: string; sha: string },
): Promise<CurlSide> {
  const get = await logged(`${name} curl GET ${CURL_BYTES} B through ${CURL_LOSS} %`, async () => {
    dropper.set(CURL_LOSS);
    const g = await curlGet(c, `http://${server}/bytes/${CURL_BYTES}`, CURL_MS);
    return {
      seconds: round(g.seconds),
      bytes: g.length,
      intact: g.status === 200 && g.length === CURL_BYTES && g.bodySha === g.headerSha,
      frames: dropper.count(),
    };
  });
  const post = await logged(`${name} curl POST ${CURL_BYTES} B through ${CURL_LOSS} %`, async () => {
    dropper.set(CURL_LOSS);
    const p = await curlPost(c, `http://${server}/sha256`, upload.file, CURL_MS);
    return {
      seconds: round(p.seconds),
      bytes: p.length,
      intact: p.sha === upload.sha && p.length === CURL_BYTES,
      frames: dropper.count(),
    };
  });
  return { get, post };
}

function whole(name: string, fallback: number): number {
  const raw = process.env[name];
  const n = raw === undefined ? fallback : Number(raw);
  if (!Number.isInteger(n) || n < 1) throw new Error(`${name}: not a whole number ≥ 1: ${raw}`);
  return n;
}

export function run(): Promise<unknown> {
  return systemBench(
    'loss',
    ['iperf3', 'nft', 'ethtool', 'ss', 'ping', 'curl', 'python3', 'sha256sum'],
    measure,
  );
}

async function measure(): Promise<LossResults> {
  started = performance.now();
  // iperf3 takes whole seconds.
  const seconds = whole('OASIS_LOSS_SECONDS', 5);
  const repeat = whole('OASIS_LOSS_REPEAT', 3);
  const cells: LossCell[] = [];
  let curlOasis: CurlSide | Failed = { error: 'not run' };
  let curlLinux: CurlSide | Failed = { error: 'not run' };
  let vethFeatures = '?';
  let tapFeatures = '?';
  let oasisOffloads = '?';
  let linuxCongestion = '?';
  const oasis: Partial<Record<Algorithm, OasisProcess>> = {};
  const oasisTcpCounters: Partial<Record<Algorithm, Record<string, number>>> = {};
  let dir: string | undefined;
  const path = createPath();
  try {
    vethFeatures = offloadFeatures(path.r, path.rToC);
    const { c, r, s } = path;
    // Offloads off on both sides, as the issue compares them (and a TSO super-frame dropped at the
    // TAP's ingress would lose dozens of segments at once).
    oasisOffloads = 'oasis up --no-offload (TAP without vnet headers: no TSO/GSO, no checksum offload)';
    linuxCongestion = s.run('sysctl', '-n', 'net.ipv4.tcp_congestion_control').trim();
    await iperf3Server(s);
    for (const algorithm of ALGORITHMS) {
      const tap = path.taps[algorithm];
      const net = NET[algorithm];
      oasis[algorithm] = await startOasis(r, [
        ...['up', '--tap', tap, '--ip', `${net}.2/24`, '--host-ip', `${net}.1/24`, '--gateway', `${net}.1`],
        ...['--mtu', `${MTU}`, '--iperf3', '--http', '80', '--no-offload', '--cc', algorithm],
      ]);
      offloadsOff(r, tap);
    }
    tapFeatures = offloadFeatures(r, path.taps.cubic);
    // Neighbours resolved on every hop before anything is timed.
    for (const target of [LINUX_SERVER, ...ALGORITHMS.map((a) => `${NET[a]}.2`)]) {
      const p = await ping(c, target, ['-c', '3', '-i', '0.2', '-W', '1']);
      if (p.received === 0) throw new Error(`no path from C to ${target}`);
    }
    const dropper = new Dropper(r, [path.rToC, path.rToS, ...ALGORITHMS.map((a) => path.taps[a])]);
    try {
      // Rounds outermost: each round runs every cell once, so that the machine's load, which other
      // work on it changes over minutes, weighs on the clean and the lossy cells alike.
      const acc = new Map<string, { runs: Run[]; failed: string[]; frames: FrameCount | undefined }>();
      for (let pass = 1; pass <= repeat; pass++) {
        for (const lossPercent of LOSSES) {
          for (const [server, algorithm, direction] of CELLS) {
            {
              const key = `${server} ${algorithm} ${direction} at ${lossPercent} %`;
              const a = acc.get(key) ?? { runs: [], failed: [], frames: { ipv4: 0, dropped: 0 } };
              acc.set(key, a);
              const dst = server === 'oasis' ? `${NET[algorithm]}.2` : LINUX_SERVER;
              const pid = server === 'oasis' ? oasis[algorithm]?.pid : undefined;
              dropper.set(lossPercent);
              try {
                const reverse = direction === 'server-sends';
                const run = await iperf3Run(c, dst, reverse, seconds, pid, ['-C', algorithm]);
                a.runs.push(run);
                log(`${key}, run ${pass}/${repeat}: ${JSON.stringify(run)}`);
              } catch (e) {
                a.failed.push(message(e));
                log(`${key}, run ${pass}/${repeat} failed: ${message(e)}`);
              }
              try {
                const f = dropper.count();
                if (a.frames !== undefined)
                  a.frames = { ipv4: a.frames.ipv4 + f.ipv4, dropped: a.frames.dropped + f.dropped };
              } catch (e) {
                a.frames = undefined;
                log(`nft counters unreadable: ${message(e)}`);
              }
            }
          }
        }
      }
      for (const lossPercent of LOSSES) {
        for (const [server, algorithm, direction] of CELLS) {
          const key = `${server} ${algorithm} ${direction} at ${lossPercent} %`;
          const a = acc.get(key)!;
          const figure = figureOf(a.runs, a.failed);
          log(`${key}: ${JSON.stringify(figure)}`);
          cells.push({
            server,
            algorithm,
            direction,
            lossPercent,
            figure,
            ...(a.frames === undefined ? {} : { frames: a.frames }),
          });
        }
      }

      dir = mkdtempSync(join(tmpdir(), 'oasis-loss-'));
      const file = join(dir, 'upload');
      writeFileSync(file, randomBytes(CURL_BYTES));
      const upload = { file, sha: await sha256File(file) };
      curlOasis = await curlSide('Oasis', c, dropper, `${NET.cubic}.2`, upload).catch((e: unknown) => ({
        error: message(e),
      }));
      try {
        const py = s.spawn('python3', ['-c', HTTP_SERVER, `${CURL_BYTES}`]);
        await waitFor(
          'python3 http server to listen',
          () => py.exitCode === null && s.run('ss', '-ltnH', 'sport = :80').includes(':80'),
          15_000,
        );
        curlLinux = await curlSide('Linux', c, dropper, LINUX_SERVER, upload);
      } catch (e) {
        curlLinux = { error: message(e) };
      }
    } finally {
      dropper.clear();
    }
    for (const algorithm of ALGORITHMS) {
      const stopped = oasis[algorithm];
      delete oasis[algorithm];
      const counters = await stopped
        ?.stop()
        .then(nonZeroTcp)
        .catch((e: unknown) => {
          log(`oasis up --cc ${algorithm} did not stop cleanly: ${message(e)}`);
          return undefined;
        });
      if (counters !== undefined) oasisTcpCounters[algorithm] = counters;
    }
  } finally {
    // Deleting the namespaces kills what was started in them (oasis, iperf3 -s, python3), by pid.
    path.delete();
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
  }

  const shares = sharesOf(cells);
  return {
    date: new Date().toISOString(),
    cpuModel: cpuModel(),
    cpus: cpus().length,
    kernel: release(),
    node: process.version,
    iperf3: /iperf ([\d.]+)/.exec(execFileSync('iperf3', ['--version'], { encoding: 'utf8' }))?.[1] ?? '?',
    commit: commit(),
    mtu: MTU,
    seconds,
    repeat,
    losses: [...LOSSES],
    path:
      'client namespace → Linux router namespace (forwarding; nftables netdev ingress drops on each of its ' +
      'interfaces) → kernel iperf3 -s behind a veth, or oasis up --iperf3 behind a TAP (one per algorithm)',
    offloads: {
      veth: `every veth end: ${vethFeatures}`,
      tap: `${oasisOffloads}; TAP kernel end: ${tapFeatures}`,
    },
    cells,
    shares,
    goals: lossGoals(shares),
    linuxCongestion,
    curl: { lossPercent: CURL_LOSS, bytes: CURL_BYTES, oasis: curlOasis, linux: curlLinux },
    oasisTcpCounters,
  };
}

function commit(): string {
  // GIT_OPTIONAL_LOCKS=0: `status` then leaves the index alone (others work in this checkout).
  const env = { ...process.env, GIT_OPTIONAL_LOCKS: '0' };
  const git = (...args: string[]) =>
    execFileSync('git', args, { encoding: 'utf8', stdio: 'pipe', env }).trim();
  try {
    const dirty = git('status', '--porcelain', '--untracked-files=no') !== '';
    return `${git('rev-parse', '--short', 'HEAD')}${dirty ? '+dirty' : ''}`;
  } catch {
    return '?';
  }
}

function nonZeroTcp(exit: Record<string, unknown>): Record<string, number> {
  const tcp = isRecord(exit.tcp) ? exit.tcp : {};
  return Object.fromEntries(
    Object.entries(tcp).filter((e): e is [string, number] => typeof e[1] === 'number' && e[1] !== 0),
  );
}

// ---- summary ----

function results(x: unknown): LossResults | undefined {
  // Cells without an algorithm come from before senders ran both algorithms: not readable here.
  return isRecord(x) &&
    Array.isArray(x.cells) &&
    Array.isArray(x.goals) &&
    isRecord(x.cells[0]) &&
    'algorithm' in x.cells[0]
    ? (x as unknown as LossResults)
    : undefined;
}

const DIRECTION_TEXT: Record<Direction, string> = {
  'server-sends': 'server sends (-R)',
  'server-receives': 'server receives',
};

export function chart(x: unknown): ChartGroup[] {
  const r = results(x);
  if (r === undefined) return [];
  return ALGORITHMS.flatMap((algorithm) =>
    DIRECTIONS.flatMap((direction) =>
      r.losses.map((lossPercent) => ({
        label: `routed, ${algorithm}, ${DIRECTION_TEXT[direction]}, ${lossPercent} % loss`,
        bars: (['oasis', 'linux'] as const).map((server) => ({
          series: server === 'oasis' ? ('Oasis' as const) : ('kernel' as const),
          gbps: gbpsOf(r.cells, server, algorithm, direction, lossPercent) ?? null,
        })),
      })),
    ),
  );
}

/** One row per role, algorithm and loss level: Oasis's share of its clean throughput against Linux's. */
export function goals(x: unknown): Goal[] {
  const r = results(x);
  const measured = r?.goals ?? [];
  return (['sender', 'receiver'] as const).flatMap((role) =>
    ALGORITHMS.flatMap((algorithm) =>
      LOSSES.filter((l) => l > 0).map((lossPercent): Goal => {
        const g = measured.find(
          (m) => m.role === role && m.algorithm === algorithm && m.lossPercent === lossPercent,
        );
        const what = `loss ${lossPercent} %, ${algorithm} senders: Oasis as ${role}, share of its clean throughput kept vs Linux's`;
        const target = `≥ ${TARGET[role]}× Linux's share`;
        if (g === undefined || g.ratio === null || g.met === null) return { what, target };
        return {
          what,
          target,
          figure: `${fmt(g.ratio, 2)}× (Oasis ${fmt(g.oasisShare, 2)}, Linux ${fmt(g.linuxShare, 2)})`,
          met: g.met,
        };
      }),
    ),
  );
}

function cellText(c: LossCell | undefined): string {
  if (c === undefined) return '—';
  const f = value(c.figure);
  if (f === undefined) return `failed: ${brief((c.figure as Failed).error)}`;
  const retr = f.retransmits === undefined ? '' : `; ${f.retransmits} retr`;
  const cpu = f.oasisCpuPercent === undefined ? '' : `; CPU ${fmt(f.oasisCpuPercent)} %`;
  const failed = f.failedRuns === undefined ? '' : `; ${f.failedRuns.length} run(s) failed`;
  return `${fmt(f.gbps)} (runs ${f.runs.map((g) => fmt(g)).join(', ')}${retr}${cpu}${failed})`;
}

function curlText(side: CurlSide | Failed, pick: (s: CurlSide) => CurlFigure | Failed): string {
  if ('error' in side) return `failed: ${brief(side.error)}`;
  const f = pick(side);
  if ('error' in f) return `failed: ${brief(f.error)}`;
  return `${fmt(f.seconds)} s (${fmt((f.bytes * 8) / f.seconds / 1e9)} Gbit/s)${f.intact ? '' : ', SHA-256 MISMATCH'}`;
}

export function markdown(x: unknown): string {
  const r = results(x);
  if (r === undefined) return '## loss\n\nno results';
  const cell = (s: Server, a: Algorithm, d: Direction, l: number) =>
    cellText(
      r.cells.find((c) => c.server === s && c.algorithm === a && c.direction === d && c.lossPercent === l),
    );
  const applied = (l: number) => {
    const frames = r.cells.filter((c) => c.lossPercent === l && c.frames !== undefined).map((c) => c.frames!);
    const ipv4 = frames.reduce((s, f) => s + f.ipv4, 0);
    const dropped = frames.reduce((s, f) => s + f.dropped, 0);
    return ipv4 === 0 ? '—' : `${fmt((100 * dropped) / ipv4, 2)} %`;
  };
  const rows = ALGORITHMS.flatMap((a) =>
    r.losses.map((l) => [
      a,
      l === 0 ? 'no loss' : `${l} % loss`,
      applied(l),
      ...DIRECTIONS.flatMap((d) => SERVERS.map((s) => cell(s, a, d, l))),
    ]),
  );
  const shareRows = r.goals.map((g) => [
    `Oasis ${g.role} (${DIRECTION_TEXT[g.role === 'sender' ? 'server-sends' : 'server-receives']})`,
    g.algorithm,
    `${g.lossPercent} %`,
    fmt(g.linuxShare, 2),
    fmt(g.oasisShare, 2),
    fmt(g.ratio, 2),
    `≥ ${g.target}: ${g.met === null ? 'not measured' : g.met ? '✅ met' : '❌ not met'}`,
  ]);
  const counters = ALGORITHMS.map((a) => {
    const text = Object.entries(r.oasisTcpCounters?.[a] ?? {})
      .filter(([k]) => /retransmit|rto|recover|sack|tlp|undo|spurious|frto|bbr|pacing/.test(k))
      .map(([k, v]) => `${k} ${v}`)
      .join(', ');
    return text === '' ? '' : `\`--cc ${a}\`: ${text}`;
  }).filter((t) => t !== '');
  return [
    `## TCP under loss: routed path, nftables ingress drops (MTU ${r.mtu}, ${r.seconds} s runs, median of ${r.repeat})`,
    '',
    `Measured ${r.date} on ${r.cpuModel} (${r.cpus} CPUs), kernel ${r.kernel}, Node ${r.node}, commit ${r.commit ?? '?'}, iperf3 ${r.iperf3}`,
    `as the client in every case. Path: ${r.path}. Offloads: ${r.offloads.veth}; Oasis: ${r.offloads.tap}.`,
    'Gbit/s at the receiver, median of the runs (every run in brackets), with `sum_sent.retransmits` of the',
    'median run: the server\'s own count with -R, the client kernel\'s without. "applied" is the share of',
    "IPv4 frames R's rules dropped over the row's runs. The sender's algorithm is the row's on both",
    `sides (\`iperf3 -C\`, \`oasis up --cc\`); the kernel's default here is ${r.linuxCongestion ?? '?'}.`,
    '',
    table(
      ['sender runs', 'path', 'applied', 'server sends: Linux', 'Oasis', 'server receives: Linux', 'Oasis'],
      rows,
    ),
    '',
    "Share of each server's own clean throughput kept under loss (issue #10's goals), senders running",
    'the same algorithm on both sides:',
    '',
    table(['Oasis as', 'senders', 'loss', 'Linux share', 'Oasis share', 'Oasis/Linux', 'goal'], shareRows),
    '',
    `curl from the client through ${r.curl.lossPercent} % loss, ${fmt(r.curl.bytes / 1e6)} MB, SHA-256 checked (reported, not asserted):`,
    '',
    table(
      ['transfer', 'Oasis (cubic)', `Linux (python3 http.server, ${r.linuxCongestion ?? 'default'})`],
      [
        ['GET (server sends)', curlText(r.curl.oasis, (s) => s.get), curlText(r.curl.linux, (s) => s.get)],
        [
          'POST (server receives)',
          curlText(r.curl.oasis, (s) => s.post),
          curlText(r.curl.linux, (s) => s.post),
        ],
      ],
    ),
    ...(counters.length === 0
      ? []
      : ['', `Oasis's TCP counters at exit (every run together): ${counters.join('; ')}.`]),
  ].join('\n');
}
