import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { MAC_ZERO, parseIpv4Addr, parseMac } from '../../src/addr.js';
import {
  ARP_HTYPE_ETHERNET,
  ARP_LEN,
  ARP_PTYPE_IPV4,
  ArpPacket,
  type ArpRepr,
  arpHeaderLen,
  emitArp,
  parseArp,
} from '../../src/arp/wire.js';
import { fromHex } from '../../src/bytes.js';
import { mutated, propOptions } from '../support/props.js';
import { arpPacketArb, arpReprArb } from './arb.js';

// Provenance: Linux 6.18.44 (`uname -r`: 6.18.44-fc-v657), captured with `tcpdump -i a0 -w` in a private
// netns A (a0: 10.201.1.1, 02:00:00:00:0a:01) joined by veth to netns R (r0: 10.201.1.254,
// 02:00:00:00:0a:fe), while A ran `ping -c 1 -s 16 10.201.1.254`. Ethernet headers stripped. veth does
// not pad short frames, so these are exactly 28 bytes.
const REQUEST = fromHex('0001 0800 06 04 0001 020000000a01 0ac90101 000000000000 0ac901fe');
const REPLY = fromHex('0001 0800 06 04 0002 020000000afe 0ac901fe 020000000a01 0ac90101');

const A_MAC = parseMac('02:00:00:00:0a:01')!;
const R_MAC = parseMac('02:00:00:00:0a:fe')!;
const A_IP = parseIpv4Addr('10.201.1.1')!;
const R_IP = parseIpv4Addr('10.201.1.254')!;

const REQUEST_REPR: ArpRepr = {
  operation: 'request',
  senderMac: A_MAC,
  senderIp: A_IP,
  targetMac: MAC_ZERO,
  targetIp: R_IP,
};
const REPLY_REPR: ArpRepr = {
  operation: 'reply',
  senderMac: R_MAC,
  senderIp: R_IP,
  targetMac: A_MAC,
  targetIp: A_IP,
};

function hex(s: string, edits: Record<number, number>): Uint8Array {
  const b = fromHex(s);
  for (const [at, v] of Object.entries(edits)) b[Number(at)] = v;
  return b;
}

describe('ArpPacket', () => {
  it('reads every field of a golden request', () => {
    const p = ArpPacket.check(REQUEST);
    if (!p.ok) throw new Error(p.error.kind);
    expect(p.value.hardwareType).toBe(ARP_HTYPE_ETHERNET);
    expect(p.value.protocolType).toBe(ARP_PTYPE_IPV4);
    expect(p.value.hardwareLen).toBe(6);
    expect(p.value.protocolLen).toBe(4);
    expect(p.value.opcode).toBe(1);
    expect(p.value.operation).toBe('request');
    expect(p.value.senderMac).toBe(A_MAC);
    expect(p.value.senderIp).toBe(A_IP);
    expect(p.value.targetMac).toBe(MAC_ZERO);
    expect(p.value.targetIp).toBe(R_IP);
    expect(p.value.repr()).toEqual(REQUEST_REPR);
  });

  it('reads a golden reply', () => {
    const r = parseArp(REPLY);
    expect(r).toEqual({ ok: true, value: REPLY_REPR });
  });

  it('ignores Ethernet padding after the 28 bytes', () => {
    // A NIC pads the 42-byte frame to 60 bytes: 18 bytes after the ARP packet (any value; 0x5a here).
    const padded = new Uint8Array(46).fill(0x5a);
    padded.set(REPLY);
    expect(parseArp(padded)).toEqual({ ok: true, value: REPLY_REPR });
  });

  it.each([
    ['request', REQUEST_REPR, REQUEST],
    ['reply', REPLY_REPR, REPLY],
  ])('emits a %s byte for byte over a buffer pre-filled with 0xa5', (_name, repr, golden) => {
    const buf = new Uint8Array(30).fill(0xa5);
    expect(emitArp(repr, buf)).toBe(ARP_LEN);
    expect(arpHeaderLen(repr)).toBe(ARP_LEN);
    expect(buf).toEqual(Uint8Array.from([...golden, 0xa5, 0xa5]));
  });

  it('throws when the buffer is too small (a programmer error)', () => {
    expect(() => emitArp(REPLY_REPR, new Uint8Array(27))).toThrow(RangeError);
  });

  const R = '0001080006040002020000000afe0ac901fe020000000a010ac90101';
  it.each([
    ['empty', new Uint8Array(0), 'truncated', 'malformed'],
    ['27 bytes', REPLY.subarray(0, 27), 'truncated', 'malformed'],
    ['IEEE 802 hardware type', hex(R, { 1: 6 }), 'hardware-type', 'unsupported'],
    ['IPv6 protocol type', hex(R, { 2: 0x86, 3: 0xdd }), 'protocol-type', 'unsupported'],
    ['hardware length 8', hex(R, { 4: 8 }), 'address-length', 'malformed'],
    ['protocol length 16', hex(R, { 5: 16 }), 'address-length', 'malformed'],
    ['RARP request opcode 3', hex(R, { 7: 3 }), 'operation', 'unsupported'],
    ['opcode 0', hex(R, { 7: 0 }), 'operation', 'unsupported'],
    ['opcode 0x0101', hex(R, { 6: 1, 7: 1 }), 'operation', 'unsupported'],
  ])('rejects %s', (_name, bytes, kind, severity) => {
    const r = parseArp(bytes);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.error).toEqual({ layer: 'arp', kind, severity });
  });
});

describe('arp properties', () => {
  it('parse(emit(r)) equals r, whatever the padding', () => {
    fc.assert(
      fc.property(arpReprArb, fc.uint8Array({ maxLength: 32 }), (repr, pad) => {
        const buf = new Uint8Array(ARP_LEN + pad.length);
        buf.set(pad, ARP_LEN);
        emitArp(repr, buf);
        expect(parseArp(buf)).toEqual({ ok: true, value: repr });
      }),
      propOptions(),
    );
  });

  it('parse is total on arbitrary and mutated bytes', () => {
    fc.assert(
      fc.property(mutated(arpPacketArb), (bytes) => {
        const r = parseArp(bytes);
        if (r.ok) {
          expect(bytes.length).toBeGreaterThanOrEqual(ARP_LEN);
          // Whatever parsed is what emit writes back.
          const out = new Uint8Array(ARP_LEN);
          emitArp(r.value, out);
          expect(out).toEqual(bytes.subarray(0, ARP_LEN));
        } else {
          expect(['malformed', 'unsupported']).toContain(r.error.severity);
          expect(r.error.layer).toBe('arp');
        }
      }),
      propOptions(500),
    );
  });
});
