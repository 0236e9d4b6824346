/**
 * Host routing tables: longest-prefix match over a small, bounded list (RFC 1812 §5.2.4.3 for the
 * rule; a host has a handful of routes, so a sorted array beats a trie here — the router will bring one).
 */
import { type Ipv4Addr, ipv4Mask } from '../addr.js';

export interface Route<A> {
  readonly prefix: A;
  readonly prefixLen: number;
  /** Next hop; absent for an on-link (connected) route. */
  readonly gateway?: A;
  /** Index of the outgoing interface in the stack. */
  readonly iface: number;
}

/** What the IP layers need of a routing table: the host's own (below) or a router's FIB. */
export interface Routes<A> {
  /** Adds or replaces the route for the same prefix; false when the table is full. */
  add(route: Route<A>): boolean;
  lookup(dst: A): Route<A> | undefined;
}

export class RouteTable<A> implements Routes<A> {
  /** Longest prefix first, so the first match wins. */
  private routes: Route<A>[] = [];

  constructor(
    private readonly matches: (addr: A, prefix: A, prefixLen: number) => boolean,
    private readonly same: (a: A, b: A) => boolean,
    private readonly maxRoutes = 1024,
  ) {}

  /** Adds or replaces the route for the same prefix; false when the table is full. */
  add(route: Route<A>): boolean {
    const rest = this.routes.filter(
      (r) => !(r.prefixLen === route.prefixLen && this.same(r.prefix, route.prefix)),
    );
    if (rest.length >= this.maxRoutes) return false;
    rest.push(route);
    rest.sort((a, b) => b.prefixLen - a.prefixLen);
    this.routes = rest;
    return true;
  }

  remove(prefix: A, prefixLen: number): void {
    this.routes = this.routes.filter((r) => !(r.prefixLen === prefixLen && this.same(r.prefix, prefix)));
  }

  lookup(dst: A): Route<A> | undefined {
    for (const r of this.routes) if (this.matches(dst, r.prefix, r.prefixLen)) return r;
    return undefined;
  }

  list(): readonly Route<A>[] {
    return this.routes;
  }
}

export function ipv4InPrefix(addr: Ipv4Addr, prefix: Ipv4Addr, prefixLen: number): boolean {
  const mask = ipv4Mask(prefixLen);
  return (addr & mask) >>> 0 === (prefix & mask) >>> 0;
}

export function ipv6InPrefix(addr: Uint8Array, prefix: Uint8Array, prefixLen: number): boolean {
  const whole = prefixLen >>> 3;
  for (let i = 0; i < whole; i++) if (addr[i] !== prefix[i]) return false;
  const bits = prefixLen & 7;
  if (bits === 0) return true;
  const mask = (0xff << (8 - bits)) & 0xff;
  return (addr[whole]! & mask) === (prefix[whole]! & mask);
}

export function ipv4Routes(): RouteTable<Ipv4Addr> {
  return new RouteTable<Ipv4Addr>(ipv4InPrefix, (a, b) => a === b);
}

export function ipv6Routes(): RouteTable<Uint8Array> {
  return new RouteTable<Uint8Array>(ipv6InPrefix, (a, b) => ipv6InPrefix(a, b, 128));
}
