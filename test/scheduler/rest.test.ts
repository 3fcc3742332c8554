/**
 * The scheduler's REST API beyond submit/read, over real HTTP to an in-process agent (real SQLite):
 *  - a large optimisation (a seeded random job of 96 steps and 8 batteries with losses, physical model:
 *    HiGHS needs many seconds for it) occupies the queue; DELETE cancels it while it runs (its worker
 *    is terminated, the job is failed with a "cancelled" reason, counted) and the queued job runs next;
 *  - battery sub-resources on the queued job: list, upsert one, replace all, delete one, set the SoC;
 *    bad input answered 400 naming the field, unknown job or battery 404, a running or finished job 409;
 *  - pymfm's own paths (/balancing/...) answer in pymfm's JobComplete shape for pymfm 0.5.5's own
 *    examples (test/scheduler/fixtures, sources in fixtures/SOURCE.md): the rule-based result equals
 *    pymfm's committed output except at the edited 00:15 step; pymfm's battery_specs routes work;
 *  - /openapi.json declares every one of these routes with its request and response schemas.
 */
import t from 'tap';
import { startInProcess } from '../helpers/in-process.js';
import { waitFor } from '../helpers/wait.js';
import { loadFixture, type PymfmRow } from './fixtures.js';
import { randomJob, toServiceInput } from './random-jobs.js';
import { hashPassword } from '../../agent/broker/passwords.js';

interface Job {
  id: string;
  status: string;
  error?: string;
  details?: string;
}
interface JobComplete {
  id: string;
  input: { battery_specs: { id: string; initial_SoC: number }[] };
  status: string;
  details: string | null;
  created: string;
  finished: string | null;
  result: null | {
    id: string;
    version: string;
    peak_imp: number | null;
    peak_exp: number | null;
    schedule: { time: string; SoC_bat: Record<string, number>; P_bat_kW: Record<string, number>; P_net_before_kW: number; P_net_after_kW: number }[];
  };
}
/**
 * A job branch and bound needs many seconds for (seeded random job, 96 steps, 8 batteries with losses:
 * its LP relaxation's optimum lies below the MILP's, so the LP-first path does not settle it), in
 * pymfm's service dialect.
 */
function largeJob(): Record<string, unknown> {
  return { ...toServiceInput(randomJob(5, 96, 10)), id: 'large' };
}

