/**
 * The scheduler's REST API as a hostile or careless client drives it, against the real agent process:
 *  - a job nested thousands of levels deep (in an unknown field) is a 400 naming where, not a 500
 *    (it overflowed the stack when the job was stored); so is a capacity below 1 Wh (the solver's
 *    numerics broke: "infeasible" or an obscure HiGHS status);
 *  - an optimisation of more steps × batteries than scheduler.maxBatterySteps is refused up front with
 *    413 naming the sizes and the key (such a MILP took gigabytes and minutes), counted as too_large;
 *    the same job rule-based is taken; a rule-based job past maxRuleBasedBatterySteps is refused too
 *    (its result of millions of battery-steps took gigabytes in the agent);
 *  - DELETE of a running job, then at once DELETE again (deleted: 204, then 404) or a new job of the
 *    same id on pymfm's paths (it runs: the cancelled worker's end no longer marks it failed);
 *  - a near-real-time loop holds, saying why, on a live net power beyond ±1e9 kW (rule-based control
 *    published it as a setpoint's net power) and on a measurement timestamped an hour ahead (it would
 *    stay "fresh" for that hour).
 */
import mqtt from 'mqtt';
import t, { type Test } from 'tap';
import { startAgent } from '../helpers/agent-process.js';
import { waitFor } from '../helpers/wait.js';
import { randomJob, toServiceInput } from './random-jobs.js';

interface Job {
  id: string;
  status: string;
  error?: string;
  details?: string | null;
  result?: unknown;
}

const battery = { id: 'b1', bat_type: 'cbes', initial_SoC: 0.5, min_SoC: 0.1, max_SoC: 0.9, P_ch_max_kW: 10, P_dis_max_kW: 10, bat_capacity_kWh: 20 };
/** A small job in pymfm's service dialect: `steps` quarter hours from `t0` ms, `batteries` copies of `battery`. */
function job(over: Record<string, unknown> = {}, steps = 4, batteries = 1, t0 = Date.UTC(2026, 0, 1)): Record<string, unknown> {
  return {
    id: 'j',
    control_logic: 'rule_based',
    operation_mode: 'scheduling',
    generation_and_load: { values: Array.from({ length: steps }, (_, i) => ({ timestamp: new Date(t0 + 900_000 * i).toISOString(), P_available_kW: (i * 7) % 13, P_required_kW: (i * 5) % 11 })) },
    battery_specs: Array.from({ length: batteries }, (_, i) => ({ ...battery, id: `b${i + 1}` })),
    ...over,
  };
}

async function agentWith(t: Test, scheduler: Record<string, unknown> = {}) {
  const agent = await startAgent({ config: { stats: { enabled: false }, scheduler: { timeLimitS: 120, ...scheduler } } });
  t.teardown(() => agent.stop('SIGKILL'));
  const call = async (method: string, path: string, body?: unknown) => {
    const r = await fetch(`${agent.httpUrl}${path}`, {
      method,
      ...(body !== undefined ? { headers: { 'content-type': 'application/json' }, body: typeof body === 'string' ? body : JSON.stringify(body) } : {}),
    });
    const text = await r.text();
    return { status: r.status, type: r.headers.get('content-type') ?? '', body: (text ? JSON.parse(text) : undefined) as never };
  };
  const until = (path: string, want: (j: Job) => boolean, what: string) =>
    waitFor(what, async () => {
      const r = await call('GET', path);
      return r.status === 200 && want(r.body as Job) ? (r.body as Job) : undefined;
    }, { timeoutMs: 60_000, intervalMs: 20 });
  return { agent, call, until };
}

