/**
 * The pure part of near-real-time jobs (algorithms/scheduler/near-real-time.ts): the loop's settings
 * read from a job with defaults and field-named errors; one run's job (forecast from the current step,
 * the measurement in place of that step's forecast, the current SoC clamped, windows already begun left
 * out); the setpoints of a rule-based and of an optimised run; the SoC moved on between runs.
 */
import t from 'tap';
import {
  advanceSoc,
  jobForRun,
  normaliseJob,
  optimise,
  readNearRealTime,
  ruleBased,
  SchedulerInputError,
  setpointsOf,
  type Job,
} from '../../algorithms/scheduler/index.js';

const T0 = Date.UTC(2026, 10, 30, 0, 0, 0);
const STEP = 15 * 60_000;
const iso = (ms: number): string => new Date(ms).toISOString();
const DEFAULTS = { netDevice: 'pcc', netField: 'p.total', netScale: 0.001, socField: 'soc', socScale: 0.01, maxInputAgeS: 30 };

function raw(extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    id: 'n',
    control_logic: 'rule_based',
    operation_mode: 'near_real_time',
    repeat_seconds: 60,
    generation_and_load: { values: [0, 1, 2, 3].map((k) => ({ timestamp: iso(T0 + k * STEP), P_available_kW: k, P_required_kW: 10 + k })) },
    battery_specs: [
      { id: 'a', bat_type: 'cbes', initial_SoC: 0.5, final_SoC: 0.5, P_dis_max_kW: 50, P_ch_max_kW: 50, min_SoC: 0.1, max_SoC: 0.9, bat_capacity_kWh: 100 },
      { id: 'b', bat_type: 'cbes', initial_SoC: 0.5, P_dis_max_kW: 20, P_ch_max_kW: 20, min_SoC: 0.2, max_SoC: 0.8, bat_capacity_kWh: 40 },
    ],
    ...extra,
  };
}
const norm = (r: Record<string, unknown>): Job => normaliseJob(r, { nearRealTime: true });

t.test('settings: defaults from the config, every bad field named', async (t) => {
  t.throws(() => normaliseJob(raw()), SchedulerInputError, 'refused without the nearRealTime option');
  const job = norm(raw());
  const s = readNearRealTime(raw(), job, DEFAULTS, T0 + 1000);
  t.equal(s.startMs, T0 + 1000, 'job_start defaults to now');
  t.equal(s.endMs, T0 + 4 * STEP, "job_end defaults to the end of the forecast's last step");
  t.equal(s.repeatMs, 60_000);
  t.same(s.net, { device: 'pcc', field: 'p.total', scale: 0.001 }, 'the net power input from the config');
  t.equal(s.maxAgeMs, 30_000);
  const withSoc = readNearRealTime(raw({ live_inputs: { battery_soc: { b: { device: 'bess' } } } }), job, DEFAULTS, T0);
  t.same(withSoc.soc, { b: { device: 'bess', field: 'soc', scale: 0.01 } });
  try {
    readNearRealTime(raw({ job_end: iso(T0 - 1), repeat_seconds: 0.5, live_inputs: { max_age_s: -1, net_power: { device: 'a/b' } } }), job, { ...DEFAULTS, netDevice: '' }, T0);
    t.fail('should throw');
  } catch (e) {
    const p = (e as SchedulerInputError).problems;
    t.match(p.join('\n'), /job_end: must be after job_start/);
    t.match(p.join('\n'), /repeat_seconds: must be a number of at least 1, got 0\.5/);
    t.match(p.join('\n'), /live_inputs\.max_age_s: must be a number of seconds greater than 0, got -1/);
    t.match(p.join('\n'), /live_inputs\.net_power\.device: must be a device name/);
  }
  t.throws(() => readNearRealTime(raw(), job, { ...DEFAULTS, netDevice: '' }, T0), /live_inputs\.net_power\.device: required for a near_real_time job/);
  t.throws(() => readNearRealTime(raw({ job_start: iso(T0), job_end: iso(T0 + 60_000) }), job, DEFAULTS, T0 + 120_000), /job_end: is already past/);
});

