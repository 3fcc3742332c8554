/**
 * Upstream topics the peer refused for good (MQTT 5 PUBACK 0x87 "not authorized", 0x90 "topic name
 * invalid"): the runner skips their rows for `holdMs` after the last refusal instead of sending each
 * one (mosquitto 2.0.11 drops the connection after every such refusal, so each row would cost a
 * reconnect). When the hold ends the next row of the topic is sent again: a permission granted
 * upstream meanwhile takes effect then; a topic still refused is held again.
 */
/** Topics remembered at most; the one held longest is forgotten first. */
export const REFUSED_TOPICS_MAX = 1000;

export class RefusedTopics {
  /** topic → time (ms, `now()`) until which its rows are skipped; insertion order = refusal order. */
  private readonly until = new Map<string, number>();

  constructor(
    private readonly holdMs: number,
    private readonly now: () => number = () => performance.now(),
    private readonly max = REFUSED_TOPICS_MAX,
  ) {}

  /** Remember a refusal of `topic`; true when the topic was not held before (worth a log line). */
  refuse(topic: string): boolean {
    if (this.holdMs <= 0) return false;
    const fresh = !this.has(topic);
    this.until.delete(topic);
    this.until.set(topic, this.now() + this.holdMs);
    while (this.until.size > this.max) this.until.delete(this.until.keys().next().value!);
    return fresh;
  }

  /** Whether rows of `topic` are skipped now; an expired entry is forgotten. */
  has(topic: string): boolean {
    const u = this.until.get(topic);
    if (u === undefined) return false;
    if (this.now() < u) return true;
    this.until.delete(topic);
    return false;
  }

  get size(): number {
    return this.until.size;
  }

  /** The topics held now. */
  list(): string[] {
    return [...this.until.keys()].filter((k) => this.has(k));
  }
}
