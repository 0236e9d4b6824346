import fc from 'fast-check';
import { describe, expect, it, test } from 'vitest';
import { setU16 } from '../../src/bytes.js';
import { packetInfo } from '../../src/router/packet-info.js';
import { mutated, propOptions } from '../support/props.js';
import {
  A,
  ACK,
  echoL4,
  errorL4,
  info,
  ip4,
  ip6,
  R,
  rawL4,
  SYN,
  tcp4,
  tcpL4,
  udp4,
  udpL4,
  v6,
} from './conntrack-packets.js';

describe('packetInfo: IPv4', () => {
  it('summarises a TCP SYN with its window scale option', () => {
    const p = tcp4(A, R, {
      sport: 40000,
      dport: 80,
      seq: 0xfffffff0,
      ack: 0,
      flags: SYN,
      window: 29200,
      wscale: 7,
    });
    expect(packetInfo(p)).toEqual({
      version: 4,
      protocol: 6,
      src: A,
      dst: R,
      srcPort: 40000,
      dstPort: 80,
      icmpType: -1,
      icmpCode: -1,
      icmpId: -1,
      tcpFlags: SYN,
      seq: 0xfffffff0,
      ack: 0,
      window: 29200,
      payloadLen: 0,
      wscale: 7,
      l4Offset: 20,
      length: 44,
    });
  });

  it('reads the payload length and ignores a window scale outside a SYN', () => {
    const p = tcp4(A, R, { sport: 1, dport: 2, seq: 5, ack: 9, flags: ACK, wscale: 3, payload: 100 });
    const i = info(p);
    expect([i.payloadLen, i.wscale, i.ack, i.length]).toEqual([100, -1, 9, 144]);
  });

  it('uses a shift count above 14 as 14 (RFC 7323 §2.3)', () => {
    expect(info(tcp4(A, R, { sport: 1, dport: 2, seq: 0, flags: SYN, wscale: 20 })).wscale).toBe(14);
  });

  it('summarises UDP and ICMP echo', () => {
    const u = info(udp4(A, R, 5353, 53, 30));
    expect([u.protocol, u.srcPort, u.dstPort, u.icmpType, u.tcpFlags, u.payloadLen]).toEqual([
      17, 5353, 53, -1, 0, 0,
    ]);
    const e = info(ip4(A, R, echoL4(4, true, 0xbeef)));
    expect([e.protocol, e.icmpType, e.icmpCode, e.icmpId, e.srcPort]).toEqual([1, 8, 0, 0xbeef, 0]);
    expect(info(ip4(R, A, echoL4(4, false, 7))).icmpId).toBe(7);
  });

  it('summarises the packet an ICMP error quotes, even cut after 8 bytes of TCP', () => {
    const sent = tcp4(A, R, { sport: 40000, dport: 80, seq: 1000, ack: 5, flags: ACK, payload: 200 });
    const err = ip4(R, A, errorL4(4, 3, 3, sent.subarray(0, 28)));
    const i = info(err);
    expect([i.icmpType, i.icmpCode, i.icmpId]).toEqual([3, 3, -1]);
    expect(i.inner).toMatchObject({
      version: 4,
      protocol: 6,
      src: A,
      dst: R,
      srcPort: 40000,
      dstPort: 80,
      seq: 1000,
      ack: 0,
      length: 240,
    });
    expect(i.inner?.inner).toBeUndefined();
  });

  it('gives no inner summary for an error that quotes too little', () => {
    const sent = udp4(A, R, 1, 2);
    expect(info(ip4(R, A, errorL4(4, 11, 0, sent.subarray(0, 22)))).inner).toBeUndefined();
  });

  it('tracks other protocols by address only', () => {
    const g = info(ip4(A, R, rawL4(47)));
    expect([g.protocol, g.srcPort, g.dstPort, g.icmpType]).toEqual([47, 0, 0, -1]);
  });
});