t.test("one run's job: from the current step, the measurement in place of its forecast, SoC clamped", async (t) => {
  const job = norm(raw({ bulk: { bulk_start: iso(T0 + 2 * STEP), bulk_end: iso(T0 + 3 * STEP), bulk_energy_kWh: 1 }, day_end: iso(T0 + 3 * STEP) }));
  const run = jobForRun(job, T0 + 2 * STEP + 5000, -7, { a: 0.95, b: 0.3 });
  t.same(run.timestamps, [iso(T0 + 2 * STEP), iso(T0 + 3 * STEP)].map((s) => job.timestamps.find((x) => Date.parse(x) === Date.parse(s))));
  t.same(run.loadKw, [0, 13], 'measured export: no load in the current step, the forecast after it');
  t.same(run.genKw, [7, 3], 'the measured surplus as generation');
  t.same(run.batteries.map((b) => b.initialSoc), [0.9, 0.3], 'SoC clamped to max_SoC');
  t.same(run.bulk, { startIndex: 0, endIndex: 1, energyKwh: 1 }, 'a bulk window starting at the current step is shifted');
  t.equal(run.dayEndIndex, 1);
  const late = jobForRun(job, T0 + 3 * STEP + 1, 12, {});
  t.equal(late.bulk, undefined, 'a bulk window that began in an earlier step is left out');
  t.equal(late.dayEndIndex, 0, 'day_end in the current step is kept');
  t.equal(late.batteries[0]!.finalSoc, undefined, 'no final SoC on a one-step horizon');
  const outside = jobForRun(job, T0 + 10 * STEP + 1, 12, {});
  t.same(outside.timesMs, [T0 + 10 * STEP], 'outside the forecast: one step of the job length');
  t.same([outside.loadKw, outside.genKw], [[12], [0]]);
});

t.test('setpoints of a run and the SoC between runs', async (t) => {
  const job = norm(raw({ battery_specs: [raw()['battery_specs'] as unknown[]][0]!.slice(1) }));
  // Rule-based, one battery (MODEL.md "Rule-based"): d = 30, cap 40, Δh 0.25, SoC 0.5, min 0.2:
  // −Pmin = (0.5 − 0.2)·40/0.25 = 48; met = min(30, P_dis_max 20, 48) = 20 → P_bat −20, SoC end 0.5 − 20·0.25/40 = 0.375.
  const run = jobForRun(job, T0 + 1000, 30, {});
  const sp = setpointsOf(run, ruleBased(run))!;
  t.equal(sp['b']!.P_bat_kW, -20);
  t.equal(sp['b']!.socStart, 0.5);
  t.equal(sp['b']!.socEndOfStep, 0.375);
  t.equal(advanceSoc(run.batteries[0]!, sp['b']!, 0.5, 60 / 3600, 0.25), 0.5 - 0.125 * (60 / 900), 'moved on for 60 s of the 900 s step');
  t.equal(advanceSoc(run.batteries[0]!, sp['b']!, 0.21, 1, 0.25), 0.2, 'never below min_SoC');

  // Optimisation: the SoC at the end of the first step is the second step's start.
  const optJob = { ...run, controlLogic: 'optimization_based' as const };
  const r = await optimise(optJob, 'physical');
  t.equal(r.status, 'optimal');
  const osp = setpointsOf(optJob, r)!;
  t.equal(osp['b']!.P_bat_kW, r.schedule[0]!.batteries['b']!.P_bat_kW);
  t.equal(osp['b']!.socEndOfStep, r.schedule[1]!.batteries['b']!.SoC);
  t.ok(Math.abs(osp['b']!.socEndOfStep - (0.5 + (osp['b']!.P_bat_kW * 0.25) / 40)) < 1e-9, 'consistent with the setpoint (efficiency 1)');
});
