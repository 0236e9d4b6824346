/**
 * An NDP core driven as a driver would, on 2001:db8:1::/64, with one live peer that answers every
 * solicitation for it (resolution and NUD alike, at once): what the scan tests need to see whether
 * a scan can push a working neighbour out (test/ipv6/ndp-scan.test.ts, test/stack/hardening-neighbours).
 */
import { type Ipv6Addr, type Mac, parseIpv6Addr } from '../../src/addr.js';
import type { Icmpv6Repr } from '../../src/ipv6/icmp.js';
import {
  initialNdp,
  type NdpConfigOptions,
  type NdpEvent,
  type NdpOutput,
  type NdpState,
  ndpConfig,
  ndpStep,
  neighbour,
} from '../../src/ipv6/ndp.js';

export interface Host {
  readonly ip: Ipv6Addr;
  readonly mac: Mac;
}

export const addr = (s: string): Ipv6Addr => parseIpv6Addr(s)!;

export const US: Host = { ip: addr('2001:db8:1::1'), mac: 0x02_00_00_00_00_01 as Mac };
export const PEER: Host = { ip: addr('2001:db8:1::2'), mac: 0x02_00_00_00_00_02 as Mac };

/** An IPv6 header from us to `dst`: its source picks our address for the solicitations. */
export function packetTo(dst: Ipv6Addr): Uint8Array {
  const p = new Uint8Array(48);
  p[0] = 0x60;
  p.set(US.ip, 8);
  p.set(dst, 24);
  return p;
}

export const solicitation = (target: Ipv6Addr, mac: Mac): Icmpv6Repr => ({
  kind: 'neighbor-solicitation',
  target,
  options: [{ kind: 'source-link-addr', mac }],
});

export const solicitedAdvert = (target: Ipv6Addr, mac: Mac): Icmpv6Repr => ({
  kind: 'neighbor-advertisement',
  router: false,
  solicited: true,
  override: true,
  target,
  options: [{ kind: 'target-link-addr', mac }],
});

export const isSolicitation = (o: NdpOutput): o is Extract<NdpOutput, { kind: 'send' }> =>
  o.kind === 'send' && o.message.kind === 'neighbor-solicitation';

export function sameIp(a: Uint8Array, b: Uint8Array): boolean {
  for (let i = 0; i < 16; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** The core of US's interface (static address, no DAD, no RS), with PEER alive on the link. */
export class NdpWithPeer {
  state: NdpState;
  now = 0;

  constructor(overrides: NdpConfigOptions, seed = 1) {
    this.state = initialNdp(
      ndpConfig(US.mac, {
        dupAddrDetectTransmits: 0,
        maxRtrSolicitations: 0,
        staticAddresses: [{ address: US.ip, prefixLen: 64 }],
        ...overrides,
      }),
      0,
      seed,
    );
    this.run({ kind: 'start', now: 0 });
  }

  run(e: NdpEvent): readonly NdpOutput[] {
    const [s, out] = ndpStep(this.state, e);
    this.state = s;
    const answers = out.filter(
      (o) => isSolicitation(o) && sameIp((o.message as { target: Ipv6Addr }).target, PEER.ip),
    );
    const more = answers.flatMap(() => this.recv(PEER, solicitedAdvert(PEER.ip, PEER.mac)));
    return [...out, ...more];
  }

  recv(from: Host, message: Icmpv6Repr): readonly NdpOutput[] {
    return this.run({
      kind: 'received',
      now: this.now,
      src: from.ip,
      dst: US.ip,
      hopLimit: 255,
      srcMac: from.mac,
      message,
    });
  }

  send(dst: Ipv6Addr, packet = packetTo(dst)): readonly NdpOutput[] {
    return this.run({ kind: 'resolve', now: this.now, nextHop: dst, packet });
  }

  advance(ms: number): readonly NdpOutput[] {
    this.now += ms;
    return this.run({ kind: 'tick', now: this.now });
  }

  /** The peer resolved and sent to once (so its entry is in use). */
  withPeer(): this {
    this.send(PEER.ip);
    this.send(PEER.ip);
    return this;
  }

  entry(h: Host) {
    return neighbour(this.state, h.ip);
  }
}
