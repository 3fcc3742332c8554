/**
 * Accounts of the page and the API (http.users), through a real HTTP server: login with a session
 * cookie (HttpOnly, SameSite=Strict) and a bearer token, roles, wrong and forged credentials, the
 * failed-login rate limit, logout, CSRF, and HTTPS with a test certificate. Every refusal is a
 * problem (RFC 9457) and leaks no secret.
 */
import t, { type Test } from 'tap';
import type { FastifyInstance } from 'fastify';
import { request as httpsRequest } from 'node:https';
import { readFileSync } from 'node:fs';
import { startHttp, type HttpDeps } from '../../agent/http/index.js';
import { Counters } from '../../agent/core/counters.js';
import { createLogger } from '../../agent/core/logger.js';
import { hashPassword } from '../../agent/broker/passwords.js';
import type { HttpConfig } from '../../agent/core/config-types.js';
import { Accounts, BASIC_CACHE_MS, FAILURE_BURST, FAILURE_REFILL_MS, MAX_SESSIONS_PER_USER } from '../../agent/http/accounts.js';
import { testHash } from '../broker/helpers.js';
import { loadConfig } from '../../agent/config/index.js';
import { sampleStatus } from './fixtures.js';
import { makeCerts } from '../helpers/certs.js';

const USERS: HttpConfig['users'] = [
  { username: 'view', password: 'view-pw', role: 'viewer' },
  { username: 'ops', passwordHash: hashPassword('ops-pw'), role: 'operator' },
];

async function serve(t: Test, over: Partial<HttpConfig> = {}) {
  const counters = new Counters();
  // A change route (as services bring): POST /api/v1/change, role operator by default.
  const change = { id: 'change', register: async (app: FastifyInstance) => void app.post('/change', async () => ({ changed: true })) };
  const deps: HttpDeps = { log: createLogger('silent'), counters, getStatus: () => sampleStatus(), latestByDevice: () => new Map(), wsPath: '/mqtt', routes: [change] };
  const cfg: HttpConfig = { host: '127.0.0.1', port: 0, users: structuredClone(USERS), sessionHours: 1, ...over };
  const http = await startHttp(cfg, deps);
  t.teardown(() => http.close());
  return { base: `http://127.0.0.1:${http.port}`, counters, port: http.port };
}

