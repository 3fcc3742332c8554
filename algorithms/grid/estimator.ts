/**
 * Weighted least squares state estimation (AC, polar coordinates), Gauss–Newton:
 *   minimise J(x) = Σ ((z_k − h_k(x)) / σ_k)²,  G Δx = Hᵀ W (z − h(x)),  G = Hᵀ W H,  W = diag(1/σ²),
 * with G factored by sparse LDLᵀ (Cholesky without square roots) in a minimum-degree order; its
 * symbolic part is built once per measurement set and reused across iterations.
 *
 * State: the voltage magnitude of every energized bus and the angle of every energized bus except
 * the reference buses, whose angle stays at the network's value, decided per island: in an island
 * whose measurements include PMU angles (va), every angle is a state and the PMUs give the reference.
 * Start: flat (1 pu; the reference angle, or in an island with PMUs the mean of its measured angles).
 *
 * Before solving, the observability check (observability.ts) names the buses the set does not
 * determine; an unobservable set is an UnobservableError, nothing is estimated.
 *
 * Bad data (after convergence): if J exceeds the chi-square (1 − alpha) quantile for m − n degrees of
 * freedom, the normalised residuals r_k / √Ω_kk (Ω = W⁻¹ − H G⁻¹ Hᵀ) are computed; the measurement
 * with the largest one, when above `rnThreshold`, is removed and the state estimated again (from the
 * last state), until the test passes or no normalised residual is above the threshold. Critical
 * measurements (Ω_kk ≈ 0) are never removed: their errors cannot be detected. When removing the
 * largest would leave the set unobservable, it is kept (reported in `suspect_data`, not `bad_data`),
 * removal stops and the result says the chi-square test failed.
 */
import { chi2Inv } from './chi2.js';
import { GridInputError } from './errors.js';
import { busList, injections, islands, type GridModel } from './model.js';
import type { Meas, MeasurementType } from './measurements.js';
import { checkObservability, fixedAngles, type ObservabilityResult } from './observability.js';
import { ldlFactor, ldlSolve, ldlSymbolic, minimumDegree, Pattern, type LdlFactors, type LdlSymbolic } from './sparse.js';

export class UnobservableError extends GridInputError {
  constructor(readonly result: ObservabilityResult) {
    super('unobservable', result.reason ?? 'unobservable');
  }
}

export interface EstimateOptions {
  /** Converged when the largest state update is below this (pu / rad). */
  tol?: number;
  maxIter?: number;
  /** Significance level of the chi-square test (default 0.01). */
  alpha?: number;
  /** Normalised residuals above this are bad data (default 3). */
  rnThreshold?: number;
  /** Run bad-data detection and removal (default true). */
  badData?: boolean;
  /** At most this many measurements removed (default: as many as the redundancy allows). */
  maxRemovals?: number;
}

export interface BadDatum {
  index: number;
  type: MeasurementType;
  rn: number;
}

/** A measurement identified as bad data but kept in the estimate; `reason` says why it was kept. */
export interface SuspectDatum extends BadDatum {
  reason: string;
}

export interface EstimateResult {
  converged: boolean;
  iterations: number;
  buses: { bus: number; vm: number; va_deg: number }[];
  J: number;
  /** Degrees of freedom (measurements used − states) and the chi-square threshold compared with J. */
  dof: number;
  chi2Threshold: number;
  /** J within the threshold after bad-data removal (true when dof is 0: nothing to test). */
  chi2Passed: boolean;
  /** Measurements identified as bad data and removed: none of them is used in the estimate. */
  bad_data: BadDatum[];
  /**
   * The measurement with the largest normalised residual (above the threshold) when removing it
   * would leave the set unobservable: it is kept and used in the estimate, which then fails the
   * chi-square test. At most one (removal stops there).
   */
  suspect_data: SuspectDatum[];
  /** Measurements used in the final estimate. */
  used: number;
  vm: Float64Array;
  va: Float64Array;
}

/** What `se` and the live estimator publish of a result (CONTRACT "Output of pf and se" names). */
export interface EstimateSummary {
  converged: boolean;
  iterations: number;
  buses: EstimateResult['buses'];
  J: number;
  dof: number;
  chi2_threshold: number;
  chi2_passed: boolean;
  bad_data: BadDatum[];
  suspect_data: SuspectDatum[];
  used: number;
}

