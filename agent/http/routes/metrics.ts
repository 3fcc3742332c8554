/** `GET /metrics`: Prometheus text format 0.0.4 from the counter registry plus gauges from the status. */
import type { FastifyInstance } from 'fastify';
import type { HttpDeps } from '../deps.js';
import { PROMETHEUS_CONTENT_TYPE, familiesFromCounters, renderExposition } from '../prometheus.js';
import { familiesFromStatus } from '../status-metrics.js';

export function renderMetrics(deps: Pick<HttpDeps, 'counters' | 'getStatus'>): string {
  const fromCounters = familiesFromCounters(deps.counters.samples(), (n) => deps.counters.description(n));
  const taken = new Set(fromCounters.map((f) => f.name));
  // The registry wins where both know a series (e.g. broker_clients is also a gauge the broker sets).
  const fromStatus = familiesFromStatus(deps.getStatus()).filter((f) => !taken.has(f.name));
  return renderExposition([...fromStatus, ...fromCounters]);
}

export function registerMetricsRoutes(app: FastifyInstance, deps: HttpDeps): void {
  const schema = {
    summary: 'Every counter and gauge in Prometheus text format 0.0.4',
    tags: ['status'],
    response: { 200: { description: 'Prometheus text format 0.0.4', content: { 'text/plain': { schema: { type: 'string' } } } } },
  };
  app.get('/metrics', { schema }, async (_req, reply) => {
    reply.type(PROMETHEUS_CONTENT_TYPE);
    return renderMetrics(deps);
  });
}
