/**
 * What a script with mistakes or a hostile device on the LAN sends, over a real socket to the real
 * server (fixture deps; a service's route group with a JSON body, as the scheduler brings): another
 * method on a known path is a 405 problem naming the methods (`Allow`), OPTIONS a 204 with `Allow`
 * and no CORS; HEAD of the event stream answers its headers and opens no stream; bodies that are
 * not JSON, empty, of another type, too large, with a prototype key, or deeply nested, and query
 * parameters given twice, are problems naming what is wrong; with accounts a viewer learns the
 * 405 too (no role is needed for a method no route takes); a client that sends its headers or its
 * body too slowly gets a 408 problem and its connection closed (short timeouts for the test). Every
 * answer here carries the security headers and is counted.
 */
import t, { type Test } from 'tap';
import { connect } from 'node:net';
import { problem, startHttp, type HttpDeps } from '../../agent/http/index.js';
import type { HttpConfig } from '../../agent/core/config-types.js';
import { Counters } from '../../agent/core/counters.js';
import { createLogger } from '../../agent/core/logger.js';
import { sampleStatus } from './fixtures.js';
import { withTimeout } from '../helpers/wait.js';

/** A route group with a JSON body, as services bring: POST /api/v1/echo answers the body's keys and its `n`. */
const echo: NonNullable<HttpDeps['routes']>[number] = {
  id: 'echo',
  register: async (app) => {
    app.post(
      '/echo',
      { schema: { body: { type: 'object', properties: { n: { type: 'number' }, list: { type: 'array' } } } } },
      async (req) => ({ keys: Object.keys(req.body as object), n: (req.body as { n?: unknown }).n }),
    );
  },
};

async function serve(t: Test, over: Partial<HttpConfig> = {}, timeouts?: HttpDeps['timeouts']) {
  const counters = new Counters();
  const deps: HttpDeps = {
    log: createLogger('silent'),
    counters,
    getStatus: () => sampleStatus(),
    latestByDevice: () => new Map(),
    wsPath: '/mqtt',
    routes: [echo],
    ...(timeouts ? { timeouts } : {}),
  };
  const http = await startHttp({ host: '127.0.0.1', port: 0, ...over }, deps);
  t.teardown(() => http.close());
  return { base: `http://127.0.0.1:${http.port}`, port: http.port, counters };
}

const problemOf = async (t: Test, res: Response, status: number, what: string): Promise<{ detail: string; instance?: string }> => {
  t.equal(res.status, status, `${what}: ${status}`);
  t.match(res.headers.get('content-type'), /^application\/problem\+json/, `${what}: a problem document`);
  t.equal(res.headers.get('x-content-type-options'), 'nosniff', `${what}: nosniff`);
  t.equal(res.headers.get('referrer-policy'), 'same-origin', `${what}: Referrer-Policy`);
  const body = (await res.json()) as { detail: string; status: number; instance?: string };
  t.equal(body.status, status, `${what}: the status in the document`);
  t.notMatch(body.detail, /\bat .*\.js:\d+|\/agent\/|node_modules/, `${what}: no stack or internal path`);
  return body;
};

t.test('another method on a known path: 405 with Allow; OPTIONS: 204 with Allow and no CORS', async (t) => {
  const { base, counters } = await serve(t);
  const doc = (await (await fetch(`${base}/openapi.json`)).json()) as { paths: Record<string, Record<string, unknown>> };
  const methods = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE'];
  let refused = 0;
  for (const [path, ops] of Object.entries(doc.paths)) {
    const concrete = path.replace(/\{[^}]+\}/g, 'x');
    const takes = Object.keys(ops).map((m) => m.toUpperCase());
    for (const m of methods.filter((m) => !takes.includes(m))) {
      const res = await fetch(`${base}${concrete}`, { method: m, ...(m === 'GET' ? {} : { headers: { 'content-type': 'application/json' }, body: '{}' }) });
      const p = await problemOf(t, res, 405, `${m} ${concrete}`);
      t.equal(p.detail, `${m} is not allowed on ${concrete}; it takes ${res.headers.get('allow')}`, `${m} ${concrete}: the detail names the methods`);
      for (const k of takes) t.match(res.headers.get('allow'), new RegExp(`\\b${k}\\b`), `${m} ${concrete}: Allow names ${k}`);
      refused++;
    }
    const opt = await fetch(`${base}${concrete}`, { method: 'OPTIONS', headers: { origin: 'http://elsewhere.example', 'access-control-request-method': 'DELETE' } });
    t.equal(opt.status, 204, `OPTIONS ${concrete}: 204`);
    t.match(opt.headers.get('allow'), /OPTIONS/, `OPTIONS ${concrete}: Allow`);
    t.notOk([...opt.headers.keys()].some((h) => h.startsWith('access-control-')), `OPTIONS ${concrete}: no CORS granted`);
    t.equal(opt.headers.get('x-content-type-options'), 'nosniff');
  }
  t.ok(refused > 20, `${refused} wrong methods tried`);
  t.equal(counters.get('http_requests', { route: 'unmatched', code: '405' }), refused, 'each 405 counted');
  const unknown = await problemOf(t, await fetch(`${base}/api/v1/nope`, { method: 'DELETE' }), 404, 'an unknown path');
  t.equal(unknown.detail, 'no route DELETE /api/v1/nope');
  const twoParams = await fetch(`${base}/api/v1/devices/a%2Fb/history`, { method: 'DELETE' });
  t.equal(twoParams.status, 405, 'an encoded "/" stays inside its path segment');
  t.equal(twoParams.headers.get('allow'), 'GET, HEAD, OPTIONS');
});

