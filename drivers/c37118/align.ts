/**
 * Time alignment of PMU blocks (one stream with several PMUs, or several streams): measurements are
 * grouped by their own time stamp (SOC/FRACSEC); a group is published when every expected PMU has
 * reported, or when `waitMs` has passed since its first measurement arrived, with the missing PMUs
 * counted as absent. The times `add`, `tick` and `flush` are given are on a monotonic clock (the
 * driver's `performance.now`), so a wall-clock step neither lengthens nor cuts a group's wait.
 * A measurement whose group was already published is late: counted and still published at once (so
 * it is stored). With `waitMs` 0 nothing waits: each measurement is published as it arrives.
 *
 * Per PMU it also keeps what a PDC operator asks for: frames, the latency distribution (arrival wall
 * clock minus time stamp), frames missing from the time stamp sequence at the reporting rate, frames
 * out of order, and late frames.
 *
 * Single-threaded: called from socket and timer callbacks on the event loop only.
 */
import type { Measurement } from '../../algorithms/common/measurement.js';

/** Latency histogram bucket upper bounds in ms (the last bucket is everything above 5 s). */
export const LATENCY_BUCKETS_MS = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, Infinity] as const;

/** A time stamp gap longer than this is a clock jump or an outage, not missing frames. */
const MAX_GAP_US = 3_600_000_000;

export class PmuStats {
  frames = 0;
  missing = 0;
  outOfOrder = 0;
  duplicates = 0;
  late = 0;
  absent = 0;
  /** Frames whose latency was negative (device clock ahead of ours). */
  early = 0;
  readonly buckets = new Array<number>(LATENCY_BUCKETS_MS.length).fill(0);
  maxLatencyMs = 0;
  private lastTs = -1;

  /** Record one frame's time stamp (µs) and arrival (ms); `periodUs` from DATA_RATE (0: unknown). */
  record(ts: number, arrivalMs: number, periodUs: number): void {
    this.frames++;
    const lat = arrivalMs - ts / 1000;
    if (lat < 0) this.early++;
    const l = Math.max(0, lat);
    let b = 0;
    while (l > LATENCY_BUCKETS_MS[b]!) b++;
    this.buckets[b]!++;
    if (l > this.maxLatencyMs) this.maxLatencyMs = l;
    if (this.lastTs >= 0) {
      const gap = ts - this.lastTs;
      if (gap < 0) this.outOfOrder++;
      else if (gap === 0) this.duplicates++;
      else if (periodUs > 0 && gap > periodUs * 1.5 && gap <= MAX_GAP_US) this.missing += Math.round(gap / periodUs) - 1;
    }
    if (ts > this.lastTs) this.lastTs = ts;
  }

  /** Upper bound (ms) of the bucket holding quantile `q` (0..1); 0 before any frame. */
  quantileMs(q: number): number {
    const n = this.buckets.reduce((a, b) => a + b, 0);
    if (n === 0) return 0;
    let acc = 0;
    for (let b = 0; b < this.buckets.length; b++) {
      acc += this.buckets[b]!;
      if (acc >= q * n) return LATENCY_BUCKETS_MS[b] === Infinity ? Math.round(this.maxLatencyMs) : LATENCY_BUCKETS_MS[b]!;
    }
    return Math.round(this.maxLatencyMs);
  }
}

export interface AlignerEvents {
  publish(m: Measurement): void;
  /** A PMU expected in a group had not reported when the group was published. */
  absent(device: string, ts: number): void;
  late(device: string, ts: number): void;
  /** A group was published `waitedMs` (monotonic) after its first measurement arrived. */
  published?(ts: number, size: number, waitedMs: number): void;
}

interface Group {
  /** Monotonic ms when its first measurement arrived. */
  openedAt: number;
  items: Measurement[];
  devices: Set<string>;
}

/** Open groups kept at most (a flood of distinct time stamps publishes the oldest early). */
const MAX_OPEN_GROUPS = 1000;

export class Aligner {
  private readonly groups = new Map<number, Group>();
  /** The newest time stamp of a published group. */
  private publishedUpTo = -Infinity;
  /** The devices every group should have (set when configurations change). */
  expected: ReadonlySet<string> = new Set();

  constructor(
    private readonly waitMs: number,
    private readonly ev: AlignerEvents,
  ) {}

  get open(): number {
    return this.groups.size;
  }

  /** `m` arrived at `arrivalMs` (monotonic). */
  add(m: Measurement, arrivalMs: number): void {
    if (this.waitMs <= 0) {
      this.ev.publish(m);
      return;
    }
    let g = this.groups.get(m.ts);
    if (!g) {
      if (m.ts <= this.publishedUpTo) {
        this.ev.late(m.device, m.ts);
        this.ev.publish(m);
        return;
      }
      g = { openedAt: arrivalMs, items: [], devices: new Set() };
      this.groups.set(m.ts, g);
      if (this.groups.size > MAX_OPEN_GROUPS) this.close(Math.min(...this.groups.keys()), arrivalMs);
    }
    if (g.devices.has(m.device)) {
      // The same PMU twice for one time stamp: publish the repeat as it is, the group keeps the first.
      this.ev.publish(m);
      return;
    }
    g.devices.add(m.device);
    g.items.push(m);
    if (this.expected.size > 0 && [...this.expected].every((d) => g!.devices.has(d))) this.close(m.ts, arrivalMs);
  }

  private close(ts: number, nowMs: number): void {
    const g = this.groups.get(ts);
    if (!g) return;
    this.groups.delete(ts);
    if (ts > this.publishedUpTo) this.publishedUpTo = ts;
    for (const d of this.expected) if (!g.devices.has(d)) this.ev.absent(d, ts);
    for (const m of g.items) this.ev.publish(m);
    this.ev.published?.(ts, g.items.length, nowMs - g.openedAt);
  }

  /** Publish every group whose window has ended at `nowMs` (monotonic), oldest time stamp first. */
  tick(nowMs: number): void {
    const due: number[] = [];
    for (const [ts, g] of this.groups) if (nowMs - g.openedAt >= this.waitMs) due.push(ts);
    due.sort((a, b) => a - b);
    for (const ts of due) this.close(ts, nowMs);
  }

  /** Publish everything still open (at stop). */
  flush(nowMs: number): void {
    for (const ts of [...this.groups.keys()].sort((a, b) => a - b)) this.close(ts, nowMs);
  }
}
