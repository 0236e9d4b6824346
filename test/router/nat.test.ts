import { describe, expect, it } from 'vitest';
import { type Ipv4Addr, ipv4 } from '../../src/addr.js';
import { u16 } from '../../src/bytes.js';
import { ctEntry, ctStats, ctStep } from '../../src/router/conntrack.js';
import {
  applyTranslation,
  NAT_LOCAL,
  type NatConfig,
  type NatPath,
  type NatResult,
  type NatState,
  natAbort,
  natClone,
  natCreate,
  natDeadline,
  natMappings,
  natStep,
  natTick,
  natTrack,
} from '../../src/router/nat.js';
import type { PacketInfo } from '../../src/router/packet-info.js';
import {
  A,
  ACK,
  B,
  checksumReport,
  echoL4,
  errorL4,
  info,
  ip4,
  ip6,
  O,
  ping4,
  R,
  R2,
  RST,
  SYN,
  tcp4,
  udp4,
  udpL4,
  v6,
  X,
} from './conntrack-packets.js';

const C = ipv4(10, 1, 0, 7);
const D = ipv4(10, 1, 0, 8);
const INSIDE = 1;
const OUTSIDE = 2;
const OTHER = 3;
/** Inside host to the outside world. */
const OUT: NatPath = { ingress: INSIDE, egress: OUTSIDE };
/** Outside to the router's address (replies to masqueraded flows, port forwards). */
const TO_US: NatPath = { ingress: OUTSIDE, egress: NAT_LOCAL };
/** Inside to the router's outside address (hairpinning). */
const HAIRPIN: NatPath = { ingress: INSIDE, egress: NAT_LOCAL };

const secret = new Uint8Array(16).fill(7);

function config(extra: Partial<NatConfig> = {}): NatConfig {
  return {
    secret,
    masquerade: [{ inside: INSIDE, outside: OUTSIDE, address: O }],
    forwards: [{ outside: OUTSIDE, address: O, protocol: 6, port: 8080, to: B, toPort: 80 }],
    ...extra,
  };
}

interface Passed {
  readonly result: NatResult;
  /** The packet as it leaves (translated copy). */
  readonly out: Uint8Array;
  readonly after: PacketInfo;
}

function pass(nat: NatState, p: Uint8Array, path: NatPath, now = 0): Passed {
  const [, { result }] = natTrack(nat, info(p), path, now);
  const out = p.slice();
  if (result.kind === 'accept' && result.translation !== undefined) applyTranslation(out, result.translation);
  const r = checksumReport(out);
  expect(r.ip && r.l4, 'checksums after translation').toBe(true);
  return { result, out, after: info(out) };
}

function endpoints(i: PacketInfo): [Ipv4Addr, number, Ipv4Addr, number] {
  return [i.src as Ipv4Addr, i.protocol === 1 ? i.icmpId : i.srcPort, i.dst as Ipv4Addr, i.dstPort];
}

