/**
 * Input dialects and validation (algorithms/scheduler/input.ts), after the pymfm specification's
 * "Input dialects users send" section: the three dialects of the same job normalise to the same
 * internal job, and every bad input listed in the scheduler issue ("non-equidistant timestamps;
 * day_end or a bulk window off the step grid; SoC outside its bounds; an initial SoC outside min/max;
 * negative capacities; an empty horizon; a bulk energy that no battery set could deliver") is
 * refused with a message naming the field. Inputs are pymfm 0.5.5's example files (fixtures/SOURCE.md).
 */
import t from 'tap';
import { detectDialect, normaliseJob, SchedulerInputError, type Job } from '../../algorithms/scheduler/index.js';
import { editable, loadFixture } from './fixtures.js';

function problems(raw: unknown): string[] {
  try {
    normaliseJob(raw);
  } catch (e) {
    if (e instanceof SchedulerInputError) return e.problems;
    throw e;
  }
  return [];
}

/** The optimisation example rewritten in the service dialect: fractions, control_*, P_available/P_required. */
function asService(): Record<string, unknown> {
  const j = editable('scheduling_optimization_based.json');
  const { uc_start, uc_end, generation_and_load, battery_specs, ...rest } = j;
  return {
    ...rest,
    control_start: uc_start,
    control_end: uc_end,
    generation_and_load: {
      pv_curtailment: false,
      values: generation_and_load.values.map((v) => ({ timestamp: v['timestamp'], P_available_kW: v['P_gen_kW'], P_required_kW: v['P_load_kW'] })),
    },
    battery_specs: battery_specs.map((b) => {
      const c: Record<string, unknown> = { ...b };
      for (const k of ['initial_SoC', 'final_SoC', 'min_SoC', 'max_SoC']) if (typeof c[k] === 'number') c[k] = (c[k] as number) / 100;
      return c;
    }),
  };
}

t.test('pymfm 0.5 example: 96 quarter-hour steps, SoC percent read as fractions', async (t) => {
  const raw = loadFixture('scheduling_rule_based.json');
  t.equal(detectDialect(raw), 'pymfm-0.5');
  const job = normaliseJob(raw);
  t.equal(job.timestamps.length, 96);
  t.equal(job.deltaH, 0.25);
  t.equal(job.controlLogic, 'rule_based');
  t.equal(job.batteries.length, 1);
  t.same(job.batteries[0], { id: 'bat_1', type: 'cbes', initialSoc: 0.0875, pDisMaxKw: 300, pChMaxKw: 300, minSoc: 0.0875, maxSoc: 0.875, capacityKwh: 800, chEff: 1, disEff: 1 });
  t.equal(job.loadKw[0], 24.934559208072987);
});

t.test('the service dialect of the optimisation example normalises to the same job as its 0.5 form', async (t) => {
  const a = normaliseJob(loadFixture('scheduling_optimization_based.json'));
  const svc = asService();
  t.equal(detectDialect(svc), 'service');
  const b = normaliseJob(svc);
  const strip = (j: Job): Partial<Job> => ({ ...j, dialect: undefined as never, timestamps: undefined as never });
  t.same(strip(b), strip(a));
  t.equal(a.dayEndIndex, 72, 'day_end 18:00 is step 72');
  t.same(a.limits[0], { upper: 50, lower: -50 });
  t.same(a.batteries[0]!.finalSoc, 0.7);
  // control_start/control_end slice the horizon, both ends inclusive.
  const sliced = normaliseJob({ ...svc, control_start: '2021-04-01T06:00:00Z', control_end: '2021-04-01T07:00:00Z', day_end: undefined, P_net_after_kW_limitation: undefined });
  t.equal(sliced.timestamps.length, 5);
  t.equal(sliced.timestamps[0], '2021-04-01T06:00:00.000000Z');
});

