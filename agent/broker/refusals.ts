/**
 * Every refusal is counted (`broker_refused{reason}`) and logged, at most once per client (per user
 * for the client-id and session-bound refusals) and reason per minute, and at most 100 lines a minute
 * in all, so neither a misconfigured device publishing at 50 Hz nor a flood of connections with ever
 * new client ids can flood the journal (or grow the limiter's memory: it keeps at most 10 000 keys).
 * The next line logged says how many were suppressed. Deliveries the broker drops for a reason worth a log line
 * (`broker_dropped{reason}`) go through `drop` the same way.
 */
import type { Counters } from '../core/counters.js';
import { LogLimiter } from '../core/log-limiter.js';
import type { Logger } from '../core/plugin.js';

export type RefusalReason =
  | 'bad_credentials'
  | 'anonymous'
  | 'publish_acl'
  | 'subscribe_acl'
  | 'store_unavailable'
  | 'packet_too_large'
  | 'websocket_disabled'
  | 'bad_topic'
  | 'auth_rate_limited'
  | 'auth_busy'
  | 'client_id_taken'
  | 'client_id_not_allowed'
  | 'too_many_sessions'
  | 'tls_handshake'
  | 'too_many_subscriptions'
  | 'certificate_revoked';

export type DropReason = 'read_acl';

export interface RefusalInfo {
  clientId?: string | null;
  username?: string | undefined;
  topic?: string;
  detail?: string;
  /** The peer's address, for refusals before any client id (a failed TLS handshake): the log limit's key then. */
  address?: string;
}

const LABELS: Record<RefusalReason, { reason: RefusalReason }> = {
  bad_credentials: { reason: 'bad_credentials' },
  anonymous: { reason: 'anonymous' },
  publish_acl: { reason: 'publish_acl' },
  subscribe_acl: { reason: 'subscribe_acl' },
  store_unavailable: { reason: 'store_unavailable' },
  packet_too_large: { reason: 'packet_too_large' },
  websocket_disabled: { reason: 'websocket_disabled' },
  bad_topic: { reason: 'bad_topic' },
  auth_rate_limited: { reason: 'auth_rate_limited' },
  auth_busy: { reason: 'auth_busy' },
  client_id_taken: { reason: 'client_id_taken' },
  client_id_not_allowed: { reason: 'client_id_not_allowed' },
  too_many_sessions: { reason: 'too_many_sessions' },
  tls_handshake: { reason: 'tls_handshake' },
  too_many_subscriptions: { reason: 'too_many_subscriptions' },
  certificate_revoked: { reason: 'certificate_revoked' },
};

/**
 * Reasons whose warnings are limited per user rather than per client id: a client that is refused
 * for its id (or for the session bound) and tries ever new ids gets one line a minute, not one per
 * id. The counter still counts each refusal.
 */
const PER_USER: ReadonlySet<string> = new Set<RefusalReason>(['too_many_sessions', 'client_id_taken', 'client_id_not_allowed']);

export class Refusals {
  private readonly limiter: LogLimiter;

  constructor(
    private readonly log: Logger,
    private readonly counters: Counters,
    intervalMs = 60_000,
  ) {
    this.limiter = new LogLimiter(1, intervalMs);
  }

  refuse(reason: RefusalReason, info: RefusalInfo): void {
    this.counters.inc('broker_refused', LABELS[reason]);
    this.logLimited('refused', reason, info);
  }

  /** A delivery dropped (`broker_dropped{reason}`), logged like a refusal. */
  drop(reason: DropReason, info: RefusalInfo): void {
    this.counters.inc('broker_dropped', { reason });
    this.logLimited('dropped', reason, info);
  }

  private logLimited(what: 'refused' | 'dropped', reason: string, info: RefusalInfo): void {
    const who = PER_USER.has(reason) ? `user\u0000${info.username ?? ''}` : (info.clientId ?? `address\u0000${info.address ?? ''}`);
    const key = `${who}\u0000${reason}`;
    const d = this.limiter.take(key);
    if (!d.ok) return;
    this.log.warn(
      {
        reason,
        clientId: info.clientId ?? undefined,
        username: info.username,
        topic: info.topic,
        detail: info.detail,
        address: info.address,
        ...(d.suppressed > 0 ? { suppressed: d.suppressed } : {}),
      },
      `mqtt: ${what} (${reason}) ` + (info.clientId || !info.address ? `client "${info.clientId ?? '?'}"` : `connection from ${info.address}`) +
        (info.username ? ` user "${info.username}"` : '') +
        (info.topic ? ` topic "${info.topic}"` : '') +
        (d.suppressed > 0 ? ` (${d.suppressed} earlier refusal line(s) suppressed; broker_refused counts every one)` : ''),
    );
  }
}
