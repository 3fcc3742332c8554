/**
 * The pipeline's ingest workers (`pipeline.workers`): raw publishes are parsed, validated, processed
 * and serialised in worker threads instead of the event loop; the main thread only commits the
 * results (publish, latest values, aggregators, buffer).
 *
 * - **Order**: every device goes to one worker (a hash of its name), a worker handles its items in
 *   arrival order and answers in that order, and the answers are resolved in order; so a device's
 *   measurements reach `bal/processed` and the buffer in the order they were published.
 * - **Batching**: items queue per worker and go over in one message per event-loop turn
 *   (setImmediate), their payloads copied into one buffer that is moved to the worker, answered in
 *   one message, to keep the per-message cost of postMessage small. The answers carry the processed
 *   text and, for the aggregators, only the samples they read (measurement-view.ts), not the whole
 *   measurement: cloning that back had cost the main thread what the worker saved it.
 * - **Bound**: what is in flight is bounded by the broker (each client has at most 256 publishes
 *   held until their commit), so the pool has no queue limit of its own.
 * - **A worker that dies** (a crash, an exception at start): every item it held is rejected, which
 *   makes the broker close those clients' connections without acknowledging (they send again), it
 *   is counted (`pipeline_worker_exits`) and logged, and a new worker takes its place at once. Nothing
 *   acknowledged is lost: acknowledgements wait for the commit.
 * - **close()** terminates the workers; items still in them are rejected the same way.
 */
import { Worker } from 'node:worker_threads';
import type { Counters } from '../core/counters.js';
import type { Logger } from '../core/plugin.js';
import type { IngestAnswer, IngestBatch, IngestItem, IngestReply, IngestResult, IngestWorkerInit } from './ingest-protocol.js';
import { viewPlan, type ViewPlan } from './measurement-view.js';

interface Waiter {
  resolve(r: IngestResult): void;
  reject(e: Error): void;
}

interface Slot {
  worker: Worker;
  /** Items not yet posted, oldest first. */
  queue: IngestItem[];
  /** Their payloads, one after the other: the first `used` bytes. */
  bytes: Uint8Array;
  used: number;
  /** The waiters of every item posted or queued, oldest first. */
  waiting: Waiter[];
  flushScheduled: boolean;
  ready: boolean;
  /** Items posted to the worker and not answered yet. */
  posted: number;
}

const WORKER_URL = new URL('./ingest-worker.js', import.meta.url);
/** The least size of a batch's payload buffer; each is sized like the last batch and doubled when short. */
const BATCH_BYTES = 4096;
/** Workers exiting before they were ready, in a row, after which the pool gives up. */
const START_FAILURES = 3;

/**
 * Worker threads for a `pipeline.workers` setting: "auto" starts none. Measured on 2 cores (README,
 * "Benchmarks"): one worker takes 15-25 % of the main thread's time per measurement off it, for
 * 10-15 % more CPU in all, and it raises the latency (p99 at 6 000/s 10-23 ms against 7 ms): the
 * hop to the worker and back, and one more busy thread. It pays only once the main thread is
 * saturated and there are cores to spare, far above what a substation's devices send, so it is
 * asked for by number on a box that needs it.
 */
export function ingestWorkerCount(setting: number | string): number {
  if (setting === 'auto') return 0;
  return typeof setting === 'number' ? setting : Number(setting);
}

/** FNV-1a over the UTF-16 code units: the same device always lands on the same worker. */
function shard(device: string, n: number): number {
  let h = 0x811c9dc5;
  for (let k = 0; k < device.length; k++) {
    h ^= device.charCodeAt(k);
    h = Math.imul(h, 0x01000193);
  }
  return (h >>> 0) % n;
}

export class IngestPool {
  private readonly slots: Slot[] = [];
  private closed = false;
  /** Workers that exited before they were ready, in a row. */
  private startFailures = 0;
  /** Gave up after START_FAILURES: the pipeline processes on the main thread (see usable). */
  private broken = false;
  /** How the workers' answers become aggregator views (the workers hold the same plan); null: whole measurements. */
  private readonly plan: ViewPlan | null;

  constructor(
    readonly size: number,
    private readonly init: IngestWorkerInit,
    private readonly log: Logger,
    private readonly counters: Counters,
  ) {
    this.plan = init.viewPaths === null ? null : viewPlan(init.viewPaths);
    for (let k = 0; k < size; k++) this.slots.push(this.spawn(k));
  }

  /** Whether the pool takes work (false once closed, or given up because its workers cannot start). */
  usable(): boolean {
    return !this.closed && !this.broken;
  }

