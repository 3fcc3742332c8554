/**
 * The bound on the retained messages clients leave on the embedded broker (`mqtt.maxRetained`
 * messages, `mqtt.maxRetainedBytes` bytes of topics and payloads). Aedes keeps retained messages in
 * memory without a limit, so a device that publishes retained to ever new topics (a timestamp or a
 * counter in the topic) would grow the agent until the gateway runs out of memory.
 *
 * `admit` is called for each client publish with the retain flag just before Aedes stores it (in the
 * order Aedes stores them). Within the bound the message is kept as retained, as before. Past it the
 * publish is still delivered to the live subscribers but not retained: counted in
 * `broker_retained_refused` and logged (rate-limited). A publish that would replace a topic's retained
 * message but does not fit takes the earlier one away too (`forget`), so a subscriber never gets a
 * retained value older than the latest one published. An empty retained publish clears its topic
 * and frees its place. The agent's own retained messages (its status topic) are not counted.
 * Nothing is kept across a restart (Aedes' retained messages live in memory).
 */
import type { Counters } from '../core/counters.js';
import { LogLimiter } from '../core/log-limiter.js';
import type { Logger } from '../core/plugin.js';

export interface RetainedVerdict {
  /** Store it as retained. */
  keep: boolean;
  /** Not kept, and the topic had a retained message: drop that one too. */
  forget: boolean;
}

export class RetainedBound {
  /** Topic → bytes it takes (topic and payload, UTF-8). */
  private readonly sizes = new Map<string, number>();
  private bytes = 0;
  private readonly logLimit = new LogLimiter(1, 60_000, { totalBurst: 20 });

  constructor(
    private readonly maxMessages: number,
    private readonly maxBytes: number,
    private readonly counters: Counters,
    private readonly log: Logger,
  ) {
    this.gauges();
    counters.inc('broker_retained_refused', undefined, 0);
  }

  /** The verdict on a retained publish of `payloadBytes` on `topic` by `clientId`. */
  admit(topic: string, payloadBytes: number, clientId: string): RetainedVerdict {
    const had = this.sizes.get(topic);
    if (payloadBytes === 0) {
      // MQTT 3.1.1 §3.3.1.3: clears the topic's retained message.
      this.drop(topic, had);
      return { keep: true, forget: false };
    }
    const size = Buffer.byteLength(topic) + payloadBytes;
    const count = this.sizes.size + (had === undefined ? 1 : 0);
    const bytes = this.bytes - (had ?? 0) + size;
    if (count <= this.maxMessages && bytes <= this.maxBytes) {
      this.sizes.set(topic, size);
      this.bytes = bytes;
      this.gauges();
      return { keep: true, forget: false };
    }
    this.drop(topic, had);
    this.counters.inc('broker_retained_refused');
    const d = this.logLimit.take(clientId);
    if (d.ok) {
      const over = count > this.maxMessages ? `mqtt.maxRetained (${this.maxMessages} messages)` : `mqtt.maxRetainedBytes (${this.maxBytes} bytes)`;
      this.log.warn(
        { clientId, topic, retained: this.sizes.size, retainedBytes: this.bytes, ...(d.suppressed > 0 ? { suppressed: d.suppressed } : {}) },
        `mqtt: retained publish by "${clientId}" on "${topic}" delivered but not retained: ${over} reached` +
          (had !== undefined ? '; the earlier retained message of the topic is dropped too' : '') +
          (d.suppressed > 0 ? ` (${d.suppressed} earlier such line(s) suppressed)` : ''),
      );
    }
    return { keep: false, forget: had !== undefined };
  }

  /** Forget `topic`'s retained message of `had` bytes, if it has one. */
  private drop(topic: string, had: number | undefined): void {
    if (had === undefined) return;
    this.sizes.delete(topic);
    this.bytes -= had;
    this.gauges();
  }

  private gauges(): void {
    this.counters.set('broker_retained', this.sizes.size);
    this.counters.set('broker_retained_bytes', this.bytes);
  }
}
