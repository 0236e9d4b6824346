import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type Ipv4Addr, parseIpv4Addr, parseIpv6Addr } from '../../src/addr.js';
import { ipv4InPrefix, ipv4Routes, ipv6InPrefix, ipv6Routes } from '../../src/stack/routes.js';
import { propOptions } from '../support/props.js';

const a4 = (s: string) => parseIpv4Addr(s)!;

describe('ipv4 routes', () => {
  const table = ipv4Routes();
  table.add({ prefix: a4('0.0.0.0'), prefixLen: 0, gateway: a4('10.0.0.1'), iface: 0 });
  table.add({ prefix: a4('10.0.0.0'), prefixLen: 24, iface: 0 });
  table.add({ prefix: a4('10.0.0.128'), prefixLen: 25, iface: 1 });

  it.each([
    ['10.0.0.5', 24, undefined],
    ['10.0.0.200', 25, undefined],
    ['192.0.2.1', 0, '10.0.0.1'],
  ])('%s takes the /%i route', (dst, len, gw) => {
    const r = table.lookup(a4(dst));
    expect(r?.prefixLen).toBe(len);
    expect(r?.gateway).toBe(gw === undefined ? undefined : a4(gw));
  });

  it('replaces a route for the same prefix', () => {
    const t = ipv4Routes();
    t.add({ prefix: a4('10.0.0.0'), prefixLen: 8, iface: 0 });
    t.add({ prefix: a4('10.0.0.0'), prefixLen: 8, iface: 3 });
    expect(t.list()).toHaveLength(1);
    expect(t.lookup(a4('10.1.2.3'))?.iface).toBe(3);
  });

  it('is the longest matching prefix (against a brute-force oracle)', () => {
    const addr = fc.integer({ min: 0, max: 0xffffffff }).map((n) => n as Ipv4Addr);
    fc.assert(
      fc.property(
        fc.array(fc.tuple(addr, fc.integer({ min: 0, max: 32 })), { maxLength: 20 }),
        addr,
        (routes, dst) => {
          const t = ipv4Routes();
          routes.forEach(([prefix, len], i) => {
            t.add({ prefix, prefixLen: len, iface: i });
          });
          const best = Math.max(-1, ...routes.filter(([p, l]) => ipv4InPrefix(dst, p, l)).map(([, l]) => l));
          expect(t.lookup(dst)?.prefixLen ?? -1).toBe(best);
        },
      ),
      propOptions(),
    );
  });
});

describe('ipv6 routes', () => {
  it('matches prefixes that end inside a byte', () => {
    const p = parseIpv6Addr('2001:db8:ab00::')!;
    expect(ipv6InPrefix(parseIpv6Addr('2001:db8:abff::1')!, p, 40)).toBe(true);
    expect(ipv6InPrefix(parseIpv6Addr('2001:db8:ac00::1')!, p, 40)).toBe(false);
    expect(ipv6InPrefix(parseIpv6Addr('2001:db8:ab7f::1')!, p, 41)).toBe(true);
    expect(ipv6InPrefix(parseIpv6Addr('2001:db8:ab80::1')!, p, 41)).toBe(false);
  });

  it('prefers the longer prefix', () => {
    const t = ipv6Routes();
    t.add({ prefix: parseIpv6Addr('::')!, prefixLen: 0, gateway: parseIpv6Addr('fe80::1')!, iface: 0 });
    t.add({ prefix: parseIpv6Addr('2001:db8::')!, prefixLen: 64, iface: 0 });
    expect(t.lookup(parseIpv6Addr('2001:db8::5')!)?.prefixLen).toBe(64);
    expect(t.lookup(parseIpv6Addr('2001:db9::5')!)?.gateway).toEqual(parseIpv6Addr('fe80::1'));
  });
});
