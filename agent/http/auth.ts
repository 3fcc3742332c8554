/**
 * Login, logout and the access check of every route, when `http.users` has accounts.
 *
 * - `POST /api/v1/login` `{ username, password }` → 200 `{ token, username, role, expiresAt }` and a
 *   session cookie (HttpOnly, SameSite=Strict, Path=/, Secure under TLS). The token is the same
 *   session, for the API as `Authorization: Bearer <token>`. `POST /api/v1/logout` ends it.
 * - Every other route needs a live session, except `GET /login` (the login page), `/openapi.json`,
 *   `/docs` and the two pages' script and style files (page/assets.ts `PUBLIC_ASSETS`). Without one: `GET /` redirects to `/login`; anything else gets a 401 problem.
 * - `Authorization: Basic` (user name and password with every request, as pymfm's clients send them)
 *   is taken too, for the API and pymfm's paths: checked like a login (same rate limit; one scrypt
 *   per pair every few minutes, accounts.ts), with no session kept. The 401 does not offer Basic
 *   (`WWW-Authenticate: Bearer`), so browsers never ask for it and never send it on their own.
 * - Roles: GET and HEAD need `viewer`; other methods `operator`, unless a route says more with
 *   `config: { role: 'admin' }`. Too low a role: 403 problem. A request no route takes (404, or 405
 *   for another method of a known path) needs a session of any role and no CSRF check: it changes nothing.
 * - CSRF: a state-changing request authenticated by the cookie (or by Basic) that has a body
 *   (`content-length` above 0 or `transfer-encoding`) or declares a content type must be
 *   `application/json` (a form on another site cannot send that without a CORS preflight, which this
 *   server never grants), besides the SameSite=Strict cookie. One with neither (DELETE, pymfm's PUT
 *   .../soc?..., logout) passes: a form always declares its content type, even without fields, and
 *   only forms reach here from another site (a cross-site DELETE or PUT needs the preflight too).
 * - A browser form (the login page without script) posts `application/x-www-form-urlencoded` to the
 *   same route: on success the same cookie and a 303 to `/`, else a 303 to `/login?error=<why>` (the
 *   page shows its own fixed text for it). Against login CSRF (another site logging the browser in to
 *   an account of its choosing) a form whose `Origin` (or else `Referer`) names another host than the
 *   request's `Host` is refused (`error=origin`, counted as `http_logins{result="cross_site"}`); one
 *   with neither (a plain HTTP client) passes. The JSON login is unchanged: a script on another site
 *   cannot send JSON without a CORS preflight, which this server never grants.
 * - Audit: every login (ok or not) and every state-changing request is logged with the user.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Counters } from '../core/counters.js';
import type { Logger } from '../core/plugin.js';
import { Accounts, MAX_SESSIONS_PER_USER, roleAllows, type Role, type Session } from './accounts.js';
import { problem, problemSchema, sendProblem, type Problem } from './problem.js';
import { LOGIN_FILES, PUBLIC_ASSETS } from './page/assets.js';

export const SESSION_COOKIE = 'gridedge_session';

const PUBLIC = new Set(['GET /login', 'POST /api/v1/login', 'GET /openapi.json', 'GET /docs']);

declare module 'fastify' {
  interface FastifyRequest {
    /** The logged-in user of this request (accounts configured), or undefined. */
    session?: Session;
  }
  interface FastifyContextConfig {
    /** The least role a route needs (default: viewer for GET/HEAD, operator otherwise). */
    role?: Role;
  }
}

function cookieValue(header: string | undefined, name: string): string | undefined {
  if (!header) return undefined;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}

function bearer(req: FastifyRequest): string | undefined {
  const h = req.headers.authorization;
  return h && /^Bearer /i.test(h) ? h.slice(7).trim() : undefined;
}