describe('NAT: masquerade', () => {
  it('translates a TCP connection both ways, preserving the port (RFC 4787 REQ-3)', () => {
    const nat = natCreate(config());
    const syn = pass(nat, tcp4(A, R, { sport: 40000, dport: 80, seq: 1, flags: SYN }), OUT);
    expect(endpoints(syn.after)).toEqual([O, 40000, R, 80]);
    const synAck = pass(
      nat,
      tcp4(R, O, { sport: 80, dport: 40000, seq: 9, ack: 2, flags: SYN | ACK }),
      TO_US,
    );
    expect(synAck.result).toMatchObject({ kind: 'accept' });
    expect(endpoints(synAck.after)).toEqual([R, 80, A, 40000]);
    const ack = pass(
      nat,
      tcp4(A, R, { sport: 40000, dport: 80, seq: 2, ack: 10, flags: ACK, payload: 300 }),
      OUT,
    );
    expect(endpoints(ack.after)).toEqual([O, 40000, R, 80]);
    expect(natMappings(nat)).toContainEqual(
      expect.objectContaining({
        protocol: 'tcp',
        external: O,
        externalPort: 40000,
        internal: A,
        internalPort: 40000,
        flows: 1,
      }),
    );
    expect(nat.counters.translated).toBe(3);
  });

  it('gives a taken port another one, and keeps one mapping per endpoint (RFC 4787 REQ-1)', () => {
    const nat = natCreate(config());
    pass(nat, tcp4(A, R, { sport: 40000, dport: 80, seq: 1, flags: SYN }), OUT);
    const b = pass(nat, tcp4(B, R, { sport: 40000, dport: 80, seq: 1, flags: SYN }), OUT).after.srcPort;
    expect(b).not.toBe(40000);
    expect(b).toBeGreaterThanOrEqual(1024);
    expect(pass(nat, tcp4(B, R2, { sport: 40000, dport: 443, seq: 1, flags: SYN }), OUT).after.srcPort).toBe(
      b,
    );
    // UDP has its own port space.
    expect(pass(nat, udp4(B, R, 40000, 53), OUT).after.srcPort).toBe(40000);
    // The same choice again from the same secret.
    const again = natCreate(config());
    pass(again, tcp4(A, R, { sport: 40000, dport: 80, seq: 1, flags: SYN }), OUT);
    expect(pass(again, tcp4(B, R, { sport: 40000, dport: 80, seq: 1, flags: SYN }), OUT).after.srcPort).toBe(
      b,
    );
  });

  it('translates ICMP echo identifiers', () => {
    const nat = natCreate(config());
    const a = pass(nat, ping4(A, R, true, 7), OUT).after;
    const b = pass(nat, ping4(B, R, true, 7), OUT).after;
    expect([a.src, a.icmpId]).toEqual([O, 7]);
    expect(b.icmpId).not.toBe(7);
    expect(endpoints(pass(nat, ping4(R, O, false, b.icmpId), TO_US).after).slice(0, 3)).toEqual([R, 7, B]);
    expect(pass(nat, ping4(R, O, false, 7), TO_US).after.dst).toBe(A);
    // An echo request from outside to our address is the router's own.
    expect(pass(nat, ping4(R, O, true, 7), TO_US).result).toMatchObject({
      kind: 'accept',
      translation: undefined,
    });
  });

  it('translates other protocols by address only; a second inside host to the same peer clashes', () => {
    const nat = natCreate(config());
    const gre = (src: Ipv4Addr) =>
      ip4(src, R, { proto: 47, bytes: new Uint8Array(8), csumAt: -1, pseudo: false });
    expect(pass(nat, gre(A), OUT).after.src).toBe(O);
    expect(pass(nat, gre(B), OUT).result).toEqual({ kind: 'drop', reason: 'clash' });
  });

  it('passes flows that leave by no masquerade untranslated', () => {
    const nat = natCreate(config());
    const r = pass(nat, udp4(A, R, 1, 2), { ingress: INSIDE, egress: OTHER });
    expect(r.result).toMatchObject({ kind: 'accept', translation: undefined });
    expect(ctStats(nat.ct).entries).toBe(1);
  });
});

