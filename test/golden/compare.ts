/**
 * Field-by-field comparison of our parsers' readings with tshark's, for the golden captures.
 *
 * The types below are the schema of `expected/<name>.json` (test/golden/README.md, written by
 * scripts/golden-expect.mjs). A `FrameCheck` gathers, for one frame, how many fields were compared
 * and every disagreement, worded `frame N: ipv4.ttl: ours 63, tshark 64`, so a failing test names the
 * frame, the field and both readings.
 */
import type { WireError } from '../../src/result.js';

export type Status = 'good' | 'bad' | 'unverified' | 'not-present';

export interface ExpectedFile {
  readonly file: string;
  readonly tshark: string;
  readonly linkType: number;
  readonly frameCount: number;
  readonly frames: readonly ExpectedFrame[];
}

export interface EthExp {
  readonly dst: string;
  readonly src: string;
  readonly type: number;
}

export interface ArpExp {
  readonly hardwareType: number;
  readonly protocolType: number;
  readonly hardwareSize: number;
  readonly protocolSize: number;
  readonly opcode: number;
  readonly senderMac: string;
  readonly senderIp: string;
  readonly targetMac: string;
  readonly targetIp: string;
}

export interface Ipv4Exp {
  readonly version: number;
  readonly headerLength: number;
  readonly dscp: number;
  readonly ecn: number;
  readonly totalLength: number;
  readonly id: number;
  readonly df: boolean;
  readonly mf: boolean;
  readonly fragmentOffset: number;
  readonly ttl: number;
  readonly protocol: number;
  readonly checksum: number;
  readonly checksumStatus: Status;
  readonly src: string;
  readonly dst: string;
  /** Hex, only when the header is longer than 20 bytes. */
  readonly options?: string;
}

export type ExtExp =
  | {
      readonly type: 'fragment';
      readonly header: number;
      readonly nextHeader: number;
      readonly offset: number;
      readonly more: boolean;
      readonly ident: number;
    }
  | {
      readonly type: 'hop-by-hop' | 'routing' | 'destination';
      readonly header: number;
      readonly nextHeader: number;
      readonly length: number;
      readonly options: readonly ExtOptionExp[];
    };

/** One option of a hop-by-hop or destination options header; `length` counts the data bytes. */
export interface ExtOptionExp {
  readonly type: number;
  readonly length: number;
  readonly routerAlert?: number;
}

export interface Ipv6Exp {
  readonly version: number;
  readonly trafficClass: number;
  readonly flowLabel: number;
  readonly payloadLength: number;
  readonly nextHeader: number;
  readonly hopLimit: number;
  readonly src: string;
  readonly dst: string;
  readonly extensions: readonly ExtExp[];
}

export interface Icmpv4Exp {
  readonly type: number;
  readonly code: number;
  readonly checksum: number;
  readonly checksumStatus: Status;
  readonly id?: number;
  readonly seq?: number;
  readonly mtu?: number;
  readonly gateway?: string;
  readonly quoted?: LayersExp;
}

export interface NdOptionExp {
  readonly type: number;
  readonly length: number;
  readonly linkLayerAddress?: string;
  readonly prefixLength?: number;
  readonly onLink?: boolean;
  readonly autonomous?: boolean;
  readonly validLifetime?: number;
  readonly preferredLifetime?: number;
  readonly prefix?: string;
  readonly mtu?: number;
  readonly lifetime?: number;
  readonly addresses?: readonly string[];
}

export interface Icmpv6Exp {
  readonly type: number;
  readonly code: number;
  readonly checksum: number;
  readonly checksumStatus: Status;
  readonly id?: number;
  readonly seq?: number;
  readonly mtu?: number;
  readonly pointer?: number;
  readonly curHopLimit?: number;
  readonly managed?: boolean;
  readonly other?: boolean;
  readonly routerLifetime?: number;
  readonly reachableTime?: number;
  readonly retransTimer?: number;
  readonly target?: string;
  readonly router?: boolean;
  readonly solicited?: boolean;
  readonly override?: boolean;
  readonly options?: readonly NdOptionExp[];
  readonly records?: readonly unknown[];
  readonly quoted?: LayersExp;
}

