/**
 * Newton–Raphson power flow in polar coordinates. Unknowns: the angle of every PV and PQ bus and
 * the magnitude of every PQ bus; equations: the active power mismatch of PV and PQ buses and the
 * reactive mismatch of PQ buses. The Jacobian is assembled sparse (its pattern is built once per
 * bus-type assignment and refilled each iteration) and solved with the sparse LU of sparse.ts in a
 * minimum-degree order of the bus graph (each bus's angle and magnitude columns kept together).
 *
 * Start: the bus table's vm/va, with the set point vg of the first in-service generator at PV and
 * reference buses. A PV bus without an in-service generator is solved as PQ. Converged when the
 * largest mismatch is below `tol` (pu). With `enforceQLimits`, a PV generator bus whose reactive
 * output leaves [qmin, qmax] is switched to PQ at that limit and the flow is solved again, until no
 * limit is violated.
 */
import { GridInputError } from './errors.js';
import { branchFlow, buildModel, checkIslands, injections, voltages, type GridModel } from './model.js';
import type { Network } from './network.js';
import { luFactor, luSolve, minimumDegree, Pattern, SingularMatrixError } from './sparse.js';

export interface PowerFlowOptions {
  tol?: number;
  maxIter?: number;
  enforceQLimits?: boolean;
  /** Name of the input, for messages. */
  file?: string;
}

export interface PowerFlowResult {
  converged: boolean;
  iterations: number;
  /** Largest remaining mismatch (pu). */
  mismatch: number;
  buses: { bus: number; vm: number; va_deg: number }[];
  gens: { row: number; bus: number; pg_mw: number; qg_mvar: number }[];
  branches: { branch: number; from: number; to: number; pf_mw: number; qf_mvar: number; pt_mw: number; qt_mvar: number }[];
  /** Internal state (pu, radians) for callers that continue from it. */
  vm: Float64Array;
  va: Float64Array;
  model: GridModel;
  /** Buses switched from PV to PQ by reactive limits. */
  qLimited: number[];
}

/** Bus-level minimum-degree order of the Ybus graph. */
export function busOrder(m: GridModel): Int32Array {
  const adj: number[][] = [];
  for (let i = 0; i < m.n; i++) {
    const a: number[] = [];
    for (let k = m.yRow[i]!; k < m.yRow[i + 1]!; k++) if (m.yCol[k] !== i) a.push(m.yCol[k]!);
    adj.push(a);
  }
  return minimumDegree(adj);
}

interface Layout {
  th: Int32Array;
  vv: Int32Array;
  nx: number;
  pattern: Pattern;
  q: Int32Array;
}

function layout(m: GridModel, kind: Uint8Array, order: Int32Array): Layout {
  // kind: 0 pq, 1 pv, 2 ref, 3 not solved (isolated)
  const th = new Int32Array(m.n).fill(-1);
  const vv = new Int32Array(m.n).fill(-1);
  let nx = 0;
  const q: number[] = [];
  for (const i of order) {
    if (kind[i] === 0 || kind[i] === 1) {
      th[i] = nx++;
      q.push(th[i]!);
    }
    if (kind[i] === 0) {
      vv[i] = nx++;
      q.push(vv[i]!);
    }
  }
  const rows: number[] = [];
  const cols: number[] = [];
  for (let i = 0; i < m.n; i++) {
    const eqs = [th[i]!, vv[i]!];
    for (let k = m.yRow[i]!; k < m.yRow[i + 1]!; k++) {
      const j = m.yCol[k]!;
      for (const r of eqs) {
        rows.push(r, r);
        cols.push(th[j]!, vv[j]!);
      }
    }
  }
  // Keep only pairs where both the equation and the unknown exist; remember which.
  const keepR: number[] = [];
  const keepC: number[] = [];
  for (let t = 0; t < rows.length; t++)
    if (rows[t]! >= 0 && cols[t]! >= 0) {
      keepR.push(rows[t]!);
      keepC.push(cols[t]!);
    }
  return { th, vv, nx, pattern: new Pattern(nx, nx, keepR, keepC), q: Int32Array.from(q) };
}