t.test('deep nesting and oversized optimisations are refused up front, naming where and why', async (t) => {
  const { agent, call } = await agentWith(t);
  const json = JSON.stringify(job());
  const deep = `${json.slice(0, -1)},"extra":${'{"a":'.repeat(20_000)}1${'}'.repeat(20_000)}}`;
  const r1 = await call('POST', '/api/v1/optimizations', deep);
  t.equal(r1.status, 400, 'a job nested 20 000 levels deep: 400, not 500');
  t.match(r1.type, /^application\/problem\+json/);
  t.match((r1.body as { detail: string }).detail, /^extra(\.a){31}: nested more than 32 levels deep/, 'names the path');
  const r2 = await call('POST', '/balancing/', deep);
  t.equal(r2.status, 400, "the same on pymfm's path");

  const tiny = await call('POST', '/api/v1/optimizations', job({ control_logic: 'optimization_based', battery_specs: [{ ...battery, bat_capacity_kWh: 1e-300 }] }));
  t.equal(tiny.status, 400, 'a capacity of 1e-300 kWh (HiGHS refused the model: a failed job with its status code)');
  t.match((tiny.body as { detail: string }).detail, 'battery_specs[0].bat_capacity_kWh: must be at least 0.001 kWh (1 Wh), got 1e-300');

  // 2000 steps × 10 batteries = 20 000 battery-steps; the default maxBatterySteps is 10 000.
  const big = job({ control_logic: 'optimization_based' }, 2000, 10);
  const r3 = await call('POST', '/api/v1/optimizations', big);
  t.equal(r3.status, 413, 'an optimisation too large for the gateway');
  t.match(r3.type, /^application\/problem\+json/);
  t.match((r3.body as { detail: string }).detail, /2000 steps × 10 batteries = 20000 battery-steps.*scheduler\.maxBatterySteps: 10000/);
  t.equal((await call('POST', '/balancing/', { ...big, id: 'big' })).status, 413, "the same on pymfm's path");
  t.equal((await call('POST', '/api/v1/optimizations', job({}, 2000, 10))).status, 202, 'the same job rule-based is taken');
  // Rule-based: 2000 steps × 60 batteries = 120 000 battery-steps, past the default maxRuleBasedBatterySteps (100 000).
  const rb = await call('POST', '/api/v1/optimizations', job({}, 2000, 60));
  t.equal(rb.status, 413, 'a rule-based job whose result would be too large');
  t.match((rb.body as { detail: string }).detail, /120000 battery-steps, more than a rule-based job takes here \(scheduler\.maxRuleBasedBatterySteps: 100000\)/);
  t.same(((await call('GET', '/api/v1/optimizations')).body as Job[]).length, 1, 'nothing else was stored');

  // An edit that makes a queued optimisation too large is refused the same way.
  const slow = await call('POST', '/api/v1/optimizations?model=physical', { ...toServiceInput(randomJob(5, 96, 10)), id: 'slow' });
  const queued = await call('POST', '/api/v1/optimizations', job({ control_logic: 'optimization_based' }, 1000, 1));
  t.equal(slow.status, 202);
  t.equal(queued.status, 202);
  const qid = (queued.body as { id: string }).id;
  const edit = await call('PUT', `/api/v1/optimizations/${qid}/batteries`, Array.from({ length: 11 }, (_, i) => ({ ...battery, id: `x${i}` })));
  if ((await call('GET', `/api/v1/optimizations/${qid}`)).body['status' as never] === 'created') t.equal(edit.status, 413, 'an edit past the limit');

  const metrics = await (await fetch(`${agent.httpUrl}/metrics`)).text();
  t.match(metrics, /gridedge_scheduler_jobs(_total)?\{result="too_large"\} [3-9]/, 'refusals counted as too_large');
  t.equal((await call('GET', '/api/v1/status')).status, 200, 'the agent still answers');
});

t.test('DELETE of a running job: a second DELETE deletes it, a new job of its id runs', async (t) => {
  const { call, until } = await agentWith(t);
  const large = (id: string) => ({ ...toServiceInput(randomJob(5, 96, 10)), id });

  // /api/v1: two DELETEs at once on the running job, while its worker is still ending.
  const a = await call('POST', '/api/v1/optimizations?model=physical', large('a'));
  const aid = (a.body as { id: string }).id;
  await until(`/api/v1/optimizations/${aid}`, (j) => j.status === 'running', 'the large job to run');
  const [d1, d2] = await Promise.all([call('DELETE', `/api/v1/optimizations/${aid}`), call('DELETE', `/api/v1/optimizations/${aid}`)]);
  t.same([d1.status, d2.status], [202, 204], 'cancelled, then deleted');
  t.equal((d1.body as Job).error, 'cancelled: deleted while running');
  t.equal((await call('GET', `/api/v1/optimizations/${aid}`)).status, 404, 'gone');

  // pymfm's paths: DELETE the running job X, and at once submit a new job X.
  t.equal((await call('POST', '/balancing/?model=physical', large('X'))).status, 200);
  await until('/balancing/X', (j) => j.status === 'running', 'job X to run');
  const [del, again] = await Promise.all([call('DELETE', '/balancing/X'), call('POST', '/balancing/', job({ id: 'X' }))]);
  t.equal(del.status, 200);
  t.equal(again.status, 200, 'the new job X is taken');
  const done = await until('/balancing/X', (j) => j.status === 'success' || j.status === 'failed', 'the new job X to finish');
  t.equal(done.status, 'success', `the new job X ran (details: ${done.details})`);
  t.equal((done as unknown as { input: { control_logic: string } }).input.control_logic, 'rule_based', 'it is the new job');
});