export interface UdpExp {
  readonly srcPort: number;
  readonly dstPort: number;
  readonly length: number;
  readonly checksum: number;
  readonly checksumStatus: Status;
  readonly payloadLength: number;
}

export type TcpOptionExp =
  | { readonly kind: 0 | 1; readonly name: 'eol' | 'nop' }
  | { readonly kind: 2; readonly name: 'mss'; readonly length: number; readonly mss: number }
  | { readonly kind: 3; readonly name: 'wscale'; readonly length: number; readonly shift: number }
  | { readonly kind: 4; readonly name: 'sack-permitted'; readonly length: number }
  | {
      readonly kind: 5;
      readonly name: 'sack';
      readonly length: number;
      readonly blocks: readonly { readonly left: number; readonly right: number }[];
    }
  | {
      readonly kind: 8;
      readonly name: 'timestamps';
      readonly length: number;
      readonly tsval: number;
      readonly tsecr: number;
    };

export interface TcpExp {
  readonly srcPort: number;
  readonly dstPort: number;
  readonly seq: number;
  readonly ack: number;
  readonly headerLength: number;
  /** 12 bits: the eight control bits and the four before them. */
  readonly flags: number;
  readonly flagNames: readonly string[];
  readonly window: number;
  readonly checksum: number;
  readonly checksumStatus: Status;
  readonly urgent: number;
  readonly options: readonly TcpOptionExp[];
  readonly payloadLength: number;
}

/** What a frame, or the packet an ICMP error quotes, holds above the link. */
export interface LayersExp {
  readonly ipv4?: Ipv4Exp;
  readonly ipv6?: Ipv6Exp;
  readonly icmpv4?: Icmpv4Exp;
  readonly icmpv6?: Icmpv6Exp;
  readonly udp?: UdpExp;
  readonly tcp?: TcpExp;
}

export interface ExpectedFrame extends LayersExp {
  readonly number: number;
  readonly timestampMicros: number;
  readonly length: number;
  readonly capturedLength: number;
  readonly protocols: string;
  readonly eth?: EthExp;
  readonly arp?: ArpExp;
  /** On the last fragment: tshark's reassembly of the datagram. */
  readonly reassembly?: {
    readonly fragments: readonly number[];
    readonly length: number;
    readonly checksumStatus?: Status;
  };
  readonly malformed: boolean;
}

/** The layer members of a frame or a quote, in the order the walk meets them. */
export const LAYER_KEYS = ['eth', 'arp', 'ipv4', 'ipv6', 'icmpv4', 'icmpv6', 'udp', 'tcp'] as const;
export type LayerKey = (typeof LAYER_KEYS)[number];

type Scalar = string | number | boolean | undefined;

function show(v: Scalar): string {
  return v === undefined ? 'absent' : String(v);
}

export function showError(e: WireError): string {
  return `${e.severity} ${e.layer}/${e.kind}`;
}

/** The comparisons made on one frame. */
export class FrameCheck {
  readonly diffs: string[] = [];
  /** Fields compared, agreeing or not. */
  fields = 0;

  constructor(readonly frame: number) {}

  /**
   * Compares one field. When tshark has no reading (`tshark` undefined) there is nothing to compare;
   * when we have none but tshark does, that is a disagreement.
   */
  field(path: string, ours: Scalar, tshark: Scalar): void {
    if (tshark === undefined) return;
    this.fields++;
    if (ours !== tshark)
      this.diffs.push(`frame ${this.frame}: ${path}: ours ${show(ours)}, tshark ${show(tshark)}`);
  }

  /** A disagreement that is not one value: a layer rejected, missing on one side, a list cut short. */
  fail(path: string, what: string): void {
    this.diffs.push(`frame ${this.frame}: ${path}: ${what}`);
  }
}
