/**
 * Gathers every bench/results/<name>.json into bench/results/SUMMARY.md and a throughput chart,
 * bench/results/throughput.svg. Runs last in `npm run bench`, or alone as `npm run bench -- summary`.
 *
 * The bench named N lives in bench/N.ts, writes bench/results/N.json, and may export
 * - `markdown(results)`: its section of the summary (otherwise a fallback here, or the raw JSON);
 * - `goals(results)`: rows of the goals table;
 * - `chart(results)`: bar groups for the throughput chart.
 * Results of the form `{ skipped: "reason" }` or `{ error: "message" }` (a system bench that could not
 * run or failed) are reported as such without calling the module's markdown.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, release } from 'node:os';
import { join } from 'node:path';

export interface Goal {
  readonly what: string;
  readonly target: string;
  /** The measured figure as text, or undefined when it was not measured. */
  readonly figure?: string;
  readonly met?: boolean;
}

export interface ChartGroup {
  readonly label: string;
  readonly bars: readonly { readonly series: 'Oasis' | 'kernel'; readonly gbps: number | null }[];
}

interface BenchModule {
  markdown?: (results: unknown) => string;
  goals?: (results: unknown) => Goal[];
  chart?: (results: unknown) => ChartGroup[];
}

/** Sections in this order, then any other results alphabetically. */
const ORDER = [
  'iperf3',
  'ping',
  'router',
  'loss',
  'rss',
  'scale',
  'hardening',
  'tcp-memory',
  'wire',
  'checksum',
];

/** npm scripts run from the package root, whether benches run compiled (build/bench) or from source. */
export function resultsDir(): string {
  return join(process.cwd(), 'bench', 'results');
}

export function writeResults(name: string, results: unknown): string {
  const dir = resultsDir();
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `${name}.json`);
  writeFileSync(file, `${JSON.stringify(results, null, 2)}\n`);
  console.log(`wrote ${file}`);
  return file;
}

/** Three significant digits: more would only show the noise of a shared machine. */
export function round(x: number): number {
  return Number(x.toPrecision(3));
}

export function isRecord(x: unknown): x is Record<string, unknown> {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}

/** Why results hold no figures: a bench that was skipped or failed as a whole. */
function notRun(results: unknown): { kind: 'skipped' | 'failed'; why: string } | undefined {
  if (!isRecord(results)) return undefined;
  if (typeof results.skipped === 'string') return { kind: 'skipped', why: results.skipped };
  if (typeof results.error === 'string') return { kind: 'failed', why: results.error };
  return undefined;
}

/** A Markdown table; cells are text, kept to one line. */
export function table(head: readonly string[], rows: readonly (readonly string[])[]): string {
  const line = (cells: readonly string[]) =>
    `| ${cells.map((c) => c.replace(/\s+/g, ' ').replace(/\|/g, '\\|')).join(' | ')} |`;
  return [line(head), line(head.map(() => '---')), ...rows.map(line)].join('\n');
}

/** An error message short enough for a table cell. */
export function brief(text: string): string {
  const line = text.replace(/\s+/g, ' ').trim();
  return line.length > 120 ? `${line.slice(0, 117)}...` : line;
}

export function fmt(x: number | null | undefined, digits = 3): string {
  return x === null || x === undefined || !Number.isFinite(x) ? '—' : String(Number(x.toPrecision(digits)));
}

export function metText(met: boolean | undefined): string {
  return met === undefined ? 'not measured' : met ? '✅ met' : '❌ not met';
}

async function loadModule(name: string): Promise<BenchModule> {
  if (!/^[a-z0-9-]+$/.test(name)) return {};
  try {
    return (await import(`./${name}.js`)) as BenchModule;
  } catch (e) {
    // Results without a module of their name are fine; a module that fails to load is worth a word.
    if ((e as { code?: string }).code !== 'ERR_MODULE_NOT_FOUND') console.log(`summary: ${name}.js: ${e}`);
    return {};
  }
}

function checksumMarkdown(results: unknown): string {
  if (!Array.isArray(results)) return rawJson(results);
  const rows = results.filter(isRecord);
  const sizes = [...new Set(rows.map((r) => Number(r.bytes)))].sort((a, b) => a - b);
  const variants = [...new Set(rows.map((r) => String(r.variant)))];
  const cell = (v: string, s: number) => {
    const r = rows.find((x) => x.variant === v && x.bytes === s);
    return r === undefined ? '—' : `${fmt(Number(r.gbps))} (best ${fmt(Number(r.gbpsBest))})`;
  };
  return [
    'Internet checksum, GB/s (10^9 bytes per second) of the median sample, best sample in brackets.',
    '',
    table(
      ['variant', ...sizes.map((s) => `${s} B`)],
      variants.map((v) => [v, ...sizes.map((s) => cell(v, s))]),
    ),
  ].join('\n');
}

