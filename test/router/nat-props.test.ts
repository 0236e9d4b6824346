/**
 * Properties of the NAT: the incremental checksums equal recomputed ones and translating back is the
 * identity on any packet and any translation; under any workload a mapping (external address,
 * protocol, port) belongs to one internal endpoint at a time, every translated flow agrees with its
 * mapping, and the tables stay within their bounds.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type Ipv4Addr, ipv4 } from '../../src/addr.js';
import { setU16, u16, u32 } from '../../src/bytes.js';
import { finish, pseudoHeaderV4, sumNaive } from '../../src/checksum/index.js';
import { ctEntries, ctEntry, ctStats } from '../../src/router/conntrack.js';
import {
  applyTranslation,
  NAT_LOCAL,
  type NatPath,
  type NatState,
  natAbort,
  natCreate,
  natMappings,
  natTick,
  natTrack,
  type Translation,
  translationOf,
} from '../../src/router/nat.js';
import { propOptions } from '../support/props.js';
import { A, ACK, B, echoL4, errorL4, info, ip4, O, R, R2, SYN, tcpL4, udpL4 } from './conntrack-packets.js';

const addr = fc.integer({ min: 1, max: 0xffff_fffe }).map((n) => n as Ipv4Addr);
const port = fc.integer({ min: 0, max: 0xffff });

/** A transport packet: TCP (any flags, options, payload), UDP (with or without checksum) or ICMP echo. */
const transport = fc.oneof(
  fc
    .record({
      sport: port,
      dport: port,
      seq: fc.nat(),
      ack: fc.nat(),
      flags: fc.integer({ min: 0, max: 0xff }),
      window: port,
      payload: fc.integer({ min: 0, max: 40 }),
      ws: fc.option(fc.integer({ min: 0, max: 14 }), { nil: undefined }),
    })
    .map(({ ws, ...s }) => tcpL4({ ...s, ...(ws === undefined ? {} : { wscale: ws }) })),
  fc
    .tuple(port, port, fc.integer({ min: 0, max: 40 }), fc.boolean())
    .map(([s, d, n, z]) => udpL4(s, d, n, z)),
  fc
    .tuple(fc.boolean(), port, fc.integer({ min: 0, max: 40 }))
    .map(([req, id, n]) => echoL4(4, req, id, 3, n)),
);

/** A packet: a transport packet, or an ICMP error quoting one whole or cut (at least 8 bytes of it). */
const packet = fc.oneof(
  fc.tuple(addr, addr, transport).map(([s, d, l4]) => ip4(s, d, l4)),
  fc
    .tuple(addr, addr, addr, addr, transport, fc.constantFrom(3, 11, 12), fc.nat())
    .map(([s, d, qs, qd, l4, type, cut]) => {
      const quoted = ip4(qs, qd, l4);
      const len = 28 + (cut % (quoted.length - 27));
      return ip4(s, d, errorL4(4, type, 0, quoted.subarray(0, len)));
    }),
);

/** A translation for `p`: new addresses, and new ports or identifier where the packet has them. */
function translationFor(p: Uint8Array): fc.Arbitrary<Translation> {
  const i = info(p);
  const fields = (q: typeof i) =>
    fc.record({
      src: addr,
      dst: addr,
      srcPort: q.protocol === 6 || q.protocol === 17 ? port : fc.constant(-1),
      dstPort: q.protocol === 6 || q.protocol === 17 ? port : fc.constant(-1),
      icmpId: q.protocol === 1 && q.icmpId >= 0 ? port : fc.constant(-1),
    });
  const q = i.inner;
  return q === undefined ? fields(i) : fc.tuple(fields(i), fields(q)).map(([o, inner]) => ({ ...o, inner }));
}

