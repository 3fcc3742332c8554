/**
 * Sorted, disjoint, inclusive ranges of buffer sequence numbers still to be read and sent
 * (the backlog of one forwarder). Small: one range per outage or overflow, merged when they touch.
 */
export class SeqRanges {
  private readonly ranges: [number, number][] = [];

  get empty(): boolean {
    return this.ranges.length === 0;
  }

  /** The first range (lowest sequence numbers), or undefined. */
  first(): readonly [number, number] | undefined {
    return this.ranges[0];
  }

  /** Lowest pending sequence number (Infinity when empty). */
  min(): number {
    return this.ranges[0]?.[0] ?? Infinity;
  }

  /** Add [lo, hi], merging with ranges it overlaps or touches. */
  add(lo: number, hi: number): void {
    if (hi < lo) return;
    const r = this.ranges;
    let k = 0;
    while (k < r.length && r[k]![1] < lo - 1) k++;
    let end = k;
    while (end < r.length && r[end]![0] <= hi + 1) {
      lo = Math.min(lo, r[end]![0]);
      hi = Math.max(hi, r[end]![1]);
      end++;
    }
    r.splice(k, end - k, [lo, hi]);
  }

  /** Everything up to and including `seq` of the first range is done. */
  consumeThrough(seq: number): void {
    const f = this.ranges[0];
    if (!f) return;
    if (seq >= f[1]) this.ranges.shift();
    else if (seq >= f[0]) f[0] = seq + 1;
  }

  /** Number of sequence numbers covered (an upper bound on the rows still to read). */
  span(): number {
    let n = 0;
    for (const [lo, hi] of this.ranges) n += hi - lo + 1;
    return n;
  }

  clear(): void {
    this.ranges.length = 0;
  }

  toArray(): [number, number][] {
    return this.ranges.map(([lo, hi]) => [lo, hi]);
  }
}