function rawJson(results: unknown): string {
  const text = JSON.stringify(results, null, 2);
  return `\`\`\`json\n${text.length > 4000 ? `${text.slice(0, 4000)}\n…` : text}\n\`\`\``;
}

/** tcp-memory.ts (two stacks in one process) exports no chart or goals: read its bulk rows here. */
function tcpMemoryBulk(results: unknown): { mtu: number; offloads: boolean; gbps: number }[] {
  const bulk = isRecord(results) && Array.isArray(results.bulk) ? results.bulk : [];
  return bulk
    .filter(isRecord)
    .flatMap((b) =>
      typeof b.mtu === 'number' && typeof b.gbps === 'number'
        ? [{ mtu: b.mtu, offloads: b.offloads === true, gbps: b.gbps }]
        : [],
    );
}

const IN_PROCESS_GOAL_GBPS = 4;

function bulkLabel(b: { mtu: number; offloads: boolean }): string {
  return `MTU ${b.mtu}${b.offloads ? ' with offloads' : ''}`;
}

const tcpMemory: BenchModule = {
  chart: (results) =>
    tcpMemoryBulk(results).map((b) => ({
      label: `Oasis↔Oasis in-process, ${bulkLabel(b)}`,
      bars: [{ series: 'Oasis', gbps: b.gbps }],
    })),
  // Judged at MSS 1460 (MTU 1500, the MTU of the TAP figures) with the pair's offloads, as the
  // kernel's veth figures are; frame by frame and the largest MTU are shown beside it.
  goals: (results) => {
    const bulk = tcpMemoryBulk(results);
    const judged = bulk.find((b) => b.mtu === 1500 && b.offloads);
    const others = bulk.filter((b) => b !== judged).map((b) => `${fmt(b.gbps)} at ${bulkLabel(b)}`);
    return [
      {
        what: 'two Oasis stacks in-process, MTU 1500 with offloads',
        target: `≥ ${IN_PROCESS_GOAL_GBPS} Gbit/s`,
        ...(judged === undefined
          ? {}
          : {
              figure: `${fmt(judged.gbps)} Gbit/s${others.length > 0 ? ` (${others.join(', ')})` : ''}`,
              met: judged.gbps >= IN_PROCESS_GOAL_GBPS,
            }),
      },
    ];
  },
};

/** What summary knows of benches whose modules do not say it themselves; a module's exports win. */
const ADAPTERS: Record<string, BenchModule> = {
  checksum: { markdown: checksumMarkdown },
  'tcp-memory': tcpMemory,
};

const COLORS = { Oasis: '#2b6cb0', kernel: '#a0a0a0' } as const;

