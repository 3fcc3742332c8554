/**
 * Rate limit for log lines that can repeat per message (rejected payloads, refused clients): at most
 * `burst` lines per key per interval. Counters count everything; the log only has to show it happens.
 * Intervals run on the monotonic clock by default: a wall-clock step back would otherwise silence a
 * key for as long as the step.
 */
export interface LogDecision {
  /** Log this line. */
  ok: boolean;
  /** Lines suppressed for this key in the interval that just ended (reported once, on its first new line). */
  suppressed: number;
}

interface Budget {
  windowStart: number;
  n: number;
  suppressed: number;
}

/** Keys kept before expired ones are forgotten (bounds memory when keys include client ids). */
const MAX_KEYS = 10_000;

export class LogLimiter {
  private readonly budgets = new Map<string, Budget>();

  constructor(
    private readonly burst: number,
    private readonly intervalMs = 60_000,
  ) {}

  take(key: string, now = performance.now()): LogDecision {
    let b = this.budgets.get(key);
    let suppressed = 0;
    if (!b || now - b.windowStart >= this.intervalMs) {
      suppressed = b?.suppressed ?? 0;
      b = { windowStart: now, n: 0, suppressed: 0 };
      this.budgets.set(key, b);
      if (this.budgets.size > MAX_KEYS) this.forgetExpired(now);
    }
    if (b.n < this.burst) {
      b.n++;
      return { ok: true, suppressed };
    }
    b.suppressed++;
    return { ok: false, suppressed };
  }

  private forgetExpired(now: number): void {
    for (const [k, b] of this.budgets) if (now - b.windowStart >= this.intervalMs) this.budgets.delete(k);
  }
}