t.test('with accounts: a viewer learns the 405 too; without a session it is a 401', async (t) => {
  const { base } = await serve(t, { users: [{ username: 'view', password: 'view-pw', role: 'viewer' }] });
  const login = (await (await fetch(`${base}/api/v1/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username: 'view', password: 'view-pw' }) })).json()) as { token: string };
  const auth = { authorization: `Bearer ${login.token}` };
  await problemOf(t, await fetch(`${base}/api/v1/status`, { method: 'PUT', headers: auth }), 405, 'PUT /api/v1/status by a viewer');
  const forbidden = await problemOf(t, await fetch(`${base}/api/v1/echo`, { method: 'POST', headers: { ...auth, 'content-type': 'application/json' }, body: '{}' }), 403, 'POST /api/v1/echo by a viewer');
  t.equal(forbidden.detail, 'view is viewer; this needs operator', 'the 403 names the role needed');
  await problemOf(t, await fetch(`${base}/api/v1/status`, { method: 'PUT' }), 401, 'PUT /api/v1/status without a session');
  t.equal((await fetch(`${base}/api/v1/status`, { method: 'OPTIONS' })).status, 401, 'OPTIONS without a session: 401');
});

t.test('HEAD of the event stream: its headers, no stream opened', async (t) => {
  const { base, counters } = await serve(t);
  const res = await withTimeout(fetch(`${base}/api/v1/events`, { method: 'HEAD' }), 'the HEAD answer', 10_000);
  t.equal(res.status, 200);
  t.match(res.headers.get('content-type'), /^text\/event-stream/);
  t.equal(res.headers.get('x-content-type-options'), 'nosniff');
  t.equal(await withTimeout(res.text(), 'the end of the HEAD answer', 10_000), '', 'no body, and the answer ends');
  t.equal(counters.get('http_sse_clients'), 0, 'no stream is held for it');
  const stop = new AbortController();
  const stream = await fetch(`${base}/api/v1/events`, { signal: stop.signal });
  t.equal(stream.headers.get('x-content-type-options'), 'nosniff', 'the stream itself: nosniff');
  t.equal(stream.headers.get('referrer-policy'), 'same-origin', 'and the Referrer-Policy');
  stop.abort();
  const bad = await fetch(`${base}/api/v1/events?devices=a,,b`, { method: 'HEAD' });
  t.equal(bad.status, 400, 'a bad filter is still refused');
});

t.test('bodies: not JSON, empty, another type, too large, a prototype key, deep; query parameters given twice', async (t) => {
  const { base } = await serve(t);
  const post = (body: string | Buffer, type = 'application/json') => fetch(`${base}/api/v1/echo`, { method: 'POST', headers: { 'content-type': type }, body });
  t.equal((await problemOf(t, await post('{bad'), 400, 'invalid JSON')).detail, "the body is not valid JSON: expected a property name in double quotes, found 'b' at position 1 (line 1, column 2)", 'names why and where');
  t.equal((await problemOf(t, await post('[1,'), 400, 'cut short')).detail, 'the body is not valid JSON: unexpected end of the body at position 3 (line 1, column 4)');
  // V8's own message quotes a stretch of the body: a login with an unquoted password echoed it.
  const echo = await problemOf(t, await post('{"username":"ops",\n "password":LoginPw-9f3Kq}'), 400, 'an unquoted password');
  t.notMatch(echo.detail, /oginPw|9f3Kq/, `the detail does not quote the body (${echo.detail})`);
  t.match(echo.detail, /^the body is not valid JSON: unexpected 'L' at position 31 \(line 2, column 13\)$/, 'but names where');
  t.equal((await problemOf(t, await post(''), 400, 'an empty JSON body')).detail, 'the body is empty: send a JSON document (or no Content-Type: application/json)');
  t.equal((await problemOf(t, await post('x', 'text/plain'), 415, 'a text/plain body')).detail, 'a body of Content-Type "text/plain" is not taken here: send application/json');
  t.equal((await problemOf(t, await post('a=1', 'application/x-www-form-urlencoded'), 415, 'a form')).detail, 'a body of Content-Type "application/x-www-form-urlencoded" is not taken here: send application/json');
  t.equal((await problemOf(t, await post('{"list":[{"__proto__":{"admin":true}}]}'), 400, 'a __proto__ key, nested')).detail, 'the body holds a "__proto__" key, which is refused');
  t.equal((await problemOf(t, await post('{"\\u005f_proto__":{}}'), 400, 'a __proto__ key spelt with an escape')).detail, 'the body holds a "__proto__" key, which is refused');
  t.equal(
    (await problemOf(t, await post('{"constructor":{"prototype":{"x":1}}}'), 400, 'constructor.prototype')).detail,
    'the body holds a "constructor" object with a "prototype" key, which is refused',
  );
  const big = Buffer.alloc(1_048_577, 0x20);
  t.equal((await problemOf(t, await post(big), 413, 'a body over 1 MiB')).detail, 'the body is larger than 1048576 bytes, the most this route takes');
  const depth = 200_000;
  const deep = await post(`{"list":${'['.repeat(depth)}${']'.repeat(depth)}}`);
  t.equal(deep.status, 200, `${depth} nested arrays: parsed and checked without running out of stack`);
  const fine = await post('{"n":"5","extra":true}');
  t.equal(fine.status, 200, 'a number as a string where the schema says number: coerced (as Fastify does)');
  t.same(await fine.json(), { keys: ['n', 'extra'], n: 5 }, 'n reaches the route as a number');

  const twice = await problemOf(t, await fetch(`${base}/api/v1/devices?limit=1&limit=2`), 400, 'limit given twice');
  t.equal(twice.detail, 'querystring/limit is given 2 times; give it once');
  t.equal((await problemOf(t, await fetch(`${base}/api/v1/devices?limit=x`), 400, 'limit not a number')).detail, 'querystring/limit must be integer');
});

t.test('bodies in a content coding or a charset the server does not read: 415 naming it', async (t) => {
  const { base } = await serve(t);
  const post = (headers: Record<string, string>, body = '{"n":1}') => fetch(`${base}/api/v1/echo`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body });
  // Labelled gzip but sent plain: read as plain before, answered 200; a real gzip body would be a JSON error at best.
  const gz = await post({ 'content-encoding': 'gzip' });
  t.equal((await problemOf(t, gz, 415, 'Content-Encoding: gzip')).detail, 'a request body in Content-Encoding "gzip" is not taken: send it as it is (identity), not compressed');
  t.equal(gz.headers.get('accept-encoding'), 'identity', 'the 415 says what the server takes (Accept-Encoding: identity)');
  const two = await problemOf(t, await post({ 'content-encoding': 'Deflate, BR' }), 415, 'two codings');
  t.equal(two.detail, 'a request body in Content-Encoding "deflate", "br" is not taken: send it as it is (identity), not compressed', 'each coding named');
  t.equal((await post({ 'content-encoding': 'identity' })).status, 200, 'Content-Encoding: identity is a plain body');
  const del = await fetch(`${base}/api/v1/nope`, { method: 'DELETE', headers: { 'content-encoding': 'gzip' } });
  t.equal(del.status, 404, 'a request without a body is not refused for the header');

  const utf16 = await post({ 'content-type': 'application/json; charset=utf-16' });
  t.equal((await problemOf(t, utf16, 415, 'charset=utf-16')).detail, 'a JSON body in charset "utf-16" is not taken: send it as UTF-8 (charset=utf-8, or no charset)');
  const quoted = await problemOf(t, await post({ 'content-type': 'application/json;Charset="ISO-8859-1"' }), 415, 'a quoted charset, any case');
  t.match(quoted.detail, /charset "iso-8859-1"/, 'named as sent, lower case');
  for (const ok of ['application/json; charset=utf-8', 'application/json; charset=UTF-8', 'application/json;charset="utf-8"', 'application/json; charset=us-ascii', 'Application/JSON']) {
    const r = await post({ 'content-type': ok });
    t.equal(r.status, 200, `${ok}: taken`);
  }
});

t.test('a long or odd path is repeated bounded and readable in the problem', async (t) => {
  const { base } = await serve(t);
  const long = `/${'x'.repeat(15_000)}`;
  const nf = await problemOf(t, await fetch(`${base}${long}`), 404, 'a 15 kB path');
  t.equal(nf.instance, `/${'x'.repeat(255)}…`, 'the instance: the first 256 characters and an ellipsis');
  t.equal(nf.detail, `no route GET /${'x'.repeat(255)}…`, 'the detail too');
  const segment = `/api/v1/devices/${'y'.repeat(4000)}`;
  const tooLong = await problemOf(t, await fetch(`${base}${segment}`), 414, 'a path segment over 512 characters');
  t.equal(tooLong.instance, `${segment.slice(0, 256)}…`, 'the 414 instance is bounded too');
  const asset = await problemOf(t, await fetch(`${base}/assets/${'z'.repeat(3000)}`), 404, 'an unknown file');
  t.ok(asset.detail.length < 300 && asset.instance!.length === 257, `the asset 404 is bounded (${asset.detail.length} characters of detail)`);
  const encoded = await problemOf(t, await fetch(`${base}/a%20b/${'%C3%A9'.repeat(100)}`), 404, 'a percent-encoded path');
  // 256 characters end with "%C3" (half of an é): cut before it, so what is shown still decodes.
  t.equal(encoded.instance, `/a%20b/${'%C3%A9'.repeat(41)}…`, 'cut between characters, never inside an escape or a character');
  t.equal(decodeURIComponent(encoded.instance!.slice(0, -1)), `/a b/${'é'.repeat(41)}`, 'what is shown decodes');
  // Node's parser refuses a path with raw control or non-ASCII bytes (400, no instance); what a route
  // puts in a problem from a decoded parameter is encoded all the same.
  const p = problem(404, 'x', '/api/v1/devices/a\nb\u0000c\u007f\u0085 é😀\ud800');
  t.equal(p.instance, '/api/v1/devices/a%0Ab%00c%7F%C2%85%20%C3%A9%F0%9F%98%80%EF%BF%BD', 'control characters, spaces and non-ASCII percent-encoded in the instance');
  t.equal(problem(404, 'x', '/ok%20path/x?').instance, '/ok%20path/x?', 'an encoded path comes back as it is');
});

/** What the server wrote on a raw connection until it closed it. */
function rawExchange(port: number, send: (s: ReturnType<typeof connect>) => void): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = connect(port, '127.0.0.1', () => send(s));
    let got = '';
    s.setEncoding('utf8');
    s.on('data', (d: string) => (got += d));
    s.on('error', reject);
    s.on('close', () => resolve(got));
  });
}

t.test('slow senders: headers or a body that do not arrive in time get a 408 problem and the connection closed', async (t) => {
  const { port, counters } = await serve(t, {}, { headersMs: 300, requestMs: 600, checkIntervalMs: 50 });
  const slowHeaders = await withTimeout(
    rawExchange(port, (s) => s.write('GET /api/v1/status HTTP/1.1\r\nHost: x\r\n')),
    'the server to close a connection whose headers never end',
    10_000,
  );
  t.match(slowHeaders, /^HTTP\/1\.1 408 /, 'headers never finished: 408');
  t.match(slowHeaders, /"detail":"the request did not arrive in time"/, 'as a problem document');
  t.match(slowHeaders, /\r\nx-content-type-options: nosniff\r\n/i, 'with nosniff, like every answer');
  t.match(slowHeaders, /\r\nreferrer-policy: same-origin\r\n/i, 'and the Referrer-Policy');
  const malformed = await withTimeout(rawExchange(port, (s) => s.write('GET / HTTP/1.1\r\nbad header line\r\n\r\n')), 'the answer to a malformed request', 10_000);
  t.match(malformed, /^HTTP\/1\.1 400 [^]*x-content-type-options: nosniff[^]*"detail":"the request is not valid HTTP"/i, 'a malformed request: 400 problem with nosniff');
  let timer: NodeJS.Timeout | undefined;
  const slowBody = await withTimeout(
    rawExchange(port, (s) => {
      s.write('POST /api/v1/echo HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{');
      timer = setInterval(() => s.writable && s.write(' '), 100); // a byte now and then: never idle, never done
    }),
    'the server to close a connection whose body trickles',
    10_000,
  ).finally(() => clearInterval(timer));
  t.match(slowBody, /^HTTP\/1\.1 408 /, 'a body trickling in: 408');
  t.equal(counters.get('http_requests', { route: 'unmatched', code: '408' }), 2, 'both counted');
  t.equal(counters.get('http_requests', { route: 'unmatched', code: '400' }), 1, 'the malformed one counted');
});
