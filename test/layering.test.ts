/**
 * The architecture's two import rules (docs/ARCHITECTURE.md "Imports only go downward"):
 * 1. pure modules import no Node API or npm package and use no clock, timer, randomness or process;
 * 2. a module imports only from its own folder or from folders of a lower rank.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const SRC = resolve(import.meta.dirname, '../src');

/** Rank of each top-level module or folder of src/: imports may only point to a lower rank (or the same folder). */
const RANK: Record<string, number> = {
  'bytes.ts': 0,
  'result.ts': 0,
  'random.ts': 0,
  'ipproto.ts': 0,
  'addr.ts': 1,
  'clock.ts': 1,
  checksum: 2,
  ethernet: 3,
  fragments: 3,
  arp: 4,
  ipv4: 4,
  ipv6: 4,
  udp: 5,
  tcp: 5,
  'format.ts': 6,
  link: 7,
  stack: 8,
  router: 9,
  apps: 9,
  testing: 9,
  cli: 10,
  // The public API's namespaces (re-exports only, pure): below index.ts, above everything they gather.
  api: 10,
  'index.ts': 11,
};

/**
 * Folders allowed to touch Node, npm packages, clocks and timers, and the effectful files of otherwise
 * pure folders (the router's forwarding plane is pure; its driver is not).
 */
const EFFECTFUL = new Set(['link', 'stack', 'apps', 'testing', 'cli', 'index.ts', 'router/driver.ts']);

function isEffectful(file: string): boolean {
  return EFFECTFUL.has(topOf(file)) || EFFECTFUL.has(relative(SRC, file));
}

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = join(dir, e.name);
    if (e.isDirectory()) return sourceFiles(p);
    return e.name.endsWith('.ts') ? [p] : [];
  });
}

function topOf(file: string): string {
  return relative(SRC, file).split('/')[0]!;
}

function withoutComments(text: string): string {
  return text.replace(/\/\*[\s\S]*?\*\//g, '').replace(/(^|[^:'"`])\/\/.*$/gm, '$1');
}

function importsOf(text: string): string[] {
  const specs: string[] = [];
  const re =
    /(?:import|export)\s[^'"]*?from\s*['"]([^'"]+)['"]|import\s*\(\s*['"]([^'"]+)['"]\s*\)|import\s+['"]([^'"]+)['"]/g;
  for (const m of text.matchAll(re)) specs.push((m[1] ?? m[2] ?? m[3])!);
  return specs;
}

const FORBIDDEN_IN_PURE = [
  /\bDate\.now\b/,
  /\bnew Date\b/,
  /\bMath\.random\b/,
  /\bperformance\.now\b/,
  /\bsetTimeout\b/,
  /\bsetInterval\b/,
  /\bsetImmediate\b/,
  /\bqueueMicrotask\b/,
  /\bprocess\./,
  /\brequire\(/,
];

const files = sourceFiles(SRC);

describe('layering', () => {
  it('knows every top-level module of src/', () => {
    const unknown = [...new Set(files.map(topOf))].filter((t) => !(t in RANK));
    expect(unknown, 'add new top-level modules to RANK in this test').toEqual([]);
  });

  it.each(files.map((f) => [relative(SRC, f), f]))('%s imports only downward', (_name, file) => {
    expect(violations(file, readFileSync(file, 'utf8'))).toEqual([]);
  });

  it.each([
    ['ipv4/wire.ts', "import { x } from '../tcp/wire.js';", 'ipv4 (rank 4) imports tcp (rank 5)'],
    ['ipv4/wire.ts', "import { x } from '../ipv6/wire.js';", 'ipv4 (rank 4) imports ipv6 (rank 4)'],
    ['arp/cache.ts', "import { readFileSync } from 'node:fs';", "pure module imports 'node:fs'"],
    ['tcp/core.ts', 'const t = Date.now();', 'pure module uses \\bDate\\.now\\b'],
    ['router/fib.ts', "import { x } from 'node:fs';", "pure module imports 'node:fs'"],
    ['router/forward.ts', 'setTimeout(f, 1);', 'pure module uses \\bsetTimeout\\b'],
  ])('flags %s containing %s', (name, text, problem) => {
    expect(violations(join(SRC, name), text)).toEqual([problem]);
  });
});

function violations(file: string, source: string): string[] {
  const top = topOf(file);
  const text = withoutComments(source);
  const problems: string[] = [];
  for (const spec of importsOf(text)) {
    if (!spec.startsWith('.')) {
      if (!isEffectful(file)) problems.push(`pure module imports '${spec}'`);
      continue;
    }
    const target = resolve(dirname(file), spec);
    if (!target.startsWith(SRC)) {
      problems.push(`imports '${spec}' from outside src/`);
      continue;
    }
    const targetTop = topOf(target.replace(/\.js$/, '.ts'));
    if (targetTop === top) continue;
    const from = RANK[top] ?? -1;
    const to = RANK[targetTop] ?? Number.POSITIVE_INFINITY;
    if (to >= from) problems.push(`${top} (rank ${from}) imports ${targetTop} (rank ${to})`);
  }
  if (!isEffectful(file)) {
    for (const re of FORBIDDEN_IN_PURE) if (re.test(text)) problems.push(`pure module uses ${re.source}`);
  }
  return problems;
}
