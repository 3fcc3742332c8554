/**
 * The embedded MQTT broker: an Aedes instance (a connection handler) plus the TCP listener and the
 * WebSocket upgrade path we own. Auth and ACLs are Aedes hooks; publishes to `bal/raw/...` by network
 * clients are handed to `onRawPublish` *inside* `authorizePublish`, because Aedes writes the PUBACK
 * (QoS 1) right after that hook and before delivering, and the PUBREC (QoS 2) after storing and
 * delivering — so holding the hook's callback is what makes the acknowledgement wait for the store.
 */
import { createServer, type Server, type Socket } from 'node:net';
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { Aedes, type AedesPublishPacket, type Client, type PublishPacket, type Subscription } from 'aedes';
import { WebSocketServer, createWebSocketStream, type WebSocket } from 'ws';
import type { MqttConfig } from '../core/config-types.js';
import type { Counters } from '../core/counters.js';
import type { Logger } from '../core/plugin.js';
import type { BrokerStatus } from '../core/status-types.js';
import { RAW_PREFIX } from '../core/topics.js';
import { capPacketSize } from './packet-limit.js';
import { verifyPasswordAsync } from './passwords.js';
import { Refusals, type RefusalReason } from './refusals.js';
import { buildUserTable, type BrokerUser } from './users.js';

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
   * It resolves 'rejected' for a payload the pipeline refused (acknowledged, relayed to no one).
   */
  onRawPublish(p: RawPublish): Promise<'accepted' | 'rejected'>;
}

export interface EmbeddedBroker {
  /** In-process publish (bypasses ACLs; no onRawPublish callback). Resolves when handed to subscribers. */
  publish(topic: string, payload: string | Buffer, opts?: { qos?: 0 | 1; retain?: boolean }): Promise<void>;
  /** Handle an HTTP upgrade for MQTT over WebSocket (the HTTP server calls this for its ws path). */
  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void;
  /** TCP listener on cfg.host:cfg.port (port 0 = a free port). */
  listen(): Promise<{ host: string; port: number }>;
  status(): BrokerStatus;
  /** Closes clients and listeners. */
  close(): Promise<void>;
}

/** Per-connection state, set once by `authenticate` (so passwords are verified once per connection). */
interface Session {
  /** null: anonymous, full access. */
  user: BrokerUser | null;
  /** QoS 0 raw publishes handed to onRawPublish and not settled yet. */
  pendingQos0: number;
}

/** QoS 0 publishes are not held for the store, up to this many unsettled per client (then they are, as backpressure). */
const QOS0_MAX_PENDING = 1000;

/** Largest MQTT packet accepted: well above the pipeline's payload limit, so it still sees (and counts) oversize payloads. */
export function packetLimit(maxPayloadBytes: number): number {
  const payload = Number.isFinite(maxPayloadBytes) && maxPayloadBytes > 0 ? maxPayloadBytes : 1024 * 1024;
  return Math.max(2 * payload, 1024 * 1024) + 64 * 1024;
}

type AuthError = Error & { returnCode: number };
function notAuthorized(message: string): AuthError {
  return Object.assign(new Error(message), { returnCode: 5 }); // CONNACK 0x05 "not authorized"
}

const toBuffer = (p: string | Buffer): Buffer => (typeof p === 'string' ? Buffer.from(p, 'utf8') : p);

