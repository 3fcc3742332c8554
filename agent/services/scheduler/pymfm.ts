/**
 * pymfm's own job paths and JSON shapes, at the server's root, so a caller of pymfm's FastAPI service
 * migrates by changing only the host:
 *
 *   POST   /balancing/                                   job (pymfm input; its `id` is the job id) → the job
 *   GET    /balancing/                                   every job id
 *   GET    /balancing/{id}                               the job
 *   DELETE /balancing/{id}                               the deleted job (a running one: cancelled, then returned)
 *   POST   /balancing/{job_id}/battery_specs             replace every battery (body: list)
 *   PUT    /balancing/{job_id}/battery_specs             upsert batteries by id (body: one or a list)
 *   DELETE /balancing/{job_id}/battery_specs?battery_id=  delete one battery
 *   PUT    /balancing/{job_id}/battery_specs/soc?battery_id=&soc=  set one battery's SoC
 *
 * The job ("JobComplete"): `{ id, input, status: created|running|success|failed, details, created,
 * finished, result }`, `result` being `{ id, version, peak_imp, peak_exp, schedule: [{ time, SoC_bat:
 * {<battery id>: SoC}, P_bat_kW: {<battery id>: kW}, P_net_before_kW, P_net_after_kW }] }` (SoC as a
 * fraction, battery power positive when charging). Jobs on these paths use the `pymfm` model variant
 * unless `?model=physical` says otherwise. They share the store with `/api/v1/optimizations` (the
 * same job is readable on both). Differences: refusals are problem documents (400/404/409/429, with
 * `detail` as in FastAPI's errors) where pymfm answers 422; access follows gridedge's accounts
 * (`http.users`): a bearer token, the session cookie, or HTTP Basic with an account's user name and
 * password (what pymfm's clients send; there is no built-in admin/admin). Bodyless DELETE and PUT
 * (.../battery_specs?battery_id=, .../soc?...) need no content type; a body must be JSON (http/auth.ts).
 */
import type { FastifyInstance } from 'fastify';
import { problemSchema } from '../../http/problem.js';
import { packageVersion } from '../../core/version.js';
import type { ModelVariant, ScheduleResult } from '../../../algorithms/scheduler/index.js';
import type { JobRecord } from './store.js';
import type { SchedulerService } from './index.js';
import { deleteOne, replaceAll, setSoc, socUnit, upsert } from './batteries.js';
import { idPath, outcomeAnswerer } from './routes.js';

const iso = (ms: number): string => new Date(ms).toISOString();

/** A gridedge result in pymfm's output shape (null when there is none). */
export function pymfmResult(id: string, result: unknown): Record<string, unknown> | null {
  if (!result || typeof result !== 'object') return null;
  const r = result as Partial<ScheduleResult> & { operation_mode?: string; last?: { ts: number; batteries: Record<string, { P_bat_kW: number; SoC: number }>; P_net_before_kW?: number; P_net_after_kW?: number } | null };
  if (r.operation_mode === 'near_real_time') {
    // A near-real-time job: its latest setpoints as a one-entry schedule.
    const l = r.last;
    if (!l) return { id, version: packageVersion(), peak_imp: null, peak_exp: null, schedule: [] };
    const ids = Object.keys(l.batteries);
    return {
      id,
      version: packageVersion(),
      peak_imp: null,
      peak_exp: null,
      schedule: [
        {
          time: iso(l.ts / 1000),
          SoC_bat: Object.fromEntries(ids.map((b) => [b, l.batteries[b]!.SoC])),
          P_bat_kW: Object.fromEntries(ids.map((b) => [b, l.batteries[b]!.P_bat_kW])),
          P_net_before_kW: l.P_net_before_kW ?? null,
          P_net_after_kW: l.P_net_after_kW ?? null,
        },
      ],
    };
  }
  if (!Array.isArray(r.schedule)) return null;
  return {
    id,
    version: packageVersion(),
    peak_imp: r.peak_imp_kW ?? null,
    peak_exp: r.peak_exp_kW ?? null,
    schedule: r.schedule.map((s) => {
      const ids = Object.keys(s.batteries);
      return {
        time: s.timestamp,
        SoC_bat: Object.fromEntries(ids.map((b) => [b, s.batteries[b]!.SoC])),
        P_bat_kW: Object.fromEntries(ids.map((b) => [b, s.batteries[b]!.P_bat_kW])),
        P_net_before_kW: s.P_net_before_kW,
        P_net_after_kW: s.P_net_after_kW,
      };
    }),
  };
}

