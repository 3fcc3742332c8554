/**
 * The read API under /api/v1 beside the status document: devices with their latest values (paged),
 * one device, the counters with the metric catalogue, and the forwarders. Every route declares its
 * schemas (so it is in /openapi.json) and answers errors as problem details.
 */
import type { FastifyInstance } from 'fastify';
import type { HttpDeps } from '../deps.js';
import { problem, problemSchema, sendProblem } from '../problem.js';
import { countersSchema, deviceStatusSchema, forwarderStatusSchema } from '../schemas.js';
import { registerHistoryRoute } from './history.js';

/** Devices per page at most (and by default). */
export const DEVICES_PAGE_MAX = 500;

const pageQuery = {
  type: 'object',
  additionalProperties: false,
  properties: {
    limit: { type: 'integer', minimum: 1, maximum: DEVICES_PAGE_MAX, default: 100, description: 'devices per page' },
    offset: { type: 'integer', minimum: 0, default: 0, description: 'devices to skip (by name)' },
  },
} as const;

export function registerApiRoutes(app: FastifyInstance, deps: HttpDeps): void {
  const latest = () => deps.latestByDevice?.() ?? new Map();
  const nowUs = () => Date.now() * 1000;

  app.get<{ Querystring: { limit: number; offset: number } }>(
    '/api/v1/devices',
    {
      schema: {
        summary: 'Every device with its latest processed measurement, quality and age, by name, a page at a time',
        tags: ['devices'],
        querystring: pageQuery,
        response: {
          200: {
            type: 'object',
            required: ['total', 'offset', 'items'],
            properties: { total: { type: 'integer' }, offset: { type: 'integer' }, items: { type: 'array', items: deviceStatusSchema } },
          },
          400: problemSchema,
        },
      },
    },
    async (req) => {
      const all = latest();
      const names = [...all.keys()].sort();
      const { limit, offset } = req.query;
      const now = nowUs();
      const items = names.slice(offset, offset + limit).map((d) => {
        const m = all.get(d)!;
        return { device: d, latest: m, ageSeconds: Math.max(0, (now - m.ts) / 1e6) };
      });
      return { total: names.length, offset, items };
    },
  );

  app.get<{ Params: { id: string } }>(
    '/api/v1/devices/:id',
    {
      schema: {
        summary: 'One device: its latest processed measurement, quality and age',
        tags: ['devices'],
        params: { type: 'object', required: ['id'], properties: { id: { type: 'string', maxLength: 256 } } },
        response: { 200: deviceStatusSchema, 404: problemSchema },
      },
    },
    async (req, reply) => {
      const m = latest().get(req.params.id);
      if (!m) return sendProblem(reply, problem(404, 'no measurement of this device (yet)', `/api/v1/devices/${encodeURIComponent(req.params.id)}`));
      return { device: req.params.id, latest: m, ageSeconds: Math.max(0, (nowUs() - m.ts) / 1e6) };
    },
  );

  registerHistoryRoute(app, deps);

  app.get(
    '/api/v1/counters',
    {
      schema: {
        summary: 'Every counter and gauge, with the metric catalogue (type, help, label names)',
        tags: ['status'],
        response: {
          200: {
            type: 'object',
            required: ['counters', 'metrics'],
            properties: { counters: countersSchema, metrics: { type: 'object', additionalProperties: true } },
          },
        },
      },
    },
    async () => ({ counters: deps.counters.snapshot(), metrics: deps.counters.catalogue() }),
  );

  app.get(
    '/api/v1/forwarders',
    {
      schema: {
        summary: 'Each forwarder: connected, lag in rows and seconds, drain rate, last error',
        tags: ['status'],
        response: { 200: { type: 'array', items: forwarderStatusSchema } },
      },
    },
    async () => deps.getStatus().forwarders,
  );
}