const login = (base: string, username: string, password: string) =>
  fetch(`${base}/api/v1/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username, password }) });

t.test('without a session: the page redirects to /login, the API answers 401 problems', async (t) => {
  const { base } = await serve(t);
  const page = await fetch(`${base}/`, { redirect: 'manual' });
  t.equal(page.status, 303);
  t.equal(page.headers.get('location'), '/login');
  const withQuery = await fetch(`${base}/?x=1`, { redirect: 'manual' });
  t.equal(withQuery.status, 303, 'the page with a query string redirects too');
  t.equal(withQuery.headers.get('location'), '/login');
  t.equal((await fetch(`${base}/login`)).status, 200, 'the login page is public');
  for (const path of ['/api/v1/status', '/api/v1/devices', '/metrics']) {
    const r = await fetch(`${base}${path}`);
    t.equal(r.status, 401, `${path} needs a login`);
    t.match(r.headers.get('content-type'), /^application\/problem\+json/);
    t.match(r.headers.get('www-authenticate'), /^Bearer/);
  }
  t.equal((await fetch(`${base}/openapi.json`)).status, 200, 'the API document is public');
});

t.test('login: cookie and bearer token, roles, logout', async (t) => {
  const { base, counters } = await serve(t);
  const r = await login(base, 'view', 'view-pw');
  t.equal(r.status, 200);
  const body = (await r.json()) as { token: string; role: string; expiresAt: number };
  t.equal(body.role, 'viewer');
  const setCookie = r.headers.get('set-cookie') ?? '';
  t.match(setCookie, /^gridedge_session=[\w-]{43}; HttpOnly; SameSite=Strict; Path=\/; Max-Age=\d+$/, 'HttpOnly, SameSite=Strict, no Secure over plain HTTP');
  const cookie = setCookie.split(';')[0]!;
  t.equal((await fetch(`${base}/api/v1/status`, { headers: { cookie } })).status, 200, 'the cookie opens the API');
  t.equal((await fetch(`${base}/`, { headers: { cookie } })).status, 200, 'and the page');
  t.equal((await fetch(`${base}/metrics`, { headers: { authorization: `Bearer ${body.token}` } })).status, 200, 'the token works as a bearer');
  const denied = await fetch(`${base}/api/v1/logout`, { method: 'POST', headers: { authorization: 'Bearer nope' } });
  t.equal(denied.status, 401, 'a forged token is refused');
  t.equal((await fetch(`${base}/api/v1/status`, { headers: { cookie: 'gridedge_session=' + 'A'.repeat(43) } })).status, 401, 'a forged cookie is refused');
  const out = await fetch(`${base}/api/v1/logout`, { method: 'POST', headers: { authorization: `Bearer ${body.token}` } });
  t.equal(out.status, 204);
  t.equal((await fetch(`${base}/api/v1/status`, { headers: { cookie } })).status, 401, 'the session ended');
  t.equal(counters.get('http_logins', { result: 'ok' }), 1);
});

t.test('a viewer cannot change anything; cookie-authenticated changes must be JSON (CSRF)', async (t) => {
  const { base } = await serve(t);
  const v = (await (await login(base, 'view', 'view-pw')).json()) as { token: string };
  const forbidden = await fetch(`${base}/api/v1/change`, { method: 'POST', headers: { authorization: `Bearer ${v.token}`, 'content-type': 'application/json' }, body: '{}' });
  t.equal(forbidden.status, 403, 'viewer: 403 before anything else');
  t.match(((await forbidden.json()) as { detail: string }).detail, /view is viewer; this needs operator/);
  const opsRes = await login(base, 'ops', 'ops-pw');
  const cookie = (opsRes.headers.get('set-cookie') ?? '').split(';')[0]!;
  const form = await fetch(`${base}/api/v1/logout`, { method: 'POST', headers: { cookie, 'content-type': 'application/x-www-form-urlencoded' }, body: 'a=1' });
  t.equal(form.status, 415, 'a form post with the cookie is refused');
  const emptyForm = await fetch(`${base}/api/v1/logout`, { method: 'POST', headers: { cookie, 'content-type': 'application/x-www-form-urlencoded' } });
  t.equal(emptyForm.status, 415, 'so is a form post without fields (it still declares its content type)');
  const chunked = await fetch(`${base}/api/v1/logout`, {
    method: 'POST',
    headers: { cookie },
    body: new ReadableStream({ start: (c) => (c.enqueue(new TextEncoder().encode('a=1')), c.close()) }),
    duplex: 'half',
  } as RequestInit);
  t.equal(chunked.status, 415, 'a chunked body without a content type with the cookie is refused');
  const bodyless = await fetch(`${base}/api/v1/logout`, { method: 'POST', headers: { cookie } });
  t.equal(bodyless.status, 204, 'a change without a body and without a content type passes with the cookie (logout)');
  t.equal((await fetch(`${base}/api/v1/status`, { headers: { cookie } })).status, 401, 'and the session ended');
});

t.test('wrong passwords: 401 without telling which part was wrong; then the rate limit (429)', async (t) => {
  const { base, counters } = await serve(t);
  const wrongUser = await login(base, 'nobody', 'x');
  const wrongPw = await login(base, 'ops', 'x');
  t.equal(wrongUser.status, 401);
  t.equal(wrongPw.status, 401);
  t.same(await wrongUser.json(), await wrongPw.json(), 'the same answer for an unknown user and a wrong password');
  for (let k = 2; k < FAILURE_BURST; k++) t.equal((await login(base, 'ops', 'x')).status, 401);
  const limited = await login(base, 'ops', 'ops-pw');
  t.equal(limited.status, 429, 'over the limit even the right password waits');
  t.equal(counters.get('http_logins', { result: 'rate_limited' }), 1);
  const bad = await fetch(`${base}/api/v1/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"username":' });
  t.equal(bad.status, 400, 'malformed JSON: 400 problem');
  t.notMatch(await bad.text(), /ops-pw|scrypt\$/, 'no secret in the answer');
});

