/**
 * The `scheduler` service: battery scheduling jobs over REST (the pymfm Balancer Optimizer's job
 * API), on the pure algorithms of algorithms/scheduler. See README.md.
 *
 * - `POST /api/v1/optimizations` validates the job (any pymfm dialect; every problem named with its
 *   field, 400), refuses it with 429 when `maxJobs` jobs are queued or running, stores it and answers
 *   202 `{ id }`. Jobs run one at a time, in submission order, each in a worker thread (the solver
 *   never blocks measurements). A run that fails or exceeds its time budget marks the job failed with
 *   the reason.
 * - `GET /api/v1/optimizations/{id}`: `{ id, status: created|running|success|failed, model,
 *   created_at, updated_at, result?, error? }`. `GET /api/v1/optimizations`: every job's id and
 *   status. `DELETE /api/v1/optimizations/{id}`: 204; a running job cannot be deleted (409).
 * - Jobs and results are kept in SQLite (`jobs.db` in the service's storage folder) and survive a
 *   restart; a job caught by a stop is marked failed with that reason.
 */
import { randomUUID } from 'node:crypto';
import { Worker } from 'node:worker_threads';
import type { FastifyInstance } from 'fastify';
import type { PluginHealth, Service, ServiceContext, ServiceSpec } from '../../core/plugin.js';
import { problem, problemSchema, sendProblem } from '../../http/problem.js';
import { normaliseJob, SchedulerInputError, type ModelVariant } from '../../../algorithms/scheduler/index.js';
import { JobStore, type JobRecord } from './store.js';
import { SCHEDULER_SCHEMA, type SchedulerConfig } from './schema.js';

export { SCHEDULER_SCHEMA, type SchedulerConfig };

const WORKER = new URL('./worker.js', import.meta.url);

const jobSchema = {
  type: 'object',
  required: ['id', 'status', 'model', 'created_at', 'updated_at'],
  properties: {
    id: { type: 'string' },
    status: { type: 'string', enum: ['created', 'running', 'success', 'failed'] },
    model: { type: 'string' },
    created_at: { type: 'number', description: 'wall-clock ms' },
    updated_at: { type: 'number', description: 'wall-clock ms' },
    result: { type: 'object', additionalProperties: true },
    error: { type: 'string' },
  },
} as const;

class SchedulerService implements Service {
  private store: JobStore | null = null;
  private ctx: ServiceContext | null = null;
  private queue: string[] = [];
  private running: string | null = null;
  private worker: Worker | null = null;
  private readonly counts = { submitted: 0, succeeded: 0, failed: 0, refused: 0 };

  constructor(private readonly cfg: SchedulerConfig) {}

  async start(ctx: ServiceContext): Promise<void> {
    this.store = new JobStore(ctx.storageDir, Date.now());
    this.ctx = ctx;
  }

  async stop(deadline: AbortSignal): Promise<void> {
    this.queue = [];
    const w = this.worker;
    if (w) {
      // A job still running at the deadline is abandoned: marked failed when the store opens next.
      const ended = new Promise<void>((resolve) => w.once('exit', () => resolve()));
      if (deadline.aborted) await w.terminate();
      else {
        deadline.addEventListener('abort', () => void w.terminate(), { once: true });
        await ended;
      }
    }
    this.store?.close();
    this.store = null;
    this.ctx = null;
  }

  health(): PluginHealth {
    return {
      state: this.store ? 'running' : 'stopped',
      info: { queued: this.queue.length, running: this.running ?? '', ...this.counts },
    };
  }

  private submit(input: unknown, model: ModelVariant): JobRecord {
    const now = Date.now();
    const rec: JobRecord = { id: randomUUID(), status: 'created', model, created_at: now, updated_at: now, input };
    this.store!.insert(rec);
    this.queue.push(rec.id);
    this.counts.submitted++;
    queueMicrotask(() => this.next());
    return rec;
  }

  /** Start the next queued job when none runs. */
  private next(): void {
    if (this.running || !this.store || this.queue.length === 0) return;
    const id = this.queue.shift()!;
    const rec = this.store.get(id);
    if (!rec) return this.next(); // deleted while queued
    this.running = id;
    this.store.update(id, 'running', Date.now());
    const w = new Worker(WORKER, { workerData: { input: rec.input, model: rec.model, timeLimitS: this.cfg.timeLimitS } });
    this.worker = w;
    let settled = false;
    const finish = (ok: boolean, result?: unknown, error?: string): void => {
      if (settled) return;
      settled = true;
      this.worker = null;
      this.running = null;
      if (this.store) this.store.update(id, ok ? 'success' : 'failed', Date.now(), result, error);
      if (ok) this.counts.succeeded++;
      else this.counts.failed++;
      this.ctx?.counters.inc('scheduler_jobs', { result: ok ? 'success' : 'failed' });
      this.next();
    };
    w.once('message', (m: { ok: boolean; result?: { status: string; reason?: string }; error?: string }) => {
      if (!m.ok) return finish(false, undefined, m.error ?? 'the job failed');
      const st = m.result!.status;
      // A solver that found no schedule (infeasible, failed) makes a failed job, with its result.
      if (st === 'success' || st === 'optimal' || st === 'time_limit') finish(true, m.result);
      else finish(false, m.result, `${st}${m.result!.reason ? `: ${m.result!.reason}` : ''}`);
    });
    w.once('error', (e) => finish(false, undefined, `the job's worker failed: ${e.message}`));
    w.once('exit', (code) => finish(false, undefined, `the job's worker ended (code ${code}) without a result`));
  }

