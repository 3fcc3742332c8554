/**
 * The solver watchdog: a solve still running at its time limit plus max(5 s, 10 % of it) has its
 * worker terminated. The agent runs in this process with the scheduler on a ManualClock and the test
 * hook `solverBlocks` (every solve's worker blocks before solving, as a solver stuck in native code
 * would), so the overrun is certain and the watchdog's time is the test's clock: no sleeps.
 *
 * With scheduler.timeLimitS 10 the grace is 5 s: a scheduling job still solving 15 s after it started
 * is failed, naming the limit, and the queue goes on; a near-real-time optimisation run (limit
 * min(10, 0.8 × 60 s) = 10 s) holds after 15 s, saying why, its maxParallelSolves slot is freed and
 * the loop runs again at its next grid point. Both counted in scheduler_solver_overruns{kind}.
 */
import t from 'tap';
import { startInProcess } from '../helpers/in-process.js';
import { waitFor } from '../helpers/wait.js';
import { buildRegistry, PLUGINS, plugin } from '../../agent/registry.js';
import { schedulerServiceWith, watchdogGraceS } from '../../agent/services/scheduler/index.js';
import { ManualClock } from './manual-clock.js';
import { loadFixture } from './fixtures.js';

const STEP_MS = 15 * 60_000;

t.test('watchdog: grace is max(5 s, 10 % of the limit)', async (t) => {
  t.equal(watchdogGraceS(10), 5);
  t.equal(watchdogGraceS(60), 6);
  t.equal(watchdogGraceS(0.1), 5);
});

t.test('watchdog: a solve stuck past its time limit is terminated; the job fails naming the limit, a near-real-time run holds', async (t) => {
  const t0 = Math.floor(Date.now() / 1000) * 1000;
  const clock = new ManualClock(t0);
  const registry = buildRegistry({ ...PLUGINS, services: [plugin(schedulerServiceWith(clock, { solverBlocks: true }))] });
  const a = await startInProcess(t, { stats: { enabled: false }, scheduler: { timeLimitS: 10, netDevice: 'pcc', maxParallelSolves: 1 } }, registry);
  const api = (path: string, init?: RequestInit) => fetch(`${a.httpUrl}${path}`, init);
  const post = (body: unknown) => api('/api/v1/optimizations', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  const job = async (id: string) => (await (await api(`/api/v1/optimizations/${id}`)).json()) as { status: string; error?: string; details?: string };
  const health = async () => {
    const status = (await (await api('/api/v1/status')).json()) as { plugins: { services: { id: string; info: Record<string, number> }[] } };
    const info = status.plugins.services.find((s) => s.id === 'scheduler')!.info;
    return { raw: JSON.stringify(info), solving: String(info['nrt_solving']) };
  };
  const overruns = async () => {
    const c = (await (await api('/api/v1/counters')).json()) as { counters: Record<string, Record<string, number>> };
    return c.counters['scheduler_solver_overruns'] ?? {};
  };

  // A scheduling job: its worker blocks; at 15 s (10 s limit + 5 s grace) the watchdog ends it.
  const r1 = await post(loadFixture('scheduling_optimization_based.json'));
  t.equal(r1.status, 202);
  const { id } = (await r1.json()) as { id: string };
  const r2 = await post(loadFixture('scheduling_optimization_based.json'));
  const { id: id2 } = (await r2.json()) as { id: string };
  await waitFor(`job ${id} running`, async () => (await job(id)).status === 'running' || undefined);
  clock.advanceTo(t0 + 14_999);
  t.equal((await job(id)).status, 'running', 'still running just before limit + grace');
  clock.advanceTo(t0 + 15_000);
  const failed = await waitFor(`job ${id} failed by the watchdog`, async () => {
    const j = await job(id);
    return j.status === 'failed' ? j : undefined;
  });
  t.match(failed.error, /overran its time limit \(scheduler\.timeLimitS: 10 s\) by more than 5 s/, 'the reason names the limit');
  t.same(await overruns(), { 'kind=job': 1 }, 'counted');
  // The queue goes on: the next job runs (and is ended the same way when the clock moves on).
  await waitFor(`the next job ${id2} running`, async () => (await job(id2)).status === 'running' || undefined);
  clock.advanceTo(t0 + 30_000);
  await waitFor(`job ${id2} failed by the watchdog`, async () => ((await job(id2)).status === 'failed' ? true : undefined));

  // A near-real-time optimisation loop: run 1 solves (blocked) at job_start, the watchdog ends it at +15 s.
  const meter = await a.client('watchdog-meter');
  const start = t0 + 31_000;
  await meter.publishAsync('bal/raw/pcc', JSON.stringify({ device: 'pcc', ts: start * 1000, quality: 'good', p: { total: 30_000 } }), { qos: 1 });
  await waitFor('the agent to hold the meter reading', async () => ((await api('/api/v1/devices/pcc')).status === 200 ? true : undefined));
  const first = Math.floor(t0 / STEP_MS) * STEP_MS;
  const nrt = await post({
    id: 'nrt-wd',
    application: 'pymfm',
    control_logic: 'optimization_based',
    operation_mode: 'near_real_time',
    job_start: new Date(start).toISOString(),
    job_end: new Date(t0 + 30 * 60_000).toISOString(),
    repeat_seconds: 60,
    live_inputs: { net_power: { device: 'pcc', field: 'p.total', scale: 0.001 }, max_age_s: 300 },
    generation_and_load: { values: [0, 1, 2, 3].map((k) => ({ timestamp: new Date(first + k * STEP_MS).toISOString(), P_available_kW: 0, P_required_kW: 10 })) },
    battery_specs: [{ id: 'bat_1', bat_type: 'cbes', initial_SoC: 0.5, P_dis_max_kW: 50, P_ch_max_kW: 50, min_SoC: 0.1, max_SoC: 0.9, bat_capacity_kWh: 100 }],
  });
  t.equal(nrt.status, 202, await nrt.clone().text());
  const nid = ((await nrt.json()) as { id: string }).id;
  clock.advanceTo(start);
  await waitFor('run 1 solving', async () => ((await health()).solving === '1' ? true : undefined));
  clock.advanceTo(start + 15_000);
  const held = await waitFor('run 1 held by the watchdog', async () => {
    const j = await job(nid);
    return /run 1: holding/.test(j.details ?? '') ? j : undefined;
  });
  t.equal(held.status, 'running', 'the loop goes on');
  t.match(held.details, /the solver overran its time limit \(the run's time limit: 10 s/, 'the run says why');
  t.same(await overruns(), { 'kind=job': 2, 'kind=near_real_time': 1 }, 'counted');
  t.equal((await health()).solving, '0', "the run's maxParallelSolves slot is free");
  // The next run at its grid point solves again.
  clock.advanceTo(start + 60_000);
  await waitFor('run 2 solving', async () => ((await health()).solving === '1' ? true : undefined));
  const del = await api(`/api/v1/optimizations/${nid}`, { method: 'DELETE' });
  t.equal(del.status, 202);
  await waitFor('run 2 terminated by the cancel', async () => ((await health()).solving === '0' ? true : undefined));
  t.equal(clock.pending, 0, 'no timer left (the watchdog of a cancelled solve is cleared)');
});
