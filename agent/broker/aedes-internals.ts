/**
 * Every place where gridedge reaches past the public, typed interface of Aedes 1.2 or mqtt-packet 9
 * lives in this module, and nowhere else. Each function names the internal it relies on.
 * `internalsProblems()` checks the shapes we rely on; the broker logs its findings at start-up and
 * test/broker/aedes-internals.test.ts fails when the installed versions differ from the pinned ones
 * or a shape changed. After a dependency update, re-read the Aedes sources named below.
 */
import type { Aedes, Client, PublishPacket } from 'aedes';
import { Readable } from 'node:stream';
import { topicAllowed } from './acl.js';
import type { QueuedPacket, SessionQueues } from './session-queue.js';

/** The versions these internals were read from (package.json pins aedes; mqtt-packet comes with it). */
export const PINNED = { aedes: '1.2.0', 'mqtt-packet': '9.0.2' } as const;

interface Persistence {
  storeRetained(packet: PublishPacket): Promise<unknown>;
  incomingGetPacket(client: Client, packet: PublishPacket): Promise<unknown>;
  incomingDelPacket(client: Client, packet: { messageId?: number }): Promise<unknown>;
  cleanSubscriptions(client: Client): Promise<unknown>;
  addSubscriptions(client: Client, subs: { topic: string }[]): Promise<unknown>;
  subscriptionsByClient(client: Client): Promise<unknown[]>;
  cleanIncoming(client: Client): Promise<unknown>;
  delWill(client: Client): Promise<unknown>;
  outgoingEnqueue(sub: { clientId: string }, packet: QueuedPacket): Promise<void>;
  outgoingEnqueueCombi(subs: { clientId: string }[], packet: QueuedPacket): Promise<void>;
  outgoingUpdate(client: Client, packet: QueuedPacket): Promise<void>;
  outgoingClearMessageId(client: Client, packet: QueuedPacket): Promise<QueuedPacket | undefined>;
  outgoingStream(client: Client): Readable;
}

interface AedesInternal {
  persistence?: Partial<Persistence>;
  clients?: Record<string, { subscriptions?: object } | undefined>;
}

interface PacketParser {
  packet: { cmd?: string; length: number };
  _parseLength(): boolean;
  _emitError(err: Error): void;
}

interface ClientInternal {
  _parser?: Partial<PacketParser>;
  conn?: { writableNeedDrain?: boolean; writableLength?: number; destroyed?: boolean; once?(event: string, listener: () => void): unknown; off?(event: string, listener: () => void): unknown };
  subscriptions?: Record<string, { qos?: number } | undefined>;
  waitForDrain?: (callback: (err: Error | null, client: Client) => void) => void;
  _parsingBatch?: number;
  _nextBatch?: () => void;
}

const internal = (aedes: Aedes): AedesInternal => aedes as unknown as AedesInternal;
const clientInternal = (client: Client): ClientInternal => client as unknown as ClientInternal;

/**
 * Whether a QoS 2 PUBLISH with this client's message id is already in Aedes' inbound store (stored
 * and awaiting PUBREL). Uses `aedes.persistence.incomingGetPacket`, which rejects when it is not.
 */
export function incomingPacketStored(aedes: Aedes, client: Client, packet: PublishPacket): Promise<boolean> {
  const p = internal(aedes).persistence;
  if (typeof p?.incomingGetPacket !== 'function') return Promise.resolve(false);
  return p.incomingGetPacket(client, packet).then(
    () => true,
    () => false,
  );
}

/**
 * Drop the retained message Aedes keeps for `topic`: `aedes.persistence.storeRetained` with an empty
 * payload deletes it (aedes-persistence's meaning, as MQTT 3.1.1 §3.3.1.3 gives an empty retained
 * publish). Resolves false when the method is missing.
 */
export function forgetRetained(aedes: Aedes, topic: string): Promise<boolean> {
  const p = internal(aedes).persistence;
  if (typeof p?.storeRetained !== 'function') return Promise.resolve(false);
  const clear = { cmd: 'publish', topic, payload: Buffer.alloc(0), qos: 0, retain: true, dup: false } as PublishPacket;
  return p.storeRetained(clear).then(() => true);
}

/**
 * Call `listener` when Aedes ends an inbound QoS 2 handshake: on PUBREL it removes the stored
 * PUBLISH with `aedes.persistence.incomingDelPacket` (only when it was stored), and from then on
 * the client may use the message id for a new message. Wraps that method; call after listen().
 * Returns false when it is missing.
 */
export function onIncomingReleased(aedes: Aedes, listener: (client: Client, messageId: number) => void): boolean {
  const p = internal(aedes).persistence;
  if (typeof p?.incomingDelPacket !== 'function') return false;
  const del = p.incomingDelPacket.bind(p);
  p.incomingDelPacket = (client, packet) =>
    del(client, packet).then((r) => {
      if (typeof packet.messageId === 'number') listener(client, packet.messageId);
      return r;
    });
  return true;
}

