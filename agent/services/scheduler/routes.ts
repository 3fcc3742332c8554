/**
 * The scheduler's routes under `/api/v1` (each declared with JSON Schema, so `/openapi.json` lists
 * them). Every refusal is a problem document naming the field; every handler answers 503 until the
 * service started.
 */
import type { FastifyInstance, FastifyReply } from 'fastify';
import { problem, problemSchema, sendProblem } from '../../http/problem.js';
import type { ModelVariant } from '../../../algorithms/scheduler/index.js';
import type { JobRecord } from './store.js';
import type { Outcome, SchedulerService } from './index.js';
import { batteriesOf, deleteOne, replaceAll, setSoc, socUnit, upsert } from './batteries.js';

export const jobSchema = {
  type: 'object',
  required: ['id', 'status', 'model', 'created_at', 'updated_at'],
  properties: {
    id: { type: 'string' },
    status: { type: 'string', enum: ['created', 'running', 'success', 'failed'] },
    model: { type: 'string' },
    created_at: { type: 'number', description: 'wall-clock ms' },
    updated_at: { type: 'number', description: 'wall-clock ms' },
    result: { type: 'object', additionalProperties: true },
    error: { type: 'string', description: 'why the job failed (or was cancelled)' },
    details: { type: 'string', description: "a near-real-time job's progress: its last run, or why it holds its setpoints" },
  },
} as const;

const batterySchema = {
  type: 'object',
  additionalProperties: true,
  description: 'A battery spec as the job\'s dialect writes it (id, bat_type, initial_SoC, min_SoC, max_SoC, P_ch_max_kW, P_dis_max_kW, bat_capacity_kWh, ...)',
  properties: { id: { type: 'string' } },
} as const;
const batteryList = { type: 'array', items: batterySchema } as const;
const idParams = { type: 'object', required: ['id'], properties: { id: { type: 'string', maxLength: 128 } } } as const;
const batteryParams = {
  type: 'object',
  required: ['id', 'bid'],
  properties: { id: { type: 'string', maxLength: 128 }, bid: { type: 'string', maxLength: 128 } },
} as const;
const problems = { 400: problemSchema, 404: problemSchema, 409: problemSchema, 413: problemSchema, 503: problemSchema } as const;

/** A path with each id percent-encoded after `base` (a problem's `instance`): `idPath('/balancing', 'a/b')` is `/balancing/a%2Fb`. */
export const idPath = (base: string, ...ids: string[]): string => [base, ...ids.map(encodeURIComponent)].join('/');
const JOBS = '/api/v1/optimizations';
const jobUrl = (id: string): string => idPath(JOBS, id);
const view = (rec: JobRecord): Omit<JobRecord, 'input'> => {
  const { input: _input, ...out } = rec;
  return out;
};

/**
 * The answer of a scheduler route (gridedge's and pymfm's): 503 before start; else runs `fn` and
 * sends its problem (429 with Retry-After: 10), or answers with what `ok` makes of its value.
 */
export function outcomeAnswerer(s: SchedulerService) {
  return async <T>(reply: FastifyReply, url: string, fn: () => Outcome<T>, ok: (v: T) => unknown): Promise<unknown> => {
    if (!s.started) return sendProblem(reply, problem(503, 'the scheduler is not running (starting or stopping)', url));
    const out = fn();
    if (!out.ok && out.problem.status === 429) reply.header('retry-after', '10');
    return out.ok ? ok(out.value) : sendProblem(reply, out.problem);
  };
}

