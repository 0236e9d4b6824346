/**
 * test/support/subnets.ts: blocks held at the same time are never the same, within a process and
 * across processes racing for them; released and dead processes' blocks come back.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { allocateSubnet } from './subnets.js';

const DIR = join(tmpdir(), 'oasis-test-subnets');

describe('allocateSubnet', () => {
  it('hands out distinct blocks with addresses inside them, and takes a released one back', () => {
    const [a, b] = [allocateSubnet(), allocateSubnet()];
    try {
      expect(a.index).not.toBe(b.index);
      expect(a.v4Prefix).toMatch(/^10\.11[2-5]\.\d+\.0\/24$/);
      expect(a.cidr4(2)).toBe(`${a.v4Prefix.slice(0, -5)}.2/24`);
      expect(a.ip6(1)).toBe(
        a.index === 0 ? 'fd6f:6173:6973::1' : `fd6f:6173:6973:${a.index.toString(16)}::1`,
      );
      expect(b.cidr6(10)).toBe(`${b.v6Prefix.replace('/64', '')}a/64`);
      expect(readdirSync(DIR)).toContain(`${a.index}.${process.pid}`);
      a.release();
      a.release();
      expect(readdirSync(DIR)).not.toContain(`${a.index}.${process.pid}`);
      const c = allocateSubnet();
      expect(c.index).toBeLessThanOrEqual(Math.max(a.index, b.index) + 1);
      c.release();
    } finally {
      a.release();
      b.release();
    }
  });

  it("skips a live process's block and sweeps a dead one's", async () => {
    const first = allocateSubnet();
    first.release();
    // Pid 1 is always alive; a child that has exited is not.
    const dead = spawn(process.execPath, ['-e', '']);
    const deadPid = dead.pid!;
    await new Promise((r) => dead.on('exit', r));
    const liveClaim = join(DIR, `${first.index}.1`);
    const deadClaim = join(DIR, `${first.index + 1}.${deadPid}`);
    writeFileSync(liveClaim, '');
    writeFileSync(deadClaim, '');
    try {
      const s = allocateSubnet();
      try {
        expect(s.index).not.toBe(first.index);
        expect(readdirSync(DIR)).not.toContain(`${first.index + 1}.${deadPid}`);
      } finally {
        s.release();
      }
    } finally {
      rmSync(liveClaim, { force: true });
      rmSync(deadClaim, { force: true });
    }
  });

  it('never gives one block to two processes allocating at the same time', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'oasis-subnets-test-'));
    const script = join(dir, 'child.ts');
    // Each child takes 6 blocks, prints them, and holds them until its stdin closes.
    writeFileSync(
      script,
      [
        `import { allocateSubnet } from ${JSON.stringify(resolve(import.meta.dirname, 'subnets.ts'))};`,
        'const got = Array.from({ length: 6 }, () => allocateSubnet().index);',
        'console.log(JSON.stringify(got));',
        'process.stdin.resume();',
        "process.stdin.on('end', () => process.exit(0));",
      ].join('\n'),
    );
    const children: ChildProcess[] = [];
    try {
      for (let i = 0; i < 4; i++)
        children.push(
          spawn(process.execPath, ['--import', 'tsx', script], { stdio: ['pipe', 'pipe', 'inherit'] }),
        );
      const lists = await Promise.all(
        children.map(
          (c) =>
            new Promise<number[]>((res, rej) => {
              let out = '';
              c.stdout!.on('data', (d: Buffer) => {
                out += d.toString();
                if (out.includes('\n')) res(JSON.parse(out) as number[]);
              });
              c.on('exit', (code) => rej(new Error(`child exited with ${code} before printing`)));
            }),
        ),
      );
      const all = lists.flat();
      expect(all).toHaveLength(24);
      expect(new Set(all).size).toBe(24);
    } finally {
      for (const c of children) c.stdin!.end();
      await Promise.all(
        children.map((c) => (c.exitCode === null ? new Promise((r) => c.on('exit', r)) : null)),
      );
      rmSync(dir, { recursive: true, force: true });
    }
  }, 30_000);
});