describe('NAT: filtering (RFC 4787 REQ-8)', () => {
  it('address-dependent: a new flow to a mapping only from an address the endpoint sent to', () => {
    const nat = natCreate(config());
    pass(nat, udp4(A, R, 5000, 53), OUT);
    const other = pass(nat, udp4(R, O, 9999, 5000), TO_US);
    expect(endpoints(other.after)).toEqual([R, 9999, A, 5000]);
    expect(pass(nat, udp4(R2, O, 53, 5000), TO_US).result).toEqual({ kind: 'drop', reason: 'filtered' });
    expect(nat.counters.drops.filtered).toBe(1);
    // The inbound flow uses the mapping too.
    expect(natMappings(nat).find((m) => m.externalPort === 5000)?.flows).toBe(2);
  });

  it('endpoint-independent: from anyone', () => {
    const nat = natCreate(config({ filtering: 'endpoint-independent' }));
    pass(nat, udp4(A, R, 5000, 53), OUT);
    expect(endpoints(pass(nat, udp4(R2, O, 53, 5000), TO_US).after)).toEqual([R2, 53, A, 5000]);
  });

  it('a packet to an unmapped port of our address is the router own', () => {
    const nat = natCreate(config());
    expect(pass(nat, udp4(R, O, 1, 7777), TO_US).result).toMatchObject({
      kind: 'accept',
      translation: undefined,
    });
  });
});

describe('NAT: port forwards and hairpinning', () => {
  it('forwards a connection to the inside server and translates its answers', () => {
    const nat = natCreate(config());
    const syn = pass(nat, tcp4(R, O, { sport: 5555, dport: 8080, seq: 1, flags: SYN }), TO_US);
    expect(endpoints(syn.after)).toEqual([R, 5555, B, 80]);
    const back = pass(nat, tcp4(B, R, { sport: 80, dport: 5555, seq: 70, ack: 2, flags: SYN | ACK }), OUT);
    expect(endpoints(back.after)).toEqual([O, 8080, R, 5555]);
    // Flows the server opens leave from the forwarded port (a static mapping).
    expect(endpoints(pass(nat, udp4(B, R2, 80, 9), OUT).after)).toEqual([O, 80, R2, 9]);
    expect(endpoints(pass(nat, tcp4(B, R2, { sport: 80, dport: 9, seq: 1, flags: SYN }), OUT).after)).toEqual(
      [O, 8080, R2, 9],
    );
    // Never handed out to another host.
    expect(pass(nat, tcp4(A, R, { sport: 8080, dport: 80, seq: 1, flags: SYN }), OUT).after.srcPort).not.toBe(
      8080,
    );
  });

  it('does not forward from an interface the forward does not name', () => {
    const nat = natCreate(config());
    const r = pass(nat, tcp4(R, O, { sport: 5555, dport: 8080, seq: 1, flags: SYN }), {
      ingress: OTHER,
      egress: NAT_LOCAL,
    });
    expect(r.result).toMatchObject({ kind: 'accept', translation: undefined });
  });

  it('hairpins an inside client through the outside address (RFC 4787 REQ-9)', () => {
    const nat = natCreate(config());
    const syn = pass(nat, tcp4(A, O, { sport: 40001, dport: 8080, seq: 1, flags: SYN }), HAIRPIN);
    // To the server, from the client's own external mapping.
    expect(endpoints(syn.after)).toEqual([O, 40001, B, 80]);
    const reply = pass(
      nat,
      tcp4(B, O, { sport: 80, dport: 40001, seq: 50, ack: 2, flags: SYN | ACK }),
      HAIRPIN,
    );
    expect(endpoints(reply.after)).toEqual([O, 8080, A, 40001]);
    pass(nat, tcp4(A, O, { sport: 40001, dport: 8080, seq: 2, ack: 51, flags: ACK }), HAIRPIN);
    expect(ctEntry(nat.ct, syn.result.kind === 'accept' ? syn.result.entry : -1)?.state).toBe('established');
  });

  it('refuses a host hairpinned to itself through its own mapping (the two directions would be one tuple)', () => {
    const nat = natCreate(config({ filtering: 'endpoint-independent' }));
    pass(nat, udp4(A, R, 5000, 53), OUT);
    expect(pass(nat, udp4(A, O, 5000, 5000), HAIRPIN).result).toEqual({ kind: 'drop', reason: 'clash' });
    expect(natMappings(nat).find((m) => m.externalPort === 5000)?.flows).toBe(1);
  });

  it('hairpins to a dynamic mapping under endpoint-independent filtering', () => {
    const nat = natCreate(config({ filtering: 'endpoint-independent' }));
    pass(nat, udp4(B, R, 6000, 53), OUT);
    expect(endpoints(pass(nat, udp4(A, O, 7000, 6000), HAIRPIN).after)).toEqual([O, 7000, B, 6000]);
  });
});

