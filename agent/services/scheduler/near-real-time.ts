/**
 * The loop of one near-real-time job. Lifecycle: `start()` sets a timer (on the service's Clock) for
 * `job_start` (or now, when that is past); each tick runs once, records the job's progress, publishes the setpoints
 * and sets the next tick on the job's grid (job_start + k·repeat_seconds after the
 * run's start; after a run slower than that, one run follows at once); at `job_end` the job is marked success. Runs of one job never overlap.
 * `stop(reason)` clears the timer and terminates a run in flight; nothing is published after it.
 *
 * One run at time `now`:
 *  1. the SoC estimate of every battery moves on from the previous run along that run's schedule
 *     (advanceSoc); a battery with a measured SoC (live_inputs.battery_soc) takes the measured value;
 *  2. the measured net power (live_inputs.net_power, scaled to kW) is read from the device's latest
 *     processed measurement; a missing device, a field that is not a number, a field of invalid
 *     quality (message quality or field_quality) or a value older than max_age_s (by its `ts`) makes
 *     the run HOLD: it publishes the last setpoints again (0 kW before any good run), with the reason;
 *  3. otherwise the run's job (jobForRun: forecast from the current step, the measured net power for
 *     that step, the current SoC) is scheduled — rule-based here on the event loop (microseconds),
 *     optimisation in a worker thread — and its first step gives the setpoints. A run whose schedule
 *     fails (infeasible, solver error, time limit without a schedule) also holds, saying why.
 */
import type { Measurement } from '../../../algorithms/common/measurement.js';
import { qualityOf } from '../../../algorithms/common/field-quality.js';
import { compileFieldPath } from '../../../algorithms/stats/field-path.js';
import {
  advanceSoc,
  jobForRun,
  MAX_MAGNITUDE,
  ruleBased,
  setpointsOf,
  stepAt,
  type Job,
  type LiveInput,
  type ModelVariant,
  type NearRealTimeSpec,
  type RunSetpoint,
  type ScheduleResult,
} from '../../../algorithms/scheduler/index.js';
import type { Counters } from '../../core/counters.js';
import type { DerivedMessage, Logger } from '../../core/plugin.js';
import type { Clock } from './clock.js';

/** A solve in a worker thread that can be ended early. */
export interface SolveHandle {
  done: Promise<{ ok: true; result: ScheduleResult } | { ok: false; error: string }>;
  terminate(): void;
}

export interface LoopDeps {
  clock: Clock;
  log: Logger;
  counters: Counters;
  latest(device: string): Measurement | undefined;
  publish(msg: DerivedMessage): Promise<void>;
  /** Record the job's progress (status running, the last run's summary, a line of details). */
  progress(result: object, details: string): void;
  /** The job's window ended (job_end): mark it success. */
  finished(result: object, details: string): void;
  /** Start an optimisation of `job` in a worker thread. */
  solve(job: Job, model: ModelVariant, timeLimitS: number): SolveHandle;
  timeLimitS: number;
}

/** One live input as a run saw it (published with the setpoints). */
export interface InputReport {
  device: string;
  field: string;
  value?: number;
  age_s?: number;
  quality?: string;
  problem?: string;
}

type Live = { ok: true; value: number; report: InputReport } | { ok: false; report: InputReport };

/** Reads one live input from the latest measurement: the scaled value, or why it cannot be used. */
export function readLive(m: Measurement | undefined, inp: LiveInput, nowMs: number, maxAgeMs: number): Live {
  const base: InputReport = { device: inp.device, field: inp.field };
  if (!m) return { ok: false, report: { ...base, problem: `no measurement of device "${inp.device}" yet` } };
  const age = nowMs - m.ts / 1000;
  const raw = compileFieldPath(inp.field)(m);
  const quality = qualityOf(m, inp.field);
  const report: InputReport = { ...base, age_s: Math.round(age) / 1000, quality };
  if (Number.isNaN(raw)) return { ok: false, report: { ...report, problem: `${inp.device} ${inp.field} is missing or not a number` } };
  report.value = raw * inp.scale;
  if (quality === 'invalid') return { ok: false, report: { ...report, problem: `${inp.device} ${inp.field} has invalid quality` } };
  // Beyond ±1e9 (a terawatt in kW) no meter reads a feeder: a broken meter or a wrong scale. The
  // forecast's values are refused past it too; the solver cannot take it, and rule-based control
  // would publish its nonsense.
  if (Math.abs(report.value) > MAX_MAGNITUDE)
    return { ok: false, report: { ...report, problem: `${inp.device} ${inp.field} gives ${report.value} after scale ${inp.scale}, beyond ±1e9 (MAX_MAGNITUDE): not a plausible reading` } };
  // A timestamp ahead of the agent's clock by more than the age limit cannot be checked for staleness:
  // the value would stay "fresh" that long after the device fell silent.
  if (-age > maxAgeMs)
    return { ok: false, report: { ...report, problem: `${inp.device} ${inp.field} is timestamped ${(-age / 1000).toFixed(1)} s in the future (limit ${maxAgeMs / 1000} s): its age cannot be checked (device clock ahead?)` } };
  if (age > maxAgeMs)
    return { ok: false, report: { ...report, problem: `${inp.device} ${inp.field} is ${(age / 1000).toFixed(1)} s old (limit ${maxAgeMs / 1000} s)` } };
  return { ok: true, value: report.value, report };
}

