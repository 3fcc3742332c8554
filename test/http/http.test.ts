import t, { type Test } from 'tap';
import { WebSocket } from 'ws';
import mqtt from 'mqtt';
import { startHttp, type HttpDeps } from '../../agent/http/index.js';
import { createBroker } from '../../agent/broker/index.js';
import { Counters } from '../../agent/core/counters.js';
import { createLogger } from '../../agent/core/logger.js';
import type { AgentStatus } from '../../agent/core/status-types.js';
import { mqttConfig, RawRecorder } from '../broker/helpers.js';
import { parseExposition } from './exposition-parser.js';
import { withTimeout } from '../helpers/wait.js';
import { HOSTILE, sampleStatus } from './fixtures.js';

async function serve(t: Test, over: Partial<HttpDeps> = {}) {
  const counters = new Counters();
  const status = sampleStatus();
  const deps: HttpDeps = { log: createLogger('silent'), counters, getStatus: () => status, wsPath: '/mqtt', ...over };
  const http = await startHttp({ host: '127.0.0.1', port: 0 }, deps);
  t.teardown(() => http.close());
  return { base: `http://127.0.0.1:${http.port}`, counters, status, http };
}

t.test('GET /api/v1/status returns the status document as JSON', async (t) => {
  const { base, status } = await serve(t);
  const res = await fetch(`${base}/api/v1/status`);
  t.equal(res.status, 200);
  t.match(res.headers.get('content-type'), /^application\/json/);
  const body = (await res.json()) as AgentStatus;
  t.same(body, JSON.parse(JSON.stringify(status)), 'every field survives the response schema, extra fields included');
  t.equal(body.devices[0]!.latest['vendor_extra'] && (body.devices[0]!.latest['vendor_extra'] as { note: string }).note, 'kept');
  t.equal(body.buffer?.rows, 1500);
});

t.test('GET /api/v1/status serialises a null buffer and extra top-level fields', async (t) => {
  const status = { ...sampleStatus(), buffer: null, scheduler: { runs: 2 } } as AgentStatus & { scheduler: { runs: number } };
  const { base } = await serve(t, { getStatus: () => status });
  const body = (await (await fetch(`${base}/api/v1/status`)).json()) as AgentStatus & { scheduler?: unknown };
  t.equal(body.buffer, null);
  t.same(body.scheduler, { runs: 2 });
});

t.test('GET /metrics is valid Prometheus text format 0.0.4', async (t) => {
  const counters = new Counters({ received: { type: 'counter', help: 'Measurements received\nfrom all sources \\ drivers', labels: [] } });
  counters.inc('received', undefined, 1000);
  counters.inc('broker_refused', { reason: 'publish_acl' }, 2);
  counters.inc('broker_refused', { reason: 'bad_credentials' });
  counters.inc('weird name-1', { 'label.x': 'a"b\\c\nd' });
  counters.set('broker_clients', 4); // also known from the status: the registry wins
  const { base } = await serve(t, { counters });
  const res = await fetch(`${base}/metrics`);
  t.equal(res.status, 200);
  t.equal(res.headers.get('content-type'), 'text/plain; version=0.0.4; charset=utf-8');
  const text = await res.text();
  const parsed = parseExposition(text); // throws on any line the format does not allow
  const value = (name: string, labels: Record<string, string> = {}) =>
    parsed.samples.find((s) => s.name === name && JSON.stringify(s.labels) === JSON.stringify(labels))?.value;

  t.equal(parsed.types.get('gridedge_received_total'), 'counter');
  t.equal(parsed.help.get('gridedge_received_total'), 'Measurements received\nfrom all sources \\ drivers');
  t.equal(value('gridedge_received_total'), 1000);
  t.equal(value('gridedge_broker_refused_total', { reason: 'publish_acl' }), 2);
  t.equal(value('gridedge_broker_refused_total', { reason: 'bad_credentials' }), 1);
  t.equal(value('gridedge_weird_name_1_total', { label_x: 'a"b\\c\nd' }), 1, 'names sanitised, label values escaped and read back');
  t.equal(parsed.types.get('gridedge_broker_clients'), 'gauge');
  t.equal(value('gridedge_broker_clients'), 4);
  t.equal(parsed.samples.filter((s) => s.name === 'gridedge_broker_clients').length, 1);
  // gauges from the status document
  t.equal(value('gridedge_uptime_seconds'), 3600);
  t.equal(value('gridedge_healthy'), 0);
  t.equal(value('gridedge_devices'), 2);
  t.equal(value('gridedge_buffer_rows'), 1500);
  t.equal(value('gridedge_forwarder_lag_rows', { forwarder: 'central' }), 1500);
  t.equal(value('gridedge_forwarder_connected', { forwarder: 'hub', type: 'azure-iothub' }), 1);
  t.equal(value('gridedge_device_age_seconds', { device: HOSTILE }), 12);
  t.equal(value('gridedge_broker_subscriptions'), 5);
  for (const name of new Set(parsed.samples.map((s) => s.name))) t.ok(parsed.types.has(name), `${name} has a TYPE line`);
});