/** A result as published: the output names, without the state vectors. */
export function estimateSummary(r: EstimateResult): EstimateSummary {
  return {
    converged: r.converged,
    iterations: r.iterations,
    buses: r.buses,
    J: r.J,
    dof: r.dof,
    chi2_threshold: r.chi2Threshold,
    chi2_passed: r.chi2Passed,
    bad_data: r.bad_data,
    suspect_data: r.suspect_data,
    used: r.used,
  };
}

/** One Gauss–Newton problem: a fixed measurement list and state layout. */
class Wls {
  readonly th: Int32Array;
  readonly vv: Int32Array;
  readonly nx: number;
  /** Per measurement: its entries' state columns (−1: not a state) in rowCols[rowPtr[k] .. rowPtr[k+1]). */
  readonly rowPtr: Int32Array;
  readonly rowCols: Int32Array;
  readonly hv: Float64Array;
  readonly h: Float64Array;
  readonly pattern: Pattern;
  readonly sym: LdlSymbolic;
  readonly gVals: Float64Array;
  readonly p: Float64Array;
  readonly q: Float64Array;
  readonly vRe: Float64Array;
  readonly vIm: Float64Array;

  constructor(
    readonly m: GridModel,
    /** The measurements (values and sigmas may be replaced by a set of the same structure). */
    public meas: readonly Meas[],
    fixedAngle: Uint8Array,
  ) {
    const n = m.n;
    this.th = new Int32Array(n).fill(-1);
    this.vv = new Int32Array(n).fill(-1);
    let nx = 0;
    for (let i = 0; i < n; i++) {
      if (!m.energized[i]) continue;
      if (!fixedAngle[i]) this.th[i] = nx++;
      this.vv[i] = nx++;
    }
    this.nx = nx;
    const ptr = [0];
    const cols: number[] = [];
    for (const z of meas) {
      for (const [j, kind] of this.entries(z)) cols.push(kind === 0 ? this.th[j]! : this.vv[j]!);
      ptr.push(cols.length);
    }
    this.rowPtr = Int32Array.from(ptr);
    this.rowCols = Int32Array.from(cols);
    this.hv = new Float64Array(cols.length);
    this.h = new Float64Array(meas.length);
    const ri: number[] = [];
    const ci: number[] = [];
    for (let k = 0; k < meas.length; k++)
      for (let a = this.rowPtr[k]!; a < this.rowPtr[k + 1]!; a++) {
        if (this.rowCols[a]! < 0) continue;
        for (let b = this.rowPtr[k]!; b < this.rowPtr[k + 1]!; b++) {
          if (this.rowCols[b]! < 0) continue;
          ri.push(this.rowCols[a]!);
          ci.push(this.rowCols[b]!);
        }
      }
    // Each state's diagonal is always present, so an unmeasured state shows as a zero pivot.
    for (let i = 0; i < nx; i++) {
      ri.push(i);
      ci.push(i);
    }
    this.pattern = new Pattern(nx, nx, ri, ci);
    this.gVals = new Float64Array(ri.length);
    const g = this.pattern.csc;
    const adj: number[][] = Array.from({ length: nx }, () => []);
    for (let j = 0; j < nx; j++) for (let p = g.colPtr[j]!; p < g.colPtr[j + 1]!; p++) if (g.rowIdx[p] !== j) adj[j]!.push(g.rowIdx[p]!);
    this.sym = ldlSymbolic(g, minimumDegree(adj));
    this.p = new Float64Array(n);
    this.q = new Float64Array(n);
    this.vRe = new Float64Array(n);
    this.vIm = new Float64Array(n);
  }

  /** The (bus, 0 angle | 1 magnitude) pairs a measurement depends on, in the order of its row. */
  private entries(z: Meas): [number, 0 | 1][] {
    const m = this.m;
    switch (z.type) {
      case 'vm':
        return [[z.at, 1]];
      case 'va':
        return [[z.at, 0]];
      case 'p_inj':
      case 'q_inj': {
        const out: [number, 0 | 1][] = [];
        for (let k = m.yRow[z.at]!; k < m.yRow[z.at + 1]!; k++) out.push([m.yCol[k]!, 0], [m.yCol[k]!, 1]);
        return out;
      }
      default: {
        const a = z.end === 0 ? m.f[z.at]! : m.t[z.at]!;
        const b = z.end === 0 ? m.t[z.at]! : m.f[z.at]!;
        return [
          [a, 0],
          [a, 1],
          [b, 0],
          [b, 1],
        ];
      }
    }
  }

