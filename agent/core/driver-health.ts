/**
 * Generic driver health, the same for every driver: whether it is connected, the age of the last
 * value of each of its devices, its running totals (reads, errors, retries, reconnects) and stale
 * detection.
 *
 * - `value(driver, device)` is called by the agent for every measurement a driver emits (counted
 *   as `driver_reads{driver}`); it records the arrival time on the injected clock (the agent gives
 *   a monotonic one, so a wall-clock step changes no age) and clears the device's stale mark at once.
 * - `sweep(driver, health)` is called once a second and for every status document: it reads the
 *   driver's `health()`, turns the driver's own running totals (`info.errors`, `info.retries`,
 *   `info.reconnects`) into the agent's counters `driver_errors`/`driver_retries`/`driver_reconnects`
 *   (by the increase since the last sweep; a total that went down, because the driver was
 *   recreated, counts from zero), and marks each device stale when it has had no value for longer
 *   than its threshold. Entering stale is counted (`device_stale_total{driver}`);
 *   `devices_stale` is the number of stale devices now.
 *
 * The threshold of a device: the driver entry's `staleAfterMs` when set (> 0), else
 * {@link STALE_FACTOR} × the interval the driver reports for it (`PluginHealth.expectedIntervalMs`),
 * else none (the device is never marked stale). The interval is read afresh at every sweep, so a
 * driver may change it as it goes (modbus expects a value as often as its polling groups that still
 * read, so a failing fast group does not make the device flap stale/fresh). A device the driver
 * names but that never sent a value is aged from when the driver was registered. At most `maxDevices` devices are tracked over
 * all drivers (the pipeline's device limit); values of others still count as reads. Everything runs
 * on the event loop.
 */
import type { Counters } from './counters.js';
import type { PluginHealth } from './plugin.js';

/** A device with no value for this many expected intervals is stale. */
export const STALE_FACTOR = 3;

/** Health of one device of a driver, as the status document shows it. */
export interface DeviceHealth {
  device: string;
  driver: string;
  /** Milliseconds since the last value arrived (since the driver started when none ever did). */
  ageMs: number;
  /** Whether a value ever arrived. */
  seen: boolean;
  stale: boolean;
  /** `stale` when stale. */
  reason?: 'stale';
  /** The interval the driver expects (when it reports one). */
  expectedIntervalMs?: number;
  /** The threshold in force (absent: no stale detection for this device). */
  staleAfterMs?: number;
}

/** Per-driver health the agent adds to a driver's status. */
export interface DriverHealthSummary {
  connected: boolean;
  reads: number;
  errors: number;
  retries: number;
  reconnects: number;
  devices: DeviceHealth[];
}

interface DeviceState {
  lastAt: number;
  seen: boolean;
  stale: boolean;
}

interface DriverState {
  staleAfterMs: number;
  registeredAt: number;
  devices: Map<string, DeviceState>;
  /** The driver's own totals at the last sweep. */
  totals: { errors: number; retries: number; reconnects: number };
}

const TOTALS = [
  ['errors', 'driver_errors'],
  ['retries', 'driver_retries'],
  ['reconnects', 'driver_reconnects'],
] as const;

export class DriverHealthTracker {
  private readonly drivers = new Map<string, DriverState>();
  /** Devices tracked over all drivers (at most `maxDevices`; more are counted as reads only). */
  private tracked = 0;

  constructor(
    private readonly counters: Counters,
    private readonly now: () => number = Date.now,
    private readonly maxDevices = 2000,
  ) {
    counters.set('devices_stale', 0);
  }

  /** Start tracking a driver (again, from scratch). `staleAfterMs` 0: from the driver's interval. */
  register(driver: string, staleAfterMs = 0): void {
    this.remove(driver);
    this.drivers.set(driver, { staleAfterMs, registeredAt: this.now(), devices: new Map(), totals: { errors: 0, retries: 0, reconnects: 0 } });
    this.counters.inc('driver_reads', { driver }, 0);
    this.counters.inc('device_stale_total', { driver }, 0);
  }

