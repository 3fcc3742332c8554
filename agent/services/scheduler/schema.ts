/** The options of the `scheduler` service; the same keys form the config's `scheduler` section. */
import * as f from '../../config/formats.js';
import type { ModelVariant } from '../../../algorithms/scheduler/job.js';

export interface SchedulerConfig {
  id: string;
  maxJobs: number;
  model: ModelVariant;
  timeLimitS: number;
}

export const SCHEDULER_SCHEMA = {
  maxJobs: { doc: 'Jobs queued and running at most; more are refused with 429', format: f.intRange(1, 100_000), default: 100 },
  model: { doc: 'Optimisation model variant of jobs that do not choose one: physical or pymfm', format: ['physical', 'pymfm'], default: 'physical' },
  timeLimitS: { doc: 'Solver time limit per job in seconds (the best schedule found by then is kept, with its gap)', format: f.numberRange(0.1, 3600), default: 60 },
};
