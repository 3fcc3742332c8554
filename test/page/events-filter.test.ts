/**
 * `GET /api/v1/events?devices=`: a stream narrowed to the devices a page shows. Over a real socket
 * (the HTTP server on port 0, read with fetch) with a latest-value map the test changes: only the
 * named devices and those matching a pattern get `event: device`; every other device gets one
 * `event: summary` (`{ device, quality }`) on connect and again only when it appears or its quality
 * changes; names with commas and stars are reached by escaping them; an empty value sends summaries
 * only; a bad value is a 400 problem naming `devices` and the entry; /openapi.json documents it.
 */
import t, { type Test } from 'tap';
import { startHttp, type HttpDeps } from '../../agent/http/index.js';
import { parseDeviceFilter } from '../../agent/http/routes/events.js';
import { Counters } from '../../agent/core/counters.js';
import { createLogger } from '../../agent/core/logger.js';
import type { Measurement } from '../../algorithms/common/measurement.js';
import { sampleStatus } from '../http/fixtures.js';
import { openSse, type SseEvent } from './sse.js';

type Quality = Measurement['quality'];

/** The devices' latest values, as the pipeline keeps them; `set` gives a device a new measurement. */
function devicesMap() {
  const map = new Map<string, Measurement>();
  let ts = Date.now() * 1000;
  return {
    map,
    set(device: string, quality: Quality = 'good', p = 1000): void {
      map.set(device, { device, ts: (ts += 1000), quality, p: { total: p } } as Measurement);
    },
  };
}

async function serve(t: Test, latest: ReadonlyMap<string, Measurement>) {
  const deps: HttpDeps = { log: createLogger('silent'), counters: new Counters(), getStatus: () => sampleStatus(), latestByDevice: () => latest, wsPath: '/mqtt' };
  const http = await startHttp({ host: '127.0.0.1', port: 0 }, deps);
  t.teardown(() => http.close());
  return `http://127.0.0.1:${http.port}`;
}

const data = (e: SseEvent) => JSON.parse(e.data) as { device: string; quality?: string; latest?: Measurement };
const named = (kind: string, device: string) => (e: SseEvent) => e.event === kind && data(e).device === device;

t.test('parseDeviceFilter: names, patterns, escapes and refusals', async (t) => {
  const f = parseDeviceFilter('feeder-1,pmu-*,a\\,b,st\\*r,*-x-*,back\\\\slash');
  if (typeof f === 'string') return t.fail(f);
  for (const d of ['feeder-1', 'pmu-', 'pmu-12', 'a,b', 'st*r', 'one-x-two', 'back\\slash']) t.ok(f(d), `matches ${d}`);
  for (const d of ['feeder-10', 'feeder-', 'Feeder-1', 'xpmu-1', 'a', 'b', 'star', 'st', 'x', 'back\\\\slash']) t.notOk(f(d), `does not match ${d}`);
  const all = parseDeviceFilter('*');
  t.ok(typeof all === 'function' && all('anything at all'), '"*" matches every name');
  const none = parseDeviceFilter('');
  t.ok(typeof none === 'function' && !none('feeder-1'), 'an empty value names no device');
  const dots = parseDeviceFilter('a.b');
  t.ok(typeof dots === 'function' && dots('a.b') && !dots('axb'), 'a dot is a dot, not any character');
  const refusals: [string, RegExp][] = [
    ['a,,b', /entry 2 is empty/],
    ['a,', /entry 2 is empty/],
    [',a', /entry 1 is empty/],
    ['a\\q', /entry 1: "\\" must be followed by/],
    ['a\\', /entry 1: "\\" must be followed by/],
    ['bal/processed/x', /entry 1 .*can match no device: device name contains "\/"/],
    ['a,b+c', /entry 2 .*MQTT wildcard "\+"/],
    ['ctl\u0001', /control character U\+0001/],
    ['x'.repeat(129), /entry 1 .*longer than 128 bytes/],
    ['*a*b*c*d*e', /entry 1: more than 4 "\*"/],
    [Array.from({ length: 257 }, (_, k) => `d${k}`).join(','), /more than 256 entries/],
  ];
  for (const [value, why] of refusals) {
    const r = parseDeviceFilter(value);
    t.match(r, why, `${JSON.stringify(value.slice(0, 30))} refused: ${String(r)}`);
  }
});

