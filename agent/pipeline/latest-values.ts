/**
 * The latest processed measurement of every device, as a read-only map. One processed in an ingest
 * worker arrives as its JSON text only (the object stays in the worker); it is kept as that text and
 * parsed when someone first reads it (status page, state estimator, scheduler), so a device updated
 * many times between two reads is parsed once. Each device's last update time (whole seconds of a
 * monotonic clock) is kept too, so devices silent for long can be forgotten (`forgetSilent`), and
 * the driver whose measurement it is, so a config reload that stops a driver can take its devices off
 * the list (`forgetDrivers`); a device whose latest value came from an MQTT client has no driver.
 * Main thread only.
 */
import type { Measurement } from '../../algorithms/common/measurement.js';

export class LatestValues implements ReadonlyMap<string, Measurement> {
  /** A measurement, or the JSON text of one not read yet. */
  private readonly map = new Map<string, Measurement | string>();
  /** Device → last update, in whole seconds of `clock` (small integers: no allocation per update). */
  private readonly updatedS = new Map<string, number>();
  /** Device → the driver that produced its latest value (absent: an MQTT client published it). */
  private readonly drivers = new Map<string, string>();

  /** `clock`: monotonic ms (default `performance.now`). */
  constructor(private readonly clock: () => number = () => performance.now()) {}

  get size(): number {
    return this.map.size;
  }

  has(device: string): boolean {
    return this.map.has(device);
  }

  /** `driver`: the driver that emitted it; null for a publish by an MQTT client. */
  set(device: string, m: Measurement, driver: string | null = null): void {
    this.map.set(device, m);
    this.touch(device, driver);
  }

  /** `text` is JSON.stringify of the measurement (published by an MQTT client, processed in a worker). */
  setText(device: string, text: string): void {
    this.map.set(device, text);
    this.touch(device, null);
  }

  private touch(device: string, driver: string | null): void {
    this.updatedS.set(device, Math.floor(this.clock() / 1000));
    if (driver === null) this.drivers.delete(device);
    else if (this.drivers.get(device) !== driver) this.drivers.set(device, driver);
  }

  /**
   * Forget every device whose latest value came from one of `drivers`; returns them (by name).
   * Devices an MQTT client published last stay.
   */
  forgetDrivers(drivers: ReadonlySet<string>): string[] {
    const out: string[] = [];
    for (const [device, driver] of this.drivers) {
      if (!drivers.has(driver)) continue;
      this.forget(device);
      out.push(device);
    }
    return out.sort();
  }

  /** Drop everything kept of one device. */
  private forget(device: string): void {
    this.map.delete(device);
    this.updatedS.delete(device);
    this.drivers.delete(device);
  }

  /** Forget every device not updated for more than `silentMs`; returns how many were forgotten. */
  forgetSilent(silentMs: number): number {
    const before = Math.floor((this.clock() - silentMs) / 1000);
    let n = 0;
    for (const [device, s] of this.updatedS) {
      if (s >= before) continue;
      this.forget(device);
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
