/**
 * Security headers over a real socket (agent/http/security-headers.ts): every HTML page (the live
 * page, the login page, the API docs) carries the strict Content-Security-Policy (no inline script
 * or style) and X-Frame-Options; every answer, HTML or not, `nosniff` and a Referrer-Policy; the
 * HTML itself has no inline script, style element or style attribute left for the policy to block;
 * with accounts the login page's and the docs' own files open without a session, the page's do not.
 */
import t, { type Test } from 'tap';
import { startHttp, type HttpDeps } from '../../agent/http/index.js';
import type { HttpConfig } from '../../agent/core/config-types.js';
import { Counters } from '../../agent/core/counters.js';
import { createLogger } from '../../agent/core/logger.js';
import { sampleStatus } from './fixtures.js';

async function serve(t: Test, over: Partial<HttpConfig> = {}): Promise<string> {
  const deps: HttpDeps = { log: createLogger('silent'), counters: new Counters(), getStatus: () => sampleStatus(), latestByDevice: () => new Map(), wsPath: '/mqtt' };
  const http = await startHttp({ host: '127.0.0.1', port: 0, ...over }, deps);
  t.teardown(() => http.close());
  return `http://127.0.0.1:${http.port}`;
}

/** The policy as directive → its sources. */
function directives(csp: string): Map<string, string[]> {
  const m = new Map<string, string[]>();
  for (const part of csp.split(';')) {
    const [name, ...sources] = part.trim().split(/\s+/);
    if (name) m.set(name.toLowerCase(), sources);
  }
  return m;
}

function checkHtmlPage(t: Test, path: string, res: Response, body: string): void {
  t.match(res.headers.get('content-type'), /^text\/html/, `${path}: HTML`);
  const csp = res.headers.get('content-security-policy');
  t.ok(csp, `${path}: a Content-Security-Policy`);
  const d = directives(csp ?? '');
  t.same(d.get('default-src'), ["'self'"], `${path}: default-src 'self'`);
  t.same(d.get('script-src'), ["'self'"], `${path}: scripts from this server only (no inline, no eval)`);
  t.same(d.get('style-src'), ["'self'"], `${path}: styles from this server only (no inline)`);
  t.same(d.get('frame-ancestors'), ["'none'"], `${path}: never framed`);
  t.same(d.get('object-src'), ["'none'"], `${path}: no plugins`);
  t.same(d.get('base-uri'), ["'none'"], `${path}: no <base>`);
  t.notMatch(csp ?? '', /unsafe-|\*|https?:/, `${path}: nothing unsafe, no wildcard, no other origin`);
  t.equal(res.headers.get('x-frame-options'), 'DENY', `${path}: X-Frame-Options for older browsers`);
  t.equal(res.headers.get('x-content-type-options'), 'nosniff', `${path}: nosniff`);
  t.equal(res.headers.get('referrer-policy'), 'same-origin', `${path}: Referrer-Policy`);
  // What the policy would block must not be in the page (it would silently not run or not style).
  t.notMatch(body, /<script(?![^>]*\bsrc=)[^>]*>/i, `${path}: no inline script`);
  t.notMatch(body, /<style\b/i, `${path}: no style element`);
  t.notMatch(body, /\sstyle=/i, `${path}: no style attribute`);
  t.notMatch(body, /\son[a-z]+=/i, `${path}: no inline event handler`);
  for (const m of body.matchAll(/<(?:script|link)\b[^>]*(?:src|href)="([^"]+)"/g)) t.match(m[1], /^\/(?!\/)|^data:,$/, `${path}: ${m[1]} from this server`);
}

t.test('without accounts: the live page and the API docs, and every other answer', async (t) => {
  const base = await serve(t);
  for (const path of ['/', '/docs']) {
    const res = await fetch(`${base}${path}`);
    t.equal(res.status, 200, `${path}: 200`);
    checkHtmlPage(t, path, res, await res.text());
  }
  for (const path of ['/api/v1/status', '/metrics', '/openapi.json', '/assets/page.css', '/assets/js/agent/http/page/client/main.js', '/no/such/route']) {
    const res = await fetch(`${base}${path}`);
    t.equal(res.headers.get('x-content-type-options'), 'nosniff', `${path} (${res.status}): nosniff`);
    t.equal(res.headers.get('referrer-policy'), 'same-origin', `${path}: Referrer-Policy`);
    t.notMatch(res.headers.get('content-type'), /html/, `${path}: not HTML`);
  }
  // Every file the pages name is served, with the type the browser must take it as.
  for (const [path, type] of [
    ['/assets/noscript.css', /^text\/css/],
    ['/assets/docs.css', /^text\/css/],
    ['/assets/js/agent/http/page/client/docs.js', /^text\/javascript/],
  ] as const) {
    const res = await fetch(`${base}${path}`);
    t.equal(res.status, 200, `${path}: served`);
    t.match(res.headers.get('content-type'), type, `${path}: its type`);
  }
});

t.test('with accounts: the login page too; its files and the docs open without a session, the page does not', async (t) => {
  const base = await serve(t, { users: [{ username: 'view', password: 'view-pw', role: 'viewer' }] });
  for (const path of ['/login', '/login?why=restart', '/docs']) {
    const res = await fetch(`${base}${path}`);
    t.equal(res.status, 200, `${path}: 200`);
    checkHtmlPage(t, path, res, await res.text());
  }
  const login = await (await fetch(`${base}/login`)).text();
  t.match(login, /<form id="f" method="post" action="\/api\/v1\/login">/, 'the form posts (a password never goes into an address)');
  for (const path of ['/assets/js/agent/http/page/client/login.js', '/assets/login.css', '/assets/js/agent/http/page/client/docs.js', '/assets/docs.css']) {
    const res = await fetch(`${base}${path}`);
    t.equal(res.status, 200, `${path}: served without a session`);
    t.equal(res.headers.get('x-content-type-options'), 'nosniff', `${path}: nosniff`);
  }
  for (const path of ['/assets/js/agent/http/page/client/main.js', '/assets/page.css', '/assets/noscript.css', '/assets/js/agent/http/page/client/login.js/../main.js']) {
    const res = await fetch(`${base}${path}`);
    t.equal(res.status, 401, `${path}: needs a session`);
    t.equal(res.headers.get('x-content-type-options'), 'nosniff', `${path} (refused): nosniff`);
  }
  const redirect = await fetch(`${base}/`, { redirect: 'manual' });
  t.equal(redirect.status, 303, '/ without a session: to the login page');
  t.equal(redirect.headers.get('referrer-policy'), 'same-origin', 'the redirect has the headers too');
});
