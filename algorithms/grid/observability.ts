/**
 * Numerical observability check, run before the estimator solves (decoupled linear models, as in
 * Abur & Expósito, "Power System State Estimation", ch. 4):
 *
 * - P-θ: every branch taken with unit admittance; a P flow measurement is the row e_f − e_t, a P
 *   injection the Laplacian row of its bus, a PMU angle (va) the row e_i. In each island without an
 *   angle measurement, the reference buses are fixed (row e_ref); an island with one has none fixed.
 * - Q-V: the same with Q measurements, and a voltage magnitude measurement (vm) as the row e_i.
 *
 * The gain H'H of each model is factored (LDLᵀ); zero pivots mean unobservable states. The null
 * space vectors then show which angles (or magnitudes) the measurements do not determine: the buses
 * where they are not zero. The branches across which they differ are unobservable; the rest group
 * the unobservable buses into islands, which the result names.
 */
import { busList, islands, type GridModel } from './model.js';
import type { Meas } from './measurements.js';
import { ldlFactor, ldlNullSpace, ldlSymbolic, minimumDegree, Pattern } from './sparse.js';

export interface ObservabilityResult {
  observable: boolean;
  /** Bus numbers whose angle (P-θ) or magnitude (Q-V) the set does not determine. */
  unobservableAngles: number[];
  unobservableMagnitudes: number[];
  /** Groups of those buses (bus numbers), each observable within itself but not tied to the rest. */
  islands: number[][];
  /** One line saying why, when not observable. */
  reason?: string;
}

function check(m: GridModel, rows: { cols: number[]; vals: number[] }[]): { buses: number[]; islands: number[][] } {
  const n = m.n;
  const ri: number[] = [];
  const ci: number[] = [];
  const vals: number[] = [];
  for (const r of rows)
    for (let a = 0; a < r.cols.length; a++)
      for (let b = 0; b < r.cols.length; b++) {
        ri.push(r.cols[a]!);
        ci.push(r.cols[b]!);
        vals.push(r.vals[a]! * r.vals[b]!);
      }
  // Every (energized) bus gets a diagonal entry so that an unmeasured bus shows as a zero pivot;
  // isolated buses get 1 (they are not states).
  for (let i = 0; i < n; i++) {
    ri.push(i);
    ci.push(i);
    vals.push(m.energized[i] ? 0 : 1);
  }
  const pat = new Pattern(n, n, ri, ci);
  const g = pat.fill(vals);
  const adj: number[][] = Array.from({ length: n }, () => []);
  for (let j = 0; j < n; j++) for (let p = g.colPtr[j]!; p < g.colPtr[j + 1]!; p++) if (g.rowIdx[p] !== j) adj[j]!.push(g.rowIdx[p]!);
  const sym = ldlSymbolic(g, minimumDegree(adj));
  const f = ldlFactor(g, sym, 1e-9);
  if (!f.zeroPivots.length) return { buses: [], islands: [] };
  const ns = ldlNullSpace(f);
  const tol = 1e-6;
  const bad = new Uint8Array(n);
  for (const v of ns) {
    let scale = 0;
    for (let i = 0; i < n; i++) scale = Math.max(scale, Math.abs(v[i]!));
    for (let i = 0; i < n; i++) if (Math.abs(v[i]!) > tol * scale) bad[i] = 1;
  }
  // Islands of unobservable buses over branches across which no null vector varies.
  const parent = Int32Array.from({ length: n }, (_, i) => i);
  const find = (i: number): number => {
    while (parent[i] !== i) i = parent[i] = parent[parent[i]!]!;
    return i;
  };
  for (let l = 0; l < m.f.length; l++) {
    if (!m.on[l]) continue;
    const a = m.f[l]!;
    const b = m.t[l]!;
    if (!bad[a] || !bad[b]) continue;
    let same = true;
    for (const v of ns) {
      let scale = 0;
      for (let i = 0; i < n; i++) scale = Math.max(scale, Math.abs(v[i]!));
      if (Math.abs(v[a]! - v[b]!) > tol * scale) same = false;
    }
    if (same) parent[find(a)] = find(b);
  }
  const groups = new Map<number, number[]>();
  const buses: number[] = [];
  for (let i = 0; i < n; i++) {
    if (!bad[i]) continue;
    buses.push(i);
    const r = find(i);
    const gr = groups.get(r);
    if (gr) gr.push(i);
    else groups.set(r, [i]);
  }
  return { buses, islands: [...groups.values()] };
}

