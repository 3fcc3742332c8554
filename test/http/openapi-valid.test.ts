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
import { hashPassword } from '../../agent/broker/passwords.js';

type Operation = { responses: Record<string, { content?: Record<string, { schema?: unknown }> }> };

t.test('the agent publishes a valid OpenAPI document listing its /api/v1 routes', async (t) => {
  const a = await startInProcess(t, {
    drivers: [{ type: 'sim-pmu', id: 'pmu1', rate: 1 }],
    estimator: { network: casePath('case14'), measurements: [{ device: 'pmu1', field: 'v.a.mag', type: 'vm', bus: 1, sigma: 0.01, base: 230.94 }] },
    scheduler: { maxJobs: 5 },
    http: { port: 0, users: [{ username: 'ops', passwordHash: hashPassword('ops-pw'), role: 'operator' }] },
  });
  const res = await fetch(`${a.httpUrl}/openapi.json`);
  t.equal(res.status, 200);
  const doc = (await res.json()) as { openapi: string; paths: Record<string, Record<string, unknown>> };

  const validator = new Validator();
  const verdict = await validator.validate(doc as unknown as Parameters<Validator["validate"]>[0]);
  t.same(verdict.errors ?? [], [], 'no validation errors');
  t.equal(verdict.valid, true, `valid OpenAPI ${doc.openapi}`);

  const paths = Object.keys(doc.paths);
  for (const p of ['/api/v1/status', '/api/v1/devices', '/api/v1/devices/{id}', '/api/v1/counters', '/api/v1/forwarders', '/api/v1/optimizations', '/api/v1/optimizations/{id}', '/api/v1/estimator/state', '/api/v1/broker/sessions', '/api/v1/broker/sessions/{clientId}'])
    t.ok(paths.includes(p), `${p} is documented`);
  for (const p of paths) t.notMatch(p, /^\/(openapi\.json|docs)$/, `${p}: the documentation routes themselves are not listed`);

  const ops = doc.paths as Record<string, Record<string, Operation>>;
  const state = ops['/api/v1/estimator/state']!['get']!.responses;
  t.ok(state['200']?.content?.['application/json']?.schema, 'the estimator state lists its 200 with a schema');
  t.ok(state['503'], 'and its 503 before the first run');
  // With accounts (http.users), the access check's answers are listed on every route it covers.
  for (const [p, methods] of Object.entries(ops)) {
    for (const [method, op] of Object.entries(methods)) {
      if (p === '/api/v1/login') continue;
      const codes = Object.keys(op.responses);
      t.ok(codes.includes('401') && codes.includes('429'), `${method} ${p} lists 401 and 429`);
      if (method !== 'get') t.ok(codes.includes('415'), `${method} ${p} lists 415`);
      else t.notOk(codes.includes('415'), `${method} ${p} does not list 415`);
      // Every account can read (but the broker's sessions: operator); changes need an operator (logout: anyone logged in).
      if ((method !== 'get' && p !== '/api/v1/logout') || p === '/api/v1/broker/sessions') t.ok(codes.includes('403'), `${method} ${p} lists 403`);
      else t.notOk(codes.includes('403'), `${method} ${p} does not list 403`);
      t.ok(codes.some((c) => c.startsWith('2')), `${method} ${p} still lists its success`);
    }
  }
});
