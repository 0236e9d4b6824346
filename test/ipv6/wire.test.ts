import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseIpv6Addr } from '../../src/addr.js';
import { fromHex } from '../../src/bytes.js';
import { emitIpv6, Ipv6Packet, type Ipv6Repr, ipv6HeaderLen, parseIpv6 } from '../../src/ipv6/wire.js';
import { mutated, propOptions } from '../support/props.js';
import { ipv6PacketArb, ipv6ReprArb } from './arb.js';

// ping -6 -c1 fd00::2 from fd00::1 (iputils 20221126, Linux 6.18), captured with tcpdump -w on a veth
// pair between two private network namespaces, tx/rx checksum offload off: the echo request's IPv6
// packet (Ethernet header removed). tshark 4.0 dissects it as ICMPv6 echo request, checksum good.
const ECHO_REQUEST = fromHex(
  '600edceb00403a40fd000000000000000000000000000001fd000000000000000000000000000002' +
    '800090bd1ead0001a29b066b00000000693b050000000000101112131415161718191a1b1c1d1e1f' +
    '202122232425262728292a2b2c2d2e2f3031323334353637',
);

// Same capture: nc -u -6 fd00::1 -> fd00::2 port 9, a UDP datagram of 3 bytes ("hi\n").
const UDP = fromHex(
  '600fff0d000b1140fd000000000000000000000000000001fd000000000000000000000000000002ab540009000be80c68690a',
);

const addr = (s: string) => parseIpv6Addr(s)!;

describe('Ipv6Packet', () => {
  it('reads every field of a golden packet', () => {
    const p = Ipv6Packet.check(ECHO_REQUEST);
    if (!p.ok) throw new Error(p.error.kind);
    expect(p.value.version).toBe(6);
    expect(p.value.trafficClass).toBe(0);
    expect(p.value.flowLabel).toBe(0xedceb);
    expect(p.value.payloadLen).toBe(64);
    expect(p.value.nextHeader).toBe(58);
    expect(p.value.hopLimit).toBe(64);
    expect(p.value.src).toEqual(addr('fd00::1'));
    expect(p.value.dst).toEqual(addr('fd00::2'));
    expect(p.value.payload).toEqual(ECHO_REQUEST.subarray(40));
    // Views, not copies.
    expect(p.value.src.buffer).toBe(ECHO_REQUEST.buffer);
    expect(p.value.payload.byteOffset).toBe(ECHO_REQUEST.byteOffset + 40);
  });

  it('reads traffic class and flow label across their shared octets', () => {
    const bytes = fromHex(`6b8fedcb 0000 3b 01 ${'00'.repeat(32)}`);
    const p = Ipv6Packet.check(bytes);
    if (!p.ok) throw new Error(p.error.kind);
    expect(p.value.trafficClass).toBe(0xb8);
    expect(p.value.flowLabel).toBe(0xfedcb);
  });

  it('cuts link padding off the payload', () => {
    // The UDP packet as a link that pads frames would deliver it: 8 trailing zero bytes.
    const padded = new Uint8Array(UDP.length + 8);
    padded.set(UDP);
    const r = parseIpv6(padded);
    if (!r.ok) throw new Error(r.error.kind);
    expect(r.value.payload).toEqual(UDP.subarray(40));
    expect(r.value.repr.nextHeader).toBe(17);
  });

  it('emits the golden header byte for byte over a buffer pre-filled with 0xa5', () => {
    const repr: Ipv6Repr = {
      trafficClass: 0,
      flowLabel: 0xedceb,
      nextHeader: 58,
      hopLimit: 64,
      src: addr('fd00::1'),
      dst: addr('fd00::2'),
    };
    const buf = new Uint8Array(ECHO_REQUEST.length).fill(0xa5);
    buf.set(ECHO_REQUEST.subarray(40), 40);
    expect(emitIpv6(repr, buf)).toBe(ipv6HeaderLen());
    expect(buf).toEqual(ECHO_REQUEST);
  });

  it('throws on a buffer it cannot fill', () => {
    const repr: Ipv6Repr = {
      trafficClass: 0,
      flowLabel: 0,
      nextHeader: 59,
      hopLimit: 1,
      src: addr('::1'),
      dst: addr('::1'),
    };
    expect(() => emitIpv6(repr, new Uint8Array(39))).toThrow(RangeError);
    expect(() => emitIpv6(repr, new Uint8Array(40 + 65536))).toThrow(RangeError);
  });

  it.each([
    ['empty', '', 'truncated', 'malformed'],
    ['39 bytes', ECHO_REQUEST.subarray(0, 39), 'truncated', 'malformed'],
    ['version 4', `45${'00'.repeat(39)}`, 'bad-version', 'malformed'],
    ['payload past the end', ECHO_REQUEST.subarray(0, 103), 'truncated-payload', 'malformed'],
    ['jumbogram', `60000000 0000 00 40 ${'00'.repeat(32)} 3a00c2040001000c`, 'jumbogram', 'unsupported'],
  ])('rejects %s', (_name, bytes, kind, severity) => {
    const r = parseIpv6(typeof bytes === 'string' ? fromHex(bytes) : bytes);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.error).toEqual({ layer: 'ipv6', kind, severity });
  });
});

describe('ipv6 properties', () => {
  it('parse(emit(r)) equals r', () => {
    fc.assert(
      fc.property(ipv6ReprArb, fc.uint8Array({ minLength: 1, maxLength: 64 }), (repr, payload) => {
        const buf = new Uint8Array(ipv6HeaderLen() + payload.length);
        buf.set(payload, ipv6HeaderLen());
        emitIpv6(repr, buf);
        const r = parseIpv6(buf);
        expect(r.ok && r.value.repr).toEqual(repr);
        expect(r.ok && r.value.payload).toEqual(payload);
      }),
      propOptions(),
    );
  });

  it('parse is total on arbitrary and mutated bytes, and views stay inside them', () => {
    fc.assert(
      fc.property(mutated(ipv6PacketArb), (bytes) => {
        const p = Ipv6Packet.check(bytes);
        if (!p.ok) return;
        const v = p.value;
        expect(40 + v.payload.length).toBeLessThanOrEqual(bytes.length);
        expect(v.src.length + v.dst.length).toBe(32);
        expect(v.repr().nextHeader).toBe(bytes[6]);
      }),
      propOptions(500),
    );
  });
});