function laplacianRow(m: GridModel, i: number): { cols: number[]; vals: number[] } {
  // The neighbours of bus i are the off-diagonal columns of its Ybus row (in-service branches).
  const cols = [i];
  const vals = [0];
  for (let k = m.yRow[i]!; k < m.yRow[i + 1]!; k++) {
    const j = m.yCol[k]!;
    if (j === i) continue;
    vals[0]!++;
    cols.push(j);
    vals.push(-1);
  }
  return { cols, vals };
}

/**
 * The buses whose angle is not a state (fixed at the network's value): in each island without a PMU
 * angle (va) measurement, its reference buses; in an island with one, none (the PMUs give the
 * reference there).
 */
export function fixedAngles(m: GridModel, meas: readonly Meas[]): Uint8Array {
  const isl = islands(m);
  const islandOf = new Int32Array(m.n).fill(-1);
  isl.forEach((g, k) => g.forEach((i) => (islandOf[i] = k)));
  const hasVa = new Uint8Array(isl.length);
  for (const z of meas) if (z.type === 'va') hasVa[islandOf[z.at]!] = 1;
  const fixed = new Uint8Array(m.n);
  for (let i = 0; i < m.n; i++) if (islandOf[i]! >= 0 && !hasVa[islandOf[i]!] && m.net.buses[i]!.type === 'ref') fixed[i] = 1;
  return fixed;
}

/**
 * Checks that `meas` determines every bus angle and magnitude (see the file comment). `fixed`: the
 * buses whose angle is not a state (default: fixedAngles(m, meas)).
 */
export function checkObservability(m: GridModel, meas: readonly Meas[], fixed: Uint8Array = fixedAngles(m, meas)): ObservabilityResult {
  const pRows: { cols: number[]; vals: number[] }[] = [];
  const qRows: { cols: number[]; vals: number[] }[] = [];
  for (const z of meas) {
    const rows = z.type === 'p_flow' || z.type === 'p_inj' || z.type === 'va' ? pRows : qRows;
    if (z.type === 'p_flow' || z.type === 'q_flow') rows.push({ cols: [m.f[z.at]!, m.t[z.at]!], vals: [1, -1] });
    else if (z.type === 'p_inj' || z.type === 'q_inj') rows.push(laplacianRow(m, z.at));
    else rows.push({ cols: [z.at], vals: [1] });
  }
  for (let i = 0; i < m.n; i++) if (fixed[i]) pRows.push({ cols: [i], vals: [1] });
  const p = check(m, pRows);
  const q = check(m, qRows);
  const res: ObservabilityResult = {
    observable: !p.buses.length && !q.buses.length,
    unobservableAngles: p.buses.map((i) => m.busIds[i]!),
    unobservableMagnitudes: q.buses.map((i) => m.busIds[i]!),
    islands: [...p.islands, ...q.islands].map((g) => g.map((i) => m.busIds[i]!)),
  };
  if (!res.observable) {
    const parts: string[] = [];
    const say = (what: string, by: string, r: { buses: number[]; islands: number[][] }) => {
      if (!r.buses.length) return;
      const groups = r.islands.length > 1 ? ` (${r.islands.length} islands: ${r.islands.slice(0, 5).map((g) => `{${busList(m, g, 5)}}`).join(', ')}${r.islands.length > 5 ? ', ...' : ''})` : '';
      parts.push(`the voltage ${what} of buses ${busList(m, r.buses)} are not determined by the ${by} measurements${groups}`);
    };
    say('angles', 'P and angle', p);
    say('magnitudes', 'Q and magnitude', q);
    res.reason = `unobservable: ${parts.join('; ')}`;
  }
  return res;
}