t.test('many wrong logins at once: at most FAILURE_BURST reach scrypt, the rest are 429; the right password waits too', async (t) => {
  const { base, counters } = await serve(t);
  const basic = (k: number) => `Basic ${Buffer.from(`ops:guess${k}`).toString('base64')}`;
  const answers = await Promise.all(
    Array.from({ length: 40 }, (_, k) =>
      k % 2 === 0 ? login(base, 'ops', `guess${k}`) : fetch(`${base}/api/v1/status`, { headers: { authorization: basic(k) } }),
    ),
  );
  const codes = answers.map((r) => r.status);
  t.equal(codes.filter((c) => c === 401).length, FAILURE_BURST, `${FAILURE_BURST} checked and refused (401), logins and Basic together`);
  t.equal(codes.filter((c) => c === 429).length, 40 - FAILURE_BURST, 'the others refused without a check (429)');
  t.equal(counters.get('http_logins', { result: 'bad_credentials' }), FAILURE_BURST, 'scrypt ran FAILURE_BURST times');
  t.equal((await login(base, 'ops', 'ops-pw')).status, 429, 'the right password is refused until the window passes');
});

t.test('the failed-login limit under concurrency: tokens are taken before scrypt, given back on success', async (t) => {
  let now = 1_000_000;
  const accounts = new Accounts([{ username: 'ops', passwordHash: hashPassword('ops-pw'), role: 'operator' }], 3_600_000, () => now);
  const good = await Promise.all(Array.from({ length: FAILURE_BURST + 3 }, () => accounts.login('ops', 'ops-pw', '10.0.0.1')));
  t.equal(good.filter((r) => r.ok).length, FAILURE_BURST, 'right passwords at once: a check in flight holds a token, so the limit bounds them too');
  const basics = await Promise.all(Array.from({ length: 3 * FAILURE_BURST }, () => accounts.basic('ops', 'ops-pw', '10.0.0.1')));
  t.ok(basics.every((r) => r.ok), 'the same HTTP Basic pair many times at once: all taken');
  t.equal(basics.filter((r) => r.ok && r.checked).length, 1, 'with one check, shared by the requests in flight');
  t.ok((await accounts.login('ops', 'ops-pw', '10.0.0.1')).ok, 'right passwords do not use up the limit');
  const wrong = await Promise.all(Array.from({ length: 20 }, (_, k) => accounts.login('ops', `x${k}`, '10.0.0.1')));
  t.equal(wrong.filter((r) => !r.ok && r.reason === 'bad_credentials').length, FAILURE_BURST);
  t.equal(wrong.filter((r) => !r.ok && r.reason === 'rate_limited').length, 20 - FAILURE_BURST);
  t.match(await accounts.login('ops', 'ops-pw', '10.0.0.1'), { ok: false, reason: 'rate_limited' }, 'over the limit: the right password is refused');
  t.ok((await accounts.login('ops', 'ops-pw', '10.0.0.2')).ok, 'another address is not limited');
  now += FAILURE_REFILL_MS;
  t.ok((await accounts.login('ops', 'ops-pw', '10.0.0.1')).ok, 'one refill later the right password is taken');
  t.match(await accounts.login('ops', 'x', '10.0.0.1'), { ok: false, reason: 'bad_credentials' }, 'and one more wrong one is checked');
  t.match(await accounts.login('ops', 'x', '10.0.0.1'), { ok: false, reason: 'rate_limited' }, 'then the limit again');
});

