/**
 * Shared checks for the optimisation tests: glpsol (GLPK) on the MPS file the model builder writes,
 * and every property an optimised schedule must have, read back from the result document.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Test } from 'tap';
import { buildModel, optimise, type Job, type ModelVariant, type ScheduleResult } from '../../algorithms/scheduler/index.js';
import { randomJob } from './random-jobs.js';

const dir = mkdtempSync(join(tmpdir(), 'sched-'));

export function hasGlpsol(): boolean {
  try {
    execFileSync('glpsol', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** Solves the job's model with glpsol from an MPS file; the optimal objective at full precision. */
export function glpsolObjective(job: Job, variant: ModelVariant, name: string): number {
  const mps = join(dir, `${name}.mps`);
  const sol = join(dir, `${name}.sol`);
  writeFileSync(mps, buildModel(job, variant).model.toMps());
  execFileSync('glpsol', ['--freemps', mps, '--tmlim', '60', '-w', sol], { stdio: 'ignore' });
  const line = readFileSync(sol, 'utf8').split('\n').find((l) => l.startsWith('s mip '));
  const f = line?.split(/\s+/) ?? [];
  if (f[4] !== 'o') throw new Error(`glpsol did not prove optimality for ${name}: ${line}`);
  return Number(f[5]);
}

export const relDiff = (a: number, b: number): number => Math.abs(a - b) / Math.max(1, Math.abs(b));

/** Checks every property of an optimised schedule; returns the first violation or ''. */
export function violations(job: Job, variant: ModelVariant, r: ScheduleResult, incumbent = false): string {
  const tol = 1e-6;
  const T = job.timestamps.length;
  if (r.schedule.length !== T) return `schedule has ${r.schedule.length} steps, not ${T}`;
  let sumAbs = 0;
  let maxImp = 0;
  let maxExp = 0;
  let bulk = 0;
  for (let t = 0; t < T; t++) {
    const s = r.schedule[t]!;
    const pnb = job.loadKw[t]! - job.genKw[t]!;
    let gridSide = 0;
    for (const b of job.batteries) {
      const x = s.batteries[b.id]!;
      const next = t + 1 < T ? r.schedule[t + 1]!.batteries[b.id]!.SoC : r.final_SoC![b.id]!;
      // Grid-side charge/discharge from the reported battery power (variant conventions).
      const ch = x.P_bat_kW > 0 ? (variant === 'pymfm' ? x.P_bat_kW / b.chEff : x.P_bat_kW) : 0;
      const dis = x.P_bat_kW < 0 ? (variant === 'pymfm' ? -x.P_bat_kW * b.disEff : -x.P_bat_kW) : 0;
      if (ch > b.pChMaxKw + tol || dis > b.pDisMaxKw + tol) return `step ${t} ${b.id}: power ${x.P_bat_kW} beyond its limits`;
      if (b.type === 'hbes' && dis > tol) return `step ${t} ${b.id}: a household battery discharges`;
      if (x.SoC < b.minSoc - tol || x.SoC > b.maxSoc + tol || next < b.minSoc - tol || next > b.maxSoc + tol) return `step ${t} ${b.id}: SoC ${x.SoC} outside bounds`;
      const dSoc = variant === 'pymfm' ? (ch / b.chEff - dis * b.disEff) * job.deltaH / b.capacityKwh : (ch * b.chEff - dis / b.disEff) * job.deltaH / b.capacityKwh;
      if (Math.abs(next - x.SoC - dSoc) > tol) return `step ${t} ${b.id}: SoC moves ${next - x.SoC}, the power says ${dSoc}`;
      gridSide += ch - dis;
      if (job.bulk && t >= job.bulk.startIndex && t <= job.bulk.endIndex) bulk += variant === 'pymfm' ? (ch / b.chEff - dis * b.disEff) * job.deltaH : (ch - dis) * job.deltaH;
      if (t === 0 && Math.abs(x.SoC - b.initialSoc) > tol) return `${b.id}: starts at ${x.SoC}, not ${b.initialSoc}`;
    }
    // Balance: import − export = load − PV + charging − discharging (PV at most the forecast).
    const after = s.P_net_after_kW;
    const curtailed = after - (pnb + gridSide);
    if (job.pvCurtailment ? curtailed < -tol || curtailed > job.genKw[t]! + tol : Math.abs(curtailed) > tol) return `step ${t}: energy balance off by ${curtailed}`;
    const lim = job.limits[t]!;
    if ((lim.upper !== undefined && after > lim.upper + tol) || (lim.lower !== undefined && after < lim.lower - tol)) return `step ${t}: net ${after} outside its limits`;
    if (pnb > 0 && after > pnb + tol) return `step ${t}: imports more than the deficit`;
    if (pnb < 0 && after > tol) return `step ${t}: imports on a surplus step`;
    sumAbs += Math.abs(after);
    maxImp = Math.max(maxImp, after);
    maxExp = Math.max(maxExp, -after);
  }
  if (job.bulk && Math.abs(bulk - job.bulk.energyKwh) > 1e-5 * Math.max(1, Math.abs(job.bulk.energyKwh))) return `bulk energy ${bulk} kWh, not ${job.bulk.energyKwh}`;
  for (const [n, b] of job.batteries.entries()) {
    if (b.finalSoc === undefined || b.type !== 'cbes') continue;
    const at = variant === 'pymfm' ? r.schedule[T - 1]!.batteries[b.id]!.SoC : r.final_SoC![b.id]!;
    if (Math.abs(at - b.finalSoc) > tol) return `battery ${n}: final SoC ${at}, not ${b.finalSoc}`;
  }
  // An incumbent (time limit) may carry peaks above the largest import/export; an optimum may not.
  if (incumbent) {
    if (r.peak_imp_kW! < maxImp - tol || r.peak_exp_kW! < maxExp - tol) return `peaks ${r.peak_imp_kW}/${r.peak_exp_kW} below the largest import/export ${maxImp}/${maxExp}`;
    return relDiff(r.objective!, sumAbs + r.peak_imp_kW! + r.peak_exp_kW!) > 1e-6 ? `objective ${r.objective} is not Σ|net| + peaks` : '';
  }
  if (Math.abs(r.peak_imp_kW! - maxImp) > tol || Math.abs(r.peak_exp_kW! - maxExp) > tol) return `peaks ${r.peak_imp_kW}/${r.peak_exp_kW} are not the largest import/export ${maxImp}/${maxExp}`;
  if (relDiff(r.objective!, sumAbs + maxImp + maxExp) > 1e-6) return `objective ${r.objective} is not Σ|net| + peaks = ${sumAbs + maxImp + maxExp}`;
  return '';
}


