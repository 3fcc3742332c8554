/**
 * The one data path, in one place:
 *
 *   driver emit ─┐
 *                ├─▶ validate ─▶ bal/raw/<device> ─▶ processors ─▶ bal/processed/<device> ─▶ buffer
 *   MQTT client ─┘                                  aggregators ─▶ bal/processed/<device>/stats/<w> ─▶ buffer
 *   analyzers, services ─▶ publishDerived ─▶ bal/processed/<their topic> ─▶ buffer
 *
 * A QoS 1 publish from a network client is acknowledged only once what it was processed into (which
 * keeps every raw field), and the verbatim raw message when a forwarder sends bal/raw upstream, are
 * committed to the buffer (the promise `ingestRaw` returns). A bad payload is
 * rejected, counted by reason and logged (rate-limited) naming client, topic and reason; it never
 * throws into the broker and never blocks other messages.
 */
import type { MessageBuffer, NewMessage } from '../core/buffer-types.js';
import type { Counters } from '../core/counters.js';
import { LogLimiter } from '../core/log-limiter.js';
import { nowMicros, type Measurement } from '../../algorithms/common/measurement.js';
import type { Aggregator, DerivedMessage, Logger, Processor } from '../core/plugin.js';
import { PROCESSED_PREFIX, RAW_PREFIX, processedTopic, rawTopic } from '../core/topics.js';
import type { IngestPool } from './ingest-pool.js';
import { LatestValues } from './latest-values.js';
import { checkMeasurement, parseMeasurement, type Rejection, type ValidationLimits } from './validate.js';

export interface RawInput {
  topic: string;
  payload: Buffer;
  qos: 0 | 1 | 2;
  clientId: string;
  username?: string;
}

/** What became of a raw publish: stored (and processed), or rejected (it goes nowhere). */
export type RawVerdict = 'accepted' | 'rejected';

export interface PipelineDeps {
  log: Logger;
  counters: Counters;
  /** Applied in this order to every accepted measurement. */
  processors: readonly Processor[];
  aggregators: readonly Aggregator[];
  buffer: MessageBuffer | null;
  /** Whether the verbatim raw message on this topic must be stored (a forwarder sends it upstream). */
  storeRaw(rawTopic: string): boolean;
  /**
   * Ingest workers for raw publishes from network clients (`pipeline.workers`); absent: parsed and
   * processed on the main thread. Driver measurements are always processed here (they are objects).
   */
  pool?: IngestPool | null;
  /** In-process publish on the embedded broker (local subscribers); fire and forget. */
  publish(topic: string, payload: string): void;
  limits: {
    maxPayloadBytes: number;
    futureToleranceS: number;
    pastToleranceS: number;
    /** Distinct devices kept; at the limit, devices silent for over an hour are forgotten, then a new device is rejected (`too_many_devices`). */
    maxDevices: number;
  };
  /** A monotonic clock in ms, for how long devices have been silent (default `performance.now`; tests inject their own). */
  clock?: () => number;
}

/** Log at most this many lines per reason per minute; the counters count everything. */
const LOG_BURST = 5;

/** At `maxDevices`, a device silent for longer than this is forgotten to make room for a new one. */
export const FORGET_SILENT_DEVICE_MS = 3600_000;
/** How often, at most, the devices are scanned for silent ones while at the limit. */
const FORGET_SCAN_MS = 10_000;

export class Pipeline {
  private readonly latest: LatestValues;
  private readonly clock: () => number;
  /** When the devices were last scanned for silent ones (at the limit only). */
  private lastForgetScan = -Infinity;
  private readonly logLimiter = new LogLimiter(LOG_BURST);
  private listener: ((device: string) => void) | null = null;
  private readonly rawRoutes = new Map<string, boolean>();

  constructor(private readonly d: PipelineDeps) {
    this.clock = d.clock ?? (() => performance.now());
    this.latest = new LatestValues(this.clock);
    const c = d.counters;
    // Shown from the start (at 0) so a dashboard or technician sees them before anything happens.
    for (const name of ['processed', 'late', 'stats_published']) c.inc(name, undefined, 0);
  }

  private limits(): ValidationLimits {
    const l = this.d.limits;
    return {
      maxPayloadBytes: l.maxPayloadBytes,
      nowUs: nowMicros(),
      futureToleranceUs: l.futureToleranceS * 1e6,
      pastToleranceUs: l.pastToleranceS * 1e6,
    };
  }

