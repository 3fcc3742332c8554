/**
 * The `scheduler` service: battery scheduling jobs over REST (the pymfm Balancer Optimizer's job
 * API), on the pure algorithms of algorithms/scheduler. See README.md.
 *
 * - Scheduling jobs run one at a time, in submission order, each in a worker thread (the solver never
 *   blocks measurements). A run that fails marks the job failed with the reason. DELETE of the
 *   running job terminates its worker and marks it failed ("cancelled"); the queue goes on.
 * - Near-real-time jobs (`operation_mode: near_real_time`) do not queue: each runs its own loop
 *   (near-real-time.ts) on the service's Clock from job_start to job_end, publishing setpoints on
 *   `bal/processed/scheduler/<job id>/setpoints` through the data path.
 * - Jobs and results are kept in SQLite (`jobs.db` in the service's storage folder) and survive a
 *   restart; a job caught by a stop is marked failed with that reason.
 * - Routes: `/api/v1/optimizations...` (routes.ts) and pymfm's own `/balancing/...` at the server's
 *   root (pymfm.ts), both over the operations below.
 */
import { randomUUID } from 'node:crypto';
import { Worker } from 'node:worker_threads';
import type { FastifyInstance } from 'fastify';
import type { MetricCatalogue } from '../../core/metrics.js';
import type { PluginHealth, Service, ServiceContext, ServiceSpec } from '../../core/plugin.js';
import { problem, type Problem } from '../../http/problem.js';
import { deviceNameError } from '../../pipeline/device-name.js';
import {
  normaliseJob,
  readNearRealTime,
  SchedulerInputError,
  type Job,
  type ModelVariant,
  type NearRealTimeSpec,
  type ScheduleResult,
} from '../../../algorithms/scheduler/index.js';
import { JobStore, type JobRecord } from './store.js';
import { SCHEDULER_SCHEMA, type SchedulerConfig } from './schema.js';
import { systemClock, type Clock } from './clock.js';
import { NearRealTimeLoop, type SolveHandle } from './near-real-time.js';
import { registerRoutes } from './routes.js';
import { registerPymfmRoutes } from './pymfm.js';

export { SCHEDULER_SCHEMA, type SchedulerConfig };
export type { Clock } from './clock.js';

const WORKER = new URL('./worker.js', import.meta.url);

