/**
 * Near-real-time jobs in an in-process agent whose scheduler runs on a ManualClock (no sleeps: the
 * test moves the clock and waits for the setpoints on the real broker with a real mqtt.js client).
 * The PCC meter `pcc` publishes its net power (p.total, W) on bal/raw/pcc over MQTT; the job's
 * forecast says 10 kW of load, the meter says 30 kW, and the setpoints must follow the meter.
 *
 * Expected numbers, by the rule-based rule of pymfm (../shared/data/pymfm/MODEL.md, "Rule-based
 * (scheduling), one battery in pymfm"), with cap 100 kWh, Δh 0.25 h, P_dis_max 50 kW, min_SoC 0.1,
 * initial SoC 0.5, efficiencies 1:
 *   run 1: d = 30 kW (measured; the forecast would give 10); Pmin = (0.1 − 0.5)·100·1/0.25 = −160;
 *          met = max(min(30, 50, 160), −P_ch_max, −Pmax) = 30 → P_bat = −30 kW (discharging);
 *          SoC at the end of the step 0.5 − 30·0.25/100 = 0.425.
 *   run 2 (60 s later): the SoC carried forward along that schedule for 60 s of the 900 s step:
 *          0.5 + (0.425 − 0.5)·60/900 = 0.495; d = 30 again → P_bat = −30 kW.
 *   run 3 (no new measurement, 60 s old > max_age_s 30): holds −30 kW, saying the input is stale.
 *   run 4 (a fresh measurement whose field_quality marks p.total invalid): holds −30 kW, saying so.
 *   run 5: the SoC set to 0.7 (PUT .../soc) 60 s before, moved on by the held −30 kW (0.3/h): 0.695.
 * Then DELETE cancels the loop; an optimisation-based loop publishes its solver's setpoint, and an agent
 * stop with its next run in flight ends it.
 */
import t from 'tap';
import type mqtt from 'mqtt';
import { startInProcess } from '../helpers/in-process.js';
import { waitFor } from '../helpers/wait.js';
import { buildRegistry, PLUGINS, plugin } from '../../agent/registry.js';
import { schedulerServiceWith } from '../../agent/services/scheduler/index.js';
import { ManualClock } from './manual-clock.js';

const STEP_MS = 15 * 60_000;

interface Setpoints {
  ts: number;
  job: string;
  run: number;
  status: 'ok' | 'hold';
  reason?: string;
  P_net_before_kW?: number;
  batteries: Record<string, { P_bat_kW: number; SoC: number }>;
  inputs: { net_power: { device: string; field: string; value?: number; age_s?: number; quality?: string }; soc: Record<string, { source: string; value?: number }> };
}