t.test('cancel a running job, battery sub-resources, pymfm paths, OpenAPI', async (t) => {
  const a = await startInProcess(t, { stats: { enabled: false }, scheduler: { timeLimitS: 120 } });
  const call = async (method: string, path: string, body?: unknown) => {
    const r = await fetch(`${a.httpUrl}${path}`, { method, ...(body !== undefined ? { headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) } : {}) });
    const text = await r.text();
    return { status: r.status, type: r.headers.get('content-type') ?? '', body: text ? (JSON.parse(text) as never) : (undefined as never) };
  };
  const status = (id: string, want: (s: string) => boolean, what: string) =>
    waitFor(what, async () => {
      const r = await call('GET', `/api/v1/optimizations/${encodeURIComponent(id)}`);
      return r.status === 200 && want((r.body as Job).status) ? (r.body as Job) : undefined;
    }, { timeoutMs: 60_000, intervalMs: 50 });

  // 1. The large job runs; the rule-based example queues behind it.
  const large = await call('POST', '/api/v1/optimizations?model=physical', largeJob());
  t.equal(large.status, 202);
  const largeId = (large.body as { id: string }).id;
  await status(largeId, (s) => s === 'running', 'the large job to run');
  const queued = await call('POST', '/api/v1/optimizations', loadFixture('scheduling_rule_based.json'));
  t.equal(queued.status, 202);
  const qid = (queued.body as { id: string }).id;
  t.equal(((await call('GET', `/api/v1/optimizations/${qid}`)).body as Job).status, 'created', 'queued behind the running job');

  // 2. Battery sub-resources on the queued job (0.5.x dialect: SoC in percent).
  const bats = `/api/v1/optimizations/${qid}/batteries`;
  const list = await call('GET', bats);
  t.equal(list.status, 200);
  t.same((list.body as { id: string }[]).map((b) => b.id), ['bat_1']);
  const bat2 = { bat_type: 'cbes', initial_SoC: 50, P_dis_max_kW: 40, P_ch_max_kW: 40, min_SoC: 10, max_SoC: 90, bat_capacity_kWh: 100 };
  const up = await call('PUT', `${bats}/bat_2`, bat2);
  t.equal(up.status, 200, 'upsert a new battery');
  t.same(up.body, { id: 'bat_2', ...bat2 });
  t.same(((await call('GET', bats)).body as { id: string }[]).map((b) => b.id), ['bat_1', 'bat_2']);
  const badUp = await call('PUT', `${bats}/bat_2`, { ...bat2, min_SoC: 95 });
  t.equal(badUp.status, 400);
  t.match(badUp.type, /^application\/problem\+json/);
  t.match((badUp.body as { detail: string }).detail, /battery_specs\[1\]\.min_SoC: must not exceed max_SoC/, 'the field is named');
  const badId = await call('PUT', `${bats}/bat_2`, { ...bat2, id: 'other' });
  t.equal(badId.status, 400);
  t.match((badId.body as { detail: string }).detail, /body\.id: must match the battery id of the path/);
  const badBody = await call('PUT', `${bats}/bat_2`, [1, 2]);
  t.equal(badBody.status, 400, 'an array is not a battery');
  const soc = await call('PUT', `${bats}/bat_2/soc`, { soc: 70 });
  t.equal(soc.status, 200);
  t.equal((soc.body as { initial_SoC: number }).initial_SoC, 70, 'SoC set (percent in this dialect)');
  const socBad = await call('PUT', `${bats}/bat_2/soc`, { soc: 150 });
  t.equal(socBad.status, 400);
  t.match((socBad.body as { detail: string }).detail, /^soc: must be a number, percent 0\.\.100/);
  const socOut = await call('PUT', `${bats}/bat_2/soc`, { soc: 5 });
  t.equal(socOut.status, 400, 'below min_SoC');
  t.match((socOut.body as { detail: string }).detail, /battery_specs\[1\]\.initial_SoC: must lie between min_SoC/);
  t.equal((await call('PUT', `${bats}/nope/soc`, { soc: 50 })).status, 404, 'unknown battery');
  t.equal((await call('DELETE', `${bats}/nope`)).status, 404, 'unknown battery');
  t.equal((await call('GET', '/api/v1/optimizations/nope/batteries')).status, 404, 'unknown job');
  t.equal((await call('PUT', '/api/v1/optimizations/nope/batteries/b', bat2)).status, 404, 'unknown job');
  const empty = await call('PUT', bats, []);
  t.equal(empty.status, 400);
  t.match((empty.body as { detail: string }).detail, /battery_specs: at least one battery is required/);
  const replaced = await call('PUT', bats, [{ id: 'bat_1', bat_type: 'cbes', initial_SoC: 8.75, P_dis_max_kW: 300, P_ch_max_kW: 300, min_SoC: 8.75, max_SoC: 87.5, bat_capacity_kWh: 800 }, { id: 'bat_9', ...bat2 }]);
  t.equal(replaced.status, 200);
  t.same((replaced.body as { id: string }[]).map((b) => b.id), ['bat_1', 'bat_9'], 'replaced');
  t.equal((await call('DELETE', `${bats}/bat_9`)).status, 204);
  t.same(((await call('GET', bats)).body as { id: string }[]).map((b) => b.id), ['bat_1'], 'deleted');
  const busy = await call('PUT', `/api/v1/optimizations/${largeId}/batteries/bat_1/soc`, { soc: 50 });
  t.equal(busy.status, 409, 'a running scheduling job keeps its batteries');

  // 3. Cancel the running job: failed with the reason; the queued job runs next and succeeds.
  const cancel = await call('DELETE', `/api/v1/optimizations/${largeId}`);
  t.equal(cancel.status, 202);
  t.equal((cancel.body as Job).status, 'failed');
  t.match((cancel.body as Job).error, /^cancelled: deleted while running/);
  const next = await status(qid, (s) => s === 'success' || s === 'failed', 'the queued job to finish after the cancel');
  t.equal(next.status, 'success', next.error ?? '');
  const kept = (await call('GET', `/api/v1/optimizations/${largeId}`)).body as Job;
  t.equal(kept.status, 'failed', 'the cancelled job stays, failed');
  const counters = (await call('GET', '/api/v1/counters')).body as { counters: Record<string, Record<string, number>> };
  t.equal(counters.counters['scheduler_jobs']?.['result=cancelled'], 1, 'the cancel is counted');
  t.equal((await call('PUT', `${bats}/bat_1/soc`, { soc: 50 })).status, 409, 'a finished job keeps its batteries');
  t.equal((await call('DELETE', `/api/v1/optimizations/${largeId}`)).status, 204, 'a second DELETE deletes it');

  // 4. pymfm's paths with pymfm's own examples.
  const example = loadFixture('scheduling_rule_based.json');
  const created = await call('POST', '/balancing/', example);
  t.equal(created.status, 200);
  const jc = created.body as JobComplete;
  t.equal(jc.id, 'scheduling_rule_based', "the job's own id");
  t.same(jc.input, example, 'the input as sent');
  t.equal(jc.status, 'created');
  t.equal(jc.result, null);
  t.equal(jc.finished, null);
  t.match(jc.created, /^\d{4}-\d\d-\d\dT/);
  t.ok(((await call('GET', '/balancing/')).body as string[]).includes('scheduling_rule_based'), 'GET /balancing/ lists the id');
  t.equal((await call('GET', '/balancing')).status, 200, 'also without the trailing slash');
  const done = await waitFor('the pymfm job to finish', async () => {
    const r = (await call('GET', '/balancing/scheduling_rule_based')).body as JobComplete;
    return r.status === 'success' || r.status === 'failed' ? r : undefined;
  }, { timeoutMs: 60_000, intervalMs: 50 });
  t.equal(done.status, 'success', done.details ?? '');
  t.match(done.finished, /^\d{4}-/);
  const res = done.result!;
  t.equal(res.id, 'scheduling_rule_based');
  t.type(res.version, 'string');
  const ref = (loadFixture('scheduling_rule_based_output.json') as { results: PymfmRow[] }).results;
  t.equal(res.schedule.length, ref.length);
  const close = (x: number, y: number): boolean => Math.abs(x - y) <= 1e-9 * Math.max(1, Math.abs(y));
  const differing = res.schedule
    .filter((s, i) => {
      const o = ref[i]!;
      return !(s.time === o.timestamp && close(s.P_net_before_kW, o.P_net_before_kW) && close(s.P_net_after_kW, o.P_net_after_kW) && close(s.P_bat_kW['bat_1']!, o.P_bat_1_kW) && close(s.SoC_bat['bat_1']! * 100, o['SoC_bat_1_%']));
    })
    .map((s) => s.time);
  t.same(differing, ['2021-04-01T00:15:00.000000Z'], "pymfm's committed output, except the edited 00:15 step");
  t.equal((await call('GET', '/api/v1/optimizations/scheduling_rule_based')).status, 200, 'the same job on /api/v1');

  // pymfm 0.5's one-shot near-real-time example is refused, naming what to send instead.
  const nrt05 = await call('POST', '/balancing/', loadFixture('near_real_time_rule_based.json'));
  t.equal(nrt05.status, 400);
  t.match((nrt05.body as { detail: string }).detail, /^measurements_request: the one-shot near-real-time request of pymfm 0\.5 .* is not supported/);

  // The optimisation example on pymfm's path (the pymfm model variant): JobComplete with peaks.
  const opt = await call('POST', '/balancing/', loadFixture('scheduling_optimization_based.json'));
  t.equal(opt.status, 200);
  const optDone = await waitFor('the pymfm optimisation to finish', async () => {
    const r = (await call('GET', '/balancing/scheduling_optimization_based')).body as JobComplete;
    return r.status === 'success' || r.status === 'failed' ? r : undefined;
  }, { timeoutMs: 90_000, intervalMs: 100 });
  t.equal(optDone.status, 'success', optDone.details ?? '');
  t.type(optDone.result!.peak_imp, 'number');
  t.type(optDone.result!.peak_exp, 'number');
  t.equal(optDone.result!.schedule.length, 96);
  t.same(Object.keys(optDone.result!.schedule[0]!.SoC_bat).sort(), ['bat_1', 'bat_2', 'bat_3']);
  t.ok(Math.abs(optDone.result!.schedule[0]!.SoC_bat['bat_1']! - 0.6) < 1e-9, 'SoC as a fraction (60 % initial)');

  // pymfm's battery_specs routes on a queued job (behind a second large job).
  const large2 = await call('POST', '/api/v1/optimizations?model=physical', largeJob());
  const l2 = (large2.body as { id: string }).id;
  await status(l2, (s) => s === 'running', 'the second large job to run');
  const p = await call('POST', '/balancing/', { ...example, id: 'pm-edit' });
  t.equal(p.status, 200);
  const again = await call('POST', '/balancing/', { ...example, id: 'pm-edit' });
  t.equal(again.status, 409, 'a queued job of that id');
  const put = await call('PUT', '/balancing/pm-edit/battery_specs', { id: 'bat_2', ...bat2 });
  t.equal(put.status, 200);
  t.same((put.body as JobComplete).input.battery_specs.map((b) => b.id), ['bat_1', 'bat_2'], 'upserted, JobComplete answered');
  const socQ = await call('PUT', '/balancing/pm-edit/battery_specs/soc?battery_id=bat_2&soc=60');
  t.equal(socQ.status, 200);
  t.equal((socQ.body as JobComplete).input.battery_specs[1]!.initial_SoC, 60);
  t.equal((await call('PUT', '/balancing/pm-edit/battery_specs/soc?battery_id=bat_2')).status, 400, 'soc missing');
  const repl = await call('POST', '/balancing/pm-edit/battery_specs', [{ id: 'bat_3', ...bat2 }]);
  t.equal(repl.status, 200);
  t.same((repl.body as JobComplete).input.battery_specs.map((b) => b.id), ['bat_3'], 'replaced');
  t.equal((await call('DELETE', '/balancing/pm-edit/battery_specs?battery_id=bat_x')).status, 404);
  t.equal((await call('DELETE', '/balancing/nope')).status, 404);
  const pdel = await call('DELETE', '/balancing/pm-edit');
  t.equal(pdel.status, 200, 'a queued job is deleted and answered');
  t.equal((pdel.body as JobComplete).id, 'pm-edit');
  const cancel2 = await call('DELETE', `/balancing/${l2}`);
  t.equal(cancel2.status, 200);
  t.equal((cancel2.body as JobComplete).status, 'failed', 'pymfm DELETE cancels a running job');

  // 5. OpenAPI: every route declared, with request and response schemas.
  const doc = (await call('GET', '/openapi.json')).body as { paths: Record<string, Record<string, { requestBody?: unknown; responses?: Record<string, unknown>; parameters?: unknown[] }>> };
  const want: [string, string, boolean][] = [
    ['/api/v1/optimizations/{id}/batteries', 'get', false],
    ['/api/v1/optimizations/{id}/batteries', 'put', true],
    ['/api/v1/optimizations/{id}/batteries/{bid}', 'put', true],
    ['/api/v1/optimizations/{id}/batteries/{bid}', 'delete', false],
    ['/api/v1/optimizations/{id}/batteries/{bid}/soc', 'put', true],
    ['/api/v1/optimizations/{id}', 'delete', false],
    ['/balancing/', 'post', true],
    ['/balancing/', 'get', false],
    ['/balancing/{id}', 'get', false],
    ['/balancing/{id}', 'delete', false],
    ['/balancing/{job_id}/battery_specs', 'post', true],
    ['/balancing/{job_id}/battery_specs', 'put', true],
    ['/balancing/{job_id}/battery_specs', 'delete', false],
    ['/balancing/{job_id}/battery_specs/soc', 'put', false],
  ];
  for (const [path, method, body] of want) {
    const op = doc.paths[path]?.[method];
    t.ok(op, `${method.toUpperCase()} ${path} in /openapi.json`);
    if (!op) continue;
    t.ok(Object.keys(op.responses ?? {}).some((c) => c.startsWith('2')), `${method.toUpperCase()} ${path}: a success response schema`);
    if (body) t.ok(op.requestBody, `${method.toUpperCase()} ${path}: a request body schema`);
  }
  t.notOk(doc.paths['/balancing'], 'the path without the slash is not listed twice');
});

