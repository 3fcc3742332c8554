/**
 * The outgoing queues of persistent sessions (clean: false), kept in place of aedes-persistence's
 * in-memory ones (installed by `boundOutgoingQueues` in aedes-internals.ts).
 *
 * Aedes enqueues every QoS 1/2 message for each persistent session subscribed to its topic, whether
 * the client is connected or not; it gives the packet a message id when it sends it
 * (`update`), replaces it with a PUBREL for QoS 2 after PUBREC (`update` without a broker id) and
 * removes it on PUBACK/PUBCOMP (`clear`). Whatever is left is sent when the session reconnects.
 * aedes-persistence kept an unbounded array per client and scanned it for every update and clear,
 * so a session that never came back grew without limit, and sending a queue of n cost O(n²).
 *
 * Here each client's queue holds at most `max` packets: enqueuing into a full queue drops the
 * oldest (counted by `onDrop`); 0 keeps nothing (deliveries to connected clients still happen, but
 * nothing is re-sent after a reconnect). Every operation is O(1): a Map in queue order plus indexes
 * by (broker id, broker counter) and by message id. A clean connect drops its client's queue at
 * once (`drop`).
 */

/** The fields of an Aedes packet the queue reads; the rest is carried along. */
export interface QueuedPacket {
  cmd: string;
  brokerId?: string;
  brokerCounter?: number;
  messageId?: number;
  [k: string]: unknown;
}

interface ClientQueue {
  /** Sequence number → packet, in queue order (Map keeps insertion order; set on a key keeps its place). */
  entries: Map<number, QueuedPacket>;
  byKey: Map<string, number>;
  byMessageId: Map<number, number>;
}

const keyOf = (p: QueuedPacket): string | null => (p.brokerId === undefined ? null : `${p.brokerId}\u0000${String(p.brokerCounter)}`);

export class SessionQueues {
  private readonly queues = new Map<string, ClientQueue>();
  private seq = 0;
  private count = 0;

  /**
   * @param max packets kept per client (0: none)
   * @param onDrop called once per packet dropped because the client's queue was full
   * @param onSize called with the total number of queued packets whenever it changes
   */
  constructor(
    readonly max: number,
    private readonly onDrop: (clientId: string) => void,
    private readonly onSize: (total: number) => void = () => undefined,
  ) {}

  /** Packets queued for all clients. */
  get total(): number {
    return this.count;
  }

  size(clientId: string): number {
    return this.queues.get(clientId)?.entries.size ?? 0;
  }

  /** Append a copy of `packet` (its message id cleared) to the client's queue; drops the oldest when full. */
  enqueue(clientId: string, packet: QueuedPacket): void {
    if (this.max <= 0) {
      this.onDrop(clientId);
      return;
    }
    let q = this.queues.get(clientId);
    if (!q) {
      q = { entries: new Map(), byKey: new Map(), byMessageId: new Map() };
      this.queues.set(clientId, q);
    }
    if (q.entries.size >= this.max) {
      const oldest = q.entries.keys().next().value as number;
      this.remove(q, oldest);
      this.onDrop(clientId);
    }
    const copy: QueuedPacket = { ...packet, messageId: undefined };
    const seq = ++this.seq;
    q.entries.set(seq, copy);
    const key = keyOf(copy);
    if (key !== null) q.byKey.set(key, seq);
    this.count++;
    this.onSize(this.count);
  }

  /**
   * A packet of the queue is being sent with a message id (found by broker id and counter), or a
   * QoS 2 PUBLISH is replaced by its PUBREL (no broker id; found by message id). A packet no longer
   * queued (dropped when the queue was full) is ignored: it is still sent, just not kept.
   */
  update(clientId: string, packet: QueuedPacket): void {
    const q = this.queues.get(clientId);
    if (!q) return;
    const key = keyOf(packet);
    if (key !== null) {
      const seq = q.byKey.get(key);
      if (seq === undefined) return;
      const entry = q.entries.get(seq)!;
      if (entry.messageId !== undefined && q.byMessageId.get(entry.messageId) === seq) q.byMessageId.delete(entry.messageId);
      entry.messageId = packet.messageId;
      if (packet.messageId !== undefined) q.byMessageId.set(packet.messageId, seq);
      return;
    }
    if (packet.messageId === undefined) return;
    const seq = q.byMessageId.get(packet.messageId);
    if (seq === undefined) return;
    const old = q.entries.get(seq)!;
    const oldKey = keyOf(old);
    if (oldKey !== null) q.byKey.delete(oldKey);
    q.entries.set(seq, { ...packet });
  }

  /** Remove the packet sent with this message id (PUBACK, PUBCOMP); returns it, or undefined. */
  clear(clientId: string, messageId: number | undefined): QueuedPacket | undefined {
    const q = this.queues.get(clientId);
    if (!q || messageId === undefined) return undefined;
    const seq = q.byMessageId.get(messageId);
    if (seq === undefined) return undefined;
    const entry = q.entries.get(seq);
    this.remove(q, seq);
    if (q.entries.size === 0) this.queues.delete(clientId);
    return entry;
  }

  /** A snapshot of the client's queue, oldest first. */
  list(clientId: string): QueuedPacket[] {
    const q = this.queues.get(clientId);
    return q ? [...q.entries.values()] : [];
  }

  /** Forget the client's queue (a clean connect, a session taken over by its reserved owner). O(1) apart from the garbage collector. */
  drop(clientId: string): void {
    const q = this.queues.get(clientId);
    if (!q) return;
    this.queues.delete(clientId);
    this.count -= q.entries.size;
    this.onSize(this.count);
  }

  private remove(q: ClientQueue, seq: number): void {
    const entry = q.entries.get(seq);
    if (!entry) return;
    q.entries.delete(seq);
    const key = keyOf(entry);
    if (key !== null && q.byKey.get(key) === seq) q.byKey.delete(key);
    if (entry.messageId !== undefined && q.byMessageId.get(entry.messageId) === seq) q.byMessageId.delete(entry.messageId);
    this.count--;
    this.onSize(this.count);
  }
}
