/**
 * The MQTT forwarder under its runner, as the forwarder tests drive it: an upstream mosquitto with
 * a subscriber and a buffer, a config with the test runner's fast timings, a started runner, and
 * processed rows appended to the buffer.
 */
import { mqttForwarder, type MqttForwarderConfig } from '../../agent/forwarders/mqtt/index.js';
import { ForwarderRunner } from '../../agent/forwarders/runner.js';
import type { MessageBuffer } from '../../agent/core/buffer-types.js';
import type { Counters } from '../../agent/core/counters.js';
import type { Test } from 'tap';
import { startMosquitto, type Mosquitto, type MosquittoOptions } from '../helpers/mosquitto.js';
import { withDefaults } from '../helpers/plugin-config.js';
import { claimPort } from '../helpers/ports.js';
import { HandClock, open, type Opened } from '../buffer/harness.js';
import { collect, makeCtx, openTestBuffer, processedPayload, TEST_RUNNER, type Collector, type TestBuffer } from './harness.js';

/** An MQTT forwarder entry `central` with its schema defaults, the test timings and `over`. */
export function mqttConfig(over: Partial<MqttForwarderConfig>): MqttForwarderConfig {
  return withDefaults<MqttForwarderConfig>(mqttForwarder, { id: 'central', type: 'mqtt', url: 'mqtt://127.0.0.1:1', ...TEST_RUNNER, ...over });
}

/** A runner for `cfg` on `buffer`, started; its counters go to `counters`. Stop it in a teardown. */
export function startMqttRunner(buffer: MessageBuffer, counters: Counters, cfg: MqttForwarderConfig): ForwarderRunner {
  const runner = new ForwarderRunner({ id: cfg.id, type: 'mqtt', forwarder: mqttForwarder.create(cfg), buffer, config: { ...cfg } });
  runner.start(makeCtx(cfg.id, counters).ctx);
  return runner;
}

/** Processed messages `from`..`from + n - 1` of pmu1 appended on `topic`; their seqs. */
export async function appendProcessed(buffer: MessageBuffer, topic: string, from: number, n: number): Promise<number[]> {
  const rows = [];
  for (let k = from; k < from + n; k++) rows.push({ topic, payload: processedPayload('pmu1', k) });
  return buffer.append(rows);
}

/** An upstream mosquitto (`opts`), a buffer and a subscriber to `filter` upstream, all closed at the end of `t`. */
export async function upstreamRig(t: Test, filter: string, opts: MosquittoOptions = {}): Promise<{ m: Mosquitto; tb: TestBuffer; sub: Collector }> {
  const m = await startMosquitto(opts);
  t.teardown(() => m.stop());
  const tb = openTestBuffer();
  t.teardown(() => tb.close());
  const sub = await collect(m.url, filter);
  t.teardown(() => sub.close());
  return { m, tb, sub };
}

/**
 * The prune tests' start: a buffer in `dir` on a hand clock keeping rows for an hour, a runner
 * (closed at the test's end) for an upstream port where nothing listens yet, and 50 processed rows
 * appended, which the runner holds in its live queue; `old` are their seqs.
 */
export async function backlogWhileUpstreamDown(t: Test, dir: string): Promise<Opened & { clock: HandClock; port: number; runner: ForwarderRunner; old: number[] }> {
  const clock = new HandClock();
  const opened = open(dir, { maxAgeHours: 1, clock });
  t.teardown(() => opened.buffer.close());
  const port = await claimPort();
  const runner = startMqttRunner(opened.buffer, opened.counters, mqttConfig({ url: `mqtt://127.0.0.1:${port}` }));
  t.teardown(() => runner.stop());
  const rows = Array.from({ length: 50 }, (_, k) => ({ topic: 'bal/processed/pmu1', payload: processedPayload('pmu1', k) }));
  const old = await opened.buffer.append(rows);
  return { ...opened, clock, port, runner, old };
}