/** Runs the power flow; throws GridInputError for islands without a slack or a singular Jacobian. */
export function runPowerFlow(net: Network, opts: PowerFlowOptions = {}): PowerFlowResult {
  const tol = opts.tol ?? 1e-8;
  const maxIter = opts.maxIter ?? 30;
  const file = opts.file ?? net.name;
  const m = buildModel(net);
  checkIslands(m, file);
  const n = m.n;
  const kind = new Uint8Array(n);
  const vm = new Float64Array(n);
  const va = new Float64Array(n);
  const hasGen = new Uint8Array(n);
  const genVg = new Float64Array(n);
  for (const g of net.gens) {
    if (!g.status) continue;
    const i = m.index.get(g.bus)!;
    if (!hasGen[i]) genVg[i] = g.vg;
    hasGen[i] = 1;
  }
  net.buses.forEach((b, i) => {
    kind[i] = b.type === 'ref' ? 2 : b.type === 'isolated' ? 3 : b.type === 'pv' && hasGen[i] ? 1 : 0;
    vm[i] = b.vm;
    va[i] = (b.va_deg * Math.PI) / 180;
    if (hasGen[i] && (kind[i] === 1 || kind[i] === 2)) vm[i] = genVg[i]!;
  });
  const order = busOrder(m);
  const pSpec = m.pSpec.slice();
  const qSpec = m.qSpec.slice();
  const qLimited: number[] = [];
  let total = 0;
  let res = newton(m, kind, order, vm, va, pSpec, qSpec, tol, maxIter, file);
  total += res.iterations;
  if (opts.enforceQLimits && res.converged) {
    for (let round = 0; round < n; round++) {
      const { re, im } = voltages(vm, va);
      const p = new Float64Array(n);
      const qc = new Float64Array(n);
      injections(m, re, im, p, qc, new Float64Array(n), new Float64Array(n));
      const qmax = new Float64Array(n);
      const qmin = new Float64Array(n);
      for (const g of net.gens) {
        if (!g.status) continue;
        const i = m.index.get(g.bus)!;
        qmax[i]! += g.qmax / net.baseMVA;
        qmin[i]! += g.qmin / net.baseMVA;
      }
      let changed = false;
      for (let i = 0; i < n; i++) {
        if (kind[i] !== 1) continue;
        const qg = qc[i]! + net.buses[i]!.qd / net.baseMVA;
        const lim = qg > qmax[i]! + tol ? qmax[i]! : qg < qmin[i]! - tol ? qmin[i]! : undefined;
        if (lim === undefined) continue;
        kind[i] = 0;
        qSpec[i] = lim - net.buses[i]!.qd / net.baseMVA;
        qLimited.push(m.busIds[i]!);
        changed = true;
      }
      if (!changed) break;
      res = newton(m, kind, order, vm, va, pSpec, qSpec, tol, maxIter, file);
      total += res.iterations;
      if (!res.converged) break;
    }
  }
  return report(m, net, vm, va, res.converged, total, res.mismatch, qLimited);
}