describe('NAT: ICMP errors (RFC 5508)', () => {
  it('translates an error about a masqueraded packet back to the inside host, quote and checksums', () => {
    const nat = natCreate(config());
    const sent = pass(nat, udp4(A, R, 5000, 53, 20), OUT).out;
    const err = pass(nat, ip4(X, O, errorL4(4, 11, 0, sent)), TO_US);
    expect([err.after.src, err.after.dst]).toEqual([X, A]);
    expect(err.after.inner).toMatchObject({ src: A, dst: R, srcPort: 5000, dstPort: 53 });
    expect(checksumReport(err.out)).toEqual({ ip: true, l4: true, innerIp: true, innerL4: true });
    expect(err.result).toMatchObject({ kind: 'accept' });
  });

  it('hides the forwarded server behind the outside address in its errors', () => {
    const nat = natCreate(config());
    const syn = pass(nat, udp4(R, O, 5555, 8080), TO_US);
    expect(syn.result).toMatchObject({ kind: 'accept', translation: undefined });
    const nat2 = natCreate(
      config({ forwards: [{ outside: OUTSIDE, address: O, protocol: 17, port: 8080, to: B, toPort: 80 }] }),
    );
    const inbound = pass(nat2, udp4(R, O, 5555, 8080, 30), TO_US).out;
    const unreach = pass(nat2, ip4(B, R, errorL4(4, 3, 3, inbound)), OUT);
    expect([unreach.after.src, unreach.after.dst]).toEqual([O, R]);
    expect(unreach.after.inner).toMatchObject({ src: R, dst: O, srcPort: 5555, dstPort: 8080 });
    expect(checksumReport(unreach.out)).toEqual({ ip: true, l4: true, innerIp: true, innerL4: true });
  });

  it('rewrites a quoted echo request identifier and its checksum', () => {
    const nat = natCreate(config());
    pass(nat, ping4(A, R, true, 7), OUT);
    const sent = pass(nat, ping4(B, R, true, 7), OUT).out;
    const ext = info(sent).icmpId;
    const err = pass(nat, ip4(X, O, errorL4(4, 11, 0, sent)), TO_US);
    expect(err.after.dst).toBe(B);
    expect(err.after.inner).toMatchObject({ src: B, icmpId: 7 });
    expect(ext).not.toBe(7);
    expect(checksumReport(err.out)).toEqual({ ip: true, l4: true, innerIp: true, innerL4: true });
  });

  it('rewrites a quote cut after 8 bytes of TCP', () => {
    const nat = natCreate(config());
    const sent = pass(nat, tcp4(B, R, { sport: 40000, dport: 80, seq: 1, flags: SYN }), OUT).out;
    const cut = pass(nat, ip4(X, O, errorL4(4, 3, 1, sent.subarray(0, 28))), TO_US);
    expect(cut.after.inner).toMatchObject({ src: B, srcPort: 40000 });
    expect(checksumReport(cut.out)).toMatchObject({ ip: true, l4: true, innerIp: true });
  });
});

