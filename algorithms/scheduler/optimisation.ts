/**
 * The "virtual islanding" MILP: minimise Σ_t (import_t + export_t) + peak import + peak export (kW)
 * over a job's horizon, in two variants:
 *  - `pymfm`: pymfm's formulation as published, quirks included — the SoC update divides charging by
 *    ch_eff and multiplies discharging by dis_eff; a cbes battery's final SoC is imposed at the START
 *    of the last step; the bulk energy counts P_dis·dis_eff − P_ch/ch_eff; the reported battery power
 *    is P_ch·ch_eff − P_dis/dis_eff.
 *  - `physical`: P_ch and P_dis are the powers at the battery's grid terminal; stored energy grows by
 *    P_ch·ch_eff and falls by P_dis/dis_eff; the final SoC is imposed at the END of the horizon; the
 *    bulk energy and the reported battery power are P_ch − P_dis.
 * Both: a household battery (hbes) never discharges and, with a final SoC, is full (max_SoC) at
 * day_end; import and export never together (a switch in `pymfm`; in `physical` no optimum has
 * both, see the import/export rows below); a battery never charges and discharges together; a
 * deficit step imports at most the deficit and charges nothing; a surplus step imports nothing and
 * charges at most the surplus; PV is the forecast, or at most it with curtailment.
 *
 * `buildModel` is pure; `solveJob` runs HiGHS (WebAssembly, synchronous: it blocks the calling thread
 * for the solve, so a service runs it in a worker thread).
 */
import type { Job, ModelVariant } from './job.js';
import { LpModel, type Terms, type Var } from './lp-model.js';
import type { ScheduleResult, ScheduleStep } from './result.js';

export interface BuiltModel {
  model: LpModel;
  variant: ModelVariant;
  pCh: Var[][];
  pDis: Var[][];
  soc: Var[][];
  imp: Var[];
  exp: Var[];
  pv: Var[];
  peakImp: Var;
  peakExp: Var;
}

/** Constraint families, as named in infeasibility reports. */
export const FAMILIES = {
  balance: 'power_balance',
  socDyn: 'soc_dynamics',
  init: 'initial_soc',
  final: 'final_soc',
  chDis: 'charge_or_discharge',
  impExp: 'import_or_export',
  limits: 'net_limits',
  bulk: 'bulk_energy',
  deficit: 'deficit_step',
  surplus: 'surplus_step',
  peaks: 'peaks',
} as const;

