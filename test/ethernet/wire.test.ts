import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseMac } from '../../src/addr.js';
import { fromHex } from '../../src/bytes.js';
import {
  ETHERTYPE_ARP,
  ETHERTYPE_IPV4,
  EthernetFrame,
  type EthernetRepr,
  emitEthernet,
  ethernetHeaderLen,
  parseEthernet,
} from '../../src/ethernet/wire.js';
import { mutated, propOptions } from '../support/props.js';
import { ethernetReprArb } from './arb.js';

// The first 18 bytes of test/golden/arp.pcap frame 1, an ARP request sent by Linux 6.18 (arping).
const GOLDEN = fromHex('ffffffffffff 02000000000a 0806 00010800');

describe('EthernetFrame', () => {
  it('reads every field of a golden frame', () => {
    const f = EthernetFrame.check(GOLDEN);
    if (!f.ok) throw new Error(f.error.kind);
    expect(f.value.dst).toBe(parseMac('ff:ff:ff:ff:ff:ff'));
    expect(f.value.src).toBe(parseMac('02:00:00:00:00:0a'));
    expect(f.value.ethertype).toBe(ETHERTYPE_ARP);
    expect(f.value.vlans).toEqual([]);
    expect(f.value.tagged).toBe(false);
    expect(f.value.headerLen).toBe(14);
    expect(Array.from(f.value.payload)).toEqual([0, 1, 8, 0]);
  });

  it('follows an 802.1Q tag', () => {
    const tagged = fromHex('ffffffffffff 02000000000a 8100 a00a 0800 45');
    const f = EthernetFrame.check(tagged);
    if (!f.ok) throw new Error(f.error.kind);
    expect(f.value.vlans).toEqual([{ tpid: 0x8100, pcp: 5, dei: false, vid: 10 }]);
    expect(f.value.tagged).toBe(true);
    expect(f.value.ethertype).toBe(ETHERTYPE_IPV4);
    expect(f.value.payload.length).toBe(1);
  });

  it('emits a header byte for byte over a buffer pre-filled with 0xa5', () => {
    const buf = new Uint8Array(18).fill(0xa5);
    const repr: EthernetRepr = {
      dst: parseMac('ff:ff:ff:ff:ff:ff')!,
      src: parseMac('02:00:00:00:00:0a')!,
      vlans: [],
      ethertype: ETHERTYPE_ARP,
    };
    expect(emitEthernet(repr, buf)).toBe(14);
    expect(buf).toEqual(Uint8Array.from([...GOLDEN.subarray(0, 14), 0xa5, 0xa5, 0xa5, 0xa5]));
  });

  it.each([
    ['empty', '', 'truncated'],
    ['13 bytes', 'ffffffffffff2eb0c9a86d0108', 'truncated'],
    ['802.3 length field', 'ffffffffffff2eb0c9a86d010040', 'length-not-ethertype'],
    ['tag without type', 'ffffffffffff2eb0c9a86d018100000a', 'truncated-tag'],
    ['three tags', `ffffffffffff2eb0c9a86d01${'8100000a'.repeat(3)}0800`, 'too-many-tags'],
  ])('rejects %s', (_name, hex, kind) => {
    const r = parseEthernet(fromHex(hex));
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.error).toEqual({ layer: 'ethernet', kind, severity: 'malformed' });
  });
});

describe('ethernet properties', () => {
  it('parse(emit(r)) equals r', () => {
    fc.assert(
      fc.property(ethernetReprArb, fc.uint8Array({ maxLength: 64 }), (repr, payload) => {
        const buf = new Uint8Array(ethernetHeaderLen(repr) + payload.length);
        buf.set(payload, emitEthernet(repr, buf));
        const r = parseEthernet(buf);
        expect(r.ok && r.value.repr).toEqual(repr);
        expect(r.ok && Array.from(r.value.payload)).toEqual(Array.from(payload));
        const f = EthernetFrame.check(buf);
        expect(f.ok && f.value.tagged).toBe(repr.vlans.length > 0);
      }),
      propOptions(),
    );
  });

  it('parse is total on arbitrary and mutated bytes', () => {
    const valid = ethernetReprArb.map((repr) => {
      const buf = new Uint8Array(ethernetHeaderLen(repr) + 8);
      emitEthernet(repr, buf);
      return buf;
    });
    fc.assert(
      fc.property(mutated(valid), (bytes) => {
        const r = parseEthernet(bytes);
        if (r.ok) expect(r.value.payload.length).toBeLessThanOrEqual(bytes.length);
      }),
      propOptions(500),
    );
  });
});