describe('NAT: mapping lifetime', () => {
  it('holds a closed TCP mapping for 4 minutes (RFC 5382), for its own endpoint only', () => {
    const nat = natCreate(config());
    pass(nat, tcp4(A, R, { sport: 40000, dport: 80, seq: 1, flags: SYN }), OUT, 0);
    pass(nat, tcp4(R, O, { sport: 80, dport: 40000, seq: 0, ack: 2, flags: RST | ACK }), TO_US, 1);
    expect(natDeadline(nat)).toBe(1 + 10_000);
    natTick(nat, 10_001);
    expect(ctStats(nat.ct).entries).toBe(0);
    expect(natMappings(nat).find((m) => !m.static)).toMatchObject({ flows: 0, heldUntil: 10_001 + 240_000 });
    expect(natDeadline(nat)).toBe(250_001);
    expect(
      pass(nat, tcp4(B, R, { sport: 40000, dport: 80, seq: 1, flags: SYN }), OUT, 20_000).after.srcPort,
    ).not.toBe(40000);
    expect(
      pass(nat, tcp4(A, R2, { sport: 40000, dport: 80, seq: 1, flags: SYN }), OUT, 20_000).after.srcPort,
    ).toBe(40000);
  });

  it('frees a held mapping when its hold ends, and the port serves another host', () => {
    const nat = natCreate(config({ hold: { udp: 1000 } }));
    pass(nat, udp4(A, R, 5000, 53), OUT, 0);
    natTick(nat, 30_000);
    expect(natMappings(nat).filter((m) => !m.static)).toHaveLength(1);
    natTick(nat, 31_000);
    expect(natMappings(nat).filter((m) => !m.static)).toHaveLength(0);
    expect(nat.counters.mappingsExpired).toBe(1);
    expect(pass(nat, udp4(B, R, 5000, 53), OUT, 31_000).after.srcPort).toBe(5000);
  });

  it('a flow the firewall drops after all leaves no entry and no mapping (natAbort)', () => {
    const nat = natCreate(config());
    const r = pass(nat, udp4(A, R, 5000, 53), OUT).result;
    natAbort(nat, r.kind === 'accept' ? r.entry : -1, 0);
    expect(ctStats(nat.ct).entries).toBe(0);
    expect(natMappings(nat).filter((m) => !m.static)).toHaveLength(0);
    expect(natDeadline(nat)).toBeNull();
  });

  it('runs out of ports and of mappings, counted', () => {
    const nat = natCreate(config({ portRange: [2000, 2001], forwards: [] }));
    for (const h of [A, B, C]) pass(nat, udp4(h, R, 1000, 53), OUT);
    expect(pass(nat, udp4(D, R, 1000, 53), OUT).result).toEqual({ kind: 'drop', reason: 'ports-exhausted' });
    const small = natCreate(config({ maxMappings: 2, forwards: [], hold: { udp: 100_000 } }));
    pass(small, udp4(A, R, 1, 53), OUT, 0);
    pass(small, udp4(B, R, 1, 53), OUT, 0);
    expect(pass(small, udp4(C, R, 1, 53), OUT, 0).result).toEqual({ kind: 'drop', reason: 'mapping-full' });
    natTick(small, 30_000);
    // Both flows gone, their mappings held: a held one makes room.
    expect(endpoints(pass(small, udp4(C, R, 1, 53), OUT, 30_000).after)[0]).toBe(O);
    expect(small.counters.mappingsEvicted).toBe(1);
    expect(small.counters.drops['mapping-full']).toBe(1);
  });
});

describe('NAT: what is never translated', () => {
  it('drops an invalid packet of a translated flow instead of leaking it', () => {
    const nat = natCreate(config());
    pass(nat, tcp4(A, R, { sport: 40000, dport: 80, seq: 1, flags: SYN }), OUT);
    const r = pass(nat, tcp4(A, R, { sport: 40000, dport: 80, seq: 2, ack: 5, flags: ACK }), OUT);
    expect(r.result).toEqual({ kind: 'drop', reason: 'invalid' });
    const stray = pass(nat, tcp4(C, R, { sport: 1, dport: 80, seq: 2, ack: 5, flags: ACK }), OUT);
    expect(stray.result).toEqual({ kind: 'drop', reason: 'invalid' });
    const ts = ip4(A, R, {
      proto: 1,
      bytes: Uint8Array.of(13, 0, 0, 0, 0, 1, 0, 1, ...new Uint8Array(12)),
      csumAt: 2,
      pseudo: false,
    });
    expect(pass(nat, ts, OUT).result).toEqual({ kind: 'drop', reason: 'untranslatable' });
  });

  it('tracks IPv6 without translating it', () => {
    const nat = natCreate(config());
    const r = natTrack(nat, info(ip6(v6(1), v6(2), udpL4(1, 2))), OUT, 0)[1].result;
    expect(r).toMatchObject({ kind: 'accept', translation: undefined });
    expect(ctStats(nat.ct).entries).toBe(1);
  });
});