export function registerRoutes(app: FastifyInstance, s: SchedulerService): void {
  const guard = outcomeAnswerer(s);

  app.post<{ Body: unknown; Querystring: { model?: ModelVariant } }>(
    '/optimizations',
    {
      schema: {
        summary: 'Submit a battery scheduling job (pymfm dialects); scheduling jobs queue, near_real_time jobs start their loop',
        tags: ['scheduler'],
        querystring: { type: 'object', properties: { model: { type: 'string', enum: ['physical', 'pymfm'] } } },
        body: { type: 'object', additionalProperties: true },
        response: { 202: { type: 'object', required: ['id'], properties: { id: { type: 'string' } } }, 400: problemSchema, 409: problemSchema, 413: problemSchema, 429: problemSchema, 503: problemSchema },
      },
    },
    async (req, reply) =>
      guard(reply, '/api/v1/optimizations', () => s.submit(req.body, req.query.model ?? s.cfg.model, '/api/v1/optimizations'), (rec) => {
        s.log()?.info({ job: rec.id, user: req.session?.username }, 'scheduler: job submitted');
        return reply.code(202).send({ id: rec.id });
      }),
  );

  app.get<{ Params: { id: string } }>(
    '/optimizations/:id',
    { schema: { summary: 'One job: its status, and its result once it ran', tags: ['scheduler'], params: idParams, response: { 200: jobSchema, 404: problemSchema, 503: problemSchema } } },
    async (req, reply) => guard(reply, jobUrl(req.params.id), () => s.get(req.params.id, jobUrl(req.params.id)), view),
  );

  app.get(
    '/optimizations',
    {
      schema: {
        summary: 'Every job with its status',
        tags: ['scheduler'],
        response: {
          200: { type: 'array', items: { type: 'object', properties: { id: { type: 'string' }, status: { type: 'string' }, created_at: { type: 'number' }, updated_at: { type: 'number' } } } },
          503: problemSchema,
        },
      },
    },
    async (_req, reply) => guard(reply, '/api/v1/optimizations', () => ({ ok: true, value: s.store!.list() }), (v) => v),
  );

  app.delete<{ Params: { id: string } }>(
    '/optimizations/:id',
    {
      schema: {
        summary: 'Delete a job and its result; a running job is cancelled instead (202, marked failed with the reason), a second DELETE deletes it',
        tags: ['scheduler'],
        params: idParams,
        response: { 202: jobSchema, 204: { type: 'null' }, 404: problemSchema, 503: problemSchema },
      },
    },
    async (req, reply) =>
      guard(reply, jobUrl(req.params.id), () => s.remove(req.params.id, jobUrl(req.params.id), req.session?.username), (v) =>
        v.deleted ? reply.code(204).send() : reply.code(202).send(view(v.record)),
      ),
  );

  // Battery sub-resources.
  const editSchema = (summary: string, body: object | null, ok: Record<number, object>, params: object = batteryParams) => ({
    schema: { summary, tags: ['scheduler'], params, ...(body ? { body } : {}), response: { ...ok, ...problems } },
  });

  app.get<{ Params: { id: string } }>(
    '/optimizations/:id/batteries',
    { schema: { summary: "A job's batteries, as its input gives them", tags: ['scheduler'], params: idParams, response: { 200: batteryList, 404: problemSchema, 503: problemSchema } } },
    async (req, reply) => guard(reply, `${jobUrl(req.params.id)}/batteries`, () => s.get(req.params.id, `${jobUrl(req.params.id)}/batteries`), (rec) => batteriesOf(rec.input)),
  );

  app.put<{ Params: { id: string }; Body: unknown }>(
    '/optimizations/:id/batteries',
    { ...editSchema("Replace all of a job's batteries (before it runs, or while a near_real_time job runs)", batteryList, { 200: batteryList }, idParams), },
    async (req, reply) => {
      const url = `${jobUrl(req.params.id)}/batteries`;
      return guard(reply, url, () => s.editInput(req.params.id, url, (input) => replaceAll(input, req.body, url)), (v) => {
        // Every battery of a running near-real-time job starts its next run from the given initial_SoC.
        if (v.loop) for (const b of v.checked.job.batteries) v.loop.setSoc(b.id, b.initialSoc);
        return batteriesOf(v.record.input);
      });
    },
  );

  app.put<{ Params: { id: string; bid: string }; Body: unknown }>(
    '/optimizations/:id/batteries/:bid',
    { ...editSchema('Add or replace one battery of a job (by id)', batterySchema, { 200: batterySchema }), },
    async (req, reply) => {
      const url = idPath(JOBS, req.params.id, 'batteries', req.params.bid);
      return guard(reply, url, () => s.editInput(req.params.id, url, (input) => upsert(input, [req.body], url, req.params.bid)), (v) => {
        const b = v.checked.job.batteries.find((x) => x.id === req.params.bid);
        if (v.loop && b) v.loop.setSoc(b.id, b.initialSoc);
        return batteriesOf(v.record.input).find((x) => x['id'] === req.params.bid);
      });
    },
  );

  app.delete<{ Params: { id: string; bid: string } }>(
    '/optimizations/:id/batteries/:bid',
    { ...editSchema('Remove one battery of a job', null, { 204: { type: 'null' } }), },
    async (req, reply) => {
      const url = idPath(JOBS, req.params.id, 'batteries', req.params.bid);
      return guard(reply, url, () => s.editInput(req.params.id, url, (input) => deleteOne(input, req.params.bid, url)), () => reply.code(204).send());
    },
  );

  app.put<{ Params: { id: string; bid: string }; Body: { soc: number } }>(
    '/optimizations/:id/batteries/:bid/soc',
    {
      ...editSchema(
        "Set a battery's SoC (its initial_SoC; a running near_real_time job's next run starts from it), in the job's unit: a fraction in pymfm's service dialect, percent in the 0.5.x and Platone dialects",
        { type: 'object', required: ['soc'], properties: { soc: { type: 'number' } } },
        { 200: batterySchema },
      ),
    },
    async (req, reply) => {
      const url = `${idPath(JOBS, req.params.id, 'batteries', req.params.bid)}/soc`;
      return guard(reply, url, () => s.editInput(req.params.id, url, (input) => setSoc(input, req.params.bid, req.body.soc, url)), (v) => {
        if (v.loop) v.loop.setSoc(req.params.bid, req.body.soc / socUnit(v.record.input).scale);
        return batteriesOf(v.record.input).find((x) => x['id'] === req.params.bid);
      });
    },
  );
}