t.test('HTTP Basic (what pymfm clients send): checked like a login, once per pair for a while; roles, CSRF, bad headers, the rate limit', async (t) => {
  const { base, counters } = await serve(t);
  const basic = (user: string, pw: string) => `Basic ${Buffer.from(`${user}:${pw}`).toString('base64')}`;
  const ok = await fetch(`${base}/api/v1/status`, { headers: { authorization: basic('view', 'view-pw') } });
  t.equal(ok.status, 200, 'a right pair opens the API');
  t.notOk(ok.headers.get('set-cookie'), 'no cookie: nothing is kept for the client');
  t.equal((await fetch(`${base}/metrics`, { headers: { authorization: basic('view', 'view-pw') } })).status, 200, 'and again');
  t.equal(counters.get('http_logins', { result: 'ok' }), 1, 'the second request did not check the password again (one login counted)');
  t.equal((await fetch(`${base}/api/v1/status`, { headers: { authorization: basic('view', 'pw:with:colons') } })).status, 401, 'the password is everything after the first colon');

  const wrong = await fetch(`${base}/api/v1/status`, { headers: { authorization: basic('ops', 'wrong') } });
  t.equal(wrong.status, 401);
  t.match(wrong.headers.get('www-authenticate'), /^Bearer/, 'Basic is not offered: a browser never asks for it');
  t.match(((await wrong.json()) as { detail: string }).detail, /^wrong user name or password$/);
  const malformed = await fetch(`${base}/api/v1/status`, { headers: { authorization: 'Basic !!not-base64' } });
  t.equal(malformed.status, 401);
  t.match(((await malformed.json()) as { detail: string }).detail, /Authorization: Basic must carry the base64 of "user:password"/);
  t.equal((await fetch(`${base}/api/v1/status`, { headers: { authorization: `Basic ${Buffer.from('nocolon').toString('base64')}` } })).status, 401, 'no colon: malformed');

  const viewerPost = await fetch(`${base}/api/v1/change`, { method: 'POST', headers: { authorization: basic('view', 'view-pw'), 'content-type': 'application/json' }, body: '{}' });
  t.equal(viewerPost.status, 403, 'roles hold: a viewer cannot change anything');
  const form = await fetch(`${base}/api/v1/change`, { method: 'POST', headers: { authorization: basic('ops', 'ops-pw'), 'content-type': 'text/plain' }, body: 'x' });
  t.equal(form.status, 415, 'a change authenticated by Basic must be JSON, like one by the cookie (CSRF)');
  const json = await fetch(`${base}/api/v1/change`, { method: 'POST', headers: { authorization: basic('ops', 'ops-pw'), 'content-type': 'application/json' }, body: '{}' });
  t.notOk([401, 403, 415].includes(json.status), `an operator's JSON change passes the access check (${json.status})`);

  // The failed-login limit is the login's: `wrong` and the colon pair above were two failures; FAILURE_BURST in all, then 429.
  for (let k = 1; k < FAILURE_BURST - 1; k++) t.equal((await fetch(`${base}/api/v1/status`, { headers: { authorization: basic('ops', `wrong${k}`) } })).status, 401);
  const limited = await fetch(`${base}/api/v1/status`, { headers: { authorization: basic('ops', 'another') } });
  t.equal(limited.status, 429, 'over the limit: 429');
  t.equal(counters.get('http_logins', { result: 'rate_limited' }), 1);
  t.equal((await fetch(`${base}/api/v1/status`, { headers: { authorization: basic('view', 'view-pw') } })).status, 200, 'a pair already checked still opens the API');
});

t.test('HTTP Basic: a checked pair is trusted for BASIC_CACHE_MS, then checked again; a changed password is never trusted', async (t) => {
  let now = 1_000_000;
  const accounts = new Accounts([{ username: 'ops', passwordHash: hashPassword('ops-pw'), role: 'operator' }], 3_600_000, () => now);
  const first = await accounts.basic('ops', 'ops-pw', '10.0.0.1');
  t.match(first, { ok: true, checked: true, session: { username: 'ops', role: 'operator', expiresAt: now + BASIC_CACHE_MS } });
  now += BASIC_CACHE_MS - 1;
  t.match(await accounts.basic('ops', 'ops-pw', '10.0.0.1'), { ok: true, checked: false }, 'within the period: not checked again');
  t.match(await accounts.basic('ops', 'other', '10.0.0.1'), { ok: false, reason: 'bad_credentials' }, 'another password for the same user is checked, and refused');
  now += 1;
  t.match(await accounts.basic('ops', 'ops-pw', '10.0.0.1'), { ok: true, checked: true }, 'after the period: checked again');
  t.equal(accounts.sessionCount, 0, 'Basic opens no stored session');
});

