/**
 * The embedded MQTT broker: an Aedes instance (a connection handler) plus the TCP listener and the
 * WebSocket upgrade path we own. Auth and ACLs are Aedes hooks; publishes to `bal/raw/...` by network
 * clients are handed to `onRawPublish` *inside* `authorizePublish`, because Aedes writes the PUBACK
 * (QoS 1) right after that hook and before delivering, and the PUBREC (QoS 2) after storing and
 * delivering — so holding the hook's callback is what makes the acknowledgement wait for the store.
 */
import { isDeepStrictEqual } from 'node:util';
import { createServer, type Server, type Socket } from 'node:net';
import { createServer as createTlsServer, type Server as TlsServer, type TLSSocket } from 'node:tls';
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { writeToStream } from 'mqtt-packet';
import { Aedes, type AedesPublishPacket, type Client, type ConnectPacket, type PublishPacket, type Subscription } from 'aedes';
import { WebSocketServer, createWebSocketStream, type WebSocket } from 'ws';
import type { MqttConfig } from '../core/config-types.js';
import type { Counters } from '../core/counters.js';
import type { Logger } from '../core/plugin.js';
import type { BrokerStatus, BrokerTlsStatus } from '../core/status-types.js';
import { RAW_PREFIX } from '../core/topics.js';
import { topicProblem } from './acl.js';
import {
  boundOutgoingQueues,
  bufferedBytes,
  capPacketSize,
  clientSubscriptions,
  countSubscriptions,
  hasSubscription,
  forgetRetained,
  incomingPacketStored,
  internalsProblems,
  neverWaitForDrain,
  onBrokerError,
  onIncomingReleased,
  releaseBatchSlot,
  socketNeedsDrain,
  storedSubscriptionCount,
  storeAuthorisedSubscriptionsOnly,
  subscribedQos,
  wipeSession,
} from './aedes-internals.js';
import { ClientIdTable, showOwner, type ClientIdRules, type SessionEntry } from './client-ids.js';
import { AuthGate, type AuthLimits } from './auth-gate.js';
import { Refusals, type RefusalReason } from './refusals.js';
import { buildUserTable, clientIdRulesOf, ownerOf, sameHash, type BrokerUser } from './users.js';
import { verifyPassword } from './passwords.js';
import { SessionQueues } from './session-queue.js';
import { batchWrites } from './write-batching.js';
import { RetainedBound } from './retained-bound.js';
import { firstDueCrl, loadTls, revokedBy, sameTls, type LoadedTls } from '../core/tls-files.js';

/** The oldest TLS version the MQTT over TLS listener accepts. */
const TLS_MIN_VERSION = 'TLSv1.2' as const;

/** The secure context of the MQTT over TLS listener, at start and after a renewal. */
function secureOptions(files: LoadedTls): { cert: Buffer; key: Buffer; ca?: Buffer; crl?: Buffer; minVersion: typeof TLS_MIN_VERSION } {
  return { cert: files.cert, key: files.key, ...(files.ca ? { ca: files.ca } : {}), ...(files.ca && files.crl ? { crl: files.crl } : {}), minVersion: TLS_MIN_VERSION };
}

/** The TLS listener's status: where it is bound, and what the files in force say. */
function tlsStatus(bound: { host: string; port: number }, files: LoadedTls): BrokerTlsStatus {
  const due = files.crls ? firstDueCrl(files.crls) : null;
  const crl = files.crls
    ? {
        crlNextUpdate: due?.nextUpdate.toISOString() ?? null,
        ...(due ? { crlThisUpdate: due.thisUpdate.toISOString() } : {}),
        revokedCertificates: files.crls.reduce((n, c) => n + c.revoked.size, 0),
      }
    : {};
  return { ...bound, clientCertificates: Boolean(files.ca), certificateExpires: files.notAfter.toISOString(), ...crl };
}

/** OpenSSL's verdicts on a client certificate that mean only "the CRL is out of date" (see clientVerdict). */
const CRL_OUT_OF_DATE: ReadonlySet<string> = new Set(['CRL_HAS_EXPIRED', 'CRL_NOT_YET_VALID']);

/**
 * Whether a client of the TLS listener with client certificates (mqtt.tls.ca) may go on, once its
 * handshake is done. The listener does not let Node refuse unverified clients itself
 * (rejectUnauthorized: false), so that a revoked certificate can be told from other failures and an
 * out-of-date CRL does not lock every client out:
 * - verified by OpenSSL (chain to mqtt.tls.ca, dates, and not revoked by a current CRL): ok;
 * - OpenSSL says CERT_REVOKED: refused, certificate_revoked;
 * - OpenSSL's only complaint is a CRL past its nextUpdate (or not yet valid: a wrong clock): the
 *   certificate is checked here instead, more strictly: it must be signed directly by a certificate
 *   of mqtt.tls.ca, within its own dates, and not listed in the CRLs in force (the revocations they
 *   hold still apply); anything else is refused;
 * - any other verdict (no certificate, an untrusted one, expired): refused, tls_handshake.
 */
function clientVerdict(socket: TLSSocket, files: LoadedTls, nowMs: number): { ok: true } | { ok: false; reason: 'certificate_revoked' | 'tls_handshake'; detail: string } {
  if (socket.authorized) return { ok: true };
  const code = String(socket.authorizationError ?? 'no verdict');
  if (code === 'CERT_REVOKED') return { ok: false, reason: 'certificate_revoked', detail: code };
  if (!CRL_OUT_OF_DATE.has(code)) return { ok: false, reason: 'tls_handshake', detail: code };
  const peer = socket.getPeerX509Certificate();
  if (!peer) return { ok: false, reason: 'tls_handshake', detail: `${code}, and no client certificate` };
  if (files.crls) {
    // Fail closed: a certificate whose serial and issuer cannot be read cannot be checked against the CRLs.
    let revoked;
    try {
      revoked = revokedBy(files.crls, peer.raw);
    } catch (err) {
      return { ok: false, reason: 'tls_handshake', detail: `${code}, and the certificate cannot be checked against the CRLs: ${(err as Error).message}` };
    }
    if (revoked) return { ok: false, reason: 'certificate_revoked', detail: `${code}; revoked by the CRL in force` };
  }
  const issuer = (files.cas ?? []).find((ca) => peer.checkIssued(ca) && peer.verify(ca.publicKey));
  if (!issuer) return { ok: false, reason: 'tls_handshake', detail: `${code}, and the certificate is not signed directly by a certificate of mqtt.tls.ca` };
  if (Date.parse(peer.validFrom) > nowMs || Date.parse(peer.validTo) < nowMs) return { ok: false, reason: 'tls_handshake', detail: `${code}, and the certificate is outside its dates` };
  return { ok: true };
}

/** Listen on host:port; resolves with the address bound, rejects naming the option (`mqtt`, `mqtt.tls`). */
function listenOn(srv: Server, host: string, port: number, option: string): Promise<{ host: string; port: number }> {
  return new Promise((resolve, reject) => {
    const onError = (err: Error): void => reject(new Error(`${option}: cannot listen on ${host}:${port}: ${err.message}`));
    srv.once('error', onError);
    srv.listen(port, host, () => {
      srv.off('error', onError);
      const addr = srv.address();
      resolve(addr && typeof addr === 'object' ? { host: addr.address, port: addr.port } : { host, port });
    });
  });
}

