/**
 * Runs one scheduler job in a worker thread, so the solver (HiGHS) never blocks the agent's event
 * loop: gets `{ input, model, timeLimitS }` as workerData, posts `{ ok: true, result }` or
 * `{ ok: false, error }` once and ends.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { normaliseJob, runJob, type ModelVariant } from '../../../algorithms/scheduler/index.js';

interface JobData {
  input: unknown;
  model: ModelVariant;
  timeLimitS: number;
}

const data = workerData as JobData;
try {
  const result = await runJob(normaliseJob(data.input), data.model, { timeLimitS: data.timeLimitS });
  parentPort!.postMessage({ ok: true, result });
} catch (e) {
  parentPort!.postMessage({ ok: false, error: (e as Error).message });
}
