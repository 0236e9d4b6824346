/**
 * The package as a user gets it: `npm pack` makes the tarball, `npm install` puts it into an empty
 * project in a temporary folder (with fast-check, its optional peer, and @types/node), and from there
 * plain Node imports every subpath of the `exports` map and uses it, and the repository's TypeScript
 * type-checks a consumer file against the installed declarations. Internal files stay out of reach
 * for both. The installed `oasis` command prints its help.
 *
 * The same type check covers every ```ts example in the public API's doc comments (src/index.ts,
 * src/api/, src/testing/), each as a file of its own, so the documentation does not rot either.
 *
 * The tarball holds dist/ as it is: `npm test` builds first; run `npm run build` before running this
 * file alone. npm installs with `--prefer-offline`: from its cache when it has the packages (after
 * the first run, or `npm ci`), from the registry otherwise.
 */
import { execFile } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const run = promisify(execFile);
const ROOT = resolve(import.meta.dirname, '../..');
const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
  name: string;
  version: string;
  exports: Record<string, unknown>;
  devDependencies: Record<string, string>;
};
const NPM_QUIET = ['--no-audit', '--no-fund', '--loglevel=error'];

/** The files whose doc comments are the published API's documentation. */
const DOCUMENTED = [
  'src/index.ts',
  ...readdirSync(join(ROOT, 'src/api')).map((f) => `src/api/${f}`),
  'src/testing/index.ts',
  'src/testing/arbitraries.ts',
];

/** The ```ts blocks of the doc comments in `file`, without the leading ` * `. */
function docExamples(file: string): string[] {
  const text = readFileSync(join(ROOT, file), 'utf8');
  return [...text.matchAll(/^\s*\* ```ts\n([\s\S]*?)^\s*\* ```$/gm)].map((m) =>
    m[1]!.replace(/^\s*\* ?/gm, ''),
  );
}

/**
 * What an example may use without defining it: bytes it is about, a stack, a handler. An example
 * with no import of its own gets the package's socket functions too.
 */
function docPrelude(example: string): string {
  const imports = /^import /m.test(example)
    ? "import type { Stack as Stack_ } from 'oasis-net';\n"
    : "import { type Stack as Stack_, connect, createServer, createSocket } from 'oasis-net';\n";
  return `${imports}declare const frame: Uint8Array;
declare const packet: Uint8Array;
declare const bytes: Uint8Array;
declare const src: number;
declare const dst: number;
declare const stack: Stack_;
declare function handle(payload: Uint8Array): void;
`;
}

let work: string;
let project: string;

/** Runs `cmd` in the consumer project; resolves with its output, rejects with it on failure. */
async function inProject(cmd: string, args: readonly string[], timeoutMs = 100_000) {
  try {
    return await run(cmd, args, { cwd: project, timeout: timeoutMs, maxBuffer: 16 * 1024 * 1024 });
  } catch (e) {
    const err = e as { stdout?: string; stderr?: string; message: string };
    throw new Error(
      `${cmd} ${args.join(' ')} failed: ${err.message}\n${err.stdout ?? ''}\n${err.stderr ?? ''}`,
    );
  }
}

beforeAll(async () => {
  if (!existsSync(join(ROOT, 'dist/index.js')))
    throw new Error('dist/index.js is missing: the tarball packs dist/ as it is (npm run build)');
  work = mkdtempSync(join(tmpdir(), 'oasis-pack-test-'));
  project = join(work, 'consumer');
  mkdirSync(project);
  // --ignore-scripts: `prepare` would rebuild dist/ under other tests' feet; it is built already.
  const { stdout } = await run('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', work], {
    cwd: ROOT,
    maxBuffer: 16 * 1024 * 1024,
  });
  const [{ filename }] = JSON.parse(stdout) as [{ filename: string }];
  writeFileSync(
    join(project, 'package.json'),
    JSON.stringify({ name: 'consumer', version: '1.0.0', private: true, type: 'module' }),
  );
  await inProject('npm', [
    'install',
    '--prefer-offline',
    ...NPM_QUIET,
    join(work, filename),
    `fast-check@${pkg.devDependencies['fast-check']}`,
    `@types/node@${pkg.devDependencies['@types/node']}`,
  ]);
}, 120_000);