export interface RawPublish {
  topic: string;
  payload: Buffer;
  qos: 0 | 1 | 2;
  clientId: string;
  username?: string;
}

export interface BrokerDeps {
  log: Logger;
  counters: Counters;
  /**
   * Called for every publish by a network client to a topic under `bal/raw/`. The PUBACK (QoS 1) /
   * PUBREC (QoS 2) is sent only after the returned promise resolves. When it rejects (the store cannot
   * write), the publish is not acknowledged and the client is disconnected so it re-sends later.
   * It resolves 'rejected' for a payload the pipeline refused: the publish is acknowledged, but
   * relayed to no subscriber and not retained. The broker waits for the verdict for QoS 0 too (the
   * pipeline gives it at once for QoS 0).
   */
  onRawPublish(p: RawPublish): Promise<'accepted' | 'rejected'>;
  /** Limits on password checks (defaults: AUTH_DEFAULTS in auth-gate.ts). */
  auth?: Partial<AuthLimits>;
  /** Clock for the credential cache and the failure budgets (default Date.now). */
  now?: () => number;
  /** Monotonic clock (ms) of how long persistent sessions have been offline (default performance.now). */
  monotonic?: () => number;
}

/** Why a persistent session was ended by the broker (`broker_sessions_ended{reason}`). */
export type SessionEndReason = 'operator' | 'expired';

/** One persistent session (clean: false), as `sessions()` and `endSession()` report it. */
export interface PersistentSession {
  clientId: string;
  /** The user that owns it (created it); null: an anonymous client's. */
  username: string | null;
  /** Whether a connection holds it now. */
  connected: boolean;
  /** When its last connection closed (ISO 8601, UTC); null while connected. */
  offlineSince: string | null;
  /** How long it has been offline, in seconds (monotonic clock); null while connected. */
  offlineSeconds: number | null;
  /** QoS 1/2 messages queued for it (sent and not yet acknowledged, or waiting for its next connection). */
  queued: number;
  /** Subscriptions kept for it (restored at its next connection). */
  subscriptions: number;
}

export interface EmbeddedBroker {
  /** In-process publish (bypasses ACLs; no onRawPublish callback). Resolves when handed to subscribers. */
  publish(topic: string, payload: string | Buffer, opts?: { qos?: 0 | 1; retain?: boolean }): Promise<void>;
  /** Handle an HTTP upgrade for MQTT over WebSocket (the HTTP server calls this for its ws path). */
  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void;
  /**
   * TCP listener on cfg.host:cfg.port (port 0 = a free port), and the TLS listener on
   * cfg.tls.host:cfg.tls.port when cfg.tls.cert is given (its files read now: a bad one fails the
   * start, naming its option). Resolves with the plain listener's address.
   */
  listen(): Promise<{ host: string; port: number }>;
  status(): BrokerStatus;
  /** Every persistent session, connected or not, by client id. */
  sessions(): Promise<PersistentSession[]>;
  /**
   * End the persistent session of `clientId`: its connection, if any, is closed (its will is
   * published, as for any connection the broker closes), then its subscriptions, queued messages,
   * QoS 2 packets awaiting PUBREL and will are wiped from Aedes' persistence; the id and its place
   * under `maxSessions` are free. A CONNECT with that id meanwhile waits until it is done, and starts
   * a new, empty session. Counted in `broker_sessions_ended{reason}` and logged with `by` (who asked).
   * Resolves with the session as it was just before, or null when the id has no persistent session.
   */
  endSession(clientId: string, how: { reason: SessionEndReason; by?: string }): Promise<PersistentSession | null>;
  /**
   * End the persistent sessions offline for `mqtt.sessionExpiryHours` or longer (reason `expired`);
   * resolves with how many. The broker runs this itself while listening (every tenth of the expiry
   * time, at least every second and at most every minute); nothing happens when the setting is 0.
   */
  expireSessions(): Promise<number>;
  /**
   * Apply new client-id rules (`mqtt.maxSessions`, `mqtt.users[].clientIds` and `.maxSessions`, by
   * username; passwords and ACLs are not changed here) to the next CONNECTs. Sessions that exist are
   * left as they are, except that a user connecting with an id now reserved for it takes over the
   * session another user holds under it. Throws on invalid rules, changing nothing.
   */
  setClientIdRules(mqtt: Pick<MqttConfig, 'users' | 'maxSessions'>): void;
  /**
   * Check a new `mqtt.users` / `mqtt.maxSessions` (as at start) without applying anything: throws an
   * Error naming the first bad entry. A plain `password` is hashed; one the user's current hash
   * verifies keeps that hash (not counted as changed). The returned change is applied by `applyUsers`.
   */
  prepareUsers(mqtt: MqttConfig): PreparedUsers;
  /**
   * Apply a prepared user change (see agent/broker/README.md, "Changing users by a reload"): the new
   * table, ACLs and client-id rules apply to the next CONNECTs; cached credentials of removed users
   * and of changed passwords are forgotten; connected clients of those users are disconnected;
   * connected clients of a user whose ACL changed get the new ACL at once.
   */
  applyUsers(prepared: PreparedUsers): UsersApplied;
  /**
   * Put renewed TLS files (read by `loadTls` from the mqtt.tls paths, the same or new ones) in force for the next TLS
   * connections; connections already open keep theirs, except those whose client certificate the new
   * CRLs revoke: they are disconnected (`broker_disconnects{reason="certificate_revoked"}`). Null
   * (nothing done) when there is no TLS listener or the files are the same bytes as those in force;
   * else what changed (the certificate, key or CA; the CRL) and how many clients were disconnected.
   */
  renewTls(files: LoadedTls): TlsRenewal | null;
  /** Closes clients and listeners. */
  close(): Promise<void>;
}

/** What `renewTls` changed. */
export interface TlsRenewal {
  /** The certificate, its key or the CA bundle changed. */
  certificate: boolean;
  /** The CRL file changed. */
  crl: boolean;
  /** Connected clients closed because the new CRL revokes their certificate. */
  disconnected: number;
}

/** A checked, not yet applied `mqtt.users` change (from `prepareUsers`). */
export interface PreparedUsers {
  readonly table: ReturnType<typeof buildUserTable>;
  readonly rules: ReturnType<typeof clientIdRulesOf>;
  readonly maxSessions: number;
  readonly added: readonly string[];
  readonly removed: readonly string[];
  /** Users whose password hash changed (their clients must log in again). */
  readonly passwordChanged: readonly string[];
  /** Users whose hash is the same but whose ACL, clientIds or maxSessions changed. */
  readonly changed: readonly string[];
  /** Username → configured hash text. */
  readonly hashTexts: ReadonlyMap<string, string>;
}

export interface UsersApplied {
  added: string[];
  removed: string[];
  passwordChanged: string[];
  changed: string[];
  /** Connected clients closed because their user was removed, its password changed, or anonymous clients are no longer let in. */
  disconnected: number;
}