function newton(
  m: GridModel,
  kind: Uint8Array,
  order: Int32Array,
  vm: Float64Array,
  va: Float64Array,
  pSpec: Float64Array,
  qSpec: Float64Array,
  tol: number,
  maxIter: number,
  file: string,
): { converged: boolean; iterations: number; mismatch: number } {
  const n = m.n;
  const lay = layout(m, kind, order);
  const { th, vv, nx, pattern } = lay;
  const p = new Float64Array(n);
  const q = new Float64Array(n);
  const iRe = new Float64Array(n);
  const iIm = new Float64Array(n);
  const F = new Float64Array(nx);
  const vals = new Float64Array(pattern.slot.length);
  const vRe = new Float64Array(n);
  const vIm = new Float64Array(n);
  const mismatch = (): number => {
    for (let i = 0; i < n; i++) {
      vRe[i] = vm[i]! * Math.cos(va[i]!);
      vIm[i] = vm[i]! * Math.sin(va[i]!);
    }
    injections(m, vRe, vIm, p, q, iRe, iIm);
    let worst = 0;
    for (let i = 0; i < n; i++) {
      if (th[i]! >= 0) {
        const d = p[i]! - pSpec[i]!;
        F[th[i]!] = d;
        worst = Math.max(worst, Math.abs(d));
      }
      if (vv[i]! >= 0) {
        const d = q[i]! - qSpec[i]!;
        F[vv[i]!] = d;
        worst = Math.max(worst, Math.abs(d));
      }
    }
    return worst;
  };
  let worst = mismatch();
  let it = 0;
  while (worst >= tol && it < maxIter) {
    if (!Number.isFinite(worst)) break;
    it++;
    // Jacobian values in the order the layout listed its pairs.
    let t = 0;
    for (let i = 0; i < n; i++) {
      const ti = th[i]!;
      const vi = vv[i]!;
      if (ti < 0 && vi < 0) continue;
      const er = vRe[i]!;
      const ei = vIm[i]!;
      for (let k = m.yRow[i]!; k < m.yRow[i + 1]!; k++) {
        const j = m.yCol[k]!;
        const g = m.yRe[k]!;
        const b = m.yIm[k]!;
        const a = g * vRe[j]! - b * vIm[j]!;
        const c = g * vIm[j]! + b * vRe[j]!;
        // s = V_i · conj(Y_ij V_j)
        const sr = er * a + ei * c;
        const si = ei * a - er * c;
        let dThR = si;
        let dThI = -sr;
        let dVR = sr / vm[j]!;
        let dVI = si / vm[j]!;
        if (j === i) {
          dThR = -q[i]! + si;
          dThI = p[i]! - sr;
          dVR = (sr + p[i]!) / vm[i]!;
          dVI = (si + q[i]!) / vm[i]!;
        }
        const tj = th[j]!;
        const vj = vv[j]!;
        if (ti >= 0) {
          if (tj >= 0) vals[t++] = dThR;
          if (vj >= 0) vals[t++] = dVR;
        }
        if (vi >= 0) {
          if (tj >= 0) vals[t++] = dThI;
          if (vj >= 0) vals[t++] = dVI;
        }
      }
    }
    let dx: Float64Array;
    try {
      dx = luSolve(luFactor(pattern.fill(vals), lay.q), F);
    } catch (e) {
      if (e instanceof SingularMatrixError)
        throw new GridInputError('singular', `${file}: the power flow Jacobian is singular at iteration ${it} (check for buses without any connection or zero impedances)`);
      throw e;
    }
    for (let i = 0; i < n; i++) {
      if (th[i]! >= 0) va[i]! -= dx[th[i]!]!;
      if (vv[i]! >= 0) vm[i]! -= dx[vv[i]!]!;
    }
    worst = mismatch();
  }
  return { converged: worst < tol, iterations: it, mismatch: worst };
}

