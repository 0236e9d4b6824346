/**
 * Resident memory (VmRSS) of an `oasis up` host: idle, about 2 s after `ready`, then holding 10,000
 * idle TCP connections that a small Node client in the kernel's namespace opened to its discard
 * service: 2 s after the last one connected, and again once they have been idle for 45 s. V8 grows
 * its young generation while the burst of new connections survives its scavenges (to 2 × 16 MB) and
 * gives it back only when its memory reducer sees the process idle, ~30 s later on this VM: the
 * settled figure is what each idle connection costs, the first what the burst cost. The connections are checked three ways: the client connected them all and saw none close,
 * the kernel lists them ESTABLISHED, and Oasis's counters on the way out show them established.
 * Writes bench/results/rss.json, or `{ skipped }` where TAPs cannot be made.
 */
import { readFileSync } from 'node:fs';
import { NetNs, uniqueIfName, waitFor } from '../test/support/netns.js';
import { sleep, startOasis, systemBench } from './system.js';
import { fmt, type Goal, isRecord, metText, table } from './summary.js';

const CONNECTIONS = 10_000;
const SETTLE_MS = 2000;
/** Idle time before the settled figure (V8's memory reducer acts after ~30 s here). */
const SETTLED_MS = 45_000;
const GOAL_IDLE_MB = 60;
const GOAL_KB_PER_CONN = 4;

/** Opens N connections one after the other and holds them; says when done and when one closes. */
const CLIENT = `
const net = require('node:net');
const [host, port, n] = [process.argv[1], Number(process.argv[2]), Number(process.argv[3])];
const held = [];
const open = (i) => {
  if (i === n) return console.log('connected ' + n);
  const s = net.connect(port, host, () => open(i + 1));
  s.on('error', (e) => console.log('error ' + e.message));
  s.on('close', () => console.log('closed'));
  held.push(s);
};
open(0);
`;

export interface RssResults {
  readonly date: string;
  readonly connections: number;
  /** VmRSS and, for comparison, RssAnon (heap, stacks: the part that grows with connections), kB. */
  readonly idleKB: number;
  readonly idleAnonKB: number;
  /** 2 s after the last connection was made. */
  readonly connectedKB: number;
  readonly connectedAnonKB: number;
  /** After `SETTLED_MS` more of idleness. */
  readonly settledKB: number;
  readonly settledAnonKB: number;
  readonly idleMB: number;
  /** (settled − idle) / connections: the goal's figure. */
  readonly kbPerConn: number;
  /** (connected − idle) / connections. */
  readonly kbPerConnConnected: number;
  /** ESTABLISHED on the kernel's side while measuring, and Oasis's established-passive count. */
  readonly kernelEstablished: number;
  readonly oasisEstablished: number | null;
}

/** `VmRSS` and `RssAnon` of a process, in kB. */
function memory(pid: number): { rss: number; anon: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1]);
  return { rss: kb('VmRSS'), anon: kb('RssAnon') };
}

export function run(): Promise<unknown> {
  return systemBench('rss', ['ss'], measure);
}