export class NearRealTimeLoop {
  private timer: unknown = null;
  private inflight: SolveHandle | null = null;
  private stopped = false;
  private runs = 0;
  private holds = 0;
  /** SoC estimate per battery (fraction) and when it was last valid (ms). */
  private readonly soc: Record<string, number> = {};
  private readonly socAt: Record<string, number> = {};
  /** The setpoints in force (from the last good run), with the SoC path of their schedule. */
  private current: Record<string, RunSetpoint> = {};
  private lastMessage: Record<string, unknown> | null = null;
  /** When the previous run started (ms on the clock), null before the first. */
  private lastRunAt: number | null = null;

  constructor(
    readonly id: string,
    private job: Job,
    private spec: NearRealTimeSpec,
    private readonly model: ModelVariant,
    private readonly d: LoopDeps,
  ) {
    for (const b of job.batteries) this.soc[b.id] = b.initialSoc;
  }

  get topic(): string {
    return `bal/processed/scheduler/${this.id}/setpoints`;
  }

  start(): void {
    this.schedule(Math.max(this.d.clock.now(), this.spec.startMs));
  }

  /** Ends the loop: no further run, a run in flight is terminated and publishes nothing. */
  stop(): void {
    this.stopped = true;
    if (this.timer !== null) this.d.clock.clearTimeout(this.timer);
    this.timer = null;
    this.inflight?.terminate();
    this.inflight = null;
  }

  /** The batteries changed (sub-resources): the next run uses `job`; SoC estimates of kept batteries stay. */
  setJob(job: Job, spec: NearRealTimeSpec): void {
    const known = new Set(Object.keys(this.soc));
    for (const b of job.batteries) if (!known.has(b.id)) this.soc[b.id] = b.initialSoc;
    for (const id of known) if (!job.batteries.some((b) => b.id === id)) delete this.soc[id], delete this.current[id];
    this.job = job;
    // The loop keeps its grid: job_start of a running loop does not move (a job without one would
    // otherwise get "now" again).
    this.spec = { ...spec, startMs: this.spec.startMs };
  }

  /** A battery's SoC was set (fraction): the next run starts from it. */
  setSoc(batteryId: string, soc: number): void {
    this.soc[batteryId] = soc;
    this.socAt[batteryId] = this.d.clock.now();
  }

  private schedule(at: number): void {
    if (this.stopped) return;
    if (at >= this.spec.endMs) {
      this.timer = this.d.clock.setTimeout(() => this.end(), this.spec.endMs - this.d.clock.now());
      return;
    }
    this.timer = this.d.clock.setTimeout(() => void this.tick(), at - this.d.clock.now());
  }

  private end(): void {
    this.timer = null;
    if (this.stopped) return;
    this.stopped = true;
    this.d.finished(this.summary(), `near-real-time job ended at job_end after ${this.runs} runs (${this.holds} held)`);
  }

  private summary(): object {
    return { operation_mode: 'near_real_time', runs: this.runs, holds: this.holds, topic: this.topic, last: this.lastMessage };
  }

  private async tick(): Promise<void> {
    this.timer = null;
    if (this.stopped) return;
    const now = this.d.clock.now();
    if (now >= this.spec.endMs) return this.end();
    let msg: Record<string, unknown>;
    try {
      msg = await this.runOnce(now);
    } catch (e) {
      msg = this.hold(now, ++this.runs, `the run failed: ${(e as Error).message}`, {});
    }
    if (this.stopped) return;
    this.lastMessage = msg;
    const reason = typeof msg['reason'] === 'string' ? msg['reason'] : undefined;
    this.d.counters.inc('scheduler_nrt_runs', { result: reason ? 'hold' : 'ok' });
    // The job's progress is recorded before the publish, so whoever sees the setpoints on the topic
    // finds the same run in the job's details; a failed publish replaces that line with the error.
    this.d.progress(this.summary(), reason ? `run ${msg['run']}: holding the last setpoints: ${reason}` : `run ${msg['run']}: setpoints published on ${this.topic}`);
    await this.d.publish({ topic: this.topic, message: msg }).catch((e: Error) => {
      this.d.log.warn({ job: this.id, err: e.message }, 'scheduler: setpoints not published');
      if (!this.stopped) this.d.progress(this.summary(), `run ${msg['run']}: setpoints not published: ${e.message}`);
    });
    if (this.stopped) return;
    // The next tick: the job's next grid point after this run's start (job_start + k·repeat_seconds).
    // A run that took longer than that is followed by one run at once, not by one per missed tick.
    const k = Math.floor((now - this.spec.startMs) / this.spec.repeatMs) + 1;
    this.schedule(this.spec.startMs + k * this.spec.repeatMs);
  }

