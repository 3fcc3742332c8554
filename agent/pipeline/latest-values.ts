/**
 * The latest processed measurement of every device, as a read-only map. One processed in an ingest
 * worker arrives as its JSON text only (the object stays in the worker); it is kept as that text and
 * parsed when someone first reads it (status page, state estimator, scheduler), so a device updated
 * many times between two reads is parsed once. Each device's last update time (whole seconds of a
 * monotonic clock) is kept too, so devices silent for long can be forgotten (`forgetSilent`). Main
 * thread only.
 */
import type { Measurement } from '../../algorithms/common/measurement.js';

export class LatestValues implements ReadonlyMap<string, Measurement> {
  /** A measurement, or the JSON text of one not read yet. */
  private readonly map = new Map<string, Measurement | string>();
  /** Device → last update, in whole seconds of `clock` (small integers: no allocation per update). */
  private readonly updatedS = new Map<string, number>();

  /** `clock`: monotonic ms (default `performance.now`). */
  constructor(private readonly clock: () => number = () => performance.now()) {}

  get size(): number {
    return this.map.size;
  }

  has(device: string): boolean {
    return this.map.has(device);
  }

  set(device: string, m: Measurement): void {
    this.map.set(device, m);
    this.updatedS.set(device, Math.floor(this.clock() / 1000));
  }

  /** `text` is JSON.stringify of the measurement. */
  setText(device: string, text: string): void {
    this.map.set(device, text);
    this.updatedS.set(device, Math.floor(this.clock() / 1000));
  }

  /** Forget every device not updated for more than `silentMs`; returns how many were forgotten. */
  forgetSilent(silentMs: number): number {
    const before = Math.floor((this.clock() - silentMs) / 1000);
    let n = 0;
    for (const [device, s] of this.updatedS) {
      if (s >= before) continue;
      this.updatedS.delete(device);
      this.map.delete(device);
      n++;
    }
    return n;
  }

  get(device: string): Measurement | undefined {
    const v = this.map.get(device);
    if (typeof v !== 'string') return v;
    const m = JSON.parse(v) as Measurement;
    this.map.set(device, m);
    return m;
  }

  *entries(): MapIterator<[string, Measurement]> {
    for (const d of this.map.keys()) yield [d, this.get(d)!];
  }

  keys(): MapIterator<string> {
    return this.map.keys();
  }

  *values(): MapIterator<Measurement> {
    for (const d of this.map.keys()) yield this.get(d)!;
  }

  [Symbol.iterator](): MapIterator<[string, Measurement]> {
    return this.entries();
  }

  forEach(fn: (value: Measurement, key: string, map: ReadonlyMap<string, Measurement>) => void, thisArg?: unknown): void {
    for (const [d, m] of this.entries()) fn.call(thisArg, m, d, this);
  }
}
