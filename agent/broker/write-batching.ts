/**
 * One socket write per event-loop turn instead of one per MQTT packet.
 *
 * Aedes delivers each QoS 0 message to a subscriber from its own `setImmediate`, and mqtt-packet
 * corks the stream for one packet and uncorks it on the next tick, which Node runs between two
 * immediates: so every delivered message, and every PUBACK written from its own callback, became
 * its own `writev` system call (profiled: one per processed message, about a tenth of the main
 * thread at full rate). `batchWrites` corks the stream at the first write of a turn and uncorks it
 * from a `setImmediate` queued then, which runs after the immediates already queued (the deliveries
 * of this turn): everything written in between leaves in one `writev`, or in one per 64 KiB, so
the stream's buffer never fills from batching alone (the broker drops QoS 0 deliveries to a
subscriber whose socket asks to wait for 'drain').
 *
 * Ordering and backpressure are unchanged: the chunks stay in the stream's own buffer, in order, and
 * `write()` still returns false past the high-water mark (Aedes then waits for 'drain', which comes
 * after the uncork flushes). `end()` flushes a corked stream itself; uncorking a destroyed stream
 * does nothing. Latency added: at most until the end of the current loop turn's check phase.
 */
import type { Duplex } from 'node:stream';

/** A batch this large is written at once (a turn's batch must not trip the slow-subscriber check). */
const FLUSH_BYTES = 64 * 1024;

export function batchWrites(stream: Duplex): void {
  const write = stream.write;
  let corked = false;
  let scheduled = false;
  const uncork = (): void => {
    corked = false;
    if (stream.writableCorked > 0) stream.uncork();
  };
  const flush = (): void => {
    scheduled = false;
    if (corked) uncork();
  };
  stream.write = function batchedWrite(this: Duplex, ...args: Parameters<Duplex['write']>): boolean {
    if (!corked && !stream.destroyed) {
      corked = true;
      stream.cork();
      if (!scheduled) {
        scheduled = true;
        setImmediate(flush);
      }
    }
    const ok = write.apply(this, args);
    if (corked && stream.writableLength >= FLUSH_BYTES) uncork();
    return ok;
  } as Duplex['write'];
}
