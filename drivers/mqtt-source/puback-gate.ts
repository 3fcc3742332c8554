/**
 * The PUBACKs of one mqtt.js connection, held back until their messages are durable, so that the
 * client can take in the next message while earlier ones wait for their commit.
 *
 * Why: mqtt.js hands a connection's next packet to `handleMessage` only after the previous callback,
 * and that callback is what sends the PUBACK. Calling it only after the commit therefore commits and
 * acknowledges one message at a time (one fsync per message: about 1 000 messages/s here, a few
 * hundred on a gateway's flash). mqtt.js has no public way to send a PUBACK later, so the gate wraps
 * the client's internal `_sendPacket` (mqtt 5.16, pinned in package.json): the driver calls the
 * callback at once, the gate keeps the PUBACK that mqtt.js then sends and writes it when its message
 * is durable. When the client has no such method (another mqtt.js), `install` returns null and the
 * driver acknowledges one message at a time, as before.
 *
 * Order: PUBACKs leave in the order their PUBLISHes came (MQTT 3.1.1 §4.6, MQTT 5 §4.6): one whose
 * message is durable waits for every earlier one. A message that could not be stored stops the
 * gate: neither its PUBACK nor any later one is sent, `onFailed` hears how many were withheld, and
 * the gate ends the connection with a DISCONNECT written after the PUBACKs already sent, so that the
 * broker reads those before it sees the connection go (a socket torn down at once can make a broker
 * drop what it had not read yet, and send those messages again); a broker that does not let the
 * DISCONNECT through within GRACEFUL_END_MS gets the socket destroyed. The broker sends the withheld
 * messages again after the reconnect (at least once). PUBACKs still held when the connection closes
 * are dropped the same way.
 *
 * Bound: at most `limit` messages are taken in without their PUBACK (the broker's own window,
 * mosquitto's `max_inflight_messages`, is usually smaller); at the limit `admit`'s `go` waits until
 * the oldest is acknowledged, which keeps mqtt.js from reading further.
 */
import type { MqttClient, Packet } from 'mqtt';

type SendPacket = (packet: Packet, cb?: (err?: Error) => void, ...rest: unknown[]) => void;

/** How long a clean disconnect (PUBACKs and DISCONNECT written, then the stream ended) may take before the socket is destroyed. */
export const GRACEFUL_END_MS = 2000;

/**
 * Ends `client`'s connection cleanly: its DISCONNECT follows everything already written, the stream
 * is ended rather than torn down; after GRACEFUL_END_MS (a broker that stopped reading) the socket is
 * destroyed. `done` is called once, either way. mqtt.js ignores any later `end()` once one is under way.
 */
export function endCleanly(client: MqttClient, done?: () => void): void {
  const stream = client.stream as { destroy?: () => void } | undefined;
  let ended = false;
  const finish = (): void => {
    if (ended) return;
    ended = true;
    clearTimeout(timer);
    done?.();
  };
  const timer = setTimeout(() => {
    stream?.destroy?.();
    finish();
  }, GRACEFUL_END_MS);
  timer.unref();
  client.end(false, {}, finish);
}

interface Held {
  messageId: number;
  /** null while the message's fate is unknown; true once durable (or refused, which is acknowledged too). */
  durable: boolean | null;
  /** The PUBACK mqtt.js produced for it, once it did. */
  puback: Packet | null;
}

export class PubackGate {
  private readonly held: Held[] = [];
  private waiting: (() => void) | null = null;
  private closed = false;

  private constructor(
    private readonly client: MqttClient,
    private readonly send: SendPacket,
    private readonly limit: number,
    private readonly onFailed: (withheld: number) => void,
  ) {}

  /**
   * Wraps `client`'s PUBACK sending; null when this mqtt.js has no `_sendPacket` to wrap. `onFailed`
   * is called once, when a message could not be stored, with the number of PUBACKs withheld (that
   * message's and the later ones'); the gate then ends the connection.
   */
  static install(client: MqttClient, limit: number, onFailed: (withheld: number) => void): PubackGate | null {
    const internal = client as unknown as { _sendPacket?: unknown };
    if (typeof internal._sendPacket !== 'function') return null;
    const original = (internal._sendPacket as SendPacket).bind(client);
    const gate = new PubackGate(client, original, limit, onFailed);
    const wrapped: SendPacket = (packet, cb, ...rest) => {
      if (packet.cmd === 'puback' && gate.keep(packet)) {
        cb?.();
        return;
      }
      original(packet, cb, ...rest);
    };
    internal._sendPacket = wrapped;
    return gate;
  }

  /** Messages taken in whose PUBACK has not been sent. */
  get size(): number {
    return this.held.length;
  }

  /**
   * Notes a QoS 1 message taken in, before mqtt.js is told to go on. Returns `settle`, to be called
   * once with whether the message is durable; `go` (mqtt.js's callback) is called at once, or when
   * the number held is below the limit again.
   */
  admit(messageId: number, go: () => void): (durable: boolean) => void {
    if (this.closed) {
      go(); // its PUBACK will be dropped (keep): the broker sends it again
      return () => undefined;
    }
    const h: Held = { messageId, durable: null, puback: null };
    this.held.push(h);
    if (this.held.length <= this.limit) go();
    else this.waiting = go;
    return (durable) => {
      if (h.durable !== null) return;
      h.durable = durable;
      this.flush();
    };
  }

  /** The connection closed: nothing more is sent; what is held is dropped (the broker sends it again). */
  close(): void {
    this.closed = true;
    this.held.length = 0;
    this.release();
  }

  /** Takes the PUBACK of a held message; false when it is not one of them (sent as usual then). */
  private keep(packet: Packet): boolean {
    const id = (packet as { messageId?: number }).messageId;
    // mqtt.js sends it right after `go`: normally for the newest message held, so search from the end.
    let h: Held | undefined;
    for (let i = this.held.length - 1; i >= 0; i--) {
      const x = this.held[i]!;
      if (x.puback === null && x.messageId === id) {
        h = x;
        break;
      }
    }
    if (!h) return this.closed; // after close, a late PUBACK is dropped too
    h.puback = packet;
    this.flush();
    return true;
  }

  private flush(): void {
    while (!this.closed && this.held.length) {
      const h = this.held[0]!;
      if (h.durable === null || h.puback === null) break;
      if (!h.durable) {
        const withheld = this.held.length;
        this.close();
        this.onFailed(withheld);
        endCleanly(this.client);
        return;
      }
      this.held.shift();
      this.send(h.puback);
    }
    this.release();
  }

  private release(): void {
    if (this.waiting && (this.held.length <= this.limit || this.closed)) {
      const go = this.waiting;
      this.waiting = null;
      go();
    }
  }
}