t.test('GET / renders device values and escapes HTML from the data', async (t) => {
  const { base } = await serve(t);
  const res = await fetch(`${base}/`);
  t.equal(res.status, 200);
  t.match(res.headers.get('content-type'), /^text\/html/);
  const page = await res.text();
  t.match(page, /<meta http-equiv="refresh" content="5">/);
  t.match(page, /degraded/);
  t.match(page, /forwarder central: not connected \(ECONNREFUSED\)/);
  // pmu1 (values explained in fixtures.ts)
  t.ok(page.includes('230.0∠0.0°'), 'V a');
  t.ok(page.includes('230.0∠-120.0°'), 'V b');
  t.ok(page.includes('10.00∠-30.0°'), 'I a');
  t.ok(page.includes('1.992 kW'), 'P per phase');
  t.ok(page.includes('5.976 kW'), 'P total');
  t.ok(page.includes('1.150 kvar'), 'Q per phase');
  t.ok(page.includes('6.900 kVA'), 'S total');
  t.ok(page.includes('0.866'), 'PF');
  t.ok(page.includes('50.010'), 'frequency');
  t.ok(page.includes('231.5'), 'a magnitude-only phasor');
  // escaping
  t.notOk(page.includes('<script>'), 'no script tag from a device name');
  t.notOk(page.includes('<b>bold</b>'), 'no markup from a quality reason');
  t.ok(page.includes('&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&amp;co'), 'the device name is shown escaped');
  t.ok(page.includes('timeout &lt;unit 1&gt;'), 'driver errors escaped');
  // other sections
  t.match(page, /connect ECONNREFUSED 127\.0\.0\.1:1884/);
  t.match(page, /azure-iothub/);
  t.match(page, /49\.50/);
  t.match(page, /\/var\/lib\/gridedge\/buffer\.db/);
  t.match(page, /<th>Unsent<\/th>/);
  t.ok(page.includes('<td>1500 (42 s)</td>'), 'rows not yet sent by every forwarder, with the oldest one\'s age');
  t.match(page, /reason=publish_acl/);
});

t.test('unknown routes answer 404 problem details (RFC 9457); requests are counted', async (t) => {
  const { base, counters } = await serve(t);
  const res = await fetch(`${base}/no/such/thing?x=1`);
  t.equal(res.status, 404);
  t.match(res.headers.get('content-type'), /^application\/problem\+json/);
  t.same(await res.json(), { type: 'about:blank', title: 'Not Found', status: 404, detail: 'no route GET /no/such/thing', instance: '/no/such/thing' });
  await (await fetch(`${base}/api/v1/status`)).arrayBuffer();
  t.equal(counters.get('http_requests', { route: '/api/v1/status', code: '200' }), 1);
  t.equal(counters.get('http_requests', { route: 'unmatched', code: '404' }), 1);
});

t.test("requests Node's HTTP parser refuses answer problem details too, and are counted", async (t) => {
  const { base, counters } = await serve(t);
  const res = await fetch(`${base}/api/v1/status`, { headers: { 'x-big': 'a'.repeat(20_000) } });
  t.equal(res.status, 431, 'headers over the limit: 431');
  t.match(res.headers.get('content-type'), /^application\/problem\+json/);
  t.same(await res.json(), { type: 'about:blank', title: 'Request Header Fields Too Large', status: 431, detail: 'the request headers are too large' });
  t.equal(counters.get('http_requests', { route: 'unmatched', code: '431' }), 1);
});

t.test('MQTT over WebSocket through the HTTP server; other upgrade paths get 404', async (t) => {
  const counters = new Counters();
  const raw = new RawRecorder();
  const broker = createBroker(mqttConfig(), { log: createLogger('silent'), counters, onRawPublish: raw.handler });
  await broker.listen();
  t.teardown(() => broker.close());
  const { base, http } = await serve(t, { broker });
  const wsBase = base.replace('http:', 'ws:');

  const client = await mqtt.connectAsync(`${wsBase}/mqtt`, { reconnectPeriod: 0, clientId: 'via-http' });
  await client.publishAsync('bal/raw/wsdev', 'hello over ws', { qos: 1 });
  t.match(raw.calls[0], { topic: 'bal/raw/wsdev', clientId: 'via-http', qos: 1 });
  t.equal(raw.calls[0]!.payload.toString(), 'hello over ws');

  const status = await withTimeout(
    new Promise<number>((resolve, reject) => {
      const ws = new WebSocket(`${wsBase}/not-mqtt`);
      ws.on('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
      ws.on('open', () => reject(new Error('upgrade on an unknown path was accepted')));
      ws.on('error', () => undefined);
    }),
    'the answer to a WebSocket upgrade on an unknown path',
  );
  t.equal(status, 404);

  // Closing the HTTP server ends the WebSocket it handed over (it would otherwise keep the server open).
  const gone = new Promise<void>((resolve) => client.once('close', () => resolve()));
  await withTimeout(http.close(), 'the HTTP server to close');
  await withTimeout(gone, 'the WebSocket client to be closed');
  t.pass('http server closed with a WebSocket client attached');
  await client.endAsync(true);
});

t.test('startHttp names the address when it cannot listen', async (t) => {
  const { http } = await serve(t);
  const deps: HttpDeps = { log: createLogger('silent'), counters: new Counters(), getStatus: sampleStatus, wsPath: '/mqtt' };
  await t.rejects(startHttp({ host: '127.0.0.1', port: http.port }, deps), /http: cannot listen on 127\.0\.0\.1:\d+: .*EADDRINUSE/);
});