/** A job record in pymfm's JobComplete shape. */
export function jobComplete(rec: JobRecord): Record<string, unknown> {
  const finished = rec.status === 'success' || rec.status === 'failed';
  return {
    id: rec.id,
    input: rec.input,
    status: rec.status,
    details: rec.error ?? rec.details ?? null,
    created: iso(rec.created_at),
    finished: finished ? iso(rec.updated_at) : null,
    result: pymfmResult(rec.id, rec.result),
  };
}

const scheduleEntry = {
  type: 'object',
  properties: {
    time: { type: 'string' },
    SoC_bat: { type: 'object', additionalProperties: { type: 'number' } },
    P_bat_kW: { type: 'object', additionalProperties: { type: 'number' } },
    P_net_before_kW: { type: ['number', 'null'] },
    P_net_after_kW: { type: ['number', 'null'] },
  },
} as const;
export const jobCompleteSchema = {
  type: 'object',
  required: ['id', 'input', 'status', 'created'],
  properties: {
    id: { type: 'string' },
    input: { type: 'object', additionalProperties: true },
    status: { type: 'string', enum: ['created', 'running', 'success', 'failed'] },
    details: { type: ['string', 'null'] },
    created: { type: 'string', format: 'date-time' },
    finished: { type: ['string', 'null'] },
    result: {
      anyOf: [
        { type: 'null' },
        {
          type: 'object',
          properties: { id: { type: 'string' }, version: { type: 'string' }, peak_imp: { type: ['number', 'null'] }, peak_exp: { type: ['number', 'null'] }, schedule: { type: 'array', items: scheduleEntry } },
        },
      ],
    },
  },
} as const;

const batterySpec = { type: 'object', additionalProperties: true, properties: { id: { type: 'string' } } } as const;
const jobParams = { type: 'object', required: ['job_id'], properties: { job_id: { type: 'string', maxLength: 128 } } } as const;
const errors = { 400: problemSchema, 404: problemSchema, 409: problemSchema, 413: problemSchema, 429: problemSchema, 503: problemSchema } as const;