t.test('Platone balancer dialect: P_net (net = load − PV), one battery object, bulk with with_bulk', async (t) => {
  const src = normaliseJob(loadFixture('scheduling_optimization_based.json'));
  const raw = {
    uc_name: 'optimiser',
    uc_start: '2021-04-01T00:00:00Z',
    uc_end: '2021-04-01T23:45:00Z',
    day_end: '2021-04-01T18:00:00Z',
    bulk: { with_bulk: true, bulk_start: '2021-04-01T12:00:00Z', bulk_end: '2021-04-01T13:00:00Z', bulk_energy_kWh: 40 },
    P_net: src.timestamps.map((ts, i) => ({ time: ts, P_req_kW: src.loadKw[i], P_net_kW: src.loadKw[i]! - src.genKw[i]! })),
    battery_specs: { id: 'bat_1', bat_type: 'cbes', with_final_SoC: true, initial_SoC: 60, final_SoC: 70, P_dis_max_kW: 300, P_ch_max_kW: 300, min_SoC: 8.75, max_SoC: 87.5, bat_capacity: 800 },
  };
  t.equal(detectDialect(raw), 'platone');
  const job = normaliseJob(raw);
  t.equal(job.controlLogic, 'optimization_based');
  t.same(job.bulk, { startIndex: 48, endIndex: 52, energyKwh: 40 });
  t.equal(job.batteries[0]!.capacityKwh, 800);
  t.equal(job.batteries[0]!.finalSoc, 0.7);
  job.loadKw.forEach((l, i) => t.ok(Math.abs(l - job.genKw[i]! - (src.loadKw[i]! - src.genKw[i]!)) < 1e-9) || t.fail(`step ${i}`));
  const noFinal = normaliseJob({ ...raw, bulk: { with_bulk: false }, battery_specs: { ...raw.battery_specs, with_final_SoC: false } });
  t.equal(noFinal.batteries[0]!.finalSoc, undefined, 'with_final_SoC false ignores final_SoC');
  t.equal(noFinal.bulk, undefined, 'with_bulk false ignores the bulk window');
});

