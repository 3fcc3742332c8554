import type { FastifyInstance } from 'fastify';
import type { Counters } from '../core/counters.js';
import type { Logger } from '../core/plugin.js';
import type { AgentStatus } from '../core/status-types.js';
import type { Measurement } from '../../algorithms/common/measurement.js';
import type { EmbeddedBroker } from '../broker/index.js';
import type { HistorySource } from '../buffer/history.js';

export interface HttpDeps {
  log: Logger;
  counters: Counters;
  getStatus(): AgentStatus;
  /** The latest processed measurement of every device (the devices API); none when absent. */
  latestByDevice?(): ReadonlyMap<string, Measurement>;
  /** The buffer's history reads (GET /api/v1/devices/{id}/history); without it that route answers 503. */
  history?: HistorySource | undefined;
  /**
   * The embedded broker, for MQTT over WebSocket on `wsPath` (without it every upgrade gets 404) and
   * its persistent sessions (/api/v1/broker/sessions; without `sessions` those routes answer 503).
   */
  broker?: Pick<EmbeddedBroker, 'handleUpgrade'> & Partial<Pick<EmbeddedBroker, 'sessions' | 'endSession'>>;
  /** Path of the MQTT-over-WebSocket endpoint, e.g. `/mqtt`. */
  wsPath: string;
  /** How long a client may take to send a request (tests shorten them; default {@link HTTP_TIMEOUTS}). */
  timeouts?: Partial<HttpTimeouts>;
  /** Route groups of services and analyzers, each registered as an encapsulated Fastify plugin under `/api/v1`. */
  routes?: readonly ServiceRoutes[];
}

export interface ServiceRoutes {
  /** The service's id (names the plugin in logs). */
  id: string;
  register(app: FastifyInstance): Promise<void>;
  /** URL prefix of the group (default `/api/v1`; empty: the server's root). */
  prefix?: string;
}

/**
 * How long a client may take to send its request, against slow senders (a device on the LAN holding
 * connections open by sending a header or a body byte now and then). Past either the connection gets a
 * 408 problem and is closed (`clientErrorHandler` in app.ts). Node checks every `checkIntervalMs`, so a
 * slow request is cut between the timeout and the timeout plus that. Answers (the event stream) are
 * not limited by these.
 */
export interface HttpTimeouts {
  /** The request line and every header (Node's `headersTimeout`). */
  headersMs: number;
  /** The whole request, body included (Node's `requestTimeout`): a 1 MiB body must arrive at 18 KiB/s at least. */
  requestMs: number;
  /** How often Node looks for requests over these (`connectionsCheckingInterval`). */
  checkIntervalMs: number;
}

export const HTTP_TIMEOUTS: HttpTimeouts = { headersMs: 20_000, requestMs: 60_000, checkIntervalMs: 5_000 };
