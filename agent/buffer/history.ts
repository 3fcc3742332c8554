/**
 * History reads: one numeric field of one device over a time range, downsampled on the gateway to
 * at most `points` buckets of min / max / mean / count. What a request may ask for, checked here
 * once, with errors that name the parameter (the HTTP route turns them into 400 problems).
 */
import type { FieldStats } from '../../algorithms/stats/accumulator.js';

/** Buckets per request by default, and at most. */
export const HISTORY_POINTS_DEFAULT = 600;
export const HISTORY_POINTS_MAX = 5000;

export interface HistoryQuery {
  device: string;
  /**
   * A dotted path into the processed measurement (`p.total`, `v.a.mag`, `soc`), or
   * `stats/<window>/<field>.<statistic>` for the statistics topic of a window
   * (`stats/1m/p.total.mean` reads `fields["p.total"].mean` of `bal/processed/<device>/stats/1m`).
   */
  field: string;
  /** Epoch milliseconds, both inclusive. */
  fromMs: number;
  toMs: number;
  points: number;
}

/** Columnar buckets; empty buckets are left out. `t` is each bucket's start in epoch ms. */
export interface HistorySeries {
  device: string;
  field: string;
  from: number;
  to: number;
  bucketMs: number;
  t: number[];
  min: number[];
  max: number[];
  mean: number[];
  n: number[];
}

/** A history request that cannot be answered as asked: `param` names the request parameter at fault. */
export class HistoryQueryError extends Error {
  constructor(
    readonly param: 'device' | 'field' | 'from' | 'to' | 'points',
    message: string,
  ) {
    super(message);
    this.name = 'HistoryQueryError';
  }
}

/** Reads history (implemented by the SQLite buffer). */
export interface HistorySource {
  history(q: HistoryQuery): Promise<HistorySeries>;
  /** Whether rows of the device's processed topic were ever stored in the current file. */
  hasHistory(device: string): boolean;
}

/**
 * The statistics a stats message carries per field (algorithms/stats FieldStats: Telegraf basicstats'
 * mean, min, max, stdev, count, first, last, plus sum, and rms for the configured RMS fields).
 */
export const HISTORY_STATISTICS = ['mean', 'min', 'max', 'stdev', 'count', 'first', 'last', 'sum', 'rms'] as const satisfies readonly (keyof FieldStats)[];

/** The last time a JavaScript Date holds (+275760-09-13), in epoch ms: the latest `from`/`to`. */
export const HISTORY_MAX_MS = 8_640_000_000_000_000;

const SEGMENT = '[A-Za-z0-9_\\-]+';
const PATH = new RegExp(`^${SEGMENT}(\\.${SEGMENT})*$`);
const STATS = new RegExp(`^stats/(${SEGMENT})/(${SEGMENT}(?:\\.${SEGMENT})*)$`);
const MAX_FIELD = 256;

/** The topic and the key path a field names, or a HistoryQueryError. */
export function resolveField(device: string, field: string): { topic: string; path: string } {
  if (typeof field !== 'string' || field.length === 0 || field.length > MAX_FIELD) {
    throw new HistoryQueryError('field', `field must be a dotted path of 1 to ${MAX_FIELD} characters, e.g. p.total or stats/1m/p.total.mean`);
  }
  const st = STATS.exec(field);
  if (st) {
    const statistic = st[2]!.slice(st[2]!.lastIndexOf('.') + 1);
    if (!st[2]!.includes('.') || !(HISTORY_STATISTICS as readonly string[]).includes(statistic)) {
      throw new HistoryQueryError(
        'field',
        `field ${JSON.stringify(field)}: statistic ${JSON.stringify(statistic)} is not one of ${HISTORY_STATISTICS.join(', ')} (stats/<window>/<field>.<statistic>, e.g. stats/1m/p.total.mean)`,
      );
    }
    return { topic: `bal/processed/${device}/stats/${st[1]!}`, path: `fields.${st[2]!}` };
  }
  if (field.startsWith('stats/') || !PATH.test(field)) {
    throw new HistoryQueryError(
      'field',
      `field ${JSON.stringify(field)} is not a dotted path of letters, digits, "_" and "-" (e.g. p.total, v.a.mag) nor stats/<window>/<field>.<statistic> (e.g. stats/1m/p.total.mean)`,
    );
  }
  return { topic: `bal/processed/${device}`, path: field };
}

/** Checks a query's numbers; returns the bucket width in ms and the bucket count. */
export function checkQuery(q: HistoryQuery): { bucketMs: number; buckets: number } {
  if (typeof q.device !== 'string' || q.device.length === 0) throw new HistoryQueryError('device', 'device must be a non-empty string');
  for (const [param, v] of [['from', q.fromMs], ['to', q.toMs]] as const) {
    if (!Number.isSafeInteger(v) || v < 0 || v > HISTORY_MAX_MS)
      throw new HistoryQueryError(param, `${param} must be an integer of epoch milliseconds from 0 (1970) to ${HISTORY_MAX_MS}, got ${String(v)}`);
  }
  if (q.fromMs > q.toMs) throw new HistoryQueryError('from', `from (${q.fromMs}) is after to (${q.toMs})`);
  if (!Number.isSafeInteger(q.points) || q.points < 1 || q.points > HISTORY_POINTS_MAX) {
    throw new HistoryQueryError('points', `points must be an integer from 1 to ${HISTORY_POINTS_MAX}, got ${String(q.points)}`);
  }
  const span = q.toMs - q.fromMs + 1;
  const bucketMs = Math.max(1, Math.ceil(span / q.points));
  return { bucketMs, buckets: Math.ceil(span / bucketMs) };
}

/** Per-bucket accumulators. */
export class Buckets {
  readonly min: Float64Array;
  readonly max: Float64Array;
  readonly sum: Float64Array;
  readonly n: Float64Array;

  constructor(
    readonly from: number,
    readonly bucketMs: number,
    readonly count: number,
  ) {
    this.min = new Float64Array(count).fill(Number.POSITIVE_INFINITY);
    this.max = new Float64Array(count).fill(Number.NEGATIVE_INFINITY);
    this.sum = new Float64Array(count);
    this.n = new Float64Array(count);
  }

  /** Adds a value stored at time `t` (epoch ms). */
  add(t: number, v: number): void {
    const b = Math.floor((t - this.from) / this.bucketMs);
    if (b >= 0 && b < this.count) this.addTo(b, v);
  }

  /** Adds a value to bucket `b`. */
  addTo(b: number, v: number): void {
    if (v - v !== 0) return; // not finite: not plottable
    if (v < this.min[b]!) this.min[b] = v;
    if (v > this.max[b]!) this.max[b] = v;
    this.sum[b]! += v;
    this.n[b]!++;
  }

  series(device: string, field: string, to: number): HistorySeries {
    const s: HistorySeries = { device, field, from: this.from, to, bucketMs: this.bucketMs, t: [], min: [], max: [], mean: [], n: [] };
    for (let b = 0; b < this.count; b++) {
      const n = this.n[b]!;
      if (n === 0) continue;
      s.t.push(this.from + b * this.bucketMs);
      s.min.push(this.min[b]!);
      s.max.push(this.max[b]!);
      s.mean.push(this.sum[b]! / n);
      s.n.push(n);
    }
    return s;
  }
}
