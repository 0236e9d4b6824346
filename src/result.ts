/**
 * Errors as values. Parsers return `Result`; `throw` is reserved for programmer errors (docs/STYLE.md §4).
 */
export type Result<T, E = WireError> =
  | { readonly ok: true; readonly value: T }
  | { readonly ok: false; readonly error: E };

export type Layer =
  | 'ethernet'
  | 'arp'
  | 'ipv4'
  | 'icmpv4'
  | 'ipv6'
  | 'icmpv6'
  | 'ndp'
  | 'udp'
  | 'tcp'
  | 'pcap';

/**
 * A parse failure. `malformed` input breaks the protocol's rules (bad length, bad checksum);
 * `unsupported` input is well-formed but uses something we do not implement (another hardware
 * type, an unknown ICMP type). Drops are counted per `layer/kind`.
 */
export interface WireError {
  readonly layer: Layer;
  readonly kind: string;
  readonly severity: 'malformed' | 'unsupported';
}

export function ok<T>(value: T): { readonly ok: true; readonly value: T } {
  return { ok: true, value };
}

export function err<E>(error: E): { readonly ok: false; readonly error: E } {
  return { ok: false, error };
}

export function malformed(layer: Layer, kind: string): { readonly ok: false; readonly error: WireError } {
  return { ok: false, error: { layer, kind, severity: 'malformed' } };
}

export function unsupported(layer: Layer, kind: string): { readonly ok: false; readonly error: WireError } {
  return { ok: false, error: { layer, kind, severity: 'unsupported' } };
}

/** `layer/kind`, the key under which drops are counted. */
export function errorKey(e: WireError): string {
  return `${e.layer}/${e.kind}`;
}

/** Exhaustive switch helper: reaching it is a bug, so it throws. */
export function assertNever(x: never): never {
  throw new Error(`unreachable: ${JSON.stringify(x)}`);
}
