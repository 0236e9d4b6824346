import { describe, expect, it } from 'vitest';
import { parseIpv4Addr, parseIpv6Addr } from '../../src/addr.js';
import { ConfigError, UsageError } from '../../src/cli/command.js';
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

  it('takes --tx-thread for a TAP without offloads and for --packet', () => {
    expect(parseUpArgs('--tap t0 --ip 10.0.0.2/24 --no-offload --tx-thread on'.split(' ')).txThread).toBe(
      true,
    );
    expect(parseUpArgs('--packet v0 --ip 10.0.0.2/24 --tx-thread off'.split(' ')).txThread).toBe(false);
    expect(parseUpArgs('--tap t0 --ip 10.0.0.2/24'.split(' ')).txThread).toBeUndefined();
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
    ['--tap t0 --ip 10.0.0.1', '--ip: give the prefix length, as in ADDR/LEN: 10.0.0.1'],
    ['--tap t0 --ip6 2001:db8::2', '--ip6: give the prefix length'],
    ['--tap t0 --ip 10.0.0.2/24 --host-ip 10.0.0.1', '--host-ip: give the prefix length'],
    ['--tap t0 --ip6 2001:db8::2/64 --host-ip6 2001:db8::1', '--host-ip6: give the prefix length'],
    ['--tap t0 --ip 10.0.0.2/24 --seed=-1', '--seed: not an integer in [0, 2^32)'],
    ['--tap t0 --ip 10.0.0.2/24 --seed 4294967296', '--seed'],
    ['--tap t0 --ip 10.0.0.2/24 --tx-thread on', '--tx-thread on: a TAP needs --no-offload'],
    ['--tap t0 --ip 10.0.0.2/24 --no-offload --tx-thread yes', '--tx-thread: on or off'],
  ])('rejects %s', (args, message) => {
    expect(() => parseUpArgs(args.split(' '))).toThrow(UsageError);
    expect(() => parseUpArgs(args.split(' '))).toThrow(message);
  });
});

describe('oasis up: services that would share a port', () => {
  it.each([
    ['--echo 7 --http 7', '--echo 7 and --http 7 both want TCP port 7'],
    ['--discard 9 --chargen 9', '--discard 9 and --chargen 9 both want TCP port 9'],
    ['--http 5201 --iperf3', '--http 5201 and --iperf3 both want TCP port 5201'],
    ['--udp-echo 7 --echo 7', '--udp-echo 7 and --echo 7 both want UDP port 7'],
    ['--udp-echo 9 --discard 9', '--udp-echo 9 and --discard 9 both want UDP port 9'],
  ])('refuses %s before opening anything', (flags, message) => {
    const args = `--tap t0 --ip 10.0.0.2/24 ${flags}`.split(' ');
    expect(() => parseUpArgs(args)).toThrow(ConfigError);
    expect(() => parseUpArgs(args)).toThrow(message);
  });

  it('takes services on distinct ports, and the same port for TCP and UDP of one service', () => {
    const o = parseUpArgs(
      '--tap t0 --ip 10.0.0.2/24 --echo 7 --discard 9 --chargen 19 --http 80 --udp-echo 70 --iperf3'.split(
        ' ',
      ),
    );
    expect([o.echo, o.discard, o.chargen, o.http, o.udpEcho, o.iperf3]).toEqual([7, 9, 19, 80, 70, true]);
  });
});
