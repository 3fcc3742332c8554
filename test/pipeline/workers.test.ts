/**
 * `pipeline.workers`: raw publishes parsed, validated and processed in ingest worker threads.
 * Against an in-process agent with two workers, a real mosquitto upstream (the mqtt forwarder) and
 * mqtt.js clients:
 * - each device's measurements reach bal/processed in the order they were published, and the
 *   upstream broker with their buffer seq in that order (what receivers order by: the forwarder
 *   sends fresh rows before an older backlog); every acknowledged publish arrives;
 * - a worker terminated mid-stream loses nothing acknowledged: the clients whose publishes it held
 *   are disconnected without PUBACK, send again, and everything arrives; the exit is counted and a
 *   new worker takes its place;
 * - the same bad payloads are refused with the same reasons as on the main thread.
 */
import mqtt, { type MqttClient } from 'mqtt';
import t, { type Test as Tap } from 'tap';
import type { IngestPool } from '../../agent/pipeline/ingest-pool.js';
import { ingestWorkerCount } from '../../agent/pipeline/ingest-pool.js';
import { startMosquitto, type Mosquitto } from '../helpers/mosquitto.js';
import { startInProcess, type InProcessAgent } from '../helpers/in-process.js';
import { waitFor } from '../helpers/wait.js';

const DEVICES = ['d0', 'd1', 'd2', 'd3', 'd4', 'd5', 'd6', 'd7'];

function pool(a: InProcessAgent): IngestPool {
  const p = (a.agent as unknown as { pool: IngestPool | null }).pool;
  if (!p) throw new Error('the agent runs no ingest workers');
  return p;
}

function phasorMessage(n: number): string {
  return JSON.stringify({ ts: Date.now() * 1000, n, v: { a: { mag: 230 + (n % 7), ang: 0 } }, i: { a: { mag: 10, ang: -30 } } });
}

/**
 * Per device, the `n` of every message received on a topic pattern: in arrival order, or (`bySeq`,
 * for forwarded messages) in the order of their buffer `seq`, as a receiver orders them: the
 * forwarder sends fresh rows before an older backlog, so arrival order upstream is not seq order.
 */
interface Collector {
  client: MqttClient;
  /** The `n` of a device's messages, in arrival order or (`bySeq`) in buffer seq order. */
  sequence(device: string): number[] | undefined;
  devices(): string[];
}

async function collector(url: string, filter: string, bySeq = false): Promise<Collector> {
  const client = await mqtt.connectAsync(url, { reconnectPeriod: 0 });
  const rows = new Map<string, { n: number; seq: number }[]>();
  client.on('message', (topic, payload) => {
    const device = topic.split('/').at(-1)!;
    const m = JSON.parse(payload.toString()) as { n: number; seq: unknown };
    (rows.get(device) ?? rows.set(device, []).get(device)!).push({ n: m.n, seq: typeof m.seq === 'number' ? m.seq : 0 });
  });
  const sequence = (d: string): number[] | undefined => {
    const r = rows.get(d);
    return r && (bySeq ? [...r].sort((x, y) => x.seq - y.seq) : r).map((x) => x.n);
  };
  await client.subscribeAsync(filter, { qos: 1 });
  return { client, sequence, devices: () => [...rows.keys()] };
}

/** An agent with two ingest workers forwarding bal/processed/+ to a mosquitto as legacy/+. */
async function agentWithUpstream(t: Tap): Promise<{ up: Mosquitto; a: InProcessAgent }> {
  const up = await startMosquitto();
  t.teardown(() => up.stop());
  const a = await startInProcess(t, {
    pipeline: { workers: 2 },
    stats: { enabled: false },
    forwarders: [{ type: 'mqtt', id: 'central', url: up.url, map: [{ from: 'bal/processed/+', to: 'legacy/+' }] }],
  });
  return { up, a };
}

t.test('auto starts no worker (measured: one raises latency and CPU and pays only on a saturated main thread); a number starts that many', async (t) => {
  t.equal(ingestWorkerCount('auto'), 0, 'auto');
  t.equal(ingestWorkerCount(3), 3, 'a number is taken as it is');
  t.equal(ingestWorkerCount('2'), 2, 'a decimal string (from the environment) too');
});

