/**
 * What both `oasis demo` tours share: the addresses, and the narration — each step announced with
 * `== NAME: what`, answered with `ok: detail` or `FAILED: reason`, then a summary table and the exit
 * code (0 only if every step passed).
 */

/** The demo network: Oasis is .2 / ::2, its peer (the kernel, or the in-process client) .1 / ::1. */
export const OASIS4 = '10.201.0.2';
export const PEER4 = '10.201.0.1';
export const OASIS6 = 'fd00:201::2';
export const PEER6 = 'fd00:201::1';
export const PREFIX4 = 24;
export const PREFIX6 = 64;

/**
 * The router leg: left (.2 on 10.202.1.0/24, ::2 in fd00:202:1::/64) and right (.2 on
 * 10.202.2.0/24, its IPv6 address from SLAAC in fd00:202:2::/64), joined only through an Oasis
 * router that is .1 / ::1 on both links and advertises the right prefix.
 */
export const LEFT4 = '10.202.1.2';
export const ROUTER_LEFT4 = '10.202.1.1';
export const RIGHT4 = '10.202.2.2';
export const ROUTER_RIGHT4 = '10.202.2.1';
export const LEFT6 = 'fd00:202:1::2';
export const ROUTER_LEFT6 = 'fd00:202:1::1';
export const ROUTER_RIGHT6 = 'fd00:202:2::1';
/** The prefix the router advertises on the right link (RFC 4862 §5.5.3: a /64 for SLAAC). */
export const RIGHT_PREFIX6 = 'fd00:202:2::';

/** One row of the summary table. */
export interface StepResult {
  readonly step: string;
  readonly ok: boolean;
  readonly detail: string;
}

export class Tour {
  private readonly rows: StepResult[] = [];

  constructor(private readonly print: (line: string) => void = (line) => console.log(line)) {}

  /**
   * Announces a step, runs it and prints its result. `fn` returns the detail shown when it passes;
   * a throw fails the step with the error's first line. With `timeoutMs` a step that takes longer
   * fails (what it started is left to the caller's cleanup).
   */
  async step(name: string, what: string, fn: () => Promise<string>, timeoutMs?: number): Promise<boolean> {
    this.print(`\n== ${name}: ${what}`);
    try {
      const detail = await (timeoutMs === undefined ? fn() : withTimeout(fn(), timeoutMs));
      this.rows.push({ step: name, ok: true, detail });
      this.print(`   ok: ${detail}`);
      return true;
    } catch (e) {
      const detail = e instanceof Error ? e.message.split('\n')[0]! : String(e);
      this.rows.push({ step: name, ok: false, detail });
      this.print(`   FAILED: ${detail}`);
      return false;
    }
  }

  /** An indented line under the current step (what happened on the wire, a cache entry...). */
  note(line: string): void {
    this.print(`   ${line}`);
  }

  get results(): readonly StepResult[] {
    return this.rows;
  }

  /** Prints the summary table under `title`; returns the exit code. */
  summary(title = 'Summary'): number {
    this.print(`\n${title}`);
    const width = Math.max(10, ...this.rows.map((r) => r.step.length));
    for (const r of this.rows)
      this.print(`  ${r.ok ? 'ok    ' : 'FAILED'} ${r.step.padEnd(width)} ${r.detail}`);
    return this.rows.length > 0 && this.rows.every((r) => r.ok) ? 0 : 1;
  }
}

/** `p`, or a rejection after `ms` (the timer never outlives the race). */
export function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no result after ${ms / 1000} s`)), ms);
  });
  return Promise.race([p, late]).finally(() => clearTimeout(timer));
}
