/**
 * Resource exhaustion against `oasis up --http 80` on a TAP (issue 14), one attack per fresh host:
 * - pin: N kernel sockets with a 4 KB receive buffer ask for /bytes/100000000 and never read;
 * - idle: N connections opened and held, no request;
 * - flood: N completed handshakes from many sources of 198.18.0.0/15 (RFC 2544 benchmarking range,
 *   a local route in the namespace: traffic never leaves it) held open against the one listener;
 * - scan: connections from thousands of addresses of the connected prefix, over and over, so Oasis
 *   must resolve each (RFC 6583); the ARP table size is read from Oasis's status page.
 * For each: Oasis's VmRSS before, peak (sampled every 200 ms) and after the attackers are gone; its
 * CPU (percent of one core, /proc/PID/stat) while the attack ramps up, while it is held, and after;
 * and three legitimate downloads of /bytes/2000000 with curl during the hold (served, seconds).
 * The pin and idle attacks also run against a Linux HTTP server (python3 ThreadingHTTPServer) across
 * a veth pair, with the server's RSS and the kernel's TCP memory (/proc/net/sockstat `mem`, pages,
 * machine-wide) before and during.
 * The machine is shared while this runs: CPU figures and timings are noisy.
 * Writes bench/results/hardening.json.
 */
