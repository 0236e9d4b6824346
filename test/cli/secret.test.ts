/**
 * The secret behind ISNs, ephemeral ports, timestamp offsets and SYN cookies (issue 13, part 2):
 * a stack with a seed and no secret derives it from the seed (simulations replay exactly); a secret
 * given wins; a stack with neither takes one from the operating system; and every command on a real
 * network takes one from the operating system, so two `oasis up` or `oasis iperf3` with the same
 * `--seed` pick different ISNs and ports (while the seed still picks the same MAC).
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { type Ipv4Addr, parseIpv4Addr } from '../../src/addr.js';
import { VirtualScheduler } from '../../src/clock.js';
import { parseCapture } from '../../src/link/pcap.js';
import { memoryPair } from '../../src/link/memory.js';
import { osSecret, Stack, type StackOptions } from '../../src/stack/stack.js';
import { decodeTraceLine } from '../../src/tcp/core/trace.js';
import { Lab } from '../support/lab.js';
import { canTap } from '../support/netns.js';
import { OASIS_BIN, OASIS_BUILT } from '../support/oasis.js';

const hasIperf3 = spawnSync('iperf3', ['--version'], { stdio: 'ignore' }).status === 0;

const ip = (s: string) => parseIpv4Addr(s) as Ipv4Addr;

interface Syn {
  readonly port: number;
  readonly seq: number;
  /** The TSval of its timestamps option (RFC 7323), if it has one. */
  readonly tsVal: number | undefined;
}

/** A SYN's source port, sequence number and TSval, from an Ethernet + IPv4 frame. */
function synOf(frame: Uint8Array): Syn | undefined {
  const v = new DataView(frame.buffer, frame.byteOffset, frame.byteLength);
  if (frame.length < 54 || v.getUint16(12) !== 0x0800 || frame[23] !== 6) return undefined;
  const tcp = 14 + (frame[14]! & 0x0f) * 4;
  if ((frame[tcp + 13]! & 0x02) === 0) return undefined;
  let tsVal: number | undefined;
  const end = Math.min(frame.length, tcp + (frame[tcp + 12]! >> 4) * 4);
  for (let o = tcp + 20; o < end; ) {
    const kind = frame[o]!;
    if (kind === 0) break;
    if (kind === 1) {
      o++;
      continue;
    }
    if (kind === 8 && o + 10 <= end) tsVal = v.getUint32(o + 2);
    o += Math.max(2, frame[o + 1] ?? 2);
  }
  return { port: v.getUint16(tcp), seq: v.getUint32(tcp + 4), tsVal };
}

/**
 * ISN − 250 × TSval (mod 2^32): the ISN is a 4 µs clock plus F(secret, 4-tuple) (RFC 6528 §3) and
 * TSval a 1 ms clock plus G(secret, 4-tuple) (RFC 7323 §5.4), so this is F − 250 G give or take
 * 250, whenever the segment was sent: two runs with the same secret agree within 250.
 */
function secretPrint(s: Syn): number {
  return (s.seq - ((250 * s.tsVal!) % 2 ** 32) + 2 ** 32) % 2 ** 32;
}

/** How far apart two values are on the 2^32 circle. */
function apart(a: number, b: number): number {
  const d = (a - b + 2 ** 32) % 2 ** 32;
  return Math.min(d, 2 ** 32 - d);
}

/**
 * `a` (options `o`) connects to `b` on port 80 at virtual time 0: the SYN `a` sends, the SYN-ACK
 * `b` answers with, and the secret in `a`'s TCP trace.
 */
