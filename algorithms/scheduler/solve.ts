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
import type { Highs } from 'highs';
import { loadOnce } from '../common/load-once.js';
import type { Job, ModelVariant } from './job.js';
import type { LpModel, Var } from './lp-model.js';
import { buildModel, extractSchedule, FAMILIES, type BuiltModel } from './optimisation.js';
import type { ScheduleResult } from './result.js';

// The package's types describe a CommonJS module while Node loads its ES build: take the loader
// function from wherever the module system put it.
type Loader = () => Promise<Highs>;

/**
 * The shared HiGHS runtime, loaded on first use: the module itself (about 7 MB of memory with its
 * embedded WebAssembly) is imported only then, so a process that never solves (the agent's main
 * thread; solves run in the scheduler's worker) never loads it. A failed load is tried again at the
 * next call.
 */
export const loadHighs: () => Promise<Highs> = loadOnce(() =>
  import('highs').then((mod) => {
    const m = mod as unknown as { default?: Loader | { default?: Loader } };
    const loader = (typeof m.default === 'function' ? m.default : m.default?.default) as Loader;
    return loader();
  }),
);

export interface SolveOptions {
  /** Seconds; the best schedule found by then is returned with status `time_limit`. Default 60. */
  timeLimitS?: number;
  /** Relative MIP gap at which HiGHS stops (default 1e-6, so objectives are exact to ~1e-6). */
  mipRelGap?: number;
  /** Try the LP-first path before branch and bound (default true; see `lpFirst`). */
  lpFirst?: boolean;
  /** A feasible solution handed to HiGHS as the MIP's starting incumbent. */
  start?: Float64Array;
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
    try {
      h.passModel({ ...data, sense: highs.constants.objectiveSense.minimize, integrality: data.integrality as never });
    } catch (err) {
      // HiGHS refuses the model itself (bounds or coefficients it cannot represent): no solve at all.
      return { status: 'failed', highsStatus: `model refused: ${(err as Error).message}`, objective: null, mipGap: null, x: null, ms: performance.now() - t0 };
    }
    if (opts.start) h.setSolution({ colValue: opts.start });
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

/**
 * The LP-first path. The relaxation without the switch rows (families charge_or_discharge and
 * import_or_export) bounds the MILP's optimum from below by its own optimum z*; a schedule that
 * respects every switch and reaches z* is therefore optimal for the MILP. Two LPs look for one: the
 * first gives z*; the second, among the solutions within z* (1e-9 relative), minimises the energy
 * throughput Σ (P_ch + P_dis + import + export), which removes every simultaneous charge and
 * discharge that costs nothing to remove. The switches are then set from the powers and every row of
 * the full model is checked (1e-6 tolerance, scaled). When only exclusive-switch rows are broken
 * (a battery still charging and discharging at once, at most 20 of them), a small MILP with every other switch fixed where
 * the LP put it repairs them; its schedule is proven optimal only if it still reaches z* (1e-7
 * relative), and otherwise is returned as a start for branch and bound. Any other violation or an LP
 * that is not optimal proves nothing; the caller then solves the full MILP with branch and bound. The
 * whole path takes at most 40 % of the time limit. The reported gap is (objective − z*)/max(1, objective).
 */
/** Most broken exclusive-switch pairs the LP path repairs with a small MILP. */
const REPAIR_MAX_PAIRS = 20;

export interface LpFirstOutcome {
  /** The proven-optimal solution, or null when the LP path did not prove optimality. */
  proven: LpSolution | null;
  /** A feasible solution found on the way (the repair's), to start branch and bound from. */
  start: Float64Array | null;
}

export async function lpFirst(bm: BuiltModel, opts: SolveOptions = {}): Promise<LpFirstOutcome> {
  const t0 = performance.now();
  const switches = new Set<string>([FAMILIES.chDis, FAMILIES.impExp]);
  const full = bm.model;
  const none: LpFirstOutcome = { proven: null, start: null };
  if (!full.cols.some((c) => c.type === 'binary')) return none;
  const relaxed = full.without(switches);
  for (const c of relaxed.cols) if (c.type === 'binary') c.type = 'continuous';
  // The whole path gets at most 40 % of the time limit, so branch and bound keeps the rest.
  const limit = (opts.timeLimitS ?? 60) * 0.4;
  const lp1 = await solveModel(relaxed, { ...opts, timeLimitS: limit });
  if (lp1.status !== 'optimal' || lp1.objective === null) return none;
  const z = lp1.objective;
  const costTerms: [number, Var][] = [];
  full.cols.forEach((c, i) => {
    if (c.cost !== 0) costTerms.push([c.cost, { index: i, name: c.name }]);
  });
  relaxed.le('objective_bound', 'objective_bound', costTerms, z + 1e-9 * Math.max(1, Math.abs(z)));
  const flow: [number, Var][] = [];
  for (const list of [...bm.pCh, ...bm.pDis, bm.imp, bm.exp]) for (const v of list) flow.push([1, v]);
  relaxed.minimise(flow);
  const lp2 = await solveModel(relaxed, { ...opts, timeLimitS: Math.max(0.1, limit - (performance.now() - t0) / 1000) });
  if (lp2.status !== 'optimal' || !lp2.x) return none;
  const x = Float64Array.from(lp2.x);
  // Switches: on exactly where their power flows (rows `power ≤ M · switch`).
  for (const r of full.rows) {
    if (!switches.has(r.family) || r.idx.length !== 2) continue;
    const k = r.val[0]! > 0 && r.val[1]! < 0 ? 0 : r.val[1]! > 0 && r.val[0]! < 0 ? 1 : -1;
    if (k < 0) continue;
    const power = r.idx[k]!;
    const sw = r.idx[1 - k]!;
    if (full.cols[sw]!.type === 'binary') x[sw] = x[power]! > 1e-9 ? 1 : 0;
  }
  // Rows the powers violate: only an exclusive-switch row (both of its switches on: a battery that
  // charges and discharges at once, or import and export at once) can be; anything else means the
  // LP path does not apply.
  const violated = full.rows.filter((r) => {
    let a = 0;
    let scale = 1;
    for (let j = 0; j < r.idx.length; j++) {
      a += r.val[j]! * x[r.idx[j]!]!;
      scale = Math.max(scale, Math.abs(r.val[j]! * x[r.idx[j]!]!));
    }
    return a < r.lb - 1e-6 * scale || a > r.ub + 1e-6 * scale;
  });
  const isXor = (r: (typeof full.rows)[number]): boolean =>
    switches.has(r.family) && r.idx.every((i) => full.cols[i]!.type === 'binary');
  // Repairing many pairs is a MILP of its own: beyond REPAIR_MAX_PAIRS branch and bound gets the time.
  if (violated.some((r) => !isXor(r)) || violated.length > REPAIR_MAX_PAIRS) return none;
  let sol: { x: Float64Array; objective: number } = { x, objective: full.objectiveOf(x) };
  if (violated.length) {
    // Repair: every other switch fixed where the LP put it, the few violated pairs left to a small
    // MILP. Its schedule is optimal only when it still reaches z* (the LP bound); otherwise null.
    const free = new Set(violated.flatMap((r) => r.idx));
    const restricted = full.without(new Set());
    restricted.cols.forEach((c, i) => {
      if (c.type === 'binary' && !free.has(i)) c.lb = c.ub = x[i]!;
    });
    const left = limit - (performance.now() - t0) / 1000;
    if (left < 0.05) return none;
    const mip = await solveModel(restricted, { ...opts, timeLimitS: left });
    if (!mip.x || mip.objective === null) return none;
    if (mip.status !== 'optimal' || mip.objective > z + 1e-7 * Math.max(1, Math.abs(z))) return { proven: null, start: mip.x };
    sol = { x: mip.x, objective: mip.objective };
  }
  const { objective } = sol;
  // Relative to the objective, or absolute (kW) when the objective is below 1 (a job islanded to ~0).
  const mipGap = Math.max(0, (objective - z) / Math.max(1, Math.abs(objective)));
  return {
    proven: { status: 'optimal', highsStatus: 'optimal (the LP relaxation reached by a schedule that respects every switch)', objective, mipGap, x: sol.x, ms: performance.now() - t0 },
    start: sol.x,
  };
}

/** Families an infeasible job may be relaxed by, most likely culprit first. */
const RELAXABLE = [FAMILIES.bulk, FAMILIES.final, FAMILIES.limits, FAMILIES.surplus] as const;

/** Optimises a job with the chosen model variant and returns the result document. */
export async function optimise(job: Job, variant: ModelVariant = 'physical', opts: SolveOptions = {}): Promise<ScheduleResult> {
  const bm = buildModel(job, variant);
  // LP first (two LPs, usually a fraction of branch and bound); the MILP only when that does not
  // prove optimality, with the time left.
  const t0 = performance.now();
  const lp = opts.lpFirst === false ? { proven: null, start: null } : await lpFirst(bm, opts);
  const fast = lp.proven;
  const left = Math.max(0.1, (opts.timeLimitS ?? 60) - (performance.now() - t0) / 1000);
  const sol = fast ?? (await solveModel(bm.model, { ...opts, timeLimitS: left, ...(lp.start ? { start: lp.start } : {}) }));
  if (!fast) sol.ms = performance.now() - t0;
  const base = { control_logic: 'optimization_based' as const, model: variant, soc_at: 'start_of_step' as const, solve_ms: sol.ms, solved_by: fast ? ('lp_relaxation' as const) : ('branch_and_bound' as const) };
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