afterAll(() => {
  if (work !== undefined) rmSync(work, { recursive: true, force: true });
});

describe('the packed package, installed in an empty project', () => {
  it('has dist, bin and the README, and no tests', () => {
    const installed = join(project, 'node_modules', pkg.name);
    for (const f of [
      'dist/index.js',
      'dist/index.d.ts',
      'dist/testing/index.js',
      'bin/oasis.js',
      'README.md',
    ])
      expect(existsSync(join(installed, f)), f).toBe(true);
    expect(existsSync(join(installed, 'test'))).toBe(false);
  });

  it('imports every exports subpath with plain Node (ESM) and uses it', async () => {
    const subpaths = Object.keys(pkg.exports);
    expect(subpaths).toEqual(['.', './testing', './testing/arbitraries', './package.json']);
    const script = `
      import fc from 'fast-check';
      import * as oasis from 'oasis-net';
      import { twoHosts } from 'oasis-net/testing';
      import { impairments, twoHostsOptions } from 'oasis-net/testing/arbitraries';
      import meta from 'oasis-net/package.json' with { type: 'json' };

      // Root: the wire formats and a pure core.
      const frame = new Uint8Array(14);
      const emitted = oasis.ethernet.emit({ dst: 0xffffffffffff, src: 0x020000000001, vlans: [], ethertype: oasis.ethernet.ETHERTYPE_ARP }, frame);
      const parsed = oasis.ethernet.parse(frame);
      const line = oasis.formatFrame(frame);
      const fib = oasis.router.fib4Add(oasis.router.emptyFib4(), { prefix: oasis.parseIpv4Addr('10.1.0.0'), prefixLen: 16, iface: 3, metric: 0, origin: 'static' });
      const hop = fib.ok ? oasis.router.fib4Lookup(fib.value, oasis.parseIpv4Addr('10.1.2.3'))?.iface : undefined;
      const core = oasis.tcp.init(oasis.tcp.config(new Uint8Array(16)), 0);

      // Testing: two stacks on virtual time, an echo over the root's sockets.
      const { net, a, b } = twoHosts({ seed: 3, impair: { loss: 0.05 } });
      oasis.createServer(b, (s) => s.pipe(s)).listen(7);
      const socket = oasis.connect(a, { host: '10.0.0.2', port: 7 });
      socket.end('ping over oasis');
      const echoed = await net.settle(new Promise((resolve) => {
        let text = '';
        socket.on('data', (d) => { text += d; });
        socket.on('end', () => resolve(text));
      }));
      await net.close();

      // Arbitraries: values fast-check draws.
      const sample = fc.sample(twoHostsOptions(), { numRuns: 5, seed: 1 });
      const impair = fc.sample(impairments({ maxLoss: 0.5 }), { numRuns: 20, seed: 1 });

      // Internal files are not part of the package's surface.
      let internal;
      try { await import('oasis-net/dist/stack/stack.js'); internal = 'importable'; } catch (e) { internal = e.code; }

      console.log(JSON.stringify({
        name: meta.name,
        emitted,
        ethertype: parsed.ok ? parsed.value.repr.ethertype : parsed.error,
        line,
        hop,
        deadline: oasis.tcp.deadline(core),
        echoed,
        stack: a instanceof oasis.Stack,
        seeds: sample.map((o) => typeof o.seed),
        maxLoss: Math.max(...impair.map((o) => o.loss)),
        internal,
      }));
    `;
    writeFileSync(join(project, 'use.mjs'), script);
    const { stdout } = await inProject(process.execPath, ['use.mjs']);
    const out = JSON.parse(stdout);
    expect(out).toMatchObject({
      name: 'oasis-net',
      emitted: 14,
      ethertype: 0x0806,
      hop: 3,
      deadline: null,
      echoed: 'ping over oasis',
      stack: true,
      seeds: ['number', 'number', 'number', 'number', 'number'],
      internal: 'ERR_PACKAGE_PATH_NOT_EXPORTED',
    });
    expect(out.line).toContain('ARP');
    expect(out.maxLoss).toBeGreaterThan(0);
    expect(out.maxLoss).toBeLessThanOrEqual(0.5);
  });

  it("type-checks a consumer's TypeScript and the doc comments' examples against the installed declarations", async () => {
    const examples: string[] = [];
    mkdirSync(join(project, 'doc-examples'));
    for (const file of DOCUMENTED) {
      docExamples(file).forEach((example, i) => {
        const name = `doc-examples/${file.replace(/^src\//, '').replace(/[/.]/g, '_')}-${i + 1}.ts`;
        writeFileSync(join(project, name), `// From ${file}\n${docPrelude(example)}${example}export {};\n`);
        examples.push(name);
      });
    }
    // Every opening fence was matched by the extraction (none skipped for a missing closing one).
    const fences = DOCUMENTED.map(
      (f) => readFileSync(join(ROOT, f), 'utf8').match(/^\s*\* ```ts$/gm)?.length ?? 0,
    );
    expect(examples.length).toBe(fences.reduce((a, b) => a + b, 0));
    expect(examples.length).toBeGreaterThan(10);
    writeFileSync(
      join(project, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: {
          target: 'ES2022',
          module: 'NodeNext',
          moduleResolution: 'NodeNext',
          strict: true,
          exactOptionalPropertyTypes: true,
          noUncheckedIndexedAccess: true,
          noEmit: true,
          types: ['node'],
          // The declarations are checked too, as in a strict consumer.
          skipLibCheck: false,
        },
        files: ['consumer.ts', ...examples],
      }),
    );
    writeFileSync(
      join(project, 'consumer.ts'),
      `
      import fc from 'fast-check';
      import {
        type Ipv4Addr, type Link, type Result, type TcpSocket, connect, createServer, ipv4, tcp, memoryPair,
        parseIpv4Cidr, RealScheduler, Stack, VirtualScheduler,
      } from 'oasis-net';
      import { type SimNetwork, type TwoHosts, twoHosts } from 'oasis-net/testing';
      import { type Timed, schedules, twoHostsOptions } from 'oasis-net/testing/arbitraries';

      const scheduler = new RealScheduler();
      const [l1, l2]: [Link, Link] = memoryPair(scheduler);
      const s: Stack = new Stack({ scheduler });
      const cidr = parseIpv4Cidr('10.0.0.1/24');
      if (cidr !== undefined) s.addInterface({ link: l1, ipv4: [cidr] });
      const sock: TcpSocket = connect(s, 80, '10.0.0.2');
      createServer(s, (c: TcpSocket) => c.end()).listen(80);
      const parsed: Result<{ repr: ipv4.Ipv4Repr; payload: Uint8Array }> = ipv4.parse(new Uint8Array(20));
      const src: Ipv4Addr | undefined = parsed.ok ? parsed.value.repr.src : undefined;
      const step: tcp.TcpStep = tcp.step(tcp.init(tcp.config(new Uint8Array(16))), { kind: 'tick', now: 1 });
      const hosts: TwoHosts<VirtualScheduler> = twoHosts({ seed: 1 });
      const net: SimNetwork = hosts.net;
      const plan: fc.Arbitrary<Timed<number>[]> = schedules(fc.nat());
      fc.assert(fc.property(twoHostsOptions(), (o) => o.seed !== undefined));
      export { l2, sock, src, step, net, plan };

      // @ts-expect-error internal files are not exported
      import('oasis-net/dist/stack/stack.js');
      `,
    );
    const tsc = join(ROOT, 'node_modules/typescript/bin/tsc');
    const r = await inProject(process.execPath, [tsc, '-p', 'tsconfig.json']).catch((e: Error) => e);
    expect(r instanceof Error ? r.message : '').toBe('');
  }, 120_000);

  it('installs the oasis command, which runs', async () => {
    const { stdout } = await inProject(join(project, 'node_modules/.bin/oasis'), ['--help']);
    expect(stdout).toMatch(/^Usage: oasis <command>/);
  });
});
