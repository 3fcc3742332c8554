/**
 * The estimator's inputs as a careless config or device gives them:
 *  - an analyzers[] estimator entry with one malformed measurement and others naming buses and
 *    branches the network lacks: every problem is named at once (the network check was skipped
 *    while any entry was malformed), and devices named as no device can be ("feeder/1": skipped as
 *    no_measurement forever);
 *  - through the real agent, a device whose clock runs an hour ahead: its values are skipped as
 *    `future` (counted), not used (they were never stale, so they stayed in the estimate for that
 *    hour after the device fell silent); in time, they are used again;
 *  - a value of 1e100 per unit is skipped as `implausible` and the rest estimated (the estimate
 *    failed as "unobservable" at every bus).
 */
import t from 'tap';
import { loadConfig } from '../../agent/config/index.js';
import { prepareMeasurements } from '../../algorithms/grid/measurements.js';
import { buildModel } from '../../algorithms/grid/model.js';
import { startEstimatorAgent, scadaMapping, scadaValues } from './estimator-agent.js';
import { casePath, loadCase } from './fixtures.js';

const net = loadCase('case14');
const mapping = scadaMapping;
const values = scadaValues;

t.test('config check names unknown buses and branches even beside a malformed entry, and device names no device can have', async (t) => {
  const r = loadConfig({
    document: {
      analyzers: [
        {
          type: 'estimator',
          id: 'se1',
          network: casePath('case14'),
          measurements: [
            { device: 'x', field: 'a', type: 'vm', bus: 99, sigma: 0.01 },
            { device: '', field: 'b', type: 'vm', bus: 3, sigma: 0 },
            { device: 'x', field: 'c', type: 'p_flow', branch: 999, sigma: 0.01 },
            { device: 'x', field: 'd', type: 'vm', bus: 3, sigma: 0.01 },
            { device: 'feeder/1', field: 'e', type: 'vm', bus: 4, sigma: 0.01 },
            { device: 'meter+', field: 'f', type: 'vm', bus: 4, sigma: 0.01 },
          ],
        },
      ],
    },
  });
  t.notOk(r.ok);
  if (!r.ok)
    t.same([...r.errors].sort(), [
      'analyzers[0].measurements[0].bus: no bus 99 in the network',
      'analyzers[0].measurements[1].device: must name a device, got ""',
      'analyzers[0].measurements[1].sigma: must be a positive number, got 0',
      'analyzers[0].measurements[2].branch: no branch 999 in the network (rows 1 to 20)',
      'analyzers[0].measurements[4].device: device name contains "/" (a device is one topic level), got "feeder/1"',
      'analyzers[0].measurements[5].device: device name contains the MQTT wildcard "+", got "meter+"',
    ]);
});

t.test('a measurement file value beyond ±1e6 per unit is named (the estimate said every bus was unobservable)', async (t) => {
  t.throws(
    () => prepareMeasurements(buildModel(net), [{ type: 'vm', bus: 1, value: 1, sigma: 0.01 }, { type: 'p_inj', bus: 2, value: -1e100, sigma: 0.01 }], 100),
    { message: 'measurements[1].value: must be within ±1000000 (per unit; degrees for va), got -1e+100' },
  );
});

t.test('values timestamped ahead of the agent by more than maxAgeS are skipped as future', async (t) => {
  const { agent, pub, next } = await startEstimatorAgent(t, { stats: { enabled: false } });

  await pub.publishAsync('bal/raw/scada', JSON.stringify({ device: 'scada', ts: (Date.now() + 3_600_000) * 1000, quality: 'good', ...values }), { qos: 1 });
  const ahead = await next('a run on the future-dated message', (s) => s.skipped.length > 0 && s.skipped.every((x) => x.reason === 'future'));
  t.equal(ahead.skipped.length, mapping.length, 'every input skipped');
  t.equal(ahead.status, 'none', 'nothing estimated from them');
  const metrics = await (await fetch(`${agent.httpUrl}/metrics`)).text();
  t.match(metrics, /gridedge_estimator_inputs_skipped(_total)?\{analyzer="estimator",reason="future"\} [1-9]/, 'counted');

  await pub.publishAsync('bal/raw/scada', JSON.stringify({ device: 'scada', ts: Date.now() * 1000, quality: 'good', ...values }), { qos: 1 });
  const est = await next('an estimate from a message in time', (s) => s.status === 'estimated');
  t.equal(est.used, mapping.length);

  // One vm reads 1e100 (a float decoded in the wrong byte order): skipped, the rest estimated.
  const vm = mapping.findIndex((m) => m.type === 'vm');
  await pub.publishAsync('bal/raw/scada', JSON.stringify({ device: 'scada', ts: Date.now() * 1000, quality: 'good', ...values, [`m${vm}`]: 1e100 }), { qos: 1 });
  const odd = await next('a run with the implausible value', (s) => s.skipped.length > 0);
  t.same(odd.skipped, [{ index: vm, device: 'scada', field: `m${vm}`, reason: 'implausible' }], 'that input skipped as implausible');
  t.equal(odd.status, 'estimated', 'the others estimated (it was "unobservable" at every bus)');
  t.equal(odd.used, mapping.length - 1);
});
