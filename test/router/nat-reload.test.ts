/**
 * Reloading NAT (`Router.reloadFilter`, what SIGHUP does in `oasis router`): masquerades and port
 * forwards change for new flows, while tracked flows keep their translation and their mappings.
 * Simulation: inside host A — router — outside host B, B with no route back to the inside prefix.
 */
import { describe, expect, it } from 'vitest';
import type { VirtualScheduler } from '../../src/clock.js';
import type { RouterFilterOptions } from '../../src/router/driver.js';
import { natMappings, natReconfigure } from '../../src/router/nat.js';
import type { Stack } from '../../src/stack/stack.js';
import type { TcpSocket } from '../../src/stack/tcp.js';
import { runFor, settle } from '../../src/testing/time.js';
import { ip, natLine as natLineWith } from './nat-line.js';

const SECRET = new Uint8Array(16).fill(3);
const MASQ = { masquerade: [{ inside: 'in', outside: 'out' }] } as const;
const FWD = {
  forwards: [{ outside: 'out', protocol: 'tcp', port: 8080, to: ip('10.1.0.2'), toPort: 80 }],
} as const;

function natLine(filter: Omit<RouterFilterOptions, 'secret'>) {
  const line = natLineWith(filter, SECRET);
  // Echo servers: B's on 7, A's (the inside server) on 80.
  line.b.tcp.createServer((s) => s.pipe(s)).listen(7);
  line.a.tcp.createServer((s) => s.pipe(s)).listen(80);
  return line;
}

/** Writes `text` on `s` and waits for it to come back (the echo servers above). */
async function roundTrip(scheduler: VirtualScheduler, s: TcpSocket, text: string): Promise<string> {
  const back = new Promise<string>((resolve) => {
    let got = '';
    const on = (c: Buffer) => {
      got += c.toString();
      if (got.length >= text.length) {
        s.off('data', on);
        resolve(got);
      }
    };
    s.on('data', on);
  });
  s.write(text);
  return settle(scheduler, back, { limitMs: 5000 }).catch(() => 'no answer');
}

/** Whether a new connection is established within 5 s of virtual time. */
async function connects(
  scheduler: VirtualScheduler,
  from: Stack,
  host: string,
  port: number,
): Promise<boolean> {
  const s = from.tcp.connect({ host, port });
  const ok = await settle(
    scheduler,
    new Promise<boolean>((resolve) => {
      s.on('connect', () => resolve(true));
      s.on('error', () => resolve(false));
    }),
    { limitMs: 5000 },
  ).catch(() => false);
  s.destroy();
  return ok;
}

describe('reloading NAT', () => {
  it('a port forward added: new flows use it, the masqueraded connection goes on', async () => {
    const { scheduler, a, b, router } = natLine(MASQ);
    const out = a.tcp.connect({ host: '10.9.0.2', port: 7 });
    expect(await roundTrip(scheduler, out, 'before')).toBe('before');
    expect(await connects(scheduler, b, '10.9.0.1', 8080)).toBe(false);
    expect(router.reloadFilter({ ...MASQ, ...FWD }, SECRET)).toBeUndefined();
    expect(await roundTrip(scheduler, out, 'after')).toBe('after');
    expect(await connects(scheduler, b, '10.9.0.1', 8080)).toBe(true);
  });

  it('the masquerade taken away: tracked flows keep their translation, new ones are not masqueraded', async () => {
    const { scheduler, a, router } = natLine(MASQ);
    const out = a.tcp.connect({ host: '10.9.0.2', port: 7 });
    expect(await roundTrip(scheduler, out, 'before')).toBe('before');
    const entries = (router.filterStats() as { conntrack: { entries: number } }).conntrack.entries;
    expect(router.reloadFilter({}, SECRET)).toBeUndefined();
    expect((router.filterStats() as { conntrack: { entries: number } }).conntrack.entries).toBe(entries);
    expect(await roundTrip(scheduler, out, 'still translated')).toBe('still translated');
    // B has no route back to 10.1.0.0/24: untranslated, a new connection cannot complete.
    expect(await connects(scheduler, a, '10.9.0.2', 7)).toBe(false);
  });

  it('a port forward taken away: its connection goes on, a new one is refused', async () => {
    const { scheduler, b, router } = natLine({ ...MASQ, ...FWD });
    const inbound = b.tcp.connect({ host: '10.9.0.1', port: 8080 });
    expect(await roundTrip(scheduler, inbound, 'forwarded')).toBe('forwarded');
    expect(router.reloadFilter(MASQ, SECRET)).toBeUndefined();
    expect(await roundTrip(scheduler, inbound, 'still forwarded')).toBe('still forwarded');
    expect(await connects(scheduler, b, '10.9.0.1', 8080)).toBe(false);
    // Its mapping is an ordinary one now, held once the flow ends.
    inbound.destroy();
    await runFor(scheduler, 1000);
  });

  it('refuses a forward of a port a live masqueraded flow holds, changing nothing', async () => {
    const { scheduler, a, router } = natLine(MASQ);
    // A's connection from local port 8080 keeps it (RFC 4787 REQ-3, port preservation).
    const out = a.tcp.connect({ host: '10.9.0.2', port: 7, localPort: 8080 });
    expect(await roundTrip(scheduler, out, 'x')).toBe('x');
    const refused = router.reloadFilter({ ...MASQ, ...FWD }, SECRET);
    expect(refused).toMatch(/8080.*in use/);
    expect(await roundTrip(scheduler, out, 'y')).toBe('y');
  });
});

describe('natReconfigure', () => {
  it('turns forwards into static mappings and back, and refuses two forwards of a port', async () => {
    const { router } = natLine(MASQ);
    const nat = (router as unknown as { filter: { nat: Parameters<typeof natMappings>[0] } }).filter.nat;
    const fwd = {
      outside: 1,
      address: ip('10.9.0.1'),
      protocol: 6 as const,
      port: 2222,
      to: ip('10.1.0.2'),
      toPort: 22,
    };
    expect(natReconfigure(nat, { forwards: [fwd] }, 0)).toBeUndefined();
    expect(natMappings(nat)).toEqual([expect.objectContaining({ externalPort: 2222, static: true })]);
    expect(natReconfigure(nat, { forwards: [fwd, fwd] }, 0)).toMatch(/two forwards/);
    expect(natMappings(nat)).toHaveLength(1);
    expect(natReconfigure(nat, { forwards: [] }, 0)).toBeUndefined();
    expect(natMappings(nat)).toEqual([]);
    expect(nat.masquerade).toEqual([]);
  });
});
