/** `GET /`: the status page. */
import type { FastifyInstance } from 'fastify';
import type { HttpDeps } from '../deps.js';
import { renderStatusPage } from '../page/status-page.js';

export function registerPageRoutes(app: FastifyInstance, deps: HttpDeps): void {
  app.get('/', async (_req, reply) => {
    reply.type('text/html; charset=utf-8').header('cache-control', 'no-store');
    return renderStatusPage(deps.getStatus());
  });
}
