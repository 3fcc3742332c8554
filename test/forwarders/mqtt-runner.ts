/**
 * The MQTT forwarder under its runner, as the forwarder tests drive it: a config with the test
 * runner's fast timings, a started runner, and processed rows appended to the buffer.
 */
import { mqttForwarder, type MqttForwarderConfig } from '../../agent/forwarders/mqtt/index.js';
import { ForwarderRunner } from '../../agent/forwarders/runner.js';
import type { MessageBuffer } from '../../agent/core/buffer-types.js';
import type { Counters } from '../../agent/core/counters.js';
import { withDefaults } from '../helpers/plugin-config.js';
import { makeCtx, processedPayload, TEST_RUNNER } from './harness.js';

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
