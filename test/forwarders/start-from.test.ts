/**
 * `startFrom`: where a forwarder new to the buffer starts. `latest` (the default) sends rows committed
 * from its start on; `oldest` also sends the rows the buffer held before it that some forwarder had
 * not delivered (rows buffered while no forwarder was configured, or the backlog of a forwarder that
 * was renamed), not the rows every forwarder delivered that are kept only for history. A forwarder
 * that already has a cursor resumes from it either way.
 */
import t from 'tap';
import type { MessageBuffer } from '../../agent/core/buffer-types.js';
import { startMosquitto } from '../helpers/mosquitto.js';
import { collect, openTestBuffer, until } from './harness.js';
import { open, tempDir } from '../buffer/harness.js';
import { appendProcessed, mqttConfig, startMqttRunner, upstreamRig } from './mqtt-runner.js';

const config = mqttConfig;
const startRunner = startMqttRunner;
const append = (buffer: MessageBuffer, from: number, n: number): Promise<number[]> => appendProcessed(buffer, 'bal/processed/pmu1', from, n);

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
  const { m, tb, sub } = await upstreamRig(t, '#');
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

t.test('startFrom oldest with history on: the rows another forwarder has not delivered, not the history', async (t) => {
  const m = await startMosquitto();
  t.teardown(() => m.stop());
  const { buffer, counters } = open(tempDir('fwd-oldest-history'), { historyHours: 24 });
  t.teardown(() => buffer.close());
  const subB = await collect(m.url, 'b/#');
  t.teardown(() => subB.close());
  const a = startRunner(buffer, counters, config({ id: 'a', url: m.url, map: [{ from: 'bal/processed/#', to: 'a/#' }] }));
  const delivered = await append(buffer, 0, 20);
  await until(() => a.cursor === delivered[19], 'a delivered the first 20 rows');
  await a.stop(); // a falls behind: the next rows wait for it
  const waiting = await append(buffer, 20, 10);
  t.equal(buffer.stats().firstSeq, delivered[0], 'the delivered rows are kept for history');

  const b = startRunner(buffer, counters, config({ id: 'b', url: m.url, startFrom: 'oldest', map: [{ from: 'bal/processed/#', to: 'b/#' }] }));
  t.teardown(() => b.stop());
  const after = await append(buffer, 30, 5);
  await until(() => b.cursor === after[4], 'b at the last row');
  await subB.waitFor(15);
  t.same(
    [...new Set(subB.json().map((j) => j['seq']))].sort((x, y) => Number(x) - Number(y)),
    [...waiting, ...after],
    'b sent the rows a had not delivered and the new ones, not the 20 kept for history',
  );
});