async function measure(): Promise<RssResults> {
  const ns = NetNs.create();
  try {
    const host = await startOasis(ns, [
      ...['up', '--tap', uniqueIfName(), '--ip', '10.94.0.2/24', '--host-ip', '10.94.0.1/24'],
      ...['--discard', '9'],
    ]);
    await sleep(SETTLE_MS);
    const idle = memory(host.pid);
    console.log(`rss: idle ${idle.rss} kB`);

    const client = ns.spawn(process.execPath, ['-e', CLIENT, '10.94.0.2', '9', `${CONNECTIONS}`]);
    let said = '';
    client.stdout?.on('data', (d: Buffer) => {
      said += d.toString();
    });
    await waitFor(
      `${CONNECTIONS} connections`,
      () => said.includes('connected') || said.includes('error'),
      60_000,
    );
    if (!said.includes(`connected ${CONNECTIONS}`)) throw new Error(`client: ${said.trim()}`);
    await sleep(SETTLE_MS);
    const connected = memory(host.pid);
    console.log(`rss: with ${CONNECTIONS} connections ${connected.rss} kB`);
    await sleep(SETTLED_MS);
    const settled = memory(host.pid);
    const listed = ns.run('ss', '-tnH', 'state', 'established', 'dport = :9');
    const kernelEstablished = listed.split('\n').filter((l) => l.trim() !== '').length;
    if (said.includes('closed') || said.includes('error')) throw new Error(`client: ${said.trim()}`);
    console.log(`rss: settled ${settled.rss} kB (kernel sees ${kernelEstablished})`);

    const out = await host.stop();
    const tcp = isRecord(out.tcp) ? out.tcp : {};
    const established = typeof tcp['established-passive'] === 'number' ? tcp['established-passive'] : null;
    client.kill('SIGKILL');
    const perConn = (kb: number) => Number(((kb - idle.rss) / CONNECTIONS).toFixed(2));
    return {
      date: new Date().toISOString(),
      connections: CONNECTIONS,
      idleKB: idle.rss,
      idleAnonKB: idle.anon,
      connectedKB: connected.rss,
      connectedAnonKB: connected.anon,
      settledKB: settled.rss,
      settledAnonKB: settled.anon,
      idleMB: Number((idle.rss / 1024).toFixed(1)),
      kbPerConn: perConn(settled.rss),
      kbPerConnConnected: perConn(connected.rss),
      kernelEstablished,
      oasisEstablished: established,
    };
  } finally {
    ns.delete();
  }
}

function valid(results: unknown): RssResults | undefined {
  return isRecord(results) && typeof results.settledKB === 'number'
    ? (results as unknown as RssResults)
    : undefined;
}

export function goals(results: unknown): Goal[] {
  const r = valid(results);
  return [
    {
      what: 'idle oasis up host, resident memory',
      target: `≤ ${GOAL_IDLE_MB} MB`,
      ...(r === undefined ? {} : { figure: `${fmt(r.idleMB)} MB`, met: r.idleMB <= GOAL_IDLE_MB }),
    },
    {
      what: `memory per idle TCP connection (${CONNECTIONS} held, settled)`,
      target: `≤ ${GOAL_KB_PER_CONN} KB`,
      ...(r === undefined ? {} : { figure: `${fmt(r.kbPerConn)} KB`, met: r.kbPerConn <= GOAL_KB_PER_CONN }),
    },
  ];
}

export function markdown(results: unknown): string {
  const r = valid(results);
  if (r === undefined) return '## rss\n\nno results';
  return [
    '## Resident memory of `oasis up`',
    '',
    `VmRSS from /proc/PID/status, measured ${r.date}: idle about ${SETTLE_MS / 1000} s after \`ready\`, then`,
    `with ${r.connections} idle TCP connections held open to its discard service (kernel sees`,
    `${r.kernelEstablished} ESTABLISHED; Oasis counted ${r.oasisEstablished ?? '?'} passive opens):`,
    `${SETTLE_MS / 1000} s after the last connected, and after ${SETTLED_MS / 1000} s more of idleness, when V8 has`,
    'given back the young generation it grew during the burst. Per connection: the change from idle,',
    'divided by the connections. MB and KB are 2^20 and 2^10 bytes; RssAnon shown for comparison.',
    '',
    table(
      ['', 'VmRSS', 'RssAnon', 'per connection', 'goal'],
      [
        [
          'idle',
          `${fmt(r.idleMB)} MB`,
          `${fmt(r.idleAnonKB / 1024)} MB`,
          '',
          `≤ ${GOAL_IDLE_MB} MB: ${metText(r.idleMB <= GOAL_IDLE_MB)}`,
        ],
        [
          `${r.connections} connections, just made`,
          `${fmt(r.connectedKB / 1024)} MB`,
          `${fmt(r.connectedAnonKB / 1024)} MB`,
          `${fmt(r.kbPerConnConnected)} KB`,
          '',
        ],
        [
          `${r.connections} connections, settled`,
          `${fmt(r.settledKB / 1024)} MB`,
          `${fmt(r.settledAnonKB / 1024)} MB`,
          `${fmt(r.kbPerConn)} KB`,
          `≤ ${GOAL_KB_PER_CONN} KB: ${metText(r.kbPerConn <= GOAL_KB_PER_CONN)}`,
        ],
      ],
    ),
  ].join('\n');
}