t.test('HTTPS from http.tls: the cookie is Secure', async (t) => {
  const certs = makeCerts();
  const { port } = await serve(t, { tls: { cert: certs.serverCert, key: certs.serverKey } });
  const res = await new Promise<{ status: number; cookie: string }>((resolve, reject) => {
    const req = httpsRequest(
      { host: '127.0.0.1', port, path: '/api/v1/login', method: 'POST', ca: readFileSync(certs.ca), headers: { 'content-type': 'application/json' } },
      (r) => {
        r.resume();
        resolve({ status: r.statusCode ?? 0, cookie: String(r.headers['set-cookie'] ?? '') });
      },
    );
    req.on('error', reject);
    req.end(JSON.stringify({ username: 'ops', password: 'ops-pw' }));
  });
  t.equal(res.status, 200);
  t.match(res.cookie, /; Secure$/);
});

t.test('config: a non-loopback http.host needs accounts; tls needs both files', async (t) => {
  const errs = (http: Record<string, unknown>) => {
    const r = loadConfig({ document: { http, mqtt: { websocket: { enabled: false } } } });
    return r.ok ? [] : r.errors;
  };
  t.match(errs({ host: '0.0.0.0' })[0], /^http\.users: must name at least one account: http\.host "0\.0\.0\.0" is not a loopback address/);
  t.same(errs({ host: '0.0.0.0', users: [{ username: 'a', password: 'b', role: 'admin' }] }), []);
  t.match(errs({ users: [{ username: 'a', password: 'b', role: 'root' }] })[0], /^http\.users\[0\]\.role: must be one of/);
  t.match(errs({ tls: { cert: 'test/fixtures/forwarders/gw1.pem' } })[0], /^http\.tls\.key: must be given with the other http\.tls file/);
  // A file that does not exist is refused by the check, not first when the agent starts.
  t.match(errs({ tls: { cert: '/nonexistent/cert.pem', key: '/nonexistent/key.pem' } }), [
    /^http\.tls\.cert: must be a file path \(empty: none\); no such file from .*, got "\/nonexistent\/cert\.pem"$/,
    /^http\.tls\.key: must be a file path \(empty: none\); no such file from .*, got \[hidden\]$/,
  ]);
  t.match(errs({ tls: { cert: 'test', key: 'test/fixtures/forwarders/gw1.key' } })[0], /^http\.tls\.cert: must be a file path \(empty: none\); this is not a regular file \(a folder\?\), got "test"$/);
});

t.test('one account holds at most MAX_SESSIONS_PER_USER sessions: a login past it ends its oldest, counted', async (t) => {
  // A script that logs in every few seconds and never logs out; a cheap scrypt cost keeps it quick.
  const { base, counters } = await serve(t, { users: [{ username: 'bot', passwordHash: testHash('bot-pw'), role: 'viewer' }, { username: 'ops', passwordHash: testHash('ops-pw'), role: 'operator' }] });
  const token = async (user: string, pw: string): Promise<string> => ((await (await login(base, user, pw)).json()) as { token: string }).token;
  const status = (tok: string): Promise<number> => fetch(`${base}/api/v1/status`, { headers: { authorization: `Bearer ${tok}` } }).then((r) => r.status);
  const ops = await token('ops', 'ops-pw');
  const bots: string[] = [];
  for (let k = 0; k < MAX_SESSIONS_PER_USER + 2; k++) bots.push(await token('bot', 'bot-pw'));
  t.equal(await status(bots[0]!), 401, 'the oldest session ended');
  t.equal(await status(bots[1]!), 401, 'and the next oldest');
  t.equal(await status(bots[2]!), 200, 'the 100 newest stay');
  t.equal(await status(bots.at(-1)!), 200);
  t.equal(await status(ops), 200, "another account's session is not touched");
  t.equal(counters.get('http_sessions_ended', { reason: 'too_many' }), 2, 'counted');
});