export function buildModel(job: Job, variant: ModelVariant = 'physical'): BuiltModel {
  const m = new LpModel();
  const T = job.timestamps.length;
  const B = job.batteries;
  const dh = job.deltaH;
  const pnb = job.loadKw.map((l, t) => l - job.genKw[t]!);
  const pv: Var[] = [];
  const imp: Var[] = [];
  const exp: Var[] = [];
  const pCh: Var[][] = B.map(() => []);
  const pDis: Var[][] = B.map(() => []);
  const soc: Var[][] = B.map(() => []);
  const maxDis = B.reduce((s, b) => s + (b.type === 'hbes' ? 0 : b.pDisMaxKw), 0);
  const maxCh = B.reduce((s, b) => s + b.pChMaxKw, 0);

  for (let t = 0; t < T; t++) {
    const g = job.genKw[t]!;
    pv.push(m.addVar(`pv_${t}`, { lb: job.pvCurtailment ? 0 : g, ub: g }));
    // Import never exceeds the deficit (and is zero on surplus steps); export is bounded by what
    // could physically flow out. These bounds are the big-M values of the import/export switch.
    const impMax = Math.max(pnb[t]!, 0);
    const expMax = g + maxDis + maxCh + Math.abs(job.loadKw[t]!);
    imp.push(m.addVar(`imp_${t}`, { ub: impMax }));
    exp.push(m.addVar(`exp_${t}`, { ub: expMax }));
    B.forEach((b, n) => {
      // Bounds implied by the constraints, made explicit so the switches' big-M values are tight: a
      // charge never exceeds the surplus (scaled as the surplus row scales it) nor fills more than the
      // SoC range in one step; a discharge never empties more than the SoC range in one step.
      const range = (b.maxSoc - b.minSoc) * b.capacityKwh;
      const surplusCap = variant === 'pymfm' ? -pnb[t]! * b.chEff : -pnb[t]!;
      const chRange = variant === 'pymfm' ? (range * b.chEff) / dh : range / (b.chEff * dh);
      const disRange = variant === 'pymfm' ? range / (b.disEff * dh) : (range * b.disEff) / dh;
      const chUb = pnb[t]! >= 0 ? 0 : Math.min(b.pChMaxKw, surplusCap, chRange);
      pCh[n]!.push(m.addVar(`p_ch_${n}_${t}`, { ub: chUb }));
      pDis[n]!.push(m.addVar(`p_dis_${n}_${t}`, { ub: b.type === 'hbes' ? 0 : Math.min(b.pDisMaxKw, disRange) }));
    });
  }
  B.forEach((b, n) => {
    for (let tau = 0; tau <= T; tau++) soc[n]!.push(m.addVar(`soc_${n}_${tau}`, { lb: b.minSoc, ub: b.maxSoc }));
  });
  const peakImp = m.addVar('peak_imp');
  const peakExp = m.addVar('peak_exp');

  for (let t = 0; t < T; t++) {
    // L + Σ P_ch + Exp = Σ P_dis + Imp + PV
    const terms: [number, Var][] = [[1, exp[t]!], [-1, imp[t]!], [-1, pv[t]!]];
    B.forEach((_, n) => terms.push([1, pCh[n]![t]!], [-1, pDis[n]![t]!]));
    m.eq(FAMILIES.balance, `balance_${t}`, terms, -job.loadKw[t]!);
    // Import or export, never both. `pymfm`: a switch where both can be non-zero (the import bound is
    // zero on surplus steps, which already excludes importing there), as pymfm writes it. `physical`:
    // no switch: import and export enter every row only as their difference (balance, net limits) or
    // alone with a non-negative coefficient (bounds, peaks, objective), so lowering both by their
    // minimum keeps a schedule feasible and lowers the objective; an optimal schedule never has both,
    // and the optimum is the same with or without the switch, which only made HiGHS branch (the
    // 96-step, 10-battery bench: 11 % gap after 5 s with it, 0.2 % without). P_net_after = imp − exp.
    const impUb = m.cols[imp[t]!.index]!.ub;
    if (impUb > 0 && variant === 'pymfm') {
      const isImp = m.addVar(`is_imp_${t}`, { type: 'binary' });
      const isExp = m.addVar(`is_exp_${t}`, { type: 'binary' });
      m.le(FAMILIES.impExp, `imp_on_${t}`, [[1, imp[t]!], [-impUb, isImp]], 0);
      m.le(FAMILIES.impExp, `exp_on_${t}`, [[1, exp[t]!], [-m.cols[exp[t]!.index]!.ub, isExp]], 0);
      m.le(FAMILIES.impExp, `imp_xor_exp_${t}`, [[1, isImp], [1, isExp]], 1);
    }
    m.le(FAMILIES.peaks, `peak_imp_${t}`, [[1, imp[t]!], [-1, peakImp]], 0);
    m.le(FAMILIES.peaks, `peak_exp_${t}`, [[1, exp[t]!], [-1, peakExp]], 0);
    const lim = job.limits[t];
    if (lim && (lim.lower !== undefined || lim.upper !== undefined))
      m.addRow(FAMILIES.limits, `net_limit_${t}`, [[1, imp[t]!], [-1, exp[t]!]], lim.lower ?? -Infinity, lim.upper ?? Infinity);
    if (pnb[t]! <= 0) {
      // Surplus step: the batteries absorb at most the surplus.
      const ch: Terms = B.map((b, n) => [variant === 'pymfm' ? 1 / b.chEff : 1, pCh[n]![t]!] as const);
      if (B.length) m.le(FAMILIES.surplus, `surplus_${t}`, ch, -pnb[t]!);
    }
    B.forEach((b, n) => {
      // Charge or discharge, never both: a switch only where both bounds allow a non-zero power
      // (deficit steps forbid charging and household batteries never discharge, by their bounds).
      const chUb = m.cols[pCh[n]![t]!.index]!.ub;
      const disUb = m.cols[pDis[n]![t]!.index]!.ub;
      if (chUb > 0 && disUb > 0) {
        const isCh = m.addVar(`is_ch_${n}_${t}`, { type: 'binary' });
        const isDis = m.addVar(`is_dis_${n}_${t}`, { type: 'binary' });
        m.le(FAMILIES.chDis, `ch_on_${n}_${t}`, [[1, pCh[n]![t]!], [-chUb, isCh]], 0);
        m.le(FAMILIES.chDis, `dis_on_${n}_${t}`, [[1, pDis[n]![t]!], [-disUb, isDis]], 0);
        m.le(FAMILIES.chDis, `ch_xor_dis_${n}_${t}`, [[1, isCh], [1, isDis]], 1);
      }
      // SoC[t+1] − SoC[t] − a·P_ch + c·P_dis = 0 (fractions; capacity in kWh, Δ in h)
      const a = variant === 'pymfm' ? dh / (b.chEff * b.capacityKwh) : (dh * b.chEff) / b.capacityKwh;
      const c = variant === 'pymfm' ? (dh * b.disEff) / b.capacityKwh : dh / (b.disEff * b.capacityKwh);
      m.eq(FAMILIES.socDyn, `soc_${n}_${t}`, [[1, soc[n]![t + 1]!], [-1, soc[n]![t]!], [-a, pCh[n]![t]!], [c, pDis[n]![t]!]], 0);
    });
  }
  B.forEach((b, n) => {
    m.eq(FAMILIES.init, `soc_init_${n}`, [[1, soc[n]![0]!]], b.initialSoc);
    if (b.finalSoc === undefined) return;
    if (b.type === 'hbes') {
      if (job.dayEndIndex !== undefined) m.eq(FAMILIES.final, `soc_day_end_${n}`, [[1, soc[n]![job.dayEndIndex]!]], b.maxSoc);
    } else m.eq(FAMILIES.final, `soc_final_${n}`, [[1, soc[n]![variant === 'pymfm' ? T - 1 : T]!]], b.finalSoc);
  });
  if (job.bulk && B.length) {
    const terms: [number, Var][] = [];
    for (let t = job.bulk.startIndex; t <= job.bulk.endIndex; t++)
      B.forEach((b, n) => {
        if (variant === 'pymfm') terms.push([b.disEff * dh, pDis[n]![t]!], [-dh / b.chEff, pCh[n]![t]!]);
        else terms.push([dh, pDis[n]![t]!], [-dh, pCh[n]![t]!]);
      });
    m.eq(FAMILIES.bulk, 'bulk', terms, -job.bulk.energyKwh);
  }
  const obj: [number, Var][] = [[1, peakImp], [1, peakExp]];
  for (let t = 0; t < T; t++) obj.push([1, imp[t]!], [1, exp[t]!]);
  m.minimise(obj);
  return { model: m, variant, pCh, pDis, soc, imp, exp, pv, peakImp, peakExp };
}

