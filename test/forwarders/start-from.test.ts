/**
 * `startFrom`: where a forwarder new to the buffer starts. `latest` (the default) sends rows committed
 * from its start on; `oldest` also sends every row the buffer held before it (rows buffered while no
 * forwarder was configured, or the backlog of a forwarder that was renamed). A forwarder that already
 * has a cursor resumes from it either way.
 */
import t from 'tap';
import { mqttForwarder, type MqttForwarderConfig } from '../../agent/forwarders/mqtt/index.js';
import { ForwarderRunner } from '../../agent/forwarders/runner.js';
import type { MessageBuffer } from '../../agent/core/buffer-types.js';
import type { Counters } from '../../agent/core/counters.js';
import { startMosquitto } from '../helpers/mosquitto.js';
import { collect, makeCtx, openTestBuffer, processedPayload, TEST_RUNNER, until } from './harness.js';
import { withDefaults } from '../helpers/plugin-config.js';

function config(over: Partial<MqttForwarderConfig>): MqttForwarderConfig {
  return withDefaults<MqttForwarderConfig>(mqttForwarder, { id: 'central', type: 'mqtt', url: 'mqtt://127.0.0.1:1', ...TEST_RUNNER, ...over });
}

function startRunner(buffer: MessageBuffer, counters: Counters, cfg: MqttForwarderConfig): ForwarderRunner {
  const runner = new ForwarderRunner({ id: cfg.id, type: 'mqtt', forwarder: mqttForwarder.create(cfg), buffer, config: { ...cfg } });
  runner.start(makeCtx(cfg.id, counters).ctx);
  return runner;
}

async function append(buffer: MessageBuffer, from: number, n: number): Promise<number[]> {
  const rows = [];
  for (let k = from; k < from + n; k++) rows.push({ topic: 'bal/processed/pmu1', payload: processedPayload('pmu1', k) });
  return buffer.append(rows);
}

t.test('rows buffered before any forwarder: sent by a forwarder with startFrom oldest, not by one with latest', async (t) => {
  const m = await startMosquitto();
  t.teardown(() => m.stop());
  const tb = openTestBuffer();
  t.teardown(() => tb.close());
  const subOld = await collect(m.url, 'old/#');
  t.teardown(() => subOld.close());
  const subNew = await collect(m.url, 'new/#');
  t.teardown(() => subNew.close());
  const before = await append(tb.buffer, 0, 30); // no cursor yet: the buffer keeps them

  const oldest = startRunner(tb.buffer, tb.counters, config({ id: 'oldest', url: m.url, startFrom: 'oldest', map: [{ from: 'bal/processed/#', to: 'old/#' }] }));
  const latest = startRunner(tb.buffer, tb.counters, config({ id: 'latest', url: m.url, map: [{ from: 'bal/processed/#', to: 'new/#' }] }));
  t.teardown(() => Promise.all([oldest.stop(), latest.stop()]));
  const after = await append(tb.buffer, 30, 10);
  await until(() => oldest.cursor === after[9] && latest.cursor === after[9], 'both cursors at the last row');
  await subOld.waitFor(40);
  await subNew.waitFor(10);
  t.same([...new Set(subOld.json().map((j) => j['seq']))].sort((a, b) => Number(a) - Number(b)), [...before, ...after], 'startFrom oldest: the rows held before it started, and the new ones');
  t.same(subNew.json().map((j) => j['seq']), after, 'startFrom latest (default): only rows committed after its start');
});

t.test('startFrom oldest applies only to a new cursor: a forwarder restarted resumes from its cursor', async (t) => {
  const m = await startMosquitto();
  t.teardown(() => m.stop());
  const tb = openTestBuffer();
  t.teardown(() => tb.close());
  const sub = await collect(m.url, '#');
  t.teardown(() => sub.close());
  const cfg = config({ url: m.url, startFrom: 'oldest' });
  let runner = startRunner(tb.buffer, tb.counters, cfg);
  const first = await append(tb.buffer, 0, 10);
  await until(() => runner.cursor === first[9], 'cursor at the 10th row');
  await runner.stop();
  const second = await append(tb.buffer, 10, 5);
  runner = startRunner(tb.buffer, tb.counters, cfg);
  t.teardown(() => runner.stop());
  await until(() => runner.cursor === second[4], 'cursor at the end');
  await sub.waitFor(15);
  t.same(sub.json().map((j) => j['seq']), [...first, ...second], 'each row once: the restart did not go back to the oldest row');
});
