/**
 * GET /api/v1/devices/{id}/history through a real HTTP server (fetch) on a real buffer file: the
 * columnar answer for a range given in epoch ms or ISO 8601, the default range (the last hour), the
 * route in /openapi.json, and the problem bodies: 404 for an unknown device, 400 naming the
 * parameter for a bad field path, a bad time, from after to, points out of range.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import t, { type Test } from 'tap';
import { openBuffer, type HistorySource } from '../../agent/buffer/index.js';
import { Counters } from '../../agent/core/counters.js';
import { createLogger } from '../../agent/core/logger.js';
import { startHttp, type HttpDeps } from '../../agent/http/index.js';
import type { Measurement } from '../../algorithms/common/measurement.js';
import { sampleStatus } from './fixtures.js';

/** A buffer with 600 rows of `pmu1` stored one per second up to now (its clock is the real one). */
async function bufferWithRows(t: Test) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gridedge-http-history-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  let wall = Date.now() - 600_000;
  const buffer = openBuffer({
    dir,
    maxBytes: 0,
    maxAgeHours: 0,
    historyHours: 24,
    commitIntervalMs: 0,
    log: createLogger('silent'),
    counters: new Counters(),
    clock: { wall: () => wall, monotonic: () => wall },
  });
  t.teardown(() => buffer.close());
  const first = wall;
  for (let i = 0; i < 600; i++) {
    await buffer.append([{ topic: 'bal/processed/pmu1', payload: JSON.stringify({ device: 'pmu1', ts: wall * 1000, quality: 'good', p: { total: i } }) }]);
    wall += 1000;
  }
  return { buffer, first, last: wall - 1000 };
}

async function serve(t: Test, history: HistorySource, live: Map<string, Measurement> = new Map()) {
  const deps: HttpDeps = {
    log: createLogger('silent'),
    counters: new Counters(),
    getStatus: () => sampleStatus(),
    latestByDevice: () => live,
    history,
    wsPath: '/mqtt',
  };
  const http = await startHttp({ host: '127.0.0.1', port: 0 }, deps);
  t.teardown(() => http.close());
  return `http://127.0.0.1:${http.port}`;
}

const get = async (url: string) => {
  const res = await fetch(url);
  return { status: res.status, type: res.headers.get('content-type') ?? '', body: (await res.json()) as Record<string, unknown> };
};

t.test('a range in epoch ms or ISO 8601, downsampled, columnar', async (t) => {
  const { buffer, first, last } = await bufferWithRows(t);
  const base = await serve(t, buffer);
  const r = await get(`${base}/api/v1/devices/pmu1/history?field=p.total&from=${first}&to=${first + 59_999}&points=6`);
  t.equal(r.status, 200);
  t.same(r.body, {
    device: 'pmu1',
    field: 'p.total',
    from: first,
    to: first + 59_999,
    bucketMs: 10_000,
    t: [0, 1, 2, 3, 4, 5].map((k) => first + k * 10_000),
    min: [0, 10, 20, 30, 40, 50],
    max: [9, 19, 29, 39, 49, 59],
    mean: [4.5, 14.5, 24.5, 34.5, 44.5, 54.5],
    n: [10, 10, 10, 10, 10, 10],
  });
  const iso = await get(`${base}/api/v1/devices/pmu1/history?field=p.total&from=${new Date(first).toISOString()}&to=${encodeURIComponent(new Date(first + 59_999).toISOString())}&points=6`);
  t.same(iso.body, r.body, 'the same range in ISO 8601');
  const dflt = await get(`${base}/api/v1/devices/pmu1/history?field=p.total`);
  t.equal(dflt.status, 200);
  const body = dflt.body as { to: number; from: number; bucketMs: number; n: number[] };
  t.equal(body.to - body.from, 3_600_000, 'default range: the hour before now');
  t.equal(body.bucketMs, 6_001, 'default points: 600');
  t.equal(body.n.reduce((s, n) => s + n, 0), 600, 'every row of the last hour');
  t.ok(last <= body.to);
  const doc = (await get(`${base}/openapi.json`)).body as { paths: Record<string, Record<string, { parameters?: { name: string }[] }>> };
  const op = doc.paths['/api/v1/devices/{id}/history']?.['get'];
  t.ok(op, 'the route is in the OpenAPI document');
  t.same(op?.parameters?.map((p) => p.name).sort(), ['field', 'from', 'id', 'points', 'to']);
});