function report(m: GridModel, net: Network, vm: Float64Array, va: Float64Array, converged: boolean, iterations: number, mismatch: number, qLimited: number[]): PowerFlowResult {
  const { re, im } = voltages(vm, va);
  const n = m.n;
  const p = new Float64Array(n);
  const q = new Float64Array(n);
  injections(m, re, im, p, q, new Float64Array(n), new Float64Array(n));
  const base = net.baseMVA;
  // Generator outputs: active power as scheduled except at the reference bus (the first in-service
  // generator there takes the injection plus load minus the others' schedule); reactive power by
  // generatorQ (below).
  const qg = generatorQ(m, net, q);
  const firstRef = new Map<number, boolean>();
  const gens = net.gens.map((g, row) => {
    const i = m.index.get(g.bus)!;
    if (!g.status) return { row: row + 1, bus: g.bus, pg_mw: 0, qg_mvar: 0 };
    const b = net.buses[i]!;
    let pg = g.pg;
    if (b.type === 'ref') {
      const others = net.gens.filter((o) => o.status && o.bus === g.bus && o !== g).reduce((s, o) => s + o.pg, 0);
      pg = firstRef.has(i) ? g.pg : p[i]! * base + b.pd - others;
      firstRef.set(i, true);
    }
    return { row: row + 1, bus: g.bus, pg_mw: pg, qg_mvar: qg[row]! };
  });
  const branches = net.branches.map((br, l) => {
    const s = branchFlow(m, l, re, im);
    return { branch: l + 1, from: br.from, to: br.to, pf_mw: s.pf * base, qf_mvar: s.qf * base, pt_mw: s.pt * base, qt_mvar: s.qt * base };
  });
  return {
    converged,
    iterations,
    mismatch,
    buses: net.buses.map((b, i) => ({ bus: b.bus, vm: vm[i]!, va_deg: (va[i]! * 180) / Math.PI })),
    gens,
    branches,
    vm,
    va,
    model: m,
    qLimited,
  };
}

/**
 * Reactive output (MVAr) of each generator (by row; 0 when out of service), as MATPOWER's pfsoln:
 * - at a bus the input types PQ, each in-service generator keeps its scheduled qg;
 * - otherwise the bus total Qtot = Q injection + qd is shared among the bus's in-service generators
 *   in proportion to their reactive ranges: Qg_i = Qmin_i + (Qtot − ΣQmin)·(Qmax_i − Qmin_i)/(ΣQmax − ΣQmin).
 *   An infinite limit is replaced by ±M, M = |Qtot| plus the magnitudes of the bus's finite limits.
 *   When ΣQmax = ΣQmin (within 10 machine epsilons), every generator gets its Qmin plus an equal
 *   share of Qtot − ΣQmin. A single generator gets Qtot.
 */
function generatorQ(m: GridModel, net: Network, q: Float64Array): Float64Array {
  const base = net.baseMVA;
  const out = new Float64Array(net.gens.length);
  const atBus = new Map<number, number[]>();
  net.gens.forEach((g, row) => {
    if (!g.status) return;
    const i = m.index.get(g.bus)!;
    if (net.buses[i]!.type === 'pq') {
      out[row] = g.qg;
      return;
    }
    const list = atBus.get(i);
    if (list) list.push(row);
    else atBus.set(i, [row]);
  });
  for (const [i, rows] of atBus) {
    const total = q[i]! * base + net.buses[i]!.qd;
    if (rows.length === 1) {
      out[rows[0]!] = total;
      continue;
    }
    let big = Math.abs(total);
    for (const r of rows) {
      const g = net.gens[r]!;
      if (Number.isFinite(g.qmax)) big += Math.abs(g.qmax);
      if (Number.isFinite(g.qmin)) big += Math.abs(g.qmin);
    }
    const proxy = (v: number): number => (v === Infinity ? big : v === -Infinity ? -big : v);
    const lo = rows.map((r) => proxy(net.gens[r]!.qmin));
    const hi = rows.map((r) => proxy(net.gens[r]!.qmax));
    const sumLo = lo.reduce((s, v) => s + v, 0);
    const sumHi = hi.reduce((s, v) => s + v, 0);
    if (Math.abs(sumHi - sumLo) < 10 * Number.EPSILON) {
      const share = (total - sumLo) / rows.length;
      rows.forEach((r, k) => (out[r] = lo[k]! + share));
    } else {
      const frac = (total - sumLo) / (sumHi - sumLo);
      rows.forEach((r, k) => (out[r] = lo[k]! + frac * (hi[k]! - lo[k]!)));
    }
  }
  return out;
}