/** Each checksum of `p` next to the value recomputed from scratch (skipping UDP's "none" and cut quotes). */
function checksums(p: Uint8Array): [number, number][] {
  const out: [number, number][] = [];
  const header = (h: Uint8Array) => {
    const ihl = (h[0]! & 15) * 4;
    const copy = h.slice(0, ihl);
    setU16(copy, 10, 0);
    out.push([u16(h, 10), finish(sumNaive(copy))]);
    return ihl;
  };
  const transportSum = (proto: number, seg: Uint8Array, src: number, dst: number) => {
    const at = proto === 6 ? 16 : proto === 17 ? 6 : 2;
    if (proto === 17 && u16(seg, 6) === 0) return;
    const copy = seg.slice();
    setU16(copy, at, 0);
    let c = finish(sumNaive(copy, proto === 1 ? 0 : pseudoHeaderV4(src, dst, proto, seg.length)));
    if (proto === 17 && c === 0) c = 0xffff;
    out.push([u16(seg, at), c]);
  };
  const ihl = header(p);
  const seg = p.subarray(ihl, u16(p, 2));
  transportSum(p[9]!, seg, u32(p, 12), u32(p, 16));
  if (p[9] === 1 && [3, 11, 12].includes(seg[0]!)) {
    const q = seg.subarray(8);
    const qihl = header(q);
    if (u16(q, 2) <= q.length) transportSum(q[9]!, q.subarray(qihl, u16(q, 2)), u32(q, 12), u32(q, 16));
  }
  return out;
}

describe('NAT properties: the rewrite', () => {
  it('patched checksums equal recomputed ones, and translating back restores every byte', () => {
    fc.assert(
      fc.property(
        packet.chain((p) => fc.tuple(fc.constant(p), translationFor(p))),
        ([p, t]) => {
          const back = translationOf(info(p));
          const q = p.slice();
          applyTranslation(q, t);
          for (const [field, recomputed] of checksums(q)) expect(field).toBe(recomputed);
          const after = info(q);
          expect([after.src, after.dst]).toEqual([t.src, t.dst]);
          if (t.srcPort >= 0) expect([after.srcPort, after.dstPort]).toEqual([t.srcPort, t.dstPort]);
          if (t.icmpId >= 0) expect(after.icmpId).toBe(t.icmpId);
          if (t.inner !== undefined)
            expect([after.inner?.src, after.inner?.dst]).toEqual([t.inner.src, t.inner.dst]);
          applyTranslation(q, back);
          expect(q).toEqual(p);
        },
      ),
      propOptions(500),
    );
  });
});

