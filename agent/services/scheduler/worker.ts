/**
 * Runs one scheduler job in a worker thread, so the solver (HiGHS) never blocks the agent's event
 * loop: gets `{ input | job, model, timeLimitS }` as workerData (a raw job in any dialect, or a job
 * already normalised, as the near-real-time loop builds them), posts `{ ok: true, result }` or
 * `{ ok: false, error }` once and ends. The service may terminate it at any time (cancel, stop, or
 * its watchdog: a solve still running well past its time limit).
 *
 * `block` (a test hook of `schedulerServiceWith`, never from a job or the config) makes the thread
 * block before solving, as a solver stuck in native code would: only terminating it ends it.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { normaliseJob, runJob, type Job, type ModelVariant } from '../../../algorithms/scheduler/index.js';

interface JobData {
  input?: unknown;
  job?: Job;
  model: ModelVariant;
  timeLimitS: number;
  block?: boolean;
}

const data = workerData as JobData;
if (data.block) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0);
try {
  const job = data.job ?? normaliseJob(data.input);
  const result = await runJob(job, data.model, { timeLimitS: data.timeLimitS });
  parentPort!.postMessage({ ok: true, result });
} catch (e) {
  parentPort!.postMessage({ ok: false, error: (e as Error).message });
}
