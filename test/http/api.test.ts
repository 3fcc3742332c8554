/**
 * The /api/v1 read routes and the OpenAPI document, through a real HTTP server (fetch) with fixture
 * deps: devices paged by name, one device, counters with the catalogue, forwarders; every error is
 * an RFC 9457 problem; /openapi.json lists every /api/v1 route with its schemas; /docs renders it.
 */
import t, { type Test } from 'tap';
import { startHttp, type HttpDeps } from '../../agent/http/index.js';
import { Counters } from '../../agent/core/counters.js';
import { createLogger } from '../../agent/core/logger.js';
import type { Measurement } from '../../algorithms/common/measurement.js';
import { sampleStatus } from './fixtures.js';
import type { HistorySource } from '../../agent/buffer/index.js';
import { MAX_DEVICE_NAME_BYTES } from '../../agent/pipeline/device-name.js';

async function serve(t: Test, devices: Map<string, Measurement>, counters = new Counters()) {
  counters.inc('received', { source: 'mqtt' }, 7);
  const status = sampleStatus();
  const history: HistorySource = {
    history: async (q) => ({ device: q.device, field: q.field, from: q.fromMs, to: q.toMs, bucketMs: 1, t: [], min: [], max: [], mean: [], n: [] }),
    hasHistory: (d) => devices.has(d),
  };
  const deps: HttpDeps = { log: createLogger('silent'), counters, getStatus: () => status, latestByDevice: () => devices, history, wsPath: '/mqtt' };
  const http = await startHttp({ host: '127.0.0.1', port: 0 }, deps);
  t.teardown(() => http.close());
  return `http://127.0.0.1:${http.port}`;
}

const json = async (url: string, init?: RequestInit) => {
  const res = await fetch(url, init);
  return { status: res.status, type: res.headers.get('content-type') ?? '', body: (await res.json()) as Record<string, unknown> };
};

t.test('devices, one device, counters, forwarders', async (t) => {
  const now = Date.now() * 1000;
  const devices = new Map<string, Measurement>();
  for (let k = 0; k < 250; k++) {
    const d = `dev${String(k).padStart(3, '0')}`;
    devices.set(d, { device: d, ts: now - 2_000_000, quality: 'good', freq: 50, soc: k } as Measurement);
  }
  const base = await serve(t, devices);
  const page = await json(`${base}/api/v1/devices?limit=100&offset=200`);
  t.equal(page.status, 200);
  t.equal(page.body['total'], 250);
  const items = page.body['items'] as { device: string; latest: { soc: number }; ageSeconds: number }[];
  t.same(items.map((i) => i.device), Array.from({ length: 50 }, (_, k) => `dev${200 + k}`), 'the last 50 by name');
  t.equal(items[0]!.latest.soc, 200, 'values beyond the electrical ones included');
  t.ok(items[0]!.ageSeconds >= 2 && items[0]!.ageSeconds < 60, 'age in seconds');
  const one = await json(`${base}/api/v1/devices/dev007`);
  t.equal(one.status, 200);
  t.equal((one.body['latest'] as { soc: number }).soc, 7);
  const counters = await json(`${base}/api/v1/counters`);
  t.equal((counters.body['counters'] as Record<string, Record<string, number>>)['received']?.['source=mqtt'], 7);
  t.match((counters.body['metrics'] as Record<string, { help: string }>)['received']?.help, /received/);
  const fwd = await fetch(`${base}/api/v1/forwarders`);
  t.equal(fwd.status, 200);
  t.ok(Array.isArray(await fwd.json()));
});

t.test('errors are problem details naming what is wrong', async (t) => {
  const base = await serve(t, new Map());
  const missing = await json(`${base}/api/v1/devices/nope`);
  t.equal(missing.status, 404);
  t.match(missing.type, /^application\/problem\+json/);
  t.same(missing.body, { type: 'about:blank', title: 'Not Found', status: 404, detail: 'no measurement of this device (yet)', instance: '/api/v1/devices/nope' });
  for (const q of ['limit=0', 'limit=100000', 'offset=-1', 'limit=abc']) {
    const bad = await json(`${base}/api/v1/devices?${q}`);
    t.equal(bad.status, 400, `${q} refused`);
    t.match(bad.type, /^application\/problem\+json/);
    t.equal(bad.body['title'], 'Bad Request');
    t.match(String(bad.body['detail']), /querystring/, `${q}: the detail names the query string`);
  }
  const post = await json(`${base}/api/v1/status`, { method: 'POST', body: '{' });
  t.equal(post.status, 405, 'no POST on this path: 405');
  t.notMatch(JSON.stringify(post.body), /at .*\.js:\d+/, 'no stack trace');
});