t.test('problems: 404 unknown device, 400 naming the parameter', async (t) => {
  const { buffer, first } = await bufferWithRows(t);
  const live = new Map<string, Measurement>([['pmu9', { device: 'pmu9', ts: Date.now() * 1000, quality: 'good', freq: 50 } as Measurement]]);
  const base = await serve(t, buffer, live);
  const missing = await get(`${base}/api/v1/devices/nope/history?field=p.total`);
  t.equal(missing.status, 404);
  t.match(missing.type, /^application\/problem\+json/);
  t.match(missing.body, { type: 'about:blank', title: 'Not Found', status: 404, instance: '/api/v1/devices/nope/history' });
  t.match(String(missing.body['detail']), /nope/);
  const liveOnly = await get(`${base}/api/v1/devices/pmu9/history?field=freq`);
  t.equal(liveOnly.status, 200, 'a live device without history yet answers, with no points');
  t.same(liveOnly.body['t'], []);

  const cases: [string, RegExp][] = [
    ['field=p..total', /^field: /],
    ['field=stats/1m', /^field: /],
    ['field=p%20total', /^field: /],
    ['', /querystring must have required property 'field'/],
    ['field=p.total&from=yesterday', /^from: /],
    ['field=p.total&to=2026-13-45T00:00:00Z', /^to: /],
    [`field=p.total&from=${first + 10}&to=${first}`, /^from: .*after to/],
    ['field=p.total&points=0', /querystring\/points must be >= 1/],
    ['field=p.total&points=5001', /querystring\/points must be <= 5000/],
    ['field=p.total&points=many', /querystring\/points must be integer/],
    // Dates whose fields roll over into the next day or month are refused, not moved.
    ['field=p.total&from=2024-02-30', /^from: "2024-02-30" .*day 30 does not exist in 2024-02/],
    ['field=p.total&from=2023-02-29', /^from: .*day 29 does not exist in 2023-02/],
    ['field=p.total&to=2024-04-31T00:00:00Z', /^to: .*day 31 does not exist in 2024-04/],
    ['field=p.total&to=2024-02-29T24:00:00Z', /^to: .*hour 24/],
    ['field=p.total&from=2024-02-29T23:60Z', /^from: .*minute 60/],
    ['field=p.total&from=2024-02-29T23:59:60Z', /^from: .*second 60/],
    ['field=p.total&from=2024-02-29T23:00%2B24:00', /^from: .*offset/],
    ['field=p.total&from=1969-12-31', /^from: .*before 1970/],
    // Statistics are a fixed list; epoch ms out of range name the range and the value as given.
    ['field=stats/1m/p.total.bogus', /^field: .*statistic "bogus" .*mean, min, max, stdev, count, first, last, sum, rms/],
    ['field=stats/1m/p', /^field: .*statistic "p" /],
    ['field=p.total&from=9999999999999999', /^from: "9999999999999999" is out of range: epoch milliseconds from 0 \(1970\) to 8640000000000000/],
    ['field=p.total&to=8640000000000001', /^to: "8640000000000001" is out of range/],
  ];
  const leap = await get(`${base}/api/v1/devices/pmu1/history?field=p.total&from=2024-02-29&to=2024-02-29T23:59:59.999Z`);
  t.equal(leap.status, 200, 'a day that exists (29 February of a leap year) is taken');
  t.equal(leap.body['from'], Date.UTC(2024, 1, 29));
  const stat = await get(`${base}/api/v1/devices/pmu1/history?field=stats/1m/p.total.stdev`);
  t.equal(stat.status, 200, 'a statistic of the list is taken');
  for (const [q, detail] of cases) {
    const r = await get(`${base}/api/v1/devices/pmu1/history?${q}`);
    t.equal(r.status, 400, `${q || '(no query)'}: 400`);
    t.match(r.type, /^application\/problem\+json/);
    t.equal(r.body['title'], 'Bad Request');
    t.match(String(r.body['detail']), detail, `${q || '(no query)'}: ${String(r.body['detail'])}`);
  }
});
