/**
 * Seeded random jobs that are feasible by construction: leaving every battery idle satisfies every
 * constraint except the final SoC and the bulk energy, so a job gets either a final SoC equal to the
 * initial one (reached by idling) or a bulk energy of at most 30 % of what the batteries could move
 * in the window (charging only on surplus steps, at most the surplus), never both. Net limits always
 * contain the net demand itself.
 */
import { prng } from '../../algorithms/common/prng.js';
import type { Battery, Job } from '../../algorithms/scheduler/index.js';

export function randomJob(seed: number, steps = 24, maxBatteries = 3): Job {
  const rnd = prng(seed);
  const deltaH = [0.25, 0.5, 1][Math.floor(rnd() * 3)]!;
  const nb = 1 + Math.floor(rnd() * maxBatteries);
  const batteries: Battery[] = Array.from({ length: nb }, (_, i) => {
    const minSoc = rnd() * 0.2;
    const maxSoc = 0.6 + rnd() * 0.4;
    return {
      id: `bat_${i + 1}`,
      type: i > 0 && rnd() < 0.4 ? 'hbes' : 'cbes',
      initialSoc: minSoc + (0.2 + rnd() * 0.6) * (maxSoc - minSoc),
      pDisMaxKw: 10 + rnd() * 100,
      pChMaxKw: 10 + rnd() * 100,
      minSoc,
      maxSoc,
      capacityKwh: 20 + rnd() * 300,
      chEff: 0.85 + rnd() * 0.15,
      disEff: 0.85 + rnd() * 0.15,
    };
  });
  const loadKw: number[] = [];
  const genKw: number[] = [];
  for (let t = 0; t < steps; t++) {
    const sun = Math.max(0, Math.sin((Math.PI * t) / steps));
    loadKw.push(20 + rnd() * 60);
    genKw.push(sun * rnd() * 200);
  }
  const pnb = loadKw.map((l, t) => l - genKw[t]!);
  const start = Date.UTC(2026, 5, 1);
  const job: Job = {
    id: `random-${seed}`,
    dialect: 'service',
    controlLogic: 'optimization_based',
    operationMode: 'scheduling',
    timestamps: pnb.map((_, t) => new Date(start + t * deltaH * 3_600_000).toISOString()),
    timesMs: pnb.map((_, t) => start + t * deltaH * 3_600_000),
    deltaH,
    loadKw,
    genKw,
    pvCurtailment: rnd() < 0.3,
    limits: pnb.map((p) => (rnd() < 0.5 ? { upper: Math.max(p, 0) + rnd() * 30, lower: Math.min(p, 0) - rnd() * 30 } : {})),
    batteries,
  };
  if (rnd() < 0.5) {
    for (const b of batteries) if (b.type === 'cbes') b.finalSoc = b.initialSoc;
  } else {
    const s = Math.floor(rnd() * (steps / 2));
    const e = s + Math.floor(rnd() * (steps / 2));
    if (rnd() < 0.5) {
      // Receive: only surplus steps may charge, each at most its surplus and the power limits.
      let room = 0;
      for (let t = s; t <= e; t++) room += Math.min(Math.max(-pnb[t]!, 0), batteries.reduce((x, b) => x + b.pChMaxKw, 0)) * deltaH;
      const soc = batteries.reduce((x, b) => x + (b.maxSoc - b.initialSoc) * b.capacityKwh, 0);
      job.bulk = { startIndex: s, endIndex: e, energyKwh: 0.3 * Math.min(room, soc) };
    } else {
      let room = 0;
      let soc = 0;
      for (const b of batteries)
        if (b.type === 'cbes') {
          room += b.pDisMaxKw * (e - s + 1) * deltaH;
          soc += (b.initialSoc - b.minSoc) * b.capacityKwh * Math.min(b.disEff, 1 / b.disEff);
        }
      // Exports are limited where a step has a lower limit: keep those steps out of the window's use.
      for (let t = s; t <= e; t++) job.limits[t] = {};
      job.bulk = { startIndex: s, endIndex: e, energyKwh: -0.3 * Math.min(room, soc) };
    }
  }
  return job;
}

/** A job as pymfm's service dialect writes it (SoC as fractions), for tests that submit it over REST. */
export function toServiceInput(job: Job): Record<string, unknown> {
  return {
    id: job.id,
    application: 'pymfm',
    control_logic: job.controlLogic,
    operation_mode: 'scheduling',
    generation_and_load: {
      pv_curtailment: job.pvCurtailment,
      values: job.timestamps.map((timestamp, t) => ({ timestamp, P_available_kW: job.genKw[t], P_required_kW: job.loadKw[t] })),
    },
    ...(job.dayEndIndex !== undefined ? { day_end: job.timestamps[job.dayEndIndex] } : {}),
    ...(job.bulk ? { bulk: { bulk_start: job.timestamps[job.bulk.startIndex], bulk_end: job.timestamps[job.bulk.endIndex], bulk_energy_kWh: job.bulk.energyKwh } } : {}),
    P_net_after_kW_limitation: job.limits.flatMap((l, t) =>
      l.upper === undefined && l.lower === undefined ? [] : [{ timestamp: job.timestamps[t], ...(l.upper !== undefined ? { upper_bound: l.upper } : {}), ...(l.lower !== undefined ? { lower_bound: l.lower } : {}) }],
    ),
    battery_specs: job.batteries.map((b) => ({
      id: b.id,
      bat_type: b.type,
      initial_SoC: b.initialSoc,
      ...(b.finalSoc !== undefined ? { final_SoC: b.finalSoc } : {}),
      P_dis_max_kW: b.pDisMaxKw,
      P_ch_max_kW: b.pChMaxKw,
      min_SoC: b.minSoc,
      max_SoC: b.maxSoc,
      bat_capacity_kWh: b.capacityKwh,
      ch_efficiency: b.chEff,
      dis_efficiency: b.disEff,
    })),
  };
}