/** The user name and password of `Authorization: Basic`; 'malformed' when it is not base64 of "user:password"; undefined without one. */
function basicPair(req: FastifyRequest): { username: string; password: string } | 'malformed' | undefined {
  const h = req.headers.authorization;
  if (!h || !/^Basic /i.test(h)) return undefined;
  const b64 = h.slice(6).trim();
  if (b64.length === 0 || b64.length > 2048 || !/^[A-Za-z0-9+/]+={0,2}$/.test(b64)) return 'malformed';
  const text = Buffer.from(b64, 'base64').toString('utf8');
  const colon = text.indexOf(':');
  if (colon <= 0) return 'malformed';
  return { username: text.slice(0, colon), password: text.slice(colon + 1) };
}

/** Whether a request has a body or declares a content type (what a form sends, even an empty one). */
function mayBeForm(req: FastifyRequest): boolean {
  const h = req.headers;
  const length = Number(h['content-length'] ?? '0');
  return h['content-type'] !== undefined || h['transfer-encoding'] !== undefined || length !== 0; // a malformed length (NaN) counts as a body
}

/**
 * Why the browser is on the login page, from `?why=` (set by the live page on a 401, agent/http/page/client/api.ts):
 * `restart` when the session was refused after the page had lost its connection to the agent (sessions
 * live in memory, so a restart ends them), `ended` otherwise. Only these fixed texts are shown, never the query.
 */
const LOGIN_WHY: Record<string, string> = {
  restart: 'The agent could not be reached for a while and then no longer knew your session: it has most likely restarted (sessions are kept in memory). Please sign in again.',
  ended: 'Your session has ended (it expired, or you logged out in another tab). Please sign in again.',
};

/** Why a form login came back to the login page, from `?error=` (set by the form login below); only these fixed texts are shown. */
const LOGIN_ERRORS: Record<string, string> = {
  wrong: 'Wrong user name or password.',
  limited: 'Too many failed logins from this address: wait a little, then try again.',
  form: 'Fill in the user name (at most 128 characters) and the password (at most 1024), once each.',
  origin: 'This login was not sent from this login page (another site, or another address of the agent): open the login page of the agent and log in there.',
};

/** The form a browser posts without script (`application/x-www-form-urlencoded`). */
const FORM_TYPE = 'application/x-www-form-urlencoded';

/** The fields of a login form; undefined when one is missing, repeated or too long. */
function loginForm(body: string): { username: string; password: string } | undefined {
  const q = new URLSearchParams(body);
  const user = q.getAll('username');
  const password = q.getAll('password');
  if (user.length !== 1 || password.length !== 1) return undefined;
  const [u, p] = [user[0]!, password[0]!];
  if (u.length === 0 || u.length > 128 || p.length > 1024) return undefined;
  return { username: u, password: p };
}

/**
 * Why a request is cross-site, or undefined: its `Origin` (else its `Referer`), when it has one, must
 * name the host (and port) of its `Host` header. `Origin: null` (a sandboxed or privacy-hidden
 * origin) is refused. Neither header: not a browser's cross-site form (browsers send Origin with a
 * POST), so it passes.
 */
function crossSite(req: FastifyRequest): string | undefined {
  const host = (req.headers.host ?? '').toLowerCase();
  const check = (name: string, value: string): string | undefined => {
    let from: string;
    try {
      from = new URL(value).host.toLowerCase();
    } catch {
      return `${name} ${JSON.stringify(value.slice(0, 100))} is no address`;
    }
    return from === host ? undefined : `${name} ${from} is not ${host || 'the Host (none sent)'}`;
  };
  const origin = req.headers.origin;
  if (origin !== undefined) return check('Origin', origin);
  const referer = req.headers.referer;
  if (referer !== undefined) return check('Referer', referer);
  return undefined;
}