/**
 * Store only the filters the broker authorised. Aedes stores a persistent client's SUBSCRIBE once per
 * authorised filter, each time with *every* filter of the packet (`persistence.addSubscriptions(client,
 * packet.subscriptions)` in handlers/subscribe.js): also those refused with SUBACK 0x80 (ACL, the
 * subscription bound) and those refused with an error (a filter with NUL, which closes the
 * connection). Stored, a refused filter with QoS > 0 would queue messages for the session while it is
 * offline, and at the session's next connection Aedes authorises the stored filters again: a bad one
 * closed that connection, and every later one, until the session was ended. `keep(client, topic)`
 * says whether a filter was authorised (it is called when Aedes stores, after the filter's own
 * authorisation, so each authorised filter is stored by its own call). Returns false when the
 * method is missing.
 */
export function storeAuthorisedSubscriptionsOnly(aedes: Aedes, keep: (client: Client, topic: string) => boolean): boolean {
  const p = internal(aedes).persistence;
  if (typeof p?.addSubscriptions !== 'function') return false;
  const add = p.addSubscriptions.bind(p);
  p.addSubscriptions = (client, subs) => {
    const kept = subs.filter((s) => keep(client, s.topic));
    return kept.length > 0 ? add(client, kept) : Promise.resolve(client);
  };
  return true;
}

/** Whether the client holds a subscription with exactly this filter (Aedes' `client.subscriptions`). */
export function hasSubscription(client: Client, filter: string): boolean {
  return Object.prototype.hasOwnProperty.call(clientInternal(client).subscriptions ?? {}, filter);
}

/** Subscriptions of the connected clients (Aedes keeps connected clients in `aedes.clients[id].subscriptions`). */
export function countSubscriptions(aedes: Aedes): number {
  let n = 0;
  const clients = internal(aedes).clients ?? {};
  for (const id in clients) n += Object.keys(clients[id]?.subscriptions ?? {}).length;
  return n;
}

/**
 * Subscriptions Aedes' persistence keeps for a client id (`aedes.persistence.subscriptionsByClient`):
 * those of a persistent session, connected or not, which it restores on the session's next
 * connection. A clean session's are not stored there (0). Rejects when the method is missing.
 */
export async function storedSubscriptionCount(aedes: Aedes, clientId: string): Promise<number> {
  const p = internal(aedes).persistence;
  if (typeof p?.subscriptionsByClient !== 'function') throw new Error('aedes.persistence.subscriptionsByClient is not a function');
  const subs = await p.subscriptionsByClient({ id: clientId } as unknown as Client);
  return Array.isArray(subs) ? subs.length : 0;
}

/** True when the client's connection said "wait for drain" on its last write (Node's `writableNeedDrain` on `client.conn`). */
export function socketNeedsDrain(client: Client): boolean {
  return clientInternal(client).conn?.writableNeedDrain === true;
}

/**
 * The highest QoS among the client's subscriptions (`client.subscriptions`, keyed by filter) that
 * match `topic`: the QoS Aedes delivers a QoS 1/2 publish on that topic with (a QoS 0 subscription
 * gets it through Aedes' `deliver0`). 0 when none matches.
 */
export function subscribedQos(client: Client, topic: string): number {
  const subs = clientInternal(client).subscriptions ?? {};
  let qos = 0;
  for (const filter in subs) {
    const q = subs[filter]?.qos ?? 0;
    if (q > qos && topicAllowed(filter, topic)) qos = q;
  }
  return qos;
}

/**
 * How many filters a client holds, counting those it is subscribed to now (`client.subscriptions`,
 * keyed by filter) and those of `pending` not among them yet; and whether `filter` is one of either.
 */
export function clientSubscriptions(client: Client, filter: string, pending: ReadonlySet<string>): { count: number; has: boolean } {
  const subs = clientInternal(client).subscriptions ?? {};
  const own = (f: string): boolean => Object.prototype.hasOwnProperty.call(subs, f);
  let count = Object.keys(subs).length;
  for (const f of pending) if (!own(f)) count++;
  return { count, has: own(filter) || pending.has(filter) };
}

/** Bytes waiting in the client's connection stream (Node's `writableLength` on `client.conn`), 0 when unknown. */
export function bufferedBytes(client: Client): number {
  return clientInternal(client).conn?.writableLength ?? 0;
}

/**
 * Resolves once the client's connection has written out its buffer ('drain'), at once when it is not
 * waiting for one, and also when the connection closes (so a waiter never hangs).
 */
