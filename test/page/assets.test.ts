/**
 * The live page's shell and files over a real socket (the HTTP server alone, with a sample status):
 * the shell names every file it loads and every one is served, gzip when accepted, with an ETag
 * (304 on a repeat); the modules' relative imports all resolve to served files; nothing outside the
 * fixed list is served (traversal, encoded slashes, the server's own modules, source maps); the
 * shell escapes the gateway id, sets a Content-Security-Policy without inline script, and carries
 * the server-rendered status for browsers without script; the whole page stays under 150 KB gzipped.
 */
import t, { type Test } from 'tap';
import { gunzipSync } from 'node:zlib';
import { startHttp, type HttpDeps } from '../../agent/http/index.js';
import { Counters } from '../../agent/core/counters.js';
import { createLogger } from '../../agent/core/logger.js';
import { sampleStatus } from '../http/fixtures.js';

async function serve(t: Test) {
  const status = { ...sampleStatus(), gateway: 'gw-<b>x</b>' };
  const deps: HttpDeps = { log: createLogger('silent'), counters: new Counters(), getStatus: () => status, wsPath: '/mqtt' };
  const http = await startHttp({ host: '127.0.0.1', port: 0 }, deps);
  t.teardown(() => http.close());
  return `http://127.0.0.1:${http.port}`;
}

