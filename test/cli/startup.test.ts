/**
 * The CLI never hangs and never lies (issue 13, part 4), checked on the built `oasis` (bin/oasis.js,
 * run by `npm test` after its build) as a user runs it: every start-up failure exits at once with a
 * one-line reason and leaves no TAP behind; the first Ctrl-C is honoured; `oasis up` says when the
 * kernel's side of its TAP is down; the exit counters include the impairments' drops; `--pcap` files
 * are readable while they are written; `oasis iperf3 -b` paces TCP.
 *
 * Everything that opens a TAP runs in a private namespace made here (root and /dev/net/tun, else
 * skipped); the argument errors need neither.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parseCapture } from '../../src/link/pcap.js';
import { Lab } from '../support/lab.js';
import { canTap, type NetNs } from '../support/netns.js';
import { OASIS_BIN, OASIS_BUILT } from '../support/oasis.js';

const hasIperf3 = spawnSync('iperf3', ['--version'], { stdio: 'ignore' }).status === 0;

/** A start-up failure must not take longer than this (a hang used to be forever). */
const AT_ONCE_MS = 5000;

interface Run {
  readonly child: ChildProcess;
  stdout: string;
  stderr: string;
  /** Exit code (or signal name) and how long the process lived. */
  readonly exited: Promise<{ code: number | string | null; ms: number }>;
}

/** Starts `oasis ARGS` (in `ns` when given; `env` as `NAME=value` words for env(1)). */
function oasis(ns: NetNs | undefined, args: readonly string[], env: readonly string[] = []): Run {
  const started = performance.now();
  const argv = [...env, process.execPath, OASIS_BIN, ...args];
  const child = ns ? ns.spawn('env', argv) : spawn('env', argv, { stdio: ['ignore', 'pipe', 'pipe'] });
  const run: Run = {
    child,
    stdout: '',
    stderr: '',
    exited: new Promise((res) =>
      child.on('close', (code, signal) => res({ code: code ?? signal, ms: performance.now() - started })),
    ),
  };
  child.stdout?.on('data', (d: Buffer) => {
    run.stdout += d.toString();
  });
  child.stderr?.on('data', (d: Buffer) => {
    run.stderr += d.toString();
  });
  return run;
}