/**
 * The login page: its script and style are files (page/client/login.ts, `/assets/login.css`, served
 * without a session), as the pages' Content-Security-Policy allows no inline ones (security-headers.ts).
 * The form posts (never a GET: a password must not end up in an address) for the case its script did
 * not run: as a form (`application/x-www-form-urlencoded`), which the login route answers with a 303
 * to `/`, or back here with `?error=` (shown in `#err`).
 */
const loginPage = (why: string, error = ''): string => `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>gridedge: log in</title><link rel="icon" href="data:,">
<link rel="stylesheet" href="${LOGIN_FILES.css}">
<script type="module" src="${LOGIN_FILES.js}"></script></head>
<body><h1>gridedge</h1>
<p id="why" role="status">${why}</p>
<form id="f" method="post" action="/api/v1/login"><label for="u">User</label><input id="u" name="username" autocomplete="username" required>
<label for="p">Password</label><input id="p" name="password" type="password" autocomplete="current-password" required>
<button type="submit">Log in</button><p id="err" role="alert">${error}</p></form>
</body></html>
`;

/** Answer from a hook: the route's handler does not run (returning a value from a hook does not send). */
function refuse(reply: FastifyReply, p: Problem): FastifyReply {
  return reply.send(sendProblem(reply, p));
}

/** A 401 from the access check, with `WWW-Authenticate: Bearer` (never Basic: a browser would then ask for it). */
function unauthorized(reply: FastifyReply, p: Problem): FastifyReply {
  reply.header('www-authenticate', 'Bearer realm="gridedge"');
  return refuse(reply, p);
}

export interface AuthOptions {
  accounts: Accounts;
  counters: Counters;
  log: Logger;
  /** Served over HTTPS: the cookie gets Secure. */
  secure: boolean;
}

