/**
 * Grid bench: Newton power flow and WLS state estimation on MATPOWER cases (test/gridstate/fixtures)
 * from case14 to case_ACTIVSg2000. Per case: buses, branches, the power flow's and the estimator's
 * median time in steady state (after warm-up runs; model build and ordering included, as the CLI
 * and the analyzer run them), their iterations, and the heap growth of one estimate. The estimator
 * gets the full measurement set from MATPOWER's solution with seeded Gaussian noise.
 */
import { prng } from '../../algorithms/common/prng.js';
import { estimateState } from '../../algorithms/grid/estimator.js';
import { prepareMeasurements } from '../../algorithms/grid/measurements.js';
import { buildModel } from '../../algorithms/grid/model.js';
import { runPowerFlow } from '../../algorithms/grid/powerflow.js';
import { gaussian, loadCase, reference, referenceMeasurements } from '../gridstate/fixtures.js';

const CASES = ['case14', 'case30', 'case118', 'case300', 'case1354pegase', 'case_ACTIVSg2000'];

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

/** Runs `f` until `budgetMs` is spent (at least `min` times) after `warm` warm-up runs; median ms. */
function time(f: () => void, budgetMs: number, warm = 3, min = 3): { ms: number; runs: number } {
  for (let i = 0; i < warm; i++) f();
  const xs: number[] = [];
  const end = performance.now() + budgetMs;
  while (xs.length < min || (performance.now() < end && xs.length < 2000)) {
    const t0 = performance.now();
    f();
    xs.push(performance.now() - t0);
  }
  return { ms: median(xs), runs: xs.length };
}

export async function benchGrid(): Promise<Record<string, unknown>> {
  const out: Record<string, unknown> = {};
  const only = process.env.GRIDEDGE_BENCH_CASES?.split(',');
  for (const name of CASES) {
    if (only && !only.includes(name)) continue;
    const net = loadCase(name);
    const ref = reference(name);
    const pf = runPowerFlow(net);
    const pfTime = time(() => void runPowerFlow(net), name.startsWith('case14') ? 500 : 1500);
    const g = gaussian(prng(42));
    const list = referenceMeasurements(net, ref, (s) => s * g());
    const m = buildModel(net);
    const meas = prepareMeasurements(m, list, net.baseMVA);
    const se = estimateState(m, meas);
    const seTime = time(() => void estimateState(m, meas), 2000, 2, 3);
    const heap0 = process.memoryUsage().heapUsed;
    estimateState(m, meas);
    const heap1 = process.memoryUsage().heapUsed;
    out[name] = {
      buses: net.buses.length,
      branches: net.branches.length,
      pf: { ms: +pfTime.ms.toFixed(3), runs: pfTime.runs, iterations: pf.iterations, converged: pf.converged },
      se: { ms: +seTime.ms.toFixed(3), runs: seTime.runs, iterations: se.iterations, measurements: meas.length, J: +se.J.toFixed(1), dof: se.dof, bad_data: se.bad_data.length },
      se_heap_growth_kib: Math.max(0, Math.round((heap1 - heap0) / 1024)),
      rss_mib: Math.round(process.memoryUsage().rss / 2 ** 20),
    };
  }
  const per = (k: 'pf' | 'se') =>
    Object.fromEntries(Object.entries(out).map(([n, v]) => [n, +(((v as Record<string, { ms: number }>)[k]!.ms * 1000) / (v as { buses: number }).buses).toFixed(2)]));
  out['us_per_bus'] = { pf: per('pf'), se: per('se') };
  out['goals'] = { 'case14 pf < 0.5 ms': (out['case14'] as { pf: { ms: number } } | undefined)?.pf.ms, 'case118 se < 10 ms': (out['case118'] as { se: { ms: number } } | undefined)?.se.ms };
  return out;
}