function handshake(
  o: Omit<StackOptions, 'scheduler'>,
  ob: Omit<StackOptions, 'scheduler'> = { seed: 99 },
  at = 0,
) {
  const scheduler = new VirtualScheduler(at);
  const [la, lb] = memoryPair(scheduler);
  const a = new Stack({ scheduler, ...o });
  const b = new Stack({ scheduler, ...ob });
  const ia = a.addInterface({
    link: la,
    ipv4: [{ address: ip('10.0.0.1'), prefixLen: 24 }],
    ipv6Enabled: false,
  });
  b.addInterface({ link: lb, ipv4: [{ address: ip('10.0.0.2'), prefixLen: 24 }], ipv6Enabled: false });
  const sent: Syn[] = [];
  const answered: Syn[] = [];
  la.capture = (frame, dir) => {
    const s = synOf(frame);
    if (s) (dir === 'out' ? sent : answered).push(s);
  };
  let first: string | undefined;
  a.tcp.trace = (line) => {
    first ??= line;
  };
  b.tcp.createServer(() => undefined).listen(80);
  a.tcp.connect({ host: '10.0.0.2', port: 80 }).on('error', () => undefined);
  scheduler.advance(100);
  const line = decodeTraceLine(first ?? '');
  return {
    syn: sent[0]!,
    synAck: answered[0]!,
    secret: line.kind === 'start' ? Array.from(line.config.secret) : undefined,
    mac: ia.mac,
  };
}

describe('the stack secret', () => {
  it('with a seed and no secret: derived from the seed, so a run replays exactly', () => {
    const one = handshake({ seed: 7 });
    const two = handshake({ seed: 7 });
    expect(two).toEqual(one);
    expect(one.syn).toBeDefined();
    expect(one.synAck).toBeDefined();
    const other = handshake({ seed: 8 });
    expect(other.secret).not.toEqual(one.secret);
    expect(other.syn.seq).not.toBe(one.syn.seq);
  });

  it('a secret given wins: ISN and port follow it, whatever the seed; the seed still picks the MAC', () => {
    const secret = Uint8Array.from({ length: 16 }, (_, i) => i * 17);
    const one = handshake({ seed: 1, secret });
    const two = handshake({ seed: 2, secret });
    expect(one.secret).toEqual(Array.from(secret));
    expect(two.syn).toEqual(one.syn);
    expect(two.mac).not.toBe(one.mac);
    const other = handshake({ seed: 1, secret: osSecret() });
    expect(other.syn.seq).not.toBe(one.syn.seq);
    expect(other.mac).toBe(one.mac);
  });

  it('keeps its own copy of the secret', () => {
    const secret = new Uint8Array(16).fill(3);
    const scheduler = new VirtualScheduler();
    const s = new Stack({ scheduler, seed: 1, secret });
    secret.fill(4);
    let start = '';
    s.tcp.trace = (line) => {
      start ||= line;
    };
    s.tcp.createServer(() => undefined).listen(1);
    const line = decodeTraceLine(start);
    expect(line.kind === 'start' && Array.from(line.config.secret)).toEqual(new Array(16).fill(3));
  });

  it('with neither seed nor secret: one from the operating system, different every time', () => {
    const one = handshake({});
    const two = handshake({});
    expect(one.secret).toHaveLength(16);
    expect(two.secret).not.toEqual(one.secret);
    expect(two.syn.seq).not.toBe(one.syn.seq);
    // Not the secret a seed of 1 (the generator's default) would give.
    expect(one.secret).not.toEqual(handshake({ seed: 1 }).secret);
  });

  it('the listener side too: its SYN-ACK ISN follows its own secret', () => {
    const secret = osSecret();
    const x = handshake({ seed: 5 }, { seed: 1, secret });
    const y = handshake({ seed: 5 }, { seed: 2, secret });
    const z = handshake({ seed: 5 }, { seed: 1, secret: osSecret() });
    expect(y.synAck.seq).toBe(x.synAck.seq);
    expect(z.synAck.seq).not.toBe(x.synAck.seq);
  });

  it('ISN − 250 × TSval depends on the secret, not on when the connection is made', () => {
    const secret = osSecret();
    const early = handshake({ seed: 1, secret }, { seed: 99 }, 0);
    const late = handshake({ seed: 1, secret }, { seed: 99 }, 123_456.789);
    expect(late.syn.seq).not.toBe(early.syn.seq);
    expect(apart(secretPrint(late.syn), secretPrint(early.syn))).toBeLessThanOrEqual(250);
    const other = handshake({ seed: 1, secret: osSecret() }, { seed: 99 }, 0);
    expect(apart(secretPrint(other.syn), secretPrint(early.syn))).toBeGreaterThan(1000);
  });

  it('refuses a secret that is not 16 bytes (a programming error)', () => {
    const scheduler = new VirtualScheduler();
    expect(() => new Stack({ scheduler, secret: new Uint8Array(15) })).toThrow(RangeError);
    expect(() => new Stack({ scheduler, secret: new Uint8Array(32) })).toThrow(/16 bytes/);
  });

  it('osSecret gives 16 fresh bytes', () => {
    const a = osSecret();
    const b = osSecret();
    expect(a).toHaveLength(16);
    expect(Array.from(a)).not.toEqual(Array.from(b));
  });
});

