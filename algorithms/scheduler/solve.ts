/**
 * Solving an `LpModel` with HiGHS (the `highs` npm package, WebAssembly) and turning a job into a
 * result. The Wasm runtime is loaded once per process (asynchronously) and reused; each solve makes
 * a fresh native model that is disposed afterwards, so solves share no state. A solve is synchronous
 * and blocks the calling thread until HiGHS finishes or reaches the time limit.
 *
 * Status is reported as HiGHS found it: `optimal` (with the relative MIP gap), `time_limit` (with the
 * best schedule found so far, if any, and its gap), `infeasible` (with the constraint families whose
 * removal alone makes the job feasible, found by re-solving without each), or `failed`.
 */
import highsModule, { type Highs } from 'highs';
import type { Job, ModelVariant } from './job.js';
import type { LpModel } from './lp-model.js';
import { buildModel, extractSchedule, FAMILIES } from './optimisation.js';
import type { ScheduleResult } from './result.js';

// The package's types describe a CommonJS module while Node loads its ES build: take the loader
// function from wherever the module system put it.
type Loader = () => Promise<Highs>;
const highsLoader: Loader = ((highsModule as unknown as { default?: Loader }).default ?? highsModule) as unknown as Loader;
let runtime: Promise<Highs> | undefined;

/** The shared HiGHS runtime (loaded on first use). */
export function loadHighs(): Promise<Highs> {
  runtime ??= highsLoader();
  return runtime;
}

export interface SolveOptions {
  /** Seconds; the best schedule found by then is returned with status `time_limit`. Default 60. */
  timeLimitS?: number;
  /** Relative MIP gap at which HiGHS stops (default 1e-6, so objectives are exact to ~1e-6). */
  mipRelGap?: number;
}

export interface LpSolution {
  status: 'optimal' | 'time_limit' | 'infeasible' | 'failed';
  /** HiGHS's own status name, for messages. */
  highsStatus: string;
  objective: number | null;
  mipGap: number | null;
  x: Float64Array | null;
  ms: number;
}

const STATUS_NAMES: Record<number, string> = {
  0: 'not set', 1: 'load error', 2: 'model error', 3: 'presolve error', 4: 'solve error', 5: 'postsolve error',
  6: 'empty', 7: 'optimal', 8: 'infeasible', 9: 'infeasible or unbounded', 10: 'unbounded',
  11: 'objective bound reached', 12: 'objective target reached', 13: 'time limit reached', 14: 'iteration limit reached',
  15: 'interrupted', 16: 'unknown',
};

/** Solves a model (minimising) and reports what HiGHS found. */
export async function solveModel(model: LpModel, opts: SolveOptions = {}): Promise<LpSolution> {
  const highs = await loadHighs();
  const t0 = performance.now();
  const h = highs.createModel();
  try {
    h.options.set({ output_flag: false, time_limit: opts.timeLimitS ?? 60, mip_rel_gap: opts.mipRelGap ?? 1e-6 });
    const data = model.toHighsData();
    h.passModel({ ...data, sense: highs.constants.objectiveSense.minimize, integrality: data.integrality as never });
    h.run();
    const code = h.getModelStatus() as number;
    const highsStatus = STATUS_NAMES[code] ?? `status ${code}`;
    const hasPrimal = Number(h.info.get('primal_solution_status')) === 2;
    const isMip = model.cols.some((c) => c.type === 'binary');
    const gap = isMip && hasPrimal ? Number(h.info.get('mip_gap')) : hasPrimal ? 0 : null;
    const x = hasPrimal ? Float64Array.from(h.getSolution().colValue) : null;
    const objective = hasPrimal ? h.getObjectiveValue() : null;
    const ms = performance.now() - t0;
    if (code === 7 || code === 6) return { status: 'optimal', highsStatus, objective, mipGap: gap, x, ms };
    if (code === 8 || code === 9) return { status: 'infeasible', highsStatus, objective: null, mipGap: null, x: null, ms };
    if (code === 13 || code === 14 || code === 15) return { status: 'time_limit', highsStatus, objective, mipGap: gap, x, ms };
    return { status: 'failed', highsStatus, objective, mipGap: gap, x, ms };
  } finally {
    h.dispose();
  }
}

/** Families an infeasible job may be relaxed by, most likely culprit first. */
const RELAXABLE = [FAMILIES.bulk, FAMILIES.final, FAMILIES.limits, FAMILIES.surplus] as const;

/** Optimises a job with the chosen model variant and returns the result document. */
export async function optimise(job: Job, variant: ModelVariant = 'physical', opts: SolveOptions = {}): Promise<ScheduleResult> {
  const bm = buildModel(job, variant);
  const sol = await solveModel(bm.model, opts);
  const base = { control_logic: 'optimization_based' as const, model: variant, soc_at: 'start_of_step' as const, solve_ms: sol.ms };
  if (sol.x && (sol.status === 'optimal' || sol.status === 'time_limit')) {
    return {
      status: sol.status,
      ...base,
      objective: sol.objective,
      mip_gap: sol.mipGap,
      ...(sol.status === 'time_limit' ? { reason: `${sol.highsStatus} after ${(sol.ms / 1000).toFixed(1)} s: the best schedule found so far (relative MIP gap ${sol.mipGap})` } : {}),
      ...extractSchedule(job, bm, sol.x),
    };
  }
  if (sol.status === 'infeasible') {
    const present = new Set(bm.model.families());
    const culprits: string[] = [];
    for (const f of RELAXABLE) {
      if (!present.has(f)) continue;
      const relaxed = await solveModel(bm.model.without(new Set([f])), { ...opts, timeLimitS: Math.min(opts.timeLimitS ?? 60, 10) });
      if (relaxed.status === 'optimal' || relaxed.status === 'time_limit') culprits.push(f);
    }
    return {
      status: 'infeasible',
      ...base,
      objective: null,
      peak_imp_kW: null,
      peak_exp_kW: null,
      mip_gap: null,
      reason: culprits.length
        ? `no schedule satisfies every constraint; dropping any one of these constraint families alone makes it feasible: ${culprits.join(', ')}`
        : 'no schedule satisfies every constraint, and no single relaxable family (bulk_energy, final_soc, net_limits, surplus_step) explains it',
      infeasible_families: culprits,
      schedule: [],
    };
  }
  return {
    status: sol.status === 'time_limit' ? 'time_limit' : 'failed',
    ...base,
    objective: null,
    peak_imp_kW: null,
    peak_exp_kW: null,
    mip_gap: null,
    reason: sol.status === 'time_limit' ? `${sol.highsStatus} before any feasible schedule was found` : `the solver stopped: ${sol.highsStatus}`,
    schedule: [],
  };
}
