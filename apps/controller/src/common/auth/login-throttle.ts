/**
 * Counts failed logins per client address in fixed windows; past the limit, further attempts from that address are
 * refused without checking credentials until the window ends (slows down token guessing). One per app: the auth guard
 * and the port-forward fast lane share it.
 */
export class LoginThrottle {
  private readonly failures = new Map<string, { count: number; windowStart: number }>();

  constructor(
    private readonly limit = 20,
    private readonly windowMs = 60_000,
  ) {}

  /** Milliseconds until the address may try again, or 0 when it may try now. */
  retryAfterMs(address: string, now = Date.now()): number {
    const entry = this.failures.get(address);
    if (!entry || now - entry.windowStart >= this.windowMs) {
      return 0;
    }
    return entry.count >= this.limit ? entry.windowStart + this.windowMs - now : 0;
  }

  recordFailure(address: string, now = Date.now()): void {
    const entry = this.failures.get(address);
    if (!entry || now - entry.windowStart >= this.windowMs) {
      if (this.failures.size > 10_000) {
        this.prune(now);
      }
      this.failures.set(address, { count: 1, windowStart: now });
    } else {
      entry.count += 1;
    }
  }

  private prune(now: number): void {
    for (const [address, entry] of this.failures) {
      if (now - entry.windowStart >= this.windowMs) {
        this.failures.delete(address);
      }
    }
  }
}