t.test('device names up to MAX_DEVICE_NAME_BYTES are readable back; longer paths and bad URLs are counted problems', async (t) => {
  const now = Date.now() * 1000;
  const names = [
    'd'.repeat(MAX_DEVICE_NAME_BYTES),
    'd%?&é'.repeat(MAX_DEVICE_NAME_BYTES / 6) + 'd'.repeat(MAX_DEVICE_NAME_BYTES % 6), // "%", "?", "&" and 2-byte "é" percent-encoded
    'é'.repeat(MAX_DEVICE_NAME_BYTES / 2),
    '\u{1F50B}'.repeat(MAX_DEVICE_NAME_BYTES / 4), // 4 bytes each: 384 characters percent-encoded
  ];
  const devices = new Map<string, Measurement>();
  for (const d of names) {
    t.equal(Buffer.byteLength(d), MAX_DEVICE_NAME_BYTES, 'a name of the longest length allowed');
    devices.set(d, { device: d, ts: now, quality: 'good', freq: 50 } as Measurement);
  }
  const counters = new Counters();
  const base = await serve(t, devices, counters);
  for (const d of names) {
    const one = await json(`${base}/api/v1/devices/${encodeURIComponent(d)}`);
    t.equal(one.status, 200, `GET /api/v1/devices/{${encodeURIComponent(d).length} characters}`);
    t.equal(one.body['device'], d);
    const h = await json(`${base}/api/v1/devices/${encodeURIComponent(d)}/history?field=freq`);
    t.equal(h.status, 200, 'and its history');
    t.equal(h.body['device'], d);
  }
  const long = 'x'.repeat(5000);
  const tooLong = await json(`${base}/api/v1/devices/${long}/history?field=freq`);
  t.equal(tooLong.status, 414, `a path parameter of ${long.length} characters: 414`);
  t.match(tooLong.type, /^application\/problem\+json/, 'as a problem document');
  t.match(tooLong.body, { type: 'about:blank', title: 'URI Too Long', status: 414, detail: /path segment is longer than \d+ characters/, instance: `/api/v1/devices/${long}/history`.slice(0, 256) + '…' }); // the path repeated bounded (problem.ts shownPath)
  const badUrl = await json(`${base}/api/v1/devices/%zz`);
  t.equal(badUrl.status, 400, 'a bad percent-encoding: 400');
  t.match(badUrl.type, /^application\/problem\+json/, 'as a problem document');
  t.match(badUrl.body, { type: 'about:blank', title: 'Bad Request', status: 400, instance: '/api/v1/devices/%zz' });
  t.equal(counters.get('http_requests', { route: '/api/v1/devices/:id', code: '200' }), names.length, 'the reads counted');
  t.equal(counters.get('http_requests', { route: 'unmatched', code: '414' }), 1, 'the 414 counted once');
  t.equal(counters.get('http_requests', { route: 'unmatched', code: '400' }), 1, 'the bad URL counted once');
  const overSchema = await json(`${base}/api/v1/devices/${'x'.repeat(300)}`);
  t.equal(overSchema.status, 400, 'longer than the schema allows but within the router limit: 400 from the schema');
  t.match(overSchema.type, /^application\/problem\+json/);
});

t.test('/openapi.json documents every /api/v1 route; /docs renders it', async (t) => {
  const base = await serve(t, new Map());
  const doc = (await json(`${base}/openapi.json`)).body as { openapi: string; paths: Record<string, Record<string, { responses: object }>> };
  t.match(doc.openapi, /^3\.1/);
  for (const path of ['/api/v1/status', '/api/v1/devices', '/api/v1/devices/{id}', '/api/v1/counters', '/api/v1/forwarders'])
    t.ok(doc.paths[path]?.['get']?.responses, `${path} is documented with its responses`);
  t.notOk(doc.paths['/openapi.json'], 'the document itself is not listed');
  const page = await fetch(`${base}/docs`);
  t.equal(page.status, 200);
  t.match(await page.text(), /<script type="module" src="\/assets\/js\/agent\/http\/page\/client\/docs\.js"><\/script>/, 'its script, a file (the CSP allows no inline script)');
  const script = await fetch(`${base}/assets/js/agent/http/page/client/docs.js`);
  t.match(await script.text(), /fetch\('\/openapi\.json'/, 'which reads /openapi.json');
});
