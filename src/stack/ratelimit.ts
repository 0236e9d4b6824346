/**
 * A token bucket on the stack's clock, for ICMP errors (RFC 1122 §3.2.2, RFC 4443 §2.4(f)) and
 * other replies an attacker could provoke at will.
 */
export class TokenBucket {
  private tokens: number;
  private last: number;

  constructor(
    /** Tokens added per second. */
    private readonly rate: number,
    /** Largest burst. */
    private readonly burst: number,
    now: number,
  ) {
    this.tokens = burst;
    this.last = now;
  }

  /** Takes a token if one is available. */
  take(now: number): boolean {
    this.tokens = Math.min(this.burst, this.tokens + ((now - this.last) * this.rate) / 1000);
    this.last = now;
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }
}

/**
 * The ICMP and ICMPv6 error limit of each IP layer. Linux's icmp_ratelimit allows about one error
 * per ms with a burst of 50; we are stricter.
 */
export function icmpErrorLimiter(now: number): TokenBucket {
  return new TokenBucket(100, 50, now);
}
