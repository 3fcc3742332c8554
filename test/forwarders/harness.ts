/**
 * Shared pieces of the forwarder tests: a real buffer in a temp dir, a plugin context, counters
 * that say when they change, a real MQTT subscriber that collects what reaches the upstream broker,
 * and waits with a deadline (test/helpers/wait.ts).
 */
import { EventEmitter } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, type MqttClient } from 'mqtt';
import { pino } from 'pino';
import { openBuffer } from '../../agent/buffer/index.js';
import type { MessageBuffer } from '../../agent/core/buffer-types.js';
import { Counters, type Labels } from '../../agent/core/counters.js';
import type { Logger, PluginContext } from '../../agent/core/plugin.js';
import { waitFor } from '../helpers/wait.js';

export function testLogger(): Logger {
  return pino({ level: process.env.GRIDEDGE_TEST_LOG ?? 'silent' });
}

export interface TestBuffer {
  buffer: MessageBuffer;
  dir: string;
  counters: Counters;
  close(): Promise<void>;
}

export function openTestBuffer(counters = new Counters(), dir?: string): TestBuffer {
  const d = dir ?? mkdtempSync(join(tmpdir(), 'gridedge-fwd-'));
  const buffer = openBuffer({ dir: d, maxBytes: 0, maxAgeHours: 0, commitIntervalMs: 5, log: testLogger(), counters });
  let closed = false;
  return {
    buffer,
    dir: d,
    counters,
    async close() {
      if (closed) return;
      closed = true;
      await buffer.close();
      if (!dir) rmSync(d, { recursive: true, force: true });
    },
  };
}

export function makeCtx(id: string, counters: Counters, gateway = 'gw-1'): { ctx: PluginContext; abort: AbortController } {
  const abort = new AbortController();
  const ctx: PluginContext = {
    id,
    log: testLogger(),
    counters,
    signal: abort.signal,
    gateway,
    storageDir: tmpdir(),
  };
  return { ctx, abort };
}

/**
 * The real Counters, which also emit `change` (name, labels, performance.now()) on `events` after
 * every `inc` or `set`, so tests wait on a counter without polling and know when it moved.
 */
export class WatchedCounters extends Counters {
  readonly events = new EventEmitter();
  override inc(name: string, labels?: Labels, by = 1): void {
    super.inc(name, labels, by);
    this.events.emit('change', name, labels ?? {}, performance.now());
  }
  override set(name: string, value: number, labels?: Labels): void {
    super.set(name, value, labels);
    this.events.emit('change', name, labels ?? {}, performance.now());
  }
}

/**
 * Wait until `pred()` holds: checked at once, on every change of `counters` (when given) and every
 * 10 ms; rejects after `timeoutMs` naming `what` (a safety net, not an assertion on speed).
 */
export async function until(pred: () => boolean, what: string, timeoutMs = 30_000, counters?: WatchedCounters): Promise<void> {
  await waitFor(what, () => pred() || undefined, { timeoutMs, intervalMs: 10, ...(counters ? { on: [[counters.events, 'change']] } : {}) });
}

export interface Received {
  topic: string;
  text: string;
  at: number;
}

export interface Collector {
  client: MqttClient;
  messages: Received[];
  /** Parsed JSON bodies. */
  json(): Record<string, unknown>[];
  waitFor(n: number, timeoutMs?: number): Promise<void>;
  close(): Promise<void>;
}

/** A real MQTT subscriber on the upstream broker. */
export async function collect(
  url: string,
  filter: string,
  opts: { clean?: boolean; clientId?: string; ca?: Buffer; username?: string; password?: string } = {},
): Promise<Collector> {
  const client = connect(url, {
    reconnectPeriod: 200,
    clean: opts.clean ?? true,
    clientId: opts.clientId ?? `collector-${Math.random().toString(16).slice(2)}`,
    ...(opts.ca ? { ca: opts.ca } : {}),
    ...(opts.username ? { username: opts.username, password: opts.password ?? '' } : {}),
  });
  const messages: Received[] = [];
  client.on('message', (topic, payload) => messages.push({ topic, text: payload.toString(), at: performance.now() }));
  client.on('error', () => {});
  // Connection errors are retried (reconnectPeriod): wait for the connection, not the first try.
  await waitFor(`the collector to connect to ${url}`, () => client.connected || undefined, { on: [[client, 'connect']], timeoutMs: 15_000 });
  await client.subscribeAsync(filter, { qos: 1 });
  return {
    client,
    messages,
    json: () => messages.map((m) => JSON.parse(m.text) as Record<string, unknown>),
    waitFor: (n, timeoutMs) =>
      waitFor(`${n} messages on ${filter}`, () => messages.length >= n || undefined, {
        on: [[client, 'message']],
        timeoutMs,
        detail: () => `have ${messages.length}`,
      }).then(() => undefined),
    close: () => client.endAsync(true),
  };
}

/** A processed-measurement-like payload (with `seq`, the symmetrical components). */
export function processedPayload(device: string, k: number): string {
  return JSON.stringify({
    device,
    ts: 1764000000000000 + k * 20000,
    quality: 'good',
    freq: 50,
    v: { a: { mag: 230, ang: 0 } },
    p: { total: 1000 + k },
    seq: { v: { zero: { mag: 0, ang: 0 }, pos: { mag: 230, ang: 0 }, neg: { mag: 0, ang: 0 } } },
    k,
  });
}

/** Runner settings the forwarder tests share: quick timeouts and reconnects, no backlog rate limit. */
export const TEST_RUNNER = {
  connectTimeoutMs: 5000,
  batchSize: 200,
  backlogMaxRate: 0,
  reconnectMinMs: 100,
  reconnectMaxMs: 1000,
} as const;
