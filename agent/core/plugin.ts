/**
 * The plugin interfaces, one per kind (the kinds themselves are listed once, in agent/core/kinds.ts).
 * The composition root (agent/agent.ts) wires every configured plugin into the one data path:
 *
 *   driver.emit ─▶ bal/raw/<device> ─▶ processors (in order) ─▶ bal/processed/<device> ─▶ buffer ─▶ forwarders
 *                                      aggregators ─▶ bal/processed/<device>/stats/<window> ─▶ buffer
 *   analyzers (latest values, periodically or on change) ─▶ bal/processed/<their topic> ─▶ buffer
 *   services: own config slice, start/stop, health, counters, REST routes
 *
 * Rules for every kind:
 * - `create(config)` does no I/O; the config it gets has passed the plugin's convict schema, with
 *   defaults filled in.
 * - `start` may fail (reject): the agent logs it, counts it (`plugin_errors{kind,id}`) and calls
 *   `start` again after a backoff (1 s, doubling, at most 60 s), until it succeeds or the agent stops.
 *   A plugin never takes the process down: its exceptions are caught, logged and counted.
 * - `stop(deadline)` is called once, when the agent stops, whether or not `start` ever succeeded.
 *   `deadline` aborts when the agent's stop budget is nearly spent: from then on the plugin gives up
 *   waiting on peers (close sockets at once) and resolves. After `stop` resolves a driver never emits.
 * - Counters, not log lines, for anything that happens per message.
 */
import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import type { Counters } from './counters.js';
import type { MetricCatalogue } from './metrics.js';
import type { Measurement } from '../../algorithms/common/measurement.js';

export type { Logger } from 'pino';

/** A convict schema object for one plugin's config slice (kept loose: convict's own types are loose). */
export type ConfigSchema = Record<string, unknown>;

export interface PluginContext {
  /** The plugin instance's id (from config). */
  id: string;
  /** Child logger bound to the plugin (`{ plugin: type, id }`). */
  log: Logger;
  counters: Counters;
  /**
   * Aborted when the agent starts stopping, or when a config reload stops this instance (before
   * `stop` is called, either way). One signal per instance: a listener on it goes with the instance.
   */
  signal: AbortSignal;
  /** The gateway id (config `gateway.id`). */
  gateway: string;
  /** Directory for the plugin's own files (inside `storage.dir`); created on first use by the plugin. */
  storageDir: string;
}

/**
 * What became of an emitted measurement: `committed` (stored in the buffer, durable), `rejected`
 * (refused by validation, counted by reason; it will never be stored, so sending it again is
 * pointless), `failed` (accepted but the store could not write it, e.g. disk full: it may be sent
 * again later).
 */
export type EmitOutcome = 'committed' | 'rejected' | 'failed';

export interface EmitOptions {
  /**
   * Called exactly once, asynchronously, when the measurement's fate is known: after the buffer
   * committed it (or it was rejected, or the store failed). A driver that acknowledges its source
   * (an MQTT PUBACK upstream) does so from here, so nothing is acknowledged before it is durable.
   */
  onDurable?(outcome: EmitOutcome): void;
}

/**
 * Emits one measurement onto `bal/raw/<m.device>`. Never throws; bad measurements are counted.
 * Fire and forget unless `opts.onDurable` asks to hear when it is committed.
 */
export type Emit = (m: Measurement, opts?: EmitOptions) => void;

/** Health a plugin reports for the status page, `gridedge status` and `/metrics`. */
export interface PluginHealth {
  state: 'starting' | 'running' | 'degraded' | 'stopped';
  /** Devices this plugin publishes as. */
  devices?: string[];
  lastError?: string;
  lastErrorAt?: number;
  /**
   * Free-form numbers worth showing (frames received, polls, reconnects ...). For drivers, the agent
   * reads a few by name for its generic per-driver health: `connected` (boolean), and the running
   * totals `errors`, `retries`, `reconnects` (counted as driver_errors/driver_retries/driver_reconnects).
   */
  info?: Record<string, number | string | boolean>;
  /**
   * Drivers: how often each device is expected to send a value, in ms (one number: every device of
   * the driver; a record: per device). A device silent for 3 × this long is marked stale (the
   * driver entry's `staleAfterMs` overrides it). Absent: no stale detection unless configured.
   */
  expectedIntervalMs?: number | Record<string, number>;
}

/**
 * A driver reads field devices and emits measurements. `start` resolves once it is reading (or
 * rejects, and is called again later, see above); it reconnects by itself after a connection loss,
 * with backoff, and reports that in `health()`. `emit` may be called from any callback between
 * `start` and the end of `stop`.
 */
export interface Driver {
  start(ctx: PluginContext, emit: Emit): Promise<void>;
  stop(deadline: AbortSignal): Promise<void>;
  health(): PluginHealth;
}