  /** h(x) and the values of H at the state (vm, va). */
  evaluate(vm: Float64Array, va: Float64Array): void {
    const m = this.m;
    const { vRe, vIm, p, q, hv, h } = this;
    for (let i = 0; i < m.n; i++) {
      vRe[i] = vm[i]! * Math.cos(va[i]!);
      vIm[i] = vm[i]! * Math.sin(va[i]!);
    }
    injections(m, vRe, vIm, p, q, new Float64Array(m.n), new Float64Array(m.n));
    for (let k = 0; k < this.meas.length; k++) {
      const z = this.meas[k]!;
      let o = this.rowPtr[k]!;
      switch (z.type) {
        case 'vm':
          h[k] = vm[z.at]!;
          hv[o] = 1;
          break;
        case 'va':
          h[k] = va[z.at]!;
          hv[o] = 1;
          break;
        case 'p_inj':
        case 'q_inj': {
          const i = z.at;
          const re = z.type === 'p_inj';
          h[k] = re ? p[i]! : q[i]!;
          for (let e = m.yRow[i]!; e < m.yRow[i + 1]!; e++) {
            const j = m.yCol[e]!;
            o = this.term(i, j, m.yRe[e]!, m.yIm[e]!, j === i, p[i]!, q[i]!, vm, re, o);
          }
          break;
        }
        default: {
          const l = z.at;
          const from = z.end === 0;
          const a = from ? m.f[l]! : m.t[l]!;
          const b = from ? m.t[l]! : m.f[l]!;
          const gaa = from ? m.yffR[l]! : m.yttR[l]!;
          const baa = from ? m.yffI[l]! : m.yttI[l]!;
          const gab = from ? m.yftR[l]! : m.ytfR[l]!;
          const bab = from ? m.yftI[l]! : m.ytfI[l]!;
          const ir = gaa * vRe[a]! - baa * vIm[a]! + gab * vRe[b]! - bab * vIm[b]!;
          const ii = gaa * vIm[a]! + baa * vRe[a]! + gab * vIm[b]! + bab * vRe[b]!;
          const sp = vRe[a]! * ir + vIm[a]! * ii;
          const sq = vIm[a]! * ir - vRe[a]! * ii;
          const re = z.type === 'p_flow';
          h[k] = re ? sp : sq;
          o = this.term(a, a, gaa, baa, true, sp, sq, vm, re, o);
          this.term(a, b, gab, bab, false, sp, sq, vm, re, o);
        }
      }
    }
  }

  /**
   * Writes ∂/∂θ_j and ∂/∂V_j of Re or Im of S = V_a·conj(Σ Y V) for the term Y_aj (g + jb), at hv[o],
   * hv[o+1]; `self` adds the terms of the measured end's own voltage (S = (sp, sq) the total).
   */
  private term(a: number, j: number, g: number, b: number, self: boolean, sp: number, sq: number, vm: Float64Array, re: boolean, o: number): number {
    const { vRe, vIm, hv } = this;
    const A = g * vRe[j]! - b * vIm[j]!;
    const C = g * vIm[j]! + b * vRe[j]!;
    const sr = vRe[a]! * A + vIm[a]! * C;
    const si = vIm[a]! * A - vRe[a]! * C;
    let dth = re ? si : -sr;
    let dv = (re ? sr : si) / vm[j]!;
    if (self) {
      dth += re ? -sq : sp;
      dv += (re ? sp : sq) / vm[a]!;
    }
    hv[o] = dth;
    hv[o + 1] = dv;
    return o + 2;
  }

  /** Factors G = Hᵀ W H at the last evaluated state. */
  factor(): LdlFactors {
    const { rowPtr, rowCols, hv, gVals } = this;
    let t = 0;
    for (let k = 0; k < this.meas.length; k++) {
      const w = 1 / (this.meas[k]!.sigma * this.meas[k]!.sigma);
      for (let a = rowPtr[k]!; a < rowPtr[k + 1]!; a++) {
        if (rowCols[a]! < 0) continue;
        const wa = w * hv[a]!;
        for (let b = rowPtr[k]!; b < rowPtr[k + 1]!; b++) if (rowCols[b]! >= 0) gVals[t++] = wa * hv[b]!;
      }
    }
    for (let i = 0; i < this.nx; i++) gVals[t++] = 0;
    return ldlFactor(this.pattern.fill(gVals), this.sym, 1e-12);
  }

