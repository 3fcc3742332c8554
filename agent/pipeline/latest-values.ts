/**
 * The latest processed measurement of every device, as a read-only map. One processed in an ingest
 * worker arrives as its JSON text only (the object stays in the worker); it is kept as that text and
 * parsed when someone first reads it (status page, state estimator, scheduler), so a device updated
 * many times between two reads is parsed once. Main thread only.
 */
import type { Measurement } from '../../algorithms/common/measurement.js';

export class LatestValues implements ReadonlyMap<string, Measurement> {
  /** A measurement, or the JSON text of one not read yet. */
  private readonly map = new Map<string, Measurement | string>();

  get size(): number {
    return this.map.size;
  }

  has(device: string): boolean {
    return this.map.has(device);
  }

  set(device: string, m: Measurement): void {
    this.map.set(device, m);
  }

  /** `text` is JSON.stringify of the measurement. */
  setText(device: string, text: string): void {
    this.map.set(device, text);
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
