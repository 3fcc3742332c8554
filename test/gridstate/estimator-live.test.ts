/**
 * The live estimator: the `estimator` config section becomes an analyzer; through the real agent
 * process, SCADA values published over MQTT (from MATPOWER's solved case14, test/gridstate/fixtures)
 * give an estimate on bal/processed/estimator/state and GET /api/v1/estimator/state equal to the power
 * flow; invalid and stale fields are skipped and counted; an unobservable set holds the last estimate
 * with its age and the reason.
 */
import { fastify } from 'fastify';
import t from 'tap';
import { estimatorAnalyzer, type EstimatorConfig, type EstimatorState } from '../../agent/analyzers/estimator/index.js';
import { loadConfig } from '../../agent/config/index.js';
import { startEstimatorAgent, scadaMapping, scadaValues } from './estimator-agent.js';
import { casePath, loadCase, reference, referenceMeasurements } from './fixtures.js';

const net = loadCase('case14');
const ref = reference('case14');
const full = referenceMeasurements(net, ref);
const mapping = scadaMapping;
const values = scadaValues;

t.test('the estimator section becomes an analyzers entry; its problems are reported under estimator.*', async (t) => {
  const ok = loadConfig({ document: { estimator: { network: casePath('case14'), measurements: mapping.slice(0, 3) } } });
  t.ok(ok.ok);
  if (ok.ok) {
    const a = ok.config.analyzers;
    t.equal(a.length, 1);
    t.match(a[0], { type: 'estimator', id: 'estimator', intervalS: 5, maxAgeS: 15, alpha: 0.01, rnThreshold: 3 });
  }
  const none = loadConfig({ document: {} });
  t.same(none.ok && none.config.analyzers, [], 'no network: no estimator');
  const bad = loadConfig({
    document: {
      estimator: {
        network: casePath('case14'),
        intervalS: 0,
        measurements: [{ device: 'x', field: 'p.total', type: 'p_flow', branch: 2, sigma: -1 }, { device: 'x', field: 'v..a', type: 'vm', bus: 3, sigma: 0.1, base: 0 }],
      },
    },
  });
  t.notOk(bad.ok);
  if (!bad.ok)
    t.same(bad.errors, [
      'estimator.intervalS: must be a number between 0.1 and 86400, got 0',
      'estimator.measurements[0].sigma: must be a positive number, got -1',
      'estimator.measurements[1].field: has a bad segment "" (letters, digits and "_" between dots), got "v..a"',
      'estimator.measurements[1].base: must be a positive number, got 0',
    ]);
  const refs = loadConfig({ document: { estimator: { network: casePath('case14'), measurements: [{ device: 'x', field: 'a', type: 'vm', bus: 15, sigma: 0.1 }, { device: 'x', field: 'b', type: 'q_flow', branch: 21, sigma: 0.1 }] } } });
  t.same(!refs.ok && refs.errors, ['estimator.measurements[0].bus: no bus 15 in the network', 'estimator.measurements[1].branch: no branch 21 in the network (rows 1 to 20)']);
  const missing = loadConfig({ document: { estimator: { network: '/nonexistent/net.m', measurements: mapping.slice(0, 1) } } });
  t.same(!missing.ok && missing.errors, ['estimator.network: cannot read /nonexistent/net.m: no such file (ENOENT)']);
  const twice = loadConfig({ document: { estimator: { network: casePath('case14'), measurements: mapping.slice(0, 1) }, analyzers: [{ type: 'estimator', id: 'estimator', network: casePath('case14'), measurements: mapping.slice(0, 1) }] } });
  t.same(!twice.ok && twice.errors, ['estimator: an analyzers[] entry already has the id "estimator": configure the estimator in one place']);
});

t.test('GET /api/v1/estimator/state answers 503 problem details before the analyzer started', async (t) => {
  const cfg: EstimatorConfig = { id: 'estimator', network: casePath('case14'), intervalS: 5, maxAgeS: 15, alpha: 0.01, rnThreshold: 3, measurements: mapping };
  const a = estimatorAnalyzer.create(cfg);
  const app = fastify();
  t.teardown(() => app.close());
  await app.register(async (scope) => a.routes!(scope), { prefix: '/api/v1' });
  const r = await app.inject({ method: 'GET', url: '/api/v1/estimator/state' });
  t.equal(r.statusCode, 503);
  t.match(r.headers['content-type'], /^application\/problem\+json/);
  t.match(r.json(), { status: 503, title: 'Service Unavailable', detail: /has not started/ });
});

t.test('live estimation through the running agent', async (t) => {
  const { agent, pub, next } = await startEstimatorAgent(t);

  const first = await next('a run before any data', (s) => s.status === 'none');
  t.equal(first.skipped.length, mapping.length, 'every input skipped: no measurement yet');
  t.equal(first.skipped[0]!.reason, 'no_measurement');

  await pub.publishAsync('bal/raw/scada', JSON.stringify({ device: 'scada', ts: Date.now() * 1000, quality: 'good', ...values }), { qos: 1 });
  const est = await next('an estimate from the SCADA message', (s) => s.status === 'estimated');
  t.equal(est.used, full.length);
  t.same(est.skipped, []);
  t.same(est.bad_data, []);
  t.ok(est.buses!.every((b, i) => Math.abs(b.vm - ref.buses[i]!.vm) < 1e-6 && Math.abs(b.va_deg - ref.buses[i]!.va_deg) < 1e-4), 'the state of MATPOWER\'s power flow');
  const served = (await (await fetch(`${agent.httpUrl}/api/v1/estimator/state`)).json()) as EstimatorState;
  t.equal(served.status, 'estimated');
  t.same(served.buses, est.buses);

  // Bus 8 hangs on branch 7-8: invalidate its vm and injections, the flows of that branch, and the
  // injections at bus 7 (with the other flows at bus 7 they would give the flow on 7-8).
  const line78 = net.branches.findIndex((b) => b.from === 7 && b.to === 8) + 1;
  const cut = full.flatMap((z, k) => (z.bus === 8 || z.branch === line78 || (z.bus === 7 && z.type !== 'vm') ? [k] : []));
  const fq = Object.fromEntries(cut.map((k) => [`m${k}`, 'invalid']));
  await pub.publishAsync('bal/raw/scada', JSON.stringify({ device: 'scada', ts: Date.now() * 1000, quality: 'invalid', field_quality: fq, ...values }), { qos: 1 });
  const held = await next('the last estimate held when bus 8 is unobservable', (s) => s.status === 'held');
  t.match(held.reason, /unobservable: the voltage angles of buses 8 /);
  t.same(held.unobservable_buses, [8]);
  t.ok(held.age_s! > 0, `age ${held.age_s} s`);
  t.same(held.buses, est.buses, 'the last estimate, unchanged');
  t.same(held.skipped.map((s) => [s.index, s.reason]), cut.map((k) => [k, 'invalid']));

  await pub.publishAsync('bal/raw/scada', JSON.stringify({ device: 'scada', ts: Date.now() * 1000 - 120e6, quality: 'good', ...values }), { qos: 1 });
  const stale = await next('every input skipped as stale', (s) => s.skipped.length === mapping.length && s.skipped.every((x) => x.reason === 'stale'));
  t.equal(stale.status, 'held');

  const metrics = await (await fetch(`${agent.httpUrl}/metrics`)).text();
  t.match(metrics, /gridedge_estimator_inputs_skipped(_total)?\{analyzer="estimator",reason="invalid"\} \d+/);
  t.match(metrics, /gridedge_estimator_runs(_total)?\{analyzer="estimator",result="held"\} \d+/);
});