describe('packetInfo: IPv6', () => {
  it('walks extension headers to TCP and copies the addresses', () => {
    // Hop-by-hop (8 bytes of PadN) then destination options (8 bytes) then TCP.
    const ext = new Uint8Array([60, 0, 1, 4, 0, 0, 0, 0, 6, 0, 1, 4, 0, 0, 0, 0]);
    const p = ip6(
      v6(1),
      v6(2),
      tcpL4({ sport: 443, dport: 5000, seq: 1, ack: 2, flags: ACK, payload: 10 }),
      ext,
      0,
    );
    const i = info(p);
    expect([i.version, i.protocol, i.l4Offset, i.srcPort, i.payloadLen, i.length]).toEqual([
      6, 6, 56, 443, 10, 86,
    ]);
    p[8] = 0xaa;
    expect((i.src as Uint8Array)[0]).toBe(0xfd);
  });

  it('accepts an atomic fragment and summarises ICMPv6 echo and errors', () => {
    const frag = new Uint8Array([17, 0, 0, 0, 0, 0, 0, 1]);
    expect(info(ip6(v6(1), v6(2), udpL4(1, 2), frag, 44)).dstPort).toBe(2);
    const e = info(ip6(v6(1), v6(2), echoL4(6, true, 99)));
    expect([e.protocol, e.icmpType, e.icmpId]).toEqual([58, 128, 99]);
    const sent = ip6(v6(1), v6(2), udpL4(7, 8));
    const err = info(ip6(v6(2), v6(1), errorL4(6, 1, 4, sent)));
    expect(err.inner).toMatchObject({ version: 6, protocol: 17, srcPort: 7, dstPort: 8 });
  });
});

describe('packetInfo: rejections', () => {
  const good4 = () => udp4(A, R, 1, 2);
  test.each([
    ['empty', () => new Uint8Array(0)],
    ['version 5', () => Uint8Array.of(0x50, ...new Uint8Array(39))],
    ['IPv4 shorter than 20', () => good4().subarray(0, 19)],
    [
      'IHL below 5',
      () => {
        const p = good4();
        p[0] = 0x44;
        return p;
      },
    ],
    [
      'total length beyond the bytes',
      () => {
        const p = good4();
        setU16(p, 2, p.length + 1);
        return p;
      },
    ],
    [
      'a first fragment (MF)',
      () => {
        const p = good4();
        p[6] = 0x20;
        return p;
      },
    ],
    [
      'a later fragment',
      () => {
        const p = good4();
        p[7] = 1;
        return p;
      },
    ],
    [
      'TCP shorter than its header',
      () => ip4(A, R, { proto: 6, bytes: new Uint8Array(12), csumAt: -1, pseudo: false }),
    ],
    [
      'TCP data offset below 5',
      () => {
        const l4 = tcpL4({ sport: 1, dport: 2, seq: 0, flags: ACK });
        l4.bytes[12] = 0x40;
        return ip4(A, R, l4);
      },
    ],
    [
      'UDP length beyond the packet',
      () => {
        const l4 = udpL4(1, 2);
        setU16(l4.bytes, 4, 100);
        return ip4(A, R, l4);
      },
    ],
    [
      'ICMP shorter than 8',
      () => ip4(A, R, { proto: 1, bytes: new Uint8Array(4), csumAt: -1, pseudo: false }),
    ],
    ['IPv6 shorter than 40', () => new Uint8Array(39).fill(0x60, 0, 1)],
    [
      'IPv6 non-atomic fragment',
      () => ip6(v6(1), v6(2), udpL4(1, 2), new Uint8Array([17, 0, 0, 0, 0, 0, 0, 1]).fill(1, 3, 4), 44),
    ],
    [
      'IPv6 extension header past the end',
      () => ip6(v6(1), v6(2), rawL4(59, 0), new Uint8Array([6, 3, 0, 0, 0, 0, 0, 0]), 0),
    ],
  ])('%s', (_name, make) => {
    expect(packetInfo(make())).toBeUndefined();
  });

  it('never throws on any bytes', () => {
    const valid = fc.constantFrom(
      tcp4(A, R, { sport: 1, dport: 2, seq: 3, flags: SYN, wscale: 2 }),
      ip4(R, A, errorL4(4, 3, 1, udp4(A, R, 1, 2))),
      ip6(
        v6(1),
        v6(2),
        errorL4(6, 1, 0, ip6(v6(2), v6(1), tcpL4({ sport: 1, dport: 2, seq: 3, flags: ACK }))),
      ),
    );
    fc.assert(
      fc.property(mutated(valid), (bytes) => {
        const i = packetInfo(bytes);
        if (i !== undefined) expect(i.l4Offset).toBeLessThanOrEqual(bytes.length);
      }),
      propOptions(),
    );
  });
});