/** Per-connection state, set once by `authenticate` (so passwords are verified once per connection). */
interface Session {
  /** null: anonymous, full access. */
  user: BrokerUser | null;
  /** Raw publishes of this client whose callback is held (their packet released from Aedes' batch). */
  held: number;
  /**
   * The callbacks of this client's publishes run in the order the publishes arrived, so PUBACKs go
   * out in order (MQTT 3.1.1 §4.6) and relays keep their order: each waits for this chain.
   */
  tail: Promise<void> | null;
  /** Set when the client was cut off as a slow subscriber: nothing more is delivered to it. */
  cutOff: boolean;
  /**
   * Message ids of this connection's QoS 2 publishes taken in and not yet released by PUBREL
   * (whether their commit is still pending or done): a PUBLISH with one of them is a repeat
   * (MQTT 3.1.1 §4.3.3), with or without DUP. At most Aedes' maxInflightInbound (1000) are stored.
   */
  qos2: Set<number>;
  /**
   * Filters of a persistent session's SUBSCRIBE in progress that this connection was allowed and
   * Aedes has not yet added to the client's subscriptions (it stores them first, so all filters of
   * one SUBSCRIBE are authorised before any is added): counted against
   * mqtt.maxSubscriptionsPerClient with those already added. A filter leaves when its SUBSCRIBE
   * completes (Aedes' 'subscribe' event); all leave when the connection closes (a SUBSCRIBE that
   * fails in Aedes closes it). Filters Aedes adds at once (clean sessions, a resumed session's
   * stored ones) are never here.
   */
  pendingSubs: Set<string>;
}

/**
 * QoS 1/2 deliveries may wait in a subscriber's connection buffer up to this many bytes beyond its
 * own socket buffers (plus room for two of the largest packets, see createBroker); past it the
 * subscriber is disconnected. Memory per stuck subscriber: at most this, plus the packet cap twice.
 */
export const SLOW_SUBSCRIBER_BYTES = 4 * 1024 * 1024;

/** Raw publishes per client whose callback may be held while Aedes reads on (more wait their turn). */
const MAX_HELD_PER_CLIENT = 256;

/** What the broker knows of a connection before its CONNECT is authenticated. */
interface ConnInfo {
  conn: Duplex;
  /** Remote IP address (for WebSocket: of the HTTP request's socket). */
  address: string;
  /**
   * With `mqtt.tls.identityAsUsername`, on the TLS listener: the common name of the client's
   * verified certificate (null when it has none, or several), which is then the username. Absent
   * for every other connection.
   */
  identity?: string | null;
}

/** The one common name of a verified peer certificate (see clientVerdict); null when there is none or several. */
function certificateName(socket: TLSSocket): string | null {
  const cn = socket.getPeerCertificate()?.subject?.CN;
  return typeof cn === 'string' && cn !== '' ? cn : null;
}

/** Largest MQTT packet accepted: well above the pipeline's payload limit, so it still sees (and counts) oversize payloads. */
export function packetLimit(maxPayloadBytes: number): number {
  const payload = Number.isFinite(maxPayloadBytes) && maxPayloadBytes > 0 ? maxPayloadBytes : 1024 * 1024;
  return Math.max(2 * payload, 1024 * 1024) + 64 * 1024;
}

type AuthError = Error & { returnCode: number };
function notAuthorized(message: string): AuthError {
  return Object.assign(new Error(message), { returnCode: 5 }); // CONNACK 0x05 "not authorized"
}
function serverUnavailable(message: string): AuthError {
  return Object.assign(new Error(message), { returnCode: 3 }); // CONNACK 0x03 "server unavailable"
}

const toBuffer = (p: string | Buffer): Buffer => (typeof p === 'string' ? Buffer.from(p, 'utf8') : p);

