/**
 * The router with connection tracking, the firewall and NAT on (`Router.filterWith`), in simulation:
 * inside host A — router — outside host B, where B has no route back to the inside prefix, so only
 * NAT can make a conversation work.
 */
import { describe, expect, it } from 'vitest';
import type { RouterFilterOptions } from '../../src/router/driver.js';
import { firewallFromFlags, parseFirewallConfig } from '../../src/router/firewall-config.js';
import type { TcpSocket } from '../../src/stack/tcp.js';
import { settle } from '../../src/testing/time.js';
import { ip, natLine as natLineWith } from './nat-line.js';

const SECRET = new Uint8Array(16).fill(7);

function natLine(filter: Omit<RouterFilterOptions, 'secret'>) {
  return natLineWith(filter, SECRET);
}

function collect(s: TcpSocket): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    s.on('data', (c: Buffer) => chunks.push(c));
    s.on('end', () => resolve(Buffer.concat(chunks)));
    s.on('error', reject);
  });
}

describe('a NAT router', () => {
  it('masquerades ping and TCP from the inside behind its outside address', async () => {
    const { scheduler, a, b, router } = natLine({ masquerade: [{ inside: 'in', outside: 'out' }] });
    const reply = await settle(scheduler, a.ipv4.ping(ip('10.9.0.2')));
    expect(reply?.from).toBe(ip('10.9.0.2'));
    const peers: string[] = [];
    b.tcp
      .createServer((s) => {
        peers.push(s.remoteAddress ?? '');
        s.end('hello through NAT');
      })
      .listen(80);
    const got = await settle(scheduler, collect(a.tcp.connect({ host: '10.9.0.2', port: 80 })));
    expect(got.toString()).toBe('hello through NAT');
    expect(peers).toEqual(['10.9.0.1']);
    expect(router.stack.counters.get('router/forwarded')).toBeGreaterThan(4);
  });

  it('reassembles fragments before tracking and translating, and fragments again on the way out', async () => {
    const { scheduler, a, b, router } = natLine({ masquerade: [{ inside: 'in', outside: 'out' }] });
    const reply = await settle(scheduler, a.ipv4.ping(ip('10.9.0.2'), { size: 4000 }));
    expect(reply?.bytes).toBe(4000);
    expect(b.counters.get('ipv4/reassembled')).toBe(1);
    expect(router.stack.counters.get('router/untracked')).toBe(0);
    expect(router.stack.counters.get('router/fragmented')).toBe(2);
  });

  it('without NAT the outside host cannot answer', async () => {
    const { scheduler, a } = natLine({});
    expect(await settle(scheduler, a.ipv4.ping(ip('10.9.0.2'), { timeoutMs: 500 }))).toBeUndefined();
  });

  it('forwards a port of its outside address to an inside server', async () => {
    const { scheduler, a, b } = natLine({
      masquerade: [{ inside: 'in', outside: 'out' }],
      forwards: [{ outside: 'out', protocol: 'tcp', port: 8080, to: ip('10.1.0.2'), toPort: 80 }],
    });
    a.tcp.createServer((s) => s.end(`inside server, peer ${s.remoteAddress}`)).listen(80);
    const got = await settle(scheduler, collect(b.tcp.connect({ host: '10.9.0.1', port: 8080 })));
    expect(got.toString()).toBe('inside server, peer 10.9.0.2');
  });

  it('passes what --allow allows and drops the rest of what --policy drops', async () => {
    const flags = firewallFromFlags(['in,tcp:22'], ['in,drop'], ['in', 'out']);
    if (!flags.ok) throw new Error(flags.error);
    const { scheduler, a, b, router } = natLine({
      masquerade: [{ inside: 'in', outside: 'out' }],
      firewall: flags.value,
    });
    b.tcp.createServer((s) => s.end('ssh')).listen(22);
    b.tcp.createServer((s) => s.end('web')).listen(80);
    expect((await settle(scheduler, collect(a.tcp.connect({ host: '10.9.0.2', port: 22 })))).toString()).toBe(
      'ssh',
    );
    const blocked = a.tcp.connect({ host: '10.9.0.2', port: 80 });
    const outcome = await settle(
      scheduler,
      new Promise<string>((resolve) => {
        blocked.on('connect', () => resolve('connected'));
        blocked.on('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? 'error'));
      }),
      { limitMs: 10_000 },
    ).catch(() => 'still waiting');
    expect(outcome).toBe('still waiting');
    expect(router.stack.counters.get('router/firewall-drop')).toBeGreaterThan(0);
    const stats = router.filterStats() as { firewall: { forward: unknown } };
    expect(JSON.stringify(stats.firewall)).toContain('dport 22');
  });

  it('rejects with a reset (connection refused) and with ICMP administratively prohibited', async () => {
    const config = parseFirewallConfig({
      forward: [
        { protocol: 'tcp', dport: 80, verdict: 'reject' },
        { protocol: 'icmp', 'icmp-type': 'echo-request', verdict: 'reject' },
      ],
    });
    if (!config.ok) throw new Error(config.error);
    const { scheduler, a, b } = natLine({
      masquerade: [{ inside: 'in', outside: 'out' }],
      firewall: config.value,
    });
    b.tcp.createServer((s) => s.end('web')).listen(80);
    const socket = a.tcp.connect({ host: '10.9.0.2', port: 80 });
    const err = await settle(
      scheduler,
      new Promise<NodeJS.ErrnoException>((resolve) => socket.on('error', resolve)),
    );
    expect(err.code).toBe('ECONNREFUSED');
    expect(await settle(scheduler, a.ipv4.ping(ip('10.9.0.2'), { timeoutMs: 500 }))).toBeUndefined();
    expect(a.counters.get('icmpv4/in-dest-unreachable')).toBe(1);
  });
});
