/**
 * The in-process router leg on virtual time: right configures IPv6 by SLAAC from the router's
 * advertisements alone, the TCP transfer arrives intact through the router, and every step of the
 * leg passes with the narration the demo prints (the CLI test runs it on the real clock).
 */
import { describe, expect, it } from 'vitest';
import { ipv6ToString } from '../../../src/addr.js';
import { ROUTED_STEPS, routedLine, slaacAddress, tcpTransfer } from '../../../src/cli/demo/routed-memory.js';
import { RIGHT4, ROUTER_LEFT4, Tour } from '../../../src/cli/demo/tour.js';
import { VirtualScheduler } from '../../../src/clock.js';
import { runFor, runUntil, settle } from '../../../src/testing/time.js';

function network() {
  const scheduler = new VirtualScheduler();
  const log: string[] = [];
  const line = routedLine(scheduler, 0, (l) => log.push(l));
  return { scheduler, line, log };
}

describe('the router leg in process (virtual time)', () => {
  it('right gets a SLAAC address in the advertised prefix and the router as default router', async () => {
    const { scheduler, line, log } = network();
    expect(slaacAddress(line.right)).toBeUndefined();
    expect(await runUntil(scheduler, () => slaacAddress(line.right) !== undefined, { limitMs: 10_000 })).toBe(
      true,
    );
    const slaac = slaacAddress(line.right)!;
    expect(ipv6ToString(slaac.address)).toMatch(/^fd00:202:2:0:/);
    expect(slaac.prefixLen).toBe(64);
    expect(line.router.stack.counters.get('icmpv6/out-router-advertisement')).toBeGreaterThan(0);
    const reply = await settle(scheduler, line.left.stack.ipv6.ping(slaac.address));
    expect(reply?.hopLimit).toBe(63);
    // The log is held until the leg starts, then printed in order and passed through.
    expect(log).toEqual([]);
    line.releaseLog();
    expect(log.some((l) => /^\[\d+\.\d{3} right\] right0: fd00:202:2:0:\S+ preferred$/.test(l))).toBe(true);
    const held = log.length;
    line.left.stack.logEvent('after release');
    expect(log.slice(held)).toEqual([`[${(scheduler.now() / 1000).toFixed(3)} left] after release`]);
    await line.close();
  });

  it('carries a TCP transfer from left to right through the router intact', async () => {
    const { scheduler, line } = network();
    const r = await settle(scheduler, tcpTransfer(line.left.stack, line.right.stack, RIGHT4, 1_000_003));
    expect(r.reply).toBe(`1000003 ${r.sentSha}`);
    expect(line.router.stack.counters.get('router/forwarded')).toBeGreaterThan(1_000_003 / 1460);
    await line.close();
  });

  it('passes every step, tracing through the router and reporting its counters', async () => {
    const { scheduler, line } = network();
    await runFor(scheduler, 10_000);
    const lines: string[] = [];
    const tour = new Tour((l) => lines.push(l));
    for (const [name, what, run] of ROUTED_STEPS)
      await settle(
        scheduler,
        tour.step(name, what, () => run(line, tour)),
      );
    expect(tour.results.filter((r) => !r.ok)).toEqual([]);
    expect(tour.results.map((r) => r.step)).toEqual([
      'traceroute',
      'routed ping',
      'routed ping6',
      'routed TCP',
      'masqueraded fetch',
      'router',
    ]);
    expect(lines).toContain(`    1  ${ROUTER_LEFT4}  0.000 ms  0.000 ms  0.000 ms`);
    expect(lines).toContain(`    2  ${RIGHT4}  0.000 ms  0.000 ms  0.000 ms`);
    expect(
      lines.some((l) => l.startsWith('   right configured fd00:202:2:0:') && l.includes('by SLAAC')),
    ).toBe(true);
    expect(tour.results[3]!.detail).toMatch(
      /^20000000 bytes left -> right in .* Gbit\/s through the router, SHA-256 verified$/,
    );
    // Right, without a route back to left, saw the router's right address.
    expect(lines).toContain('   left: connect 10.202.2.2:8080 -> hello from right; you came from 10.202.2.1');
    expect(tour.results[5]!.detail).toMatch(
      /^forwarded \d+ frames \(router\/forwarded\), answered 3 with Time Exceeded, .*NAT translated [1-9]\d* packets$/,
    );
    await line.close();
  }, 30_000);
});
