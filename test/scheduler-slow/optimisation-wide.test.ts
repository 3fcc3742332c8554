/**
 * The wider (slower) half of test/scheduler/optimisation.test.ts, after the pymfm specification's
 * "Optimisation model": glpsol (GLPK, from the builder's MPS file) and HiGHS agree within 1e-6 relative
 * on pymfm 0.5.5's example `scheduling_optimization_based.json` in the physical variant and on more
 * seeded random jobs, and every schedule property holds on 48 random feasible jobs of 24 steps; a time
 * limit returns the incumbent with its MIP gap, and it satisfies every constraint.
 */
import t from 'tap';
import { normaliseJob, optimise } from '../../algorithms/scheduler/index.js';
import { agreeWithGlpsol, checkRandomSchedules, glpsolObjective, hasGlpsol, relDiff, violations } from '../scheduler/check.js';
import { loadFixture } from '../scheduler/fixtures.js';
import { randomJob } from '../scheduler/random-jobs.js';

t.test('glpsol and HiGHS agree on the pymfm example, physical variant, and on random jobs', { skip: hasGlpsol() ? false : 'glpsol (glpk-utils) not installed: run .ci/setup.sh' }, async (t) => {
  const job = normaliseJob(loadFixture('scheduling_optimization_based.json'));
  const r = await optimise(job, 'physical', { mipRelGap: 1e-9 });
  t.equal(r.status, 'optimal');
  const g = glpsolObjective(job, 'physical', 'example-physical');
  t.ok(relDiff(r.objective!, g) < 1e-6, `HiGHS ${r.objective} vs glpsol ${g}`);
  await agreeWithGlpsol(t, [11, 12, 13, 14, 15, 16], 16, 2, 'w');
});

t.test('48 random feasible jobs of 24 steps: every schedule property holds', async (t) => {
  const n = await checkRandomSchedules(t, Array.from({ length: 24 }, (_, k) => 300 + k), 24);
  t.equal(n, 48);
});

t.test('a time limit returns the best schedule found, with its gap, and it satisfies every constraint', async (t) => {
  // 8 batteries: HiGHS needs several seconds to prove optimality, and the LP-first path does not prove
  // it either (its relaxation's optimum is below the MILP's); 3 s leave branch and bound time to find
  // a schedule on the loaded 2-core test machine.
  const job = randomJob(5, 96, 10);
  const r = await optimise(job, 'physical', { timeLimitS: 3 });
  t.equal(r.schedule.length, 96, 'a schedule is returned');
  if (r.status === 'optimal') t.comment('this machine proved optimality within 3 s: the time-limit path was not reached');
  else {
    t.equal(r.status, 'time_limit', `status ${r.status}`);
    t.ok(r.mip_gap! > 0 && r.mip_gap! < 1, `gap ${r.mip_gap}`);
    t.match(r.reason!, /time limit reached after .* the best schedule found so far \(relative MIP gap /);
  }
  t.equal(violations(job, 'physical', r, r.status === 'time_limit'), '');
});

t.test('the LP-first path proves the same optimum as branch and bound (pymfm example, both variants)', async (t) => {
  const job = normaliseJob(loadFixture('scheduling_optimization_based.json'));
  for (const variant of ['physical', 'pymfm'] as const) {
    const fast = await optimise(job, variant);
    const bb = await optimise(job, variant, { lpFirst: false, mipRelGap: 1e-9 });
    t.equal(fast.status, 'optimal');
    t.equal(fast.solved_by, 'lp_relaxation', `${variant}: proven by the relaxation`);
    t.ok(fast.mip_gap! <= 1e-8, `${variant}: gap ${fast.mip_gap}`);
    t.equal(bb.solved_by, 'branch_and_bound');
    t.ok(relDiff(fast.objective!, bb.objective!) < 1e-6, `${variant}: ${fast.objective} vs branch and bound ${bb.objective}`);
    t.equal(violations(job, variant, fast, false), '', `${variant}: every constraint holds`);
  }
});