  /**
   * A publish by a network client on `bal/raw/...`. Resolves when it may be acknowledged:
   * at once with 'rejected' for a rejected payload (it is consumed, counted and logged; the broker
   * neither relays nor retains it), with 'accepted' after the commit otherwise (at once for QoS 0).
   * Rejects only when the store cannot take accepted data (the broker then withholds the PUBACK).
   */
  ingestRaw(input: RawInput): Promise<RawVerdict> {
    this.d.counters.inc('received', { source: 'mqtt' });
    const device = input.topic.startsWith(RAW_PREFIX) ? input.topic.slice(RAW_PREFIX.length) : '';
    if (device === '' || device.includes('+') || device.includes('#')) {
      this.rejected({ reason: 'bad_topic', detail: `topic ${input.topic} names no device (bal/raw/<device>)` }, input.topic, input.clientId);
      return Promise.resolve('rejected');
    }
    if (this.d.pool?.usable()) return this.ingestInWorker(input, device, this.d.pool);
    const r = parseMeasurement(input.payload, device, this.limits());
    if (!r.ok) {
      this.rejected(r, input.topic, input.clientId);
      return Promise.resolve('rejected');
    }
    if (this.overDeviceLimit(r.m.device)) {
      this.rejected(this.deviceLimitRejection(r.m.device), input.topic, input.clientId);
      return Promise.resolve('rejected');
    }
    return this.settle(input, this.accept(r.m, r.text ?? input.payload.toString('utf8'), null));
  }

  /**
   * `ingestRaw` with the parsing, validation, processing and serialising done in an ingest worker;
   * the commit (publish, latest, aggregators, buffer) happens here, in the order the worker answers.
   */
  private ingestInWorker(input: RawInput, device: string, pool: IngestPool): Promise<RawVerdict> {
    // The worker's parseMeasurement checks the device name too (bad_topic), as on the main thread.
    return pool.process(device, input.payload).then((r) => {
      if (!r.ok) {
        this.rejected(r, input.topic, input.clientId);
        return 'rejected' as const;
      }
      if (this.overDeviceLimit(device)) {
        this.rejected(this.deviceLimitRejection(device), input.topic, input.clientId);
        return 'rejected' as const;
      }
      if (r.errors) for (const e of r.errors) this.processorFailed(device, e.processor, e.message);
      // r.m is the measurement's view for the aggregators (measurement-view.ts) or the whole of it.
      const stored = this.commit(r.m, r.text, () => input.payload.toString('utf8'), r.whole ? r.m : null, null);
      return this.settle(input, stored);
    });
  }

  /** What a network client's publish waits for: the commit (QoS 1), or nothing (QoS 0, a failure counted). */
  private settle(input: RawInput, stored: Promise<void>): Promise<RawVerdict> {
    if (input.qos === 0) {
      // Best effort: not held until the commit, a store failure is counted as a drop.
      this.d.counters.inc('qos0_received');
      stored.catch(() => this.d.counters.inc('dropped', { reason: 'store_unavailable' }));
      return Promise.resolve('accepted');
    }
    return stored.then(() => 'accepted');
  }

  /**
   * A measurement from a driver: checked like any other, published on bal/raw, then processed.
   * Resolves 'rejected' at once for a refused one, 'accepted' once it is committed; rejects when the
   * store cannot write it (counted as dropped here; the caller must handle the rejection).
   */
  emit(m: Measurement, driverId: string): Promise<RawVerdict> {
    this.d.counters.inc('received', { source: 'driver' });
    const r = checkMeasurement(m, null, this.limits());
    if (!r.ok) {
      this.rejected(r, rawTopic(String(m.device)), `driver:${driverId}`);
      return Promise.resolve('rejected');
    }
    if (this.overDeviceLimit(r.m.device)) {
      this.rejected(this.deviceLimitRejection(r.m.device), rawTopic(r.m.device), `driver:${driverId}`);
      return Promise.resolve('rejected');
    }
    const raw = JSON.stringify(r.m);
    this.d.publish(rawTopic(r.m.device), raw);
    const stored = this.accept(r.m, raw, driverId);
    stored.catch(() => this.d.counters.inc('dropped', { reason: 'store_unavailable' }));
    return stored.then(() => 'accepted');
  }

