/**
 * Runs the real `oasis` CLI (the built bin/oasis.js) inside a test namespace and talks to it like a
 * user would: waits for its `ready` line, stops it with SIGINT and reads the counters it prints.
 */
import { type ChildProcess, execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import type { NetNs } from './netns.js';

/** tshark is installed: the capture checks run (CI installs it). */
export const hasTshark = (() => {
  try {
    execFileSync('tshark', ['-v'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();

export const OASIS_BIN = resolve(import.meta.dirname, '../../bin/oasis.js');
/** The bundled CLI that bin/oasis.js loads exists (`npm run build`, which `npm test` runs first). */
export const OASIS_BUILT = existsSync(resolve(import.meta.dirname, '../../dist/oasis.mjs'));

export interface OasisHost {
  readonly child: ChildProcess;
  /** The `ready` line's key=value fields (tap, mac, ip, ...). */
  readonly ready: Record<string, string>;
  /** Everything printed so far. */
  output(): { stdout: string; stderr: string };
  /** SIGINT, then the counters JSON it prints on the way out. */
  stop(): Promise<{
    counters: Record<string, number>;
    reassemblyPeakBytes: number;
    code: number | string | null;
  }>;
}

export async function startOasis(ns: NetNs, args: readonly string[], timeoutMs = 10_000): Promise<OasisHost> {
  const child = ns.spawn(process.execPath, [OASIS_BIN, ...args]);
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (d: Buffer) => {
    stdout += d.toString();
  });
  child.stderr?.on('data', (d: Buffer) => {
    stderr += d.toString();
  });
  const exited = new Promise<number | string | null>((res) =>
    child.on('close', (code, signal) => res(code ?? signal)),
  );
  const readyLine = await new Promise<string>((res, rej) => {
    const timer = setTimeout(
      () => rej(new Error(`oasis not ready in ${timeoutMs} ms:\n${stdout}\n${stderr}`)),
      timeoutMs,
    );
    const check = () => {
      const line = stdout.split('\n').find((l) => l.startsWith('ready'));
      if (line) {
        clearTimeout(timer);
        res(line);
      }
    };
    child.stdout?.on('data', check);
    child.on('close', () => {
      clearTimeout(timer);
      rej(new Error(`oasis exited before ready:\n${stdout}\n${stderr}`));
    });
  });
  const ready = Object.fromEntries(
    readyLine
      .split(' ')
      .slice(1)
      .map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)] as [string, string]),
  );
  return {
    child,
    ready,
    output: () => ({ stdout, stderr }),
    async stop() {
      child.kill('SIGINT');
      const code = await exited;
      const json = stdout.slice(stdout.indexOf('{', stdout.indexOf('ready')));
      let parsed: { counters: Record<string, number>; reassemblyPeakBytes: number };
      try {
        parsed = JSON.parse(json);
      } catch {
        throw new Error(`oasis printed no counters (exit ${code}):\n${stdout}\n${stderr}`);
      }
      return { counters: parsed.counters, reassemblyPeakBytes: parsed.reassemblyPeakBytes, code };
    },
  };
}
