/**
 * The one data path, in one place:
 *
 *   driver emit ─┐
 *                ├─▶ validate ─▶ bal/raw/<device> ─▶ processors ─▶ bal/processed/<device> ─▶ buffer
 *   MQTT client ─┘                                  aggregators ─▶ bal/processed/<device>/stats/<w> ─▶ buffer
 *
 * A QoS 1 publish from a network client is acknowledged only once the raw message and what it was
 * processed into are committed to the buffer (the promise `ingestRaw` returns). A bad payload is
 * rejected, counted by reason and logged (rate-limited) naming client, topic and reason; it never
 * throws into the broker and never blocks other messages.
 */
import type { MessageBuffer, NewMessage } from '../core/buffer-types.js';
import type { Counters } from '../core/counters.js';
import { LogLimiter } from '../core/log-limiter.js';
import { nowMicros, type Measurement } from '../../algorithms/common/measurement.js';
import type { Aggregator, Logger, Processor } from '../core/plugin.js';
import { RAW_PREFIX, processedTopic, rawTopic, statsTopic } from '../core/topics.js';
import { checkMeasurement, parseMeasurement, type Rejection, type ValidationLimits } from './validate.js';
import type { AddOutcome, StatsMessage } from '../../algorithms/stats/index.js';

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
  processors: readonly Processor[];
  stats: (Omit<Aggregator<StatsMessage>, 'add'> & { add(m: Measurement): AddOutcome }) | null;
  buffer: MessageBuffer | null;
  /** In-process publish on the embedded broker (local subscribers); fire and forget. */
  publish(topic: string, payload: string): void;
  limits: { maxPayloadBytes: number; futureToleranceS: number; pastToleranceS: number };
}

/** Log at most this many lines per reason per minute; the counters count everything. */
const LOG_BURST = 5;

export class Pipeline {
  private readonly latest = new Map<string, Measurement>();
  private readonly logLimiter = new LogLimiter(LOG_BURST);

  constructor(private readonly d: PipelineDeps) {
    const c = d.counters;
    c.describe('received', 'Measurements received on bal/raw (from drivers and MQTT clients)');
    c.describe('processed', 'Measurements processed and published on bal/processed');
    c.describe('rejected', 'Raw payloads rejected, by reason');
    c.describe('flagged', 'Measurements kept but flagged questionable, by reason');
    c.describe('dropped', 'Accepted data that could not be stored, by reason');
    c.describe('late', 'Samples that arrived after their statistics window was published');
    c.describe('stats_published', 'Statistics windows published');
    c.describe('stats_excluded', 'Measurements left out of statistics whole (no field sample included, something invalid)');
    c.describe('stats_excluded_fields', 'Field samples left out of statistics (field quality invalid)');
    c.describe('qos0_received', 'QoS 0 publishes on bal/raw (best effort)');
    c.describe('processor_errors', 'Processor exceptions, by processor');
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
      this.rejected({ ok: false, reason: 'bad_topic', detail: `topic ${input.topic} names no device (bal/raw/<device>)` }, input.topic, input.clientId);
      return Promise.resolve('rejected');
    }
    const r = parseMeasurement(input.payload, device, this.limits());
    if (!r.ok) {
      this.rejected(r, input.topic, input.clientId);
      return Promise.resolve('rejected');
    }
    const stored = this.accept(r.m, r.text ?? input.payload.toString('utf8'));
    if (input.qos === 0) {
      // Best effort: not held until the commit, a store failure is counted as a drop.
      this.d.counters.inc('qos0_received');
      stored.catch(() => this.d.counters.inc('dropped', { reason: 'store_unavailable' }));
      return Promise.resolve('accepted');
    }
    return stored.then(() => 'accepted');
  }

  /** A measurement from a driver: checked like any other, published on bal/raw, then processed. */
  emit(m: Measurement, driverId: string): void {
    this.d.counters.inc('received', { source: 'driver' });
    const r = checkMeasurement(m, null, this.limits());
    if (!r.ok) {
      this.rejected(r, rawTopic(String(m.device)), `driver:${driverId}`);
      return;
    }
    const raw = JSON.stringify(r.m);
    this.d.publish(rawTopic(r.m.device), raw);
    this.accept(r.m, raw).catch(() => this.d.counters.inc('dropped', { reason: 'store_unavailable' }));
  }

  private accept(m: Measurement, rawJson: string): Promise<void> {
    const c = this.d.counters;
    if (m.reasons) for (const reason of m.reasons) if (reason.startsWith('ts_')) c.inc('flagged', { reason });
    let out = m;
    for (const p of this.d.processors) {
      try {
        out = p.process(out);
      } catch (err) {
        c.inc('processor_errors', { processor: p.name });
        this.logLimited(`processor:${p.name}`, { device: m.device, processor: p.name, err: (err as Error).message }, 'processor failed; measurement passed on unprocessed by it');
      }
    }
    const processed = JSON.stringify(out);
    const topic = processedTopic(out.device);
    this.d.publish(topic, processed);
    this.latest.set(out.device, out);
    c.inc('processed');
    if (this.d.stats) {
      const { result, excludedFields } = this.d.stats.add(out);
      if (result === 'late') c.inc('late');
      else if (result === 'excluded') c.inc('stats_excluded');
      if (excludedFields > 0) c.inc('stats_excluded_fields', undefined, excludedFields);
    }
    if (!this.d.buffer) return Promise.resolve();
    return this.d.buffer
      .append([
        { topic: rawTopic(m.device), payload: rawJson },
        { topic, payload: processed },
      ])
      .then(() => undefined);
  }

  /** Publish and store the statistics windows that are complete at `nowUs` (all of them when `all`). */
  pushStats(nowUs: number, all = false): Promise<unknown> {
    if (!this.d.stats) return Promise.resolve();
    const windows = all ? this.d.stats.flushAll() : this.d.stats.push(nowUs);
    if (windows.length === 0) return Promise.resolve();
    const rows: NewMessage[] = [];
    for (const w of windows) {
      const topic = statsTopic(w.device, w.window);
      const payload = JSON.stringify(w);
      this.d.publish(topic, payload);
      rows.push({ topic, payload });
    }
    this.d.counters.inc('stats_published', undefined, windows.length);
    if (!this.d.buffer) return Promise.resolve();
    return this.d.buffer.append(rows).catch(() => this.d.counters.inc('dropped', { reason: 'store_unavailable' }, rows.length));
  }

  /** The latest processed measurement of every device (status page, state estimator). */
  latestByDevice(): ReadonlyMap<string, Measurement> {
    return this.latest;
  }

  private rejected(r: Rejection, topic: string, client: string): void {
    this.d.counters.inc('rejected', { reason: r.reason });
    this.logLimited(`reject:${r.reason}`, { client, topic, reason: r.reason, detail: r.detail }, 'payload rejected');
  }

  private logLimited(key: string, fields: Record<string, unknown>, msg: string): void {
    const d = this.logLimiter.take(key);
    if (d.suppressed > 0) this.d.log.warn({ key, suppressed: d.suppressed }, 'similar log lines suppressed in the last minute');
    if (d.ok) this.d.log.warn(fields, msg);
  }

}