export function registerAuth(app: FastifyInstance, o: AuthOptions): void {
  const { accounts, counters, log } = o;
  if (!accounts.enabled) return;

  /** A refused login (POST /api/v1/login or HTTP Basic), logged: 429 over the failed-login limit, else 401. */
  const refusedLogin = (req: FastifyRequest, user: string, reason: 'bad_credentials' | 'rate_limited', path: string | undefined, method?: 'basic'): Problem => {
    log.warn({ user: user.slice(0, 64), address: req.ip, reason, ...(method ? { method } : {}) }, 'http: login refused');
    return reason === 'rate_limited' ? problem(429, 'too many failed logins from this address; try again later', path) : problem(401, 'wrong user name or password', path);
  };

  // The access check's answers in /openapi.json, on every route it covers that documents its responses
  // (registered after this, services' scopes included): 401, 429 (HTTP Basic over the failed-login
  // limit), 403 where the route needs more than viewer (every account reads), 415 on changes (CSRF).
  app.addHook('onRoute', (route) => {
    const methods = ([] as string[]).concat(route.method);
    const response = route.schema?.response as Record<string, unknown> | undefined;
    if (!response || methods.every((m) => PUBLIC.has(`${m} ${route.url}`))) return;
    const changes = methods.some((m) => m !== 'GET' && m !== 'HEAD');
    const need: Role = route.config?.role ?? (changes ? 'operator' : 'viewer');
    route.schema = {
      ...route.schema,
      response: {
        401: problemSchema,
        429: problemSchema,
        ...(need !== 'viewer' ? { 403: problemSchema } : {}),
        ...(changes ? { 415: problemSchema } : {}),
        ...response,
      },
    };
  });

  const cookie = (id: string, maxAgeS: number): string =>
    `${SESSION_COOKIE}=${id}; HttpOnly; SameSite=Strict; Path=/; Max-Age=${Math.max(0, Math.floor(maxAgeS))}${o.secure ? '; Secure' : ''}`;

  app.addHook('onRequest', async (req: FastifyRequest, reply: FastifyReply) => {
    const route = `${req.method} ${req.routeOptions.url ?? ''}`;
    if (PUBLIC.has(route)) return;
    const path = req.url.split('?')[0];
    if ((req.method === 'GET' || req.method === 'HEAD') && PUBLIC_ASSETS.has(path ?? '')) return;
    const token = bearer(req);
    const basic = token === undefined ? basicPair(req) : undefined;
    const fromCookie = token === undefined && basic === undefined ? cookieValue(req.headers.cookie, SESSION_COOKIE) : undefined;
    let session: Session | undefined;
    if (basic === 'malformed') {
      return unauthorized(reply, problem(401, 'Authorization: Basic must carry the base64 of "user:password"', path));
    } else if (basic) {
      const r = await accounts.basic(basic.username, basic.password, req.ip);
      if (!r.ok || r.checked) counters.inc('http_logins', { result: r.ok ? 'ok' : r.reason });
      if (!r.ok) {
        const p = refusedLogin(req, basic.username, r.reason, path, 'basic');
        return p.status === 401 ? unauthorized(reply, p) : refuse(reply, p);
      }
      if (r.checked) log.info({ user: r.session.username, role: r.session.role, address: req.ip, method: 'basic' }, 'http: login');
      session = r.session;
    } else session = accounts.session(token ?? fromCookie);
    if (!session) {
      if (req.method === 'GET' && path === '/') return reply.redirect('/login', 303);
      return unauthorized(reply, problem(401, 'log in first: POST /api/v1/login, then the session cookie or Authorization: Bearer <token> (or send Authorization: Basic with every request)', path));
    }
    // A request no route takes (404, or 405 for another method of a known path) changes nothing: any session may learn that.
    const matched = req.routeOptions.url !== undefined;
    const need: Role = req.routeOptions.config?.role ?? (!matched || req.method === 'GET' || req.method === 'HEAD' ? 'viewer' : 'operator');
    if (!roleAllows(session.role, need)) return refuse(reply, problem(403, `${session.username} is ${session.role}; this needs ${need}`, path));
    const changes = matched && req.method !== 'GET' && req.method !== 'HEAD';
    const ambient = fromCookie !== undefined || basic !== undefined; // what a browser could send by itself
    if (changes && ambient && mayBeForm(req) && !/^application\/json\b/i.test(req.headers['content-type'] ?? '')) return refuse(reply, problem(415, 'send the request as application/json', path));
    req.session = session;
  });

  app.addHook('onResponse', async (req, reply) => {
    if (req.method !== 'GET' && req.method !== 'HEAD' && req.session)
      log.info({ user: req.session.username, role: req.session.role, method: req.method, url: req.url, code: reply.statusCode }, 'http: change by user');
  });

  app.get<{ Querystring: { why?: string; error?: string } }>('/login', { schema: { hide: true } }, async (req, reply) => {
    reply.type('text/html; charset=utf-8').header('cache-control', 'no-store');
    const { why, error } = req.query;
    const fixed = (table: Record<string, string>, key: unknown): string => (typeof key === 'string' && Object.hasOwn(table, key) ? table[key]! : '');
    return loginPage(fixed(LOGIN_WHY, why), fixed(LOGIN_ERRORS, error));
  });

  /** A login by name and password (JSON or form): counted, logged, and the session's cookie set on success. */
  const login = async (req: FastifyRequest, reply: FastifyReply, username: string, password: string) => {
    const r = await accounts.login(username, password, req.ip);
    counters.inc('http_logins', { result: r.ok ? 'ok' : r.reason });
    if (!r.ok) return { ok: false as const, problem: refusedLogin(req, username, r.reason, '/api/v1/login') };
    const s = r.session;
    log.info({ user: s.username, role: s.role, address: req.ip }, 'http: login');
    if (r.ended) {
      counters.inc('http_sessions_ended', { reason: 'too_many' }, r.ended);
      log.warn(
        { user: s.username, ended: r.ended, limit: MAX_SESSIONS_PER_USER },
        `http: ${s.username} has ${MAX_SESSIONS_PER_USER} sessions open; the oldest ended for this login (log out what you log in)`,
      );
    }
    reply.header('set-cookie', cookie(s.id, (s.expiresAt - Date.now()) / 1000)).header('cache-control', 'no-store');
    return { ok: true as const, session: s };
  };

  /**
   * A browser's form login (no script), before the route's JSON validation: 303 to `/` with the
   * cookie, or back to the login page with a fixed error. Cross-site forms are refused first.
   */
  const formLogin = async (req: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> => {
    const back = (error: keyof typeof LOGIN_ERRORS) => reply.header('cache-control', 'no-store').redirect(`/login?error=${error}`, 303);
    const cross = crossSite(req);
    if (cross) {
      counters.inc('http_logins', { result: 'cross_site' });
      log.warn({ address: req.ip, reason: 'cross_site', detail: cross }, 'http: login refused');
      return back('origin');
    }
    const form = loginForm(req.body as string);
    if (!form) {
      counters.inc('http_logins', { result: 'bad_form' });
      log.warn({ address: req.ip, reason: 'bad_form' }, 'http: login refused');
      return back('form');
    }
    const r = await login(req, reply, form.username, form.password);
    if (!r.ok) return back(r.problem.status === 429 ? 'limited' : 'wrong');
    return reply.redirect('/', 303);
  };

  const registerLoginRoute = (scope: FastifyInstance): void => {
    scope.post<{ Body: { username: string; password: string } }>(
      '/api/v1/login',
      {
        preValidation: async (req, reply) => {
          if (typeof req.body === 'string' && /^application\/x-www-form-urlencoded\b/i.test(req.headers['content-type'] ?? '')) return formLogin(req, reply);
        },
        schema: {
          summary: 'Log in: a session cookie for the page and a bearer token for the API',
          description:
            'JSON `{ username, password }` answers 200 with the token and sets the session cookie. ' +
            'A browser form (`application/x-www-form-urlencoded`, fields `username` and `password`, the login page without script) answers 303: ' +
            'to `/` with the cookie, or to `/login?error=wrong|limited|form|origin`; a form whose Origin or Referer names another host is refused (`origin`).',
          tags: ['accounts'],
          body: {
            type: 'object',
            required: ['username', 'password'],
            additionalProperties: false,
            properties: { username: { type: 'string', minLength: 1, maxLength: 128 }, password: { type: 'string', maxLength: 1024 } },
          },
          response: {
            200: {
              type: 'object',
              required: ['token', 'username', 'role', 'expiresAt'],
              properties: { token: { type: 'string' }, username: { type: 'string' }, role: { type: 'string' }, expiresAt: { type: 'number' } },
            },
            303: { description: 'A form login: to / (logged in) or back to /login?error=...', type: 'null' },
            400: problemSchema,
            401: problemSchema,
            429: problemSchema,
          },
        },
      },
      async (req, reply) => {
        const r = await login(req, reply, req.body.username, req.body.password);
        if (!r.ok) return sendProblem(reply, r.problem);
        const s = r.session;
        return { token: s.id, username: s.username, role: s.role, expiresAt: s.expiresAt };
      },
    );
  };

  // In a scope of its own: only the login route takes a form body (elsewhere a form is still a 415).
  app.register(async (scope) => {
    scope.addContentTypeParser(FORM_TYPE, { parseAs: 'string', bodyLimit: 4096 }, (_req, body, done) => done(null, body));
    registerLoginRoute(scope);
  });

  app.post(
    '/api/v1/logout',
    { schema: { summary: 'End the session (cookie or bearer token)', tags: ['accounts'], response: { 204: { type: 'null' } } }, config: { role: 'viewer' } },
    async (req, reply) => {
      if (req.session) {
        accounts.logout(req.session.id);
        log.info({ user: req.session.username }, 'http: logout');
      }
      reply.header('set-cookie', cookie('', 0)).code(204);
    },
  );
}
