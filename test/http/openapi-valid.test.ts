/**
 * /openapi.json of a whole agent (core routes, the scheduler service, the estimator analyzer) is a
 * valid OpenAPI document: checked with an independent validator (@seriousme/openapi-schema-validator,
 * which validates against the OpenAPI Initiative's published JSON Schemas for 3.0/3.1), not with the
 * code that produced it. Every /api/v1 route the agent serves appears in it.
 */
import { Validator } from '@seriousme/openapi-schema-validator';
import t from 'tap';
import { startInProcess } from '../helpers/in-process.js';
import { casePath } from '../gridstate/fixtures.js';

t.test('the agent publishes a valid OpenAPI document listing its /api/v1 routes', async (t) => {
  const a = await startInProcess(t, {
    drivers: [{ type: 'sim-pmu', id: 'pmu1', rate: 1 }],
    estimator: { network: casePath('case14'), measurements: [{ device: 'pmu1', field: 'v.a.mag', type: 'vm', bus: 1, sigma: 0.01, base: 230.94 }] },
    scheduler: { maxJobs: 5 },
  });
  const res = await fetch(`${a.httpUrl}/openapi.json`);
  t.equal(res.status, 200);
  const doc = (await res.json()) as { openapi: string; paths: Record<string, Record<string, unknown>> };

  const validator = new Validator();
  const verdict = await validator.validate(doc as unknown as Parameters<Validator["validate"]>[0]);
  t.same(verdict.errors ?? [], [], 'no validation errors');
  t.equal(verdict.valid, true, `valid OpenAPI ${doc.openapi}`);

  const paths = Object.keys(doc.paths);
  for (const p of ['/api/v1/status', '/api/v1/devices', '/api/v1/devices/{id}', '/api/v1/counters', '/api/v1/forwarders', '/api/v1/optimizations', '/api/v1/optimizations/{id}', '/api/v1/estimator/state'])
    t.ok(paths.includes(p), `${p} is documented`);
  for (const p of paths) t.notMatch(p, /^\/(openapi\.json|docs)$/, `${p}: the documentation routes themselves are not listed`);
});