/** Waits until `cond` holds, or fails after `ms` with what was printed so far. */
async function until(run: Run, what: string, cond: () => boolean, ms = 10_000): Promise<void> {
  const end = performance.now() + ms;
  while (!cond()) {
    if (performance.now() > end) throw new Error(`no ${what} in ${ms} ms:\n${run.stdout}\n${run.stderr}`);
    if (run.child.exitCode !== null) throw new Error(`exited before ${what}:\n${run.stdout}\n${run.stderr}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** The JSON `oasis up` prints after its ready line when it stops. */
function counters(run: Run): {
  link: { drops: Record<string, number> };
  impair?: { in: { lost: number }; out: { lost: number } };
  kernelSide: string;
  notes?: string[];
} {
  return JSON.parse(run.stdout.slice(run.stdout.indexOf('{')));
}

function linkExistsIn(ns: NetNs, name: string): boolean {
  return spawnSync('ip', ['-n', ns.name, 'link', 'show', 'dev', name], { stdio: 'ignore' }).status === 0;
}

describe.skipIf(!OASIS_BUILT)('oasis up refuses a bad command line at once (exit 2, one line)', () => {
  it.each([
    ['--echo 7 --http 7', 'oasis up: --echo 7 and --http 7 both want TCP port 7'],
    ['--ip 10.9.9.2', 'oasis up: --ip: give the prefix length, as in ADDR/LEN: 10.9.9.2'],
  ])('%s', async (flags, message) => {
    const args = ['up', '--tap', 'oasisnever0', ...flags.split(' ')];
    if (!args.includes('--ip')) args.push('--ip', '10.9.9.2/24');
    const run = oasis(undefined, args);
    const { code, ms } = await run.exited;
    expect(code).toBe(2);
    expect(ms).toBeLessThan(AT_ONCE_MS);
    expect(run.stderr.split('\n')[0]).toBe(message);
    expect(run.stdout).toBe('');
  });
});

describe.skipIf(!canTap || !OASIS_BUILT)('oasis start-up failures release the TAP and exit at once', () => {
  const lab = new Lab();
  afterAll(() => lab.close());

  it.each([
    ['--pcap', '/nonexistent-oasis-dir/x.pcap'],
    ['--tcp-trace', '/nonexistent-oasis-dir/x.trace'],
  ])('%s to a path that cannot be written: exit 2, no TAP', async (flag, path) => {
    const ns = lab.namespace();
    const tap = lab.tapName();
    const run = oasis(ns, ['up', '--tap', tap, '--ip', '10.9.9.2/24', flag, path]);
    const { code, ms } = await run.exited;
    expect(code).toBe(2);
    expect(ms).toBeLessThan(AT_ONCE_MS);
    expect(run.stderr.trim()).toBe(
      `oasis up: ${flag} ${path}: cannot write: ENOENT: no such file or directory, open '${path}'`,
    );
    expect(linkExistsIn(ns, tap)).toBe(false);
  });

  it("'ip' missing from PATH with --host-ip: exit 1 with the reason, the TAP released", async () => {
    const ns = lab.namespace();
    const tap = lab.tapName();
    const run = oasis(
      ns,
      ['up', '--tap', tap, '--ip', '10.9.9.2/24', '--host-ip', '10.9.9.1/24'],
      ['PATH=/nonexistent-oasis-dir'],
    );
    const { code, ms } = await run.exited;
    expect(code).toBe(1);
    expect(ms).toBeLessThan(AT_ONCE_MS);
    expect(run.stderr).toContain("oasis up: --host-ip needs iproute2's 'ip' command, which is not in PATH");
    expect(run.stdout).not.toContain('ready');
    expect(linkExistsIn(ns, tap)).toBe(false);
  });

  it.each([
    ['up', []],
    ['iperf3', ['-c', '10.9.9.1']],
  ])('oasis %s: the first Ctrl-C during start-up ends it: exit 130, the TAP released', async (cmd, extra) => {
    const ns = lab.namespace();
    const tap = lab.tapName();
    // IPv6 duplicate address detection holds the start-up for about a second.
    const run = oasis(ns, [cmd, ...extra, '--tap', tap, '--ip', '10.9.9.2/24', '--ip6', '2001:db8:9::2/64']);
    await until(run, 'the TAP', () => run.stderr.includes('tentative'));
    expect(linkExistsIn(ns, tap)).toBe(true);
    run.child.kill('SIGINT');
    const { code } = await run.exited;
    expect(code).toBe(130);
    expect(run.stderr).toContain(`oasis ${cmd}: interrupted by SIGINT`);
    expect(run.stdout).not.toContain('ready');
    expect(linkExistsIn(ns, tap)).toBe(false);
  });
});

describe.skipIf(!canTap || !OASIS_BUILT)(
  'oasis router start-up failures release every TAP and exit at once',
  () => {
    const lab = new Lab();
    afterAll(() => lab.close());

    /** `--if` for two TAPs (the second with IPv6, whose duplicate address detection takes a second). */
    function ifs(): { names: [string, string]; args: string[] } {
      const names: [string, string] = [lab.tapName(), lab.tapName()];
      return {
        names,
        args: [
          '--if',
          `${names[0]},ip=10.9.1.1/24,host-ip=10.9.1.2/24`,
          '--if',
          `${names[1]},ip=10.9.2.1/24,ip6=2001:db8:92::1/64`,
        ],
      };
    }

    it.each([
      [
        '--user with no such user',
        ['--user', 'oasis-no-such-user'],
        [],
        /^oasis router: --user: no such user: oasis-no-such-user$/,
      ],
      ["'ip' missing from PATH", [], ['PATH=/nonexistent-oasis-dir'], /^oasis router: .*ENOENT/],
    ])('%s: exit 2 with one line, no TAP left', async (_n, extra, env, message) => {
      const ns = lab.namespace();
      const { names, args } = ifs();
      const run = oasis(ns, ['router', ...args, ...extra], env);
      const { code, ms } = await run.exited;
      expect(code).toBe(2);
      expect(ms).toBeLessThan(AT_ONCE_MS);
      expect(run.stderr.trim()).toMatch(message);
      for (const name of names) expect(linkExistsIn(ns, name)).toBe(false);
    });

    it('the first Ctrl-C during start-up ends it: exit 130, no TAP left', async () => {
      const ns = lab.namespace();
      const { names, args } = ifs();
      const run = oasis(ns, ['router', ...args]);
      await until(run, 'the TAPs', () => run.stderr.includes('tentative'));
      run.child.kill('SIGINT');
      const { code } = await run.exited;
      expect(code).toBe(130);
      expect(run.stderr).toContain('oasis router: interrupted by SIGINT');
      expect(run.stdout).not.toContain('ready');
      for (const name of names) expect(linkExistsIn(ns, name)).toBe(false);
    });
  },
);

describe.skipIf(!canTap || !OASIS_BUILT)('oasis up tells the truth about its link', () => {
  const lab = new Lab();
  afterAll(() => lab.close());

  it('without --host-ip: says the kernel side is down, and when it comes up', async () => {
    const ns = lab.namespace();
    const tap = lab.tapName();
    const run = oasis(ns, ['up', '--tap', tap, '--ip', '10.9.9.2/24']);
    await until(run, 'ready', () => run.stdout.includes('ready'));
    expect(run.stdout).toMatch(/^ready .* kernel=down/);
    expect(run.stderr).toContain(`${tap}: the kernel's side is down (no --host-ip given)`);
    ns.run('ip', 'addr', 'add', '10.9.9.1/24', 'dev', tap);
    ns.run('ip', 'link', 'set', tap, 'up');
    await until(run, "the kernel's side up", () =>
      run.stderr.includes(`${tap}: the kernel's side is up now`),
    );
    const ping = await ns.exec('ping', ['-c', '1', '-W', '2', '10.9.9.2']);
    expect(ping.stdout).toContain('1 received');
    run.child.kill('SIGINT');
    expect((await run.exited).code).toBe(0);
    expect(counters(run).kernelSide).toBe('up');
  });

  it('while the kernel side stays down, the exit counters say why frames were not written', async () => {
    const ns = lab.namespace();
    const tap = lab.tapName();
    // IPv6 sends at once (duplicate address detection, router solicitation): refused by the kernel.
    const run = oasis(ns, ['up', '--tap', tap, '--ip', '10.9.9.2/24', '--ip6', '2001:db8:9::2/64']);
    await until(run, 'ready', () => run.stdout.includes('ready'));
    run.child.kill('SIGINT');
    expect((await run.exited).code).toBe(0);
    const c = counters(run);
    expect(c.kernelSide).toBe('down');
    expect(c.link.drops['io-error']).toBeGreaterThan(0);
    expect(c.notes).toEqual([
      `the kernel's side of ${tap} is down: ${c.link.drops['io-error']} frames could not be written (io-error)`,
    ]);
  });

  it('--impair loss: the exit counters show the frames the impairment dropped', async () => {
    const ns = lab.namespace();
    const tap = lab.tapName();
    const run = oasis(ns, [
      'up',
      ...['--tap', tap, '--ip', '10.9.9.2/24', '--host-ip', '10.9.9.1/24'],
      ...['--impair', 'loss=50%,seed=11'],
    ]);
    await until(run, 'ready', () => run.stdout.includes('ready'));
    const ping = await ns.exec('ping', ['-c', '20', '-i', '0.02', '-W', '1', '10.9.9.2']);
    expect(ping.stdout).toMatch(/20 packets transmitted/);
    run.child.kill('SIGINT');
    expect((await run.exited).code).toBe(0);
    const c = counters(run);
    const lost = c.impair!.in.lost + c.impair!.out.lost;
    expect(lost).toBeGreaterThan(0);
    expect(c.link.drops['impair-loss']).toBe(lost);
  });

  it('--pcap: the capture is on disk within a second, while oasis up runs', async () => {
    const ns = lab.namespace();
    const tap = lab.tapName();
    const file = join(lab.dir(), 'live.pcap');
    const run = oasis(ns, [
      'up',
      '--tap',
      tap,
      '--ip',
      '10.9.9.2/24',
      '--host-ip',
      '10.9.9.1/24',
      '--pcap',
      file,
    ]);
    await until(run, 'ready', () => run.stdout.includes('ready'));
    const ping = await ns.exec('ping', ['-c', '3', '-i', '0.1', '-W', '1', '10.9.9.2']);
    expect(ping.stdout).toContain('3 received');
    await new Promise((r) => setTimeout(r, 1200));
    const capture = parseCapture(readFileSync(file));
    expect(capture.ok && capture.value.error).toBe(undefined);
    // Three requests in, three replies out (ARP frames besides).
    const icmp = capture.ok
      ? capture.value.frames.filter((f) => f.bytes[12] === 0x08 && f.bytes[13] === 0 && f.bytes[23] === 1)
      : [];
    expect(icmp.length).toBe(6);
    expect(run.child.exitCode).toBe(null);
    run.child.kill('SIGINT');
    expect((await run.exited).code).toBe(0);
  });
});