export function whenDrained(client: Client): Promise<void> {
  const conn = clientInternal(client).conn;
  if (!conn || conn.destroyed || conn.writableNeedDrain !== true || !conn.once || !conn.off) return Promise.resolve();
  return new Promise<void>((resolve) => {
    const done = (): void => {
      conn.off!('drain', done);
      conn.off!('close', done);
      resolve();
    };
    conn.once!('drain', done);
    conn.once!('close', done);
  });
}

/**
 * Aedes (lib/write.js) writes a packet to `client.conn` and, when `write()` returns false (the
 * stream's buffer is past its high-water mark), completes the packet only on 'drain', through
 * `client.waitForDrain(done)` (or after `drainTimeout`). A delivery's completion is what the
 * publisher's packet waits for (mqemitter calls back once every subscriber's write completed), and
 * the publisher's next packets wait for that (Aedes reads a client's next chunk only when every
 * packet of the previous one completed): one subscriber that stops reading halted every publisher
 * it subscribed to. This replaces the client's `waitForDrain` with one that completes at once: the
 * packet is already in the stream's buffer, in order, and goes out when the peer reads. What bounds
 * that buffer is the broker's job (authorizeForward drops QoS 0 to such a client and disconnects it
 * when QoS 1/2 deliveries pile up past a bound). Returns false when the client is not the expected shape.
 */
export function neverWaitForDrain(client: Client): boolean {
  const c = clientInternal(client);
  if (typeof c.waitForDrain !== 'function') return false;
  c.waitForDrain = (callback) => setImmediate(callback, null, client);
  return true;
}

/**
 * Replace the outgoing-queue methods of Aedes' persistence (`aedes.persistence`, the
 * aedes-persistence in-memory store Aedes creates in `listen()`; call after it resolved) with
 * `queues` (see session-queue.ts): outgoingEnqueue, outgoingEnqueueCombi, outgoingUpdate,
 * outgoingClearMessageId and outgoingStream, the whole of its outgoing-queue interface. Also wraps
 * `cleanSubscriptions`, which Aedes calls for a clean CONNECT (and only then), to drop the client's
 * queue at once: otherwise Aedes' emptyQueue streams the whole old queue to discard it packet by
 * packet. The stream sent to a resumed session waits for 'drain' before each packet
 * (`whenDrained`), so a long queue is not written into the connection's memory all at once (writes
 * do not wait for 'drain' themselves, see neverWaitForDrain). Returns the problems (empty when installed).
 */
export function boundOutgoingQueues(aedes: Aedes, queues: SessionQueues): string[] {
  const p = internal(aedes).persistence;
  const names = ['cleanSubscriptions', 'outgoingEnqueue', 'outgoingEnqueueCombi', 'outgoingUpdate', 'outgoingClearMessageId', 'outgoingStream'] as const;
  const missing = names.filter((n) => typeof p?.[n] !== 'function').map((n) => `aedes.persistence.${n} is not a function`);
  if (!p || missing.length > 0) return missing.length > 0 ? missing : ['aedes.persistence is missing'];
  const store = p as Persistence;
  const cleanSubscriptions = store.cleanSubscriptions.bind(store);
  store.cleanSubscriptions = (client) => {
    queues.drop(client.id);
    return cleanSubscriptions(client);
  };
  store.outgoingEnqueue = async (sub, packet) => queues.enqueue(sub.clientId, packet);
  store.outgoingEnqueueCombi = async (subs, packet) => {
    for (const sub of subs) queues.enqueue(sub.clientId, packet);
  };
  store.outgoingUpdate = async (client, packet) => queues.update(client.id, packet);
  store.outgoingClearMessageId = async (client, packet) => queues.clear(client.id, packet.messageId);
  store.outgoingStream = (client) => {
    const snapshot = queues.list(client.id);
    async function* paced(): AsyncGenerator<QueuedPacket> {
      for (const packet of snapshot) {
        await whenDrained(client);
        yield packet;
      }
    }
    // highWaterMark 1: read one packet ahead at most, so the pacing holds.
    return Readable.from(paced(), { objectMode: true, highWaterMark: 1 });
  };
  return [];
}

/**
 * Wipe what Aedes' persistence keeps for a client id's session while no connection holds it: its
 * subscriptions (`aedes.persistence.cleanSubscriptions`, which boundOutgoingQueues wrapped to drop
 * the outgoing queue too), its inbound QoS 2 packets awaiting PUBREL (`cleanIncoming`) and its will
 * (`delWill`). What a clean CONNECT does to its own id, done for an id being taken over by another
 * user, so the new owner starts from an empty session. Call after the old connection closed.
 * A publish that matched the old subscriptions just before the wipe may still queue its message
 * just after it; it then reaches the new owner only if the owner's read ACL allows the topic
 * (authorizeForward checks every queued delivery). Rejects when a method is missing (the caller
 * then refuses the take-over).
 */
