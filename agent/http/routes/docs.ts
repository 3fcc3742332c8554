/**
 * `GET /openapi.json`: the OpenAPI 3.1 document of every route (built by @fastify/swagger from the
 * routes' schemas). `GET /docs`: a small page that renders it (method, path, summary, parameters,
 * responses) from its own script file, without any script from elsewhere.
 */
import type { FastifyInstance } from 'fastify';
import { DOCS_FILES } from '../page/assets.js';

/** The page; its script and style are files (page/client/docs.ts, `/assets/docs.css`): the pages' CSP allows no inline ones. */
const PAGE = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>gridedge API</title><link rel="icon" href="data:,">
<link rel="stylesheet" href="${DOCS_FILES.css}">
<script type="module" src="${DOCS_FILES.js}"></script>
</head><body>
<h1>gridedge API</h1>
<p class="muted">The OpenAPI document: <a href="/openapi.json">/openapi.json</a>. Errors come as RFC 9457 problem details (<code>application/problem+json</code>).</p>
<div id="ops">Loading…</div>
<noscript><p>This list needs JavaScript; the document itself is at <a href="/openapi.json">/openapi.json</a>.</p></noscript>
</body></html>
`;

export function registerDocsRoutes(app: FastifyInstance): void {
  app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger());
  app.get('/docs', { schema: { hide: true } }, async (_req, reply) => {
    reply.type('text/html; charset=utf-8');
    return PAGE;
  });
}
