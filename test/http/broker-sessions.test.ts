/**
 * GET /api/v1/broker/sessions and DELETE /api/v1/broker/sessions/{clientId}: a real HTTP server on a
 * real broker with real mqtt.js clients; roles (operator to list, admin to end) with http.users, open
 * without; errors are problem details.
 */
import t, { type Test } from 'tap';
import mqtt, { type IClientOptions } from 'mqtt';
import { startHttp, type HttpDeps } from '../../agent/http/index.js';
import type { HttpConfig } from '../../agent/core/config-types.js';
import { hashPassword } from '../../agent/broker/passwords.js';
import { startBroker, type TestBroker } from '../broker/helpers.js';
import { sampleStatus } from './fixtures.js';
import { capturingLogger } from '../helpers/capturing-logger.js';

const USERS: HttpConfig['users'] = [
  { username: 'view', passwordHash: hashPassword('view-pw'), role: 'viewer' },
  { username: 'ops', passwordHash: hashPassword('ops-pw'), role: 'operator' },
  { username: 'root', passwordHash: hashPassword('root-pw'), role: 'admin' },
];


async function serve(t: Test, users: HttpConfig['users'], broker: HttpDeps['broker']) {
  const { log, lines } = capturingLogger();
  const tb = await startBroker({ allowAnonymous: true }, { log });
  t.teardown(() => tb.broker.close());
  const deps: HttpDeps = { log, counters: tb.counters, getStatus: () => sampleStatus(), wsPath: '/mqtt', broker: broker === undefined ? tb.broker : broker };
  const http = await startHttp({ host: '127.0.0.1', port: 0, users: structuredClone(users), sessionHours: 1 }, deps);
  t.teardown(() => http.close());
  return { base: `http://127.0.0.1:${http.port}`, tb, lines };
}

/** A persistent session `id` that subscribed to `filter` at QoS 1; left connected or not. */
async function session(t: Test, tb: TestBroker, id: string, stay: boolean, opts: IClientOptions = {}) {
  const c = await mqtt.connectAsync(tb.url, { clientId: id, clean: false, reconnectPeriod: 0, ...opts });
  t.teardown(() => c.endAsync(true).catch(() => undefined));
  await c.subscribeAsync('bal/raw/#', { qos: 1 });
  if (!stay) await c.endAsync();
  return c;
}

