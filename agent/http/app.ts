/**
 * The one HTTP server: the status page (`/`), `/api/v1/status`, `/metrics`, the MQTT-over-WebSocket
 * upgrade path, and the route groups services bring (each an encapsulated Fastify plugin under
 * `/api/v1`). One file per route group of the agent's own under routes/.
 */
import { registerCompression } from './compress.js';
import { fastify, LogController, type FastifyBaseLogger, type FastifyError, type FastifyInstance, type FastifyReply } from 'fastify';
import type { HttpConfig } from '../core/config-types.js';
import type { HttpDeps } from './deps.js';
import { registerMetricsRoutes } from './routes/metrics.js';
import { registerPageRoutes } from './routes/page.js';
import { registerEventRoutes } from './routes/events.js';
import { registerStatusRoutes } from './routes/status.js';
import { registerApiRoutes } from './routes/api.js';
import { registerBrokerSessionRoutes } from './routes/broker-sessions.js';
import { registerDocsRoutes } from './routes/docs.js';
import { problem, PROBLEM_CONTENT_TYPE, sendProblem } from './problem.js';
import { STATUS_CODES } from 'node:http';
import fastifySwagger from '@fastify/swagger';
import { loadTls, sameTls, type LoadedTls } from '../core/tls-files.js';
import { Accounts } from './accounts.js';
import { registerAuth } from './auth.js';
import { packageVersion } from '../core/version.js';
import { routeUpgrades } from './upgrade.js';
import { registerSecurityHeaders } from './security-headers.js';

/**
 * The longest path parameter the router matches, in UTF-16 units after percent-decoding (what
 * find-my-way measures): the longest any route's schema allows, a device id of 256 code points
 * (2 units each at most). Device names (≤ 128 bytes of UTF-8) and job and battery ids (≤ 128
 * characters) fit. A longer one is a 414 problem.
 */
export const MAX_PARAM_LENGTH = 512;

/** Why Fastify refused a request before any route saw it: the problem status and its detail. */
function frameworkProblem(err: FastifyError): { status: number; detail: string } {
  if (err.code === 'FST_ERR_MAX_PARAM_LENGTH') return { status: 414, detail: `a path segment is longer than ${MAX_PARAM_LENGTH} characters` };
  if (err.code === 'FST_ERR_BAD_URL') return { status: 400, detail: 'the path is not valid percent-encoding' };
  return { status: 500, detail: 'internal error (see the agent log)' };
}

/** Status and detail of a connection error Node's parser raised (before Fastify has a request). */
function clientErrorProblem(err: Error & { code?: string }): { status: number; detail: string } {
  if (err.code === 'ERR_HTTP_REQUEST_TIMEOUT') return { status: 408, detail: 'the request did not arrive in time' };
  if (err.code === 'HPE_HEADER_OVERFLOW') return { status: 431, detail: 'the request headers are too large' };
  return { status: 400, detail: 'the request is not valid HTTP' };
}

export async function buildHttp(cfg: HttpConfig, deps: HttpDeps, tls: LoadedTls | null = httpsOptions(cfg)): Promise<FastifyInstance> {
  const app = fastify({
    ...(tls ? { https: { cert: tls.cert, key: tls.key } } : {}),
    routerOptions: { maxParamLength: MAX_PARAM_LENGTH },
    // Refusals by the router (bad percent-encoding, too long a path parameter): problem documents, counted
    // here (no route's hooks run for them).
    frameworkErrors: (err, req, reply) => {
      const { status, detail } = frameworkProblem(err);
      if (status >= 500) req.log.error({ err, url: req.url }, 'http: request failed');
      deps.counters.inc('http_requests', { route: 'unmatched', code: String(status) });
      const r = reply as FastifyReply; // the generic reply of this hook does not take a body of ours
      void r.send(sendProblem(r, problem(status, detail, req.url.split('?')[0])));
    },
    // Requests Node's HTTP parser refuses (malformed, headers too large, too slow): a problem document
    // written on the socket, counted, then the connection closed.
    clientErrorHandler: (err, socket) => {
      if (err.code === 'ECONNRESET' || socket.destroyed) return;
      const { status, detail } = clientErrorProblem(err);
      deps.counters.inc('http_requests', { route: 'unmatched', code: String(status) });
      const body = JSON.stringify(problem(status, detail));
      if (socket.writable)
        socket.write(
          `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? ''}\r\nContent-Type: ${PROBLEM_CONTENT_TYPE}\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
        );
      socket.destroy(err);
    },
    // pino 10's Logger type is not fastify's FastifyBaseLogger type, though it is the same logger at run time.
    loggerInstance: deps.log as unknown as FastifyBaseLogger,
    // Per-request log lines would flood the journal (the page refreshes every 5 s, Prometheus scrapes): counted instead.
    logController: new LogController({ disableRequestLogging: true }),
  });

  // Security headers on every answer (a CSP on every HTML page), refusals and problems included.
  registerSecurityHeaders(app);

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
  registerBrokerSessionRoutes(app, deps);
  registerDocsRoutes(app);
  registerEventRoutes(app, deps);
  for (const r of deps.routes ?? []) await app.register(async (scope) => r.register(scope), { prefix: r.prefix ?? '/api/v1' });

  const dropUpgraded = routeUpgrades(app.server, deps);
  app.addHook('preClose', async () => dropUpgraded());
  return app;
}

/** The HTTPS key and certificate of `http.tls`, read and checked now; null for plain HTTP. Throws naming the option. */
function httpsOptions(cfg: HttpConfig): LoadedTls | null {
  if (!cfg.tls?.cert || !cfg.tls.key) return null;
  return loadTls('http.tls', { cert: cfg.tls.cert, key: cfg.tls.key });
}

export async function startHttp(
  cfg: HttpConfig,
  deps: HttpDeps,
): Promise<{
  app: FastifyInstance;
  host: string;
  port: number;
  certificateExpires: Date | null;
  /** Renewed http.tls files (same paths) for the next connections; false when plain HTTP or the same bytes. */
  renewTls(files: LoadedTls): boolean;
  close(): Promise<void>;
}> {
  const tls = httpsOptions(cfg);
  const app = await buildHttp(cfg, deps, tls);
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
  let inForce = tls;
  return {
    app,
    ...bound,
    get certificateExpires() {
      return inForce?.notAfter ?? null;
    },
    renewTls(files) {
      if (!inForce || sameTls(inForce, files)) return false;
      (app.server as unknown as { setSecureContext(o: { cert: Buffer; key: Buffer }): void }).setSecureContext({ cert: files.cert, key: files.key });
      inForce = files;
      return true;
    },
    close: () => (closing ??= app.close()),
  };
}
