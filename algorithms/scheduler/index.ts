/** The battery scheduler: one validated job in, one result out (see README.md). */
import { normaliseJob } from './input.js';
import type { Job, ModelVariant } from './job.js';
import type { ScheduleResult } from './result.js';
import { ruleBased } from './rule-based.js';
import { optimise, type SolveOptions } from './solve.js';

export { SchedulerInputError, type Job, type Battery, type ModelVariant } from './job.js';
export type { ScheduleResult, ScheduleStep } from './result.js';
export { normaliseJob, detectDialect, parseTime, MAX_MAGNITUDE, MAX_DEPTH, MAX_BATTERY_ID_LENGTH } from './input.js';
export * from './near-real-time.js';
export { ruleBased } from './rule-based.js';
export { optimise, solveModel, loadHighs } from './solve.js';
export { buildModel } from './optimisation.js';

/** Runs a normalised job by its control logic (rule-based or optimisation with `variant`). */
export function runJob(job: Job, variant: ModelVariant = 'physical', opts: SolveOptions = {}): Promise<ScheduleResult> {
  return job.controlLogic === 'rule_based' ? Promise.resolve(ruleBased(job)) : optimise(job, variant, opts);
}

/** Parses nothing: takes the JSON value of a job in any dialect, validates it and runs it. */
export function schedule(raw: unknown, variant: ModelVariant = 'physical', opts: SolveOptions = {}): Promise<ScheduleResult> {
  return runJob(normaliseJob(raw), variant, opts);
}