import type { ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { NetNs, uniqueIfName, waitFor } from '../test/support/netns.js';
import { cpuModel, withCpu } from './measure.js';
import { fmt, type Goal, isRecord, metText, round, table } from './summary.js';
import { type OasisProcess, sleep, startOasis, systemBench, vethPair } from './system.js';

const OASIS = '10.95.0.2';
const KERNEL = '10.95.0.1';
/** Scan sources: a local route on the kernel's side, inside Oasis's /19. */
const SCAN_PREFIX = '10.95.16.0/20';
const FLOOD_PREFIX = '198.18.0.0/15';
const LEGIT_BYTES = 2_000_000;
const HOLD_MS = 5_000;
const GOAL_RSS_MB = 150;
const GOAL_LEGIT_S = 1;
const GOAL_HELD_CPU = 10;

/** The attacker: python3 in the kernel's namespace (modes pin, idle, flood, scan); prints `ready`. */
const ATTACKER = String.raw`
import ipaddress, resource, selectors, socket, sys, time
hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
mode, host, port, n = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
extra = sys.argv[5] if len(sys.argv) > 5 else ''
srcs = []
if extra:
    net = ipaddress.ip_network(extra)
    srcs = [str(a) for a, _ in zip(net.hosts(), range(4096))]
req = b'GET /bytes/100000000 HTTP/1.1\r\nHost: oasis\r\n\r\n' if mode == 'pin' else b''

def batch(lo, hi, keep):
    sel = selectors.DefaultSelector()
    ok = failed = 0
    for j in range(lo, hi):
        s = socket.socket()
        if mode == 'pin':
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        if srcs:
            s.setsockopt(socket.SOL_IP, 24, 1)  # IP_BIND_ADDRESS_NO_PORT
            s.bind((srcs[j % len(srcs)], 0))
        s.setblocking(False)
        s.connect_ex((host, port))
        sel.register(s, selectors.EVENT_WRITE)
    end = time.time() + 10
    while sel.get_map() and time.time() < end:
        for key, _ in sel.select(1):
            s = key.fileobj
            sel.unregister(s)
            if s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR):
                failed += 1
                s.close()
                continue
            ok += 1
            if req:
                s.send(req)
            if keep is not None:
                keep.append(s)
            else:
                s.close()
    for key in list(sel.get_map().values()):
        failed += 1
        key.fileobj.close()
    return ok, failed

held = []
ok = failed = 0
if mode == 'scan':
    # One pass over every source, then again until killed: each is a new neighbour for Oasis.
    passes = 0
    while True:
        for lo in range(0, n, 256):
            a, b = batch(lo, min(n, lo + 256), None)
            ok += a
            failed += b
        passes += 1
        if passes == 1:
            print('ready', ok, failed, flush=True)
else:
    for lo in range(0, n, 500):
        a, b = batch(lo, min(n, lo + 500), held)
        ok += a
        failed += b
    print('ready', ok, failed, flush=True)
    while True:
        time.sleep(3600)
`;

/** The Linux reference: an HTTP/1.1 server with /bytes/N, one thread per connection. */
const LINUX_SERVER = `
import http.server, os, sys, threading
threading.stack_size(256 * 1024)
BUF = memoryview(os.urandom(1 << 16))
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = 'HTTP/1.1'
    def do_GET(self):
        n = int(self.path.rsplit('/', 1)[1]) if self.path.startswith('/bytes/') else 0
        self.send_response(200)
        self.send_header('content-length', str(n))
        self.end_headers()
        while n > 0:
            k = min(n, len(BUF))
            self.wfile.write(BUF[:k])
            n -= k
    def log_message(self, *a):
        pass
class S(http.server.ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 4096
s = S(('0.0.0.0', 80), H)
print('ready', flush=True)
s.serve_forever()
`;

export interface Legit {
  /** Downloads that completed whole, of those tried. */
  readonly served: number;
  readonly tried: number;
  /** Seconds of each (null: failed or cut off at 20 s). */
  readonly seconds: readonly (number | null)[];
}

export interface AttackResult {
  readonly attack: string;
  readonly target: 'oasis' | 'linux';
  /** `oasis up` flags beyond the defaults (the switches). */
  readonly flags: readonly string[];
  readonly attackers: number;
  readonly connected: number;
  readonly failed: number;
  readonly rssBeforeMB: number;
  /** Peak while the attack is on, and while its connections are torn down (5 s after it ends). */
  readonly rssPeakMB: number;
  readonly rssTeardownPeakMB: number;
  readonly rssHeldMB: number;
  readonly rssAfterMB: number;
  /** Percent of one core. */
  readonly cpuRampPercent: number | undefined;
  readonly cpuHeldPercent: number | undefined;
  readonly cpuAfterPercent: number | undefined;
  readonly machineBusyPercent: number;
  readonly legitUnloaded: Legit;
  readonly legit: Legit;
  /** Oasis: connections by state, queued send bytes, ARP entries and a few counters (status page). */
  readonly oasis?: Record<string, unknown>;
  /** Linux: /proc/net/sockstat TCP `mem` (pages, machine-wide) before and while held. */
  readonly kernelTcpMemPages?: { readonly before: number; readonly held: number };
  /** Linux: /proc/meminfo `Slab` (kB, machine-wide, client and server sockets) before and while held. */
  readonly kernelSlabKB?: { readonly before: number; readonly held: number };
}

export interface HardeningResults {
  readonly date: string;
  readonly cpu: string;
  readonly runs: readonly (AttackResult | { readonly attack: string; readonly error: string })[];
}

function rssMB(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  return round(Number(/^VmRSS:\s+(\d+) kB/m.exec(status)?.[1]) / 1024);
}

/** Samples VmRSS every 200 ms until stopped; returns the peak. */
function peakSampler(pid: number): () => number {
  let peak = rssMB(pid);
  const timer = setInterval(() => {
    try {
      peak = Math.max(peak, rssMB(pid));
    } catch {
      // gone
    }
  }, 200);
  return () => {
    clearInterval(timer);
    return peak;
  };
}

/** `tries` sequential curl downloads of /bytes/2000000. */
async function legit(ns: NetNs, host: string, tries: number): Promise<Legit> {
  const seconds: (number | null)[] = [];
  for (let i = 0; i < tries; i++) {
    const r = await ns.exec(
      'curl',
      [
        '-s',
        '-o',
        '/dev/null',
        '--max-time',
        '20',
        '-w',
        '%{size_download} %{time_total}',
        `http://${host}/bytes/${LEGIT_BYTES}`,
      ],
      25_000,
    );
    const [size, time] = r.stdout.trim().split(' ').map(Number);
    seconds.push(r.code === 0 && size === LEGIT_BYTES ? round(time!) : null);
  }
  return { served: seconds.filter((s) => s !== null).length, tried: tries, seconds };
}

/** Attackers of at most PER_PROCESS connections each (the machine allows 20,000 descriptors a process). */
const PER_PROCESS = 10_000;

function spawnAttackers(ns: NetNs, mode: string, host: string, n: number, source: string): ChildProcess[] {
  const out: ChildProcess[] = [];
  for (let left = n; left > 0; left -= PER_PROCESS) {
    const k = Math.min(left, PER_PROCESS);
    out.push(ns.spawn('python3', ['-c', ATTACKER, mode, host, '80', `${k}`, ...(source ? [source] : [])]));
  }
  return out;
}

/** Every attacker's `ready OK FAILED` line, summed. */
async function readyAll(
  children: readonly ChildProcess[],
  timeoutMs: number,
): Promise<{ ok: number; failed: number }> {
  const each = await Promise.all(children.map((c) => ready(c, timeoutMs)));
  return { ok: each.reduce((s, x) => s + x.ok, 0), failed: each.reduce((s, x) => s + x.failed, 0) };
}

/** The attacker's `ready OK FAILED` line. */
async function ready(child: ChildProcess, timeoutMs: number): Promise<{ ok: number; failed: number }> {
  let out = '';
  let err = '';
  child.stdout?.on('data', (d: Buffer) => {
    out += d.toString();
  });
  child.stderr?.on('data', (d: Buffer) => {
    err = (err + d.toString()).slice(-2000);
  });
  await waitFor('the attacker', () => /ready \d+ \d+\n/.test(out) || child.exitCode !== null, timeoutMs);
  const m = /ready (\d+) (\d+)/.exec(out);
  if (m === null) throw new Error(`attacker: ${out.trim()} ${err.trim()}`);
  return { ok: Number(m[1]), failed: Number(m[2]) };
}

/** `Slab` of /proc/meminfo in kB: socket structures live there (machine-wide, both ends of a veth). */
function kernelSlabKB(): number {
  return Number(/^Slab:\s+(\d+) kB/m.exec(readFileSync('/proc/meminfo', 'utf8'))?.[1] ?? Number.NaN);
}

function kernelTcpMem(): number {
  return Number(/^TCP:.* mem (\d+)/m.exec(readFileSync('/proc/net/sockstat', 'utf8'))?.[1] ?? Number.NaN);
}

interface Attack {
  readonly name: string;
  readonly mode: 'pin' | 'idle' | 'flood' | 'scan';
  readonly n: number;
  readonly flags?: readonly string[];
}

type Cpu<T> = Awaited<ReturnType<typeof withCpu<T>>>;

/** What an attack measured while it was held, before endAttack. */
interface HeldAttack {
  readonly rssBeforeMB: number;
  readonly legitUnloaded: Legit;
  readonly ramp: Cpu<{ ok: number; failed: number }>;
  readonly held: Cpu<void>;
  readonly legitHeld: Legit;
}

/**
 * Ends a held attack on the server `pid` (kills `attackers`) and measures its teardown: the part of an
 * AttackResult both targets share.
 */
async function endAttack(
  a: Attack,
  pid: number,
  peak: () => number,
  attackers: readonly ChildProcess[],
  h: HeldAttack,
): Promise<Omit<AttackResult, 'target' | 'flags'>> {
  const rssHeldMB = rssMB(pid);
  const rssPeakMB = peak();
  const teardown = peakSampler(pid);
  for (const c of attackers) c.kill('SIGKILL');
  await sleep(5000);
  const rssTeardownPeakMB = teardown();
  const after = await withCpu(pid, () => sleep(3000));
  return {
    attack: a.name,
    attackers: a.n,
    connected: h.ramp.value.ok,
    failed: h.ramp.value.failed,
    rssBeforeMB: h.rssBeforeMB,
    rssPeakMB,
    rssTeardownPeakMB,
    rssHeldMB,
    rssAfterMB: rssMB(pid),
    cpuRampPercent: h.ramp.oasisCpuPercent,
    cpuHeldPercent: h.held.oasisCpuPercent,
    cpuAfterPercent: after.oasisCpuPercent,
    machineBusyPercent: h.held.machineBusyPercent,
    legitUnloaded: h.legitUnloaded,
    legit: h.legitHeld,
  };
}

/** Runs one attack against a fresh `oasis up`. */
async function againstOasis(a: Attack): Promise<AttackResult> {
  const ns = NetNs.create();
  let attackers: ChildProcess[] = [];
  try {
    const flags = a.flags ?? [];
    const host: OasisProcess = await startOasis(ns, [
      ...['up', '--tap', uniqueIfName(), '--ip', `${OASIS}/19`, '--host-ip', `${KERNEL}/19`],
      ...['--gateway', KERNEL, '--http', '80', ...flags],
    ]);
    ns.run('ip', 'route', 'add', 'local', FLOOD_PREFIX, 'dev', 'lo');
    ns.run('ip', 'route', 'add', 'local', SCAN_PREFIX, 'dev', 'lo');
    // Warm up (JIT, the digest of 2 MB) so that "before" is a host that has served a download.
    const legitUnloaded = await legit(ns, OASIS, 2);
    await sleep(1000);
    const pid = host.pid;
    const rssBeforeMB = rssMB(pid);
    const peak = peakSampler(pid);
    const source = a.mode === 'flood' ? FLOOD_PREFIX : a.mode === 'scan' ? SCAN_PREFIX : '';
    const mode = a.mode === 'flood' ? 'idle' : a.mode;
    attackers = spawnAttackers(ns, mode, OASIS, a.n, source);
    const children = attackers;
    const ramp = await withCpu(pid, () => readyAll(children, 600_000));
    // The peers' windows close and the host settles before the hold is measured.
    await sleep(3000);
    const held = await withCpu(pid, () => sleep(HOLD_MS));
    const legitHeld = await legit(ns, OASIS, 3);
    // The status page needs a connection of its own: at the connection limit it gets none (the
    // exit counters below still say what happened).
    const page = await ns.exec('curl', ['-s', '--max-time', '10', `http://${OASIS}/`], 15_000);
    const status = page.code === 0 ? (JSON.parse(page.stdout) as Record<string, unknown>) : {};
    const attack = await endAttack(a, pid, peak, attackers, {
      rssBeforeMB,
      legitUnloaded,
      ramp,
      held,
      legitHeld,
    });
    attackers = [];
    const exit = await host.stop();
    console.log(
      `hardening: ${a.name}: ${ramp.value.ok} connected, RSS ${rssBeforeMB} -> ${attack.rssPeakMB} (teardown ${attack.rssTeardownPeakMB}) -> ${attack.rssAfterMB} MB, CPU ${held.oasisCpuPercent}% held, legit ${legitHeld.seconds.join(' ')} s`,
    );
    return { ...attack, target: 'oasis', flags, oasis: oasisFigures(status, exit) };
  } finally {
    for (const c of attackers) c.kill('SIGKILL');
    ns.delete();
  }
}

/** What the status page says about the attack's cost. */
function oasisFigures(
  status: Record<string, unknown>,
  exit: Record<string, unknown>,
): Record<string, unknown> {
  const tcp = isRecord(status.tcp) ? status.tcp : {};
  const counters = isRecord(tcp.counters) ? tcp.counters : isRecord(exit.tcp) ? exit.tcp : {};
  const stack = isRecord(status.counters) ? status.counters : {};
  const ifaces = Array.isArray(status.interfaces) ? status.interfaces.filter(isRecord) : [];
  const pick = (o: Record<string, unknown>, keys: readonly string[]) =>
    Object.fromEntries(keys.filter((k) => typeof o[k] === 'number').map((k) => [k, o[k]]));
  return {
    connections: tcp.connections,
    sendMemoryBytes: tcp.sendMemory,
    neighbours: ifaces[0]?.neighbours,
    memoryMB: isRecord(status.memory)
      ? Object.fromEntries(
          Object.entries(status.memory).map(([k, v]) => [k, typeof v === 'number' ? round(v / 2 ** 20) : v]),
        )
      : undefined,
    tcp: pick(counters, [
      'established-passive',
      'too-many-connections',
      'syn-cookie-sent',
      'syn-cookie-accepted',
      'syn-cookie-rejected',
      'listen-bad-ack',
      'send-memory-pressure',
      'persist-probe',
    ]),
    arp: Object.fromEntries(Object.entries(stack).filter(([k]) => k.startsWith('arp/'))),
  };
}

/** The same attack against the Linux server across a veth pair. */
async function againstLinux(a: Attack): Promise<AttackResult> {
  const [client, server] = vethPair('10.96.0');
  let attackers: ChildProcess[] = [];
  try {
    const srv = server.spawn('python3', ['-c', LINUX_SERVER]);
    let said = '';
    srv.stdout?.on('data', (d: Buffer) => {
      said += d.toString();
    });
    await waitFor('the Linux server', () => said.includes('ready'), 10_000);
    const pid = srv.pid!;
    const target = '10.96.0.2';
    const legitUnloaded = await legit(client, target, 2);
    await sleep(1000);
    const memBefore = kernelTcpMem();
    const slabBefore = kernelSlabKB();
    const rssBeforeMB = rssMB(pid);
    const peak = peakSampler(pid);
    attackers = spawnAttackers(client, a.mode, target, a.n, '');
    const children = attackers;
    const ramp = await withCpu(pid, () => readyAll(children, 600_000));
    await sleep(3000);
    const held = await withCpu(pid, () => sleep(HOLD_MS));
    const legitHeld = await legit(client, target, 3);
    const memHeld = kernelTcpMem();
    const slabHeld = kernelSlabKB();
    const attack = await endAttack(a, pid, peak, attackers, {
      rssBeforeMB,
      legitUnloaded,
      ramp,
      held,
      legitHeld,
    });
    attackers = [];
    console.log(
      `hardening: linux ${a.name}: RSS ${rssBeforeMB} -> ${attack.rssPeakMB} MB, kernel TCP mem ${memBefore} -> ${memHeld} pages, legit ${legitHeld.seconds.join(' ')} s`,
    );
    return {
      ...attack,
      target: 'linux',
      flags: [],
      kernelTcpMemPages: { before: memBefore, held: memHeld },
      kernelSlabKB: { before: slabBefore, held: slabHeld },
    };
  } finally {
    for (const c of attackers) c.kill('SIGKILL');
    client.delete();
    server.delete();
  }
}

/** Every run, in order; `OASIS_HARDENING=pin-300,idle-5000` picks some. */
const ATTACKS: readonly (Attack & { readonly linux?: boolean })[] = [
  { name: 'pin-300', mode: 'pin', n: 300 },
  { name: 'pin-500', mode: 'pin', n: 500, linux: true },
  { name: 'pin-500 tcp-memory off', mode: 'pin', n: 500, flags: ['--tcp-memory', '0'] },
  { name: 'pin-300 tcp-memory 64M', mode: 'pin', n: 300, flags: ['--tcp-memory', '64M'] },
  { name: 'idle-5000', mode: 'idle', n: 5000, linux: true },
  { name: 'flood-20000', mode: 'flood', n: 20_000 },
  {
    name: 'flood-12000 max-connections 10000',
    mode: 'flood',
    n: 12_000,
    flags: ['--max-connections', '10000'],
  },
  { name: 'scan-4000', mode: 'scan', n: 4000 },
];

export function run(): Promise<unknown> {
  return systemBench('hardening', ['python3', 'curl'], measure);
}

async function measure(): Promise<HardeningResults> {
  const only = process.env.OASIS_HARDENING?.split(',');
  const runs: HardeningResults['runs'][number][] = [];
  for (const a of ATTACKS) {
    if (only !== undefined && !only.includes(a.name)) continue;
    for (const target of a.linux ? (['oasis', 'linux'] as const) : (['oasis'] as const)) {
      try {
        runs.push(target === 'oasis' ? await againstOasis(a) : await againstLinux(a));
      } catch (e) {
        console.log(`hardening: ${target} ${a.name} failed: ${e instanceof Error ? e.message : e}`);
        runs.push({ attack: `${a.name} (${target})`, error: e instanceof Error ? e.message : String(e) });
      }
    }
  }
  return { date: new Date().toISOString(), cpu: cpuModel(), runs };
}

function attacks(results: unknown): AttackResult[] {
  const runs = isRecord(results) && Array.isArray(results.runs) ? results.runs : [];
  return runs.filter((r): r is AttackResult => isRecord(r) && typeof r.rssPeakMB === 'number');
}

function legitText(l: Legit): string {
  const ok = l.seconds.filter((s): s is number => s !== null);
  return `${l.served}/${l.tried}${ok.length > 0 ? `, ${fmt(Math.max(...ok))} s max` : ''}`;
}

/** The issue's goal for one attack: RSS under 150 MB, every 2 MB download under a second. */
function met(r: AttackResult): boolean {
  const slowest = Math.max(...r.legit.seconds.map((s) => s ?? Number.POSITIVE_INFINITY));
  return r.rssPeakMB < GOAL_RSS_MB && r.legit.served === r.legit.tried && slowest < GOAL_LEGIT_S;
}

/** Queued send bytes, refused SYNs and the ARP table, from the status page or the exit counters. */
function oasisNotes(r: AttackResult): string {
  const o = r.oasis;
  if (o === undefined) return '';
  const tcp = isRecord(o.tcp) ? o.tcp : {};
  const arp = isRecord(o.arp) ? o.arp : {};
  const n = isRecord(o.neighbours) ? o.neighbours : {};
  const out: string[] = [];
  if (typeof o.sendMemoryBytes === 'number') out.push(`send queues ${fmt(o.sendMemoryBytes / 2 ** 20)} MB`);
  if (typeof tcp['too-many-connections'] === 'number' && tcp['too-many-connections'] > 0)
    out.push(`${tcp['too-many-connections']} SYNs past the limit`);
  if (typeof n.arp === 'number' && n.arp > 1) out.push(`ARP ${n.arp} entries`);
  if (typeof arp['arp/table-full'] === 'number') out.push(`${arp['arp/table-full']} table-full`);
  return out.join(', ');
}

export function goals(results: unknown): Goal[] {
  const rs = attacks(results);
  const cases = [
    { name: 'pin-300', what: '300 non-reading peers', cpu: false },
    // The issue's test of send-side pinning adds Oasis's CPU once the windows are closed.
    { name: 'pin-500', what: '500 non-reading peers', cpu: true },
    { name: 'idle-5000', what: '5,000 idle connections', cpu: false },
  ];
  return cases.map(({ name, what, cpu }) => {
    const r = rs.find((x) => x.attack === name && x.target === 'oasis');
    if (r === undefined) return { what, target: `< ${GOAL_RSS_MB} MB` };
    const held = r.cpuHeldPercent ?? Number.NaN;
    return {
      what: `${what}: RSS${cpu ? ', CPU once held' : ''}, and a 2 MB download meanwhile`,
      target: `< ${GOAL_RSS_MB} MB${cpu ? `, < ${GOAL_HELD_CPU} %` : ''}, < ${GOAL_LEGIT_S} s`,
      figure: `${fmt(r.rssPeakMB)} MB peak${cpu ? `, ${fmt(held)} %` : ''}, ${legitText(r.legit)}`,
      met: met(r) && (!cpu || held < GOAL_HELD_CPU),
    };
  });
}

export function markdown(results: unknown): string {
  const rs = attacks(results);
  if (rs.length === 0) return '## Hardening\n\nno results';
  const cpu = isRecord(results) && typeof results.cpu === 'string' ? results.cpu : '?';
  const pct = (x: number | undefined) => (x === undefined ? '—' : `${fmt(x, 2)} %`);
  return [
    '## Hardening',
    '',
    `Resource exhaustion against \`oasis up --http 80\` on a TAP, one fresh host per attack (${cpu}, shared`,
    'with other work: CPU and times are noisy). RSS: VmRSS before, peak during the attack, peak while its',
    'connections are torn down, and after (V8 and malloc keep what they took).',
    'CPU: percent of one core while the attack ramps up / is held / after. Legit: curl downloads of',
    '/bytes/2000000 during the hold (served of tried, slowest). Linux rows: a python3',
    'ThreadingHTTPServer across a veth pair; the kernel column is /proc/net/sockstat TCP memory and the',
    "/proc/meminfo Slab change (machine-wide, both ends' sockets).",
    '',
    table(
      [
        'attack',
        'target',
        'connected',
        'KB per conn.',
        'RSS MB before / peak / teardown / after',
        'CPU ramp / held / after',
        'legit 2 MB',
        'kernel TCP mem',
        'Oasis counters',
        'goal',
      ],
      rs.map((r) => [
        `${r.attack}${r.flags.length > 0 ? ` (\`${r.flags.join(' ')}\`)` : ''}`,
        r.target,
        `${r.connected}/${r.attackers}`,
        fmt(((r.rssHeldMB - r.rssBeforeMB) * 1024) / Math.max(1, r.connected), 2),
        `${fmt(r.rssBeforeMB)} / ${fmt(r.rssPeakMB)} / ${fmt(r.rssTeardownPeakMB)} / ${fmt(r.rssAfterMB)}`,
        `${pct(r.cpuRampPercent)} / ${pct(r.cpuHeldPercent)} / ${pct(r.cpuAfterPercent)}`,
        legitText(r.legit),
        r.kernelTcpMemPages === undefined
          ? '—'
          : `+${fmt(((r.kernelTcpMemPages.held - r.kernelTcpMemPages.before) * 4) / 1024)} MB buffers` +
            (r.kernelSlabKB === undefined
              ? ''
              : `, +${fmt((r.kernelSlabKB.held - r.kernelSlabKB.before) / 1024)} MB slab`),
        oasisNotes(r),
        r.target === 'oasis' && (r.attack === 'pin-300' || r.attack === 'idle-5000') ? metText(met(r)) : '',
      ]),
    ),
  ].join('\n');
}
