/**
 * The embedded broker's persistent MQTT sessions (clean: false), for operators:
 *
 * - `GET /api/v1/broker/sessions` lists each one (client id, owning user, connected or since when
 *   offline, queued QoS 1/2 messages, subscriptions), by client id, a page at a time: `limit` (1 to
 *   {@link SESSIONS_PAGE_MAX}, default the same, so the default mqtt.maxSessions fits one page and a
 *   client that sends nothing gets every session as before) and `after` (a client id: the page starts
 *   past it, in the order of the list). While more follow, the answer has `next`: the path and query of
 *   the next page. `total` and `offline` count every session, whatever the page. A bad `limit` or an
 *   empty `after` is a 400 problem naming it. Role: operator.
 * - `DELETE /api/v1/broker/sessions/{clientId}` ends one: its client is disconnected if connected,
 *   its subscriptions and queued messages are dropped, its place under mqtt.maxSessions is free
 *   (agent/broker/broker.ts `endSession`). Role: admin. 404 problem for an id without a persistent session;
 *   an id longer than 512 characters once URL-encoded cannot be named (the router's 414 problem).
 *
 * With `http.users` empty (the page and API open on 127.0.0.1) both are open, like every other route.
 * Errors are problem details (problem.ts).
 */
import type { FastifyInstance } from 'fastify';
import type { PersistentSession } from '../../broker/broker.js';
import type { HttpDeps } from '../deps.js';
import { MAX_PARAM_LENGTH } from '../app.js';
import { problem, problemSchema, sendProblem } from '../problem.js';


export const persistentSessionSchema = {
  title: 'PersistentSession',
  type: 'object',
  required: ['clientId', 'username', 'connected', 'offlineSince', 'offlineSeconds', 'queued', 'subscriptions'],
  properties: {
    clientId: { type: 'string' },
    username: { type: ['string', 'null'], description: 'the MQTT user that owns the session (created it); null: an anonymous client' },
    connected: { type: 'boolean', description: 'whether a client is connected to it now' },
    offlineSince: { type: ['string', 'null'], format: 'date-time', description: 'when its last connection closed; null while connected' },
    offlineSeconds: { type: ['number', 'null'], description: 'how long it has been offline; null while connected' },
    queued: { type: 'integer', description: 'QoS 1/2 messages queued for it (at most mqtt.maxQueuedMessages)' },
    subscriptions: { type: 'integer', description: 'subscriptions kept for it' },
  },
} as const;

const BASE = '/api/v1/broker/sessions';

/** Sessions per page at most, and by default (mqtt.maxSessions' default: a default broker's sessions fit one page). */
export const SESSIONS_PAGE_MAX = 1000;

/** The order of the list and of `after`: by client id, UTF-16 code unit by code unit (what `<` compares). */
const byId = (a: PersistentSession, b: PersistentSession): number => (a.clientId < b.clientId ? -1 : a.clientId > b.clientId ? 1 : 0);

export function registerBrokerSessionRoutes(app: FastifyInstance, deps: HttpDeps): void {
  const broker = deps.broker;
  const unavailable = (path: string) => problem(503, 'the embedded MQTT broker is not running', path);

  app.get<{ Querystring: { limit: number; after?: string } }>(
    BASE,
    {
      config: { role: 'operator' },
      schema: {
        summary: "The broker's persistent MQTT sessions (clean: false), connected or not, by client id, a page at a time",
        description:
          'A persistent session keeps its subscriptions and queues QoS 1/2 messages while its client is away, until its owner connects with clean: true or it is ended (DELETE). ' +
          `At most \`limit\` sessions a page (default and most ${SESSIONS_PAGE_MAX}), ordered by client id; while more follow, \`next\` is the path of the next page (the same \`limit\`, \`after\` the last client id of this one). ` +
          '`total` and `offline` count every session. Needs the operator role.',
        tags: ['broker'],
        querystring: {
          type: 'object',
          properties: {
            limit: { type: 'integer', minimum: 1, maximum: SESSIONS_PAGE_MAX, default: SESSIONS_PAGE_MAX, description: 'sessions per page' },
            after: { type: 'string', minLength: 1, maxLength: 65_535, description: 'a client id: the page starts with the first session past it (by client id); the `next` of the previous page names it' },
          },
        },
        response: {
          200: {
            type: 'object',
            required: ['total', 'offline', 'items'],
            properties: {
              total: { type: 'integer', description: 'every persistent session, on this page or not' },
              offline: { type: 'integer', description: 'sessions no client is connected to (of total)' },
              items: { type: 'array', items: persistentSessionSchema },
              next: { type: 'string', description: 'the path and query of the next page; absent on the last page' },
            },
          },
          400: problemSchema,
          503: problemSchema,
        },
      },
    },
    async (req, reply) => {
      if (!broker?.sessions) return sendProblem(reply, unavailable(BASE));
      const { limit, after } = req.query;
      // The broker answers them by client id already; sorted again so the pages hold whatever it does.
      const all = (await broker.sessions()).sort(byId);
      let start = 0;
      if (after !== undefined) while (start < all.length && all[start]!.clientId <= after) start++;
      const items = all.slice(start, start + limit);
      const page: { total: number; offline: number; items: PersistentSession[]; next?: string } = {
        total: all.length,
        offline: all.filter((s) => !s.connected).length,
        items,
      };
      if (start + limit < all.length) page.next = `${BASE}?${new URLSearchParams({ limit: String(limit), after: items.at(-1)!.clientId }).toString()}`;
      return page;
    },
  );

  app.delete<{ Params: { clientId: string } }>(
    `${BASE}/:clientId`,
    {
      config: { role: 'admin' },
      schema: {
        summary: 'End a persistent MQTT session: disconnect its client, drop its subscriptions and queued messages',
        description:
          "Frees the client id and its place under mqtt.maxSessions; the client's next connection starts a new, empty session (its will is published if it was connected). Counted in broker_sessions_ended{reason=\"operator\"} and logged with the user who asked. Needs the admin role. Answers the session as it was.",
        tags: ['broker'],
        params: {
          type: 'object',
          required: ['clientId'],
          // The router refuses a longer path segment (414 problem) before the route sees it.
          properties: { clientId: { type: 'string', minLength: 1, maxLength: MAX_PARAM_LENGTH, description: `the client id, URL-encoded (at most ${MAX_PARAM_LENGTH} characters so encoded)` } },
        },
        response: { 200: persistentSessionSchema, 404: problemSchema, 503: problemSchema },
      },
    },
    async (req, reply) => {
      const id = req.params.clientId;
      const path = `${BASE}/${encodeURIComponent(id)}`;
      if (!broker?.endSession) return sendProblem(reply, unavailable(path));
      const by = req.session?.username;
      const ended: PersistentSession | null = await broker.endSession(id, { reason: 'operator', by: by ?? `the open API (no http.users) from ${req.ip}` });
      if (!ended) return sendProblem(reply, problem(404, `no persistent MQTT session with client id ${JSON.stringify(id)} (GET ${BASE} lists them; clean sessions end with their connection)`, path));
      return ended;
    },
  );
}