  /** Forget a driver (config reload removed it). */
  remove(driver: string): void {
    const d = this.drivers.get(driver);
    if (!d) return;
    this.tracked -= d.devices.size;
    this.drivers.delete(driver);
    this.updateGauge();
  }

  /** Track a new device of `d`, unless `maxDevices` are tracked already. */
  private add(d: DriverState, device: string, s: DeviceState): void {
    if (this.tracked >= this.maxDevices) return;
    this.tracked++;
    d.devices.set(device, s);
  }

  /** A value of `device` from `driver` arrived now. */
  value(driver: string, device: string): void {
    this.counters.inc('driver_reads', { driver });
    const d = this.drivers.get(driver);
    if (!d) return;
    const s = d.devices.get(device);
    if (s) {
      s.lastAt = this.now();
      s.seen = true;
      if (s.stale) {
        s.stale = false;
        this.updateGauge();
      }
    } else this.add(d, device, { lastAt: this.now(), seen: true, stale: false });
  }

  /** Update counters and stale marks of `driver` from its health; returns its summary. */
  sweep(driver: string, health: PluginHealth): DriverHealthSummary | undefined {
    const d = this.drivers.get(driver);
    if (!d) return undefined;
    const now = this.now();
    const info = health.info ?? {};
    for (const [key, counter] of TOTALS) {
      const v = info[key];
      if (typeof v !== 'number' || !Number.isFinite(v)) continue;
      const inc = v >= d.totals[key] ? v - d.totals[key] : v;
      if (inc > 0) this.counters.inc(counter, { driver }, inc);
      d.totals[key] = v;
    }
    for (const name of health.devices ?? [])
      if (!d.devices.has(name)) this.add(d, name, { lastAt: d.registeredAt, seen: false, stale: false });
    const devices: DeviceHealth[] = [];
    let changed = false;
    for (const [name, s] of d.devices) {
      const expected = expectedFor(health.expectedIntervalMs, name);
      const threshold = d.staleAfterMs > 0 ? d.staleAfterMs : expected !== undefined ? STALE_FACTOR * expected : undefined;
      const ageMs = Math.max(0, now - s.lastAt);
      const stale = threshold !== undefined && ageMs > threshold;
      if (stale && !s.stale) this.counters.inc('device_stale_total', { driver });
      if (stale !== s.stale) changed = true;
      s.stale = stale;
      const h: DeviceHealth = { device: name, driver, ageMs, seen: s.seen, stale };
      if (stale) h.reason = 'stale';
      if (expected !== undefined) h.expectedIntervalMs = expected;
      if (threshold !== undefined) h.staleAfterMs = threshold;
      devices.push(h);
    }
    if (changed) this.updateGauge();
    return {
      connected: connectedOf(health),
      reads: this.counters.get('driver_reads', { driver }),
      errors: this.counters.get('driver_errors', { driver }),
      retries: this.counters.get('driver_retries', { driver }),
      reconnects: this.counters.get('driver_reconnects', { driver }),
      devices,
    };
  }

  private updateGauge(): void {
    let n = 0;
    for (const d of this.drivers.values()) for (const s of d.devices.values()) if (s.stale) n++;
    this.counters.set('devices_stale', n);
  }
}

function expectedFor(e: PluginHealth['expectedIntervalMs'], device: string): number | undefined {
  const v = typeof e === 'number' ? e : e?.[device];
  return typeof v === 'number' && Number.isFinite(v) && v > 0 ? v : undefined;
}

/**
 * Connected: the driver's `info.connected` when it reports one (a boolean, or a number of
 * connected streams: at least one), else whether its state is `running`.
 */
function connectedOf(h: PluginHealth): boolean {
  const c = h.info?.['connected'];
  if (typeof c === 'boolean') return c;
  if (typeof c === 'number') return c > 0;
  return h.state === 'running';
}