describe.skipIf(!canTap || !OASIS_BUILT || !hasIperf3)(
  'oasis iperf3 against the kernel iperf3 server',
  () => {
    const lab = new Lab();
    afterAll(() => lab.close());

    /** A namespace running `iperf3 -s -1` (on any address) and a TAP name for Oasis there. */
    async function server(): Promise<{ ns: NetNs; tap: string }> {
      const ns = lab.namespace();
      ns.spawn('iperf3', ['-s', '-1']);
      await new Promise((r) => setTimeout(r, 300));
      return { ns, tap: lab.tapName() };
    }

    it('--pcap: the first Ctrl-C ends the test at once, exit 130, the capture complete', async () => {
      const { ns, tap } = await server();
      const file = join(lab.dir(), 'iperf3.pcap');
      const run = oasis(ns, [
        'iperf3',
        ...['-c', '10.9.9.1', '-t', '20', '--tap', tap, '--ip', '10.9.9.2/24', '--host-ip', '10.9.9.1/24'],
        ...['--pcap', file],
      ]);
      // iperf3 ends the first interval at 1.00 s, or a little later on a loaded machine.
      await until(run, 'a first interval', () => /0\.00-1\.\d\d +sec/.test(run.stdout), 15_000);
      run.child.kill('SIGINT');
      const { code, ms } = await run.exited;
      expect(code).toBe(130);
      expect(run.stderr).toContain('oasis iperf3: interrupt - the client has terminated');
      const capture = parseCapture(readFileSync(file));
      expect(capture.ok).toBe(true);
      if (capture.ok) {
        expect(capture.value.error).toBeUndefined();
        expect(capture.value.frames.length).toBeGreaterThan(1000);
      }
      expect(ms).toBeLessThan(20_000);
      expect(linkExistsIn(ns, tap)).toBe(false);
    });

    it('-b paces TCP, as iperf3 does', async () => {
      const { ns, tap } = await server();
      const run = oasis(ns, [
        'iperf3',
        ...['-c', '10.9.9.1', '-t', '2', '-b', '40M', '--json'],
        ...['--tap', tap, '--ip', '10.9.9.2/24', '--host-ip', '10.9.9.1/24'],
      ]);
      const { code } = await run.exited;
      expect(code).toBe(0);
      const report = JSON.parse(run.stdout);
      const sent = report.end.sum_sent.bits_per_second;
      const received = report.end.sum_received.bits_per_second;
      expect(sent).toBeGreaterThan(40e6 * 0.8);
      expect(sent).toBeLessThan(40e6 * 1.1);
      expect(received).toBeLessThan(40e6 * 1.1);
    });
  },
);