async function tokenOf(base: string, username: string): Promise<string> {
  const r = await fetch(`${base}/api/v1/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username, password: `${username}-pw` }) });
  return ((await r.json()) as { token: string }).token;
}

t.test('open API (no http.users): list, end, 404 problem for an unknown id, ids with / and spaces', async (t) => {
  const { base, tb, lines } = await serve(t, [], undefined);
  const empty = await fetch(`${base}/api/v1/broker/sessions`);
  t.equal(empty.status, 200);
  t.same(await empty.json(), { total: 0, offline: 0, items: [] });

  await session(t, tb, 'scada/main 1', false);
  await session(t, tb, 'hmi', true);
  const pub = await mqtt.connectAsync(tb.url, { clientId: 'pmu', reconnectPeriod: 0 });
  t.teardown(() => pub.end(true));
  await pub.publishAsync('bal/raw/pmu', '{}', { qos: 1 });

  const res = await fetch(`${base}/api/v1/broker/sessions`);
  t.equal(res.status, 200);
  const list = (await res.json()) as { total: number; offline: number; items: Record<string, unknown>[] };
  t.match(list, {
    total: 2,
    offline: 1,
    items: [
      { clientId: 'hmi', username: null, connected: true, offlineSince: null, offlineSeconds: null, subscriptions: 1 },
      { clientId: 'scada/main 1', username: null, connected: false, queued: 1, subscriptions: 1 },
    ],
  });
  t.match(list.items[1]!['offlineSince'], /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/, 'offlineSince: an ISO date');
  t.equal(typeof list.items[1]!['offlineSeconds'], 'number');

  const del = await fetch(`${base}/api/v1/broker/sessions/${encodeURIComponent('scada/main 1')}`, { method: 'DELETE' });
  t.equal(del.status, 200);
  t.match(await del.json(), { clientId: 'scada/main 1', connected: false, queued: 1, subscriptions: 1 }, 'the session as it was');
  t.equal(tb.counters.get('broker_sessions_ended', { reason: 'operator' }), 1);
  t.match(
    lines.filter((l) => l['reason'] === 'operator'),
    [{ clientId: 'scada/main 1', by: /^the open API \(no http\.users\) from 127\.0\.0\.1$/ }],
    'logged: who (the open API and the address)',
  );

  const again = await fetch(`${base}/api/v1/broker/sessions/${encodeURIComponent('scada/main 1')}`, { method: 'DELETE' });
  t.equal(again.status, 404, 'ended once');
  t.match(again.headers.get('content-type'), /^application\/problem\+json/);
  t.match(await again.json(), { status: 404, title: 'Not Found', detail: /no persistent MQTT session with client id "scada\/main 1"/, instance: '/api/v1/broker/sessions/scada%2Fmain%201' });
  t.equal((await fetch(`${base}/api/v1/broker/sessions/pmu`, { method: 'DELETE' })).status, 404, 'a clean session is not a persistent one');
  t.equal(tb.counters.get('broker_sessions_ended', { reason: 'operator' }), 1);
});

t.test('paging: limit and after, ordered by client id, next until the last page; bad values are 400 problems naming them', async (t) => {
  const { base, tb } = await serve(t, [], undefined);
  const ids = ['scada/main 1', 'hmi', 'Z-upper', 'a+b&c=d', 'é-unicode', '-dash', 'hmi-2'];
  for (const [k, id] of ids.entries()) await session(t, tb, id, k % 2 === 0); // 4 connected, 3 offline
  const sorted = [...ids].sort(); // code unit order, as the broker's list
  type Page = { total: number; offline: number; items: { clientId: string }[]; next?: string };

  const whole = (await (await fetch(`${base}/api/v1/broker/sessions`)).json()) as Page;
  t.same(whole.items.map((s) => s.clientId), sorted, 'no parameters: every session by client id');
  t.notOk('next' in whole, 'and no next: the answer as before paging');

  const seen: string[] = [];
  let url: string | undefined = '/api/v1/broker/sessions?limit=3';
  const pages: Page[] = [];
  while (url !== undefined) {
    const res = await fetch(`${base}${url}`);
    t.equal(res.status, 200, `${url}: 200`);
    const page = (await res.json()) as Page;
    pages.push(page);
    seen.push(...page.items.map((s) => s.clientId));
    url = page.next;
    if (pages.length > 10) break;
  }
  t.equal(pages.length, 3, 'three pages of at most 3');
  t.same(pages.map((p) => p.items.length), [3, 3, 1]);
  t.same(seen, sorted, 'following next lists each session once, in order');
  t.ok(pages.every((p) => p.total === 7 && p.offline === 3), 'total and offline count every session on every page');
  t.equal(pages[0]!.next, `/api/v1/broker/sessions?limit=3&after=${encodeURIComponent(sorted[2]!).replace(/%20/g, '+')}`, 'next: the same limit, after the last id of the page');

  const past = (await (await fetch(`${base}/api/v1/broker/sessions?after=${encodeURIComponent('hmi-1')}`)).json()) as Page;
  t.same(past.items.map((s) => s.clientId), sorted.filter((id) => id > 'hmi-1'), 'after an id no session has: the sessions past it');
  const end = (await (await fetch(`${base}/api/v1/broker/sessions?after=${encodeURIComponent('é-unicode')}`)).json()) as Page;
  t.same(end, { total: 7, offline: 3, items: [] }, 'after the last: an empty page, no next');

  const bad = async (query: string, detail: RegExp) => {
    const res = await fetch(`${base}/api/v1/broker/sessions?${query}`);
    t.equal(res.status, 400, `${query}: 400`);
    t.match(res.headers.get('content-type'), /^application\/problem\+json/);
    t.match(await res.json(), { status: 400, detail }, `${query}: the detail names the parameter`);
  };
  await bad('limit=0', /^querystring\/limit must be >= 1$/);
  await bad('limit=1001', /^querystring\/limit must be <= 1000$/);
  await bad('limit=many', /^querystring\/limit must be integer$/);
  await bad('limit=2.5', /^querystring\/limit must be integer$/);
  await bad('limit=1&limit=2', /^querystring\/limit is given 2 times; give it once$/);
  await bad('after=', /^querystring\/after must NOT have fewer than 1 characters$/);
});

t.test('with http.users: listing needs operator, ending needs admin; the log names the admin', async (t) => {
  const { base, tb, lines } = await serve(t, USERS, undefined);
  await session(t, tb, 'scada-1', false);
  const url = `${base}/api/v1/broker/sessions`;
  const bearer = async (user: string) => ({ authorization: `Bearer ${await tokenOf(base, user)}` });

  t.equal((await fetch(url)).status, 401, 'no login: 401');
  const viewer = await fetch(url, { headers: await bearer('view') });
  t.equal(viewer.status, 403, 'a viewer cannot list sessions');
  t.match(await viewer.json(), { status: 403, detail: 'view is viewer; this needs operator' });
  const ops = await bearer('ops');
  const listed = await fetch(url, { headers: ops });
  t.equal(listed.status, 200, 'an operator lists them');
  t.match(await listed.json(), { total: 1, items: [{ clientId: 'scada-1' }] });

  const byOps = await fetch(`${url}/scada-1`, { method: 'DELETE', headers: ops });
  t.equal(byOps.status, 403, 'an operator cannot end one');
  t.match(await byOps.json(), { status: 403, detail: 'ops is operator; this needs admin' });
  t.equal(tb.broker.status().sessions, 1, 'still there');

  const byRoot = await fetch(`${url}/scada-1`, { method: 'DELETE', headers: await bearer('root') });
  t.equal(byRoot.status, 200, 'an admin ends it');
  t.equal(tb.broker.status().sessions, 0);
  t.match(lines.filter((l) => l['reason'] === 'operator'), [{ clientId: 'scada-1', by: 'root' }], 'logged with the admin who ended it');
  t.equal((await fetch(`${url}/nope`, { method: 'DELETE', headers: await bearer('root') })).status, 404);
});

t.test('without the broker: 503 problems', async (t) => {
  const { base } = await serve(t, [], { handleUpgrade: () => undefined });
  const list = await fetch(`${base}/api/v1/broker/sessions`);
  t.equal(list.status, 503);
  t.match(await list.json(), { status: 503, detail: 'the embedded MQTT broker is not running' });
  t.equal((await fetch(`${base}/api/v1/broker/sessions/x`, { method: 'DELETE' })).status, 503);
});