export async function wipeSession(aedes: Aedes, clientId: string): Promise<void> {
  const p = internal(aedes).persistence;
  const names = ['cleanSubscriptions', 'cleanIncoming', 'delWill'] as const;
  const missing = names.filter((n) => typeof p?.[n] !== 'function');
  if (!p || missing.length > 0) throw new Error(`cannot wipe a session: aedes.persistence lacks ${missing.join(', ') || 'everything'}`);
  const store = p as Persistence;
  const client = { id: clientId } as unknown as Client;
  await store.cleanSubscriptions(client);
  await store.cleanIncoming(client);
  await store.delWill(client);
}

/**
 * Aedes emits a plain 'error' event on persistence failures (typed events do not list it); without a
 * listener Node would end the process.
 */
export function onBrokerError(aedes: Aedes, listener: (err: Error) => void): void {
  (aedes as unknown as NodeJS.EventEmitter).on('error', listener);
}

/**
 * A cap on the size of one MQTT packet. mqtt-packet buffers a whole packet before parsing it and
 * MQTT 3.1.1 allows 256 MiB, so without a cap one client could make the broker hold that much per
 * connection. The cap wraps the client's parser (`client._parser`) method `_parseLength`, which
 * reads the fixed header's "remaining length", so it acts before any payload byte is buffered, and
 * ends the connection through the parser's `_emitError`. Returns false (no cap) when the parser is
 * not the expected shape.
 */
export function capPacketSize(client: Client, maxBytes: number, onTooLarge: (length: number) => void): boolean {
  const parser = clientInternal(client)._parser;
  if (!parser || typeof parser._parseLength !== 'function' || typeof parser._emitError !== 'function') return false;
  const p = parser as PacketParser;
  const parseLength = p._parseLength;
  p._parseLength = function cappedParseLength(this: PacketParser): boolean {
    const done = parseLength.call(this);
    if (done && this.packet.length > maxBytes) {
      onTooLarge(this.packet.length);
      this._emitError(new Error(`MQTT packet of ${this.packet.length} bytes exceeds the broker limit of ${maxBytes}`));
      return false;
    }
    return done;
  };
  return true;
}

/**
 * Aedes (lib/client.js) reads a client's next chunk of packets only when every packet of the
 * previous chunk was handled: `enqueue` counts each parsed packet in `client._parsingBatch`, and the
 * completion of each (`client._nextBatch`) counts it down and reads on at zero. Holding one
 * PUBLISH's authorizePublish callback until its commit therefore stalls the client's whole stream,
 * one commit per chunk. `releaseBatchSlot` counts this packet down now (in a microtask, once the
 * parser has emitted the rest of its chunk), so Aedes reads on while the callback is held. The
 * returned function must be called right before the held callback: it counts the packet back in,
 * because Aedes' own completion of the packet will count it down again.
 */
export function releaseBatchSlot(client: Client): () => void {
  const c = clientInternal(client);
  queueMicrotask(() => c._nextBatch?.());
  return () => {
    c._parsingBatch = (c._parsingBatch ?? 0) + 1;
  };
}

/**
 * What is missing from the shapes above, for an Aedes instance and (when given) one of its clients.
 * Empty when everything this module relies on is there.
 */
export function internalsProblems(aedes: Aedes, client?: Client): string[] {
  const problems: string[] = [];
  const a = internal(aedes);
  if (typeof a.persistence?.incomingGetPacket !== 'function') problems.push('aedes.persistence.incomingGetPacket is not a function');
  for (const n of ['cleanIncoming', 'delWill', 'subscriptionsByClient', 'storeRetained'] as const)
    if (a.persistence && typeof a.persistence[n] !== 'function') problems.push(`aedes.persistence.${n} is not a function`);
  if (a.clients === null || typeof a.clients !== 'object') problems.push('aedes.clients is not an object');
  if (client) {
    const c = clientInternal(client);
    if (typeof c._parser?._parseLength !== 'function') problems.push('client._parser._parseLength is not a function');
    if (typeof c._parser?._emitError !== 'function') problems.push('client._parser._emitError is not a function');
    if (c._parser && !('packet' in c._parser)) problems.push('client._parser.packet is missing');
    if (!c.conn || !('writableNeedDrain' in c.conn)) problems.push('client.conn.writableNeedDrain is missing');
    if (!c.conn || !('writableLength' in c.conn)) problems.push('client.conn.writableLength is missing');
    if (typeof c.waitForDrain !== 'function') problems.push('client.waitForDrain is not a function');
    if (typeof c._parsingBatch !== 'number') problems.push('client._parsingBatch is not a number');
    if (typeof c._nextBatch !== 'function') problems.push('client._nextBatch is not a function');
  }
  return problems;
}