  async routes(app: FastifyInstance): Promise<void> {
    const unavailable = (reply: Parameters<typeof sendProblem>[0], url: string) =>
      sendProblem(reply, problem(503, 'the scheduler is not running (starting or stopping)', url));

    app.post<{ Body: unknown; Querystring: { model?: ModelVariant } }>(
      '/optimizations',
      {
        schema: {
          summary: 'Submit a battery scheduling job (pymfm dialects); runs in the background',
          tags: ['scheduler'],
          querystring: { type: 'object', properties: { model: { type: 'string', enum: ['physical', 'pymfm'] } } },
          body: { type: 'object', additionalProperties: true },
          response: {
            202: { type: 'object', required: ['id'], properties: { id: { type: 'string' } } },
            400: problemSchema,
            429: problemSchema,
            503: problemSchema,
          },
        },
      },
      async (req, reply) => {
        if (!this.store) return unavailable(reply, '/api/v1/optimizations');
        try {
          normaliseJob(req.body);
        } catch (e) {
          if (e instanceof SchedulerInputError) return sendProblem(reply, problem(400, e.problems.join('; '), '/api/v1/optimizations'));
          throw e;
        }
        if (this.store.pending() >= this.cfg.maxJobs) {
          this.counts.refused++;
          this.ctx?.counters.inc('scheduler_jobs', { result: 'refused' });
          reply.header('retry-after', '10');
          return sendProblem(reply, problem(429, `${this.cfg.maxJobs} jobs are queued or running (scheduler.maxJobs); try again later`, '/api/v1/optimizations'));
        }
        const rec = this.submit(req.body, req.query.model ?? this.cfg.model);
        this.ctx?.log.info({ job: rec.id, user: req.session?.username }, 'scheduler: job submitted');
        return reply.code(202).send({ id: rec.id });
      },
    );

    app.get<{ Params: { id: string } }>(
      '/optimizations/:id',
      {
        schema: {
          summary: 'One job: its status, and its result once it ran',
          tags: ['scheduler'],
          params: { type: 'object', required: ['id'], properties: { id: { type: 'string', maxLength: 64 } } },
          response: { 200: jobSchema, 404: problemSchema, 503: problemSchema },
        },
      },
      async (req, reply) => {
        const url = `/api/v1/optimizations/${encodeURIComponent(req.params.id)}`;
        if (!this.store) return unavailable(reply, url);
        const rec = this.store.get(req.params.id);
        if (!rec) return sendProblem(reply, problem(404, 'no such job', url));
        const { input: _input, ...out } = rec;
        return out;
      },
    );

    app.get(
      '/optimizations',
      {
        schema: {
          summary: 'Every job with its status',
          tags: ['scheduler'],
          response: {
            200: {
              type: 'array',
              items: { type: 'object', properties: { id: { type: 'string' }, status: { type: 'string' }, created_at: { type: 'number' }, updated_at: { type: 'number' } } },
            },
            503: problemSchema,
          },
        },
      },
      async (_req, reply) => (this.store ? this.store.list() : unavailable(reply, '/api/v1/optimizations')),
    );

    app.delete<{ Params: { id: string } }>(
      '/optimizations/:id',
      {
        schema: {
          summary: 'Delete a job and its result (not while it runs)',
          tags: ['scheduler'],
          params: { type: 'object', required: ['id'], properties: { id: { type: 'string', maxLength: 64 } } },
          response: { 204: { type: 'null' }, 404: problemSchema, 409: problemSchema, 503: problemSchema },
        },
      },
      async (req, reply) => {
        const url = `/api/v1/optimizations/${encodeURIComponent(req.params.id)}`;
        if (!this.store) return unavailable(reply, url);
        if (this.running === req.params.id) return sendProblem(reply, problem(409, 'the job is running; delete it once it finished', url));
        if (!this.store.delete(req.params.id)) return sendProblem(reply, problem(404, 'no such job', url));
        this.queue = this.queue.filter((q) => q !== req.params.id);
        return reply.code(204).send();
      },
    );
  }
}

export const schedulerService: ServiceSpec<SchedulerConfig> = {
  type: 'scheduler',
  doc: 'Battery scheduling jobs over REST (pymfm Balancer Optimizer): rule-based or MILP (HiGHS), run in a worker thread, kept in SQLite',
  schema: SCHEDULER_SCHEMA,
  metrics: { scheduler_jobs: { type: 'counter', help: 'Scheduler jobs by outcome: success, failed, refused (queue full)', labels: ['result'] } },
  create: (cfg) => new SchedulerService(cfg),
};