  /** `driver`: the driver that emitted it, null for a network client's publish. */
  private accept(m: Measurement, rawJson: string, driver: string | null): Promise<void> {
    let out = m;
    for (const p of this.d.processors) {
      try {
        out = p.process(out);
      } catch (err) {
        this.processorFailed(m.device, p.name, (err as Error).message);
      }
    }
    return this.commit(out, JSON.stringify(out), () => rawJson, out, driver);
  }

  private processorFailed(device: string, processor: string, message: string): void {
    this.d.counters.inc('processor_errors', { processor });
    this.logLimited(`processor:${processor}`, { device, processor, err: message }, 'processor failed; measurement passed on unprocessed by it');
  }

  /**
   * Publish and keep a processed measurement, feed the aggregators, and store it (with the verbatim
   * raw text, read only when a forwarder routes bal/raw). `out` is what the aggregators get: the
   * measurement, or its view from an ingest worker, in which case `whole` is null and the latest value
   * is kept as the text `processed`. `driver` names the driver that emitted it (null: a network
   * client), for `forgetDriverDevices`. Resolves once committed.
   */
  private commit(out: Measurement, processed: string, rawJson: () => string, whole: Measurement | null, driver: string | null): Promise<void> {
    const c = this.d.counters;
    if (out.reasons) for (const reason of out.reasons) if (reason.startsWith('ts_')) c.inc('flagged', { reason });
    const topic = processedTopic(out.device);
    this.d.publish(topic, processed);
    if (whole) this.latest.set(out.device, whole, driver);
    else this.latest.setText(out.device, processed);
    c.inc('processed');
    for (const a of this.d.aggregators) {
      try {
        const r = a.add(out);
        if (r.late) c.inc('late');
        if (r.ignored) c.inc('aggregator_ignored', { aggregator: a.name });
        if (r.excluded) c.inc('stats_excluded');
        if (r.excludedFields) c.inc('stats_excluded_fields', undefined, r.excludedFields);
      } catch (err) {
        c.inc('aggregator_errors', { aggregator: a.name });
        this.logLimited(`aggregator:${a.name}`, { device: out.device, aggregator: a.name, err: (err as Error).message }, 'aggregator failed on a measurement');
      }
    }
    this.listener?.(out.device);
    if (!this.d.buffer) return Promise.resolve();
    // The processed message keeps every field of the raw one, so the verbatim raw row is stored only
    // when some forwarder sends bal/raw/<device> upstream.
    const rawT = rawTopic(out.device);
    const rows: NewMessage[] = this.rawRouted(rawT) ? [{ topic: rawT, payload: rawJson() }, { topic, payload: processed }] : [{ topic, payload: processed }];
    return this.d.buffer.append(rows).then(() => undefined);
  }

  /** Forget which raw topics go upstream (the forwarders changed: config reload). */
  forgetRawRoutes(): void {
    this.rawRoutes.clear();
  }

  /** Whether a forwarder routes this raw topic (cached per device; the cache is bounded by maxDevices). */
  private rawRouted(rawT: string): boolean {
    let r = this.rawRoutes.get(rawT);
    if (r === undefined) {
      r = this.d.storeRaw(rawT);
      if (this.rawRoutes.size < this.d.limits.maxDevices) this.rawRoutes.set(rawT, r);
    }
    return r;
  }

  /** Publish and store what the aggregators completed at `nowUs` (everything still open when `all`). */
  pushAggregates(nowUs: number, all = false): Promise<unknown> {
    const out: DerivedMessage[] = [];
    for (const a of this.d.aggregators) {
      try {
        out.push(...(all ? a.flushAll() : a.push(nowUs)));
      } catch (err) {
        this.d.counters.inc('aggregator_errors', { aggregator: a.name });
        this.logLimited(`aggregator:${a.name}`, { aggregator: a.name, err: (err as Error).message }, 'aggregator failed to publish its windows');
      }
    }
    if (out.length === 0) return Promise.resolve();
    this.d.counters.inc('stats_published', undefined, out.length);
    return this.publishDerived(out);
  }

