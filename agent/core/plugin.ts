/**
 * The plugin interfaces. Every driver, processor, aggregator and forwarder implements one of these;
 * the agent's composition root (agent/agent.ts) wires them into the one data path:
 *
 *   driver.emit → bal/raw/<device> → processors → bal/processed/<device> → buffer → forwarders
 *                                   aggregators → bal/processed/<device>/stats/<window>
 *
 * Rules (in the spirit of Telegraf's plugin model):
 * - `create(config)` validates nothing twice and does no I/O; the config slice it gets has already
 *   passed the plugin's convict schema.
 * - `start`/`connect` may fail; the agent logs, counts and retries — a plugin never takes the process down.
 * - Counters, not log lines, for anything that happens per message.
 */
import type { Logger } from 'pino';
import type { Counters } from './counters.js';
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
  /** Aborted when the agent stops. */
  signal: AbortSignal;
  /** The gateway id (config `gateway.id`). */
  gateway: string;
  /** Directory for the plugin's own files (inside `storage.dir`). */
  storageDir: string;
}

/** Emits one measurement onto `bal/raw/<m.device>`. Never throws; bad measurements are counted. */
export type Emit = (m: Measurement) => void;

/** Health a plugin reports for the status page and `gridedge status`. */
export interface PluginHealth {
  state: 'starting' | 'running' | 'degraded' | 'stopped';
  /** Devices this plugin publishes as. */
  devices?: string[];
  lastError?: string;
  lastErrorAt?: number;
  /** Free-form numbers worth showing (frames received, polls, reconnects ...). */
  info?: Record<string, number | string | boolean>;
}

/**
 * A driver reads field devices and emits measurements.
 * `start` is called once, `stop` once; after `stop()` resolves, `emit` is never called again.
 * A driver reconnects by itself after a connection loss (with backoff), counting `retries`.
 */
export interface Driver {
  start(ctx: PluginContext, emit: Emit): Promise<void>;
  stop(): Promise<void>;
  health(): PluginHealth;
}

/** A processor turns one measurement into zero or more. Pure and synchronous. */
export interface Processor {
  readonly name: string;
  process(m: Measurement): Measurement;
}

/**
 * An aggregator collects measurements into windows. `add`, `push` and `reset` are never called
 * concurrently. `push(nowMicros)` returns the windows that are complete at that time.
 */
export interface Aggregator<Out> {
  add(m: Measurement): void;
  push(nowMicros: number): readonly Out[];
  /** Everything still open, complete or not (used on shutdown). */
  flushAll(): readonly Out[];
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
}

export interface SendResult {
  /** Rows the peer acknowledged (a prefix or any subset of the batch, by seq). */
  delivered: number[];
  /** Rows the peer refused for good (never retried), with why. */
  rejected: { seq: number; reason: string }[];
}

/**
 * A forwarder sends buffered rows upstream. The agent's forwarder runner owns the cursor, retries,
 * backoff, live-first draining and counters; the forwarder only talks to its peer.
 * `send` never overlaps itself (unless `maxInFlight` > 1). It resolves only after the peer
 * acknowledged (e.g. MQTT PUBACK). It rejects on a connection problem (the runner retries the same
 * rows after backoff).
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
  close(): Promise<void>;
}

/** What a plugin folder exports: its type name, its convict sub-schema and a factory. */
export interface PluginSpec<Config, Instance> {
  readonly type: string;
  /** One-line description, shown by `gridedge config schema`. */
  readonly doc: string;
  /** convict schema of the plugin's own keys (without `type` and `id`, which the root adds). */
  readonly schema: ConfigSchema;
  /** No I/O here. */
  create(config: Config): Instance;
}

export type DriverSpec<C = Record<string, unknown>> = PluginSpec<C, Driver>;
export type ForwarderSpec<C = Record<string, unknown>> = PluginSpec<C, Forwarder>;