t.test('near-real-time runs: measured net power replaces the forecast, SoC carried forward, stale and invalid inputs hold', async (t) => {
  // The clock starts at a real time, so the pipeline does not flag the meter's timestamps.
  const t0 = Math.floor(Date.now() / 1000) * 1000;
  const clock = new ManualClock(t0);
  const registry = buildRegistry({ ...PLUGINS, services: [plugin(schedulerServiceWith(clock))] });
  const a = await startInProcess(t, { stats: { enabled: false }, scheduler: { netDevice: 'pcc', maxInputAgeS: 30 } }, registry);
  const sub = await a.client('nrt-test-sub');
  const meter = await a.client('nrt-test-meter');
  const got: Setpoints[] = [];
  sub.on('message', (topic, payload) => {
    if (/^bal\/processed\/scheduler\/[^/]+\/setpoints$/.test(topic)) got.push(JSON.parse(payload.toString()) as Setpoints);
  });
  await sub.subscribeAsync('bal/processed/scheduler/+/setpoints', { qos: 1 });

  const api = (path: string, init?: RequestInit) => fetch(`${a.httpUrl}${path}`, init);
  const post = (body: unknown) => api('/api/v1/optimizations', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  const publishMeter = async (client: mqtt.MqttClient, tsMs: number, watts: number, fq?: Record<string, string>) => {
    await client.publishAsync('bal/raw/pcc', JSON.stringify({ device: 'pcc', ts: tsMs * 1000, quality: 'good', p: { total: watts }, ...(fq ? { field_quality: fq } : {}) }), { qos: 1 });
    await waitFor(`the agent to hold pcc's measurement of ${new Date(tsMs).toISOString()}`, async () => {
      const r = await api('/api/v1/devices/pcc');
      if (r.status !== 200) return undefined;
      const d = (await r.json()) as { latest: { ts: number } };
      return d.latest.ts === tsMs * 1000 || undefined;
    });
  };
  const nextSetpoints = (n: number) =>
    waitFor(`setpoints message #${n} on bal/processed/scheduler/<id>/setpoints`, () => got[n - 1], { detail: () => `have ${got.length}` });

  // The forecast: four 15-min steps from the step containing t0, 10 kW load, no generation.
  const first = Math.floor(t0 / STEP_MS) * STEP_MS;
  const job = {
    id: 'nrt-1',
    application: 'pymfm',
    control_logic: 'rule_based',
    operation_mode: 'near_real_time',
    job_start: new Date(t0 + 1000).toISOString(),
    job_end: new Date(t0 + 30 * 60_000).toISOString(),
    repeat_seconds: 60,
    live_inputs: { net_power: { device: 'pcc', field: 'p.total', scale: 0.001 } },
    generation_and_load: { values: [0, 1, 2, 3].map((k) => ({ timestamp: new Date(first + k * STEP_MS).toISOString(), P_available_kW: 0, P_required_kW: 10 })) },
    battery_specs: [{ id: 'bat_1', bat_type: 'cbes', initial_SoC: 0.5, P_dis_max_kW: 50, P_ch_max_kW: 50, min_SoC: 0.1, max_SoC: 0.9, bat_capacity_kWh: 100 }],
  };

  // Bad near-real-time jobs: every missing or wrong field named.
  const bad = await post({ ...job, repeat_seconds: undefined, live_inputs: { net_power: { field: 'p..total', scale: 0 }, battery_soc: { nope: { device: 'x' } } } });
  t.equal(bad.status, 400);
  const detail = ((await bad.json()) as { detail: string }).detail;
  for (const field of ['repeat_seconds', 'live_inputs.net_power.field', 'live_inputs.net_power.scale', 'live_inputs.battery_soc.nope'])
    t.match(detail, field, `the problem names ${field}`);

  await publishMeter(meter, t0 + 1000, 30_000);
  const res = await post(job);
  t.equal(res.status, 202);
  const { id } = (await res.json()) as { id: string };

  // Run 1 at job_start.
  clock.advanceTo(t0 + 1000);
  const r1 = await nextSetpoints(1);
  t.equal(r1.job, id);
  t.equal(r1.run, 1);
  t.equal(r1.status, 'ok');
  t.equal(r1.ts, (t0 + 1000) * 1000, 'ts: the run time, µs');
  t.equal(r1.inputs.net_power.value, 30, 'the measured net power in kW');
  t.equal(r1.inputs.net_power.age_s, 0);
  t.equal(r1.P_net_before_kW, 30, 'the current step uses the measurement, not the forecast (10)');
  t.ok(Math.abs(r1.batteries['bat_1']!.P_bat_kW - -30) < 1e-9, `P_bat -30 kW (got ${r1.batteries['bat_1']!.P_bat_kW})`);
  t.equal(r1.batteries['bat_1']!.SoC, 0.5);

  // Run 2, 60 s later, with a fresh measurement: SoC carried forward.
  await publishMeter(meter, t0 + 61_000, 30_000);
  clock.advanceTo(t0 + 61_000);
  const r2 = await nextSetpoints(2);
  t.equal(r2.status, 'ok');
  t.ok(Math.abs(r2.batteries['bat_1']!.SoC - 0.495) < 1e-12, `SoC 0.495 carried forward (got ${r2.batteries['bat_1']!.SoC})`);
  t.equal(r2.inputs.soc['bat_1']!.source, 'carried');
  t.ok(Math.abs(r2.batteries['bat_1']!.P_bat_kW - -30) < 1e-9);

  // Run 3: the measurement is now 60 s old (limit 30 s): the last setpoint is held, with the reason.
  clock.advanceTo(t0 + 121_000);
  const r3 = await nextSetpoints(3);
  t.equal(r3.status, 'hold');
  t.match(r3.reason, /pcc p\.total is 60\.0 s old \(limit 30 s\)/);
  t.ok(Math.abs(r3.batteries['bat_1']!.P_bat_kW - -30) < 1e-9, 'the last setpoint held');
  const j3 = (await (await api(`/api/v1/optimizations/${id}`)).json()) as { status: string; details: string };
  t.equal(j3.status, 'running');
  t.match(j3.details, /run 3: holding the last setpoints: .*old/, "the job's details say why");

  // Run 4: fresh, but p.total marked invalid.
  await publishMeter(meter, t0 + 181_000, 31_000, { 'p.total': 'invalid' });
  clock.advanceTo(t0 + 181_000);
  const r4 = await nextSetpoints(4);
  t.equal(r4.status, 'hold');
  t.match(r4.reason, /invalid quality/);
  t.equal(r4.inputs.net_power.quality, 'invalid');

  // The holds are counted.
  const counters = (await (await api('/api/v1/counters')).json()) as { counters: Record<string, Record<string, number>> };
  t.same(counters.counters['scheduler_nrt_runs'], { 'result=ok': 2, 'result=hold': 2 }, 'runs counted by outcome');

  // Setting the SoC of a running near-real-time job: the next run starts from it.
  const soc = await api(`/api/v1/optimizations/${id}/batteries/bat_1/soc`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ soc: 0.7 }) });
  t.equal(soc.status, 200);
  await publishMeter(meter, t0 + 241_000, 30_000);
  clock.advanceTo(t0 + 241_000);
  const r5 = await nextSetpoints(5);
  t.equal(r5.status, 'ok');
  // Set at t0+181 s; the held setpoint (run 2's schedule: 0.3 SoC/h of discharge) runs on for the
  // 60 s to this run: 0.7 − 0.3·60/3600 = 0.695.
  t.ok(Math.abs(r5.batteries['bat_1']!.SoC - 0.695) < 1e-12, `the run starts from the SoC that was set, moved on 60 s (got ${r5.batteries['bat_1']!.SoC})`);

  // DELETE cancels the loop: the job is failed (cancelled), no further run.
  const del = await api(`/api/v1/optimizations/${id}`, { method: 'DELETE' });
  t.equal(del.status, 202);
  const cancelled = (await del.json()) as { status: string; error: string };
  t.equal(cancelled.status, 'failed');
  t.match(cancelled.error, /cancelled/);
  t.equal(clock.pending, 0, 'no timer left');

  // An optimisation-based loop: its runs solve in a worker thread. The battery (40 kWh above min_SoC)
  // can cover the measured 30 kW and the forecast 10 kW to the end of the horizon, so the only schedule
  // with no grid exchange at all (objective 0) discharges 30 kW now.
  const opt = await post({ ...job, id: 'nrt-opt', control_logic: 'optimization_based', job_start: new Date(t0 + 301_000).toISOString() });
  t.equal(opt.status, 202);
  const optId = ((await opt.json()) as { id: string }).id;
  await publishMeter(meter, t0 + 301_000, 30_000);
  clock.advanceTo(t0 + 301_000);
  const o1 = await nextSetpoints(6);
  t.equal(o1.job, optId);
  t.equal(o1.status, 'ok', o1.reason ?? '');
  t.ok(Math.abs(o1.batteries['bat_1']!.P_bat_kW - -30) < 1e-6, `optimised setpoint -30 kW (got ${o1.batteries['bat_1']!.P_bat_kW})`);

  // A stop with that loop's next optimisation run in flight: the loop's timer is cleared, the worker
  // terminated, the stop completes within the agent's budget.
  await publishMeter(meter, t0 + 361_000, 30_000);
  clock.advanceTo(t0 + 361_000);
  const s0 = Date.now();
  await a.agent.stop();
  t.ok(Date.now() - s0 < 4500, `stopped in ${Date.now() - s0} ms`);
  t.equal(clock.pending, 0, 'no timer left after the stop');
});
