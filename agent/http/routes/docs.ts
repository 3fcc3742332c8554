/**
 * `GET /openapi.json`: the OpenAPI 3.1 document of every route (built by @fastify/swagger from the
 * routes' schemas). `GET /docs`: a small page that renders it (method, path, summary, parameters,
 * responses) without any script from elsewhere.
 */
import type { FastifyInstance } from 'fastify';

const PAGE = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>gridedge API</title>
<style>
body{font:14px/1.4 system-ui,sans-serif;margin:1rem;max-width:60rem}
h2{font-size:1rem;margin:1.2rem 0 .2rem;word-break:break-all}
code{background:#f2f2f2;padding:0 .2rem}
.m{display:inline-block;min-width:4rem;font-weight:bold}
.muted{color:#555}
</style></head><body>
<h1>gridedge API</h1>
<p class="muted">The OpenAPI document: <a href="/openapi.json">/openapi.json</a>. Errors come as RFC 9457 problem details (<code>application/problem+json</code>).</p>
<div id="ops">Loading…</div>
<script>
fetch('/openapi.json').then(function (r) { return r.json(); }).then(function (doc) {
  var box = document.getElementById('ops');
  box.textContent = '';
  Object.keys(doc.paths).sort().forEach(function (path) {
    var ops = doc.paths[path];
    Object.keys(ops).forEach(function (method) {
      var op = ops[method];
      var h = document.createElement('h2');
      var m = document.createElement('span'); m.className = 'm'; m.textContent = method.toUpperCase();
      h.appendChild(m); h.appendChild(document.createTextNode(' ' + path));
      box.appendChild(h);
      var p = document.createElement('p'); p.textContent = op.summary || ''; box.appendChild(p);
      var params = (op.parameters || []).map(function (x) { return x.name + ' (' + x.in + ')'; });
      if (params.length) { var q = document.createElement('p'); q.className = 'muted'; q.textContent = 'Parameters: ' + params.join(', '); box.appendChild(q); }
      var r = document.createElement('p'); r.className = 'muted'; r.textContent = 'Responses: ' + Object.keys(op.responses || {}).join(', '); box.appendChild(r);
    });
  });
}).catch(function (e) { document.getElementById('ops').textContent = 'Cannot load /openapi.json: ' + e; });
</script>
</body></html>
`;

export function registerDocsRoutes(app: FastifyInstance): void {
  app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger());
  app.get('/docs', { schema: { hide: true } }, async (_req, reply) => {
    reply.type('text/html; charset=utf-8');
    return PAGE;
  });
}