t.test('the shell, its files and their imports', async (t) => {
  const base = await serve(t);
  const res = await fetch(`${base}/`);
  t.equal(res.status, 200);
  const csp = res.headers.get('content-security-policy') ?? '';
  t.match(csp, /script-src 'self';/, 'scripts from this server only');
  t.notMatch(csp, /script-src[^;]*unsafe-inline/, 'no inline script allowed');
  const page = await res.text();
  t.ok(page.includes('gw-&lt;b&gt;x&lt;/b&gt;'), 'the gateway id escaped');
  t.notOk(page.includes('<b>x</b>'), 'never as markup');
  t.match(page, /<div id="static-status">[\s\S]*<h2>Devices<\/h2>/, 'the server-rendered status for browsers without script');
  t.match(page, /<noscript><meta http-equiv="refresh" content="5">/, 'refreshing only without script');
  t.notMatch(page, /<script>/, 'no inline script');

  // Every file the shell names, and every module those import, transitively.
  const pending = [...page.matchAll(/(?:src|href)="(\/assets\/[^"]+)"/g)].map((m) => m[1]!);
  t.ok(pending.length >= 4, `the shell loads ${pending.length} files`);
  const seen = new Set<string>();
  let gzipped = 0;
  while (pending.length) {
    const path = pending.shift()!;
    if (seen.has(path)) continue;
    seen.add(path);
    const r = await fetch(`${base}${path}`, { headers: { 'accept-encoding': 'gzip' } });
    t.equal(r.status, 200, `${path} served`);
    const raw = Buffer.from(await r.arrayBuffer());
    // fetch decodes gzip itself; the length on the wire is in the header when not chunked.
    gzipped += Number(r.headers.get('content-length') ?? raw.length);
    if (!path.endsWith('.js') || path.includes('/uplot/')) continue;
    const text = raw.toString('utf8');
    t.notMatch(text, /sourceMappingURL/, `${path}: no source map reference`);
    for (const m of text.matchAll(/^import[^'"]*['"](\.[^'"]+)['"]/gm)) pending.push(new URL(m[1]!, `http://x${path}`).pathname);
  }
  t.ok(seen.has('/assets/js/algorithms/common/field-quality.js') && seen.has('/assets/js/agent/core/duration-text.js'), 'the shared pure modules resolve');
  t.ok(seen.has('/assets/uplot/uPlot.min.js'), 'uPlot from its npm package');
  t.ok(gzipped < 150 * 1024, `${seen.size} files, ${(gzipped / 1024).toFixed(1)} KB gzipped in all (< 150 KB)`);
  t.comment(`page files: ${seen.size}, ${gzipped} bytes gzipped`);
});

t.test('gzip, ETag and 304', async (t) => {
  const base = await serve(t);
  const url = `${base}/assets/js/agent/http/page/client/main.js`;
  const plain = await fetch(url, { headers: { 'accept-encoding': 'identity' } });
  t.equal(plain.headers.get('content-encoding'), null, 'plain without accept-encoding: gzip');
  t.match(plain.headers.get('content-type'), /^text\/javascript/);
  const body = await plain.text();
  const etag = plain.headers.get('etag');
  t.ok(etag, 'an ETag');
  // node's http client does not decode gzip: the bytes on the wire.
  const { request } = await import('node:http');
  const gzipGet = (ifNoneMatch?: string) =>
    new Promise<{ status: number | undefined; enc: string | undefined; etag: string | undefined; bytes: Buffer }>((resolve, reject) => {
      request(url, { headers: { 'accept-encoding': 'gzip', ...(ifNoneMatch ? { 'if-none-match': ifNoneMatch } : {}) } }, (res) => {
        const parts: Buffer[] = [];
        res
          .on('data', (d: Buffer) => parts.push(d))
          .on('end', () => resolve({ status: res.statusCode, enc: res.headers['content-encoding'], etag: res.headers['etag'], bytes: Buffer.concat(parts) }));
      })
        .on('error', reject)
        .end();
    });
  const gz = await gzipGet();
  t.equal(gz.enc, 'gzip');
  t.equal(gunzipSync(gz.bytes).toString('utf8'), body, 'the same file, gzipped');
  // RFC 9110 §8.8.3: a strong ETag differs between representations, and the gzip form is other bytes.
  t.ok(gz.etag && gz.etag !== etag, `the gzip form has its own ETag (${gz.etag} against ${etag})`);
  t.equal((await gzipGet(gz.etag)).status, 304, "the gzip form's ETag, gzip asked: 304");
  const crossed = await gzipGet(etag!);
  t.equal(crossed.status, 200, "the plain form's ETag, gzip asked: the gzip form is sent");
  t.equal(gunzipSync(crossed.bytes).toString('utf8'), body);
  const again = await fetch(url, { headers: { 'if-none-match': etag!, 'accept-encoding': 'identity' } });
  t.equal(again.status, 304, 'the same ETag: 304');
  t.equal(again.headers.get('etag'), etag, 'the 304 names the ETag');

  // If-None-Match as RFC 9110 §13.1.2 reads it: `*` (the file exists), a list, weak comparison.
  const tag = etag!.slice(1, -1);
  const matching = ["*", " * ", `W/${etag}`, `"other", ${etag}`, `"a","b" ,W/${etag}`, `${etag}, "other"`];
  for (const h of matching) t.equal((await fetch(url, { headers: { 'if-none-match': h, 'accept-encoding': 'identity' } })).status, 304, `If-None-Match: ${h}: 304`);
  const missing = ['"other"', `"other", W/"x${tag}"`, tag, `"${tag}`, `${etag!.slice(0, -2)}"`, ''];
  for (const h of missing) {
    const r = await fetch(url, { headers: { 'if-none-match': h, 'accept-encoding': 'identity' } });
    t.equal(r.status, 200, `If-None-Match: ${JSON.stringify(h)}: 200`);
    t.equal(await r.text(), body, `If-None-Match: ${JSON.stringify(h)}: the file`);
  }

  // gzip;q=0 refuses gzip (RFC 9110 §12.4.2): the plain file.
  const refusing = await new Promise<string | undefined>((resolve, reject) => {
    request(url, { headers: { 'accept-encoding': 'gzip;q=0, identity' } }, (res) => {
      res.resume().on('end', () => resolve(res.headers['content-encoding']));
    })
      .on('error', reject)
      .end();
  });
  t.equal(refusing, undefined, 'Accept-Encoding: gzip;q=0: not gzipped');
});

t.test('nothing outside the list is served', async (t) => {
  const base = await serve(t);
  const paths = [
    '/assets/js/agent/http/page/assets.js',
    '/assets/js/agent/http/page/client/main.js.map',
    '/assets/js/agent/http/page/client/../../../../../package.json',
    '/assets/js/agent/http/page/client/..%2f..%2f..%2f..%2f..%2fpackage.json',
    '/assets/%2e%2e/%2e%2e/package.json',
    '/assets/js/agent/cli/main.js',
    '/assets/uplot/uPlot.d.ts',
    '/assets/',
  ];
  for (const p of paths) {
    const r = await fetch(`${base}${p}`);
    t.equal(r.status, 404, `${p}: 404`);
    t.match(r.headers.get('content-type'), /^application\/problem\+json/, `${p}: a problem`);
  }
});
