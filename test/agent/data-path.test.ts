/**
 * End to end through the real agent process: an mqtt.js client publishes raw measurements, another
 * receives the processed messages and statistics windows; bad payloads are counted, not fatal.
 */
import t from 'tap';
import mqtt from 'mqtt';
import { getJson, startAgent } from '../helpers/agent-process.js';
import { withTimeout } from '../helpers/wait.js';

interface Processed {
  device: string;
  ts: number;
  quality: string;
  p: Record<string, number>;
  q: Record<string, number>;
  s: Record<string, number>;
  pf: Record<string, number>;
  v_total: number;
  i_total: number;
  seq: { v_unbalance_pct: number };
  vendor?: unknown;
}

/** The next message on `topic` that `pred` accepts; rejects after 30 s naming the topic. */
function nextMessage(client: mqtt.MqttClient, topic: string, pred: (x: Record<string, unknown>) => boolean = () => true): Promise<Record<string, unknown>> {
  const next = new Promise<Record<string, unknown>>((resolve) => {
    const onMsg = (tp: string, payload: Buffer) => {
      if (tp !== topic) return;
      const x = JSON.parse(payload.toString()) as Record<string, unknown>;
      if (!pred(x)) return;
      client.off('message', onMsg);
      resolve(x);
    };
    client.on('message', onMsg);
  });
  return withTimeout(next, `a message on ${topic}`);
}

t.test('raw → processed → stats through the agent', async (t) => {
  const agent = await startAgent({ config: { stats: { enabled: true, windows: ['1s'], graceMs: 3000 } } });
  t.teardown(() => agent.stop('SIGKILL'));
  const sub = await mqtt.connectAsync(agent.mqttUrl, { clientId: 'sub' });
  const pub = await mqtt.connectAsync(agent.mqttUrl, { clientId: 'pub' });
  t.teardown(() => {
    sub.end(true);
    pub.end(true);
  });
  await sub.subscribeAsync(['bal/processed/#', 'bal/raw/#']);

  // Balanced 230 V / 10 A, current lagging 30°: P per phase = 230·10·cos 30° = 1991.858 W,
  // Q = 230·10·sin 30° = 1150 var (S = V·I*, IEC 60050-131-11-41 complex power).
  const ts = Date.now() * 1000;
  const m = {
    device: 'pmu9',
    ts,
    quality: 'good',
    freq: 50.0,
    vendor: { fw: 'x' },
    v: { a: { mag: 230, ang: 0 }, b: { mag: 230, ang: -120 }, c: { mag: 230, ang: 120 } },
    i: { a: { mag: 10, ang: -30 }, b: { mag: 10, ang: -150 }, c: { mag: 10, ang: 90 } },
  };
  const processed = nextMessage(sub, 'bal/processed/pmu9');
  await pub.publishAsync('bal/raw/pmu9', JSON.stringify(m), { qos: 1 });
  const out = (await processed) as unknown as Processed;
  t.equal(out.device, 'pmu9');
  t.equal(out.ts, ts);
  t.equal(out.quality, 'good');
  t.same(out.vendor, { fw: 'x' }, 'unknown fields kept');
  t.ok(Math.abs(out.p.a! - 1991.858) < 1e-3, `p.a ${out.p.a}`);
  t.ok(Math.abs(out.q.a! - 1150) < 1e-9, `q.a ${out.q.a}`);
  t.ok(Math.abs(out.p.total! - 3 * 1991.858) < 3e-3, `p.total ${out.p.total}`);
  t.ok(Math.abs(out.s.total! - 6900) < 1e-6, `s.total ${out.s.total}`);
  t.ok(Math.abs(out.pf.total! - Math.cos(Math.PI / 6)) < 1e-12);
  t.equal(out.v_total, 690);
  t.equal(out.i_total, 30);
  t.ok(out.seq.v_unbalance_pct < 1e-9, 'balanced: no unbalance');

  // Stats: three samples in the current 1 s window; with a 3 s grace they all count even on a slow
  // machine, and the window is published once its end + grace has passed.
  const w0 = Math.floor(Date.now() / 1000) * 1_000_000;
  const statsMsg = nextMessage(sub, 'bal/processed/pmu8/stats/1s');
  for (const [k, pa] of [[1, 100], [2, 200], [3, 600]] as const) {
    const s = { device: 'pmu8', ts: w0 + k, p: { a: pa }, q: { a: 0 } };
    await pub.publishAsync('bal/raw/pmu8', JSON.stringify(s), { qos: 1 });
  }
  const st = (await statsMsg) as { device: string; window: string; start: number; end: number; count: number; fields: Record<string, Record<string, number>> };
  t.equal(st.device, 'pmu8');
  t.equal(st.window, '1s');
  t.equal(st.start, w0);
  t.equal(st.end, w0 + 1_000_000);
  t.equal(st.count, 3);
  const pt = st.fields['p.total'];
  t.ok(pt, 'p.total aggregated');
  if (pt) {
    t.equal(pt.mean, 300);
    t.equal(pt.min, 100);
    t.equal(pt.max, 600);
    t.equal(pt.first, 100);
    t.equal(pt.last, 600);
    // Sample standard deviation of 100, 200, 600: sqrt(((−200)² + (−100)² + 300²)/2) = sqrt(70000).
    t.ok(Math.abs(pt.stdev! - Math.sqrt(70000)) < 1e-9);
  }

  const status = await getJson<{ counters: Record<string, unknown>; devices: { device: string }[] }>(agent.httpUrl + '/api/v1/status');
  t.ok(status.devices.some((d) => d.device === 'pmu9'), 'device listed in status');
  t.ok(Number(status.counters.processed) >= 4, 'processed counted');
});

