/**
 * The optimisation (algorithms/scheduler/optimisation.ts, solve.ts), after the pymfm specification's
 * section "Optimisation model":
 *  - independent cross-check: the model builder writes the job's MILP as a free MPS file, Debian's
 *    glpsol (GLPK) solves it, and its optimal objective equals HiGHS's within 1e-6 relative — on
 *    pymfm 0.5.5's example `scheduling_optimization_based.json` (both variants) and on seeded random
 *    jobs with bulk windows;
 *  - properties on seeded random feasible jobs (random-jobs.ts), read back from the printed schedule:
 *    energy balance at every step, SoC within bounds and following the powers, bulk energy met, final
 *    SoC met, power and net limits respected, household batteries never discharge, peaks are the
 *    largest import and export, the objective is what the schedule implies, and the optimum is never
 *    worse than rule-based control where both apply;
 *  - honest status: infeasible jobs name the constraint family, a time limit returns the incumbent.
 */
import t from 'tap';
import { buildModel, normaliseJob, optimise, ruleBased } from '../../algorithms/scheduler/index.js';
import { agreeWithGlpsol, checkRandomSchedules, glpsolObjective, hasGlpsol, relDiff } from './check.js';
import { solveModel } from '../../algorithms/scheduler/solve.js';
import { LpModel } from '../../algorithms/scheduler/lp-model.js';
import { loadFixture } from './fixtures.js';
import { randomJob } from './random-jobs.js';

t.test('glpsol and HiGHS agree on the optimum of the pymfm example (pymfm variant; physical in scheduler-slow)', { skip: hasGlpsol() ? false : 'glpsol (glpk-utils) not installed: run .ci/setup.sh' }, async (t) => {
  const job = normaliseJob(loadFixture('scheduling_optimization_based.json'));
  for (const variant of ['pymfm'] as const) {
    const r = await optimise(job, variant, { mipRelGap: 1e-9 });
    t.equal(r.status, 'optimal', variant);
    const g = glpsolObjective(job, variant, `example-${variant}`);
    t.ok(relDiff(r.objective!, g) < 1e-6, `${variant}: HiGHS ${r.objective} vs glpsol ${g}`);
    t.ok(r.mip_gap !== null && r.mip_gap! <= 1e-6, `${variant}: MIP gap ${r.mip_gap} reported`);
  }
});

t.test('glpsol and HiGHS agree on random jobs with bulk windows and final SoC', { skip: hasGlpsol() ? false : 'glpsol (glpk-utils) not installed' }, async (t) => {
  await agreeWithGlpsol(t, [3, 7], 16, 2, 'r');
});

t.test('random feasible jobs: balance, SoC, bulk, final SoC, limits, peaks and objective hold', async (t) => {
  const n = await checkRandomSchedules(t, [100, 101, 102, 103, 104, 105], 16);
  t.equal(n, 12, 'every random job solved to optimality and checked (more in scheduler-slow)');
});

t.test('the physical optimum is never worse than rule-based control (which it can follow)', async (t) => {
  let better = 0;
  for (let seed = 200; seed < 203; seed++) {
    const job = randomJob(seed, 16);
    delete job.bulk;
    job.limits = job.limits.map(() => ({}));
    job.pvCurtailment = false;
    for (const b of job.batteries) {
      delete b.finalSoc;
      b.type = 'cbes';
    }
    const rb = ruleBased(job);
    // Without a final SoC many schedules tie; a 1e-4 gap keeps the solve short and is allowed for.
    const opt = await optimise(job, 'physical', { mipRelGap: 1e-4 });
    t.equal(opt.status, 'optimal');
    t.ok(opt.objective! <= rb.objective! * (1 + 1e-4) + 1e-6, `seed ${seed}: optimum ${opt.objective} ≤ rule-based ${rb.objective}`);
    if (opt.objective! < rb.objective! - 1e-3) better++;
  }
  t.ok(better > 0, `strictly better on ${better} of 3 jobs (the comparison is not vacuous)`);
});

t.test('an infeasible job is reported with the constraint family that makes it so', async (t) => {
  // The example with a bulk charge larger than the surplus steps of its window can absorb (at night).
  const raw = loadFixture('scheduling_optimization_based.json');
  const job = normaliseJob({ ...raw, bulk: { bulk_start: '2021-04-01T01:00:00Z', bulk_end: '2021-04-01T02:00:00Z', bulk_energy_kWh: 50 } });
  const r = await optimise(job, 'physical');
  t.equal(r.status, 'infeasible');
  t.same(r.infeasible_families, ['bulk_energy']);
  t.match(r.reason!, /bulk_energy/);
  t.same(r.schedule, []);
  // A final SoC the battery cannot reach within its power limit.
  const j2 = normaliseJob({ ...raw, P_net_after_kW_limitation: undefined, battery_specs: [{ ...(raw['battery_specs'] as Record<string, unknown>[])[0], P_ch_max_kW: 1, P_dis_max_kW: 1, final_SoC: 10 }] });
  const r2 = await optimise(j2, 'pymfm');
  t.equal(r2.status, 'infeasible');
  t.same(r2.infeasible_families, ['final_soc']);
});

t.test('a time limit returns the incumbent with its gap, or says none was found', async (t) => {
  const job = randomJob(5, 96 * 2, 6);
  const bm = buildModel(job, 'physical');
  const sol = await solveModel(bm.model, { timeLimitS: 0.05, mipRelGap: 0 });
  t.ok(['time_limit', 'optimal'].includes(sol.status), `status ${sol.status} (${sol.highsStatus})`);
  t.comment(`0.05 s limit on ${job.timestamps.length} steps × ${job.batteries.length} batteries: ${sol.status}, gap ${sol.mipGap}`);
  if (sol.status === 'time_limit') {
    t.ok(sol.x === null || (sol.mipGap !== null && sol.objective !== null), 'an incumbent comes with its objective and gap');
    const r = await optimise(job, 'physical', { timeLimitS: 0.05, mipRelGap: 0 });
    t.equal(r.status, 'time_limit');
    t.match(r.reason!, /time limit reached/);
  }
});

t.test('a model HiGHS refuses to load (a bound at its infinity, 1e20) is reported failed with the reason, not thrown', async (t) => {
  const m = new LpModel();
  const x = m.addVar('x', { lb: 0, ub: 10 });
  m.ge('demand', 'demand', [[1, x]], 1e25);
  m.minimise([[1, x]]);
  const r = await solveModel(m);
  t.equal(r.status, 'failed');
  t.match(r.highsStatus, /^model refused: /);
  t.equal(r.x, null);
});