t.test('order per device and at-least-once, through two workers, to bal/processed and upstream', async (t) => {
  const { up, a } = await agentWithUpstream(t);
  t.equal(pool(a).size, 2, 'two ingest workers');
  const local = await collector(a.mqttUrl, 'bal/processed/+');
  t.teardown(() => local.client.end(true));
  const upstream = await collector(up.url, 'legacy/+', true);
  t.teardown(() => upstream.client.end(true));

  const pub = await a.client('pub-order');
  const PER = 250;
  const acks: Promise<unknown>[] = [];
  for (let n = 0; n < PER; n++) for (const d of DEVICES) acks.push(pub.publishAsync(`bal/raw/${d}`, phasorMessage(n), { qos: 1 }));
  await Promise.all(acks);

  const want = Array.from({ length: PER }, (_, n) => n);
  for (const [where, c] of [['bal/processed', local], ['upstream', upstream]] as const) {
    await waitFor(`every measurement on ${where}`, () => DEVICES.every((d) => (c.sequence(d)?.length ?? 0) >= PER), {
      timeoutMs: 60_000,
      detail: () => DEVICES.map((d) => `${d}: ${c.sequence(d)?.length ?? 0}`).join(', '),
    });
    for (const d of DEVICES) {
      const got = c.sequence(d)!;
      const firstOff = got.findIndex((n, k) => n !== k);
      t.same(got, want, `${where}: ${d} in publishing order${where === 'upstream' ? ' (by seq)' : ''}, each once${firstOff >= 0 ? ` (first difference at ${firstOff}: ${got.slice(firstOff, firstOff + 5).join(',')}; length ${got.length})` : ''}`);
    }
  }
});

t.test('a worker that dies loses nothing acknowledged', async (t) => {
  const { up, a } = await agentWithUpstream(t);
  const upstream = await collector(up.url, 'legacy/+');
  t.teardown(() => upstream.client.end(true));
  // A persistent session and automatic reconnects: what was not acknowledged is sent again.
  const pub = await mqtt.connectAsync(a.mqttUrl, { clientId: 'pub-crash', clean: false, reconnectPeriod: 50 });
  t.teardown(() => pub.end(true));

  const TOTAL = 3000;
  const acked = new Set<string>();
  let sent = 0;
  let killed = false;
  const firstWorker = pool(a).workers()[0]!;
  await new Promise<void>((resolve, reject) => {
    const more = (): void => {
      while (sent < TOTAL && sent - acked.size < 200) {
        const n = sent++;
        const d = DEVICES[n % DEVICES.length]!;
        pub.publish(`bal/raw/${d}`, phasorMessage(n), { qos: 1 }, (err) => {
          if (err) return reject(err);
          acked.add(`${d}:${n}`);
          if (!killed && acked.size >= TOTAL / 3) {
            killed = true;
            void firstWorker.terminate();
          }
          if (acked.size === TOTAL) resolve();
          else more();
        });
      }
    };
    more();
  });
  t.ok(killed, 'a worker was terminated while publishes were in flight');
  await waitFor('the exit counted', () => a.agent.counters.total('pipeline_worker_exits') >= 1, { timeoutMs: 20_000 });
  t.not(pool(a).workers()[0], firstWorker, 'a new worker took its place');

  const arrived = (): Set<string> => {
    const s = new Set<string>();
    for (const d of upstream.devices()) for (const n of upstream.sequence(d)!) s.add(`${d}:${n}`);
    return s;
  };
  await waitFor('every acknowledged publish upstream', () => [...acked].every((k) => arrived().has(k)), {
    timeoutMs: 60_000,
    detail: () => `${[...acked].filter((k) => !arrived().has(k)).length} of ${acked.size} missing`,
  });
  t.equal(acked.size, TOTAL, 'every publish was acknowledged in the end');
  t.pass('every acknowledged publish reached the upstream broker');
});

t.test('bad payloads are refused in the workers with the main thread\'s reasons', async (t) => {
  const a = await startInProcess(t, { pipeline: { workers: 1 }, stats: { enabled: false } });
  const pub = await a.client('pub-bad');
  for (const [payload, reason] of [
    ['{bad', 'bad_json'],
    ['[1,2]', 'not_object'],
    ['{"freq":"fifty"}', 'bad_type'],
    ['{"v":{"a":{"mag":1}},"v":{}}', 'duplicate_key'],
  ] as const) {
    await pub.publishAsync('bal/raw/w1', payload, { qos: 1 });
    await waitFor(`${reason} counted`, () => (a.agent.counters.get('rejected', { reason }) ?? 0) >= 1, { timeoutMs: 10_000 });
  }
  await pub.publishAsync(`bal/raw/${'x'.repeat(200)}`, phasorMessage(0), { qos: 1 });
  await waitFor('bad_topic counted (a device name over 128 bytes)', () => (a.agent.counters.get('rejected', { reason: 'bad_topic' }) ?? 0) >= 1, { timeoutMs: 10_000 });
  await pub.publishAsync('bal/raw/w1', phasorMessage(1), { qos: 1 });
  t.equal(a.agent.counters.get('processed'), 1, 'a good one after them is processed');
  t.pass('each refused with its reason');
});

