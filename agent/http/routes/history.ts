/**
 * `GET /api/v1/devices/{id}/history?field=&from=&to=&points=`: one field of a device over a time
 * range, downsampled on the gateway (min / max / mean / count per bucket, columnar), read from the
 * buffer's history (`storage.historyHours`). Errors are problem details naming the parameter:
 * an unknown device is 404; a bad field path, a bad time, from after to, points out of range are 400.
 */
import type { FastifyInstance } from 'fastify';
import {
  HISTORY_MAX_MS,
  HISTORY_POINTS_DEFAULT,
  HISTORY_POINTS_MAX,
  HISTORY_STATISTICS,
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
        `statistics: ${HISTORY_STATISTICS.join(', ')})`,
    },
    from: {
      type: 'string',
      maxLength: 40,
      description: `Start of the range (inclusive): epoch milliseconds (0 to ${HISTORY_MAX_MS}) or an ISO 8601 date or time from 1970; default: one hour before \`to\``,
    },
    to: { type: 'string', maxLength: 40, description: `End of the range (inclusive): epoch milliseconds (0 to ${HISTORY_MAX_MS}) or an ISO 8601 date or time from 1970; default: now` },
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

const ISO = /^(\d{4})-(\d{2})-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2})(?:\.\d{1,9})?)?(Z|[+-](\d{2}):?(\d{2}))?)?$/;
const DAYS = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

/**
 * Epoch ms from a query value, or why it is not one: digits are epoch ms (0 to HISTORY_MAX_MS); else
 * an ISO 8601 date or date-time (UTC for a date alone, local time for a date-time without offset)
 * whose fields all exist (no 30 February, hour 24, second 60 or offset beyond ±23:59: Date.parse
 * would move those to the next day or month), from 1970 to HISTORY_MAX_MS.
 */
export function parseTime(v: string): { ms: number } | { error: string } {
  const given = JSON.stringify(v);
  const range = `epoch milliseconds from 0 (1970) to ${HISTORY_MAX_MS}`;
  if (/^\d{1,16}$/.test(v)) {
    const ms = Number(v);
    return ms <= HISTORY_MAX_MS ? { ms } : { error: `${given} is out of range: ${range}` };
  }
  const m = ISO.exec(v);
  if (!m) return { error: `${given} is neither epoch milliseconds nor an ISO 8601 time` };
  const [year, month, day, hour, minute, second, , offHour, offMinute] = m.slice(1).map((x) => (x === undefined ? 0 : Number(x)));
  const leap = year! % 4 === 0 && (year! % 100 !== 0 || year! % 400 === 0);
  const fault =
    month! < 1 || month! > 12 ? `month ${month} does not exist`
    : day! < 1 || day! > (month === 2 && leap ? 29 : DAYS[month! - 1]!) ? `day ${day} does not exist in ${m[1]}-${m[2]}`
    : hour! > 23 ? `hour ${hour} is not 0 to 23`
    : minute! > 59 ? `minute ${minute} is not 0 to 59`
    : second! > 59 ? `second ${second} is not 0 to 59`
    : offHour! > 23 || offMinute! > 59 ? `offset ${m[7]} is not -23:59 to +23:59`
    : null;
  if (fault) return { error: `${given} is not a time: ${fault}` };
  const ms = Date.parse(v);
  if (!Number.isFinite(ms)) return { error: `${given} is neither epoch milliseconds nor an ISO 8601 time` };
  if (ms < 0) return { error: `${given} is before 1970` };
  if (ms > HISTORY_MAX_MS) return { error: `${given} is out of range: ${range}` };
  return { ms };
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
        if ('error' in t) return bad('to', t.error);
        toMs = t.ms;
      }
      let fromMs = Math.max(0, toMs - HISTORY_DEFAULT_SPAN_MS);
      if (q.from !== undefined) {
        const f = parseTime(q.from);
        if ('error' in f) return bad('from', f.error);
        fromMs = f.ms;
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