/** Turns a solution vector into the schedule (SoC at the start of each step, as pymfm reports). */
export function extractSchedule(job: Job, bm: BuiltModel, x: ArrayLike<number>): Pick<ScheduleResult, 'schedule' | 'peak_imp_kW' | 'peak_exp_kW' | 'final_SoC'> {
  const v = (a: Var): number => x[a.index]!;
  const schedule: ScheduleStep[] = job.timestamps.map((ts, t) => {
    const batteries: ScheduleStep['batteries'] = {};
    job.batteries.forEach((b, n) => {
      const ch = v(bm.pCh[n]![t]!);
      const dis = v(bm.pDis[n]![t]!);
      batteries[b.id] = { P_bat_kW: bm.variant === 'pymfm' ? ch * b.chEff - dis / b.disEff : ch - dis, SoC: v(bm.soc[n]![t]!) };
    });
    return { timestamp: ts, P_net_before_kW: job.loadKw[t]! - job.genKw[t]!, P_net_after_kW: v(bm.imp[t]!) - v(bm.exp[t]!), batteries };
  });
  const T = job.timestamps.length;
  const final_SoC: Record<string, number> = {};
  job.batteries.forEach((b, n) => (final_SoC[b.id] = v(bm.soc[n]![T]!)));
  return { schedule, peak_imp_kW: v(bm.peakImp), peak_exp_kW: v(bm.peakExp), final_SoC };
}
