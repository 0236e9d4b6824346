/**
 * `oasis demo`: a narrated tour of an Oasis host with the Linux kernel as its peer. As root with TAP
 * available it creates a private network namespace, runs itself inside it on a fresh TAP, and has the
 * kernel resolve, ping (with fragments), fetch over HTTP and run iperf3 both ways against Oasis; then
 * prints a summary and deletes everything it created. Without root or TAP it says so and exits 1:
 * the in-process tour between two Oasis hosts is not written yet.
 */
import { execFile, spawn } from 'node:child_process';
import { createHash, randomInt } from 'node:crypto';
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { promisify } from 'node:util';
import { iperf3Server } from '../apps/iperf3/server.js';
import { httpService, sha256OfBytes } from '../apps/http.js';
import type { Command } from './command.js';
import { parseUpArgs, startHost } from './up.js';

const run = promisify(execFile);

const USAGE = `Usage: oasis demo

A narrated tour: ARP and NDP, ping and ping6 with fragments, an HTTP GET served by Oasis and iperf3
in each direction, with the kernel of a private network namespace as the peer (needs root and
/dev/net/tun). Everything it creates is deleted at the end.`;

const OASIS4 = '10.201.0.2';
const KERNEL4 = '10.201.0.1';
const OASIS6 = 'fd00:201::2';
const KERNEL6 = 'fd00:201::1';

interface Row {
  step: string;
  ok: boolean;
  detail: string;
}

async function tour(tap: string): Promise<number> {
  const args = [
    '--tap',
    tap,
    '--ip',
    `${OASIS4}/24`,
    '--ip6',
    `${OASIS6}/64`,
    '--host-ip',
    `${KERNEL4}/24`,
    '--host-ip6',
    `${KERNEL6}/64`,
  ];
  const host = await startHost(parseUpArgs(args), {
    onLog: () => {},
    services: (stack) => {
      httpService(stack, 80);
      iperf3Server(stack, 5201, { log: () => {} });
    },
  });
  const rows: Row[] = [];
  const step = async (name: string, what: string, fn: () => Promise<string>) => {
    process.stdout.write(`\n== ${name}: ${what}\n`);
    try {
      const detail = await fn();
      rows.push({ step: name, ok: true, detail });
      console.log(`   ok: ${detail}`);
    } catch (e) {
      rows.push({
        step: name,
        ok: false,
        detail: e instanceof Error ? e.message.split('\n')[0]! : String(e),
      });
      console.log(`   FAILED: ${rows.at(-1)!.detail}`);
    }
  };
  try {
    console.log(host.readyLine);
    await step('ARP', `the kernel resolves ${OASIS4} and pings it`, async () => {
      const r = await run('ping', ['-c', '3', '-i', '0.2', '-W', '2', OASIS4]);
      const neigh = (await run('ip', ['neigh', 'show', OASIS4])).stdout.trim();
      return `${/(\d+) received/.exec(r.stdout)?.[1]}/3 replies; ${neigh}`;
    });
    await step(
      'fragments',
      'ping -s 3000: three fragments each way, reassembled by Oasis and by Linux',
      async () => {
        const r = await run('ping', ['-c', '2', '-i', '0.2', '-W', '2', '-s', '3000', OASIS4]);
        return /rtt .*/.exec(r.stdout)?.[0] ?? r.stdout.trim();
      },
    );
    await step('NDP', `ping6 ${OASIS6} after Oasis passed duplicate address detection`, async () => {
      const r = await run('ping', ['-6', '-c', '3', '-i', '0.2', '-W', '2', '-s', '3000', OASIS6]);
      const neigh = (await run('ip', ['-6', 'neigh', 'show', OASIS6])).stdout.trim();
      return `${/(\d+) received/.exec(r.stdout)?.[1]}/3 replies of 3008 bytes; ${neigh}`;
    });
    await step(
      'HTTP',
      `curl http://${OASIS4}/bytes/20000000 (Node's http server on Oasis sockets)`,
      async () => {
        const started = performance.now();
        const body = await new Promise<Buffer>((ok, fail) => {
          const curl = spawn('curl', ['-sf', `http://${OASIS4}/bytes/20000000`]);
          const chunks: Buffer[] = [];
          curl.stdout.on('data', (c: Buffer) => chunks.push(c));
          curl.on('close', (code) =>
            code === 0 ? ok(Buffer.concat(chunks)) : fail(new Error(`curl exited ${code}`)),
          );
        });
        const seconds = (performance.now() - started) / 1000;
        const sha = createHash('sha256').update(body).digest('hex');
        if (sha !== sha256OfBytes(20_000_000)) throw new Error('SHA-256 mismatch');
        return `${body.length} bytes in ${seconds.toFixed(2)} s, SHA-256 verified`;
      },
    );
    for (const [name, extra] of [
      ['iperf3', [] as string[]],
      ['iperf3 -R', ['-R']],
    ] as const) {
      await step(name, `kernel iperf3 -c ${OASIS4} -t 2 ${extra.join(' ')}`, async () => {
        const r = await run('iperf3', ['-c', OASIS4, '-t', '2', '--json', ...extra], { maxBuffer: 1 << 24 });
        const end = JSON.parse(r.stdout).end;
        const bps = end.sum_received.bits_per_second as number;
        return `${(bps / 1e9).toFixed(2)} Gbit/s ${extra.length ? 'Oasis -> kernel' : 'kernel -> Oasis'}`;
      });
    }
  } finally {
    await host.close();
  }
  console.log('\nSummary');
  for (const r of rows) console.log(`  ${r.ok ? 'ok    ' : 'FAILED'} ${r.step.padEnd(10)} ${r.detail}`);
  return rows.every((r) => r.ok) ? 0 : 1;
}

async function runDemo(args: string[]): Promise<number> {
  if (args[0] === '--inside' && args[1]) return tour(args[1]);
  if (process.getuid?.() !== 0 || !existsSync('/dev/net/tun')) {
    console.error(
      'oasis demo: needs root and /dev/net/tun (a private network namespace and a TAP); the in-process tour is not written yet',
    );
    return 1;
  }
  const id = `${process.pid}${randomInt(1000)}`;
  const ns = `oasis-demo-${id}`;
  const tap = `oademo${id}`.slice(0, 15);
  await run('ip', ['netns', 'add', ns]);
  try {
    await run('ip', ['-n', ns, 'link', 'set', 'lo', 'up']);
    console.log(
      `Created network namespace ${ns}; Oasis runs inside it on TAP ${tap}, the kernel there is its peer.`,
    );
    const bin = resolve(import.meta.dirname, '../../bin/oasis.js');
    const child = spawn('ip', ['netns', 'exec', ns, process.execPath, bin, 'demo', '--inside', tap], {
      stdio: 'inherit',
    });
    const stop = () => child.kill('SIGTERM');
    process.once('SIGINT', stop);
    const code = await new Promise<number>((ok) => child.on('close', (c) => ok(c ?? 1)));
    process.off('SIGINT', stop);
    return code;
  } finally {
    await run('ip', ['netns', 'del', ns]).catch(() => undefined);
    console.log(`Deleted ${ns} (and with it ${tap}).`);
  }
}

export const demoCommand: Command = {
  summary: 'a narrated tour of Oasis with the kernel as its peer (root)',
  usage: USAGE,
  run: runDemo,
};
