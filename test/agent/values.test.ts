/**
 * Values beyond the electrical ones and quality per field, end to end through the real agent process
 * with mqtt.js clients: a value-only message is processed and feeds statistics; field_quality
 * propagates to derived fields (p.a, q.a, s.a, pf.a from v.a and i.a; totals from the phases they sum;
 * seq from all three) and lowers the message quality; poison payloads are rejected, counted by reason,
 * and never hold up the good messages behind them; the device limit holds.
 */
import t from 'tap';
import mqtt from 'mqtt';
import { getJson, startAgent } from '../helpers/agent-process.js';
import { waitFor } from '../helpers/wait.js';

type Json = Record<string, unknown>;
interface Status {
  devices: { device: string; latest: Json }[];
  counters: Record<string, number | Record<string, number>>;
}

function inbox(client: mqtt.MqttClient) {
  const got: { topic: string; x: Json }[] = [];
  client.on('message', (topic, payload) => got.push({ topic, x: JSON.parse(payload.toString()) as Json }));
  return {
    next: (what: string, pred: (topic: string, x: Json) => boolean) =>
      waitFor(what, () => got.find((g) => pred(g.topic, g.x))?.x, { timeoutMs: 15_000 }),
  };
}

const phasors = (va = 230) => ({
  v: { a: { mag: va, ang: 0 }, b: { mag: 230, ang: -120 }, c: { mag: 230, ang: 120 } },
  i: { a: { mag: 10, ang: -30 }, b: { mag: 10, ang: -150 }, c: { mag: 10, ang: 90 } },
});

t.test('values and per-field quality through a running agent', async (t) => {
  const agent = await startAgent({
    config: { stats: { windows: ['1s'], graceMs: 200, fields: ['soc', 'p.a', 'p.b', 'v.a.mag', 'breaker.q1'] }, pipeline: { maxDevices: 4 } },
  });
  t.teardown(() => agent.stop('SIGKILL'));
  const sub = await mqtt.connectAsync(agent.mqttUrl, { clientId: 'values-sub' });
  const pub = await mqtt.connectAsync(agent.mqttUrl, { clientId: 'values-pub' });
  t.teardown(() => {
    sub.end(true);
    pub.end(true);
  });
  await sub.subscribeAsync(['bal/processed/#', 'bal/raw/#']);
  const box = inbox(sub);

  // A battery RTU: values only.
  const ts = Date.now() * 1000;
  await pub.publishAsync('bal/raw/rtu9', JSON.stringify({ ts, soc: 53.2, breaker: { q1: true }, tap: 5, mode: 'auto' }), { qos: 1 });
  const rtu = await box.next('the value-only message processed', (tp) => tp === 'bal/processed/rtu9');
  t.equal(rtu['soc'], 53.2);
  t.same(rtu['breaker'], { q1: true });
  t.equal(rtu['mode'], 'auto');
  t.equal(rtu['quality'], 'good');
  t.equal(rtu['p'], undefined, 'no power invented from values');
  const rtuStats = await box.next('a stats window for the value-only device', (tp) => tp === 'bal/processed/rtu9/stats/1s');
  const f = rtuStats['fields'] as Record<string, { mean: number; count: number }>;
  t.equal(f['soc']?.mean, 53.2, 'soc aggregated');
  t.equal(f['breaker.q1']?.mean, 1, 'a closed breaker counts as 1');

  // A PMU whose phase-a voltage channel is invalid.
  // (A fresh timestamp: the window of `ts` has been published by now, a sample for it would be late.)
  await pub.publishAsync('bal/raw/pmu3', JSON.stringify({ ts: Date.now() * 1000, ...phasors(231), field_quality: { 'v.a': 'invalid' } }), { qos: 1 });
  const pmu = await box.next('the PMU message processed', (tp) => tp === 'bal/processed/pmu3');
  t.equal(pmu['quality'], 'invalid', 'message quality lowered to the worst field');
  const fq = pmu['field_quality'] as Record<string, string>;
  for (const k of ['v.a', 'p.a', 'q.a', 's.a', 'pf.a', 'p.total', 'q.total', 's.total', 'pf.total', 'seq']) t.equal(fq[k], 'invalid', `${k} invalid`);
  for (const k of ['p.b', 'q.b', 'p.c', 'i.a']) t.equal(fq[k], undefined, `${k} stays good`);
  // P per phase b = 230 V · 10 A · cos 30° = 1991.858 W (S = V·I*).
  t.ok(Math.abs(((pmu['p'] as Json)['b'] as number) - 1991.858) < 0.01, 'phase b computed');
  const pmuStats = await box.next('a stats window for the PMU', (tp) => tp === 'bal/processed/pmu3/stats/1s');
  const pf = pmuStats['fields'] as Record<string, { count: number }>;
  t.equal(pf['p.b']?.count, 1, 'the good fields of an invalid message are aggregated');
  t.equal(pf['v.a.mag'], undefined, 'the invalid field is left out');
  t.equal(pf['p.a'], undefined, 'and so is what was derived from it');

  const st = await getJson<Status>(agent.httpUrl + '/api/v1/status');
  t.ok((st.counters['stats_excluded_fields'] as number) >= 2, 'left-out field samples counted');
});