  /** Moves every SoC estimate on to `now` along the schedule of the setpoints in force. */
  private carrySoc(now: number, last: number | null): void {
    if (last === null) return;
    for (const b of this.job.batteries) {
      const sp = this.current[b.id];
      if (!sp) continue;
      const from = Math.max(last, this.socAt[b.id] ?? last);
      this.soc[b.id] = advanceSoc(b, sp, this.soc[b.id] ?? b.initialSoc, Math.max(0, now - from) / 3_600_000, this.job.deltaH);
      this.socAt[b.id] = now;
    }
  }

  private async runOnce(now: number): Promise<Record<string, unknown>> {
    const run = ++this.runs;
    this.carrySoc(now, this.lastRunAt);
    this.lastRunAt = now;
    const problems: string[] = [];
    const net = readLive(this.d.latest(this.spec.net.device), this.spec.net, now, this.spec.maxAgeMs);
    if (!net.ok) problems.push(net.report.problem!);
    const socReports: Record<string, Partial<InputReport> & { source: 'carried' | 'measured' }> = {};
    for (const b of this.job.batteries) {
      const inp = this.spec.soc[b.id];
      if (!inp) {
        socReports[b.id] = { source: 'carried', value: this.soc[b.id]! };
        continue;
      }
      const s = readLive(this.d.latest(inp.device), inp, now, this.spec.maxAgeMs);
      if (s.ok && (s.value < 0 || s.value > 1)) {
        problems.push(`${inp.device} ${inp.field} gives SoC ${s.value} (after scale ${inp.scale}), outside 0..1`);
        socReports[b.id] = { ...s.report, source: 'measured' };
      } else if (!s.ok) {
        problems.push(s.report.problem!);
        socReports[b.id] = { ...s.report, source: 'measured' };
      } else {
        this.soc[b.id] = s.value;
        this.socAt[b.id] = now;
        socReports[b.id] = { ...s.report, source: 'measured' };
      }
    }
    const inputs = { net_power: net.report, soc: socReports };
    if (!net.ok || problems.length) return this.hold(now, run, problems.join('; '), inputs);

    const runJob = jobForRun(this.job, now, net.value, this.soc);
    let result: ScheduleResult;
    if (runJob.controlLogic === 'rule_based') result = ruleBased(runJob);
    else {
      const limit = Math.min(this.d.timeLimitS, Math.max(0.1, (this.spec.repeatMs / 1000) * 0.8));
      const h = this.d.solve(runJob, this.model, limit);
      this.inflight = h;
      const out = await h.done;
      this.inflight = null;
      if (!out.ok) return this.hold(now, run, `the run's schedule failed: ${out.error}`, inputs);
      result = out.result;
    }
    const sp = setpointsOf(runJob, result);
    if (!sp || (result.status !== 'success' && result.status !== 'optimal' && result.status !== 'time_limit'))
      return this.hold(now, run, `the run found no schedule: ${result.status}${result.reason ? `: ${result.reason}` : ''}`, inputs);
    this.current = sp;
    const s0 = result.schedule[0]!;
    return {
      ts: now * 1000,
      job: this.id,
      run,
      status: 'ok',
      step: s0.timestamp,
      forecast_step: stepAt(this.job, now) !== null,
      P_net_before_kW: s0.P_net_before_kW,
      P_net_after_kW: s0.P_net_after_kW,
      batteries: Object.fromEntries(this.job.batteries.map((b) => [b.id, { P_bat_kW: sp[b.id]!.P_bat_kW, SoC: sp[b.id]!.socStart }])),
      inputs,
    };
  }

  /** A run that keeps the setpoints in force (0 kW for a battery with none yet), saying why. */
  private hold(now: number, run: number, reason: string, inputs: object): Record<string, unknown> {
    this.holds++;
    return {
      ts: now * 1000,
      job: this.id,
      run,
      status: 'hold',
      reason,
      batteries: Object.fromEntries(this.job.batteries.map((b) => [b.id, { P_bat_kW: this.current[b.id]?.P_bat_kW ?? 0, SoC: this.soc[b.id]! }])),
      inputs,
    };
  }
}