export function createBroker(cfg: MqttConfig, deps: BrokerDeps): EmbeddedBroker {
  const { log, counters } = deps;
  const table = buildUserTable(cfg); // throws on a bad user entry or an open non-loopback bind
  const refusals = new Refusals(log, counters);
  const sessions = new WeakMap<Client, Session>();
  const maxPacketBytes = packetLimit(cfg.maxPayloadBytes);
  const sockets = new Set<Duplex>();
  let sinkTopic = '$SYS/gridedge/refused';

  counters.describe('broker_connections', 'MQTT sessions established (after authentication)');
  counters.describe('broker_clients', 'MQTT clients connected now');
  counters.describe('broker_subscriptions', 'MQTT subscriptions now');
  counters.describe('broker_refused', 'MQTT connections, publishes and subscriptions refused, by reason');
  counters.describe('broker_dropped', 'Deliveries dropped by the broker, by reason (slow_subscriber: QoS 0 to a client not reading)');
  counters.describe('broker_qos0', 'QoS 0 publishes to bal/raw (best effort: not acknowledged)');
  counters.set('broker_clients', 0);
  counters.set('broker_subscriptions', 0);

  const refuse = (reason: RefusalReason, client: Client | null, topic?: string, detail?: string): void => {
    const s = client ? sessions.get(client) : undefined;
    refusals.refuse(reason, { clientId: client?.id, username: s?.user?.username, topic, detail });
  };

  function authenticate(
    client: Client,
    username: Readonly<string | undefined>,
    password: Readonly<Buffer | undefined>,
    done: (error: AuthError | null, success: boolean | null) => void,
  ): void {
    if (username === undefined || username === '') {
      if (!table.anonymous) {
        refusals.refuse('anonymous', { clientId: client.id });
        return done(notAuthorized('anonymous clients are not allowed'), false);
      }
      sessions.set(client, { user: null, pendingQos0: 0 });
      return done(null, true);
    }
    const user = table.users.get(username);
    const plain = password ? password.toString('utf8') : '';
    // Unknown users cost one scrypt too, so response time does not reveal which usernames exist.
    const hash = user?.hash ?? table.users.values().next().value?.hash;
    const check = hash ? verifyPasswordAsync(plain, hash) : Promise.resolve(false);
    void check.then((ok) => {
      if (ok && user) {
        sessions.set(client, { user, pendingQos0: 0 });
        return done(null, true);
      }
      refusals.refuse('bad_credentials', { clientId: client.id, username });
      done(notAuthorized('bad user name or password'), false);
    });
  }

  function dropToSink(packet: PublishPacket): void {
    // MQTT 3.1.1 §3.3.5: an unauthorised PUBLISH is acknowledged normally (or the connection closed).
    // Aedes has no "ack and drop", so the packet is re-routed to a topic no one receives (authorizeForward).
    packet.topic = sinkTopic;
    packet.retain = false;
  }

  function handRaw(client: Client, session: Session, packet: PublishPacket, callback: (error?: Error | null) => void): void {
    const qos = packet.qos;
    const raw: RawPublish = {
      topic: packet.topic,
      payload: toBuffer(packet.payload),
      qos,
      clientId: client.id,
      username: session.user?.username,
    };
    let pending: Promise<'accepted' | 'rejected'>;
    try {
      pending = deps.onRawPublish(raw);
    } catch (e) {
      pending = Promise.reject(e instanceof Error ? e : new Error(String(e)));
    }
    if (qos === 0) {
      counters.inc('broker_qos0');
      session.pendingQos0++;
      const hold = session.pendingQos0 > QOS0_MAX_PENDING;
      pending.then(
        () => {
          session.pendingQos0--;
          if (hold) callback(null);
        },
        (err: unknown) => {
          session.pendingQos0--;
          refuse('store_unavailable', client, raw.topic, (err as Error)?.message);
          if (hold) callback(null);
        },
      );
      if (!hold) callback(null);
      return;
    }
    pending.then(
      () => callback(null),
      (err: unknown) => {
        refuse('store_unavailable', client, raw.topic, (err as Error)?.message);
        // An error here makes Aedes close the connection without acknowledging: the client re-sends later.
        callback(new Error(`store unavailable: ${(err as Error)?.message ?? String(err)}`));
      },
    );
  }

  function authorizePublish(client: Client | null, packet: PublishPacket, callback: (error?: Error | null) => void): void {
    if (client === null) return callback(null); // a stale will from the persistence: nothing to check
    const session = sessions.get(client);
    const topic = packet.topic;
    if (!session || topic.charCodeAt(0) === 36 /* '$' */ || (session.user !== null && !session.user.acl.canPublish(topic))) {
      refuse('publish_acl', client, topic);
      dropToSink(packet);
      return callback(null);
    }
    if (!topic.startsWith(RAW_PREFIX)) return callback(null);
    if (packet.qos === 2 && packet.dup) {
      // A QoS 2 re-send of a packet already stored (awaiting PUBREL) was handed over the first time.
      const persistence = (aedes as unknown as { persistence: { incomingGetPacket(c: Client, p: PublishPacket): Promise<unknown> } }).persistence;
      persistence.incomingGetPacket(client, packet).then(
        () => callback(null),
        () => handRaw(client, session, packet, callback),
      );
      return;
    }
    handRaw(client, session, packet, callback);
  }

  function authorizeSubscribe(client: Client, sub: Subscription, callback: (error: Error | null, subscription?: Subscription | null) => void): void {
    const session = sessions.get(client);
    if (session && (session.user === null || session.user.acl.canSubscribe(sub.topic))) return callback(null, sub);
    refuse('subscribe_acl', client, sub.topic);
    callback(null, null); // SUBACK 0x80 for this filter
  }

  function authorizeForward(client: Client, packet: AedesPublishPacket): AedesPublishPacket | null {
    if (packet.topic === sinkTopic) return null;
    // A subscriber that stops reading: once its socket buffer is full (write() said wait for 'drain'),
    // Aedes would queue every further delivery in memory, and hold up deliveries to everyone else,
    // until drainTimeout cuts it off. QoS 0 deliveries to it are dropped and counted instead;
    // QoS 1/2 deliveries are kept (their sender relies on them).
    if (packet.qos === 0) {
      const conn = (client as unknown as { conn?: { writableNeedDrain?: boolean } }).conn;
      if (conn?.writableNeedDrain === true) {
        counters.inc('broker_dropped', { reason: 'slow_subscriber' });
        return null;
      }
    }
    return packet;
  }

  const aedes = new Aedes({
    authenticate,
    authorizePublish,
    authorizeSubscribe,
    authorizeForward,
    // Room for many in-flight deliveries; a frozen subscriber is cut off after drainTimeout.
    concurrency: 1000,
    drainTimeout: 30_000,
  });
  sinkTopic = `$SYS/${aedes.id}/gridedge/refused`;
  let ready = false;
  const whenReady = aedes.listen().then(() => {
    ready = true;
  });
  whenReady.catch((err: unknown) => log.error({ err }, 'mqtt: broker set-up failed'));

  const countSubscriptions = (): number => {
    let n = 0;
    const clients = (aedes as unknown as { clients: Record<string, { subscriptions?: object }> }).clients;
    for (const id in clients) n += Object.keys(clients[id]?.subscriptions ?? {}).length;
    return n;
  };
  const updateGauges = (): void => {
    counters.set('broker_clients', aedes.connectedClients ?? 0);
    counters.set('broker_subscriptions', countSubscriptions());
  };
  aedes.on('client', () => {
    counters.inc('broker_connections');
    updateGauges();
  });
  aedes.on('clientDisconnect', updateGauges);
  aedes.on('subscribe', updateGauges);
  aedes.on('unsubscribe', updateGauges);
  aedes.on('clientError', (client, err) => log.debug({ clientId: client?.id, err: err.message }, 'mqtt: client error'));
  aedes.on('connectionError', (_client, err) => log.debug({ err: err.message }, 'mqtt: connection error'));
  // Aedes emits a plain 'error' on persistence failures; without a listener it would end the process.
  (aedes as unknown as NodeJS.EventEmitter).on('error', (err: Error) => log.error({ err }, 'mqtt: broker error'));

  /** Hand one connection (TCP socket or WebSocket stream) to Aedes, with the packet size cap. */
  const attach = (conn: Duplex, req?: IncomingMessage): void => {
    sockets.add(conn);
    conn.once('close', () => sockets.delete(conn));
    const client = aedes.handle(conn, req);
    const capped = capPacketSize(client, maxPacketBytes, (length) =>
      refuse('packet_too_large', client, undefined, `${length} bytes > ${maxPacketBytes}`),
    );
    if (!capped) log.warn('mqtt: cannot cap the packet size (unexpected mqtt-packet version)');
  };

  const wss = new WebSocketServer({ noServer: true, maxPayload: maxPacketBytes + 1024, perMessageDeflate: false });

  let server: Server | null = null;
  let bound = { host: cfg.host, port: cfg.port };
  let closed = false;

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
          attach(createWebSocketStream(ws), req);
        });
      if (ready) upgrade();
      else whenReady.then(upgrade, () => socket.destroy());
    },

    async listen() {
      await whenReady;
      if (server) return bound;
      const srv = createServer({ highWaterMark: 256 * 1024 }, (socket: Socket) => {
        socket.setNoDelay(true);
        attach(socket);
      });
      await new Promise<void>((resolve, reject) => {
        const onError = (err: Error): void => reject(new Error(`mqtt: cannot listen on ${cfg.host}:${cfg.port}: ${err.message}`));
        srv.once('error', onError);
        srv.listen(cfg.port, cfg.host, () => {
          srv.off('error', onError);
          resolve();
        });
      });
      srv.on('error', (err) => log.error({ err }, 'mqtt: listener error'));
      server = srv;
      const addr = srv.address();
      if (addr && typeof addr === 'object') bound = { host: addr.address, port: addr.port };
      log.info({ host: bound.host, port: bound.port, users: table.users.size, anonymous: table.anonymous }, 'mqtt: broker listening');
      return bound;
    },

    status() {
      return {
        host: bound.host,
        port: bound.port,
        clients: aedes.connectedClients ?? 0,
        subscriptions: countSubscriptions(),
      };
    },

    async close() {
      if (closed) return;
      closed = true;
      const srv = server;
      const serverClosed = srv ? new Promise<void>((resolve) => srv.close(() => resolve())) : Promise.resolve();
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
