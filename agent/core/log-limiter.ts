/**
 * Rate limit for log lines that can repeat per message (rejected payloads, refused clients): at most
 * `burst` lines per key per interval, and at most `totalBurst` lines per interval over all keys
 * together. Counters count everything; the log only has to show it happens.
 *
 * Bounds: at most `maxKeys` keys are remembered. Keys are kept in the order their interval started,
 * so expired ones are forgotten from the front at the cost of the ones forgotten. When every key
 * remembered is still in its interval (a flood of ever new client ids), the oldest is forgotten: its
 * next line may then be logged again, within the overall budget. Lines suppressed by the overall
 * budget, or by a key forgotten before its count was reported, are reported with the next line the
 * limiter allows (`suppressed`), so no suppression goes unmentioned.
 *
 * Intervals run on the monotonic clock by default: a wall-clock step back would otherwise silence a
 * key for as long as the step.
 */
export interface LogDecision {
  /** Log this line. */
  ok: boolean;
  /**
   * Lines suppressed and not yet reported: this key's in the interval that just ended, plus those
   * the overall budget held back or that forgotten keys had suppressed (reported once, on an allowed line).
   */
  suppressed: number;
}

interface Budget {
  windowStart: number;
  n: number;
  suppressed: number;
}

export interface LogLimiterOptions {
  /** Keys remembered at most (default 10 000). */
  maxKeys?: number;
  /** Lines allowed per interval over all keys together (default: `burst` × 100). */
  totalBurst?: number;
}

const DEFAULT_MAX_KEYS = 10_000;
const DEFAULT_TOTAL_FACTOR = 100;

export class LogLimiter {
  private readonly budgets = new Map<string, Budget>();
  private readonly maxKeys: number;
  private readonly totalBurst: number;
  private totalStart = -Infinity;
  private totalN = 0;
  /** Suppressed lines owed a report that no key holds any more (overall budget, forgotten keys). */
  private unreported = 0;

  constructor(
    private readonly burst: number,
    private readonly intervalMs = 60_000,
    opts: LogLimiterOptions = {},
  ) {
    this.maxKeys = Math.max(1, opts.maxKeys ?? DEFAULT_MAX_KEYS);
    this.totalBurst = Math.max(burst, opts.totalBurst ?? burst * DEFAULT_TOTAL_FACTOR);
  }

  take(key: string, now = performance.now()): LogDecision {
    let b = this.budgets.get(key);
    let suppressed = 0;
    if (!b || now - b.windowStart >= this.intervalMs) {
      suppressed = b?.suppressed ?? 0;
      // Delete, then set: the map stays in the order the intervals started.
      if (b) this.budgets.delete(key);
      else this.makeRoom(now);
      b = { windowStart: now, n: 0, suppressed: 0 };
      this.budgets.set(key, b);
    }
    if (b.n >= this.burst || !this.takeTotal(now)) {
      // Held back by the key's own budget: the key reports it; by the overall budget: the next line allowed does.
      if (b.n >= this.burst) b.suppressed++;
      else this.unreported++;
      this.unreported += suppressed; // this key's last count, not reported on this suppressed line
      return { ok: false, suppressed: 0 };
    }
    b.n++;
    suppressed += this.unreported;
    this.unreported = 0;
    return { ok: true, suppressed };
  }

  /** Keys remembered now (for tests and status). */
  get size(): number {
    return this.budgets.size;
  }

  private takeTotal(now: number): boolean {
    if (now - this.totalStart >= this.intervalMs) {
      this.totalStart = now;
      this.totalN = 0;
    }
    if (this.totalN >= this.totalBurst) return false;
    this.totalN++;
    return true;
  }

  /** Before a new key: forget expired keys from the front, then the oldest while at the bound. */
  private makeRoom(now: number): void {
    if (this.budgets.size < this.maxKeys) return;
    for (const [k, b] of this.budgets) {
      const expired = now - b.windowStart >= this.intervalMs;
      if (!expired && this.budgets.size < this.maxKeys) break;
      this.unreported += b.suppressed;
      this.budgets.delete(k);
      if (!expired) break; // the oldest live key made room for one
    }
  }
}
