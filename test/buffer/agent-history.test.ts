/**
 * History through the real agent: measurements published over MQTT, forwarded to a real mosquitto
 * (the forwarder's cursor passes them), are still read back by GET /api/v1/devices/{id}/history,
 * exactly (min/max/mean/count of a value we chose), also after a restart (the device is then known
 * from the history alone). The forwarded messages are the processed texts, unchanged by the encoding.
 */
import t from 'tap';
import mqtt from 'mqtt';
import { getJson, startAgent, tempDir } from '../helpers/agent-process.js';
import { startMosquitto } from '../helpers/mosquitto.js';
import { waitFor } from '../helpers/wait.js';
import { collect } from '../forwarders/harness.js';

const N = 300;

function raw(k: number): string {
  return JSON.stringify({
    device: 'pmu7',
    ts: Date.now() * 1000,
    quality: 'good',
    soc: k + 0.25,
    v: { a: { mag: 230 + k / 1000, ang: 0 }, b: { mag: 230, ang: -120 }, c: { mag: 230, ang: 120 } },
    i: { a: { mag: 10, ang: -30 }, b: { mag: 10, ang: -150 }, c: { mag: 10, ang: 90 } },
  });
}

interface Series {
  t: number[];
  min: number[];
  max: number[];
  mean: number[];
  n: number[];
}

t.test('forwarded rows stay readable as history, across a restart', async (t) => {
  const m = await startMosquitto();
  t.teardown(() => m.stop());
  const sub = await collect(m.url, 'legacy/#');
  t.teardown(() => sub.close());
  const dir = tempDir('gridedge-history-');
  const config = {
    stats: { enabled: false },
    storage: { historyHours: 1 },
    forwarders: [{ type: 'mqtt', id: 'central', url: m.url, map: [{ from: 'bal/processed/#', to: 'legacy/#' }], reconnectMinMs: 100, reconnectMaxMs: 500 }],
  };
  let agent = await startAgent({ dir, config });
  t.teardown(() => agent.stop('SIGKILL'));
  const from = Date.now() - 1000;
  const pub = await mqtt.connectAsync(agent.mqttUrl, { clientId: 'history-pub', reconnectPeriod: 0 });
  pub.on('error', () => {});
  for (let k = 0; k < N; k++) await pub.publishAsync('bal/raw/pmu7', raw(k), { qos: 1 });
  pub.end(true);
  await waitFor(`${N} messages upstream`, () => sub.messages.filter((r) => r.topic === 'legacy/pmu7').length >= N, { timeoutMs: 30_000 });
  type Status = { forwarders: { id: string; lag: number }[]; buffer: { rows: number } };
  await waitFor('the forwarder to have every row (lag 0)', async () => {
    const s = await getJson<Status>(agent.httpUrl + '/api/v1/status');
    return s.forwarders.find((f) => f.id === 'central')?.lag === 0;
  });
  const s = await getJson<Status>(agent.httpUrl + '/api/v1/status');
  t.ok(s.buffer.rows >= N, `the delivered rows are still in the buffer (${s.buffer.rows})`);
  const upstream = sub.messages.filter((r) => r.topic === 'legacy/pmu7').map((r) => JSON.parse(r.text) as { soc: number; gw: string; seq: number; p: { total: number } });
  t.same(upstream.map((u) => u.soc), Array.from({ length: N }, (_, k) => k + 0.25), 'every message went upstream, in order, with its values');
  t.ok(upstream.every((u) => u.gw === 'gw-test' && typeof u.p.total === 'number'), 'as processed messages with gw and seq');

  const url = (to: number) => `${agent.httpUrl}/api/v1/devices/pmu7/history?field=soc&from=${from}&to=${to}&points=1`;
  const want = { min: [0.25], max: [N - 1 + 0.25], mean: [(N - 1) / 2 + 0.25], n: [N] };
  const before = await getJson<Series>(url(Date.now()));
  t.same({ min: before.min, max: before.max, mean: before.mean, n: before.n }, want, 'every forwarded row is in the history');

  t.equal((await agent.stop('SIGTERM')).code, 0);
  agent = await startAgent({ dir, config: { ...config, forwarders: [] } });
  const after = await getJson<Series>(url(Date.now()));
  t.same({ min: after.min, max: after.max, mean: after.mean, n: after.n }, want, 'after a restart, before any new measurement of the device');
});