export function createBroker(cfg: MqttConfig, deps: BrokerDeps): EmbeddedBroker {
  const { log, counters } = deps;
  // mqtt-packet's default caches a Buffer for each of the 65 536 two-byte numbers at the first packet
  // it writes: 66 000 objects (≈ 6 MB of heap, marked by every full GC) to save one 2-byte
  // allocation per packet. Its documented switch turns that off for the whole process (mqtt.js
  // clients turn it off too, so the agent behaves the same with or without forwarders).
  writeToStream.cacheNumbers = false;
  const table = buildUserTable(cfg); // throws on a bad user entry or an open non-loopback bind
  const refusals = new Refusals(log, counters);
  const sessions = new WeakMap<Client, Session>();
  /** Clients admitted (past authentication) whose connection is open. */
  const admitted = new Set<Client>();
  /** The hash text of each user as configured (to keep a hash when a reload gives the same plain password). */
  let hashTexts: ReadonlyMap<string, string> = new Map((cfg.users ?? []).map((u) => [u.username, u.passwordHash ?? '']));
  const startRules = clientIdRulesOf(cfg.users ?? []);
  /** The client-id rules in force, by owner (to tell which users' rules a reload changes). */
  let currentRules = new Map(startRules.map((r) => [r.owner, r]));
  const conns = new WeakMap<Client, ConnInfo>();
  counters.set('broker_sessions', 0);
  counters.set('broker_sessions_offline', 0);
  const monotonic = deps.monotonic ?? (() => performance.now());
  /** Client id → owner of its session and the connection holding it (see admit). */
  const ids = new ClientIdTable<Client>(
    startRules,
    cfg.maxSessions,
    (n, offline) => {
      counters.set('broker_sessions', n);
      counters.set('broker_sessions_offline', offline);
    },
    monotonic,
  );
  /** Client ids whose session is being ended (endSession): a CONNECT with one waits for it. */
  const ending = new Map<string, Promise<void>>();

  /** New client-id rules in force for the next CONNECTs (throws on invalid rules, changing nothing). */
  function setRules(rules: readonly ClientIdRules[], maxSessions: number): void {
    ids.setRules(rules, maxSessions);
    currentRules = new Map(rules.map((r) => [r.owner, r]));
  }
  const gate = new AuthGate(table.users, counters, deps.auth, deps.now);
  const maxPacketBytes = packetLimit(cfg.maxPayloadBytes);
  /** A subscriber with more than this waiting in its connection's buffer at a QoS 1/2 delivery is disconnected. */
  const slowLimitBytes = SLOW_SUBSCRIBER_BYTES + 2 * maxPacketBytes;
  const sockets = new Set<Duplex>();
  let sinkTopic = '$SYS/gridedge/refused';

  counters.set('broker_clients', 0);
  counters.set('broker_subscriptions', 0);
  counters.set('broker_queued_messages', 0);
  /** The QoS 1/2 queues of persistent sessions, at most cfg.maxQueuedMessages each (installed after listen). */
  const queues = new SessionQueues(
    cfg.maxQueuedMessages,
    () => counters.inc('broker_dropped', { reason: 'queue_full' }),
    (total) => counters.set('broker_queued_messages', total),
  );

  const maxSubscriptionsPerClient = cfg.maxSubscriptionsPerClient ?? 10_000;
  /** Retained messages of clients, within mqtt.maxRetained / maxRetainedBytes (retained-bound.ts). */
  const retainedBound = new RetainedBound(cfg.maxRetained ?? 10_000, cfg.maxRetainedBytes ?? 64 * 1024 * 1024, counters, log);

  const refuse = (reason: RefusalReason, client: Client | null, topic?: string, detail?: string): void => {
    const s = client ? sessions.get(client) : undefined;
    refusals.refuse(reason, { clientId: client?.id, username: s?.user?.username, topic, detail });
  };

  /**
   * After the credentials are checked: may this user open a session under this client id now?
   * A client id's session belongs to the user who created it (anonymous clients count as one user);
   * an id matching a user's `clientIds` is reserved for that user; a user with `clientIds` may use
   * only those; and a new persistent session needs room under `maxSessions` (see client-ids.ts and
   * the README). Refusals: CONNACK 2 "identifier rejected" (sessionPresent 0) for an id the user may
   * not have, whatever its clean flag, so no one else can resume a session (and read what was queued
   * for it), wipe it, or cut off its owner's live connection; CONNACK 3 "server unavailable" when
   * the session bound is reached (a capacity limit the client retries, not a wrong id).
   * An owner connecting with an id reserved for it while another user holds a session under it
   * (possible only when the rules changed while running) takes it over: the other user's connection
   * is closed and its stored session wiped before the owner's session is set up, so the owner starts
   * from an empty session and reads nothing queued for the other user.
   */
  function admit(client: Client, user: BrokerUser | null, done: (error: AuthError | null, success: boolean | null) => void): void {
    // The id's session is being ended (endSession): claim it once that is done, so the new session
    // starts empty and the wipe cannot touch it. The connection may have gone meanwhile.
    const pendingEnd = ending.get(client.id);
    if (pendingEnd) {
      void pendingEnd.then(() => {
        const info = conns.get(client);
        if (!info || !sockets.has(info.conn)) return done(notAuthorized('connection closed during authentication'), false);
        admit(client, user, done);
      });
      return;
    }
    // A reload (applyUsers) between the password check and here removed the user, replaced its hash
    // or ended anonymous access: what was verified no longer holds.
    if (user ? table.users.get(user.username) !== user : !table.anonymous) {
      refusals.refuse(user ? 'bad_credentials' : 'anonymous', { clientId: client.id, username: user?.username, detail: 'users changed by a reload during the login' });
      return done(notAuthorized(user ? 'bad user name or password' : 'anonymous clients are not allowed'), false);
    }
    const claim = ids.claim(client.id, ownerOf(user), client.clean, client);
    const username = user?.username;
    if (!claim.ok) {
      refusals.refuse(claim.reason, { clientId: client.id, username, detail: claim.detail });
      const code = claim.reason === 'too_many_sessions' ? 3 : 2; // CONNACK 0x03 "server unavailable" / 0x02 "identifier rejected"
      return done(Object.assign(new Error(claim.reason === 'too_many_sessions' ? 'too many persistent sessions' : 'client id not allowed for this user'), { returnCode: code }), false);
    }
    sessions.set(client, { user, held: 0, tail: null, cutOff: false, qos2: new Set(), pendingSubs: new Set() });
    admitted.add(client);
    const evicted = claim.evicted;
    if (!evicted) return done(null, true);
    counters.inc('broker_session_takeovers');
    log.warn(
      { clientId: client.id, username, previousOwner: evicted.owner },
      `mqtt: client id "${client.id}" is reserved for ${showOwner(ownerOf(user))}: ending the session ${showOwner(evicted.owner)} held under it`,
    );
    const live = evicted.live;
    const closed = live ? new Promise<void>((resolve) => live.close(() => resolve())) : Promise.resolve();
    closed
      .then(() => wipeSession(aedes, client.id))
      .then(
        () => done(null, true),
        (err: unknown) => {
          log.error({ err, clientId: client.id }, 'mqtt: could not wipe the session being taken over');
          done(serverUnavailable('could not end the previous session'), false);
        },
      );
  }

  /** Before authentication: a will topic with NUL, invalid UTF-8 or control characters closes the connection. */
  function preConnect(client: Client, packet: ConnectPacket, callback: (error: Error | null, success: boolean) => void): void {
    const willTopic = packet.will?.topic;
    const problem = typeof willTopic === 'string' ? topicProblem(willTopic) : null;
    if (problem) {
      refusals.refuse('bad_topic', { clientId: packet.clientId, username: packet.username, topic: willTopic, detail: `will topic: ${problem}` });
      return callback(new Error(`will topic: ${problem}`), false); // Aedes closes the connection
    }
    callback(null, true);
  }

  function authenticate(
    client: Client,
    username: Readonly<string | undefined>,
    password: Readonly<Buffer | undefined>,
    done: (error: AuthError | null, success: boolean | null) => void,
  ): void {
    const info = conns.get(client);
    if (info && info.identity !== undefined) return admitByCertificate(client, info, username, done);
    if (username === undefined || username === '') {
      if (!table.anonymous) {
        refusals.refuse('anonymous', { clientId: client.id, detail: info?.address });
        return done(notAuthorized('anonymous clients are not allowed'), false);
      }
      return admit(client, null, done);
    }
    const address = info?.address ?? 'unknown';
    const gone = (): boolean => !info || !sockets.has(info.conn);
    void gate.check(address, username, password, gone).then((r) => {
      counters.set('broker_auth_pending', gate.pending);
      if (r.ok) {
        // Gone meanwhile: Aedes drops the answer; claiming the id now would leave a stale owner.
        if (gone()) return done(notAuthorized('connection closed during authentication'), false);
        return admit(client, r.user, done);
      }
      if (r.reason === 'abandoned') return done(notAuthorized('connection closed during authentication'), false);
      refusals.refuse(r.reason, { clientId: client.id, username, detail: `from ${address}` });
      if (r.reason === 'auth_busy') return done(serverUnavailable('too many logins in progress'), false);
      done(notAuthorized(r.reason === 'auth_rate_limited' ? 'too many failed logins from this address' : 'bad user name or password'), false);
    });
  }

  /**
   * `mqtt.tls.identityAsUsername`: the client certificate's common name is the username (its password,
   * if any, is not checked: the TLS handshake verified the certificate against mqtt.tls.ca). A
   * username sent in the CONNECT must be that name; the name must be a configured user, whose ACLs,
   * client ids and session bounds then apply.
   */
  function admitByCertificate(client: Client, info: ConnInfo, username: string | undefined, done: (error: AuthError | null, success: boolean | null) => void): void {
    const name = info.identity;
    const refuse = (detail: string): void => {
      refusals.refuse('bad_credentials', { clientId: client.id, username: name ?? username, detail: `${detail} (from ${info.address})` });
      done(notAuthorized('bad user name or password'), false);
    };
    if (!name) return refuse('the client certificate has no single common name to use as the username');
    if (username !== undefined && username !== '' && username !== name) return refuse(`the username "${username}" is not the client certificate's name "${name}"`);
    const user = table.users.get(name);
    if (!user) return refuse(`the client certificate's name "${name}" is not a user in mqtt.users`);
    admit(client, user, done);
  }

  function dropToSink(packet: PublishPacket): void {
    // MQTT 3.1.1 §3.3.5: an unauthorised PUBLISH is acknowledged normally (or the connection closed).
    // Aedes has no "ack and drop", so the packet is re-routed to a topic no one receives (authorizeForward).
    packet.topic = sinkTopic;
    packet.retain = false;
  }

  /**
   * Hand a bal/raw publish to the pipeline and call Aedes back when its verdict is known: 'accepted'
   * → acknowledged and relayed; 'rejected' → acknowledged, re-routed to the sink (relayed to no one,
   * not retained). A store failure on QoS 1/2 → not acknowledged, connection closed (the client
   * re-sends); on QoS 0 (best effort) it is counted and the message is still relayed.
   */
  /**
   * Run `action` (or the function `action` resolves to) after the callbacks of this client's earlier
   * publishes: at once when none is pending and the action is ready.
   */
  function inOrder(session: Session, action: (() => void) | Promise<() => void>): void {
    if (!session.tail && typeof action === 'function') return action();
    const mine: Promise<void> = Promise.all([session.tail, action]).then(([, run]) => {
      if (session.tail === mine) session.tail = null;
      run();
    });
    session.tail = mine;
  }

  /**
   * Hand a raw publish to the pipeline. Its callback (after which Aedes acknowledges and relays it)
   * waits for the commit, in arrival order. QoS 0 and 1 packets are released from Aedes' read batch
   * meanwhile (up to MAX_HELD_PER_CLIENT per client), so the client's next publishes are parsed and
   * join the same group commit instead of waiting one commit each.
   */
  function handRaw(
    client: Client,
    session: Session,
    packet: PublishPacket,
    callback: (error?: Error | null) => void,
    storedBefore?: Promise<boolean>,
  ): void {
    const qos = packet.qos;
    const raw: RawPublish = {
      topic: packet.topic,
      payload: toBuffer(packet.payload),
      qos,
      clientId: client.id,
      username: session.user?.username,
    };
    if (qos === 0) counters.inc('broker_qos0');
    const offer = (): Promise<'accepted' | 'rejected'> => {
      try {
        return deps.onRawPublish(raw);
      } catch (e) {
        return Promise.reject(e instanceof Error ? e : new Error(String(e)));
      }
    };
    // A QoS 2 publish that an earlier connection of this session already stored is not offered again.
    const pending: Promise<'accepted' | 'rejected' | 'duplicate'> = storedBefore
      ? storedBefore.then((stored) => (stored ? 'duplicate' : offer()))
      : offer();
    let restore: (() => void) | null = null;
    if (qos !== 2 && session.held < MAX_HELD_PER_CLIENT) {
      session.held++;
      restore = releaseBatchSlot(client);
    }
    // Before the callback: give back the batch slot (Aedes' completion of the packet takes it again).
    const release = (): void => {
      if (restore) {
        session.held--;
        restore();
      }
    };
    const settled: Promise<() => void> = pending.then(
      (verdict) => () => {
        release();
        if (verdict === 'rejected') {
          counters.inc('broker_dropped', { reason: 'payload_rejected' });
          dropToSink(packet);
        } else if (verdict === 'duplicate') {
          counters.inc('broker_dropped', { reason: 'qos2_duplicate' });
          dropToSink(packet);
        }
        callback(null);
      },
      (err: unknown) => () => {
        release();
        refuse('store_unavailable', client, raw.topic, (err as Error)?.message);
        if (qos === 0) return callback(null);
        // An error here makes Aedes close the connection without acknowledging: the client re-sends later.
        callback(new Error(`store unavailable: ${(err as Error)?.message ?? String(err)}`));
      },
    );
    inOrder(session, settled);
  }

  function authorizePublish(client: Client | null, packet: PublishPacket, callback: (error?: Error | null) => void): void {
    if (client === null) return callback(null); // a stale will from the persistence: nothing to check
    if (packet.retain) callback = retainedWithinBound(client, packet, callback);
    const session = sessions.get(client);
    const topic = packet.topic;
    const problem = topicProblem(topic);
    if (problem) {
      refuse('bad_topic', client, topic, problem);
      return callback(new Error(`PUBLISH topic: ${problem}`)); // Aedes closes the connection, no acknowledgement
    }
    if (!session || topic.charCodeAt(0) === 36 /* '$' */ || (session.user !== null && !session.user.acl.canPublish(topic))) {
      refuse('publish_acl', client, topic);
      dropToSink(packet);
      return session ? inOrder(session, () => callback(null)) : callback(null);
    }
    const raw = topic.startsWith(RAW_PREFIX);
    if (packet.qos === 2 && typeof packet.messageId === 'number') {
      // MQTT 3.1.1 §4.3.3: a QoS 2 PUBLISH repeating the id of one not yet released by PUBREL is the
      // same message, DUP flag or not, even while the first one's commit is pending: it is
      // acknowledged (Aedes sends PUBREC) and re-routed to the sink, so it is neither offered to the
      // pipeline nor delivered onward again. The id is taken synchronously, so repeats within one
      // socket read are caught too.
      const id = packet.messageId;
      if (session.qos2.has(id)) {
        counters.inc('broker_dropped', { reason: 'qos2_duplicate' });
        dropToSink(packet);
        return inOrder(session, () => callback(null));
      }
      session.qos2.add(id);
      // A resumed persistent session may re-send one an earlier connection stored (awaiting PUBREL);
      // a clean session's store was emptied at CONNECT. Aedes itself then only sends PUBREC.
      if (raw) return handRaw(client, session, packet, callback, client.clean ? undefined : incomingPacketStored(aedes, client, packet));
    }
    if (!raw) return inOrder(session, () => callback(null));
    handRaw(client, session, packet, callback);
  }

  /**
   * `callback` for a publish with the retain flag: when it is called without an error (Aedes then
   * stores the retained message), the publish still retained (not re-routed to the sink) is checked
   * against the retained bound; past it, it goes on as a live publish only (retain cleared), and an
   * earlier retained message of the topic is dropped (RetainedBound).
   */
  function retainedWithinBound(client: Client, packet: PublishPacket, callback: (error?: Error | null) => void): (error?: Error | null) => void {
    return (error) => {
      if (!error && packet.retain && packet.topic !== sinkTopic) {
        const v = retainedBound.admit(packet.topic, Buffer.byteLength(packet.payload), client.id);
        if (!v.keep) packet.retain = false;
        if (v.forget) {
          const topic = packet.topic;
          forgetRetained(aedes, topic).then(
            (done) => void (done || log.error({ topic }, 'mqtt: cannot drop a retained message (aedes.persistence.storeRetained missing)')),
            (err: unknown) => log.error({ topic, err }, 'mqtt: dropping a retained message failed'),
          );
        }
      }
      callback(error);
    };
  }

  function authorizeSubscribe(client: Client, sub: Subscription, callback: (error: Error | null, subscription?: Subscription | null) => void): void {
    const problem = topicProblem(sub.topic);
    if (problem) {
      refuse('bad_topic', client, sub.topic, problem);
      return callback(new Error(`SUBSCRIBE filter: ${problem}`)); // Aedes closes the connection
    }
    const session = sessions.get(client);
    if (!session || (session.user !== null && !session.user.acl.canSubscribe(sub.topic))) {
      refuse('subscribe_acl', client, sub.topic);
      return callback(null, null); // SUBACK 0x80 for this filter
    }
    // The bound on one client's subscriptions (each costs memory in the topic tree and, for a
    // persistent session, in its stored state): a new filter past it gets SUBACK 0x80; a filter the
    // client already has is only updated.
    const have = clientSubscriptions(client, sub.topic, session.pendingSubs);
    if (!have.has) {
      if (have.count >= maxSubscriptionsPerClient) {
        refuse('too_many_subscriptions', client, sub.topic, `${have.count} subscriptions, mqtt.maxSubscriptionsPerClient is ${maxSubscriptionsPerClient}`);
        return callback(null, null);
      }
      session.pendingSubs.add(sub.topic);
    }
    callback(null, sub);
    // Aedes adds the filter to the client's subscriptions within this callback, except for a
    // persistent session's SUBSCRIBE, which it first stores (asynchronously): only then does the
    // filter stay pending, until the SUBSCRIBE completes (the 'subscribe' event) or the connection
    // closes (a SUBSCRIBE that fails in Aedes closes it). A session's stored filters restored at its
    // connection are added at once too (and report no 'subscribe' event), so they are never pending.
    if (!have.has && hasSubscription(client, sub.topic)) session.pendingSubs.delete(sub.topic);
  }

  /**
   * Called by Aedes for every delivery to `client`: live ones (QoS 0, 1, 2), retained messages sent
   * on subscribe, and the offline queue sent after a persistent session is resumed (a refused queued
   * packet is removed from the queue). The receiver's subscribe ACL is checked against the topic
   * each time, so a delivery never depends on how the subscription came to exist.
   */
  function authorizeForward(client: Client, packet: AedesPublishPacket): AedesPublishPacket | null {
    if (packet.topic === sinkTopic) return null;
    const session = sessions.get(client);
    if (!session || (session.user !== null && !session.user.acl.canRead(packet.topic))) {
      refusals.drop('read_acl', { clientId: client.id, username: session?.user?.username, topic: packet.topic });
      return null;
    }
    if (session.cutOff) return null;
    // A subscriber that stops reading. Aedes' writes never wait for 'drain' (neverWaitForDrain), so
    // deliveries to it complete at once and never hold up the publisher; what piles up is bounded
    // here. Once its socket buffer is full (write() said wait for 'drain'): QoS 0 deliveries (a QoS 0
    // publish, or a subscription at QoS 0) are dropped and counted; QoS 1/2 deliveries are kept in
    // the connection's buffer up to slowLimitBytes, and past that the client is disconnected (counted
    // and logged). A persistent session keeps them queued for its next connection (see session-queue).
    if (socketNeedsDrain(client)) {
      if (packet.qos === 0 || subscribedQos(client, packet.topic) === 0) {
        counters.inc('broker_dropped', { reason: 'slow_subscriber' });
        return null;
      }
      const buffered = bufferedBytes(client);
      if (buffered > slowLimitBytes) {
        session.cutOff = true;
        counters.inc('broker_slow_disconnects');
        log.warn(
          { clientId: client.id, username: session.user?.username, bufferedBytes: buffered, limitBytes: slowLimitBytes },
          'mqtt: disconnecting a subscriber that stopped reading (QoS 1/2 deliveries past the bound)',
        );
        // Closed outside the delivery that noticed it (Aedes unsubscribes the client on close).
        setImmediate(() => client.close());
        return null;
      }
    }
    return packet;
  }

  /** What `sessions()` reports of a table entry (its subscriptions are read from Aedes' persistence). */
  async function describe(e: SessionEntry<Client>): Promise<PersistentSession> {
    const offlineMs = e.offlineAt === null ? null : Math.max(0, monotonic() - e.offlineAt);
    let subscriptions = 0;
    try {
      subscriptions = await storedSubscriptionCount(aedes, e.clientId);
    } catch (err) {
      log.debug({ err: (err as Error).message }, 'mqtt: cannot count a session\'s stored subscriptions');
    }
    return {
      clientId: e.clientId,
      username: e.owner.startsWith('user:') ? e.owner.slice(5) : null,
      connected: e.live !== null,
      offlineSince: offlineMs === null ? null : new Date(Date.now() - offlineMs).toISOString(),
      offlineSeconds: offlineMs === null ? null : Math.round(offlineMs / 100) / 10,
      queued: queues.size(e.clientId),
      subscriptions,
    };
  }

  /**
   * See EmbeddedBroker.endSession. `due`, when given, is checked right before the session is ended
   * (an expiry: the client may have come back since the sweep looked); false leaves it (null).
   */
  async function endSession(
    clientId: string,
    reason: SessionEndReason,
    by: string | undefined,
    due?: (e: SessionEntry<Client>) => boolean,
  ): Promise<PersistentSession | null> {
    const before = ending.get(clientId);
    if (before) await before; // ended (or being ended) by another call: then it is gone, or a new session
    const entry = ids.get(clientId);
    if (!entry || (due && !due(entry))) return null;
    const was = await describe(entry);
    // The describe above awaited: the session may have been ended or replaced meanwhile.
    const current = ids.get(clientId);
    if (!current || current.live !== entry.live || current.offlineAt !== entry.offlineAt || ending.has(clientId)) return endSession(clientId, reason, by, due);
    ids.end(clientId);
    const live = entry.live;
    const work = (async () => {
      if (live) {
        counters.inc('broker_disconnects', { reason: 'session_ended' });
        admitted.delete(live);
        const s = sessions.get(live);
        if (s) s.cutOff = true; // nothing more is delivered to it while it closes
        await new Promise<void>((resolve) => live.close(() => resolve()));
      }
      await wipeSession(aedes, clientId);
    })();
    // Settles (and frees the id) before any waiter runs: a waiting CONNECT then claims a free id.
    const forget = (): void => {
      ending.delete(clientId);
    };
    ending.set(clientId, work.then(forget, forget));
    await work;
    counters.inc('broker_sessions_ended', { reason });
    log.info(
      { clientId, username: was.username ?? undefined, reason, by, wasConnected: was.connected, queued: was.queued, subscriptions: was.subscriptions },
      reason === 'operator'
        ? `mqtt: persistent session "${clientId}" ended by ${by ?? 'an operator'}${was.connected ? ' (its client was disconnected)' : ''}`
        : `mqtt: persistent session "${clientId}" ended: offline for ${Math.round(was.offlineSeconds ?? 0)} s, past mqtt.sessionExpiryHours`,
    );
    return was;
  }

  /** Offline time after which a persistent session is ended (ms; 0: never). */
  const expiryMs = Math.max(0, (cfg.sessionExpiryHours ?? 0) * 3_600_000);
  let expiryTimer: NodeJS.Timeout | null = null;
  let sweeping = false;

  /** See EmbeddedBroker.expireSessions. A sweep still running (many sessions to wipe) makes a new one do nothing. */
  async function expireSessions(): Promise<number> {
    if (expiryMs <= 0 || sweeping) return 0;
    sweeping = true;
    try {
      const due = (e: SessionEntry<Client>): boolean => e.live === null && e.offlineAt !== null && monotonic() - e.offlineAt >= expiryMs;
      let n = 0;
      for (const e of ids.list()) {
        if (!due(e)) continue;
        try {
          if (await endSession(e.clientId, 'expired', undefined, due)) n++;
        } catch (err) {
          log.error({ err, clientId: e.clientId }, 'mqtt: could not end an expired session');
        }
      }
      return n;
    } finally {
      sweeping = false;
    }
  }

  const aedes = new Aedes({
    preConnect,
    authenticate,
    authorizePublish,
    authorizeSubscribe,
    authorizeForward,
    // Room for many in-flight deliveries. Writes never wait for 'drain' (neverWaitForDrain, set on
    // every connection), so drainTimeout only applies if that hook could not be installed.
    concurrency: 1000,
    drainTimeout: 30_000,
  });
  sinkTopic = `$SYS/${aedes.id}/gridedge/refused`;
  let ready = false;
  const whenReady = aedes.listen().then(() => {
    const problems = boundOutgoingQueues(aedes, queues);
    // Refused filters of a persistent session's SUBSCRIBE are not stored with the granted ones.
    const authorised = (client: Client, topic: string): boolean =>
      sessions.get(client)?.pendingSubs.has(topic) === true || hasSubscription(client, topic);
    if (!storeAuthorisedSubscriptionsOnly(aedes, authorised)) problems.push('aedes.persistence.addSubscriptions is not a function');
    // The end of an inbound QoS 2 handshake frees its message id for a new message.
    if (!onIncomingReleased(aedes, (client, id) => sessions.get(client)?.qos2.delete(id))) problems.push('aedes.persistence.incomingDelPacket is not a function');
    // Without the bound the queues of persistent sessions grow without limit: refuse to start.
    if (problems.length > 0) throw new Error(`mqtt: cannot bound the session queues (unexpected Aedes version): ${problems.join('; ')}`);
    ready = true;
  });
  whenReady.catch((err: unknown) => log.error({ err }, 'mqtt: broker set-up failed'));

  const updateGauges = (): void => {
    counters.set('broker_clients', aedes.connectedClients ?? 0);
    counters.set('broker_subscriptions', countSubscriptions(aedes));
  };
  aedes.on('client', () => {
    counters.inc('broker_connections');
    updateGauges();
  });
  aedes.on('clientDisconnect', updateGauges);
  aedes.on('subscribe', (subs: Subscription[], client: Client) => {
    const pending = sessions.get(client)?.pendingSubs;
    if (pending) for (const sub of subs) pending.delete(sub.topic);
    updateGauges();
  });
  aedes.on('unsubscribe', updateGauges);
  aedes.on('clientError', (client, err) => log.debug({ clientId: client?.id, err: err.message }, 'mqtt: client error'));
  aedes.on('connectionError', (_client, err) => log.debug({ err: err.message }, 'mqtt: connection error'));
  onBrokerError(aedes, (err) => log.error({ err }, 'mqtt: broker error'));
  let shapeChecked = false;

  /** Hand one connection (TCP socket or WebSocket stream) to Aedes, with the packet size cap. */
  const attach = (conn: Duplex, address: string, req?: IncomingMessage, identity?: string | null): Client => {
    sockets.add(conn);
    batchWrites(conn);
    const client = aedes.handle(conn, req);
    if (!neverWaitForDrain(client)) log.warn('mqtt: cannot stop Aedes waiting for slow subscribers (unexpected Aedes version)');
    conn.once('close', () => {
      sockets.delete(conn);
      admitted.delete(client);
      // A SUBSCRIBE cut short by the close (or that failed and closed it) is no longer pending.
      sessions.get(client)?.pendingSubs.clear();
      // A clean session ends with its connection, and with it the client id's ownership.
      if (client.id) ids.closed(client.id, client);
    });
    conns.set(client, identity === undefined ? { conn, address } : { conn, address, identity });
    if (!shapeChecked) {
      shapeChecked = true;
      const problems = internalsProblems(aedes, client);
      if (problems.length > 0) log.error({ problems }, 'mqtt: Aedes/mqtt-packet internals are not the expected shape (dependency updated?)');
    }
    const capped = capPacketSize(client, maxPacketBytes, (length) =>
      refuse('packet_too_large', client, undefined, `${length} bytes > ${maxPacketBytes}`),
    );
    if (!capped) log.warn('mqtt: cannot cap the packet size (unexpected mqtt-packet version)');
    return client;
  };

  const wss = new WebSocketServer({ noServer: true, maxPayload: maxPacketBytes + 1024, perMessageDeflate: false });

  let server: Server | null = null;
  let bound = { host: cfg.host, port: cfg.port };
  let tlsServer: TlsServer | null = null;
  let tlsInForce: LoadedTls | null = null;
  /** Where the TLS listener is bound (its status adds what the files in force say). */
  let tlsBound: { host: string; port: number } | null = null;
  /** Open connections of the TLS listener with a client certificate: its DER (checked against a CRL a reload reads). */
  const tlsPeers = new Map<TLSSocket, { client: Client; certificate: Buffer }>();
  let closed = false;

  /**
   * Close the TLS connections whose client certificate the CRLs in force revoke (after a reload read
   * a new CRL): a revoked device must not go on publishing on a session opened before. Returns how many.
   */
  function dropRevoked(files: LoadedTls): number {
    if (!files.crls) return 0;
    let n = 0;
    for (const [socket, { client, certificate }] of tlsPeers) {
      let crl;
      try {
        crl = revokedBy(files.crls, certificate);
      } catch {
        continue; // serial and issuer unreadable: OpenSSL's full check admitted it; left connected, as before
      }
      if (!crl) continue;
      tlsPeers.delete(socket);
      n++;
      counters.inc('broker_disconnects', { reason: 'certificate_revoked' });
      const s = sessions.get(client);
      log.warn(
        { clientId: client.id || undefined, username: s?.user?.username, address: socket.remoteAddress, issuer: crl.issuerText },
        `mqtt: disconnecting client "${client.id || '?'}" from ${socket.remoteAddress ?? 'unknown'}: its certificate is revoked by the CRL of "${crl.issuerText}" (mqtt.tls.crl)`,
      );
      admitted.delete(client);
      if (s) s.cutOff = true; // nothing more is delivered to it while it closes
      client.close();
      socket.destroy();
    }
    return n;
  }

  return {
    publish(topic, payload, opts) {
      return new Promise<void>((resolve, reject) => {
        const go = (): void =>
          aedes.publish(
            { cmd: 'publish', topic, payload, qos: opts?.qos ?? 0, retain: opts?.retain ?? false, dup: false },
            (err?: Error) => (err ? reject(err) : resolve()),
          );
        if (ready) go();
        else whenReady.then(go, reject);
      });
    },

    handleUpgrade(req, socket, head) {
      if (!cfg.websocket.enabled || closed) {
        refusals.refuse('websocket_disabled', { detail: req.url });
        socket.end('HTTP/1.1 404 Not Found\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
        return;
      }
      const upgrade = (): void =>
        wss.handleUpgrade(req, socket, head, (ws: WebSocket) => {
          ws.on('error', (err: Error & { code?: string }) => {
            if (err.code === 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH') refusals.refuse('packet_too_large', { detail: err.message });
          });
          attach(createWebSocketStream(ws), req.socket.remoteAddress ?? 'unknown', req);
        });
      if (ready) upgrade();
      else whenReady.then(upgrade, () => socket.destroy());
    },

    async listen() {
      await whenReady;
      if (server) return bound;
      // The TLS files are read before anything listens, so a bad one leaves nothing half open.
      const tlsCfg = cfg.tls?.cert ? cfg.tls : null;
      const tlsFiles = tlsCfg ? loadTls('mqtt.tls', tlsCfg) : null;
      // Only with client certificates (the config check refuses it without mqtt.tls.ca).
      const identityAsUsername = Boolean(tlsCfg?.identityAsUsername && tlsFiles?.ca);
      /** A connection from either listener (`identity`: see ConnInfo). */
      const accept = (socket: Socket, identity?: string | null): Client => {
        socket.setNoDelay(true);
        return attach(socket, socket.remoteAddress ?? 'unknown', undefined, identity);
      };
      const srv = createServer({ highWaterMark: 256 * 1024 }, (socket: Socket) => accept(socket));
      bound = await listenOn(srv, cfg.host, cfg.port, 'mqtt');
      server = srv;
      srv.on('error', (err) => log.error({ err }, 'mqtt: listener error'));
      if (tlsCfg && tlsFiles) {
        // Client certificates are asked for, and must chain to the CA, only when a CA is given;
        // usernames, passwords and ACLs apply as on the plain listener either way. The verdict on
        // the certificate is read here (clientVerdict), not left to Node, so a revoked one is
        // counted as such and an out-of-date CRL does not lock every client out.
        const t = createTlsServer({ ...secureOptions(tlsFiles), ...(tlsFiles.ca ? { requestCert: true, rejectUnauthorized: false } : {}) }, (socket: TLSSocket) => {
          const files = tlsInForce ?? tlsFiles;
          if (!files.ca) return void accept(socket);
          const verdict = clientVerdict(socket, files, Date.now());
          if (!verdict.ok) {
            refusals.refuse(verdict.reason, { address: socket.remoteAddress ?? 'unknown', detail: verdict.detail });
            socket.destroy();
            return;
          }
          const client = accept(socket, identityAsUsername ? certificateName(socket) : undefined);
          const certificate = socket.getPeerX509Certificate()?.raw;
          if (certificate) {
            tlsPeers.set(socket, { client, certificate });
            socket.once('close', () => tlsPeers.delete(socket));
          }
        });
        // A handshake that fails (no or an untrusted client certificate, a plain MQTT client on the
        // TLS port, a port scan): the socket is closed by Node; counted and logged per address.
        t.on('tlsClientError', (err: Error & { code?: string }, socket: TLSSocket) =>
          refusals.refuse('tls_handshake', { address: socket.remoteAddress ?? 'unknown', detail: err.code ? `${err.code}: ${err.message}` : err.message }),
        );
        tlsServer = t;
        tlsInForce = tlsFiles;
        t.on('error', (err) => log.error({ err }, 'mqtt: TLS listener error'));
        tlsBound = await listenOn(t, tlsCfg.host || cfg.host, tlsCfg.port, 'mqtt.tls');
      }
      if (expiryMs > 0) {
        expiryTimer = setInterval(() => void expireSessions(), Math.min(60_000, Math.max(1000, expiryMs / 10)));
        expiryTimer.unref();
      }
      log.info(
        { host: bound.host, port: bound.port, tls: tlsBound && tlsInForce ? tlsStatus(tlsBound, tlsInForce) : undefined, users: table.users.size, anonymous: table.anonymous },
        tlsBound ? `mqtt: broker listening (TLS on ${tlsBound.host}:${tlsBound.port})` : 'mqtt: broker listening',
      );
      return bound;
    },

    status() {
      return {
        host: bound.host,
        port: bound.port,
        ...(tlsBound && tlsInForce ? { tls: tlsStatus(tlsBound, tlsInForce) } : {}),
        clients: aedes.connectedClients ?? 0,
        subscriptions: countSubscriptions(aedes),
        sessions: ids.persistent,
        offlineSessions: ids.offline,
      };
    },

    renewTls(files) {
      if (!tlsServer || !tlsInForce || sameTls(tlsInForce, files)) return null;
      const was = tlsInForce;
      tlsServer.setSecureContext(secureOptions(files));
      tlsInForce = files;
      const same = (x?: Buffer, y?: Buffer): boolean => (x && y ? x.equals(y) : x === y);
      return {
        certificate: !(same(was.cert, files.cert) && same(was.key, files.key) && same(was.ca, files.ca)),
        crl: !same(was.crl, files.crl),
        disconnected: dropRevoked(files),
      };
    },

    async sessions() {
      const list = ids.list().sort((a, b) => (a.clientId < b.clientId ? -1 : a.clientId > b.clientId ? 1 : 0));
      return Promise.all(list.map(describe));
    },

    endSession(clientId, how) {
      return endSession(clientId, how.reason, how.by);
    },

    expireSessions,

    setClientIdRules(mqtt) {
      setRules(clientIdRulesOf(mqtt.users), mqtt.maxSessions);
    },

    prepareUsers(mqtt) {
      const list = (mqtt.users ?? []).map((u) => ({ ...u }));
      // A plain password the current hash verifies keeps that hash (a fresh salt would look like a change).
      for (const u of list) {
        const old = table.users.get(u.username);
        const text = hashTexts.get(u.username);
        if (old && text && typeof u.password === 'string' && u.password !== '' && !u.passwordHash && verifyPassword(u.password, old.hash)) {
          u.passwordHash = text;
          delete u.password;
        }
      }
      const next = buildUserTable({ ...mqtt, users: list }); // throws on a bad entry
      const rules = clientIdRulesOf(list); // throws on a bad pattern or an overlap
      // Hand the hashed entries back (no clear text kept in the config object the agent adopts).
      (mqtt.users ?? []).forEach((u, k) => {
        u.passwordHash = list[k]!.passwordHash;
        delete u.password;
      });
      const added: string[] = [];
      const passwordChanged: string[] = [];
      const changed: string[] = [];
      const newRules = new Map(rules.map((r) => [r.owner, r]));
      for (const [name, u] of next.users) {
        const old = table.users.get(name);
        if (!old) added.push(name);
        else if (!sameHash(old.hash, u.hash)) passwordChanged.push(name);
        else if (
          !isDeepStrictEqual([old.acl.publish, old.acl.subscribe], [u.acl.publish, u.acl.subscribe]) ||
          !isDeepStrictEqual(currentRules.get(ownerOf(u)), newRules.get(ownerOf(u)))
        )
          changed.push(name);
      }
      const removed = [...table.users.keys()].filter((n) => !next.users.has(n));
      const texts = new Map(list.map((u) => [u.username, u.passwordHash ?? '']));
      return { table: next, rules, maxSessions: mqtt.maxSessions, added, removed, passwordChanged, changed, hashTexts: texts };
    },

    applyUsers(p) {
      setRules(p.rules, p.maxSessions); // throws before changing anything
      const gone = new Set([...p.removed, ...p.passwordChanged]);
      for (const [name, u] of p.table.users) {
        const old = table.users.get(name);
        if (old && sameHash(old.hash, u.hash)) {
          old.acl = u.acl; // the sessions hold this object: their next publish/subscribe/delivery reads the new ACL
          p.table.users.set(name, old);
        }
      }
      table.users.clear();
      for (const [name, u] of p.table.users) table.users.set(name, u);
      table.anonymous = p.table.anonymous;
      hashTexts = p.hashTexts;
      gate.forget(gone);
      let disconnected = 0;
      for (const client of [...admitted]) {
        const user = sessions.get(client)?.user;
        const drop = user === undefined ? false : user === null ? !table.anonymous : gone.has(user.username);
        if (!drop) continue;
        admitted.delete(client);
        disconnected++;
        counters.inc('broker_disconnects', { reason: 'user_changed' });
        log.info({ clientId: client.id, username: user?.username }, 'mqtt: disconnecting a client whose user was removed or whose password changed');
        client.close();
      }
      return { added: [...p.added], removed: [...p.removed], passwordChanged: [...p.passwordChanged], changed: [...p.changed], disconnected };
    },

    async close() {
      if (closed) return;
      closed = true;
      const serverClosed = Promise.all([server, tlsServer].map((srv) => (srv ? new Promise<void>((resolve) => srv.close(() => resolve())) : undefined)));
      if (expiryTimer) clearInterval(expiryTimer);
      await whenReady.catch(() => undefined);
      await new Promise<void>((resolve) => aedes.close(() => resolve()));
      // Connections that never completed CONNECT are not Aedes clients yet.
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => wss.close(() => resolve()));
      await serverClosed;
      counters.set('broker_clients', 0);
      counters.set('broker_subscriptions', 0);
    },
  };
}
