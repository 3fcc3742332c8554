/**
 * The login form without script: `POST /api/v1/login` as `application/x-www-form-urlencoded` (what
 * a browser's form sends), through a real HTTP server. With a plain HTTP client: the right password
 * gets the session cookie (as the JSON login sets it) and a 303 to `/`; a wrong one, a missing or
 * repeated field, the rate limit and a form from another site (Origin or Referer naming another
 * host, `Origin: null`) a 303 back to `/login?error=...` without a cookie, each counted; the login
 * page shows the fixed text of that error and nothing of an unknown one; the JSON login is as it
 * was, and a form anywhere else is still a 415. In Chromium with JavaScript off: the form logs in
 * and leads to the page, a wrong password comes back with a visible error, and a form on another
 * origin posting to the agent is refused and leaves no session cookie.
 */
import t, { type Test } from 'tap';
import { createServer, request, type IncomingHttpHeaders } from 'node:http';
import { startHttp, type HttpDeps } from '../../agent/http/index.js';
import { Counters } from '../../agent/core/counters.js';
import { createLogger } from '../../agent/core/logger.js';
import type { HttpConfig } from '../../agent/core/config-types.js';
import { FAILURE_BURST } from '../../agent/http/accounts.js';
import { sampleStatus } from './fixtures.js';
import { launchChromium } from '../helpers/browser.js';

const WAIT_MS = 30_000;

async function serve(t: Test) {
  const counters = new Counters();
  const deps: HttpDeps = { log: createLogger('silent'), counters, getStatus: () => sampleStatus(), latestByDevice: () => new Map(), wsPath: '/mqtt' };
  const cfg: HttpConfig = { host: '127.0.0.1', port: 0, users: [{ username: 'view', password: 'view-pw', role: 'viewer' }], sessionHours: 1 };
  const http = await startHttp(cfg, deps);
  t.teardown(() => http.close());
  return { base: `http://127.0.0.1:${http.port}`, host: `127.0.0.1:${http.port}`, port: http.port, counters };
}

/** A POST with exactly these headers (no Origin unless given), as a plain HTTP client sends it. */
function post(port: number, path: string, body: string, headers: Record<string, string>): Promise<{ status: number; headers: IncomingHttpHeaders; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, method: 'POST', headers: { 'content-length': String(Buffer.byteLength(body)), ...headers } }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (text += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

const FORM = { 'content-type': 'application/x-www-form-urlencoded' };
const form = (fields: [string, string][]) => new URLSearchParams(fields).toString();
const logins = (c: Counters) => JSON.stringify(c.snapshot()['http_logins'] ?? {});

t.test('a plain HTTP client posting the login form', async (t) => {
  const { base, port, host, counters } = await serve(t);

  const ok = await post(port, '/api/v1/login', form([['username', 'view'], ['password', 'view-pw']]), FORM);
  t.equal(ok.status, 303, 'the right password: 303');
  t.equal(ok.headers.location, '/', 'to the live page');
  const cookie = ok.headers['set-cookie']?.[0] ?? '';
  t.match(cookie, /^gridedge_session=[^;]+; HttpOnly; SameSite=Strict; Path=\/; Max-Age=\d+$/, `the session cookie as the JSON login sets it (${cookie.replace(/=[^;]+;/, '=…;')})`);
  t.equal(ok.headers['cache-control'], 'no-store');
  const status = await fetch(`${base}/api/v1/status`, { headers: { cookie: cookie.split(';')[0]! } });
  t.equal(status.status, 200, 'the cookie is a session');
  t.match(logins(counters), /"result=ok":1/, 'counted as a login');

  const back = async (what: string, body: string, headers: Record<string, string>, error: string) => {
    const r = await post(port, '/api/v1/login', body, { ...FORM, ...headers });
    t.equal(r.status, 303, `${what}: 303`);
    t.equal(r.headers.location, `/login?error=${error}`, `${what}: back to the login page with error=${error}`);
    t.equal(r.headers['set-cookie'], undefined, `${what}: no cookie`);
  };
  await back('a wrong password', form([['username', 'view'], ['password', 'nope']]), {}, 'wrong');
  await back('an unknown user', form([['username', 'nobody'], ['password', 'nope']]), {}, 'wrong');
  await back('no password field', form([['username', 'view']]), {}, 'form');
  await back('an empty user name', form([['username', ''], ['password', 'view-pw']]), {}, 'form');
  await back('the user name twice', form([['username', 'view'], ['username', 'ops'], ['password', 'view-pw']]), {}, 'form');
  await back('a user name of 129 characters', form([['username', 'u'.repeat(129)], ['password', 'view-pw']]), {}, 'form');
  t.match(logins(counters), /"result=bad_form":4/, 'the bad forms are counted');

  // Login CSRF: a form from another site (the right password, an attacker's account) is refused.
  const right = form([['username', 'view'], ['password', 'view-pw']]);
  await back('a form whose Origin is another site', right, { origin: 'http://evil.example' }, 'origin');
  await back('a form whose Origin is another port of this host', right, { origin: `http://127.0.0.1:${port + 1}` }, 'origin');
  await back('a form with Origin: null', right, { origin: 'null' }, 'origin');
  await back('a form without Origin whose Referer is another site', right, { referer: 'http://evil.example/login' }, 'origin');
  t.match(logins(counters), /"result=cross_site":4/, 'each counted as cross_site');
  const same = await post(port, '/api/v1/login', right, { ...FORM, origin: `http://${host}`, referer: `http://${host}/login` });
  t.equal(same.headers.location, '/', 'Origin and Referer of this host: logged in');
  const refererOnly = await post(port, '/api/v1/login', right, { ...FORM, referer: `http://${host}/login?why=ended` });
  t.equal(refererOnly.headers.location, '/', 'a Referer of this host alone: logged in');

  // The login page shows the error's own text, and nothing for a value it does not know.
  const page = await (await fetch(`${base}/login?error=wrong`)).text();
  t.match(page, /<p id="err" role="alert">Wrong user name or password\.<\/p>/, 'the login page says the password was wrong');
  t.match(await (await fetch(`${base}/login?error=origin`)).text(), /<p id="err" role="alert">This login was not sent from this login page/, 'or that the form came from elsewhere');
  t.match(await (await fetch(`${base}/login?error=%3Cb%3Ex`)).text(), /<p id="err" role="alert"><\/p>/, 'an unknown error shows nothing of the query');
  t.notMatch(page, /Logging in needs JavaScript/, 'the page no longer says logging in needs JavaScript');

  // The rate limit applies to forms too (the wrong passwords above already count).
  for (let k = 0; k < FAILURE_BURST; k++) await post(port, '/api/v1/login', form([['username', 'view'], ['password', 'nope']]), FORM);
  await back('over the failed-login limit', right, {}, 'limited');
});

t.test('the JSON login is unchanged, and a form is still refused everywhere else', async (t) => {
  const { base, port } = await serve(t);
  const json = await fetch(`${base}/api/v1/login`, { method: 'POST', headers: { 'content-type': 'application/json', origin: 'http://evil.example' }, body: JSON.stringify({ username: 'view', password: 'view-pw' }) });
  t.equal(json.status, 200, 'JSON: 200 (a script on another site cannot send JSON without a preflight, so Origin is not checked)');
  const body = (await json.json()) as Record<string, unknown>;
  t.same(Object.keys(body).sort(), ['expiresAt', 'role', 'token', 'username'], 'the token, user, role and expiry');
  const wrong = await fetch(`${base}/api/v1/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username: 'view', password: 'nope' }) });
  t.equal(wrong.status, 401, 'a wrong password: 401');
  t.match(await wrong.json(), { status: 401, detail: 'wrong user name or password' });
  const bad = await fetch(`${base}/api/v1/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username: 'view' }) });
  t.equal(bad.status, 400, 'a JSON body without a password: 400 problem');
  t.match(await bad.json(), { status: 400, detail: /password/ });
  const text = await post(port, '/api/v1/login', 'username=view&password=view-pw', { 'content-type': 'text/plain' });
  t.equal(text.status, 415, 'a text body is no form: refused (no route takes text/plain)');
  const cookie = (json.headers.get('set-cookie') ?? '').split(';')[0]!;
  const elsewhere = await post(port, '/api/v1/logout', 'x=1', { ...FORM, cookie });
  t.equal(elsewhere.status, 415, 'a form posted to another route with the cookie: still 415');
});

