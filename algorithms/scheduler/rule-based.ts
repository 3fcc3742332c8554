/**
 * Rule-based control for any number of batteries. Each step, the deficit d = required − available
 * (a surplus when negative) is met by the batteries together as far as their headroom allows:
 *  - battery n's discharge headroom hd_n = min(P_dis_max, (soc − min_SoC)·cap·dis_eff/Δh) and charge
 *    headroom hc_n = min(P_ch_max, (max_SoC − soc)·cap/(Δh·ch_eff)), both grid-side kW;
 *  - the batteries meet met = clip(d, −Σhc, Σhd); the grid takes d − met;
 *  - battery n takes met·hd_n/Σhd (deficit) or met·hc_n/Σhc (surplus): in proportion to its headroom,
 *    so no battery is asked beyond its own limit and all reach their limits at the same step.
 * With one battery this is exactly pymfm's rule (met = max(min(d, P_dis_max, −Pmin), −P_ch_max, −Pmax)).
 * The SoC reported per step is the SoC at the END of the step (as pymfm reports it). The battery type
 * plays no part here (pymfm's rule ignores it).
 */
import type { Job } from './job.js';
import type { ScheduleResult, ScheduleStep } from './result.js';

export function ruleBased(job: Job): ScheduleResult {
  const n = job.batteries.length;
  const soc = job.batteries.map((b) => b.initialSoc);
  const hd = new Array<number>(n);
  const hc = new Array<number>(n);
  const dh = job.deltaH;
  const schedule: ScheduleStep[] = [];
  let peakImp = 0;
  let peakExp = 0;
  let gridSum = 0;
  for (let t = 0; t < job.timestamps.length; t++) {
    const d = job.loadKw[t]! - job.genKw[t]!;
    let HD = 0;
    let HC = 0;
    for (let i = 0; i < n; i++) {
      const b = job.batteries[i]!;
      const pMax = ((b.maxSoc - soc[i]!) * b.capacityKwh) / (dh * b.chEff);
      const pMin = ((b.minSoc - soc[i]!) * b.capacityKwh * b.disEff) / dh;
      hd[i] = Math.min(b.pDisMaxKw, -pMin);
      hc[i] = Math.min(b.pChMaxKw, pMax);
      HD += hd[i]!;
      HC += hc[i]!;
    }
    const met = Math.max(Math.min(d, HD), -HC);
    const after = d - met;
    const batteries: ScheduleStep['batteries'] = {};
    for (let i = 0; i < n; i++) {
      const b = job.batteries[i]!;
      // The share: met × (own headroom / total headroom); with one battery the ratio is exactly 1.
      const share = met > 0 ? (HD > 0 ? met * (hd[i]! / HD) : 0) : met < 0 ? (HC > 0 ? met * (hc[i]! / HC) : 0) : 0;
      const pb = d > 0 ? share / b.disEff : share * b.chEff;
      soc[i] = soc[i]! - (pb * dh) / b.capacityKwh;
      batteries[b.id] = { P_bat_kW: -pb, SoC: soc[i]! };
    }
    peakImp = Math.max(peakImp, after);
    peakExp = Math.max(peakExp, -after);
    gridSum += Math.abs(after);
    schedule.push({ timestamp: job.timestamps[t]!, P_net_before_kW: d, P_net_after_kW: after, batteries });
  }
  return {
    status: 'success',
    control_logic: 'rule_based',
    soc_at: 'end_of_step',
    // The same measure the optimisation minimises, so the two can be compared.
    objective: gridSum + peakImp + peakExp,
    peak_imp_kW: peakImp,
    peak_exp_kW: peakExp,
    schedule,
  };
}
