/**
 * The tour with the Linux kernel as Oasis's peer (needs root and /dev/net/tun): `inNamespace` creates
 * a private network namespace and re-runs `oasis demo --inside TAP` in it; there `tapTour` brings an
 * Oasis host up on a fresh TAP and has the kernel resolve, ping (with fragments), fetch over HTTP and
 * run iperf3 both ways against it. The namespace, and the TAP with it, is deleted at the end. Then
 * the router leg (routed-tap.ts): two more namespaces talking through `oasis router`.
 */
import { execFile, spawn } from 'node:child_process';
import { createHash, randomInt } from 'node:crypto';
import { promisify } from 'node:util';
import { httpService, sha256OfBytes } from '../../apps/http.js';
import { iperf3Server } from '../../apps/iperf3/server.js';
import { oasisBin } from '../bin.js';
import { parseUpArgs, startHost } from '../up.js';
import { routerLeg } from './routed-tap.js';
import { OASIS4, OASIS6, PEER4, PEER6, PREFIX4, PREFIX6, Tour } from './tour.js';

const run = promisify(execFile);

/** Runs the tour on TAP `tap`, inside the namespace `inNamespace` made; returns the exit code. */
export async function tapTour(tap: string): Promise<number> {
  const args = [
    '--tap',
    tap,
    '--ip',
    `${OASIS4}/${PREFIX4}`,
    '--ip6',
    `${OASIS6}/${PREFIX6}`,
    '--host-ip',
    `${PEER4}/${PREFIX4}`,
    '--host-ip6',
    `${PEER6}/${PREFIX6}`,
  ];
  const host = await startHost(parseUpArgs(args), {
    onLog: () => {},
    services: (stack) => {
      httpService(stack, 80);
      iperf3Server(stack, 5201, { log: () => {} });
    },
  });
  const tour = new Tour();
  try {
    console.log(host.readyLine);
    await tour.step('ARP', `the kernel resolves ${OASIS4} and pings it`, async () => {
      const r = await run('ping', ['-c', '3', '-i', '0.2', '-W', '2', OASIS4]);
      const neigh = (await run('ip', ['neigh', 'show', OASIS4])).stdout.trim();
      return `${/(\d+) received/.exec(r.stdout)?.[1]}/3 replies; ${neigh}`;
    });
    await tour.step(
      'fragments',
      'ping -s 3000: three fragments each way, reassembled by Oasis and by Linux',
      async () => {
        const r = await run('ping', ['-c', '2', '-i', '0.2', '-W', '2', '-s', '3000', OASIS4]);
        return /rtt .*/.exec(r.stdout)?.[0] ?? r.stdout.trim();
      },
    );
    await tour.step('NDP', `ping6 ${OASIS6} after Oasis passed duplicate address detection`, async () => {
      const r = await run('ping', ['-6', '-c', '3', '-i', '0.2', '-W', '2', '-s', '3000', OASIS6]);
      const neigh = (await run('ip', ['-6', 'neigh', 'show', OASIS6])).stdout.trim();
      return `${/(\d+) received/.exec(r.stdout)?.[1]}/3 replies of 3008 bytes; ${neigh}`;
    });
    await tour.step(
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
      await tour.step(name, `kernel iperf3 -c ${OASIS4} -t 2 ${extra.join(' ')}`, async () => {
        const r = await run('iperf3', ['-c', OASIS4, '-t', '2', '--json', ...extra], { maxBuffer: 1 << 24 });
        const end = JSON.parse(r.stdout).end;
        const bps = end.sum_received.bits_per_second as number;
        return `${(bps / 1e9).toFixed(2)} Gbit/s ${extra.length ? 'Oasis -> kernel' : 'kernel -> Oasis'}`;
      });
    }
  } finally {
    await host.close();
  }
  return tour.summary();
}

/**
 * Creates a private network namespace, runs `oasis demo --inside TAP` in it (the tour above, output
 * passed through) and deletes the namespace whatever happens; then runs the router leg. Returns 0
 * only if both passed.
 */
export async function inNamespace(): Promise<number> {
  const id = `${process.pid}${randomInt(1000)}`;
  const host = await hostTour(id);
  const routed = await routerLeg(id);
  return host === 0 && routed === 0 ? 0 : 1;
}

async function hostTour(id: string): Promise<number> {
  const ns = `oasis-demo-${id}`;
  const tap = `oademo${id}`.slice(0, 15);
  await run('ip', ['netns', 'add', ns]);
  try {
    await run('ip', ['-n', ns, 'link', 'set', 'lo', 'up']);
    console.log(
      `Created network namespace ${ns}; Oasis runs inside it on TAP ${tap}, the kernel there is its peer.`,
    );
    const child = spawn('ip', ['netns', 'exec', ns, process.execPath, oasisBin(), 'demo', '--inside', tap], {
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
