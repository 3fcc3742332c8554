/**
 * Scheduler bench: HiGHS solve time, relative MIP gap and memory of the optimisation (both variants)
 * on pymfm 0.5.5's 96-step example (test/scheduler/fixtures) with 1, 3 and 10 batteries, and on a
 * 7-day horizon at 15 min (672 steps, the example's day repeated with seeded noise, 3 batteries); the
 * rule-based time per step. Memory: the HiGHS WebAssembly heap's size after the solves (it only grows)
 * and the process's resident set growth. Goals on the 2-core test machine: 96 × 3 under 100 ms,
 * 96 × 10 under 1 s. GRIDEDGE_BENCH_SCHED_LIMIT sets the solver time limit in seconds (default 60).
 */
import { prng } from '../../algorithms/common/prng.js';
import { loadHighs, normaliseJob, optimise, ruleBased, type Battery, type Job, type ModelVariant } from '../../algorithms/scheduler/index.js';
import { loadFixture } from '../scheduler/fixtures.js';

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

/** The example's batteries, plus varied copies up to `n` (every fourth a household battery). */
function fleet(base: Battery[], n: number): Battery[] {
  const rnd = prng(96);
  const out = base.slice(0, n).map((b) => ({ ...b }));
  for (let i = out.length; i < n; i++) {
    const hbes = i % 4 === 3;
    out.push({
      id: `bat_${i + 1}`, type: hbes ? 'hbes' : 'cbes', initialSoc: 0.3 + rnd() * 0.4, pDisMaxKw: 20 + rnd() * 100, pChMaxKw: 20 + rnd() * 100,
      minSoc: 0.1, maxSoc: 0.9, capacityKwh: 50 + rnd() * 300, chEff: 0.95, disEff: 0.95, ...(hbes ? {} : { finalSoc: 0.5 }),
    });
  }
  return out;
}

function week(day: Job): Job {
  const rnd = prng(7);
  const days = 7;
  const T = day.timestamps.length;
  const stepMs = day.deltaH * 3_600_000;
  const timesMs = Array.from({ length: T * days }, (_, i) => day.timesMs[0]! + i * stepMs);
  return {
    ...day,
    id: 'week',
    timesMs,
    timestamps: timesMs.map((ms) => new Date(ms).toISOString()),
    loadKw: timesMs.map((_, i) => day.loadKw[i % T]! * (0.9 + 0.2 * rnd())),
    genKw: timesMs.map((_, i) => day.genKw[i % T]! * (0.7 + 0.6 * rnd())),
    limits: timesMs.map((_, i) => day.limits[i % T]!),
    dayEndIndex: (days - 1) * T + (day.dayEndIndex ?? T - 1),
  };
}

export async function benchScheduler(): Promise<Record<string, unknown>> {
  const limit = Number(process.env.GRIDEDGE_BENCH_SCHED_LIMIT ?? 60);
  const highs = await loadHighs();
  const example = normaliseJob(loadFixture('scheduling_optimization_based.json'));
  const out: Record<string, unknown> = { solver: `HiGHS ${highs.version.string} (npm highs, WebAssembly)`, timeLimitS: limit };
  const cases: [string, Job][] = [1, 3, 10].map((n) => [`96x${n}`, { ...example, batteries: fleet(example.batteries, n) }] as [string, Job]);
  cases.push(['672x3 (7 days at 15 min)', week(example)]);
  const solves: Record<string, unknown> = {};
  for (const [name, job] of cases)
    for (const variant of ['physical', 'pymfm'] as ModelVariant[]) {
      const runs = name.startsWith('672') ? 1 : 3;
      const times: number[] = [];
      let last;
      const rss0 = process.memoryUsage().rss;
      for (let i = 0; i < runs; i++) {
        const t0 = performance.now();
        last = await optimise(job, variant, { timeLimitS: limit });
        times.push(performance.now() - t0);
      }
      solves[`${name} ${variant}`] = {
        steps: job.timestamps.length, batteries: job.batteries.length,
        status: last!.status, solved_by: last!.solved_by, objective: last!.objective, mip_gap: last!.mip_gap,
        ms: Math.round(median(times) * 10) / 10, runs,
        wasmHeapMiB: Math.round((highs.memoryBytes / 2 ** 20) * 10) / 10,
        rssGrowthMiB: Math.round(((process.memoryUsage().rss - rss0) / 2 ** 20) * 10) / 10,
      };
    }
  out['optimisation'] = solves;
  // Rule-based: time per step on the example with 1, 3 and 10 batteries (many repetitions).
  const rule: Record<string, unknown> = {};
  for (const n of [1, 3, 10]) {
    const job = { ...example, batteries: fleet(example.batteries, n) };
    for (let i = 0; i < 20; i++) ruleBased(job);
    const reps = 500;
    const t0 = performance.now();
    for (let i = 0; i < reps; i++) ruleBased(job);
    rule[`${n} batteries`] = { usPerStep: Math.round((((performance.now() - t0) * 1000) / (reps * job.timestamps.length)) * 100) / 100 };
  }
  out['ruleBased'] = rule;
  return out;
}