describe('NAT properties: mappings', () => {
  const C = ipv4(10, 1, 0, 7);
  const HOSTS = [A, B, C];
  const REMOTES = [R, R2];
  const OUT: NatPath = { ingress: 1, egress: 2 };
  const TO_US: NatPath = { ingress: 2, egress: NAT_LOCAL };
  const HAIRPIN: NatPath = { ingress: 1, egress: NAT_LOCAL };

  type Ev =
    | { t: 'out'; host: number; sport: number; proto: number; remote: number; dport: number }
    | { t: 'in'; remote: number; sport: number; dport: number; proto: number; hairpin: boolean }
    | { t: 'reply'; pick: number }
    | { t: 'time'; dt: number }
    | { t: 'abort' };
  const ev: fc.Arbitrary<Ev> = fc.oneof(
    fc.record({
      t: fc.constant('out' as const),
      host: fc.nat(2),
      sport: fc.constantFrom(1000, 1001, 3001),
      proto: fc.constantFrom(6, 17, 1),
      remote: fc.nat(1),
      dport: fc.constantFrom(53, 80),
    }),
    fc.record({
      t: fc.constant('in' as const),
      remote: fc.nat(1),
      sport: fc.constantFrom(53, 80, 7),
      dport: fc.constantFrom(1000, 1001, 3000, 3001, 3002, 8080),
      proto: fc.constantFrom(6, 17),
      hairpin: fc.boolean(),
    }),
    fc.record({ t: fc.constant('reply' as const), pick: fc.nat() }),
    fc.record({ t: fc.constant('time' as const), dt: fc.integer({ min: 0, max: 200_000 }) }),
    fc.constant({ t: 'abort' as const }),
  );

  function l4(proto: number, sport: number, dport: number, reply = false) {
    if (proto === 6)
      return tcpL4({ sport, dport, seq: 1, ack: reply ? 2 : 0, flags: reply ? SYN | ACK : SYN });
    if (proto === 17) return udpL4(sport, dport);
    return echoL4(4, !reply, reply ? dport : sport);
  }

  /** The invariants: one internal endpoint per mapping, every flow agrees with its mapping, bounds. */
  function check(nat: NatState, maxEntries: number, maxMappings: number): void {
    const maps = natMappings(nat);
    const byExt = new Map<string, string>();
    for (const m of maps) {
      const k = `${m.protocol}/${m.external}/${m.externalPort}`;
      expect(byExt.has(k), `mapping ${k} twice`).toBe(false);
      byExt.set(k, `${m.internal}:${m.internalPort}`);
    }
    const name = (p: number) => (p === 6 ? 'tcp' : p === 17 ? 'udp' : 'icmp');
    for (const e of ctEntries(nat.ct)) {
      const x = ctEntry(nat.ct, e)!;
      if (x.reply.dst === O && x.original.src !== O) {
        // Source-translated: the external endpoint is the mapping of the internal one.
        const k = `${name(x.protocol)}/${O}/${x.reply.dstPort}`;
        expect(byExt.get(k), `flow ${e} via ${k}`).toBe(`${x.original.src}:${x.original.srcPort}`);
      }
      if (x.original.dst === O && x.reply.src !== O) {
        const k = `${name(x.protocol)}/${O}/${x.original.dstPort}`;
        expect(byExt.get(k), `inbound flow ${e} via ${k}`).toBe(`${x.reply.src}:${x.reply.srcPort}`);
      }
    }
    expect(ctStats(nat.ct).entries).toBeLessThanOrEqual(maxEntries);
    expect(maps.length).toBeLessThanOrEqual(maxMappings);
  }

  it('never gives a mapping to two endpoints at once, and stays within bounds', () => {
    fc.assert(
      fc.property(
        fc.array(ev, { minLength: 20, maxLength: 150 }),
        fc.constantFrom('endpoint-independent', 'address-dependent'),
        fc.integer({ min: 2, max: 16 }),
        fc.integer({ min: 3, max: 12 }),
        (evs, filtering, maxEntries, maxMappings) => {
          const nat = natCreate({
            secret: new Uint8Array(16).fill(3),
            masquerade: [{ inside: 1, outside: 2, address: O }],
            forwards: [{ outside: 2, address: O, protocol: 6, port: 8080, to: B, toPort: 80 }],
            filtering,
            portRange: [3000, 3002],
            hold: { tcp: 240_000, udp: 60_000, icmp: 10_000 },
            maxMappings,
            conntrack: { maxEntries },
          });
          let now = 0;
          let last = -1;
          const sent: Uint8Array[] = [];
          for (const e of evs) {
            if (e.t === 'time') {
              now += e.dt;
              natTick(nat, now);
            } else if (e.t === 'abort') {
              if (last >= 0) natAbort(nat, last, now);
              last = -1;
            } else {
              const p =
                e.t === 'out'
                  ? ip4(HOSTS[e.host]!, REMOTES[e.remote]!, l4(e.proto, e.sport, e.dport))
                  : e.t === 'in'
                    ? ip4(e.hairpin ? A : REMOTES[e.remote]!, O, l4(e.proto, e.sport, e.dport))
                    : sent[e.pick % Math.max(1, sent.length)];
              if (p === undefined) continue;
              const path = e.t === 'out' ? OUT : e.t === 'in' && e.hairpin ? HAIRPIN : TO_US;
              const [, { verdict, result }] = natTrack(nat, info(p), path, now);
              last = verdict.entry < 0 && result.kind === 'accept' ? result.entry : -1;
              if (result.kind === 'accept' && result.translation !== undefined && e.t !== 'reply') {
                // Remember what the far end would answer: the translated packet turned around.
                const q = p.slice();
                applyTranslation(q, result.translation);
                const i = info(q);
                sent.push(
                  ip4(
                    i.dst as Ipv4Addr,
                    i.src as Ipv4Addr,
                    l4(
                      i.protocol,
                      i.protocol === 1 ? 0 : i.dstPort,
                      i.protocol === 1 ? i.icmpId : i.srcPort,
                      true,
                    ),
                  ),
                );
              }
            }
            check(nat, maxEntries, maxMappings);
          }
        },
      ),
      propOptions(300),
    );
  });
});
