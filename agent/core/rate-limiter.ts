/**
 * A token bucket: `rate` tokens per second, at most `burst` saved up. Rate 0 means unlimited.
 * Uses the monotonic clock, so wall-clock jumps neither stall nor flood the sender.
 */
export class RateLimiter {
  private tokens: number;
  private last: number;

  constructor(
    private readonly rate: number,
    private readonly burst: number,
    private readonly now: () => number = () => performance.now(),
  ) {
    this.tokens = burst;
    this.last = now();
  }

  get unlimited(): boolean {
    return this.rate <= 0;
  }

  private refill(): void {
    const t = this.now();
    this.tokens = Math.min(this.burst, this.tokens + ((t - this.last) / 1000) * this.rate);
    this.last = t;
  }

  /** Whole tokens available now (Infinity when unlimited). */
  available(): number {
    if (this.unlimited) return Infinity;
    this.refill();
    return Math.floor(this.tokens);
  }

  /** Spend `n` tokens (may go negative: the debt is paid before more are available). */
  take(n: number): void {
    if (this.unlimited) return;
    this.refill();
    this.tokens -= n;
  }

  /** Give back `n` tokens taken earlier (never more than `burst` saved up). */
  refund(n: number): void {
    if (this.unlimited) return;
    this.refill();
    this.tokens = Math.min(this.burst, this.tokens + n);
  }

  /** Milliseconds until `n` tokens are available (0 when they are now). */
  waitMs(n = 1): number {
    if (this.unlimited) return 0;
    this.refill();
    const missing = Math.min(n, this.burst) - this.tokens;
    return missing <= 0 ? 0 : Math.ceil((missing / this.rate) * 1000);
  }
}