/** Either the value or a problem (status, detail) to answer with. */
export type Outcome<T> = { ok: true; value: T } | { ok: false; problem: Problem };
const fail = <T>(status: number, detail: string, url: string): Outcome<T> => ({ ok: false, problem: problem(status, detail, url) });

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Job ids end up in a topic name: no "/", "+", "#", no control characters, at most 128 characters. */
export function jobIdError(id: unknown): string | null {
  if (typeof id !== 'string' || id === '') return 'must be a non-empty string';
  if (id.length > 128 || /[/+#\u0000-\u001f\u007f]/.test(id)) return 'must be at most 128 characters without "/", "+", "#" or control characters';
  return null;
}

/** A validated job: its normalised form and, for near-real-time jobs, the loop's settings. */
interface Checked {
  job: Job;
  nrt?: NearRealTimeSpec;
}

/**
 * How long past its time limit a solve may run before the watchdog terminates its worker: max(5 s,
 * 10 % of the limit). HiGHS checks its limit between iterations; a solve far past it is stuck.
 */
export function watchdogGraceS(timeLimitS: number): number {
  return Math.max(5, 0.1 * timeLimitS);
}

/** Hooks for tests only (never from the config or a job). */
export interface SchedulerTestHooks {
  /** Every solve's worker blocks before solving (a solver stuck in native code): only the watchdog, a cancel or a stop ends it. */
  solverBlocks?: boolean;
}

export class SchedulerService implements Service {
  store: JobStore | null = null;
  private ctx: ServiceContext | null = null;
  private queue: string[] = [];
  /** The scheduling job in its worker; `cancelled` once DELETE marked it failed (its worker may take a while to end). */
  private running: { id: string; cancelled: boolean; cancel: (reason: string) => void } | null = null;
  private readonly loops = new Map<string, NearRealTimeLoop>();
  private readonly workers = new Set<Worker>();
  private readonly counts = { submitted: 0, succeeded: 0, failed: 0, refused: 0, cancelled: 0 };
  /**
   * Near-real-time optimisation runs solving at once (each a worker thread with its own solver, tens of
   * MB): at most `maxParallelSolves`; the others wait in order. Without it, 30 loops repeating every
   * second held 1.4 GB in 50 threads (and `maxJobs` loops can be running).
   */
  private solving = 0;
  private solvingMax = 0;
  private readonly solveWaiters: (() => void)[] = [];

  constructor(
    readonly cfg: SchedulerConfig,
    readonly clock: Clock = systemClock,
    private readonly hooks: SchedulerTestHooks = {},
  ) {}

  async start(ctx: ServiceContext): Promise<void> {
    this.store = new JobStore(ctx.storageDir, this.clock.now());
    this.ctx = ctx;
    this.pruneFinished();
  }

  async stop(deadline: AbortSignal): Promise<void> {
    this.queue = [];
    for (const loop of this.loops.values()) loop.stop();
    this.loops.clear();
    const ws = [...this.workers];
    if (ws.length) {
      // Workers still running at the deadline are terminated; their jobs are marked failed when the store opens next.
      const ended = Promise.all(ws.map((w) => new Promise<void>((resolve) => w.once('exit', () => resolve()))));
      if (deadline.aborted) await Promise.all(ws.map((w) => w.terminate()));
      else {
        const kill = (): void => void ws.forEach((w) => void w.terminate());
        deadline.addEventListener('abort', kill, { once: true });
        await ended;
        deadline.removeEventListener('abort', kill);
      }
    }
    this.running = null;
    this.store?.close();
    this.store = null;
    this.ctx = null;
  }

  health(): PluginHealth {
    return {
      state: this.store ? 'running' : 'stopped',
      info: {
        queued: this.queue.length,
        running: this.running?.id ?? 'none',
        near_real_time: this.loops.size,
        nrt_solving: this.solving,
        nrt_solving_max: this.solvingMax,
        nrt_solves_waiting: this.solveWaiters.length,
        ...this.counts,
      },
    };
  }

  get started(): boolean {
    return this.store !== null;
  }

  /** Validates a job in any dialect (near-real-time included); every problem named with its field. */
  check(input: unknown, url: string): Outcome<Checked> {
    try {
      const job = normaliseJob(input, { nearRealTime: true });
      // The MILP grows with steps × batteries (memory and time), and so does every result (a rule-based
      // one of 2 million battery-steps took 1.1 GB in the agent): past the limit a job is refused before
      // anything is stored.
      const size = job.timestamps.length * job.batteries.length;
      const opt = job.controlLogic === 'optimization_based';
      const limit = opt ? this.cfg.maxBatterySteps : this.cfg.maxRuleBasedBatterySteps;
      if (size > limit) {
        this.ctx?.counters.inc('scheduler_jobs', { result: 'too_large' });
        return fail(
          413,
          `generation_and_load × battery_specs: ${job.timestamps.length} steps × ${job.batteries.length} batteries = ${size} battery-steps, more than ${opt ? 'an optimisation' : 'a rule-based job'} takes here (scheduler.${opt ? 'maxBatterySteps' : 'maxRuleBasedBatterySteps'}: ${limit}); shorten the horizon (control_start/control_end) or use fewer batteries${opt ? ' or rule_based control' : ''}`,
          url,
        );
      }
      if (job.operationMode !== 'near_real_time') return { ok: true, value: { job } };
      const nrt = readNearRealTime(input, job, this.cfg, this.clock.now(), deviceNameError);
      return { ok: true, value: { job, nrt } };
    } catch (e) {
      if (e instanceof SchedulerInputError) return fail(400, e.problems.join('; '), url);
      throw e;
    }
  }

  private refuseWhenFull(url: string): Outcome<never> | null {
    if (this.store!.pending() < this.cfg.maxJobs) return null;
    this.counts.refused++;
    this.ctx?.counters.inc('scheduler_jobs', { result: 'refused' });
    return fail(429, `${this.cfg.maxJobs} jobs are queued or running (scheduler.maxJobs); try again later`, url);
  }

  /**
   * Validates and stores a job, then queues it (scheduling) or starts its loop (near-real-time).
   * `id`: the caller's id (pymfm's paths use the job's own `id`); a job of that id that is still
   * queued or running is refused (409), a finished one is replaced.
   */
  submit(input: unknown, model: ModelVariant, url: string, id?: string): Outcome<JobRecord> {
    const checked = this.check(input, url);
    if (!checked.ok) return checked;
    if (id !== undefined) {
      const bad = jobIdError(id);
      if (bad) return fail(400, `id: ${bad}, got ${JSON.stringify(id)}`, url);
      const old = this.store!.get(id);
      if (old && (old.status === 'created' || old.status === 'running'))
        return fail(409, `job "${id}" is ${old.status === 'created' ? 'queued' : 'running'}; delete it first or use another id`, url);
      if (old) this.store!.delete(id);
    }
    const full = this.refuseWhenFull(url);
    if (full) return full;
    const now = this.clock.now();
    const rec: JobRecord = { id: id ?? randomUUID(), status: 'created', model, created_at: now, updated_at: now, input };
    this.store!.insert(rec);
    this.counts.submitted++;
    if (checked.value.nrt) this.startLoop(rec.id, checked.value.job, checked.value.nrt, model);
    else {
      this.queue.push(rec.id);
      queueMicrotask(() => this.next());
    }
    return { ok: true, value: rec };
  }

  private startLoop(id: string, job: Job, spec: NearRealTimeSpec, model: ModelVariant): void {
    const ctx = this.ctx!;
    const store = this.store!;
    const loop = new NearRealTimeLoop(id, job, spec, model, {
      clock: this.clock,
      log: ctx.log,
      counters: ctx.counters,
      latest: (device) => ctx.latest(device),
      publish: (msg) => ctx.publish(msg),
      progress: (result, details) => {
        if (this.loops.get(id) === loop) store.progress(id, 'running', this.clock.now(), result, details);
      },
      finished: (result, details) => {
        if (this.loops.get(id) !== loop) return;
        this.loops.delete(id);
        store.progress(id, 'success', this.clock.now(), result, details);
        this.pruneFinished();
        this.counts.succeeded++;
        ctx.counters.inc('scheduler_jobs', { result: 'success' });
      },
      solve: (j, m, limit) => this.spawnLimited({ job: j, model: m, timeLimitS: limit }, id),
      timeLimitS: this.cfg.timeLimitS,
    });
    this.loops.set(id, loop);
    loop.start();
  }

  /**
   * A near-real-time run's solve: starts at once while fewer than `maxParallelSolves` run, else when
   * one ends (in order of asking). `terminate` ends it, or takes it out of the line.
   */
  private spawnLimited(data: { job: Job; model: ModelVariant; timeLimitS: number }, jobId: string): SolveHandle {
    let handle: SolveHandle | null = null;
    let finish!: (out: Awaited<SolveHandle['done']>) => void;
    const done = new Promise<Awaited<SolveHandle['done']>>((resolve) => (finish = resolve));
    const run = (): void => {
      this.solving++;
      this.solvingMax = Math.max(this.solvingMax, this.solving);
      handle = this.spawn(data, jobId, 'near_real_time');
      void handle.done.then((out) => {
        this.solving--;
        this.solveWaiters.shift()?.();
        finish(out);
      });
    };
    if (this.solving < this.cfg.maxParallelSolves) run();
    else this.solveWaiters.push(run);
    return {
      done,
      terminate: () => {
        if (handle) return handle.terminate();
        const k = this.solveWaiters.indexOf(run);
        if (k >= 0) this.solveWaiters.splice(k, 1);
        finish({ ok: false, error: 'terminated' });
      },
    };
  }

  /**
   * A worker thread running one solve; `terminate` ends it (the outcome then says so).
   *
   * Watchdog: a solve still running at its time limit plus watchdogGraceS (on the service's Clock) is
   * stuck (HiGHS checks its limit between iterations; a solver hung in native code never returns): its
   * worker is terminated, counted in `scheduler_solver_overruns{kind}` and logged, and the outcome is a
   * failure naming the limit at once (the job, or the near-real-time run, does not wait for the
   * thread's end; a near-real-time run's `maxParallelSolves` slot is freed with it).
   */
  private spawn(
    data: { input?: unknown; job?: Job; model: ModelVariant; timeLimitS: number },
    jobId: string,
    kind: 'job' | 'near_real_time',
  ): SolveHandle {
    const w = new Worker(WORKER, { workerData: { ...data, ...(this.hooks.solverBlocks ? { block: true } : {}) } });
    this.workers.add(w);
    let ended: string | null = null;
    let settle!: (out: { ok: true; result: ScheduleResult } | { ok: false; error: string }) => void;
    const done = new Promise<{ ok: true; result: ScheduleResult } | { ok: false; error: string }>((resolve) => (settle = resolve));
    const grace = watchdogGraceS(data.timeLimitS);
    const watchdog = this.clock.setTimeout(() => {
      if (ended !== null) return;
      const limit = kind === 'job' ? `scheduler.timeLimitS: ${data.timeLimitS} s` : `the run's time limit: ${data.timeLimitS} s, min(scheduler.timeLimitS, 0.8 × repeat_seconds)`;
      ended = `the solver overran its time limit (${limit}) by more than ${grace} s and its worker was terminated`;
      this.ctx?.counters.inc('scheduler_solver_overruns', { kind });
      this.ctx?.log.warn({ job: jobId, kind, time_limit_s: data.timeLimitS, grace_s: grace }, `scheduler: solve of job ${jobId} still running ${grace} s past its time limit (${data.timeLimitS} s): worker terminated`);
      void w.terminate();
      settle({ ok: false, error: ended });
    }, (data.timeLimitS + grace) * 1000);
    const finished = (out: { ok: true; result: ScheduleResult } | { ok: false; error: string }): void => {
      this.clock.clearTimeout(watchdog);
      settle(out);
    };
    w.once('message', (m: { ok: boolean; result?: ScheduleResult; error?: string }) =>
      finished(m.ok ? { ok: true, result: m.result! } : { ok: false, error: m.error ?? 'the job failed' }),
    );
    w.once('error', (e) => finished({ ok: false, error: `the job's worker failed: ${e.message}` }));
    w.once('exit', (code) => {
      this.workers.delete(w);
      finished({ ok: false, error: ended ?? `the job's worker ended (code ${code}) without a result` });
    });
    return {
      done,
      terminate: () => {
        ended ??= 'terminated';
        this.clock.clearTimeout(watchdog);
        void w.terminate();
      },
    };
  }

  /** Start the next queued job when none runs. */
  private next(): void {
    if (this.running || !this.store || this.queue.length === 0) return;
    const id = this.queue.shift()!;
    const rec = this.store.get(id);
    if (!rec || rec.status !== 'created') return this.next(); // deleted while queued
    this.store.update(id, 'running', this.clock.now());
    const h = this.spawn({ input: rec.input, model: rec.model as ModelVariant, timeLimitS: this.cfg.timeLimitS }, id, 'job');
    let cancelled: string | null = null;
    const running = { id, cancelled: false, cancel: (reason: string) => ((cancelled = reason), (running.cancelled = true), h.terminate()) };
    this.running = running;
    void h.done.then((out) => {
      if (this.running === running) this.running = null;
      if (!this.store) return;
      let ok: boolean;
      let result: unknown;
      let error: string | undefined;
      if (cancelled !== null) (ok = false), (error = cancelled);
      else if (!out.ok) (ok = false), (error = out.error);
      else {
        const st = out.result.status;
        result = out.result;
        // A solver that found no schedule (infeasible, failed) makes a failed job, with its result.
        ok = st === 'success' || st === 'optimal' || st === 'time_limit';
        if (!ok) error = `${st}${out.result.reason ? `: ${out.result.reason}` : ''}`;
      }
      // A cancelled job was marked failed by DELETE already; since then it may have been deleted, and
      // a new job of the same id (pymfm's paths) submitted: that one must not be overwritten.
      if (cancelled === null) this.store.update(id, ok ? 'success' : 'failed', this.clock.now(), result, error);
      this.pruneFinished();
      if (cancelled !== null) {
        this.counts.cancelled++;
        this.ctx?.counters.inc('scheduler_jobs', { result: 'cancelled' });
      } else {
        if (ok) this.counts.succeeded++;
        else this.counts.failed++;
        this.ctx?.counters.inc('scheduler_jobs', { result: ok ? 'success' : 'failed' });
      }
      this.next();
    });
  }

  /** Keep at most `keepFinishedJobs` finished jobs (the store deletes those finished longest ago); counted and logged. */
  private pruneFinished(): void {
    if (!this.store) return;
    const n = this.store.pruneFinished(this.cfg.keepFinishedJobs);
    if (n === 0) return;
    this.ctx?.counters.inc('scheduler_jobs_pruned', undefined, n);
    this.ctx?.log.info({ pruned: n, keep: this.cfg.keepFinishedJobs }, `scheduler: ${n} finished job(s) deleted, past scheduler.keepFinishedJobs (${this.cfg.keepFinishedJobs})`);
  }

  get(id: string, url: string): Outcome<JobRecord> {
    const rec = this.store!.get(id);
    return rec ? { ok: true, value: rec } : fail(404, `no job "${id}"`, url);
  }

  /**
   * DELETE: a queued or finished job is deleted (`deleted: true`); a running one (scheduling or
   * near-real-time) is cancelled instead: its worker is terminated or its loop stopped, and it is
   * marked failed with the reason (`deleted: false`); a second DELETE then deletes it.
   */
  remove(id: string, url: string, who?: string): Outcome<{ deleted: boolean; record: JobRecord }> {
    const rec = this.store!.get(id);
    if (!rec) return fail(404, `no job "${id}"`, url);
    const reason = `cancelled: deleted while running${who ? ` by ${who}` : ''}`;
    // A job already cancelled whose worker has not ended yet is finished as far as callers go: deleted.
    if (this.running?.id === id && !this.running.cancelled) {
      this.running.cancel(reason);
      this.store!.update(id, 'failed', this.clock.now(), undefined, reason);
      this.pruneFinished();
      this.ctx?.log.info({ job: id, user: who }, 'scheduler: running job cancelled');
      return { ok: true, value: { deleted: false, record: this.store!.get(id)! } };
    }
    const loop = this.loops.get(id);
    if (loop) {
      loop.stop();
      this.loops.delete(id);
      this.store!.progress(id, 'failed', this.clock.now(), rec.result ?? {}, reason, reason);
      this.pruneFinished();
      this.counts.cancelled++;
      this.ctx?.counters.inc('scheduler_jobs', { result: 'cancelled' });
      return { ok: true, value: { deleted: false, record: this.store!.get(id)! } };
    }
    this.store!.delete(id);
    this.queue = this.queue.filter((q) => q !== id);
    return { ok: true, value: { deleted: true, record: rec } };
  }

  /**
   * Changes a job's input (its batteries) with `edit`, validates the result as a whole and stores it.
   * Allowed while the job is queued, and while a near-real-time job runs (its next run uses it); a
   * running scheduling job or a finished job is refused (409).
   */
  editInput(id: string, url: string, edit: (input: Obj) => Outcome<Obj>): Outcome<{ record: JobRecord; loop?: NearRealTimeLoop; checked: Checked }> {
    const rec = this.store!.get(id);
    if (!rec) return fail(404, `no job "${id}"`, url);
    const loop = this.loops.get(id);
    if (rec.status === 'running' && !loop) return fail(409, 'the job is running; its batteries can change only before it runs (or cancel it with DELETE and submit it again)', url);
    if (rec.status === 'success' || rec.status === 'failed') return fail(409, `the job has finished (${rec.status}); submit a new job instead`, url);
    if (!isObj(rec.input)) return fail(409, 'the job has no editable input', url);
    const edited = edit(structuredClone(rec.input));
    if (!edited.ok) return edited;
    const checked = this.check(edited.value, url);
    if (!checked.ok) return checked;
    // Re-read: the job may have started or ended while nothing awaited here (all synchronous), so it has not.
    this.store!.setInput(id, edited.value, this.clock.now());
    if (loop && checked.value.nrt) loop.setJob(checked.value.job, checked.value.nrt);
    return { ok: true, value: { record: this.store!.get(id)!, ...(loop ? { loop } : {}), checked: checked.value } };
  }

  async routes(app: FastifyInstance): Promise<void> {
    registerRoutes(app, this);
  }

  /** pymfm's own paths (`/balancing/...`), registered at the server's root. */
  async rootRoutes(app: FastifyInstance): Promise<void> {
    registerPymfmRoutes(app, this);
  }

  log(): ServiceContext['log'] | undefined {
    return this.ctx?.log;
  }
}

export const SCHEDULER_METRICS: MetricCatalogue = {
  scheduler_jobs: { type: 'counter', help: 'Scheduler jobs by outcome: success, failed, cancelled (deleted while running), refused (queue full), too_large (more battery-steps than maxBatterySteps or maxRuleBasedBatterySteps)', labels: ['result'] },
  scheduler_jobs_pruned: { type: 'counter', help: 'Finished scheduler jobs deleted with their results because more than keepFinishedJobs were kept', labels: [] },
  scheduler_solver_overruns: { type: 'counter', help: 'Solves whose worker the watchdog terminated, still running past their time limit plus max(5 s, 10 %) (a stuck solver): kind job (the job failed) or near_real_time (the run held)', labels: ['kind'] },
  scheduler_nrt_runs: { type: 'counter', help: 'Near-real-time scheduler runs by outcome: ok (setpoints from a new schedule), hold (last setpoints kept: stale or invalid input, no schedule)', labels: ['result'] },
};

/** The service's spec with a clock of the caller's (tests drive the near-real-time loop with it). */
export function schedulerServiceWith(clock: Clock, hooks: SchedulerTestHooks = {}): ServiceSpec<SchedulerConfig> {
  return {
    type: 'scheduler',
    doc: 'Battery scheduling jobs over REST (pymfm Balancer Optimizer): rule-based or MILP (HiGHS) in a worker thread, near-real-time loops on live measurements, kept in SQLite',
    schema: SCHEDULER_SCHEMA,
    metrics: SCHEDULER_METRICS,
    validate: () => [],
    create: (cfg) => new SchedulerService(cfg, clock, hooks),
  };
}

export const schedulerService: ServiceSpec<SchedulerConfig> = schedulerServiceWith(systemClock);
