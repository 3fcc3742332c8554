/**
 * The one HTTP server: the status page (`/`), `/api/v1/status`, `/metrics`, the MQTT-over-WebSocket
 * upgrade path, and the route groups services bring (each an encapsulated Fastify plugin under
 * `/api/v1`). One file per route group of the agent's own under routes/.
 */
import { jsonSyntaxError, lineColumn } from '../../algorithms/common/json-syntax.js';
import { registerCompression } from './compress.js';
import { fastify, LogController, type FastifyBaseLogger, type FastifyError, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import type { HttpConfig } from '../core/config-types.js';
import { HTTP_TIMEOUTS, type HttpDeps } from './deps.js';
import { registerMetricsRoutes } from './routes/metrics.js';
import { registerPageRoutes } from './routes/page.js';
import { registerEventRoutes } from './routes/events.js';
import { registerStatusRoutes } from './routes/status.js';
import { registerApiRoutes } from './routes/api.js';
import { registerBrokerSessionRoutes } from './routes/broker-sessions.js';
import { registerDocsRoutes } from './routes/docs.js';
import { problem, PROBLEM_CONTENT_TYPE, sendProblem, shownPath } from './problem.js';
import { STATUS_CODES } from 'node:http';
import fastifySwagger from '@fastify/swagger';
import { loadTls, sameTls, type LoadedTls } from '../core/tls-files.js';
import { Accounts } from './accounts.js';
import { registerAuth } from './auth.js';
import { packageVersion } from '../core/version.js';
import { routeUpgrades } from './upgrade.js';
import { limitConnections } from './connections.js';
import { EVERY_ANSWER_HEADERS, registerSecurityHeaders } from './security-headers.js';

/**
 * The longest path parameter the router matches, in UTF-16 units after percent-decoding (what
 * find-my-way measures): the longest any route's schema allows, a device id of 256 code points
 * (2 units each at most). Device names (≤ 128 bytes of UTF-8) and job and battery ids (≤ 128
 * characters) fit. A longer one is a 414 problem.
 */
export const MAX_PARAM_LENGTH = 512;

/**
 * The methods of every route, matched by path: an `onRoute` hook records each route's URL pattern
 * (`:param` one path segment, `*` the rest) as it is registered; the function returned gives the
 * methods (with HEAD beside GET, and OPTIONS) of the routes whose pattern matches a request path
 * (as sent, percent-encoded: an encoded `/` stays inside its segment), or none.
 */
export function routeMethods(app: FastifyInstance): (path: string) => string[] {
  const routes: { re: RegExp; methods: string[] }[] = [];
  app.addHook('onRoute', (route) => {
    const source = route.url
      .split(/(:[A-Za-z0-9_]+|\*)/)
      .map((part) => (part === '*' ? '.*' : part.startsWith(':') ? '[^/]+' : part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')))
      .join('');
    routes.push({ re: new RegExp(`^${source}$`), methods: ([] as string[]).concat(route.method) });
  });
  return (path) => {
    const methods = new Set<string>();
    for (const r of routes) if (r.re.test(path)) for (const m of r.methods) methods.add(m);
    if (methods.size === 0) return [];
    if (methods.has('GET')) methods.add('HEAD');
    methods.add('OPTIONS');
    const order = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'];
    return [...methods].sort((a, b) => order.indexOf(a) - order.indexOf(b));
  };
}

/** An error a route or parser throws for a 4xx problem: its message is the problem's detail. */
function clientError(status: number, detail: string): Error & { statusCode: number } {
  return Object.assign(new Error(detail), { statusCode: status });
}

/**
 * A JSON request body, or a 400 naming what is wrong: empty, not JSON (with the reason and
 * position), or holding a `__proto__` key or a `constructor` object with a `prototype` key (what
 * would reach an object's prototype if a route copied it: refused, as Fastify's own parser does).
 */
export function parseJsonBody(body: string): unknown {
  if (body.length === 0) throw clientError(400, 'the body is empty: send a JSON document (or no Content-Type: application/json)');
  let value: unknown;
  try {
    value = JSON.parse(body);
  } catch {
    // Our own scanner's reason and place, not V8's message: that quotes a stretch of the body,
    // which may be a password (a login with an unquoted one).
    const where = jsonSyntaxError(body);
    if (!where) throw clientError(400, 'the body is not valid JSON');
    const { line, column } = lineColumn(body, where.offset);
    throw clientError(400, `the body is not valid JSON: ${where.reason.replace('end of file', 'end of the body')} at position ${where.offset} (line ${line}, column ${column})`);
  }
  // Only a body that could spell such a key (directly or by a \u escape) is walked: iteratively, as
  // nesting may be deep.
  if (!/__proto__|constructor|\\u/.test(body)) return value;
  const stack: unknown[] = [value];
  while (stack.length) {
    const v = stack.pop();
    if (v === null || typeof v !== 'object') continue;
    if (Array.isArray(v)) {
      for (const x of v) stack.push(x);
      continue;
    }
    if (Object.hasOwn(v, '__proto__')) throw clientError(400, 'the body holds a "__proto__" key, which is refused');
    const ctor = (v as Record<string, unknown>)['constructor'];
    if (Object.hasOwn(v, 'constructor') && ctor !== null && typeof ctor === 'object' && Object.hasOwn(ctor, 'prototype'))
      throw clientError(400, 'the body holds a "constructor" object with a "prototype" key, which is refused');
    for (const x of Object.values(v)) stack.push(x);
  }
  return value;
}

/**
 * The charset a JSON body declares (`Content-Type: application/json; charset=...`, lower case, quotes
 * taken off), when it is one the parser cannot read; undefined when it declares none, UTF-8 (`utf-8`,
 * or the common misspelling `utf8`) or US-ASCII (a subset of UTF-8). JSON is UTF-8 (RFC 8259 §8.1):
 * a body in another charset would be read as UTF-8 and come out garbled, so it is refused.
 */
export function unreadableCharset(contentType: string | undefined): string | undefined {
  for (const param of (contentType ?? '').split(';').slice(1)) {
    const eq = param.indexOf('=');
    if (eq < 0 || param.slice(0, eq).trim().toLowerCase() !== 'charset') continue;
    const value = param.slice(eq + 1).trim().replace(/^"(.*)"$/, '$1').toLowerCase();
    return value === 'utf-8' || value === 'utf8' || value === 'us-ascii' ? undefined : value;
  }
  return undefined;
}

/**
 * The content codings a request body says it is sent in (`Content-Encoding`, a comma-separated
 * list, lower case), `identity` left out: the server reads plain bodies only, so any of these is a
 * 415. Only for a request that has a body (`Content-Length` above 0, or `Transfer-Encoding`).
 */
export function bodyCodings(headers: FastifyRequest['headers']): string[] {
  const h = headers['content-encoding'];
  if (h === undefined) return [];
  const length = Number(headers['content-length'] ?? '0');
  if (headers['transfer-encoding'] === undefined && length === 0) return [];
  return String(h)
    .split(',')
    .map((c) => c.trim().toLowerCase())
    .filter((c) => c !== '' && c !== 'identity');
}

/**
 * The detail of a 4xx problem from an error Fastify raised (or a route threw): its message, made to
 * name what is wrong where Fastify's says too little: a query parameter given more than once (which
 * the schema sees as an array: "must be integer"), a Content-Type no parser takes, a body over the limit.
 */
function clientErrorDetail(err: FastifyError & { validationContext?: string; validation?: { instancePath?: string }[] }, req: FastifyRequest): string {
  if (err.validationContext === 'querystring') {
    const query = new URLSearchParams(req.url.split('?')[1] ?? '');
    for (const v of err.validation ?? []) {
      const name = (v.instancePath ?? '').split('/')[1];
      const n = name ? query.getAll(name).length : 0;
      if (n > 1) return `querystring/${name} is given ${n} times; give it once`;
    }
  }
  if (err.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE') {
    const type = req.headers['content-type'];
    return `a body of Content-Type ${JSON.stringify(String(type ?? '').slice(0, 100))} is not taken here: send application/json`;
  }
  if (err.code === 'FST_ERR_CTP_BODY_TOO_LARGE') return `the body is larger than ${req.routeOptions.bodyLimit ?? 1_048_576} bytes, the most this route takes`;
  return err.message;
}

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
  const timeouts = { ...HTTP_TIMEOUTS, ...deps.timeouts };
  // Node's own defaults leave a slow body unlimited (Fastify sets requestTimeout 0) and look for slow
  // headers every 30 s only: see HttpTimeouts.
  const serverOptions = { headersTimeout: timeouts.headersMs, connectionsCheckingInterval: timeouts.checkIntervalMs };
  const app = fastify({
    ...(tls ? { https: { cert: tls.cert, key: tls.key, ...serverOptions } } : { http: serverOptions }),
    requestTimeout: timeouts.requestMs,
    routerOptions: { maxParamLength: MAX_PARAM_LENGTH },
    // Refusals by the router (bad percent-encoding, too long a path parameter): problem documents, counted
    // here, with the headers of every answer set here too (no hook runs for them, onSend included).
    frameworkErrors: (err, req, reply) => {
      const { status, detail } = frameworkProblem(err);
      if (status >= 500) req.log.error({ err, url: req.url }, 'http: request failed');
      deps.counters.inc('http_requests', { route: 'unmatched', code: String(status) });
      const r = reply as FastifyReply; // the generic reply of this hook does not take a body of ours
      void r.headers(EVERY_ANSWER_HEADERS).send(sendProblem(r, problem(status, detail, req.url.split('?')[0])));
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
          `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? ''}\r\nContent-Type: ${PROBLEM_CONTENT_TYPE}\r\nContent-Length: ${Buffer.byteLength(body)}\r\n` +
            Object.entries(EVERY_ANSWER_HEADERS).map(([k, v]) => `${k}: ${v}\r\n`).join('') +
            `Connection: close\r\n\r\n${body}`,
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

  // JSON bodies are parsed here so a refusal says why (Fastify's own parser says only "not valid
  // JSON"); no route takes text/plain, so such a body is a 415 (not "body must be object").
  app.removeContentTypeParser(['application/json', 'text/plain']);
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (req, body, done) => {
    try {
      const charset = unreadableCharset(req.headers['content-type']);
      if (charset !== undefined)
        throw clientError(415, `a JSON body in charset ${JSON.stringify(charset.slice(0, 64))} is not taken: send it as UTF-8 (charset=utf-8, or no charset)`);
      done(null, parseJsonBody(body as string));
    } catch (e) {
      done(e as Error, undefined);
    }
  });

  // A body sent compressed (or in any content coding but identity) is refused before it is read, with
  // a 415 naming the coding and `Accept-Encoding: identity` (RFC 9110 §15.5.16, §12.5.3): read as plain,
  // a gzip body would be a JSON error at best. After the access check (onRequest), so only a client
  // that may use the route learns this.
  app.addHook('preParsing', async (req, reply, payload) => {
    const codings = bodyCodings(req.headers);
    if (codings.length === 0) return payload;
    reply.header('accept-encoding', 'identity');
    const named = codings.map((c) => JSON.stringify(c.slice(0, 64))).join(', ');
    throw clientError(415, `a request body in Content-Encoding ${named} is not taken: send it as it is (identity), not compressed`);
  });

  // Every route's path and methods (services' scopes included: registered after this), so that a
  // known path asked with another method is a 405 naming the methods it takes, not a 404.
  const allowed = routeMethods(app);

  app.addHook('onResponse', async (req, reply) => {
    deps.counters.inc('http_requests', { route: req.routeOptions.url ?? 'unmatched', code: String(reply.statusCode) });
  });

  // No route for this method and path: OPTIONS on a known path answers 204 with `Allow` (no CORS is
  // granted: no Access-Control-* header), another method on it 405 with `Allow`, anything else 404.
  app.setNotFoundHandler(async (req, reply) => {
    const path = req.url.split('?')[0]!;
    const methods = allowed(path);
    // The path in the detail and the instance as shownPath writes it (bounded, control characters encoded).
    if (methods.length === 0) return sendProblem(reply, problem(404, `no route ${req.method} ${shownPath(path)}`, path));
    reply.header('allow', methods.join(', '));
    if (req.method === 'OPTIONS') return reply.code(204).send();
    return sendProblem(reply, problem(405, `${req.method} is not allowed on ${shownPath(path)}; it takes ${methods.join(', ')}`, path));
  });

  // One error shape (RFC 9457) for every route: request validation, body limits, route refusals.
  app.setErrorHandler(async (err: FastifyError, req, reply) => {
    const code = err.statusCode && err.statusCode >= 400 && err.statusCode < 600 ? err.statusCode : 500;
    if (code >= 500) req.log.error({ err, url: req.url }, 'http: request failed');
    const detail = code >= 500 ? 'internal error (see the agent log)' : clientErrorDetail(err, req);
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

  limitConnections(app.server, cfg.maxConnections ?? 1024, deps.counters, deps.log);
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