t.test("pymfm's root paths follow the API's access rule (http.users): 401 without a session, roles as on /api/v1", async (t) => {
  const users = [
    { username: 'view', passwordHash: hashPassword('view-pw'), role: 'viewer' },
    { username: 'ops', passwordHash: hashPassword('ops-pw'), role: 'operator' },
  ];
  const a = await startInProcess(t, { stats: { enabled: false }, http: { port: 0, users } });
  const token = async (username: string, password: string) => {
    const r = await fetch(`${a.httpUrl}/api/v1/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username, password }) });
    return ((await r.json()) as { token: string }).token;
  };
  const post = (tok?: string) =>
    fetch(`${a.httpUrl}/balancing/`, { method: 'POST', headers: { 'content-type': 'application/json', ...(tok ? { authorization: `Bearer ${tok}` } : {}) }, body: JSON.stringify(loadFixture('scheduling_rule_based.json')) });
  const anon = await fetch(`${a.httpUrl}/balancing/`);
  t.equal(anon.status, 401, 'GET /balancing/ needs a login');
  t.match(anon.headers.get('content-type'), /^application\/problem\+json/);
  t.equal((await post()).status, 401, 'POST /balancing/ needs a login');
  const viewer = await token('view', 'view-pw');
  t.equal((await fetch(`${a.httpUrl}/balancing/`, { headers: { authorization: `Bearer ${viewer}` } })).status, 200, 'a viewer reads');
  t.equal((await post(viewer)).status, 403, 'a viewer does not submit');
  t.equal((await post(await token('ops', 'ops-pw'))).status, 200, 'an operator submits');
  // A pymfm client's own way: HTTP Basic with every request (an account of http.users, no admin/admin).
  const basic = (u: string, p: string) => ({ authorization: `Basic ${Buffer.from(`${u}:${p}`).toString('base64')}` });
  const listed = await fetch(`${a.httpUrl}/balancing/`, { headers: basic('view', 'view-pw') });
  t.equal(listed.status, 200, 'GET /balancing/ with HTTP Basic');
  t.ok(((await listed.json()) as string[]).includes('scheduling_rule_based'), 'and it lists the job');
  t.equal((await fetch(`${a.httpUrl}/balancing/`, { headers: basic('admin', 'admin') })).status, 401, "pymfm's default admin/admin does not exist here");
  const submitted = await fetch(`${a.httpUrl}/balancing/`, { method: 'POST', headers: { 'content-type': 'application/json', ...basic('ops', 'ops-pw') }, body: JSON.stringify({ ...loadFixture('scheduling_rule_based.json'), id: 'basic_job' }) });
  t.equal(submitted.status, 200, 'an operator submits with HTTP Basic');

  // pymfm's bodyless changes (DELETE, PUT with the query only) with HTTP Basic or the cookie: no body, so no
  // content type to demand (a cross-site form cannot send a DELETE or PUT); with a body the CSRF rule holds.
  const ops = basic('ops', 'ops-pw');
  const specs = await fetch(`${a.httpUrl}/balancing/basic_job/battery_specs?battery_id=bat_1`, { method: 'DELETE', headers: ops });
  t.not(specs.status, 415, `DELETE battery_specs with Basic and no body passes the access check (${specs.status})`);
  // The job's own answer: 409 once it ran; while it waits, deleting its only battery leaves an input
  // the scheduler refuses (400 naming battery_specs). Which of the two depends on the job's timing.
  const specsBody = (await specs.json()) as { detail?: string };
  t.ok(
    specs.status === 409 || (specs.status === 400 && /battery_specs: at least one battery is required/.test(specsBody.detail ?? '')),
    `and gets the job's answer (409 once it ran, or 400 for a job left without a battery): ${specs.status} ${specsBody.detail}`,
  );
  const soc = await fetch(`${a.httpUrl}/balancing/basic_job/battery_specs/soc?battery_id=bat_1&soc=50`, { method: 'PUT', headers: ops });
  t.ok([200, 404, 409].includes(soc.status), `PUT battery_specs/soc with Basic and no body gets the job's answer (${soc.status})`);
  const withText = await fetch(`${a.httpUrl}/balancing/basic_job`, { method: 'DELETE', headers: { ...ops, 'content-type': 'text/plain' }, body: 'x' });
  t.equal(withText.status, 415, 'a body that is not JSON is still refused with Basic (CSRF)');
  const gone = await fetch(`${a.httpUrl}/balancing/basic_job`, { method: 'DELETE', headers: ops });
  t.equal(gone.status, 200, 'DELETE /balancing/{id} with Basic and no body');
  t.equal(((await gone.json()) as JobComplete).id, 'basic_job');
  const cookie = ((await fetch(`${a.httpUrl}/api/v1/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username: 'ops', password: 'ops-pw' }) })).headers.get('set-cookie') ?? '').split(';')[0]!;
  const byCookie = await fetch(`${a.httpUrl}/balancing/scheduling_rule_based`, { method: 'DELETE', headers: { cookie } });
  t.equal(byCookie.status, 200, 'DELETE /balancing/{id} with the cookie and no body');

  // Job ids of up to 128 characters (what submit accepts) reach the routes: a 404 problem, not Fastify's 414.
  const longId = 'j'.repeat(120);
  for (const path of [`/balancing/${longId}`, `/api/v1/optimizations/${longId}`]) {
    const r = await fetch(`${a.httpUrl}${path}`, { headers: ops });
    t.equal(r.status, 404, `GET ${path.slice(0, 20)}... (a 120-character id): 404`);
    t.match(r.headers.get('content-type'), /^application\/problem\+json/);
  }
  const long = await fetch(`${a.httpUrl}/balancing/`, { method: 'POST', headers: { 'content-type': 'application/json', ...ops }, body: JSON.stringify({ ...loadFixture('scheduling_rule_based.json'), id: 'k'.repeat(128) }) });
  t.equal(long.status, 200, 'a job with a 128-character id is accepted');
  const back = await fetch(`${a.httpUrl}/balancing/${'k'.repeat(128)}`, { headers: ops });
  t.equal(back.status, 200, 'and read back');

  // A problem's instance on pymfm's paths is the path with the id percent-encoded, as on /api/v1.
  const odd = encodeURIComponent('a/b?c#d');
  for (const [method, path, instance] of [
    ['GET', `/balancing/${odd}`, `/balancing/${odd}`],
    ['DELETE', `/balancing/${odd}`, `/balancing/${odd}`],
    ['DELETE', `/balancing/${odd}/battery_specs?battery_id=x`, `/balancing/${odd}/battery_specs`],
    ['PUT', `/balancing/${odd}/battery_specs/soc?battery_id=x&soc=0.5`, `/balancing/${odd}/battery_specs/soc`],
    ['GET', `/api/v1/optimizations/${odd}`, `/api/v1/optimizations/${odd}`],
  ] as const) {
    const r = await fetch(`${a.httpUrl}${path}`, { method, headers: ops });
    t.equal(r.status, 404, `${method} ${path}: 404`);
    t.equal(((await r.json()) as { instance: string }).instance, instance, 'its instance encodes the id');
  }
});
