import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  eui64InterfaceId,
  ipv4ToString,
  ipv6MulticastMac,
  ipv6ToString,
  isMulticastMac,
  type Mac,
  macToString,
  parseIpv4Addr,
  parseIpv6Addr,
  parseMac,
  readMac,
  solicitedNode,
  writeMac,
} from '../src/addr.js';
import { propOptions } from './support/props.js';

describe('addresses', () => {
  it('formats IPv6 like the WHATWG URL parser (RFC 5952)', () => {
    fc.assert(
      fc.property(
        fc.array(fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 0xffff })), {
          minLength: 8,
          maxLength: 8,
        }),
        (groups) => {
          const bytes = new Uint8Array(16);
          for (let i = 0; i < 8; i++) {
            bytes[2 * i] = groups[i]! >>> 8;
            bytes[2 * i + 1] = groups[i]! & 0xff;
          }
          const text = ipv6ToString(bytes);
          const viaUrl = new URL(`http://[${groups.map((g) => g.toString(16)).join(':')}]/`).hostname;
          expect(`[${text}]`).toBe(viaUrl);
          expect(parseIpv6Addr(text)).toEqual(bytes);
        },
      ),
      propOptions(),
    );
  });

  it.each([
    ['::', '::'],
    ['::1', '::1'],
    ['fe80::1', 'fe80::1'],
    ['2001:DB8:0:0:1:0:0:1', '2001:db8::1:0:0:1'],
    ['::ffff:192.0.2.1', '::ffff:c000:201'],
    ['1:2:3:4:5:6:7:8', '1:2:3:4:5:6:7:8'],
  ])('parses %s', (input, canonical) => {
    expect(ipv6ToString(parseIpv6Addr(input)!)).toBe(canonical);
  });

  it.each([
    '',
    ':::',
    '1:2:3:4:5:6:7:8:9',
    '1::2::3',
    'g::1',
    '12345::',
    '1:2:3:4:5:6:7',
  ])('rejects IPv6 %j', (s) => {
    expect(parseIpv6Addr(s)).toBeUndefined();
  });

  it.each(['256.0.0.1', '1.2.3', '1.2.3.4.5', 'a.b.c.d', ''])('rejects IPv4 %j', (s) => {
    expect(parseIpv4Addr(s)).toBeUndefined();
  });

  it('round-trips IPv4 and MAC text and bytes', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 0xffffffff }),
        fc.integer({ min: 0, max: 2 ** 48 - 1 }),
        (v4, m) => {
          expect(parseIpv4Addr(ipv4ToString(v4 as never))).toBe(v4);
          const mac = m as Mac;
          expect(parseMac(macToString(mac))).toBe(mac);
          const buf = new Uint8Array(8);
          writeMac(buf, 1, mac);
          expect(readMac(buf, 1)).toBe(mac);
        },
      ),
      propOptions(),
    );
  });

  it('derives multicast and interface identifiers (RFC 4291 §2.7.1, app. A; RFC 2464 §7)', () => {
    const addr = parseIpv6Addr('2001:db8::211:22ff:fe33:4455')!;
    expect(ipv6ToString(solicitedNode(addr))).toBe('ff02::1:ff33:4455');
    expect(macToString(ipv6MulticastMac(solicitedNode(addr)))).toBe('33:33:ff:33:44:55');
    expect(Array.from(eui64InterfaceId(parseMac('00:11:22:33:44:55')!))).toEqual([
      0x02, 0x11, 0x22, 0xff, 0xfe, 0x33, 0x44, 0x55,
    ]);
    expect(isMulticastMac(parseMac('33:33:00:00:00:01')!)).toBe(true);
    expect(isMulticastMac(parseMac('02:00:00:00:00:01')!)).toBe(false);
  });
});