const VARIANTS = ['pymfm', 'physical'] as const;

/** HiGHS and glpsol agree within 1e-6 relative on seeded random jobs (`steps` long), in both variants. */
export async function agreeWithGlpsol(t: Test, seeds: readonly number[], steps: number, batteries: number, tag: string): Promise<void> {
  for (const seed of seeds) {
    const job = randomJob(seed, steps, batteries);
    for (const variant of VARIANTS) {
      const r = await optimise(job, variant, { mipRelGap: 1e-9 });
      t.equal(r.status, 'optimal', `seed ${seed} ${variant}: ${r.reason ?? ''}`);
      const g = glpsolObjective(job, variant, `${tag}${seed}-${variant}`);
      t.ok(relDiff(r.objective!, g) < 1e-6, `seed ${seed} ${variant}: HiGHS ${r.objective} vs glpsol ${g}`);
    }
  }
}

/** Seeded random jobs (`steps` long), both variants, solve to optimality with every property holding; how many did. */
export async function checkRandomSchedules(t: Test, seeds: readonly number[], steps: number): Promise<number> {
  let n = 0;
  for (const seed of seeds) {
    const job = randomJob(seed, steps);
    for (const variant of VARIANTS) {
      const r = await optimise(job, variant);
      if (r.status !== 'optimal') {
        t.fail(`seed ${seed} ${variant}: ${r.status} ${r.reason ?? ''}`);
        continue;
      }
      const v = violations(job, variant, r);
      if (v) t.fail(`seed ${seed} ${variant}: ${v}`);
      n++;
    }
  }
  return n;
}