  /** Hᵀ W (z − h). */
  rhs(): Float64Array {
    const out = new Float64Array(this.nx);
    for (let k = 0; k < this.meas.length; k++) {
      const z = this.meas[k]!;
      const wr = (z.value - this.h[k]!) / (z.sigma * z.sigma);
      for (let a = this.rowPtr[k]!; a < this.rowPtr[k + 1]!; a++) if (this.rowCols[a]! >= 0) out[this.rowCols[a]!]! += wr * this.hv[a]!;
    }
    return out;
  }

  /** The bus numbers of zero-pivot states (for the message of an unobservable solve). */
  zeroPivotBuses(f: LdlFactors): number[] {
    const out = new Set<number>();
    for (const z of f.zeroPivots) {
      const col = this.sym.perm[z]!;
      for (let i = 0; i < this.m.n; i++) if (this.th[i] === col || this.vv[i] === col) out.add(i);
    }
    return [...out];
  }
}

function gaussNewton(w: Wls, vm: Float64Array, va: Float64Array, tol: number, maxIter: number): { converged: boolean; iterations: number; f: LdlFactors } {
  const m = w.m;
  let it = 0;
  for (;;) {
    w.evaluate(vm, va);
    const f = w.factor();
    if (f.zeroPivots.length) {
      const buses = w.zeroPivotBuses(f);
      throw new GridInputError('unobservable', `unobservable: the gain matrix is singular at buses ${busList(m, buses)}`);
    }
    if (it >= maxIter) return { converged: false, iterations: it, f };
    const dx = ldlSolve(f, w.rhs());
    let worst = 0;
    for (let i = 0; i < m.n; i++) {
      if (w.th[i]! >= 0) va[i]! += dx[w.th[i]!]!;
      if (w.vv[i]! >= 0) vm[i]! += dx[w.vv[i]!]!;
    }
    for (let k = 0; k < dx.length; k++) worst = Math.max(worst, Math.abs(dx[k]!));
    it++;
    if (!Number.isFinite(worst)) return { converged: false, iterations: it, f };
    if (worst < tol) {
      w.evaluate(vm, va);
      return { converged: true, iterations: it, f: w.factor() };
    }
  }
}

/**
 * The Gauss–Newton problems of recent measurement structures per model (types, places, fixed
 * angles; values and sigmas may change), so that repeated estimates on the same set (the live
 * analyzer) reuse the sparse pattern, ordering and symbolic factorization. At most 4 per model.
 */
const problems = new WeakMap<GridModel, Map<string, Wls>>();

const structureKey = (meas: readonly Meas[]): string => meas.map((z) => `${z.type}${z.at}${z.end}`).join(',');

/** Observability depends on the network and the measurement structure only: the last 8 per model are kept. */
const observability = new WeakMap<GridModel, Map<string, ObservabilityResult>>();

function observabilityOf(m: GridModel, meas: readonly Meas[], fixed: Uint8Array): ObservabilityResult {
  const key = `${fixed.join('')}|${structureKey(meas)}`;
  let byKey = observability.get(m);
  if (!byKey) observability.set(m, (byKey = new Map()));
  let r = byKey.get(key);
  if (!r) {
    r = checkObservability(m, meas, fixed);
    if (byKey.size >= 8) byKey.delete(byKey.keys().next().value!);
    byKey.set(key, r);
  }
  return r;
}

function wlsFor(m: GridModel, meas: readonly Meas[], fixed: Uint8Array): Wls {
  const key = `${fixed.join('')}|${structureKey(meas)}`;
  let byKey = problems.get(m);
  if (!byKey) problems.set(m, (byKey = new Map()));
  let w = byKey.get(key);
  if (!w) {
    w = new Wls(m, meas, fixed);
    if (byKey.size >= 4) byKey.delete(byKey.keys().next().value!);
    byKey.set(key, w);
  }
  w.meas = meas;
  return w;
}