export function registerPymfmRoutes(app: FastifyInstance, s: SchedulerService): void {
  const answer = outcomeAnswerer(s);
  const tags = ['pymfm'];
  const both = (path: string, register: (p: string, hide: boolean) => void): void => {
    register(path, false);
    register(path.replace(/\/$/, ''), true); // the same route without the trailing slash, not listed twice
  };

  both('/balancing/', (path, hide) =>
    app.post<{ Body: unknown; Querystring: { model?: ModelVariant } }>(
      path,
      {
        schema: {
          hide,
          summary: "pymfm: submit a job (its own id); scheduling jobs queue, near_real_time jobs start their loop. Model variant pymfm unless ?model=physical",
          tags,
          querystring: { type: 'object', properties: { model: { type: 'string', enum: ['physical', 'pymfm'] } } },
          body: { type: 'object', required: ['id'], properties: { id: { type: 'string' } }, additionalProperties: true },
          response: { 200: jobCompleteSchema, ...errors },
        },
      },
      async (req, reply) => {
        const body = req.body as { id: string };
        return answer(reply, '/balancing/', () => s.submit(body, req.query.model ?? 'pymfm', '/balancing/', body.id), (rec) => {
          s.log()?.info({ job: rec.id, user: req.session?.username }, 'scheduler: job submitted on the pymfm path');
          return jobComplete(rec);
        });
      },
    ),
  );

  both('/balancing/', (path, hide) =>
    app.get(
      path,
      { schema: { hide, summary: 'pymfm: the ids of every job', tags, response: { 200: { type: 'array', items: { type: 'string' } }, 503: problemSchema } } },
      async (_req, reply) => answer(reply, '/balancing/', () => ({ ok: true, value: s.store!.list().map((j) => j.id) }), (v) => v),
    ),
  );

  const jobUrl = (id: string): string => idPath('/balancing', id);
  const byId = { type: 'object', required: ['id'], properties: { id: { type: 'string', maxLength: 128 } } } as const;
  app.get<{ Params: { id: string } }>(
    '/balancing/:id',
    { schema: { summary: 'pymfm: one job (JobComplete)', tags, params: byId, response: { 200: jobCompleteSchema, 404: problemSchema, 503: problemSchema } } },
    async (req, reply) => answer(reply, jobUrl(req.params.id), () => s.get(req.params.id, jobUrl(req.params.id)), jobComplete),
  );

  app.delete<{ Params: { id: string } }>(
    '/balancing/:id',
    { schema: { summary: 'pymfm: delete a job and answer it; a running job is cancelled (marked failed) and answered', tags, params: byId, response: { 200: jobCompleteSchema, 404: problemSchema, 503: problemSchema } } },
    async (req, reply) => answer(reply, jobUrl(req.params.id), () => s.remove(req.params.id, jobUrl(req.params.id), req.session?.username), (v) => jobComplete(v.record)),
  );

  const specsUrl = (id: string): string => `${jobUrl(id)}/battery_specs`;
  app.post<{ Params: { job_id: string }; Body: unknown[] }>(
    '/balancing/:job_id/battery_specs',
    { schema: { summary: "pymfm: replace every battery of a job", tags, params: jobParams, body: { type: 'array', items: batterySpec }, response: { 200: jobCompleteSchema, ...errors } } },
    async (req, reply) => {
      const url = specsUrl(req.params.job_id);
      return answer(reply, url, () => s.editInput(req.params.job_id, url, (input) => replaceAll(input, req.body, url)), (v) => {
        if (v.loop) for (const b of v.checked.job.batteries) v.loop.setSoc(b.id, b.initialSoc);
        return jobComplete(v.record);
      });
    },
  );

  app.put<{ Params: { job_id: string }; Body: unknown }>(
    '/balancing/:job_id/battery_specs',
    {
      schema: {
        summary: 'pymfm: add or replace batteries of a job by id (one spec or a list)',
        tags,
        params: jobParams,
        body: { anyOf: [batterySpec, { type: 'array', items: batterySpec }] },
        response: { 200: jobCompleteSchema, ...errors },
      },
    },
    async (req, reply) => {
      const url = specsUrl(req.params.job_id);
      const specs = Array.isArray(req.body) ? req.body : [req.body];
      return answer(reply, url, () => s.editInput(req.params.job_id, url, (input) => upsert(input, specs, url)), (v) => {
        for (const sp of specs) {
          const b = v.checked.job.batteries.find((x) => x.id === (sp as { id?: string }).id);
          if (v.loop && b) v.loop.setSoc(b.id, b.initialSoc);
        }
        return jobComplete(v.record);
      });
    },
  );

  app.delete<{ Params: { job_id: string }; Querystring: { battery_id: string } }>(
    '/balancing/:job_id/battery_specs',
    {
      schema: {
        summary: 'pymfm: delete one battery of a job',
        tags,
        params: jobParams,
        querystring: { type: 'object', required: ['battery_id'], properties: { battery_id: { type: 'string' } } },
        response: { 200: jobCompleteSchema, ...errors },
      },
    },
    async (req, reply) => {
      const url = specsUrl(req.params.job_id);
      return answer(reply, url, () => s.editInput(req.params.job_id, url, (input) => deleteOne(input, req.query.battery_id, url)), (v) => jobComplete(v.record));
    },
  );

  app.put<{ Params: { job_id: string }; Querystring: { battery_id: string; soc: number } }>(
    '/balancing/:job_id/battery_specs/soc',
    {
      schema: {
        summary: "pymfm: set one battery's SoC (in the job's unit: a fraction in the service dialect, percent in 0.5.x)",
        tags,
        params: jobParams,
        querystring: { type: 'object', required: ['battery_id', 'soc'], properties: { battery_id: { type: 'string' }, soc: { type: 'number' } } },
        response: { 200: jobCompleteSchema, ...errors },
      },
    },
    async (req, reply) => {
      const url = `${specsUrl(req.params.job_id)}/soc`;
      return answer(reply, url, () => s.editInput(req.params.job_id, url, (input) => setSoc(input, req.query.battery_id, req.query.soc, url, 'soc (query)')), (v) => {
        if (v.loop) v.loop.setSoc(req.query.battery_id, req.query.soc / socUnit(v.record.input).scale);
        return jobComplete(v.record);
      });
    },
  );
}
