/**
 * The one HTTP server: the status page (`/`), `/api/v1/status`, `/metrics`, the MQTT-over-WebSocket
 * upgrade path, and the route groups services bring (each an encapsulated Fastify plugin under
 * `/api/v1`). One file per route group of the agent's own under routes/.
 */
import { registerCompression } from './compress.js';
import { fastify, LogController, type FastifyBaseLogger, type FastifyError, type FastifyInstance } from 'fastify';
import type { HttpConfig } from '../core/config-types.js';
import type { HttpDeps } from './deps.js';
import { registerMetricsRoutes } from './routes/metrics.js';
import { registerPageRoutes } from './routes/page.js';
import { registerEventRoutes } from './routes/events.js';
import { registerStatusRoutes } from './routes/status.js';
import { registerApiRoutes } from './routes/api.js';
import { registerDocsRoutes } from './routes/docs.js';
import { problem, sendProblem } from './problem.js';
import fastifySwagger from '@fastify/swagger';
import { readFileSync } from 'node:fs';
import { Accounts } from './accounts.js';
import { registerAuth } from './auth.js';
import { packageVersion } from '../core/version.js';
import { routeUpgrades } from './upgrade.js';

export async function buildHttp(cfg: HttpConfig, deps: HttpDeps): Promise<FastifyInstance> {
  const tls = httpsOptions(cfg);
  const app = fastify({
    ...(tls ? { https: tls } : {}),
    // pino 10's Logger type is not fastify's FastifyBaseLogger type, though it is the same logger at run time.
    loggerInstance: deps.log as unknown as FastifyBaseLogger,
    // Per-request log lines would flood the journal (the page refreshes every 5 s, Prometheus scrapes): counted instead.
    logController: new LogController({ disableRequestLogging: true }),
  });

  app.addHook('onResponse', async (req, reply) => {
    deps.counters.inc('http_requests', { route: req.routeOptions.url ?? 'unmatched', code: String(reply.statusCode) });
  });

  app.setNotFoundHandler(async (req, reply) => sendProblem(reply, problem(404, `no route ${req.method} ${req.url.split('?')[0]}`, req.url.split('?')[0])));

  // One error shape (RFC 9457) for every route: request validation, body limits, route refusals.
  app.setErrorHandler(async (err: FastifyError, req, reply) => {
    const code = err.statusCode && err.statusCode >= 400 && err.statusCode < 600 ? err.statusCode : 500;
    if (code >= 500) req.log.error({ err, url: req.url }, 'http: request failed');
    const detail = code >= 500 ? 'internal error (see the agent log)' : err.message;
    return sendProblem(reply, problem(code, detail, req.url.split('?')[0]));
  });

  // The OpenAPI document of every route registered after this (routes without `schema.hide`).
  await app.register(fastifySwagger, {
    openapi: {
      openapi: '3.1.0',
      info: { title: 'gridedge', version: packageVersion(), description: 'The edge gateway agent: status, devices, counters, services' },
    },
  });

  // Accounts first: their access check covers every route registered after it.
  registerAuth(app, {
    accounts: new Accounts(cfg.users ?? [], (cfg.sessionHours ?? 12) * 3_600_000),
    counters: deps.counters,
    log: deps.log,
    secure: tls !== null,
  });

  registerCompression(app);
  registerPageRoutes(app, deps);
  registerStatusRoutes(app, deps);
  registerMetricsRoutes(app, deps);
  registerApiRoutes(app, deps);
  registerDocsRoutes(app);
  registerEventRoutes(app, deps);
  for (const r of deps.routes ?? []) await app.register(async (scope) => r.register(scope), { prefix: r.prefix ?? '/api/v1' });

  const dropUpgraded = routeUpgrades(app.server, deps);
  app.addHook('preClose', async () => dropUpgraded());
  return app;
}

/** The HTTPS key and certificate of `http.tls`, read now; null for plain HTTP. Throws naming the file. */
function httpsOptions(cfg: HttpConfig): { cert: Buffer; key: Buffer } | null {
  if (!cfg.tls?.cert || !cfg.tls.key) return null;
  const read = (what: 'cert' | 'key'): Buffer => {
    try {
      return readFileSync(cfg.tls![what]);
    } catch (e) {
      throw new Error(`http.tls.${what}: cannot read ${cfg.tls![what]}: ${(e as Error).message}`);
    }
  };
  return { cert: read('cert'), key: read('key') };
}

export async function startHttp(
  cfg: HttpConfig,
  deps: HttpDeps,
): Promise<{ app: FastifyInstance; host: string; port: number; close(): Promise<void> }> {
  const app = await buildHttp(cfg, deps);
  try {
    await app.listen({ host: cfg.host, port: cfg.port });
  } catch (e) {
    await app.close().catch(() => undefined);
    throw new Error(`http: cannot listen on ${cfg.host}:${cfg.port}: ${(e as Error).message}`);
  }
  const addr = app.server.address();
  const bound = addr && typeof addr === 'object' ? { host: addr.address, port: addr.port } : { host: cfg.host, port: cfg.port };
  deps.log.info(bound, 'http: listening');
  let closing: Promise<void> | null = null;
  return {
    app,
    ...bound,
    close: () => (closing ??= app.close()),
  };
}