t.test('Chromium with JavaScript off: the form logs in, says why not, and refuses a form of another site', async (t) => {
  const { base, port } = await serve(t);
  const chromium = await launchChromium();
  t.teardown(() => chromium.close());
  const ctx = await chromium.browser.newContext({ javaScriptEnabled: false });
  t.teardown(() => ctx.close().catch(() => undefined));
  const page = await ctx.newPage();

  await page.goto(`${base}/`, { waitUntil: 'load', timeout: WAIT_MS });
  t.match(page.url(), /\/login$/, 'to the login page first');
  await page.fill('#u', 'view');
  await page.fill('#p', 'wrong');
  await Promise.all([page.waitForURL(/\/login\?error=wrong$/, { timeout: WAIT_MS }), page.click('button[type=submit]')]);
  t.ok(await page.isVisible('#err'), 'the error is visible');
  t.equal((await page.textContent('#err'))?.trim(), 'Wrong user name or password.', 'and says what was wrong');

  await page.fill('#u', 'view');
  await page.fill('#p', 'view-pw');
  await Promise.all([page.waitForURL(`${base}/`, { timeout: WAIT_MS }), page.click('button[type=submit]')]);
  t.ok(await page.isVisible('#static-status'), 'logged in: the server-rendered status of the page without script');
  const cookies = await ctx.cookies(base);
  t.match(cookies.find((c) => c.name === 'gridedge_session'), { httpOnly: true, sameSite: 'Strict' }, 'the session cookie');

  // Another origin (a server of the test on another port) with a form posting to the agent's login.
  const evil = createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
    res.end(`<!doctype html><form method="post" action="http://127.0.0.1:${port}/api/v1/login"><input type="hidden" name="username" value="view"><input type="hidden" name="password" value="view-pw"><button type="submit">win</button></form>`);
  });
  await new Promise<void>((resolve) => evil.listen(0, '127.0.0.1', resolve));
  t.teardown(() => evil.close());
  const evilPort = (evil.address() as { port: number }).port;
  const fresh = await chromium.browser.newContext({ javaScriptEnabled: false });
  t.teardown(() => fresh.close().catch(() => undefined));
  const victim = await fresh.newPage();
  await victim.goto(`http://127.0.0.1:${evilPort}/`, { waitUntil: 'load', timeout: WAIT_MS });
  await Promise.all([victim.waitForURL(/\/login\?error=origin$/, { timeout: WAIT_MS }), victim.click('button[type=submit]')]);
  t.match((await victim.textContent('#err'))?.trim(), /^This login was not sent from this login page/, 'the other site\'s form is refused, with the reason shown');
  t.equal((await fresh.cookies(base)).find((c) => c.name === 'gridedge_session'), undefined, 'and no session cookie was set');
});