/** A round tick step (1, 2, 2.5 or 5 times a power of ten) giving at most 5 intervals up to `top`. */
function ticks(top: number): { step: number; max: number } {
  const raw = top > 0 ? top / 5 : 0.2;
  const p = 10 ** Math.floor(Math.log10(raw));
  const step = ([1, 2, 2.5, 5, 10].find((m) => m * p >= raw * (1 - 1e-9)) ?? 10) * p;
  return { step, max: Math.max(step, Math.ceil(top / step - 1e-9) * step) };
}

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/** A horizontal bar chart, one group of bars (Oasis, kernel) per case. */
export function throughputSvg(groups: readonly ChartGroup[]): string {
  const [left, plot, right, top, bar, gap, groupGap] = [250, 430, 70, 64, 16, 3, 14];
  const { step, max } = ticks(Math.max(0, ...groups.flatMap((g) => g.bars.map((b) => b.gbps ?? 0))));
  const x = (v: number) => left + (v / max) * plot;
  const body: string[] = [];
  let y = top;
  for (const g of groups) {
    const h = g.bars.length * (bar + gap) - gap;
    body.push(`<text x="${left - 8}" y="${y + h / 2 + 4}" text-anchor="end">${esc(g.label)}</text>`);
    for (const b of g.bars) {
      if (b.gbps === null) {
        body.push(`<text x="${left + 4}" y="${y + bar - 4}" fill="#b00">${b.series}: failed</text>`);
      } else {
        const w = (x(b.gbps) - left).toFixed(1);
        body.push(`<rect x="${left}" y="${y}" width="${w}" height="${bar}" fill="${COLORS[b.series]}"/>`);
        body.push(`<text x="${(x(b.gbps) + 4).toFixed(1)}" y="${y + bar - 4}">${fmt(b.gbps)}</text>`);
      }
      y += bar + gap;
    }
    y += groupGap - gap;
  }
  const axis: string[] = [];
  for (let i = 0; i * step <= max * (1 + 1e-9); i++) {
    const v = i * step;
    axis.push(`<line x1="${x(v)}" x2="${x(v)}" y1="${top - 6}" y2="${y}" stroke="#ddd"/>`);
    axis.push(`<text x="${x(v)}" y="${y + 14}" text-anchor="middle">${fmt(v)}</text>`);
  }
  const legend = (['Oasis', 'kernel'] as const).map(
    (s, i) =>
      `<rect x="${left + i * 150}" y="30" width="12" height="12" fill="${COLORS[s]}"/>` +
      `<text x="${left + i * 150 + 18}" y="40">${s === 'Oasis' ? 'Oasis' : 'Linux kernel (veth, offloads off)'}</text>`,
  );
  const width = left + plot + right;
  const height = y + 30;
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="12">`,
    `<rect width="${width}" height="${height}" fill="#fff"/>`,
    `<text x="${left}" y="18" font-size="14" font-weight="bold">Throughput, Gbit/s (receiver side, MTU 1500)</text>`,
    ...legend,
    ...axis,
    ...body,
    `<text x="${left + plot / 2}" y="${height - 4}" text-anchor="middle">Gbit/s</text>`,
    '</svg>',
    '',
  ].join('\n');
}

function machine(): string {
  const cpu = cpus();
  return table(
    ['cpu', 'cpus', 'kernel', 'node', 'date'],
    [[cpu[0]?.model ?? '?', String(cpu.length), release(), process.version, new Date().toISOString()]],
  );
}

/** Each bench's JSON, or undefined when it has not run (or its file is unreadable, with the reason). */
function readResults(dir: string, name: string): { results?: unknown; error?: string } {
  const file = join(dir, `${name}.json`);
  if (!existsSync(file)) return {};
  try {
    return { results: JSON.parse(readFileSync(file, 'utf8')) };
  } catch (e) {
    return { error: (e as Error).message };
  }
}

export async function run(): Promise<string> {
  const dir = resultsDir();
  const present = existsSync(dir)
    ? readdirSync(dir)
        .filter((f) => f.endsWith('.json'))
        .map((f) => f.slice(0, -'.json'.length))
    : [];
  const rank = (n: string) => (ORDER.includes(n) ? ORDER.indexOf(n) : ORDER.length);
  // Known benches too, so that a goal nobody measured still shows as such.
  const names = [...new Set([...ORDER, ...present])].sort((a, b) => rank(a) - rank(b) || a.localeCompare(b));

  const sections: string[] = [];
  const goals: Goal[] = [];
  const chart: ChartGroup[] = [];
  for (const name of names) {
    const { results, error } = readResults(dir, name);
    const mod = { ...ADAPTERS[name], ...(await loadModule(name)) };
    const none = notRun(results);
    for (const g of mod.goals?.(results) ?? [])
      goals.push(none === undefined ? g : { ...g, figure: none.kind });
    if (error !== undefined) sections.push(`## ${name}\n\nUnreadable results: ${error}`);
    if (results === undefined) continue;
    if (none !== undefined) {
      sections.push(
        none.kind === 'skipped'
          ? `## ${name}\n\nSkipped: ${none.why}.`
          : `## ${name}\n\nFailed:\n\n\`\`\`\n${none.why}\n\`\`\``,
      );
      continue;
    }
    const body = mod.markdown?.(results) ?? rawJson(results);
    sections.push(body.startsWith('## ') ? body : `## ${name}\n\n${body}`);
    chart.push(...(mod.chart?.(results) ?? []));
  }

  const md = [
    '# Oasis benchmark summary',
    '',
    'Written by `npm run bench` (bench/summary.ts) from the JSON files next to it.',
    '',
    machine(),
    '',
    '## Goals',
    '',
    table(
      ['goal', 'target', 'measured', 'status'],
      goals.map((g) => [g.what, g.target, g.figure ?? '—', metText(g.met)]),
    ),
    '',
    ...(chart.length > 0 ? ['![throughput](throughput.svg)', ''] : []),
    ...sections.flatMap((s) => [s, '']),
  ].join('\n');
  mkdirSync(dir, { recursive: true });
  const file = join(dir, 'SUMMARY.md');
  writeFileSync(file, md);
  console.log(`wrote ${file}`);
  if (chart.length > 0) {
    const svg = join(dir, 'throughput.svg');
    writeFileSync(svg, throughputSvg(chart));
    console.log(`wrote ${svg}`);
  }
  return md;
}