t.test('workers that cannot start: after three tries the pipeline processes on the main thread', async (t) => {
  const { extendRegistry, plugin, registry } = await import('../../agent/registry.js');
  const { mainThreadOnlyProcessor } = await import('./fixtures/main-thread-only-processor.js');
  const reg = extendRegistry(registry, { processors: [plugin(mainThreadOnlyProcessor)] });
  const a = await startInProcess(t, { pipeline: { workers: 1 }, stats: { enabled: false }, processors: [{ type: 'power', id: 'power' }, { type: 'main-thread-only', id: 'mark' }] }, reg);
  await waitFor('the pool to give up', () => !pool(a).usable(), { timeoutMs: 30_000 });
  t.ok(a.agent.counters.total('pipeline_worker_exits') >= 3, 'each failed start counted');
  const sub = await a.client('sub-fallback');
  await sub.subscribeAsync('bal/processed/fb');
  const got = new Promise<Record<string, unknown>>((resolve) => sub.once('message', (_t, p) => resolve(JSON.parse(p.toString()) as Record<string, unknown>)));
  const pub = await a.client('pub-fallback');
  await pub.publishAsync('bal/raw/fb', phasorMessage(1), { qos: 1 });
  const m = await got;
  t.equal(m['marked'], 1, 'processed by both processors, on the main thread');
  t.ok(m['p'], 'power computed');
});

t.test('with workers the stats windows and the latest values are those of the main thread, to the last digit', async (t) => {
  // Timestamps 60 s ahead (within pipeline.futureToleranceS, so not flagged): no window closes
  // while the test runs, and every window is read at once from the aggregator (flushAll).
  const t0 = (Math.floor(Date.now() / 1000) + 60) * 1e6;
  const message = (n: number): string =>
    JSON.stringify({
      ts: t0 + n * 20_000,
      n,
      freq: 50 + (n % 13) / 1000,
      v: { a: { mag: 230 + (n % 7) / 3, ang: 0.1 }, b: { mag: 229.8, ang: -119.9 + n / 100 }, c: { mag: 230.4, ang: 120.2 } },
      i: { a: { mag: 101.2 + n / 7, ang: -18.1 }, b: { mag: 98.7, ang: -138.2 }, c: { mag: 102.3, ang: 101.9 - n / 50 } },
    });
  const agents = await Promise.all([2, 0].map((workers) => startInProcess(t, { pipeline: { workers }, stats: { enabled: true } })));
  const [withWorkers, onMain] = agents as [InProcessAgent, InProcessAgent];
  t.equal(pool(withWorkers).size, 2, 'two ingest workers on one agent, none on the other');
  await Promise.all(
    agents.map(async (a, k) => {
      const pub = await a.client(`pub-same-${k}`);
      const acks: Promise<unknown>[] = [];
      for (let n = 0; n < 150; n++) for (const d of DEVICES.slice(0, 4)) acks.push(pub.publishAsync(`bal/raw/${d}`, message(n), { qos: 1 }));
      await Promise.all(acks);
    }),
  );
  // Sorted: devices reach the aggregator interleaved differently through two workers.
  const windows = (a: InProcessAgent): string => {
    const aggs = (a.agent as unknown as { aggregators: { a: { flushAll(): { topic: string; message: { start: number } }[] } }[] }).aggregators;
    const all = aggs.flatMap((x) => x.a.flushAll()).sort((x, y) => x.topic.localeCompare(y.topic) || x.message.start - y.message.start);
    return JSON.stringify(all);
  };
  const fromMain = windows(onMain);
  t.ok(fromMain.includes('"p.total"') && fromMain.includes('"rms"'), 'windows with power and RMS fields were made');
  t.equal(windows(withWorkers), fromMain, 'the same windows');
  for (const d of DEVICES.slice(0, 4)) {
    const [w, m] = await Promise.all(agents.map((a) => fetch(`${a.httpUrl}/api/v1/devices/${d}`).then((r) => r.json() as Promise<{ latest: Record<string, unknown> }>)));
    t.same(w!.latest, m!.latest, `${d}: the same latest measurement on the status API`);
    t.equal(w!.latest['n'], 149, `${d}: it is the last one published, processed (p.total ${JSON.stringify((w!.latest['p'] as Record<string, unknown> | undefined)?.['total'])})`);
  }
});