t.test('poison payloads: rejected by reason, nothing smuggled, good messages behind them acknowledged', async (t) => {
  const agent = await startAgent({ config: { stats: { windows: ['1s'], graceMs: 200, fields: ['v.a.mag', 'p.total'] }, pipeline: { maxDevices: 3 } } });
  t.teardown(() => agent.stop('SIGKILL'));
  const pub = await mqtt.connectAsync(agent.mqttUrl, { clientId: 'poison-pub' });
  t.teardown(() => pub.end(true));
  const ts = Date.now() * 1000;

  // Prototype smuggling (the adversarial run's payload), a 5000-deep array, a duplicate key.
  const smuggle = `{"ts":${ts},"freq":50,"__proto__":{"v":{"a":{"mag":-777,"ang":0}},"p":{"total":-1e300}}}`;
  const bomb = `{"ts":${ts},"freq":50,"x":${'['.repeat(5000)}${']'.repeat(5000)}}`;
  const dup = `{"ts":${ts},"freq":50,"freq":51}`;
  for (const [k, body] of [smuggle, bomb, dup].entries()) await pub.publishAsync('bal/raw/p' + k, body, { qos: 1 });
  // Each one was acknowledged (consumed): the good message behind them is too.
  await pub.publishAsync('bal/raw/good1', JSON.stringify({ ts, freq: 50.01 }), { qos: 1 });

  const st = await waitFor(
    'the three rejections counted',
    async () => {
      const s = await getJson<Status>(agent.httpUrl + '/api/v1/status');
      const r = (s.counters['rejected'] ?? {}) as Record<string, number>;
      return r['reason=forbidden_key'] && r['reason=too_deep'] && r['reason=duplicate_key'] ? s : undefined;
    },
    { timeoutMs: 10_000 },
  );
  t.same(st.devices.map((d) => d.device), ['good1'], 'only the good device is known');
  t.notOk(JSON.stringify(st).includes('-777'), 'nothing smuggled into the status');

  // The device limit: 3 devices, a 4th is refused, known ones go on.
  await pub.publishAsync('bal/raw/good2', JSON.stringify({ ts, freq: 50 }), { qos: 1 });
  await pub.publishAsync('bal/raw/good3', JSON.stringify({ ts, freq: 50 }), { qos: 1 });
  await pub.publishAsync('bal/raw/good4', JSON.stringify({ ts, freq: 50 }), { qos: 1 });
  await pub.publishAsync('bal/raw/good1', JSON.stringify({ ts: ts + 1, freq: 49.9 }), { qos: 1 });
  const st2 = await waitFor(
    'the device limit hit and counted',
    async () => {
      const s = await getJson<Status>(agent.httpUrl + '/api/v1/status');
      const r = (s.counters['rejected'] ?? {}) as Record<string, number>;
      const g1 = s.devices.find((d) => d.device === 'good1');
      return r['reason=too_many_devices'] === 1 && g1?.latest['freq'] === 49.9 ? s : undefined;
    },
    { timeoutMs: 10_000 },
  );
  t.same(st2.devices.map((d) => d.device), ['good1', 'good2', 'good3']);

  // A topic that is not one level, and a device name too long.
  await pub.publishAsync('bal/raw/good1/stats/10s', JSON.stringify({ ts, freq: 50 }), { qos: 1 });
  await pub.publishAsync('bal/raw/' + 'd'.repeat(300), JSON.stringify({ ts, freq: 50 }), { qos: 1 });
  await waitFor(
    'both bad topics counted',
    async () => {
      const s = await getJson<Status>(agent.httpUrl + '/api/v1/status');
      return ((s.counters['rejected'] ?? {}) as Record<string, number>)['reason=bad_topic'] === 2 ? true : undefined;
    },
    { timeoutMs: 10_000 },
  );
  t.pass('a multi-level and an over-long device topic are refused as bad_topic');
});

t.test('the processed message keeps every field of the raw one (the raw copy is stored only when forwarded)', async (t) => {
  const agent = await startAgent({ config: { stats: { enabled: false } } });
  t.teardown(() => agent.stop('SIGKILL'));
  const sub = await mqtt.connectAsync(agent.mqttUrl, { clientId: 'keep-sub' });
  const pub = await mqtt.connectAsync(agent.mqttUrl, { clientId: 'keep-pub' });
  t.teardown(() => {
    sub.end(true);
    pub.end(true);
  });
  await sub.subscribeAsync('bal/processed/keep1');
  const box = inbox(sub);
  const raw: Json = {
    ts: Date.now() * 1000,
    quality: 'questionable',
    reasons: ['stale'],
    freq: 49.98,
    rocof: -0.01,
    ...phasors(229),
    p: { a: 1500 },
    soc: 61.5,
    breaker: { q1: false, q2: true },
    tap: [1, 2, 3],
    mode: 'remote',
    vendor: { fw: '2.1', nested: { deep: 1 } },
    field_quality: { 'i.c': 'questionable' },
  };
  await pub.publishAsync('bal/raw/keep1', JSON.stringify(raw), { qos: 1 });
  const out = await box.next('the processed message', (tp) => tp === 'bal/processed/keep1');
  for (const [k, v] of Object.entries(raw)) {
    if (k === 'field_quality') for (const [f, q] of Object.entries(v as Json)) t.equal((out['field_quality'] as Json)[f], q, `field_quality.${f} kept`);
    else if (k === 'p') t.equal((out['p'] as Json)['a'], 1500, 'measured p.a kept as measured');
    else t.same(out[k], v, `${k} kept`);
  }
});
