/** `GET /api/v1/status`: the health document (agent/core/status-types.ts). */
import type { FastifyInstance } from 'fastify';
import type { HttpDeps } from '../deps.js';
import { agentStatusSchema } from '../schemas.js';

export function registerStatusRoutes(app: FastifyInstance, deps: HttpDeps): void {
  app.get(
    '/api/v1/status',
    {
      schema: {
        summary: 'Agent health: drivers, devices, broker, buffer, forwarders, counters',
        tags: ['status'],
        response: { 200: agentStatusSchema },
      },
    },
    async () => deps.getStatus(),
  );
}