/**
 * A processor turns one measurement into one measurement (the enriched copy, or the input itself).
 * Synchronous and called on the event loop for every accepted measurement, in the configured order.
 * It must not modify its input. An exception is counted (`processor_errors{processor}`) and the
 * measurement passes on unchanged by that processor.
 */
export interface Processor {
  readonly name: string;
  process(m: Measurement): Measurement;
}

/** One message an aggregator or analyzer publishes: its topic (under bal/processed/) and its JSON body. */
export interface DerivedMessage {
  topic: string;
  message: object;
}

/** What `Aggregator.add` did with a measurement, for the pipeline's counters. */
export interface AggregatorAddResult {
  /** The measurement came too late for at least one window that was already published. */
  late?: boolean;
  /** The measurement was left out of at least one window it belongs in (no usable timestamp, limits). */
  ignored?: boolean;
  /** The whole measurement was left out (nothing of it could be included, something in it was invalid). */
  excluded?: boolean;
  /** Field samples left out because their quality was invalid. */
  excludedFields?: number;
}

/**
 * An aggregator collects processed measurements into windows. `add`, `push` and `flushAll` are
 * called on the event loop only, never concurrently. `push(nowMicros)` returns what is complete at
 * that time (the agent calls it every second); `flushAll()` returns everything still open, complete
 * or not, and is called once when the agent stops. Outputs are published and buffered like any
 * processed message.
 */
export interface Aggregator {
  readonly name: string;
  add(m: Measurement): AggregatorAddResult;
  /**
   * The dotted field paths `add` reads besides `device`, `ts`, `quality`, `field_quality` and
   * `reasons`. With it, measurements processed in an ingest worker reach `add` as a view holding only
   * those fields (cheaper to pass between threads); without it, `add` gets the whole measurement.
   */
  reads?(): readonly string[];
  push(nowMicros: number): readonly DerivedMessage[];
  flushAll(): readonly DerivedMessage[];
  health?(): PluginHealth;
}

/** When an analyzer runs: every `intervalMs`, and/or when one of `devices` got a new measurement. */
export interface AnalyzerTrigger {
  intervalMs?: number;
  /** Run (at most once per `minIntervalMs`, default 100 ms) after a new measurement of one of these devices. */
  onChange?: readonly string[];
  minIntervalMs?: number;
}

export interface AnalyzerInput {
  /** The latest processed measurement of every device the analyzer asked for (missing ones absent). */
  latest: ReadonlyMap<string, Measurement>;
  /** Wall clock, µs since the epoch. */
  nowMicros: number;
}

/**
 * An analyzer runs over the latest values of chosen devices and publishes its results through the
 * data path (published locally, buffered, forwarded). Runs never overlap: a trigger that fires
 * while a run is in flight is folded into one run after it. A run that throws or rejects is counted
 * (`analyzer_errors{analyzer}`) and logged; the next trigger runs it again.
 */
export interface Analyzer {
  readonly trigger: AnalyzerTrigger;
  /** Devices whose latest measurement the analyzer reads (and, for `onChange`, watches). */
  readonly devices: readonly string[];
  start?(ctx: PluginContext): Promise<void>;
  analyze(input: AnalyzerInput): readonly DerivedMessage[] | Promise<readonly DerivedMessage[]>;
  stop?(deadline: AbortSignal): Promise<void>;
  health(): PluginHealth;
  /** Optional REST routes, registered as for a service (under `/api/v1`, before `start`; 503 until started). */
  routes?(app: FastifyInstance): Promise<void>;
}

/** What a service can reach of the running agent. */
export interface ServiceContext extends PluginContext {
  /** Publish a derived message through the data path (local subscribers, buffer, forwarders). */
  publish(msg: DerivedMessage): Promise<void>;
  /** The latest processed measurement of a device. */
  latest(device: string): Measurement | undefined;
}

/**
 * A service: its own config slice, start/stop, health and counters, and optionally REST routes.
 * `routes` is registered as an encapsulated Fastify plugin under `/api/v1` before the HTTP server
 * listens (so before `start`); its handlers must answer 503 until `start` resolved.
 */
export interface Service {
  start(ctx: ServiceContext): Promise<void>;
  stop(deadline: AbortSignal): Promise<void>;
  health(): PluginHealth;
  routes?(app: FastifyInstance): Promise<void>;
  /**
   * Optional routes at the server's root instead of under `/api/v1` (compatibility paths of another
   * product's API, e.g. pymfm's `/balancing/`); registered like `routes`, under the same access check.
   */
  rootRoutes?(app: FastifyInstance): Promise<void>;
}

