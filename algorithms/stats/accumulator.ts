/**
 * Online statistics of one window: for every tracked field count, mean and M2 (Welford), min, max,
 * compensated sums of x and x² (Neumaier), first/last by timestamp. One Float64Array per window,
 * nothing allocated per sample.
 */
import type { Quality } from '../common/measurement.js';

/** Statistics of one field over one window (Telegraf basicstats meanings; a boolean counts as 1 or 0). */
export interface FieldStats {
  /** Included samples with a value for this field (finite number or boolean). */
  count: number;
  min: number;
  max: number;
  mean: number;
  /** Sample standard deviation (n − 1); omitted when count < 2, as Telegraf does. */
  stdev?: number;
  sum: number;
  /** Value with the earliest timestamp. */
  first: number;
  /** Value with the latest timestamp. */
  last: number;
  /** √(mean of squares) — IEC 61000-4-30 aggregation of RMS values; only for configured rmsFields. */
  rms?: number;
}

const N = 0, MEAN = 1, M2 = 2, MIN = 3, MAX = 4, SUM = 5, SUMC = 6, SQ = 7, SQC = 8;
const FIRST = 9, FIRST_TS = 10, LAST = 11, LAST_TS = 12;
export const STRIDE = 13;

const QUALITIES: readonly Quality[] = ['good', 'questionable', 'invalid'];

export class WindowAccumulator {
  /** Messages included: at least one field sample of theirs was included, or none was invalid. */
  count = 0;
  /** Messages left out whole: no field sample included, and the message or a field sample was invalid. */
  excluded = 0;
  /** Field samples left out for quality `invalid` (over included and left-out messages). */
  excludedFields = 0;
  /** Worst quality rank of the included field samples (0 good, 1 questionable). */
  rank = 0;
  private readonly d: Float64Array;

  constructor(
    readonly start: number,
    readonly end: number,
    nFields: number,
  ) {
    const d = (this.d = new Float64Array(nFields * STRIDE));
    for (let o = 0; o < d.length; o += STRIDE) {
      d[MIN + o] = Infinity;
      d[MAX + o] = -Infinity;
      d[FIRST_TS + o] = Infinity;
      d[LAST_TS + o] = -Infinity;
    }
  }

  /**
   * Add one message: `values[f]` is field f's sample (NaN = missing or left out), `rms[f]` whether to sum
   * squares, `rank` the worst quality rank of the samples in `values`.
   */
  add(values: Float64Array, rms: readonly boolean[], ts: number, rank: number): void {
    this.count++;
    if (rank > this.rank) this.rank = rank;
    const d = this.d;
    for (let f = 0, o = 0; f < values.length; f++, o += STRIDE) {
      const x = values[f]!;
      if (x !== x) continue; // NaN: field missing in this sample
      const n = (d[N + o] = d[N + o]! + 1);
      const mean = d[MEAN + o]!;
      const delta = x - mean;
      const m = mean + delta / n;
      d[MEAN + o] = m;
      d[M2 + o] = d[M2 + o]! + delta * (x - m);
      if (x < d[MIN + o]!) d[MIN + o] = x;
      if (x > d[MAX + o]!) d[MAX + o] = x;
      neumaier(d, SUM + o, x);
      if (rms[f]) neumaier(d, SQ + o, x * x);
      if (ts < d[FIRST_TS + o]!) { d[FIRST_TS + o] = ts; d[FIRST + o] = x; }
      if (ts >= d[LAST_TS + o]!) { d[LAST_TS + o] = ts; d[LAST + o] = x; }
    }
  }

  /** Field statistics by name; fields with no finite value in the window are left out. */
  fieldStats(names: readonly string[], rms: readonly boolean[]): Record<string, FieldStats> {
    const out: Record<string, FieldStats> = {};
    const d = this.d;
    for (let f = 0, o = 0; f < names.length; f++, o += STRIDE) {
      const n = d[N + o]!;
      if (n === 0) continue;
      const s: FieldStats = {
        count: n,
        min: d[MIN + o]!,
        max: d[MAX + o]!,
        mean: d[MEAN + o]!,
        sum: d[SUM + o]! + d[SUMC + o]!,
        first: d[FIRST + o]!,
        last: d[LAST + o]!,
      };
      if (n >= 2) s.stdev = Math.sqrt(d[M2 + o]! / (n - 1));
      if (rms[f]) s.rms = Math.sqrt((d[SQ + o]! + d[SQC + o]!) / n);
      out[names[f]!] = s;
    }
    return out;
  }

  /** Window quality: worst of the included field samples; `invalid` when no message was included. */
  quality(): Quality {
    return this.count === 0 ? 'invalid' : QUALITIES[this.rank]!;
  }
}

/** Neumaier's compensated summation: d[i] running sum, d[i + 1] the lost low-order part. */
function neumaier(d: Float64Array, i: number, x: number): void {
  const s = d[i]!;
  const t = s + x;
  d[i + 1] = d[i + 1]! + (Math.abs(s) >= Math.abs(x) ? s - t + x : x - t + s);
  d[i] = t;
}
