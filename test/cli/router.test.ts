import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseIpv4Addr, parseIpv6Addr } from '../../src/addr.js';
import { ConfigError } from '../../src/cli/command.js';
import { parseRouterArgs } from '../../src/cli/router-config.js';

const BIN = resolve(import.meta.dirname, '../../bin/oasis.js');
const A = '--if tapa,ip=10.1.0.1/24,ip6=fd00:1::1/64';
const B =
  '--if tapb,ip=10.2.0.1/24,mtu=1280,netns=nsb,host-ip=10.2.0.2/24,ip6=fd00:2::1/64,ra,rdns=fd00:2::53';

describe('oasis router arguments', () => {
  it('parses interfaces, routes and options', () => {
    const c = parseRouterArgs(
      `${A} ${B} --route 10.9.0.0/16,via=10.2.0.7,metric=5 --route6 ::/0,via=fe80::1,dev=tapb --clamp-mss --stats-interval 2 --seed 9`.split(
        ' ',
      ),
    );
    expect(c.interfaces.map((i) => i.name)).toEqual(['tapa', 'tapb']);
    const b = c.interfaces[1]!;
    expect(b).toMatchObject({ mtu: 1280, netns: 'nsb', hostIp: '10.2.0.2/24', ra: true, rpFilter: 'loose' });
    expect(b.rdns).toEqual([parseIpv6Addr('fd00:2::53')]);
    expect(c.routes4).toEqual([
      { prefix: parseIpv4Addr('10.9.0.0'), prefixLen: 16, via: parseIpv4Addr('10.2.0.7'), metric: 5 },
    ]);
    expect(c.routes6[0]).toMatchObject({ prefixLen: 0, dev: 'tapb' });
    expect(c).toMatchObject({ clampMss: true, statsInterval: 2, seed: 9 });
  });

  it('parses kind=packet interfaces with their ring and transmit thread', () => {
    const c = parseRouterArgs(
      '--if veth0,kind=packet,ring=v2,tx-thread=off,ip=10.1.0.1/24 --if veth1,kind=packet,ip=10.2.0.1/24'.split(
        ' ',
      ),
    );
    expect(c.interfaces[0]).toMatchObject({ kind: 'packet', ring: 2, txThread: false, offload: false });
    expect(c.interfaces[1]).toMatchObject({ kind: 'packet', ring: 3 });
    expect(c.interfaces[1]!.txThread).toBeUndefined();
    const taps = parseRouterArgs(`--no-offload ${A},tx-thread=on ${B}`.split(' '));
    expect(taps.interfaces[0]).toMatchObject({ kind: 'tap', offload: false, txThread: true });
  });

  it('takes the same configuration from a JSON file', () => {
    const dir = mkdtempSync(join(tmpdir(), 'oasis-router-'));
    const file = join(dir, 'r.json');
    writeFileSync(
      file,
      JSON.stringify({ if: [A.slice(5), B.slice(5)], route: ['0.0.0.0/0,via=10.1.0.9'], 'clamp-mss': true }),
    );
    const c = parseRouterArgs(['--config', file]);
    expect(c.interfaces).toHaveLength(2);
    expect(c.routes4[0]?.prefixLen).toBe(0);
    expect(c.clampMss).toBe(true);
  });

  it('takes NAT and firewall flags, and a firewall section in the JSON file', () => {
    const c = parseRouterArgs(
      `${A} ${B} --masquerade tapa,tapb --forward tapb,tcp:8080=10.1.0.5:80 --allow tapb,tcp:22 --policy tapb,drop`.split(
        ' ',
      ),
    );
    expect(c.filter?.masquerade).toEqual([{ inside: 'tapa', outside: 'tapb' }]);
    expect(c.filter?.forwards).toEqual([
      { outside: 'tapb', protocol: 'tcp', port: 8080, to: parseIpv4Addr('10.1.0.5'), toPort: 80 },
    ]);
    expect(c.filter?.firewall?.forward.rules).toHaveLength(2);
    const dir = mkdtempSync(join(tmpdir(), 'oasis-router-'));
    const file = join(dir, 'fw.json');
    writeFileSync(
      file,
      JSON.stringify({
        if: [A.slice(5), B.slice(5)],
        firewall: {
          policy: { forward: 'drop' },
          forward: [{ protocol: 'tcp', dport: 443, verdict: 'accept' }],
        },
      }),
    );
    expect(parseRouterArgs(['--config', file]).filter?.firewall?.forward.policy).toBe('drop');
    expect(parseRouterArgs(`${A} ${B}`.split(' ')).filter).toBeUndefined();
  });

  it('takes a bound of the connection table, which turns tracking on by itself', () => {
    expect(parseRouterArgs(`${A} ${B} --conntrack-max 2000`.split(' ')).filter).toEqual({
      masquerade: [],
      forwards: [],
      conntrackMax: 2000,
    });
  });

  it.each([
    [A, 'at least two --if'],
    [`${A} --if tapb,ip=10.1.0.77/16`, 'overlaps'],
    [`${A} --if tapb,ip6=fd00:1::2/48`, 'overlaps'],
    [`${A} ${B} --route 10.9.0.0/16,via=10.3.0.1`, 'not on any interface'],
    [`${A} ${B} --route 10.9.0.1/16,via=10.2.0.7`, 'host bits'],
    [`${A} ${B} --route 10.9.0.0/40,via=10.2.0.7`, 'not an IPv4 ADDR/LEN'],
    [`${A} ${B} --route6 ::/0,via=fe80::1`, 'link-local'],
    [`${A} --if tapb,ip=10.2.0.1`, 'give the prefix length'],
    [`${A} --if tapb,ip=10.2.0.1/24,mtu=50`, 'mtu'],
    [`${A} --if tapb,ip=10.2.0.1/24,ra`, 'ra needs an ip6'],
    [`${A} --if tapb,ip=10.2.0.1/24,colour=blue`, "unknown option 'colour'"],
    [`${A} ${A}`, 'given twice'],
    [`${A} --if tapb,ip=10.2.0.1/24,tx-thread=on`, 'tx-thread=on needs offload=off'],
    [`${A} --if veth1,kind=packet,ip=10.2.0.1/24,tx-thread=yes`, 'tx-thread: on or off'],
    [`${A} ${B} --masquerade tapa`, 'INSIDE,OUTSIDE'],
    [`${A} ${B} --masquerade tapa,tapz`, 'no --if tapz'],
    [`${A} ${B} --forward tapb,tcp:8080=10.1.0.5`, 'OUTSIDE,tcp:PORT=ADDR:PORT'],
    [`${A} ${B} --forward tapb,tcp:0=10.1.0.5:80`, 'not a port'],
    [`${A} ${B} --allow tapb`, 'give what to allow'],
    [`${A} ${B} --policy tapb,maybe`, '--policy'],
    [`${A} ${B} --conntrack-max 8`, '--conntrack-max'],
    [`${A} ${B} --conntrack-max many`, '--conntrack-max'],
  ])('refuses %s', (args, message) => {
    expect(() => parseRouterArgs(args.split(' '))).toThrow(ConfigError);
    expect(() => parseRouterArgs(args.split(' '))).toThrow(message);
  });

  it('prints one line and exits 2 on a bad configuration, before opening anything', () => {
    const r = spawnSync(process.execPath, [BIN, 'router', ...`${A} --if tapb,ip=10.1.0.5/24`.split(' ')], {
      encoding: 'utf8',
    });
    expect(r.status).toBe(2);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/^oasis router: --if tapb: .* overlaps/);
    expect(r.stdout).toBe('');
  });
});
