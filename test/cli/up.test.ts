import { describe, expect, it } from 'vitest';
import { parseIpv4Addr, parseIpv6Addr } from '../../src/addr.js';
import { UsageError } from '../../src/cli/command.js';
import { parseUpArgs } from '../../src/cli/up.js';

describe('oasis up arguments', () => {
  it('parses a full command line', () => {
    const o = parseUpArgs(
      '--tap t0 --ip 10.0.0.2/24 --ip6 2001:db8::2/64 --gateway 10.0.0.1 --gateway6 fe80::1 --mtu 9000 --mac 02:00:00:00:00:01 --host-ip 10.0.0.1/24 --udp-echo 7 --impair loss=1%,seed=3 --seed 5'.split(
        ' ',
      ),
    );
    expect(o.tap).toBe('t0');
    expect(o.ipv4).toEqual([{ address: parseIpv4Addr('10.0.0.2'), prefixLen: 24 }]);
    expect(o.ipv6[0]?.prefixLen).toBe(64);
    expect(o.gateway).toBe(parseIpv4Addr('10.0.0.1'));
    expect(o.gateway6).toEqual(parseIpv6Addr('fe80::1'));
    expect(o.mtu).toBe(9000);
    expect(o.udpEcho).toBe(7);
    expect(o.seed).toBe(5);
    expect(o.impair).toMatchObject({ loss: 0.01, seed: 3 });
  });

  it.each([
    ['--ip 10.0.0.2/24', '--tap is required'],
    ['--tap t0', 'give at least one --ip or --ip6'],
    ['--tap t0 --ip 10.0.0.300/24', '--ip: not ADDR/LEN'],
    ['--tap t0 --ip 10.0.0.2/33', '--ip: not ADDR/LEN'],
    ['--tap t0 --ip 10.0.0.2/24 --mtu 100', '--mtu'],
    ['--tap t0 --ip6 2001:db8::2/64 --gateway6 10.0.0.1', '--gateway6: not an IPv6 address'],
    ['--tap t0 --ip 10.0.0.2/24 --udp-echo 70000', '--udp-echo: not a port'],
    ['--tap t0 --ip 10.0.0.2/24 --impair loss=200%', '--impair'],
    ['--tap averyveryverylongname --ip 10.0.0.2/24', 'at most 15 characters'],
  ])('rejects %s', (args, message) => {
    expect(() => parseUpArgs(args.split(' '))).toThrow(UsageError);
    expect(() => parseUpArgs(args.split(' '))).toThrow(message);
  });
});