/** Estimates the state from `meas` (validated by prepareMeasurements). */
export function estimateState(m: GridModel, meas: readonly Meas[], opts: EstimateOptions = {}): EstimateResult {
  const tol = opts.tol ?? 1e-9;
  const maxIter = opts.maxIter ?? 50;
  const alpha = opts.alpha ?? 0.01;
  const rnMax = opts.rnThreshold ?? 3;
  const isl = islands(m);
  const fixed = fixedAngles(m, meas);
  const vm = new Float64Array(m.n).fill(1);
  const va = new Float64Array(m.n);
  const islandOf = new Int32Array(m.n).fill(-1);
  isl.forEach((g, k) => g.forEach((i) => (islandOf[i] = k)));
  const pmuIn: Meas[][] = isl.map(() => []);
  for (const z of meas) if (z.type === 'va') pmuIn[islandOf[z.at]!]!.push(z);
  isl.forEach((g, k) => {
    const pmu = pmuIn[k]!;
    const ref = g.find((i) => m.net.buses[i]!.type === 'ref');
    if (ref === undefined && !pmu.length) throw new GridInputError('island', `the island of buses ${busList(m, g)} has no reference bus and no PMU angle measurement`);
    // Flat start: an island with PMU angles starts at their mean; one without at its (first)
    // reference bus's angle, and each of its reference buses stays at its own.
    const start = pmu.length ? pmu.reduce((s, z) => s + z.value, 0) / pmu.length : (m.net.buses[ref!]!.va_deg * Math.PI) / 180;
    for (const i of g) va[i] = fixed[i] ? (m.net.buses[i]!.va_deg * Math.PI) / 180 : start;
  });
  const obs = observabilityOf(m, meas, fixed);
  if (!obs.observable) throw new UnobservableError(obs);

  let active = [...meas];
  const bad: BadDatum[] = [];
  const suspect: SuspectDatum[] = [];
  let total = 0;
  for (;;) {
    const w = wlsFor(m, active, fixed);
    const gn = gaussNewton(w, vm, va, tol, maxIter);
    total += gn.iterations;
    let J = 0;
    for (let k = 0; k < active.length; k++) {
      const r = (active[k]!.value - w.h[k]!) / active[k]!.sigma;
      J += r * r;
    }
    const dof = active.length - w.nx;
    const thr = dof > 0 ? chi2Inv(1 - alpha, dof) : 0;
    const passed = dof <= 0 || J <= thr;
    const done = (): EstimateResult => ({
      converged: gn.converged,
      iterations: total,
      buses: m.net.buses.flatMap((b, i) => (m.energized[i] ? [{ bus: b.bus, vm: vm[i]!, va_deg: (va[i]! * 180) / Math.PI }] : [])),
      J,
      dof,
      chi2Threshold: thr,
      chi2Passed: passed,
      bad_data: bad,
      suspect_data: suspect,
      used: active.length,
      vm,
      va,
    });
    if (!gn.converged || passed || opts.badData === false || bad.length >= (opts.maxRemovals ?? Infinity)) return done();
    // Largest normalised residual.
    const rn = normalisedResiduals(w, gn.f);
    let kMax = -1;
    for (let k = 0; k < rn.length; k++) if (Number.isFinite(rn[k]!) && (kMax < 0 || rn[k]! > rn[kMax]!)) kMax = k;
    if (kMax < 0 || rn[kMax]! <= rnMax) return done();
    const z = active[kMax]!;
    const rest = active.filter((_, k) => k !== kMax);
    const without = observabilityOf(m, rest, fixed);
    if (!without.observable) {
      // Kept: the estimate above still uses it, and the chi-square test stays failed.
      suspect.push({ index: z.index, type: z.type, rn: rn[kMax]!, reason: `kept: removing it would leave the set unobservable (${without.reason!.replace(/^unobservable: /, '')})` });
      return done();
    }
    bad.push({ index: z.index, type: z.type, rn: rn[kMax]! });
    active = rest;
  }
}

/** |r_k| / √Ω_kk for every measurement; NaN for critical ones (Ω_kk ≈ 0). */
function normalisedResiduals(w: Wls, f: LdlFactors): Float64Array {
  const out = new Float64Array(w.meas.length);
  const e = new Float64Array(w.nx);
  for (let k = 0; k < w.meas.length; k++) {
    const z = w.meas[k]!;
    e.fill(0);
    for (let a = w.rowPtr[k]!; a < w.rowPtr[k + 1]!; a++) if (w.rowCols[a]! >= 0) e[w.rowCols[a]!]! += w.hv[a]!;
    const y = ldlSolve(f, e);
    let hgh = 0;
    for (let a = w.rowPtr[k]!; a < w.rowPtr[k + 1]!; a++) if (w.rowCols[a]! >= 0) hgh += w.hv[a]! * y[w.rowCols[a]!]!;
    const s2 = z.sigma * z.sigma;
    const omega = s2 - hgh;
    out[k] = omega > 1e-8 * s2 ? Math.abs(z.value - w.h[k]!) / Math.sqrt(omega) : NaN;
  }
  return out;
}