t.test('bad payloads are rejected, counted by reason, and the agent keeps processing', async (t) => {
  const agent = await startAgent({ config: { mqtt: { maxPayloadBytes: 1024 } } });
  t.teardown(() => agent.stop('SIGKILL'));
  const sub = await mqtt.connectAsync(agent.mqttUrl, { clientId: 'sub2' });
  const pub = await mqtt.connectAsync(agent.mqttUrl, { clientId: 'badclient' });
  t.teardown(() => {
    sub.end(true);
    pub.end(true);
  });
  await sub.subscribeAsync('bal/processed/#');
  const bad: [string, string][] = [
    ['bad_json', '{"device":'],
    ['bad_type', JSON.stringify({ ts: 1, v: { a: { mag: 'NaN' } } })],
    ['non_finite', '{"freq": 1e999}'],
    ['unknown_phase', JSON.stringify({ v: { x: { mag: 1 } } })],
    ['missing_field', JSON.stringify({ ts: 1 })],
    ['oversize', JSON.stringify({ freq: 50, pad: 'x'.repeat(2000) })],
    ['not_object', '42'],
  ];
  for (const [, payload] of bad) await pub.publishAsync('bal/raw/dev1', payload, { qos: 1 });
  const ok = nextMessage(sub, 'bal/processed/dev1');
  await pub.publishAsync('bal/raw/dev1', JSON.stringify({ ts: Date.now() * 1000, freq: 50 }), { qos: 1 });
  const out = await ok;
  t.equal(out.freq, 50, 'a good message after the bad ones is processed');

  // Far-future timestamp: kept, flagged.
  const flagged = nextMessage(sub, 'bal/processed/dev2');
  await pub.publishAsync('bal/raw/dev2', JSON.stringify({ ts: Date.now() * 1000 + 86400e6, freq: 50 }), { qos: 1 });
  const f = await flagged;
  t.equal(f.quality, 'questionable');
  t.same(f.reasons, ['ts_future']);

  const status = await getJson<{ counters: { rejected: Record<string, number> } }>(agent.httpUrl + '/api/v1/status');
  for (const [reason] of bad) t.equal(status.counters.rejected[`reason=${reason}`], 1, `rejected ${reason} counted`);
  const warn = agent.logs.find((l) => l.msg === 'payload rejected' && l.reason === 'bad_json');
  t.ok(warn, 'rejection logged');
  t.equal(warn?.client, 'badclient', 'log names the client');
  t.equal(warn?.topic, 'bal/raw/dev1', 'log names the topic');
  const metrics = await (await fetch(agent.httpUrl + '/metrics')).text();
  t.match(metrics, /gridedge_rejected_total\{reason="bad_json"\} 1/);
});