describe.skipIf(!canTap || !OASIS_BUILT)('oasis up twice with the same --seed', () => {
  const lab = new Lab();
  afterAll(() => lab.close());

  it('answers the same SYN with ISNs of different secrets, from the same MAC', async () => {
    const runs: { synAck: Syn; mac: string }[] = [];
    // The same addresses and ports both times: only the secret can tell the SYN-ACKs apart.
    const subnet = lab.subnet();
    for (let i = 0; i < 2; i++) {
      const pcap = `syn-${i}.pcap`;
      const o = await lab.oasisOnTap({ subnet, pcap, args: ['--echo', '7', '--seed', '1234'] });
      // The kernel connects from a fixed port; Oasis's SYN-ACK carries its ISN.
      const r = await o.ns.exec('python3', [
        '-c',
        `import socket\ns=socket.socket()\ns.bind(("${o.kernel4}", 40123))\ns.connect(("${o.oasis4}", 7))\ns.sendall(b"x")\nprint(s.recv(1))\ns.close()`,
      ]);
      expect(r.stdout.trim()).toBe("b'x'");
      await o.host.stop();
      const capture = parseCapture(readFileSync(o.pcap!));
      if (!capture.ok) throw new Error(capture.error.kind);
      const synAck = capture.value.frames
        .map((f) => ({ f, s: synOf(f.bytes) }))
        .find(({ f, s }) => s !== undefined && s.port === 7 && f.bytes[14 + 20 + 13] === 0x12);
      expect(synAck).toBeDefined();
      runs.push({ synAck: synAck!.s!, mac: o.host.ready.mac! });
    }
    expect(runs[1]!.mac).toBe(runs[0]!.mac);
    // Different ISNs are not enough (the 4 µs clock moves between runs): the secrets differ.
    expect(apart(secretPrint(runs[1]!.synAck), secretPrint(runs[0]!.synAck))).toBeGreaterThan(1000);
  });
});

describe.skipIf(!canTap || !OASIS_BUILT || !hasIperf3)('oasis iperf3 twice with the same --seed', () => {
  const lab = new Lab();
  afterAll(() => lab.close());

  it('connects from different ephemeral ports with different ISNs', async () => {
    const syns: Syn[] = [];
    for (let i = 0; i < 2; i++) {
      const ns = lab.namespace();
      ns.spawn('iperf3', ['-s', '-1']);
      await new Promise((r) => setTimeout(r, 300));
      const file = join(lab.dir(), `iperf3-${i}.pcap`);
      const tap = lab.tapName();
      const r = await ns.exec(
        process.execPath,
        [OASIS_BIN, 'iperf3', '-c', '10.9.8.1', '-t', '1', '--seed', '77', '--tap', tap].concat([
          '--ip',
          '10.9.8.2/24',
          '--host-ip',
          '10.9.8.1/24',
          '--pcap',
          file,
        ]),
        20_000,
      );
      expect(r.code).toBe(0);
      const capture = parseCapture(readFileSync(file));
      if (!capture.ok) throw new Error(capture.error.kind);
      // The first SYN Oasis sent: the control connection (its port is the one iperf3 prints first).
      const syn = capture.value.frames
        .map((f) => synOf(f.bytes))
        .find((s) => s !== undefined && s.port !== 5201);
      expect(syn).toBeDefined();
      expect(r.stdout).toContain(`local 10.9.8.2 port`);
      syns.push(syn!);
    }
    expect(syns[1]!.port).not.toBe(syns[0]!.port);
    expect(syns[1]!.seq).not.toBe(syns[0]!.seq);
  });
});