t.test('a filtered stream: full updates for the devices named, summaries of the rest when they appear or change quality', async (t) => {
  const d = devicesMap();
  for (const name of ['feeder-1', 'feeder-2', 'feeder-10', 'pmu-a', 'pmu-b']) d.set(name);
  d.set('feeder-3', 'questionable');
  const base = await serve(t, d.map);

  const s = await openSse(`${base}/api/v1/events?devices=${encodeURIComponent('feeder-1,pmu-*')}`, { 'accept-encoding': 'gzip' });
  t.teardown(() => s.close());
  t.equal(s.status, 200);
  await s.waitFor('the snapshot: 3 devices and 3 summaries', (e) => e.event === 'device' || e.event === 'summary', 6);
  const first = s.events.filter((e) => e.event !== 'hello');
  t.same(first.filter((e) => e.event === 'device').map((e) => data(e).device).sort(), ['feeder-1', 'pmu-a', 'pmu-b'], 'values of the named device and the pattern\'s');
  t.same(
    first.filter((e) => e.event === 'summary').map((e) => JSON.parse(e.data) as unknown),
    [
      { device: 'feeder-2', quality: 'good' },
      { device: 'feeder-10', quality: 'good' },
      { device: 'feeder-3', quality: 'questionable' },
    ],
    'a summary (name and quality) of each other device',
  );
  t.ok(first.find((e) => e.event === 'device' && data(e).device === 'feeder-1')?.data.includes('"p":{"total":1000}'), 'a device event carries the values');

  // Every device changes; only feeder-1 and the pmus are sent, the others' quality is unchanged.
  for (const name of ['feeder-1', 'feeder-2', 'feeder-10', 'feeder-3', 'pmu-a']) d.set(name, name === 'feeder-3' ? 'questionable' : 'good', 2000);
  await s.waitFor('the new value of feeder-1', (e) => named('device', 'feeder-1')(e) && data(e).latest?.p?.total === 2000);
  // A sentinel tick: whatever the previous one carried has arrived by the time this one does.
  d.set('feeder-1', 'good', 3000);
  await s.waitFor('a second new value of feeder-1', (e) => named('device', 'feeder-1')(e) && data(e).latest?.p?.total === 3000);
  t.equal(s.events.filter((e) => e.event === 'summary').length, 3, 'no summary again while the others\' quality stays');
  t.equal(s.events.filter(named('device', 'feeder-2')).length, 0, 'and never the values of a device not named');
  t.ok(s.events.some((e) => named('device', 'pmu-a')(e) && data(e).latest?.p?.total === 2000), 'the pattern\'s device is updated too');

  // A device outside the filter turns invalid; one appears; one matching the pattern appears.
  d.set('feeder-2', 'invalid');
  d.set('late-meter', 'good');
  d.set('pmu-c', 'good');
  const invalid = await s.waitFor('a summary of feeder-2, now invalid', (e) => named('summary', 'feeder-2')(e) && data(e).quality === 'invalid');
  t.same(JSON.parse(invalid[0]!.data), { device: 'feeder-2', quality: 'invalid' });
  await s.waitFor('a summary of the new device late-meter', named('summary', 'late-meter'));
  await s.waitFor('the values of the new pmu-c (it matches pmu-*)', named('device', 'pmu-c'));
  t.equal(s.events.filter(named('summary', 'pmu-c')).length, 0, 'no summary for a device sent in full');

  // An unfiltered stream at the same time still gets every device in full.
  const everything = await openSse(`${base}/api/v1/events`);
  t.teardown(() => everything.close());
  await everything.waitFor('every device in the unfiltered snapshot', (e) => e.event === 'device', d.map.size);
  t.equal(everything.events.filter((e) => e.event === 'summary').length, 0, 'an unfiltered stream gets no summaries');
});

t.test('names with commas and stars, by escape; an empty filter sends summaries only', async (t) => {
  const d = devicesMap();
  d.set('a,b');
  d.set('st*r');
  d.set('star');
  const base = await serve(t, d.map);
  const s = await openSse(`${base}/api/v1/events?devices=${encodeURIComponent('a\\,b,st\\*r')}`);
  t.teardown(() => s.close());
  await s.waitFor('two devices and one summary', (e) => e.event === 'device' || e.event === 'summary', 3);
  t.same(s.events.filter((e) => e.event === 'device').map((e) => data(e).device), ['a,b', 'st*r'], 'the escaped names are reached');
  t.same(s.events.filter((e) => e.event === 'summary').map((e) => data(e).device), ['star'], 'the literal star does not match star');

  const none = await openSse(`${base}/api/v1/events?devices=`);
  t.teardown(() => none.close());
  await none.waitFor('a summary of each of the three devices', (e) => e.event === 'summary', 3);
  d.set('star', 'good', 5);
  d.set('a,b', 'questionable', 5);
  await none.waitFor('a summary of a,b now questionable', (e) => named('summary', 'a,b')(e) && data(e).quality === 'questionable');
  t.equal(none.events.filter((e) => e.event === 'device').length, 0, 'no device in full');
});

t.test('a bad filter is a 400 problem naming the parameter and the entry; OpenAPI documents it', async (t) => {
  const d = devicesMap();
  d.set('feeder-1');
  const base = await serve(t, d.map);
  const cases: [string, RegExp][] = [
    ['devices=a,,b', /^devices: entry 2 is empty/],
    [`devices=${encodeURIComponent('bal/processed/feeder-1')}`, /^devices: entry 1 \("bal\/processed\/feeder-1"\) can match no device: device name contains "\/"/],
    [`devices=${encodeURIComponent('a\\b')}`, /^devices: entry 1: "\\" must be followed by/],
    ['devices=a&devices=b', /devices/],
  ];
  for (const [q, why] of cases) {
    const r = await fetch(`${base}/api/v1/events?${q}`, { headers: { accept: 'text/event-stream' } });
    t.equal(r.status, 400, `${q}: 400`);
    t.match(r.headers.get('content-type'), /^application\/problem\+json/);
    const p = (await r.json()) as { status: number; detail: string; instance: string };
    t.match(p.detail, why, `${q}: ${p.detail}`);
  }
  const doc = (await (await fetch(`${base}/openapi.json`)).json()) as { paths: Record<string, { get: { parameters?: { name: string; in: string; description?: string }[]; responses: Record<string, unknown> } }> };
  const op = doc.paths['/api/v1/events']!.get;
  const param = op.parameters?.find((p) => p.name === 'devices');
  t.equal(param?.in, 'query', 'devices is a documented query parameter');
  t.match(param?.description, /comma-separated/, 'with its syntax');
  t.ok(op.responses['400'], 'and the 400 it may answer');
});
