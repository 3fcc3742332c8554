/** The options of the `scheduler` service; the same keys form the config's `scheduler` section. */
import * as f from '../../config/formats.js';
import type { ModelVariant } from '../../../algorithms/scheduler/job.js';
import type { NearRealTimeDefaults } from '../../../algorithms/scheduler/near-real-time.js';
import { fieldPathError } from '../../../algorithms/stats/field-path.js';

const fieldPath: f.Check = (v) => {
  const e = fieldPathError(v);
  if (e) throw new Error(e);
};
const device: f.Check = (v) => {
  if (typeof v !== 'string' || /[/+#\u0000-\u001f]/.test(v)) throw new Error('must be a device name (no "/", "+", "#" or control characters), or empty');
};
const scale: f.Check = (v) => {
  if (typeof v !== 'number' || !Number.isFinite(v) || v === 0) throw new Error('must be a finite number other than 0');
};

/** The options themselves (the `scheduler` section); the near-real-time defaults are the job's fallbacks. */
export interface SchedulerOptions extends NearRealTimeDefaults {
  maxJobs: number;
  keepFinishedJobs: number;
  model: ModelVariant;
  timeLimitS: number;
  maxBatterySteps: number;
  maxParallelSolves: number;
  maxRuleBasedBatterySteps: number;
}

/** One `services` entry of type scheduler. */
export interface SchedulerConfig extends SchedulerOptions {
  id: string;
}

export const SCHEDULER_SCHEMA = {
  maxJobs: { doc: 'Jobs queued and running at most; more are refused with 429', format: f.intRange(1, 100_000), default: 100 },
  keepFinishedJobs: {
    doc: 'Finished jobs (success, failed) kept with their inputs and results in jobs.db; past it the ones finished longest ago are deleted (counted in scheduler_jobs_pruned), so a client submitting jobs for years does not fill the disk; queued and running jobs are never deleted',
    format: f.intRange(1, 1_000_000),
    default: 1000,
  },
  model: { doc: 'Optimisation model variant of jobs that do not choose one: physical or pymfm', format: ['physical', 'pymfm'], default: 'physical' },
  timeLimitS: { doc: 'Solver time limit per job in seconds (the best schedule found by then is kept, with its gap); a solve still running max(5 s, 10 %) past it is stuck: its worker is terminated and the job failed (counted in scheduler_solver_overruns)', format: f.numberRange(0.1, 3600), default: 60 },
  maxBatterySteps: {
    doc: 'Optimisation jobs (optimization_based) of more horizon steps × batteries than this are refused with 413 when submitted or edited: the MILP of a larger one needs hundreds of megabytes to gigabytes and may overrun timeLimitS (about 20 000 take 0.5 GB; 200 000 exhausted the solver at 2 GB). Rule-based jobs: maxRuleBasedBatterySteps',
    format: f.intRange(1, 10_000_000),
    default: 10_000,
  },
  maxRuleBasedBatterySteps: {
    doc: 'Rule-based jobs of more horizon steps × batteries than this are refused with 413 when submitted or edited: rule-based control takes about 1 µs per battery-step (a near-real-time run on the event loop), but the result holds every battery-step (2 million took 12 s and 1.1 GB in the agent)',
    format: f.intRange(1, 10_000_000),
    default: 100_000,
  },
  maxParallelSolves: {
    doc: 'Near-real-time optimisation runs solving at once, each in a worker thread with its own solver (tens of MB); the runs of other loops wait their turn, in order (a run then starts later than its grid point). Rule-based runs and the queue of scheduling jobs (one at a time) are not counted',
    format: f.intRange(1, 64),
    default: 2,
  },
  netDevice: {
    doc: 'Near-real-time jobs: device whose measured net power replaces the forecast of the current step, when the job names none (live_inputs.net_power.device); empty: jobs must name it',
    format: device,
    default: '',
  },
  netField: { doc: 'Near-real-time jobs: dotted field of the net power on bal/processed/<netDevice>, when the job names none', format: fieldPath, default: 'p.total' },
  netScale: { doc: 'Near-real-time jobs: net power in kW = field value × this (0.001: the field is in W; negative: the meter counts export positive)', format: scale, default: 0.001 },
  socField: { doc: "Near-real-time jobs: default dotted field of a battery's measured state of charge (live_inputs.battery_soc)", format: fieldPath, default: 'soc' },
  socScale: { doc: 'Near-real-time jobs: SoC fraction = field value × this (0.01: the field is in percent)', format: scale, default: 0.01 },
  maxInputAgeS: { doc: 'Near-real-time jobs: a live input older than this many seconds (by its timestamp) is stale and the run holds its last setpoint', format: f.numberRange(0.1, 86_400), default: 30 },
};
