/**
 * The extension model end to end, in-process: a test-only analyzer (test/plugins/fake-analyzer) is
 * added with one line (extendRegistry), configured under `analyzers`, validated by the loader with
 * its own schema, run by the agent on each new measurement, and its results go through the data
 * path: published on the embedded broker and stored in the buffer.
 */
import t from 'tap';
import { loadConfig } from '../../agent/config/index.js';
import { extendRegistry, plugin, registry } from '../../agent/registry.js';
import { fakeSumAnalyzer } from '../plugins/fake-analyzer/index.js';
import { fakeEchoService } from '../plugins/fake-echo/index.js';
import { tempDir } from '../helpers/agent-process.js';
import { startInProcess } from '../helpers/in-process.js';
import { waitFor } from '../helpers/wait.js';

const withFake = extendRegistry(registry, { analyzers: [plugin(fakeSumAnalyzer)] });

function config(dir: string, analyzers: unknown[]) {
  const r = loadConfig(
    {
      document: {
        gateway: { id: 'gw-an' },
        mqtt: { port: 0 },
        http: { port: 0 },
        storage: { dir },
        stats: { enabled: false },
        analyzers,
      },
    },
    { registry: withFake },
  );
  return r;
}

t.test('the loader checks an analyzer entry with its own schema and rules', async (t) => {
  const bad = config(tempDir(), [{ type: 'fake-sum', id: 'sum', devices: [], intervalMs: -1 }, { type: 'nope', id: 'x' }]);
  t.notOk(bad.ok);
  if (bad.ok) return;
  t.match(bad.errors.join('\n'), /analyzers\[0\]\.intervalMs: must be an integer between 0 and 3600000, got -1/);
  t.match(bad.errors.join('\n'), /analyzers\[1\]\.type: must be one of the known analyzer types \(estimator, fake-sum\), got "nope"/);
  const noFake = loadConfig({ document: { analyzers: [{ type: 'fake-sum', id: 'sum', devices: ['m1'] }] } });
  t.notOk(noFake.ok, 'without the registry line the type is unknown');
});

t.test('a fake analyzer runs on new measurements and publishes through the data path', async (t) => {
  const { agent, client: connect } = await startInProcess(
    t,
    { gateway: { id: 'gw-an' }, stats: { enabled: false }, analyzers: [{ type: 'fake-sum', id: 'sum', devices: ['m1', 'm2'] }] },
    withFake,
  );
  const client = await connect('an-test');
  await client.subscribeAsync('bal/processed/analyzers/#', { qos: 0 });
  const results: { devices: string[]; p_total: number }[] = [];
  client.on('message', (topic, payload) => {
    if (topic === 'bal/processed/analyzers/sum') results.push(JSON.parse(payload.toString()) as (typeof results)[number]);
  });

  const ts = Date.now() * 1000;
  await client.publishAsync('bal/raw/m1', JSON.stringify({ ts, p: { total: 1000 } }), { qos: 1 });
  await client.publishAsync('bal/raw/m2', JSON.stringify({ ts, p: { total: 250.5 } }), { qos: 1 });
  await client.publishAsync('bal/raw/other', JSON.stringify({ ts, p: { total: 7 } }), { qos: 1 });
  const last = await waitFor('an analyzer result over m1 and m2', () => results.find((x) => x.devices.length === 2), { timeoutMs: 10_000 });
  t.same(last.devices, ['m1', 'm2'], 'reads only the devices it asked for');
  t.equal(last.p_total, 1250.5, '1000 + 250.5 W');

  const st = agent.status();
  t.same(
    st.plugins.analyzers.map((p) => [p.type, p.id, p.state]),
    [['fake-sum', 'sum', 'running']],
    'its health is in the status, under its kind',
  );
  t.ok((st.counters['analyzer_runs'] as Record<string, number>)['analyzer=sum']! >= 1, 'runs counted');
  const rows = await waitFor(
    'the analyzer result stored in the buffer',
    () => {
      const b = agent.status().buffer;
      return b && b.rows >= 4 ? b : undefined; // 3 processed + at least 1 analyzer result (no forwarder: raw rows are not stored)
    },
    { timeoutMs: 10_000 },
  );
  t.ok(rows.rows >= 4, 'stored with the processed rows');
});

t.test('a fake service: its routes under /api/v1, its health by kind, publishing through the data path', async (t) => {
  const withEcho = extendRegistry(registry, { services: [plugin(fakeEchoService)] });
  const { agent, httpUrl, client: connect } = await startInProcess(
    t,
    { gateway: { id: 'gw-svc' }, stats: { enabled: false }, services: [{ type: 'fake-echo', id: 'e1', greeting: 'hello' }] },
    withEcho,
  );
  const base = `${httpUrl}/api/v1`;
  const echo = await waitFor(
    'the service started and answering',
    async () => {
      const res = await fetch(`${base}/echo/world`);
      return res.status === 200 ? ((await res.json()) as { id: string; word: string }) : undefined;
    },
    { timeoutMs: 10_000 },
  );
  t.same(echo, { id: 'e1', word: 'hello world', started: 1 });
  const client = await connect('svc-test');
  await client.subscribeAsync('bal/processed/echo/#');
  const got = new Promise<string>((resolve) => client.once('message', (_tp, p) => resolve(p.toString())));
  const post = await fetch(`${base}/echo`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ value: 7 }) });
  t.equal(post.status, 202);
  t.same(JSON.parse(await got), { value: 7 }, 'published through the data path');
  const st = agent.status();
  t.same(st.plugins.services.map((p) => [p.type, p.id, p.state]), [['fake-echo', 'e1', 'running']]);
  t.equal(st.counters['echo_starts'] && (st.counters['echo_starts'] as Record<string, number>)['service=e1'], 1, 'its own counter');
});