t.test('a near-real-time loop holds on an implausible or future-dated live net power', async (t) => {
  const { agent, call } = await agentWith(t, { netDevice: 'pcc' });
  const sub = await mqtt.connectAsync(agent.mqttUrl, { clientId: 'nrt-sub' });
  const pub = await mqtt.connectAsync(agent.mqttUrl, { clientId: 'nrt-pub' });
  t.teardown(() => {
    sub.end(true);
    pub.end(true);
  });
  const got: Record<string, unknown>[] = [];
  sub.on('message', (_t, m) => got.push(JSON.parse(m.toString()) as Record<string, unknown>));
  await sub.subscribeAsync('bal/processed/scheduler/nrt/setpoints', { qos: 1 });
  const now = Date.now();
  const r = await call('POST', '/balancing/', job({ id: 'nrt', operation_mode: 'near_real_time', repeat_seconds: 1 }, 8, 1, now - 60_000));
  t.equal(r.status, 200, JSON.stringify(r.body).slice(0, 300));
  t.teardown(() => call('DELETE', '/balancing/nrt'));
  const send = (p: number, ts = Date.now() * 1000) => pub.publishAsync('bal/raw/pcc', JSON.stringify({ device: 'pcc', ts, quality: 'good', p: { total: p } }), { qos: 1 });
  const next = (what: string, pred: (m: Record<string, unknown>) => boolean) => {
    const from = got.length;
    return waitFor(what, () => got.slice(from).find(pred), { timeoutMs: 20_000, detail: () => JSON.stringify(got.at(-1))?.slice(0, 400) ?? 'nothing published' });
  };

  await send(5000);
  const ok = await next('a run on 5 kW', (m) => m['status'] === 'ok' && m['P_net_before_kW'] === 5);
  t.equal((ok['batteries'] as Record<string, { P_bat_kW: number }>)['b1']!.P_bat_kW, -5, 'the battery covers it');

  await send(1e300);
  const huge = await next('a hold on 1e297 kW', (m) => (m['inputs'] as { net_power: { value?: number } }).net_power.value === 1e297);
  t.equal(huge['status'], 'hold', 'held, not published as a setpoint');
  t.match(huge['reason'], /pcc p\.total gives 1e\+297 after scale 0\.001, beyond ±1e9/);
  t.equal((huge['batteries'] as Record<string, { P_bat_kW: number }>)['b1']!.P_bat_kW, -5, 'the last setpoint in force');

  await send(7000, (Date.now() + 3_600_000) * 1000);
  const future = await next('a hold on a reading an hour ahead', (m) => (m['inputs'] as { net_power: { value?: number } }).net_power.value === 7);
  t.equal(future['status'], 'hold');
  t.match(future['reason'], /pcc p\.total is timestamped 3[56]\d\d\.\d s in the future \(limit 30 s\)/);

  await send(6000);
  await next('a run on 6 kW again', (m) => m['status'] === 'ok' && m['P_net_before_kW'] === 6);
});

t.test('near-real-time optimisation loops solve at most maxParallelSolves at once; the others wait their turn', async (t) => {
  const { agent, call } = await agentWith(t, { netDevice: 'pcc', maxParallelSolves: 1 });
  const pub = await mqtt.connectAsync(agent.mqttUrl, { clientId: 'nrt-pcc' });
  t.teardown(() => pub.end(true));
  // The meter reports every 200 ms (the loops' input; never stale).
  const meter = setInterval(() => void pub.publishAsync('bal/raw/pcc', JSON.stringify({ device: 'pcc', ts: Date.now() * 1000, quality: 'good', p: { total: 4000 } })), 200);
  t.teardown(() => clearInterval(meter));
  const ids = ['o1', 'o2', 'o3', 'o4'];
  for (const id of ids) {
    const r = await call('POST', '/balancing/', job({ id, control_logic: 'optimization_based', operation_mode: 'near_real_time', repeat_seconds: 1 }, 24, 2, Date.now() - 60_000));
    t.equal(r.status, 200, `loop ${id} started`);
  }
  t.teardown(async () => {
    for (const id of ids) await call('DELETE', `/balancing/${id}`);
  });
  // Every loop gets its runs: two published setpoints each (not held).
  const runs = (id: string) => call('GET', `/api/v1/optimizations/${id}`).then((r) => (r.body as { result?: { runs?: number; holds?: number } }).result ?? {});
  await waitFor('two runs of each loop', async () => {
    for (const id of ids) {
      const r = await runs(id);
      if ((r.runs ?? 0) - (r.holds ?? 0) < 2) return undefined;
    }
    return true;
  }, { timeoutMs: 60_000, intervalMs: 100 });
  const status = (await (await fetch(`${agent.httpUrl}/api/v1/status`)).json()) as { plugins: { services: { id: string; info: Record<string, number> }[] } };
  const info = status.plugins.services.find((s) => s.id === 'scheduler')!.info;
  t.equal(info['nrt_solving_max'], 1, 'never more than one worker solving at once (4 loops repeating every second)');
  t.equal(info['near_real_time'], 4);
});

t.test("a near-real-time job's window: an unreadable time is named once, a default is called one", async (t) => {
  const { call } = await agentWith(t, { netDevice: 'pcc' });
  const detail = async (over: Record<string, unknown>, t0?: number) => {
    const r = await call('POST', '/api/v1/optimizations', job({ operation_mode: 'near_real_time', repeat_seconds: 1, ...over }, 4, 1, t0));
    t.equal(r.status, 400);
    return (r.body as { detail: string }).detail;
  };
  t.equal(await detail({ job_end: '275760-09-13T00:00:00Z' }, Date.now()), 'job_end: must be an ISO 8601 date-time, got "275760-09-13T00:00:00Z"', 'not also "must be after job_start"');
  t.equal(await detail({ job_start: 'soon' }, Date.now()), 'job_start: must be an ISO 8601 date-time, got "soon"');
  t.match(
    await detail({}),
    /^job_end: must be after job_start \(not given: now, [^)]+\); not given, it is the end of the forecast's last step, 2026-01-01T01:00:00\.000Z$/,
    'a forecast that ended long ago: both defaults said so',
  );
});
