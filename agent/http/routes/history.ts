/**
 * `GET /api/v1/devices/{id}/history?field=&from=&to=&points=`: one field of a device over a time
 * range, downsampled on the gateway (min / max / mean / count per bucket, columnar), read from the
 * buffer's history (`storage.historyHours`). Errors are problem details naming the parameter:
 * an unknown device is 404; a bad field path, a bad time, from after to, points out of range are 400.
 */
import type { FastifyInstance } from 'fastify';
import {
  HISTORY_POINTS_DEFAULT,
  HISTORY_POINTS_MAX,
  HistoryQueryError,
  type HistorySource,
} from '../../buffer/index.js';
import type { HttpDeps } from '../deps.js';
import { problem, problemSchema, sendProblem } from '../problem.js';

/** The default range when `from` is not given: the hour before `to`. */
export const HISTORY_DEFAULT_SPAN_MS = 3_600_000;

/** `deps.history` when the buffer it is built from reads history. */
export function historyOf(buffer: unknown): HistorySource | undefined {
  const b = buffer as Partial<HistorySource> | null | undefined;
  return b && typeof b.history === 'function' && typeof b.hasHistory === 'function' ? (b as HistorySource) : undefined;
}

const numbers = { type: 'array', items: { type: 'number' } } as const;

export const historyQuerySchema = {
  type: 'object',
  additionalProperties: false,
  required: ['field'],
  properties: {
    field: {
      type: 'string',
      minLength: 1,
      maxLength: 256,
      description:
        'A numeric field of the processed measurement as a dotted path (p.total, v.a.mag, freq, soc), or a statistic of a ' +
        'stats window as stats/<window>/<field>.<statistic> (stats/1m/p.total.mean, stats/10s/v.a.mag.max; ' +
        'statistics: mean, min, max, stdev, count, first, last)',
    },
    from: {
      type: 'string',
      maxLength: 40,
      description: 'Start of the range (inclusive): epoch milliseconds or an ISO 8601 time; default: one hour before `to`',
    },
    to: { type: 'string', maxLength: 40, description: 'End of the range (inclusive): epoch milliseconds or an ISO 8601 time; default: now' },
    points: {
      type: 'integer',
      minimum: 1,
      maximum: HISTORY_POINTS_MAX,
      default: HISTORY_POINTS_DEFAULT,
      description: `About this many buckets (at most; 1 to ${HISTORY_POINTS_MAX})`,
    },
  },
} as const;

export const historySeriesSchema = {
  title: 'HistorySeries',
  description:
    'Buckets of `bucketMs` from `from`, columnar: t[k] is the start of bucket k (epoch ms), min/max/mean/n its statistics over ' +
    'the rows stored in it (by the time the gateway stored them); empty buckets are left out. Rows kept: storage.historyHours.',
  type: 'object',
  required: ['device', 'field', 'from', 'to', 'bucketMs', 't', 'min', 'max', 'mean', 'n'],
  properties: {
    device: { type: 'string' },
    field: { type: 'string' },
    from: { type: 'integer', description: 'epoch ms' },
    to: { type: 'integer', description: 'epoch ms' },
    bucketMs: { type: 'integer' },
    t: numbers,
    min: numbers,
    max: numbers,
    mean: numbers,
    n: { type: 'array', items: { type: 'integer' } },
  },
} as const;

/** Epoch ms from a query value: digits (epoch ms) or an ISO 8601 date-time; null when neither. */
export function parseTime(v: string): number | null {
  if (/^\d{1,16}$/.test(v)) return Number(v);
  if (!/^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:?\d{2})?)?$/.test(v)) return null;
  const ms = Date.parse(v);
  return Number.isFinite(ms) && ms >= 0 ? ms : null;
}

interface HistoryRequest {
  Params: { id: string };
  Querystring: { field: string; from?: string; to?: string; points: number };
}

export function registerHistoryRoute(app: FastifyInstance, deps: HttpDeps, now: () => number = Date.now): void {
  app.get<HistoryRequest>(
    '/api/v1/devices/:id/history',
    {
      schema: {
        summary: "One field of a device over a time range, downsampled on the gateway (min, max, mean and count per bucket), from the buffer's history",
        tags: ['devices'],
        params: { type: 'object', required: ['id'], properties: { id: { type: 'string', maxLength: 256 } } },
        querystring: historyQuerySchema,
        response: { 200: historySeriesSchema, 400: problemSchema, 404: problemSchema, 503: problemSchema },
      },
    },
    async (req, reply) => {
      const path = req.url.split('?')[0];
      const bad = (param: string, detail: string) => sendProblem(reply, problem(400, `${param}: ${detail}`, path));
      const { id } = req.params;
      const q = req.query;
      const history = deps.history;
      if (!history) return sendProblem(reply, problem(503, 'history is not available (no buffer)', path));
      let toMs = now();
      if (q.to !== undefined) {
        const t = parseTime(q.to);
        if (t === null) return bad('to', `${JSON.stringify(q.to)} is neither epoch milliseconds nor an ISO 8601 time`);
        toMs = t;
      }
      let fromMs = Math.max(0, toMs - HISTORY_DEFAULT_SPAN_MS);
      if (q.from !== undefined) {
        const f = parseTime(q.from);
        if (f === null) return bad('from', `${JSON.stringify(q.from)} is neither epoch milliseconds nor an ISO 8601 time`);
        fromMs = f;
      }
      if (!history.hasHistory(id) && !deps.latestByDevice?.().has(id)) {
        return sendProblem(reply, problem(404, `no device ${JSON.stringify(id)} in the history or among the live devices`, path));
      }
      try {
        return await history.history({ device: id, field: q.field, fromMs, toMs, points: q.points });
      } catch (err) {
        if (err instanceof HistoryQueryError) return bad(err.param, err.message);
        throw err;
      }
    },
  );
}