  /**
   * Publish messages derived by an aggregator, analyzer or service: on the embedded broker and into
   * the buffer (so they are forwarded). Topics must be under bal/processed/; others are refused,
   * counted (`derived_refused`) and logged. Resolves once stored; a store failure is counted as a drop.
   */
  publishDerived(msgs: readonly DerivedMessage[]): Promise<void> {
    const rows: NewMessage[] = [];
    for (const d of msgs) {
      if (!d.topic.startsWith(PROCESSED_PREFIX)) {
        this.d.counters.inc('derived_refused', { reason: 'topic' });
        this.logLimited('derived:topic', { topic: d.topic }, 'derived message refused: its topic is not under bal/processed/');
        continue;
      }
      let payload: string;
      try {
        payload = JSON.stringify(d.message);
      } catch (err) {
        this.d.counters.inc('derived_refused', { reason: 'not_serialisable' });
        this.logLimited('derived:json', { topic: d.topic, err: (err as Error).message }, 'derived message refused: not serialisable');
        continue;
      }
      this.d.publish(d.topic, payload);
      rows.push({ topic: d.topic, payload });
    }
    if (!this.d.buffer || rows.length === 0) return Promise.resolve();
    return this.d.buffer.append(rows).then(
      () => undefined,
      () => this.d.counters.inc('dropped', { reason: 'store_unavailable' }, rows.length),
    );
  }

  /** Called with the device of every processed measurement (the agent's on-change analyzer triggers). */
  onProcessed(listener: ((device: string) => void) | null): void {
    this.listener = listener;
  }

  /** The latest processed measurement of every device (status page, state estimator). */
  latestByDevice(): ReadonlyMap<string, Measurement> {
    return this.latest;
  }

  /**
   * A config reload stopped these drivers (removed, or restarted with new options): the devices whose
   * latest value one of them produced leave the device list (`/api/v1/devices`, the status and its
   * page), counted in `devices_removed` and logged by name. A restarted driver's devices come back
   * with its next value; a device an MQTT client published last stays. Returns the devices removed.
   */
  forgetDriverDevices(driverIds: readonly string[]): string[] {
    if (driverIds.length === 0) return [];
    const gone = this.latest.forgetDrivers(new Set(driverIds));
    if (gone.length === 0) return gone;
    this.d.counters.inc('devices_removed', undefined, gone.length);
    const SHOWN = 50;
    this.d.log.info(
      { drivers: driverIds, removed: gone.length, devices: gone.slice(0, SHOWN), ...(gone.length > SHOWN ? { more: gone.length - SHOWN } : {}) },
      `config reload: ${gone.length} device(s) of the stopped drivers left the device list (a restarted driver's come back with its next value)`,
    );
    return gone;
  }

  /**
   * A device not seen before while `maxDevices` devices are known. At the limit, devices silent for
   * over an hour are forgotten first (scanned at most every 10 s), so devices that came and went over
   * months do not keep every new one out; while all of them report, a new one is rejected.
   */
  private overDeviceLimit(device: string): boolean {
    const max = this.d.limits.maxDevices;
    if (this.latest.size < max || this.latest.has(device)) return false;
    const now = this.clock();
    if (now - this.lastForgetScan >= FORGET_SCAN_MS) {
      this.lastForgetScan = now;
      const n = this.latest.forgetSilent(FORGET_SILENT_DEVICE_MS);
      if (n > 0) {
        this.d.counters.inc('devices_forgotten', undefined, n);
        this.d.log.info({ forgotten: n, maxDevices: max }, `pipeline.maxDevices reached: ${n} device(s) silent for over an hour forgotten to make room for new ones`);
      }
    }
    return this.latest.size >= max;
  }

  private deviceLimitRejection(device: string): { reason: string; detail: string } {
    return {
      reason: 'too_many_devices',
      detail: `device ${JSON.stringify(device.slice(0, 64))} would be device number ${this.latest.size + 1}; pipeline.maxDevices is ${this.d.limits.maxDevices}`,
    };
  }

  private rejected(r: { reason: string; detail: string }, topic: string, client: string): void {
    this.d.counters.inc('rejected', { reason: r.reason });
    this.logLimited(`reject:${r.reason}`, { client, topic, reason: r.reason, detail: r.detail }, 'payload rejected');
  }

  private logLimited(key: string, fields: Record<string, unknown>, msg: string): void {
    const d = this.logLimiter.take(key);
    if (d.suppressed > 0) this.d.log.warn({ key, suppressed: d.suppressed }, 'earlier log lines suppressed by the rate limit (the counters count every one)');
    if (d.ok) this.d.log.warn(fields, msg);
  }

}
