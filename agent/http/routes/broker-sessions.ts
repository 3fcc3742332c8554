/**
 * The embedded broker's persistent MQTT sessions (clean: false), for operators:
 *
 * - `GET /api/v1/broker/sessions` lists each one (client id, owning user, connected or since when
 *   offline, queued QoS 1/2 messages, subscriptions). Role: operator.
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

export function registerBrokerSessionRoutes(app: FastifyInstance, deps: HttpDeps): void {
  const broker = deps.broker;
  const unavailable = (path: string) => problem(503, 'the embedded MQTT broker is not running', path);

  app.get(
    BASE,
    {
      config: { role: 'operator' },
      schema: {
        summary: "The broker's persistent MQTT sessions (clean: false), connected or not, by client id",
        description:
          'A persistent session keeps its subscriptions and queues QoS 1/2 messages while its client is away, until its owner connects with clean: true or it is ended (DELETE). Needs the operator role.',
        tags: ['broker'],
        response: {
          200: {
            type: 'object',
            required: ['total', 'offline', 'items'],
            properties: {
              total: { type: 'integer' },
              offline: { type: 'integer', description: 'sessions no client is connected to' },
              items: { type: 'array', items: persistentSessionSchema },
            },
          },
          503: problemSchema,
        },
      },
    },
    async (_req, reply) => {
      if (!broker?.sessions) return sendProblem(reply, unavailable(BASE));
      const items = await broker.sessions();
      return { total: items.length, offline: items.filter((s) => !s.connected).length, items };
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