  /** Parse, validate and process one raw publish in its device's worker. Rejects if that worker dies first. */
  process(device: string, payload: Buffer): Promise<IngestResult> {
    if (this.closed) return Promise.reject(new Error('ingest workers closed'));
    const slot = this.slots[shard(device, this.size)]!;
    return new Promise<IngestResult>((resolve, reject) => {
      slot.waiting.push({ resolve, reject });
      // Copied now: the broker may reuse the packet's buffer once the publish is handled. All
      // payloads of a batch share one buffer, moved (not copied again) to the worker.
      const start = slot.used;
      const end = start + payload.length;
      if (end > slot.bytes.length) {
        const grown = new Uint8Array(Math.max(end, slot.bytes.length * 2));
        grown.set(slot.bytes.subarray(0, start));
        slot.bytes = grown;
      }
      slot.bytes.set(payload, start);
      slot.used = end;
      slot.queue.push({ device, start, end });
      if (!slot.flushScheduled && slot.ready) {
        slot.flushScheduled = true;
        setImmediate(() => this.flush(slot));
      }
    });
  }

  /** Worker threads (for tests: one may be terminated to see that nothing acknowledged is lost). */
  workers(): readonly Worker[] {
    return this.slots.map((s) => s.worker);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await Promise.all(this.slots.map((s) => s.worker.terminate().catch(() => 0)));
    for (const s of this.slots) this.fail(s, new Error('ingest workers closed'));
  }

  private spawn(index: number): Slot {
    const worker = new Worker(WORKER_URL, { workerData: this.init, resourceLimits: { maxYoungGenerationSizeMb: 16 } });
    const slot: Slot = { worker, queue: [], bytes: new Uint8Array(BATCH_BYTES), used: 0, waiting: [], flushScheduled: false, ready: false, posted: 0 };
    worker.on('message', (msg: IngestReply | 'ready') => {
      if (msg === 'ready') {
        slot.ready = true;
        if (slot.queue.length && !slot.flushScheduled) {
          slot.flushScheduled = true;
          setImmediate(() => this.flush(slot));
        }
        return;
      }
      const answers = msg.answers;
      slot.posted -= answers.length;
      const done = slot.waiting.splice(0, answers.length);
      for (let k = 0; k < done.length; k++) done[k]!.resolve(this.result(answers[k]!, msg.values));
    });
    worker.on('error', (err) => {
      this.log.error({ worker: index, err: err.message }, 'pipeline: an ingest worker failed');
    });
    worker.on('exit', (code) => {
      if (this.slots[index] !== slot) return;
      this.fail(slot, new Error(`ingest worker ${index} exited (code ${code})`));
      if (this.closed) return;
      this.counters.inc('pipeline_worker_exits');
      // A worker that cannot even start (a processor module that fails to load) would fail again:
      // after START_FAILURES in a row the pool gives up and the pipeline processes on the main thread.
      this.startFailures = slot.ready ? 0 : this.startFailures + 1;
      if (this.startFailures >= START_FAILURES) {
        this.broken = true;
        this.log.error({ worker: index, code }, 'pipeline: ingest workers fail to start; raw publishes are processed on the main thread from now on');
        void this.close();
        return;
      }
      this.log.error({ worker: index, code, inFlight: slot.posted }, 'pipeline: an ingest worker exited; its publishes were not acknowledged (their clients send them again); starting a new one');
      this.slots[index] = this.spawn(index);
    });
    return slot;
  }

  private flush(slot: Slot): void {
    slot.flushScheduled = false;
    if (slot.queue.length === 0 || this.closed) return;
    const items = slot.queue;
    const bytes = slot.bytes.subarray(0, slot.used);
    slot.queue = [];
    slot.bytes = new Uint8Array(Math.max(BATCH_BYTES, slot.used));
    slot.used = 0;
    slot.posted += items.length;
    const batch: IngestBatch = { items, bytes };
    slot.worker.postMessage(batch, [bytes.buffer as ArrayBuffer]);
  }

  /** An answer as the pipeline takes it: the whole measurement, or the view built from its samples. */
  private result(a: IngestAnswer, values: Float64Array | null): IngestResult {
    if (!a.ok) return a;
    const base = a.errors ? { ok: true as const, text: a.text, errors: a.errors } : { ok: true as const, text: a.text };
    if (a.m !== undefined) return { ...base, m: a.m, whole: true };
    return { ...base, m: this.plan!.build(a.head!, values!, a.at!), whole: false };
  }

  /** Reject every waiter of a slot (posted or queued). */
  private fail(slot: Slot, err: Error): void {
    const waiting = slot.waiting.splice(0);
    slot.queue = [];
    slot.used = 0;
    for (const w of waiting) w.reject(err);
  }
}