t.test('bad inputs are refused with the field named', async (t) => {
  t.match(problems({ foo: 1 }), [/^\(root\): unknown input dialect/]);
  t.match(problems([1, 2]), [/^\(root\): must be a JSON object, got an array/]);

  let j = editable('scheduling_rule_based.json');
  j.generation_and_load.values.splice(10, 1);
  t.match(problems(j), [/^generation_and_load\.values\[10\]\.timestamp: steps must be equidistant \(15 min\), but this one is 30 min after the previous, got "2021-04-01T02:45:00.000000Z"$/]);

  j = editable('scheduling_rule_based.json');
  j.generation_and_load.values[3]!['timestamp'] = '2021-04-01T00:40:00Z';
  t.match(problems(j), [/^generation_and_load\.values\[3\]\.timestamp: steps must be equidistant/]);

  j = editable('scheduling_optimization_based.json');
  j['day_end'] = '2021-04-01T18:07:00Z';
  t.match(problems(j), [/^day_end: must be one of the horizon's step timestamps \(2021-04-01T00:00:00.000000Z \.\. 2021-04-01T23:45:00.000000Z every 15 min\), got "2021-04-01T18:07:00Z"$/]);

  j = editable('scheduling_optimization_based.json');
  j['bulk'] = { bulk_start: '2021-04-01T12:05:00Z', bulk_end: '2021-04-02T13:00:00Z', bulk_energy_kWh: 10 };
  t.match(problems(j), [/^bulk\.bulk_start: must be one of the horizon's step timestamps/, /^bulk\.bulk_end: must be one of the horizon's step timestamps/]);

  j = editable('scheduling_optimization_based.json');
  j.battery_specs[1]!['max_SoC'] = 120;
  t.match(problems(j), [/^battery_specs\[1\]\.max_SoC: SoC is percent \(0\.\.100\) in this input dialect, so it must be within 0\.\.100, got 120$/]);

  j = editable('scheduling_optimization_based.json');
  j.battery_specs[0]!['initial_SoC'] = 5;
  j.battery_specs[2]!['final_SoC'] = 95;
  t.match(problems(j), [/^battery_specs\[0\]\.initial_SoC: must lie between min_SoC \(8\.75\) and max_SoC \(87\.5\), got 5$/, /^battery_specs\[2\]\.final_SoC: must lie between/]);

  j = editable('scheduling_optimization_based.json');
  j.battery_specs[0]!['bat_capacity_kWh'] = -800;
  j.battery_specs[1]!['P_ch_max_kW'] = -1;
  t.match(problems(j), [/^battery_specs\[0\]\.bat_capacity_kWh: must be greater than 0, got -800$/, /^battery_specs\[1\]\.P_ch_max_kW: must be at least 0, got -1$/]);

  j = editable('scheduling_rule_based.json');
  j['uc_start'] = '2021-04-02T00:00:00Z';
  j['uc_end'] = '2021-04-02T23:45:00Z';
  t.match(problems(j), [/^generation_and_load\.values: no step lies between uc_start and uc_end: the horizon is empty$/]);

  j = editable('scheduling_optimization_based.json');
  j['bulk'] = { bulk_start: '2021-04-01T12:00:00Z', bulk_end: '2021-04-01T12:30:00Z', bulk_energy_kWh: 1000 };
  // 3 steps of 15 min at 300 + 30 + 30 kW = 270 kWh at most.
  t.match(problems(j), [/^bulk\.bulk_energy_kWh: no schedule of these batteries can receive that much in the window: at most 270 kWh/]);
  j['bulk'] = { bulk_start: '2021-04-01T12:00:00Z', bulk_end: '2021-04-01T12:30:00Z', bulk_energy_kWh: -250 };
  // Household batteries never discharge: 3 × 0.25 h × 300 kW = 225 kWh.
  t.match(problems(j), [/^bulk\.bulk_energy_kWh: no schedule of these batteries can deliver that much in the window: at most 225 kWh/]);

  j = editable('scheduling_rule_based.json');
  j['battery_specs'] = [];
  t.match(problems(j), [/^battery_specs: at least one battery is required/]);
  delete (j as Record<string, unknown>)['battery_specs'];
  t.match(problems(j), [/^battery_specs: at least one battery is required/]);

  j = editable('scheduling_rule_based.json');
  (j.generation_and_load as Record<string, unknown>)['delta_T_h'] = 0.5;
  t.match(problems(j), [/^generation_and_load\.values\[1\]\.timestamp: steps must be equidistant \(30 min as delta_T_h says\)/]);

  j = editable('scheduling_rule_based.json');
  j.generation_and_load.values[4]!['P_load_kW'] = 'many';
  j.battery_specs[0]!['bat_type'] = 'xbes';
  t.match(problems(j), [/^generation_and_load\.values\[4\]\.P_load_kW: must be a finite number, got "many"$/, /^battery_specs\[0\]\.bat_type: must be one of cbes, hbes, got "xbes"$/]);
});

t.test('magnitudes beyond 1e9 are refused with their path (HiGHS cannot take them), finite or not', async (t) => {
  const j = editable('scheduling_optimization_based.json');
  j.generation_and_load.values[1]!['P_load_kW'] = 1e20;
  j.generation_and_load.values[2]!['P_gen_kW'] = 2e9;
  (j.battery_specs[0] as Record<string, unknown>)['bat_capacity_kWh'] = -5e12;
  const p = problems(j);
  t.ok(p.includes('generation_and_load.values[1].P_load_kW: must be between -1e9 and 1e9 (MAX_MAGNITUDE), got 100000000000000000000'), p.join('\n'));
  t.equal(p.length, 3, 'those three problems and no other (a refused value does not unsettle the step grid)');
  t.ok(p.includes('generation_and_load.values[2].P_gen_kW: must be between -1e9 and 1e9 (MAX_MAGNITUDE), got 2000000000'), p.join('\n'));
  t.ok(p.some((x) => x.startsWith('battery_specs[0].bat_capacity_kWh: must be between -1e9 and 1e9')), p.join('\n'));
  j.generation_and_load.values[1]!['P_load_kW'] = 1e9;
  j.generation_and_load.values[2]!['P_gen_kW'] = 5;
  (j.battery_specs[0] as Record<string, unknown>)['bat_capacity_kWh'] = 800;
  t.same(problems(j), [], '1e9 itself is accepted');
});
