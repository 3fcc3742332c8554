/**
 * `gridedge schedule --input FILE.json [--model pymfm|physical]` through the real CLI process, on
 * pymfm 0.5.5's example files (fixtures/SOURCE.md): the printed JSON has status, objective, peaks and
 * a schedule with per-battery power and SoC; the rule-based schedule carries pymfm's committed values
 * (scheduling_rule_based_output.json); the optimised one satisfies every property of the pymfm model
 * (check.ts). Bad input exits 1 with the file and the reason on stderr.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { normaliseJob, type ScheduleResult } from '../../algorithms/scheduler/index.js';
import { runCli } from '../cli/run-cli.js';
import { violations } from './check.js';
import { fixturePath, loadFixture } from './fixtures.js';

const dir = mkdtempSync(join(tmpdir(), 'sched-cli-'));

t.test('rule-based example: pymfm values, SoC as a fraction', async (t) => {
  const r = await runCli(['schedule', '--input', fixturePath('scheduling_rule_based.json')]);
  t.equal(r.code, 0, r.stderr);
  const out = JSON.parse(r.stdout) as ScheduleResult & { id: string };
  t.equal(out.id, 'scheduling_rule_based');
  t.equal(out.status, 'success');
  t.equal(out.schedule.length, 96);
  const ref = (loadFixture('scheduling_rule_based_output.json') as { results: Record<string, number>[] }).results[43]!;
  const s = out.schedule[43]!;
  t.equal(s.timestamp, '2021-04-01T10:45:00.000000Z');
  t.ok(Math.abs(s.batteries['bat_1']!.P_bat_kW - ref['P_bat_1_kW']!) < 1e-9, 'P_bat_kW as pymfm (charging, positive)');
  t.ok(Math.abs(s.batteries['bat_1']!.SoC - ref['SoC_bat_1_%']! / 100) < 1e-12, 'SoC as a fraction of pymfm percent');
  t.equal(typeof out.objective, 'number');
  t.equal(typeof out.peak_imp_kW, 'number');
  t.equal(typeof out.peak_exp_kW, 'number');
});

t.test('optimisation example with --model pymfm: optimal, every model property holds', async (t) => {
  const file = fixturePath('scheduling_optimization_based.json');
  const r = await runCli(['schedule', '--input', file, '--model', 'pymfm']);
  t.equal(r.code, 0, r.stderr);
  const out = JSON.parse(r.stdout) as ScheduleResult;
  t.equal(out.status, 'optimal');
  t.equal(out.model, 'pymfm');
  t.ok(out.mip_gap !== null && out.mip_gap! <= 1e-6, `MIP gap ${out.mip_gap}`);
  t.same(Object.keys(out.schedule[0]!.batteries), ['bat_1', 'bat_2', 'bat_3']);
  t.equal(violations(normaliseJob(loadFixture('scheduling_optimization_based.json')), 'pymfm', out), '');
});

t.test('bad input: exit 1 naming the file and what is wrong', async (t) => {
  const bad = join(dir, 'bad.json');
  writeFileSync(bad, '{\n  "uc_start": ,\n}');
  let r = await runCli(['schedule', '--input', bad]);
  t.equal(r.code, 1);
  t.match(r.stderr, /^gridedge schedule: .*bad\.json:2:15: not valid JSON: /, 'with the line and column');
  t.equal(r.stdout, '');

  const unknown = join(dir, 'unknown.json');
  writeFileSync(unknown, JSON.stringify({ hello: 'world' }));
  r = await runCli(['schedule', '--input', unknown]);
  t.equal(r.code, 1);
  t.match(r.stderr, /unknown\.json: \(root\): unknown input dialect/);

  const noBat = join(dir, 'nobat.json');
  const j = loadFixture('scheduling_rule_based.json');
  delete j['battery_specs'];
  j['bulk'] = { bulk_start: '2021-04-01T01:00:00Z', bulk_end: '2021-04-01T02:00:00Z', bulk_energy_kWh: 50 };
  writeFileSync(noBat, JSON.stringify(j));
  r = await runCli(['schedule', '--input', noBat]);
  t.equal(r.code, 1);
  t.match(r.stderr, /nobat\.json: battery_specs: at least one battery is required/);

  r = await runCli(['schedule', '--input', fixturePath('scheduling_rule_based.json'), '--model', 'gurobi']);
  t.equal(r.code, 1);
  t.match(r.stderr, /--model must be pymfm or physical, got "gurobi"/);
  r = await runCli(['schedule']);
  t.equal(r.code, 1);
  t.match(r.stderr, /--input FILE\.json is required/);
});

t.test('an infeasible job prints its status and exits 1 with the constraint family', async (t) => {
  const f = join(dir, 'infeasible.json');
  // The example's first eight (night) steps in the service dialect, asked to charge 50 kWh at night:
  // a battery charges only from a surplus, and there is none.
  const ex = loadFixture('scheduling_optimization_based.json') as { generation_and_load: { values: Record<string, number>[] } };
  writeFileSync(f, JSON.stringify({
    id: 'night', control_logic: 'optimization_based', operation_mode: 'scheduling',
    generation_and_load: { values: ex.generation_and_load.values.slice(0, 8).map((v) => ({ timestamp: v['timestamp'], P_available_kW: v['P_gen_kW'], P_required_kW: v['P_load_kW'] })) },
    bulk: { bulk_start: '2021-04-01T00:30:00Z', bulk_end: '2021-04-01T01:30:00Z', bulk_energy_kWh: 50 },
    battery_specs: [{ id: 'bat_1', bat_type: 'cbes', initial_SoC: 0.5, P_dis_max_kW: 300, P_ch_max_kW: 300, min_SoC: 0.1, max_SoC: 0.9, bat_capacity_kWh: 800 }],
  }));
  const r = await runCli(['schedule', '--input', f]);
  t.equal(r.code, 1);
  const out = JSON.parse(r.stdout) as ScheduleResult;
  t.equal(out.status, 'infeasible');
  t.same(out.infeasible_families, ['bulk_energy']);
  t.match(r.stderr, /infeasible\.json: infeasible: .*bulk_energy/);
});
