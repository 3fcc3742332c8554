/**
 * The upstream MQTT forwarder and its runner against Debian's mosquitto (real broker, real
 * sockets) and the real SQLite buffer.
 */
import t from 'tap';
import { mqttForwarder, type MqttForwarderConfig } from '../../agent/forwarders/mqtt/index.js';
import { ForwarderRunner } from '../../agent/forwarders/runner.js';
import type { MessageBuffer } from '../../agent/core/buffer-types.js';
import { Counters } from '../../agent/core/counters.js';
import { startMosquitto, freePort } from '../helpers/mosquitto.js';
import { makeCerts } from '../helpers/certs.js';
import { collect, makeCtx, openTestBuffer, processedPayload, until } from './harness.js';

function config(over: Partial<MqttForwarderConfig>): MqttForwarderConfig {
  return {
    id: 'central',
    type: 'mqtt',
    url: 'mqtt://127.0.0.1:1',
    username: '',
    password: '',
    clientId: '',
    ca: '',
    cert: '',
    key: '',
    rejectUnauthorized: true,
    qos: 1,
    keepalive: 30,
    protocolVersion: 5,
    connectTimeoutMs: 5000,
    topics: ['bal/processed/#'],
    map: [],
    batchSize: 200,
    backlogMaxRate: 0,
    reconnectMinMs: 100,
    reconnectMaxMs: 1000,
    ...over,
  };
}

function startRunner(buffer: MessageBuffer, counters: Counters, cfg: MqttForwarderConfig): ForwarderRunner {
  const runner = new ForwarderRunner({ id: cfg.id, type: 'mqtt', forwarder: mqttForwarder.create(cfg), buffer, config: { ...cfg } });
  runner.start(makeCtx(cfg.id, counters).ctx);
  return runner;
}

async function append(buffer: MessageBuffer, topic: string, from: number, n: number): Promise<number[]> {
  const rows = [];
  for (let k = from; k < from + n; k++) rows.push({ topic, payload: processedPayload('pmu1', k) });
  return buffer.append(rows);
}

t.test('forwards with the topic map, adds gw and seq, skips rows not routed', async (t) => {
  const m = await startMosquitto();
  t.teardown(() => m.stop());
  const tb = openTestBuffer();
  t.teardown(() => tb.close());
  const sub = await collect(m.url, 'legacy/#');
  t.teardown(() => sub.close());
  const cfg = config({
    url: m.url,
    map: [
      { from: 'bal/processed/+/stats/#', to: 'legacy/stats/+/#' },
      { from: 'bal/processed/#', to: 'legacy/#' },
    ],
  });
  const runner = startRunner(tb.buffer, tb.counters, cfg);
  t.teardown(() => runner.stop());

  const seqs = await tb.buffer.append([
    { topic: 'bal/processed/pmu1', payload: processedPayload('pmu1', 1) },
    { topic: 'bal/raw/pmu1', payload: '{"device":"pmu1"}' },
    { topic: 'bal/processed/pmu1/stats/10s', payload: '{"device":"pmu1","window":"10s"}' },
    { topic: 'bal/processed/pmu2', payload: '{}' },
    { topic: 'other/x', payload: '{"x":1}' },
  ]);
  await sub.waitFor(3);
  await until(() => runner.cursor === seqs[4], 'the cursor to pass the last (unrouted) row');
  const byTopic = new Map(sub.messages.map((r) => [r.topic, JSON.parse(r.text) as Record<string, unknown>]));
  t.same([...byTopic.keys()].sort(), ['legacy/pmu1', 'legacy/pmu2', 'legacy/stats/pmu1/10s']);
  const p1 = byTopic.get('legacy/pmu1')!;
  t.equal(p1['gw'], 'gw-1', 'gw is the gateway id');
  t.equal(p1['seq'], seqs[0], 'seq is the buffer sequence number');
  t.same(
    (p1['seq_components'] as { v: { pos: { mag: number } } }).v.pos.mag,
    230,
    'the stored sequence components travel as seq_components',
  );
  t.same(byTopic.get('legacy/pmu2'), { gw: 'gw-1', seq: seqs[3] }, 'an empty object gets gw and seq');
  t.equal(byTopic.get('legacy/stats/pmu1/10s')!['window'], '10s');
  t.equal(tb.counters.get('forward_sent', { forwarder: 'central' }), 3);
  t.equal(tb.buffer.cursor('central'), seqs[4], 'the buffer cursor is past every row');
  const st = runner.status();
  t.equal(st.connected, true);
  t.ok(st.lastSuccess! > 0);
  t.equal(st.lag, 0);
});

t.test('without a map, `topics` selects rows and keeps their topic', async (t) => {
  const m = await startMosquitto();
  t.teardown(() => m.stop());
  const tb = openTestBuffer();
  t.teardown(() => tb.close());
  const sub = await collect(m.url, '#');
  t.teardown(() => sub.close());
  const runner = startRunner(tb.buffer, tb.counters, config({ url: m.url, topics: ['bal/processed/+'] }));
  t.teardown(() => runner.stop());
  await append(tb.buffer, 'bal/processed/pmu1', 0, 5);
  await append(tb.buffer, 'bal/processed/pmu1/stats/1m', 0, 2);
  await append(tb.buffer, 'bal/processed/pmu2', 0, 5);
  await sub.waitFor(10);
  await until(() => runner.cursor === tb.buffer.lastSeq(), 'cursor at the end');
  t.same([...new Set(sub.messages.map((r) => r.topic))].sort(), ['bal/processed/pmu1', 'bal/processed/pmu2']);
  const seqs = sub.json().map((j) => j['seq'] as number);
  t.same(seqs, [...seqs].sort((a, b) => a - b), 'delivered in seq order');
});