describe('NAT: the rewrite', () => {
  it('leaves a zero UDP checksum zero (RFC 768)', () => {
    const nat = natCreate(config());
    const p = ip4(A, R, udpL4(5000, 53, 10, true));
    const out = pass(nat, p, OUT).out;
    expect(u16(out, 26)).toBe(0);
  });

  it('keeps a wrong checksum exactly as wrong (RFC 1624 §5)', () => {
    const nat = natCreate(config());
    const p = udp4(A, R, 5000, 53, 20);
    // Corrupt the payload: the checksum no longer matches it.
    const before = p[31]!;
    p[31] = before ^ 0x5a;
    const [, { result }] = natTrack(nat, info(p), OUT, 0);
    const out = p.slice();
    if (result.kind === 'accept' && result.translation) applyTranslation(out, result.translation);
    expect(checksumReport(out)).toMatchObject({ ip: true, l4: false });
    // Undo the corruption: the patched checksum is right for the translated header.
    out[31] = before;
    expect(checksumReport(out).l4).toBe(true);
  });

  it('natStep reads the translation of a stored flow whatever the path', () => {
    const nat = natCreate(config());
    pass(nat, udp4(A, R, 5000, 53), OUT);
    const i = info(udp4(R, O, 53, 5000));
    const [, v] = ctStep(nat.ct, i, 0);
    const [, r] = natStep(nat, i, v, { ingress: OTHER, egress: OTHER }, 0);
    expect(r).toMatchObject({ kind: 'accept', translation: { dst: A, dstPort: 5000 } });
  });
});

describe('NAT: snapshots and configuration', () => {
  it('a clone is independent and replays the same translations', () => {
    const nat = natCreate(config());
    pass(nat, udp4(A, R, 5000, 53), OUT);
    const snap = natClone(nat);
    const run = (n: NatState) =>
      [
        udp4(B, R, 5000, 53),
        udp4(R, O, 53, 5000),
        tcp4(C, R, { sport: 1, dport: 2, seq: 3, flags: SYN }),
      ].map((p, i) => pass(n, p, i === 1 ? TO_US : OUT, i).out);
    const first = run(nat);
    expect(natMappings(snap).filter((m) => !m.static)).toHaveLength(1);
    expect(run(snap)).toEqual(first);
    expect(natMappings(snap)).toEqual(natMappings(nat));
  });

  it('rejects bad configurations', () => {
    expect(() => natCreate(config({ secret: new Uint8Array(8) }))).toThrow(RangeError);
    expect(() => natCreate(config({ portRange: [5000, 4000] }))).toThrow(RangeError);
    const f = { outside: OUTSIDE, address: O, protocol: 6 as const, port: 80, to: B, toPort: 80 };
    expect(() => natCreate(config({ forwards: [f, { ...f, to: C }] }))).toThrow(RangeError);
    expect(() => natCreate(config({ forwards: [{ ...f, port: 0 }] }))).toThrow(RangeError);
  });

  it('applyTranslation refuses what is not IPv4', () => {
    expect(() =>
      applyTranslation(ip6(v6(1), v6(2), echoL4(6, true, 1)), {
        src: A,
        dst: B,
        srcPort: -1,
        dstPort: -1,
        icmpId: -1,
      }),
    ).toThrow(RangeError);
  });
});