/** A row of the store-and-forward buffer. */
export interface StoredMessage {
  /** The buffer's sequence number: strictly increasing per gateway, never reused. */
  seq: number;
  /** Wall-clock milliseconds when the row was committed. */
  storedAt: number;
  topic: string;
  /** UTF-8 JSON text of the message (without `gw`/`seq`: forwarders add them). */
  payload: string;
  /**
   * For rows read back from the buffer's encoded form: the payload with `fields` spliced in front,
   * exactly as `spliceFields(payload, fields)` (agent/forwarders/payload.ts) makes it, without
   * scanning the text. Absent on live rows (use spliceFields).
   */
  spliced?(fields: readonly (readonly [string, string])[]): string;
}

export interface SendResult {
  /** Rows the peer acknowledged (a prefix or any subset of the batch, by seq). */
  delivered: number[];
  /** Rows the peer refused for good (never retried), with why. */
  rejected: RejectedRow[];
}

export interface RejectedRow {
  seq: number;
  reason: string;
  /**
   * The peer refuses every row of this row's topic, not just this row (MQTT 5 PUBACK 0x87 not
   * authorized, 0x90 topic name invalid): the runner skips the topic's rows for a while.
   */
  topicRefused?: boolean;
}

/**
 * A forwarder sends buffered rows upstream. The agent's forwarder runner (agent/forwarders/runner.ts)
 * owns the cursor, retries, backoff, live-first draining and counters; the forwarder only talks to
 * its peer. `connect` is called again by the runner after a failure (with backoff). Up to
 * `maxInFlight` `send` calls overlap. `send` resolves only after the peer acknowledged (e.g. MQTT
 * PUBACK) and rejects on a connection problem (the runner retries the same rows after backoff).
 */
export interface Forwarder {
  /**
   * How many `send` calls the runner may have in flight at once (default 1). More than one keeps
   * data flowing while the previous batch's acknowledgements are on their way (pipelining).
   */
  readonly maxInFlight?: number;
  connect(ctx: PluginContext): Promise<void>;
  /** Which rows this forwarder wants, and under which topic (null: not forwarded). */
  route(topic: string): string | null;
  send(batch: readonly StoredMessage[]): Promise<SendResult>;
  connected(): boolean;
  /** Close the connection; when `deadline` aborts, drop it at once instead of closing politely. */
  close(deadline?: AbortSignal): Promise<void>;
}

/**
 * Whether the entry's own key checks found a problem at `path` (relative to the entry: `tcp`,
 * `rtu.path`, `registers[2]`), beneath it (`registers` when `registers[2].type` is bad) or above it
 * (`rtu.path` when `rtu` is not a group). `''` is the whole entry: true when any key has a problem.
 */
export type InvalidPaths = (path: string) => boolean;

/** Every path valid: an entry whose keys passed their own checks. */
export const NO_INVALID_PATHS: InvalidPaths = () => false;

/** What a plugin folder exports: its type name, its convict sub-schema and a factory. */
export interface PluginSpec<Config, Instance> {
  readonly type: string;
  /** One-line description, shown by `gridedge config schema`. */
  readonly doc: string;
  /** convict schema of the plugin's own keys (without `type` and `id`, which the root adds). */
  readonly schema: ConfigSchema;
  /** The counters and gauges the plugin keeps under names of its own (added to the metric catalogue). */
  readonly metrics?: MetricCatalogue;
  /**
   * Rules across the plugin's keys, run on an entry with its defaults filled in: "key: message" each.
   * The loader runs them on every entry whose type is known, also on one whose keys have problems of
   * their own (those keys hold their values as written): `invalid` then says which paths those are,
   * and a rule leaves out what reads them. Without `invalid` every key counts as valid.
   */
  validate?(config: Config, invalid?: InvalidPaths): string[];
  /** No I/O here. */
  create(config: Config): Instance;
}

export type DriverSpec<C = Record<string, unknown>> = PluginSpec<C, Driver>;
/**
 * A processor spec may name the module that exports it (`workerModule: import.meta.url`): the
 * pipeline's ingest workers (`pipeline.workers`) then import it and run the processor in their own
 * threads. Only a processor whose `process` depends on nothing but its input and config can do
 * this; with any configured processor lacking it, ingest stays on the main thread.
 */
export type ProcessorSpec<C = Record<string, unknown>> = PluginSpec<C, Processor> & { readonly workerModule?: string };
export type AggregatorSpec<C = Record<string, unknown>> = PluginSpec<C, Aggregator>;
export type AnalyzerSpec<C = Record<string, unknown>> = PluginSpec<C, Analyzer>;
export type ForwarderSpec<C = Record<string, unknown>> = PluginSpec<C, Forwarder>;
export type ServiceSpec<C = Record<string, unknown>> = PluginSpec<C, Service>;
